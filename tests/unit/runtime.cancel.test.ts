/**
 * Cancel reaches a real worker (bin/sparselab.js, built by `npm test`) training a run alone: a rank that
 * exchanges nothing through the hub must still read its messages.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { experimentSchema } from '../../common/experiment';
import { syntheticExperiment } from '../experimentFixture';
import { startHub, type Hub } from '../../main/core/hub';
import { LocalWorkers } from '../../main/core/runtime/localWorkers';
import { Orchestrator } from '../../main/core/runtime/orchestrator';
import { openStore, type Store } from '../../main/core/store';
import { until } from '../scriptedWorker';

let cleanup: (() => Promise<void>) | null = null;
afterEach(async () => {
  await cleanup?.();
  cleanup = null;
});

async function runtime(): Promise<{ store: Store; hub: Hub; orchestrator: Orchestrator }> {
  const store = openStore(mkdtempSync(join(tmpdir(), 'sparselab-cancel-')));
  const hub = await startHub({ log: () => {} });
  const orchestrator = new Orchestrator(store, hub);
  const workers = new LocalWorkers({ hubUrl: hub.url, token: hub.token, count: 1, backend: 'cpu' });
  cleanup = async () => {
    orchestrator.close();
    workers.stop();
    await hub.close();
    store.close();
  };
  return { store, hub, orchestrator };
}

const experiment = (epochs: number) =>
  experimentSchema.parse(
    syntheticExperiment({ name: 'cancel-test', dataset: { name: 'synthetic', testLimit: 200 }, workers: 1, epochs }),
  );

describe('cancel', () => {
  it('stops a one-worker run within two seconds, and the worker takes the next run', async () => {
    const { store, hub, orchestrator } = await runtime();
    const [run] = orchestrator.submit(experiment(500));
    const runId = run!.id;
    let lastRecordAt = 0;
    hub.on('metrics', (batch) => {
      if (batch.records.some((r) => r.runId === runId)) lastRecordAt = Date.now();
    });
    await new Promise<void>((resolve) =>
      orchestrator.on('progress', (p) => p.runId === runId && p.iteration >= 20 && resolve()),
    );
    const cancelledAt = Date.now();
    orchestrator.cancel(runId);
    // The worker says it read the cancel, and sends nothing for the run 2 s later.
    await until(
      () => (store.flush(), store.logs(runId).some((l) => l.message === 'cancelled: cancelled by user')),
      2000,
      'the worker to read the cancel',
    );
    await new Promise((r) => setTimeout(r, 2500));
    expect(lastRecordAt - cancelledAt).toBeLessThan(2000);
    expect(store.getRun(runId).status).toBe('cancelled');
    const [next] = orchestrator.submit(experiment(1));
    await orchestrator.waitFor([next!.id]);
    expect(store.getRun(next!.id).status).toBe('finished');
  });
});
