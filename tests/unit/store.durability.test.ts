import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../main/core/store';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The child: opens the store, starts a run, then appends records as fast as it can (4 ranks, an evaluation every
 * 50 iterations, a log line every 10), with the store's own 50 ms flushes plus an explicit flush every 1000
 * iterations, after which it prints "flushed N" (iterations 0..N-1 are committed), and a 64 KiB checkpoint every
 * 2000 iterations ("checkpoint N" once written). It never stops by itself: the test kills it.
 * In 'exit' mode it appends ten evaluations and exits at once, without flush or close.
 */
const child = `
import { openStore } from './main/core/store';
const dir = process.argv[2];
const config = JSON.parse(process.env.EXPERIMENT!);
const store = openStore(dir!, { flushIntervalMs: 50 });
const experiment = store.createExperiment(config);
const run = store.createRun({ experimentId: experiment.id, arm: config.arms[0], seed: 1 });
store.setStatus(run.id, 'running');
console.log('run ' + run.id);
if (process.argv[3] === 'exit') {
  // Buffered, never flushed nor closed: the store's exit hook writes them.
  for (let i = 0; i < 10; i++)
    store.append('evaluation', { runId: run.id, iteration: i, epoch: 0, wallMs: i, testLoss: 1, accuracy: 0.5 });
  process.exit(0);
}
const checkpoint = (it: number) => Uint8Array.from({ length: 65536 }, (_, j) => (it * 7 + j) & 255);
let it = 0;
function step() {
  for (let n = 0; n < 100; n++, it++) {
    for (let rank = 0; rank < 4; rank++)
      store.append('iteration', {
        runId: run.id, rank, iteration: it, epoch: it / 1000, loss: 1 / (it + 1), lr: 0.1, density: 0.01, k: 10,
        selected: 10, bytesSent: 80, bytesReceived: 240, wallMs: it, computeMs: 1, compressMs: 1, exchangeMs: 1, waitMs: 0,
        updateMs: 1,
      });
    if (it % 50 === 0)
      store.append('evaluation', { runId: run.id, iteration: it, epoch: it / 1000, wallMs: it, testLoss: 1, accuracy: 0.5 });
    if (it % 10 === 0)
      store.appendLog({ runId: run.id, workerId: 'w0', rank: 0, level: 'info', message: 'iteration ' + it, time: it });
  }
  if (it % 1000 === 0) {
    store.flush();
    console.log('flushed ' + it);
  }
  if (it % 2000 === 0) {
    const at = it;
    store.writeCheckpoint(run.id, at, checkpoint(at)).then(() => console.log('checkpoint ' + at));
  }
  setImmediate(step);
}
step();
`;

const dir = mkdtempSync(join(tmpdir(), 'sparselab-kill-'));
const bundle = join(dir, 'child.cjs');

async function bundleChild(): Promise<void> {
  const out = await build({
    stdin: { contents: child, resolveDir: root, loader: 'ts', sourcefile: 'child.ts' },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    packages: 'external',
    write: false,
    logLevel: 'silent',
  });
  writeFileSync(bundle, out.outputFiles[0]!.text);
}

const config = {
  name: 'kill',
  model: 'fnn',
  dataset: { name: 'mnist' },
  workers: 4,
  backend: 'cpu',
  epochs: 1,
  batchSize: 8,
  optimizer: { lr: 0.1, momentum: 0.9, weightDecay: 0, schedule: { type: 'constant' }, warmupEpochs: 0 },
  densityWarmup: [],
  granularity: 'layer',
  seeds: [1],
  arms: [{ method: 'topk', density: 0.01, errorFeedback: true, sampleRatio: 0.01 }],
  evaluation: { everyEpochs: 1 },
  statistics: { everyIterations: 10, histogramIterations: [], histogramBins: 64 },
  faults: { onWorkerLoss: 'fail', checkpointEveryIterations: 2000, waitSeconds: 300 },
};

function startChild(data: string, mode = 'stream') {
  return spawn(process.execPath, [bundle, data, mode], {
    env: { ...process.env, EXPERIMENT: JSON.stringify(config), NODE_PATH: join(root, 'node_modules') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

describe('durability', () => {
  beforeAll(bundleChild);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps every flushed record, and a consistent database, when the process is SIGKILLed mid-stream', async () => {
    const proc = startChild(join(dir, 'data'));
    let runId = '';
    let flushed = 0;
    let checkpointed = 0;
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<NodeJS.Signals | null>((done) => proc.on('exit', (_code, signal) => done(signal)));
    let killing = false;
    await new Promise<void>((done, fail) => {
      let pending = '';
      proc.stdout.on('data', (d: Buffer) => {
        pending += d.toString();
        const lines = pending.split('\n');
        pending = lines.pop()!;
        for (const line of lines) {
          const [word, value] = line.split(' ');
          if (word === 'run') runId = value!;
          if (word === 'flushed') flushed = Number(value);
          if (word === 'checkpoint') checkpointed = Number(value);
        }
        // Kill it at a random moment while it is appending (and flushing, and checkpointing) at full speed.
        if (flushed >= 5000 && checkpointed >= 2000 && !killing) {
          killing = true;
          setTimeout(() => {
            proc.kill('SIGKILL');
            done();
          }, Math.random() * 50);
        }
      });
      proc.on('exit', (_code, signal) => {
        if (signal !== 'SIGKILL') fail(new Error(`the child exited before it was killed: ${stderr}`));
      });
    });
    expect(await exited).toBe('SIGKILL');

    const store = openStore(join(dir, 'data'));
    try {
      expect(store.integrityCheck()).toEqual([]);
      expect(store.getRun(runId).status).toBe('running');
      expect(store.markInterrupted()).toEqual([runId]);

      const rows = store.iterationSeries(runId, { ranks: 'all', columns: ['loss'] });
      const perRank = [0, 1, 2, 3].map((rank) => rows.filter((r) => r.rank === rank).map((r) => r.iteration));
      for (const iterations of perRank) {
        // Every iteration printed as flushed is there, and what is there is a prefix of what was appended.
        expect(iterations.length).toBeGreaterThanOrEqual(flushed);
        expect(iterations.every((it, i) => it === i)).toBe(true);
      }
      const counts = perRank.map((r) => r.length);
      expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
      expect(rows.every((r) => r.loss === 1 / (r.iteration + 1))).toBe(true);
      // Progress was committed with the records.
      expect(store.getRun(runId).iteration).toBe(counts[0]! - 1);
      const evaluations = store.evaluationSeries(runId).map((e) => e.iteration);
      expect(evaluations.length).toBeGreaterThanOrEqual(flushed / 50);
      expect(evaluations.every((it, i) => it === i * 50)).toBe(true);
      const logs = store.logs(runId).map((l) => l.message);
      expect(logs.length).toBeGreaterThanOrEqual(flushed / 10);
      expect(logs.every((m, i) => m === `iteration ${i * 10}`)).toBe(true);

      const latest = await store.latestCheckpoint(runId);
      expect(latest!.iteration).toBeGreaterThanOrEqual(checkpointed);
      expect(latest!.bytes).toEqual(Uint8Array.from({ length: 65536 }, (_, j) => (latest!.iteration * 7 + j) & 255));
    } finally {
      store.close();
    }
  });

  it('writes buffered records when the process exits without closing the store', async () => {
    const data = join(dir, 'exit');
    const proc = startChild(data, 'exit');
    let stdout = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const code = await new Promise<number | null>((done) => proc.on('exit', (c) => done(c)));
    expect(code).toBe(0);
    const store = openStore(data);
    try {
      expect(store.evaluationSeries(stdout.trim().split(' ')[1]!).length).toBe(10);
    } finally {
      store.close();
    }
  });
});
