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
import { MAX_LOG_LINE, Orchestrator } from '../../main/core/runtime/orchestrator';
import { openStore, type Store } from '../../main/core/store';
import { iterationRecord, RogueWorker, scriptedWorker, until, type ScriptedWorker } from '../scriptedWorker';
import { syntheticExperiment } from '../experimentFixture';

const base = syntheticExperiment({ name: 'faults-test', dataset: { name: 'synthetic', testLimit: 100 }, workers: 1 });

interface Core {
  store: Store;
  hub: Hub;
  orchestrator: Orchestrator;
  /** The orchestrator's log lines and status changes, in order. */
  events: string[];
}

const cores: Core[] = [];
const rogues: RogueWorker[] = [];

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
  for (const rogue of rogues.splice(0)) rogue.close();
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

/** A two-rank run with faults.stallSeconds 1, on a worker of `peerHost` and one of 'stalling-host', both assigned. */
async function stallingRun(peerHost: string) {
  const core = await startCore();
  const peer = await scriptedWorker(core.hub, peerHost);
  const staller = await scriptedWorker(core.hub, 'stalling-host');
  const [run] = core.orchestrator.submit(experiment({ workers: 2, faults: { stallSeconds: 1 } }));
  const [peerRank, stallerRank] = (await Promise.all([peer.nextAssignment(), staller.nextAssignment()])).map(
    (assignment) => assignment.message.rank,
  );
  return { ...core, peer, staller, runId: run!.id, peerRank: peerRank!, stallerRank: stallerRank! };
}

describe('stalled ranks', () => {
  it('fails a run whose rank only sends heartbeats, naming the rank and the worker', async () => {
    const { store, hub, orchestrator, peer, staller, runId, peerRank, stallerRank } = await stallingRun('honest-host');
    const stop = keepReporting(peer, runId, peerRank);
    const started = Date.now();
    try {
      await orchestrator.waitFor([runId]);
    } finally {
      stop();
    }
    const failed = store.getRun(runId);
    expect(failed.status).toBe('failed');
    expect(failed.failureReason).toBe(
      `rank ${stallerRank} (worker ${staller.client.workerId} on stalling-host) made no progress for 1 s (faults.stallSeconds 1)`,
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

  it('blames the rank the others wait for at the hub, when every rank has gone quiet', async () => {
    const { store, orchestrator, peer, staller, runId, peerRank, stallerRank } = await stallingRun('waiting-host');
    expect([peerRank, stallerRank]).toEqual([0, 1]);
    // Rank 0 contributes to the first exchange and waits there; rank 1 never does. Neither reports.
    const exchange = peer.client.allgather(runId, new Uint8Array(8)).catch(() => undefined);
    await orchestrator.waitFor([runId]);
    await exchange;
    expect(store.getRun(runId).failureReason).toMatch(
      new RegExp(`^rank 1 \\(worker ${staller.client.workerId} on stalling-host\\) made no progress`),
    );
  });

  it('defaults the deadline by model, above the quiet spells of a healthy rank', () => {
    expect(stallSecondsOf(experiment())).toBe(DEFAULT_STALL_SECONDS.synthetic);
    expect(stallSecondsOf(experiment({ faults: { stallSeconds: 7 } }))).toBe(7);
    expect(DEFAULT_STALL_SECONDS.vgg16).toBeGreaterThan(DEFAULT_STALL_SECONDS.fnn);
    expect(() => experiment({ faults: { stallSeconds: 0 } })).toThrow(/stallSeconds/);
  });
});

describe('a worker reports only for the run and rank it holds', () => {
  it('refuses and logs status, records, log lines, checkpoints and collectives for another run; the run and its records stay as they were', async () => {
    const { store, hub, orchestrator, events } = await startCore();
    const honest = await scriptedWorker(hub, 'honest-host');
    const [victim] = orchestrator.submit(experiment());
    const victimId = victim!.id;
    await honest.nextAssignment();
    await honest.client.sendMetrics({ kind: 'iteration', records: [0, 1].map((i) => iterationRecord(victimId, 0, i)) });
    await until(() => store.pending === 0 || (store.flush(), true));
    // A rogue that holds no run, then one that trains a run of its own, try everything on the victim.
    const rogue = await RogueWorker.join(hub);
    rogues.push(rogue);
    for (const phase of ['idle', 'assigned'] as const) {
      if (phase === 'assigned') {
        await until(() => orchestrator.refusals.total >= 7, 5000, 'the idle rogue refused');
        orchestrator.submit(experiment({ name: 'rogue-own' }));
        await until(() => rogue.assignments.length === 1, 5000, 'the rogue assigned');
      }
      rogue.send({ type: 'metrics', kind: 'iteration', records: [iterationRecord(victimId, 0, 1, 999_999)] });
      rogue.send({
        type: 'metrics',
        kind: 'evaluation',
        records: [{ runId: victimId, iteration: 5, epoch: 1, wallMs: 1, testLoss: 0, accuracy: 1 }],
      });
      rogue.send({ type: 'log', level: 'error', message: 'injected by the rogue', runId: victimId });
      rogue.send({ type: 'checkpoint', runId: victimId, rank: 0, iteration: 10 }, new Uint8Array(3));
      rogue.send({ type: 'collective', runId: victimId, op: 'allgather', round: 0, rank: 0 }, new Uint8Array(8));
      rogue.send({ type: 'status', runId: victimId, state: 'finished' });
      rogue.send({ type: 'status', runId: victimId, state: 'failed', reason: 'forged failure' });
    }
    await until(() => orchestrator.refusals.total >= 14, 5000, 'fourteen refusals');
    store.flush();
    expect(store.getRun(victimId).status).toBe('running');
    expect(store.iterationSeries(victimId).map((p) => p.loss)).toEqual([1, 1]);
    expect(store.evaluationSeries(victimId)).toEqual([]);
    expect(store.logs(victimId).map((l) => l.message)).not.toContain('injected by the rogue');
    expect(store.listCheckpoints(victimId)).toEqual([]);
    const refusals = events.filter((e) => e.startsWith(`warn: refused from worker ${rogue.workerId}`));
    expect(refusals[0]).toMatch(/iteration records for run .*, which is not its run \(it holds no run\)/);
    // Logged without flooding: one line per worker per interval, the rest counted.
    expect(refusals).toHaveLength(1);
    expect(store.logs(null).some((l) => l.message.startsWith(`refused from worker ${rogue.workerId}`))).toBe(true);
    // The honest rank still reports.
    await honest.client.sendMetrics({ kind: 'iteration', records: [iterationRecord(victimId, 0, 2)] });
    await until(() => (store.flush(), store.iterationSeries(victimId).length === 3), 3000, 'the honest record');
  });

  it('refuses an assigned rank that reports as another rank or repeats an iteration: records are append-only', async () => {
    const { store, hub, orchestrator } = await startCore();
    const a = await scriptedWorker(hub, 'host-a');
    const b = await scriptedWorker(hub, 'host-b');
    const [run] = orchestrator.submit(experiment({ workers: 2 }));
    const runId = run!.id;
    const [first, second] = await Promise.all([a.nextAssignment(), b.nextAssignment()]);
    const [liar, other] = first.message.rank === 0 ? [a, b] : [b, a];
    const liarRank = first.message.rank === 0 ? first.message.rank : second.message.rank;
    await liar.client.sendMetrics({ kind: 'iteration', records: [iterationRecord(runId, liarRank, 0, 0.5)] });
    await other.client.sendMetrics({ kind: 'iteration', records: [iterationRecord(runId, 1 - liarRank, 0, 0.7)] });
    await liar.client.sendMetrics({
      kind: 'iteration',
      records: [iterationRecord(runId, 1 - liarRank, 1, 99), iterationRecord(runId, liarRank, 0, 99)],
    });
    await until(() => orchestrator.refusals.total >= 2, 3000, 'two refusals');
    store.flush();
    const rows = store.iterationSeries(runId, { ranks: 'all', columns: ['rank', 'loss'] });
    expect(rows.map((r) => [r.iteration, r.rank, r.loss]).sort()).toEqual(
      [
        [0, liarRank, 0.5],
        [0, 1 - liarRank, 0.7],
      ].sort(),
    );
  });
});

describe('worker payloads never end the core', () => {
  it('fails the run of a rank that sends a malformed checkpoint, naming it; the core and the other runs go on', async () => {
    const { store, hub, orchestrator } = await startCore();
    const liar = await RogueWorker.join(hub, 'liar-host');
    rogues.push(liar);
    const [run] = orchestrator.submit(experiment());
    await until(() => liar.assignments.length === 1, 5000, 'the liar assigned');
    const honest = await scriptedWorker(hub, 'honest-host');
    const [other] = orchestrator.submit(experiment({ name: 'other' }));
    await honest.nextAssignment();
    // The 3 bytes that once ended `sparselab run` with an unhandled RangeError.
    liar.send({ type: 'checkpoint', runId: run!.id, rank: 0, iteration: 0 }, Uint8Array.of(1, 2, 3));
    await orchestrator.waitFor([run!.id]);
    expect(store.getRun(run!.id).failureReason).toBe(
      `rank 0 (worker ${liar.workerId}) sent a bad checkpoint part: malformed checkpoint part (3 bytes): shorter than its 4-byte header length`,
    );
    expect(store.listCheckpoints(run!.id)).toEqual([]);
    await honest.client.sendMetrics({ kind: 'iteration', records: [iterationRecord(other!.id, 0, 0)] });
    await until(() => (store.flush(), store.iterationSeries(other!.id).length === 1), 3000, 'the other run recording');
    expect(store.getRun(other!.id).status).toBe('running');
    // A log line is kept up to a bound, however large the frame carrying it.
    await honest.client.log('info', 'x'.repeat(5_000_000), other!.id);
    await until(() => (store.flush(), store.logs(other!.id).length === 1), 3000, 'the long line');
    expect(store.logs(other!.id)[0]!.message).toBe(
      `${'x'.repeat(MAX_LOG_LINE)}… (${5_000_000 - MAX_LOG_LINE} characters cut)`,
    );
  });
});
