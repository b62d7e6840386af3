/**
 * The orchestrator against workers that misbehave: scripted workers (tests/scriptedWorker.ts) join a real hub
 * and report, stall or lie as each test says; the store is real.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_STALL_SECONDS, experimentSchema, stallSecondsOf, type ExperimentInput } from '../../common/experiment';
import { startHub, type Hub } from '../../main/core/hub';
import { Orchestrator } from '../../main/core/runtime/orchestrator';
import { openStore, type Store } from '../../main/core/store';
import { iterationRecord, scriptedWorker, until, type ScriptedWorker } from '../scriptedWorker';

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

/** An honest rank: reports an iteration every 100 ms for its assignment until stopped. */
function keepReporting(worker: ScriptedWorker, runId: string, rank: number): () => void {
  let iteration = 0;
  const timer = setInterval(
    () => void worker.client.sendMetrics({ kind: 'iteration', records: [iterationRecord(runId, rank, iteration++)] }),
    100,
  );
  return () => clearInterval(timer);
}

describe('stalled ranks', () => {
  it('fails a run whose rank only sends heartbeats, naming the rank and the worker', async () => {
    const { store, hub, orchestrator } = await startCore();
    const honest = await scriptedWorker(hub, 'honest-host');
    const staller = await scriptedWorker(hub, 'stalling-host');
    const [run] = orchestrator.submit(experiment({ workers: 2, faults: { stallSeconds: 1 } }));
    const [a, b] = await Promise.all([honest.nextAssignment(), staller.nextAssignment()]);
    const stop = keepReporting(honest, run!.id, a.message.rank);
    const started = Date.now();
    try {
      await orchestrator.waitFor([run!.id]);
    } finally {
      stop();
    }
    const failed = store.getRun(run!.id);
    expect(failed.status).toBe('failed');
    expect(failed.failureReason).toBe(
      `rank ${b.message.rank} (worker ${staller.client.workerId} on stalling-host) made no progress for 1 s (faults.stallSeconds 1)`,
    );
    expect(Date.now() - started).toBeLessThan(3000);
    // The stalled worker heard that its run is over.
    await until(() => hub.worker(staller.client.workerId)?.state === 'idle', 3000, 'the stalled worker freed');
  });

  it('with onWorkerLoss: wait, replaces the stalled rank by another worker and never gives it the run again', async () => {
    const { store, hub, orchestrator } = await startCore();
    const staller = await scriptedWorker(hub, 'stalling-host');
    const honest = await scriptedWorker(hub, 'honest-host');
    const config = experiment({ workers: 2, faults: { stallSeconds: 1, onWorkerLoss: 'wait', waitSeconds: 30 } });
    const [run] = orchestrator.submit(config);
    const runId = run!.id;
    const first = await honest.nextAssignment();
    await staller.nextAssignment();
    const stop = keepReporting(honest, runId, first.message.rank);
    await until(() => store.getRun(runId).status === 'waiting', 5000, 'the run waiting');
    stop();
    expect(store.getRun(runId).history.at(-1)!.reason).toMatch(
      new RegExp(`worker ${staller.client.workerId} on stalling-host\\) made no progress .*waiting up to 30 s`),
    );
    const spare = await scriptedWorker(hub, 'spare-host');
    const [again, spared] = await Promise.all([honest.nextAssignment(), spare.nextAssignment()]);
    expect(new Set([again.message.rank, spared.message.rank])).toEqual(new Set([0, 1]));
    expect(staller.assignments).toHaveLength(1);
    expect(store.getRun(runId).status).toBe('running');
    orchestrator.cancel(runId);
  });

  it('defaults the deadline by model, above the quiet spells of a healthy rank', () => {
    expect(stallSecondsOf(experiment())).toBe(DEFAULT_STALL_SECONDS.synthetic);
    expect(stallSecondsOf(experiment({ faults: { stallSeconds: 7 } }))).toBe(7);
    expect(DEFAULT_STALL_SECONDS.vgg16).toBeGreaterThan(DEFAULT_STALL_SECONDS.fnn);
    expect(() => experiment({ faults: { stallSeconds: 0 } })).toThrow(/stallSeconds/);
  });
});
