/**
 * The torch engine end to end: experiments with engine: torch launched through the app's core train on gloo ranks
 * under torchrun (sparselab_torch.engine), their records landing in the runs the core created; cancel stops every
 * rank; a killed rank fails the run naming it; a run resumes from its last checkpoint.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ExperimentInput } from '../../common/experiment';
import { AppCore } from '../../main/core/app';
import { loadExperiment } from '../../main/core/experiments/load';
import { compareRuns, overheadOf } from '../../main/core/runtime/comparison';
import { torchPythonOrSkip } from '../torchParity';

const ROOT = resolve(__dirname, '../..');
const python = torchPythonOrSkip('the torch engine tests');
const apps: AppCore[] = [];

afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

async function startApp(): Promise<AppCore> {
  const app = await AppCore.start({
    mode: 'browser',
    dataDir: mkdtempSync(join(tmpdir(), 'sparselab-torch-engine-')),
    localWorkers: 0,
    log: () => {},
  });
  apps.push(app);
  return app;
}

/** The quick experiment on the torch engine, smaller where a test only needs a run going. */
function quick(overrides: Partial<ExperimentInput> = {}): ExperimentInput {
  const experiment = loadExperiment(join(ROOT, 'resources/experiments/quick-synthetic.yaml'));
  return { ...experiment, engine: 'torch', ...overrides } as ExperimentInput;
}

function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const started = Date.now();
  return new Promise((done, fail) => {
    const check = () => {
      if (condition()) return done();
      if (Date.now() - started > timeoutMs) return fail(new Error(`timed out waiting for ${what}`));
      setTimeout(check, 100);
    };
    check();
  });
}

/** Running (a zombie whose new parent has not reaped it yet counts as gone). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function rankPids(app: AppCore, runId: string, ranks: number): number[] {
  return Array.from({ length: ranks }, (_, r) =>
    Number(readFileSync(join(app.store.dataDir, 'torch', runId, `rank-${r}.pid`), 'utf8')),
  );
}

describe.runIf(python !== null)('the torch engine', () => {
  it('trains the quick experiment on 2 gloo ranks through the core: records, evaluations and statistics at the native iterations, compared like native runs', async () => {
    const app = await startApp();
    const runs = await app.api.launch(quick());
    await app.orchestrator.waitFor(runs.map((r) => r.id));
    const done = await app.api.runs();
    expect(done.map((r) => [r.arm, r.status, r.failureReason])).toEqual([
      ['gaussiank@0.05', 'finished', null],
      ['topk@0.05', 'finished', null],
    ]);
    for (const run of done) {
      // 5000 examples / 2 ranks / 32 = 78 iterations per epoch, 3 epochs; evaluation every 39.
      const iterations = app.store.iterationSeries(run.id);
      expect(iterations.map((r) => r.iteration)).toEqual([...Array(234).keys()]);
      expect(app.store.evaluationSeries(run.id).map((e) => e.iteration)).toEqual([39, 78, 117, 156, 195, 234]);
      const final = app.store.evaluationSeries(run.id).at(-1)!;
      expect(final.accuracy).toBeGreaterThan(0.85); // the native MLP passes 90% within a few epochs
      const measured = iterations.filter((r) => r.rho !== undefined && r.rho !== null).map((r) => r.iteration);
      expect(measured).toEqual([...Array(47).keys()].map((i) => 5 * i));
      for (const r of iterations) {
        expect(r.bytesSent).toBeGreaterThan(0);
        expect(r.computeMs).toBeGreaterThan(0);
        expect(r.exchangeMs).toBeGreaterThan(0);
        // The wait for slower ranks (a barrier before the collectives) is part of the exchange, as at the hub.
        expect(r.waitMs).toBeGreaterThanOrEqual(0);
        expect(r.waitMs!).toBeLessThan(r.exchangeMs!);
      }
      const histograms = app.store.histograms(run.id);
      expect([...new Set(histograms.map((h) => h.iteration))]).toEqual([0, 20, 60]);
      expect(new Set(histograms.map((h) => h.layer))).toEqual(
        new Set(['fc1/kernel', 'fc1/bias', 'fc2/kernel', 'fc2/bias', 'fc3/kernel', 'fc3/bias']),
      );
      const detail = await app.api.run(run.id);
      expect(detail.config.engine).toBe('torch');
      expect(detail.environment?.engine).toMatchObject({ name: 'torch', backend: 'gloo', worldSize: 2 });
    }
    // Top_k sends exactly k = max(1, floor(0.05 d)) of each tensor: 102 + 3 + 204 + 3 + 32 + 1.
    const topk = done.find((r) => r.arm === 'topk@0.05')!;
    expect(app.store.iterationSeries(topk.id).every((r) => r.k === 345 && r.selected === 345)).toBe(true);
    const rows = compareRuns(app.store, done[0]!.experimentId);
    for (const row of rows) {
      expect(row.d).toBe(6922);
      const overhead = overheadOf(row.summary)!;
      expect(overhead).toBeGreaterThan(0);
      expect(overhead).toBeLessThan(1);
    }
  }, 180_000);

  it('cancel stops every rank within seconds', async () => {
    const app = await startApp();
    const [run] = await app.api.launch(quick({ arms: [{ method: 'topk', density: 0.05 }], epochs: 50 }));
    await until(() => app.store.iterationSeries(run!.id).length > 0, 60_000, 'the first records');
    const pids = rankPids(app, run!.id, 2);
    const cancelled = Date.now();
    await app.api.cancelRun(run!.id);
    await until(() => pids.every((pid) => !alive(pid)), 10_000, 'the ranks to exit');
    expect(Date.now() - cancelled).toBeLessThan(KILL_SECONDS * 1000);
    expect((await app.api.run(run!.id)).status).toBe('cancelled');
    await until(() => app.orchestrator.torch.active().length === 0, 10_000, 'torchrun to exit');
  }, 120_000);

  it('a killed rank fails the run, naming it', async () => {
    const app = await startApp();
    const [run] = await app.api.launch(quick({ arms: [{ method: 'gaussiank', density: 0.05 }], epochs: 50 }));
    await until(() => app.store.iterationSeries(run!.id).length > 0, 60_000, 'the first records');
    const [rank0, rank1] = rankPids(app, run!.id, 2);
    process.kill(rank1!, 'SIGKILL');
    await app.orchestrator.waitFor([run!.id]);
    const failed = await app.api.run(run!.id);
    expect(failed.status).toBe('failed');
    expect(failed.failureReason).toBe('rank 1 was killed by SIGKILL');
    await until(() => !alive(rank0!), 10_000, 'rank 0 to exit');
  }, 120_000);

  it('stops and fails a run that records nothing for its stall deadline', async () => {
    const app = await startApp();
    // Python, torch and the rendezvous take longer than a second here before the first record.
    const experiment = quick({
      arms: [{ method: 'topk', density: 0.05 }],
      faults: { onWorkerLoss: 'fail', checkpointEveryIterations: 200, waitSeconds: 300, stallSeconds: 1 },
    });
    const [run] = await app.api.launch(experiment);
    await app.orchestrator.waitFor([run!.id]);
    const stalled = await app.api.run(run!.id);
    expect(stalled.status).toBe('failed');
    expect(stalled.failureReason).toMatch(/^stalled: no records for \d+ s \(limit 1 s\)$/);
    await until(() => app.orchestrator.torch.active().length === 0, 10_000, 'torchrun to exit');
  }, 120_000);

  it('resumes from its last checkpoint: the records continue from it and the run finishes', async () => {
    const app = await startApp();
    const experiment = quick({
      arms: [{ method: 'topk', density: 0.05 }],
      dataset: { name: 'synthetic', trainLimit: 1280 },
      epochs: 6,
      faults: { onWorkerLoss: 'fail', checkpointEveryIterations: 40, waitSeconds: 300 },
    });
    const [run] = await app.api.launch(experiment);
    const folder = join(app.store.dataDir, 'torch', run!.id);
    // 1280 / 2 / 32 = 20 iterations per epoch, 120 in all; checkpoints at 40 and 80.
    await until(() => existsSync(join(folder, 'LATEST')), 90_000, 'the first checkpoint');
    await app.api.cancelRun(run!.id);
    await until(() => app.orchestrator.torch.active().length === 0, 10_000, 'torchrun to exit');
    const saved = JSON.parse(readFileSync(join(folder, 'LATEST'), 'utf8')) as { iteration: number };
    expect(saved.iteration % 40).toBe(0);
    await app.api.resumeRun(run!.id);
    await app.orchestrator.waitFor([run!.id]);
    const resumed = await app.api.run(run!.id);
    expect([resumed.status, resumed.failureReason]).toEqual(['finished', null]);
    // The records after the checkpoint were discarded and written again: every iteration once.
    expect(app.store.iterationSeries(run!.id).map((r) => r.iteration)).toEqual([...Array(120).keys()]);
    const logs = await app.api.logs(run!.id);
    expect(logs.some((l) => l.message === `resumed from iteration ${saved.iteration}`)).toBe(true);
    expect(app.store.evaluationSeries(run!.id).at(-1)!.accuracy).toBeGreaterThan(0.7);
  }, 180_000);
});

describe.runIf(python !== null)('the torch engine under the CLI', () => {
  it('leaves no torchrun and no rank behind when the app is killed', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sparselab-torch-cli-'));
    const cli = spawn(
      process.execPath,
      [
        join(ROOT, 'bin/sparselab.js'),
        'run',
        join(ROOT, 'resources/experiments/quick-synthetic.yaml'),
        '--engine',
        'torch',
        '--set',
        'epochs=50',
        '--data-dir',
        dataDir,
      ],
      { stdio: 'ignore' },
    );
    const pidFiles = () => {
      const runs = existsSync(join(dataDir, 'torch')) ? readdirSync(join(dataDir, 'torch')) : [];
      return runs.flatMap((run) =>
        [0, 1].map((r) => join(dataDir, 'torch', run, `rank-${r}.pid`)).filter((f) => existsSync(f)),
      );
    };
    try {
      await until(() => pidFiles().length === 2, 60_000, 'both ranks');
      // torchrun is the app's child (launch.py execs it); the ranks are its children.
      const children = readFileSync(`/proc/${cli.pid}/task/${cli.pid}/children`, 'utf8').trim().split(/\s+/);
      const pids = [...pidFiles().map((f) => Number(readFileSync(f, 'utf8'))), ...children.map(Number)];
      expect(pids).toHaveLength(3);
      expect(pids.every(alive)).toBe(true);
      cli.kill('SIGKILL'); // no handler runs: only the kernel's parent-death signals can stop the ranks
      await until(() => pids.every((pid) => !alive(pid)), 15_000, 'torchrun and the ranks to die with the app');
    } finally {
      cli.kill('SIGKILL');
    }
  }, 120_000);
});

/** Cancel's SIGTERM, then SIGKILL after 3 s: every rank is gone well within this. */
const KILL_SECONDS = 8;
