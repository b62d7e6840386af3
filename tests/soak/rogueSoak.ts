/**
 * The soak: four honest local workers train two runs on loopback while a rogue cycles through every bad
 * message of issue #13 (huge frames before hello, connections that never say hello, wrong tokens, another
 * run's status, records, log lines, checkpoints and collectives, malformed checkpoints, garbage frames).
 * The same two runs trained first without the rogue are the reference. Bounded: the rogue stops after
 * `rogueSeconds`, the runs after their epochs, and everything closes.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { experimentSchema } from '../../common/experiment';
import { syntheticExperiment } from '../experimentFixture';
import { PROTOCOL_VERSION } from '../../common/protocol';
import { encodeRankCheckpoint } from '../../common/checkpoint';
import { startHub, type Hub } from '../../main/core/hub';
import { LocalWorkers } from '../../main/core/runtime/localWorkers';
import { Orchestrator } from '../../main/core/runtime/orchestrator';
import { openStore, type Store } from '../../main/core/store';
import { capabilities, floodBeforeHello, iterationRecord, RogueWorker, until } from '../scriptedWorker';

export interface SoakOptions {
  rogueSeconds: number;
  epochs: number;
}

export interface SoakReport {
  reference: RunOutcome[];
  attacked: RunOutcome[];
  /** The reference runs' records before and after the rogue, as JSON. */
  referenceBefore: string[];
  referenceAfter: string[];
  rogueCycles: number;
  /** Cycles that began while both attacked runs were still training. */
  cyclesWhileTraining: number;
  /** Bytes the hub took of each 200 MiB frame sent before hello, before it closed the socket. */
  floodBytesAccepted: number[];
  /** The core's resident memory: at the start of the attack, and its peak during it. */
  rssStart: number;
  rssPeak: number;
  hubRefusals: number;
  /** The hub's refusal lines with addresses, ids and numbers blanked, and how often each came. */
  hubRefusalKinds: Record<string, number>;
  orchestratorRefusals: number;
  /** Refusal lines the store kept (runs' own logs untouched). */
  storedRefusals: number;
}

export interface RunOutcome {
  status: string;
  finalAccuracy: number | null;
  /** (iteration, rank, loss) of every record, and (iteration, accuracy) of every evaluation. */
  losses: string;
  evaluations: string;
}

const FLOOD_BYTES = 200 * 1024 * 1024;

export async function rogueSoak(options: SoakOptions): Promise<SoakReport> {
  const experiment = experimentSchema.parse(
    syntheticExperiment({
      name: 'soak',
      epochs: options.epochs,
      arms: [
        { method: 'topk', density: 0.05 },
        { method: 'gaussiank', density: 0.05 },
      ],
      evaluation: { everyEpochs: 1 },
      statistics: { everyIterations: 20, histogramIterations: [0], histogramBins: 16 },
      faults: { checkpointEveryIterations: 50 },
    }),
  );
  const store = openStore(mkdtempSync(join(tmpdir(), 'sparselab-soak-')));
  let hubRefusals = 0;
  const hubRefusalKinds: Record<string, number> = {};
  const hub = await startHub({
    log: (level, message) => {
      if (level !== 'warn' || !message.startsWith('refused')) return;
      hubRefusals++;
      const kind = message
        .replace(/127\.0\.0\.1:\d+/g, 'ADDRESS')
        .replace(/\bw\d+\b/g, 'WORKER')
        .replace(/\d+/g, 'N');
      hubRefusalKinds[kind] = (hubRefusalKinds[kind] ?? 0) + 1;
    },
  });
  const orchestrator = new Orchestrator(store, hub);
  const workers = new LocalWorkers({ hubUrl: hub.url, token: hub.token, count: 4, backend: 'cpu' });
  try {
    const reference = orchestrator.submit(experiment);
    await orchestrator.waitFor(reference.map((r) => r.id));
    // A run ends with rank 0's word; the other ranks' last log lines may still be on their way.
    await until(
      () => {
        store.flush();
        return reference.every((r) => store.logs(r.id).filter((l) => l.message === 'finished').length === 2);
      },
      30_000,
      'every rank of the reference runs to log its end',
    );
    const referenceBefore = reference.map((r) => snapshot(store, r.id));

    const attacked = orchestrator.submit(experiment);
    // Both runs hold all four workers before the rogue joins: it is never given one of them.
    await until(() => attacked.every((r) => store.getRun(r.id).status === 'running'), 60_000, 'both runs running');
    const targets = [...attacked, ...reference].map((r) => r.id);
    const rssStart = process.memoryUsage().rss;
    let rssPeak = rssStart;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 100);
    const training = () => attacked.some((r) => store.getRun(r.id).status === 'running');
    let rogueCycles = 0;
    let cyclesWhileTraining = 0;
    const floodBytesAccepted: number[] = [];
    const stopAt = Date.now() + options.rogueSeconds * 1000;
    try {
      while (Date.now() < stopAt) {
        if (training()) cyclesWhileTraining++;
        await rogueCycle(hub, targets, floodBytesAccepted);
        rogueCycles++;
      }
    } finally {
      clearInterval(sampler);
    }
    await orchestrator.waitFor(attacked.map((r) => r.id));
    store.flush();
    return {
      reference: reference.map((r) => outcome(store, r.id)),
      attacked: attacked.map((r) => outcome(store, r.id)),
      referenceBefore,
      referenceAfter: reference.map((r) => snapshot(store, r.id)),
      rogueCycles,
      cyclesWhileTraining,
      floodBytesAccepted,
      rssStart,
      rssPeak,
      hubRefusals,
      hubRefusalKinds,
      orchestratorRefusals: orchestrator.refusals.total,
      storedRefusals: store.logs(null).filter((l) => l.message.startsWith('refused from worker')).length,
    };
  } finally {
    orchestrator.close();
    workers.stop();
    await hub.close();
    store.close();
  }
}

/** Everything recorded for a run but the export's own time. */
function snapshot(store: Store, runId: string): string {
  const { exportedAt: _, ...rest } = store.exportJson(runId);
  return JSON.stringify(rest);
}

function outcome(store: Store, runId: string): RunOutcome {
  const run = store.getRun(runId);
  const losses = store
    .iterationSeries(runId, { ranks: 'all', columns: ['rank', 'loss'] })
    .map((p) => `${p.iteration}/${p.rank}/${p.loss}`)
    .sort()
    .join(' ');
  const evaluations = store
    .evaluationSeries(runId)
    .map((e) => `${e.iteration}/${e.accuracy}`)
    .join(' ');
  return { status: run.status, finalAccuracy: store.summary(runId).finalAccuracy, losses, evaluations };
}

/** One pass through every bad message, at the hub and at the scheduler. */
async function rogueCycle(hub: Hub, targets: string[], flood: number[]): Promise<void> {
  // Before hello: a 200 MiB frame, a wrong token.
  const flooding = floodBeforeHello(hub.port, FLOOD_BYTES).then((bytes) => flood.push(bytes));
  const wrong = await RogueWorker.join(hub, 'rogue-host', 'not-the-token').catch(() => null);
  wrong?.close();

  // After hello: another run's status, records, log lines, checkpoints and collectives; hello twice.
  const rogue = await RogueWorker.join(hub);
  const part = encodeRankCheckpoint({ rank: 0, iteration: 50, weightsChecksum: '0badf00d', residuals: [] });
  for (const runId of targets) {
    rogue.send({ type: 'metrics', kind: 'iteration', records: [iterationRecord(runId, 0, 1, 999_999)] });
    rogue.send({
      type: 'metrics',
      kind: 'evaluation',
      records: [{ runId, iteration: 1, epoch: 1, wallMs: 1, testLoss: 0, accuracy: 1 }],
    });
    rogue.send({ type: 'log', level: 'error', message: `injected into ${runId}`, runId });
    rogue.send({ type: 'checkpoint', runId, rank: 0, iteration: 50 }, Uint8Array.of(1, 2, 3));
    rogue.send({ type: 'checkpoint', runId, rank: 0, iteration: 50 }, part);
    rogue.send(
      { type: 'collective', runId, op: 'allreduce', round: 0, rank: 0 },
      new Uint8Array(new Float32Array([NaN]).buffer),
    );
    rogue.send({ type: 'status', runId, state: 'finished' });
    rogue.send({ type: 'status', runId, state: 'failed', reason: 'forged by the rogue' });
  }
  // Hello twice, on a connection of its own: the forgeries above may already have cut `rogue` off.
  const twice = await RogueWorker.join(hub);
  twice.send({ type: 'hello', token: hub.token, protocolVersion: PROTOCOL_VERSION, capabilities: capabilities('x') });
  // Garbage: a text frame, random bytes.
  const texter = await RogueWorker.join(hub);
  texter.sendRaw('a text frame');
  const garbler = await RogueWorker.join(hub);
  garbler.sendRaw(randomBytes(64));
  await Promise.all(
    [rogue, twice, texter, garbler].map((r) =>
      until(() => r.ws.readyState === WebSocket.CLOSED, 5000, 'the hub to cut a rogue off').catch(() => r.close()),
    ),
  );
  await flooding;

  // Connections that never say hello, more than the hub lets wait: the extra ones are turned away.
  const silent = Array.from({ length: 70 }, () => new WebSocket(hub.url, { perMessageDeflate: false }));
  for (const ws of silent) ws.on('error', () => undefined);
  await until(() => silent.every((ws) => ws.readyState !== WebSocket.CONNECTING), 5000, 'the silent connections');
  for (const ws of silent) ws.terminate();
  await new Promise((resolve) => setTimeout(resolve, 100));
}
