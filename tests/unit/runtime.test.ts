/**
 * The runtime end to end: a hub, the orchestrator and real worker processes (bin/sparselab.js,
 * built by `npm test`) training the synthetic task on loopback.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { constants, getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { experimentSchema, type ExperimentInput } from '../../common/experiment';
import { parseNpy } from '../../gpu/io/npy';
import { unbundleCheckpoint } from '../../common/checkpoint';
import { startHub, type Hub } from '../../main/core/hub';
import { LocalWorkers } from '../../main/core/runtime/localWorkers';
import { Orchestrator } from '../../main/core/runtime/orchestrator';
import { openStore, type Store } from '../../main/core/store';
import { magnitudeBits } from '../oracle/naiveKernels';
import { syntheticExperiment } from '../experimentFixture';

const base = syntheticExperiment({
  name: 'runtime-test',
  dataset: { name: 'synthetic', testLimit: 500 },
  epochs: 2,
  faults: { checkpointEveryIterations: 10 },
  statistics: { everyIterations: 5, histogramIterations: [0, 10], histogramBins: 16 },
});

interface Runtime {
  store: Store;
  hub: Hub;
  orchestrator: Orchestrator;
  workers: LocalWorkers;
}

let running: Runtime | null = null;

async function startRuntime(workers: number, dumpDir?: string): Promise<Runtime> {
  const store = openStore(mkdtempSync(join(tmpdir(), 'sparselab-runtime-')));
  const hub = await startHub({ log: () => {} });
  const orchestrator = new Orchestrator(store, hub);
  const local = new LocalWorkers({ hubUrl: hub.url, token: hub.token, count: workers, backend: 'cpu', dumpDir });
  running = { store, hub, orchestrator, workers: local };
  return running;
}

afterEach(async () => {
  if (!running) return;
  running.orchestrator.close();
  running.workers.stop();
  await running.hub.close();
  running.store.close();
  running = null;
});

function experiment(overrides: Partial<ExperimentInput> = {}) {
  return experimentSchema.parse({ ...base, ...overrides });
}

function finalAccuracy(store: Store, runId: string): number {
  return store.summary(runId).finalAccuracy!;
}

describe('distributed training on local workers', () => {
  it('trains TopK and GaussianK to a good accuracy with identical replicas and every record stored', async () => {
    const dumpDir = mkdtempSync(join(tmpdir(), 'sparselab-dump-'));
    const { store, orchestrator } = await startRuntime(2, dumpDir);
    const runs = orchestrator.submit(
      experiment({
        arms: [
          { method: 'topk', density: 0.05 },
          { method: 'gaussiank', density: 0.05 },
        ],
      }),
    );
    await orchestrator.waitFor(runs.map((r) => r.id));
    for (const run of runs) {
      expect(store.getRun(run.id).status).toBe('finished');
      expect(finalAccuracy(store, run.id)).toBeGreaterThan(0.8);
      // Every rank's weights at every checkpoint hash the same: the replicas never diverged.
      const checkpoint = await store.latestCheckpoint(run.id);
      const parts = unbundleCheckpoint(checkpoint!.bytes);
      expect(parts.map((p) => p.rank)).toEqual([0, 1]);
      expect(new Set(parts.map((p) => p.weightsChecksum)).size).toBe(1);
      const ranks = store.iterationSeries(run.id, { ranks: 'all', columns: ['rank'] }).map((p) => p.rank);
      expect(new Set(ranks)).toEqual(new Set([0, 1]));
      if (process.platform === 'linux') {
        // Linux says how long compute waited for a CPU; never longer than compute itself.
        const times = store.iterationSeries(run.id, { ranks: 'all', columns: ['computeMs', 'computeCpuWaitMs'] });
        for (const t of times) {
          expect(t.computeCpuWaitMs).toBeGreaterThanOrEqual(0);
          expect(t.computeCpuWaitMs).toBeLessThanOrEqual(t.computeMs as number);
        }
      }
      // Top_k always keeps at least k/d of the energy; the paper's tighter (1 - k/d)^2 needs bell-shaped
      // data, which tiny layers (a 10-value bias) need not have, so it is checked on the whole model.
      for (const s of store.layerStatsSeries(run.id)) expect(s.rhoTopk).toBeLessThanOrEqual(s.boundGeneral);
      const model = store
        .iterationSeries(run.id, { columns: ['rhoTopk', 'boundGaussian'] })
        .filter((p) => typeof p.rhoTopk === 'number');
      expect(model.length).toBeGreaterThan(0);
      for (const p of model) expect(p.rhoTopk).toBeLessThan(p.boundGaussian as number);
      expect(store.histograms(run.id).length).toBeGreaterThan(0);
    }

    // The statistics recorded at iteration 10 agree with an independent computation on the dumped u.
    const [topkRun] = runs;
    const stats = store.layerStatsSeries(topkRun!.id).filter((s) => s.iteration === 10);
    expect(stats.length).toBeGreaterThan(0);
    let modelNorm2 = 0;
    for (const s of stats) {
      const file = readdirSync(dumpDir).find((f) => f === `${topkRun!.id}.it10.${s.layer.replaceAll('/', '_')}.npy`);
      const u = Array.from(parseNpy(file!, readFileSync(join(dumpDir, file!))).data);
      const d = u.length;
      const mean = u.reduce((a, b) => a + b, 0) / d;
      const variance = u.reduce((a, x) => a + (x - mean) ** 2, 0) / d;
      const norm2 = u.reduce((a, x) => a + x * x, 0);
      modelNorm2 += norm2;
      const order = u.map((x, i) => [magnitudeBits(x), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
      const top = new Set(order.slice(0, s.k).map(([, i]) => i));
      const residual = u.reduce((a, x, i) => a + (top.has(i) ? 0 : x * x), 0);
      expect(s.d).toBe(d);
      expect(s.k).toBe(Math.max(1, Math.floor(0.05 * d)));
      expect(s.mean).toBeCloseTo(mean, 6);
      expect(s.std).toBeCloseTo(Math.sqrt(variance), 6);
      expect(s.rhoTopk).toBeCloseTo(norm2 > 0 ? residual / norm2 : 0, 5);
      expect(s.rho).toBeCloseTo(s.rhoTopk, 12);
      expect(s.boundGaussian).toBeCloseTo((1 - s.k / d) ** 2, 12);
    }
    const [atTen] = store.iterationSeries(topkRun!.id, { columns: ['uNorm'], from: 10, to: 10 });
    expect(atTen!.uNorm! / Math.sqrt(modelNorm2)).toBeCloseTo(1, 5);
  });

  it('fails a run within seconds when a worker is killed, keeping what was recorded before', async () => {
    const { store, orchestrator, workers } = await startRuntime(2);
    const [run] = orchestrator.submit(experiment({ epochs: 20 }));
    const killedAt = await new Promise<number>((resolve) => {
      orchestrator.on('progress', (p) => {
        if (p.iteration < 15) return;
        workers.kill(1);
        resolve(Date.now());
      });
    });
    await orchestrator.waitFor([run!.id]);
    const failed = store.getRun(run!.id);
    expect(failed.status).toBe('failed');
    expect(failed.failureReason).toMatch(/rank \d .*(was lost|failed)/);
    expect(Date.now() - killedAt).toBeLessThan(10_000);
    expect(store.iterationSeries(run!.id).at(-1)!.iteration).toBeGreaterThanOrEqual(15);
  });

  it('waits for a replacement after a kill, resumes from the last checkpoint and reaches the uninterrupted accuracy', async () => {
    const { store, orchestrator, workers } = await startRuntime(2);
    const config = experiment({ faults: { onWorkerLoss: 'wait', checkpointEveryIterations: 10, waitSeconds: 60 } });
    const [reference] = orchestrator.submit(config);
    await orchestrator.waitFor([reference!.id]);

    const [run] = orchestrator.submit(config);
    await new Promise<void>((resolve) => {
      const onProgress = (p: { runId: string; iteration: number }) => {
        if (p.runId !== run!.id || p.iteration < 25) return;
        orchestrator.off('progress', onProgress);
        workers.kill(0);
        resolve();
      };
      orchestrator.on('progress', onProgress);
    });
    // The replacement joins the hub; the orchestrator gives it the waiting run.
    setTimeout(() => workers.respawn(0), 500);
    await orchestrator.waitFor([run!.id]);
    const resumed = store.getRun(run!.id);
    expect(resumed.status).toBe('finished');
    expect(resumed.history.map((h) => h.to)).toContain('waiting');
    const resumedAt = Number(/resumed from iteration (\d+)/.exec(resumed.history.map((h) => h.reason).join(' '))?.[1]);
    expect(resumedAt).toBeGreaterThanOrEqual(10);
    expect(resumedAt % 10).toBe(0);
    expect(Math.abs(finalAccuracy(store, run!.id) - finalAccuracy(store, reference!.id))).toBeLessThan(0.02);
  });

  it('starts local workers below normal priority, every thread of them', async () => {
    const { hub, workers } = await startRuntime(2);
    await new Promise<void>((resolve) => {
      const check = () => {
        if (hub.workers().length < 2) return;
        hub.off('workerJoined', check);
        resolve();
      };
      hub.on('workerJoined', check);
      check();
    });
    const belowNormal = constants.priority.PRIORITY_BELOW_NORMAL;
    for (const pid of workers.pids()) {
      expect(getPriority(pid)).toBeGreaterThanOrEqual(belowNormal);
      // Linux: the threads Node started (V8's platform, libuv's pool) inherited it too.
      const tasks = `/proc/${pid}/task`;
      if (!existsSync(tasks)) continue;
      const threads = readdirSync(tasks);
      expect(threads.length).toBeGreaterThan(1);
      for (const tid of threads) {
        const statFile = `${tasks}/${tid}/stat`;
        if (!existsSync(statFile)) continue; // a thread that ended meanwhile
        const stat = readFileSync(statFile, 'utf8');
        const nice = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
        expect(nice, `thread ${tid} of worker ${pid}`).toBeGreaterThanOrEqual(belowNormal);
      }
    }
  });

  it('lets a worker started by hand join with the token and refuses a wrong one', async () => {
    const hub = await startHub({ log: () => {} });
    try {
      const wrong = spawn(process.execPath, [
        'bin/sparselab.js',
        'worker',
        '--hub',
        hub.url,
        '--token',
        'not-the-token',
        '--backend',
        'cpu',
      ]);
      let stderr = '';
      wrong.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => wrong.on('exit', resolve));
      expect(code).not.toBe(0);
      expect(stderr).toMatch(/hub refused the connection: wrong token/);

      const joined = new Promise((resolve) => hub.once('workerJoined', resolve));
      const right = spawn(process.execPath, ['bin/sparselab.js', 'worker', '--hub', hub.url, '--backend', 'cpu'], {
        env: { ...process.env, SPARSELAB_TOKEN: hub.token },
      });
      await joined;
      expect(hub.workers()).toHaveLength(1);
      right.kill('SIGKILL');
    } finally {
      await hub.close();
    }
  });
});
