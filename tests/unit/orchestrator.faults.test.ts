/**
 * The orchestrator against workers that misbehave: scripted workers (tests/scriptedWorker.ts) join a real hub
 * and report, stall or lie as each test says; the store is real.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { experimentSchema, type ExperimentInput } from '../../common/experiment';
import { startHub, type Hub } from '../../main/core/hub';
import { Orchestrator } from '../../main/core/runtime/orchestrator';
import { openStore, type Store } from '../../main/core/store';
import { iterationRecord, scriptedWorker, until } from '../scriptedWorker';

const base: ExperimentInput = {
  name: 'faults-test',
  model: 'synthetic',
  dataset: { name: 'synthetic', testLimit: 100 },
  workers: 1,
  backend: 'cpu',
  epochs: 1,
  batchSize: 32,
  optimizer: { lr: 0.05 },
  arms: [{ method: 'topk', density: 0.05 }],
};

interface Core {
  store: Store;
  hub: Hub;
  orchestrator: Orchestrator;
  /** The orchestrator's log lines and status changes, in order. */
  events: string[];
}

const cores: Core[] = [];

async function startCore(): Promise<Core> {
  const store = openStore(mkdtempSync(join(tmpdir(), 'sparselab-faults-')));
  const hub = await startHub({ log: () => {} });
  const orchestrator = new Orchestrator(store, hub);
  const events: string[] = [];
  orchestrator.on('log', (level, message) => events.push(`${level}: ${message}`));
  orchestrator.on('status', (runId, status, reason) => events.push(`${runId} ${status}: ${reason}`));
  const core = { store, hub, orchestrator, events };
  cores.push(core);
  return core;
}

afterEach(async () => {
  for (const { store, hub, orchestrator } of cores.splice(0)) {
    orchestrator.close();
    await hub.close();
    store.close();
  }
});

const experiment = (overrides: Partial<ExperimentInput> = {}) => experimentSchema.parse({ ...base, ...overrides });

describe('resume', () => {
  it('says first that a run without a checkpoint restarts from iteration 0, and records it afresh', async () => {
    const { store, hub, orchestrator, events } = await startCore();
    const worker = await scriptedWorker(hub);
    const [run] = orchestrator.submit(experiment());
    const runId = run!.id;
    await worker.nextAssignment();
    await worker.client.sendMetrics({ kind: 'iteration', records: [0, 1, 2].map((i) => iterationRecord(runId, 0, i)) });
    await worker.client.status(runId, 'failed', 'out of memory');
    await until(() => store.getRun(runId).status === 'failed');
    store.flush();
    expect(store.iterationSeries(runId)).toHaveLength(3);

    events.length = 0;
    orchestrator.resume(runId);
    const again = await worker.nextAssignment();
    expect(again.message.resume).toBeUndefined();
    expect(events[0]).toBe(
      `warn: run ${runId} has no checkpoint: it restarts from iteration 0 and its records are replaced`,
    );
    expect(events[1]).toBe(`${runId} queued: resumed by user; it has no checkpoint, so it restarts from iteration 0`);
    expect(store.getRun(runId).history.at(-2)!.reason).toMatch(/no checkpoint, so it restarts from iteration 0/);
    // What the restart records again starts from an empty table.
    expect(store.iterationSeries(runId)).toEqual([]);
  });
});
