/**
 * The app core (main/core/app): the dispatcher's argument checks, experiment validation, drafts across
 * restarts, series decimation, estimates and the run lifecycle rules, on a fresh data folder each.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AppEvent } from '../../common/api';
import type { IterationRecord } from '../../common/metrics';
import type { RunRow } from '../../common/runs';
import { experimentSchema } from '../../common/experiment';
import { AppCore, DRAFTS_FILE } from '../../main/core/app';
import { DEFAULT_RATES } from '../../main/core/app/projection';
import { syntheticExperiment } from '../experimentFixture';
import { iterationRecord } from '../scriptedWorker';

const experiment = syntheticExperiment({
  name: 'app-test',
  dataset: { name: 'synthetic', trainLimit: 1000, testLimit: 200 },
});

const cores: AppCore[] = [];
async function start(dataDir = mkdtempSync(join(tmpdir(), 'sparselab-app-')), localWorkers = 0): Promise<AppCore> {
  const core = await AppCore.start({ mode: 'browser', dataDir, localWorkers, workerBackend: 'cpu', log: () => {} });
  cores.push(core);
  return core;
}

afterEach(async () => {
  for (const core of cores.splice(0)) await core.close();
});

/** A fresh core whose store holds one run of `experiment`, with `iterations` records from ranks 0 and 1. */
async function startWithRun(
  iterations: number,
  record: (runId: string, rank: number, iteration: number) => IterationRecord,
): Promise<{ core: AppCore; run: RunRow }> {
  const core = await start();
  const row = core.store.createExperiment(experimentSchema.parse(experiment));
  const run = core.store.createRuns(row.id)[0]!;
  for (let iteration = 0; iteration < iterations; iteration++) {
    for (const rank of [0, 1]) core.store.append('iteration', record(run.id, rank, iteration));
  }
  return { core, run };
}

describe('dispatch', () => {
  it('refuses bad arguments with a message naming the method and the argument', async () => {
    const core = await start();
    await expect(core.dispatch('run', [5])).rejects.toThrow(/^run: argument 0 /);
    await expect(core.dispatch('run', ['../etc/passwd'])).rejects.toThrow('run: argument 0 is not a run id');
    await expect(core.dispatch('saveDraft', ['designer', 7])).rejects.toThrow(/^saveDraft: argument 1 /);
    await expect(core.dispatch('series', [['r1'], { points: 1 }])).rejects.toThrow(/^series: argument 1\.points /);
    await expect(core.dispatch('setLocalWorkers', [65])).rejects.toThrow(/^setLocalWorkers: argument 0 /);
    await expect(core.dispatch('info', 'not a list')).rejects.toThrow(/^info: arguments /);
    await expect(core.dispatch('__proto__', [])).rejects.toThrow('unknown method "__proto__"');
    // The reply form both transports send: never a throw.
    expect(await core.call('run', [5])).toEqual({ ok: false, error: expect.stringMatching(/^run: argument 0 /) });
    expect(await core.call('run', ['r-missing'])).toEqual({ ok: false, error: 'unknown run "r-missing"' });
    expect(await core.call('info', [])).toMatchObject({ ok: true, result: { mode: 'browser' } });
  });

  it('refuses an invalid experiment naming the field and the reason, and stores nothing', async () => {
    const core = await start();
    const bad = { ...experiment, arms: [{ method: 'topk', density: 2 }] };
    await expect(core.dispatch('launch', [bad])).rejects.toThrow('arms.0.density: must be at most 1');
    await expect(core.dispatch('launch', [{ ...experiment, model: 'gpt' }])).rejects.toThrow(/model: /);
    await expect(core.dispatch('estimate', [{ ...experiment, epochs: 0 }])).rejects.toThrow(
      'epochs: must be greater than 0',
    );
    await expect(core.dispatch('launch', [{ ...experiment, batchSize: 4000 }])).rejects.toThrow(
      'batchSize: 1000 examples give each of 2 workers 500, fewer than one batch of 4000',
    );
    expect(await core.api.experiments()).toEqual([]);
  });
});

describe('drafts', () => {
  it('survive a restart of the core on the same data folder, written atomically', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sparselab-app-'));
    const first = await start(dataDir);
    expect(await first.dispatch('loadDraft', ['designer'])).toBeNull();
    await first.dispatch('saveDraft', ['designer', 'name: mine\nepochs: 3\n']);
    await first.dispatch('saveDraft', ['compare.view', '{"log":true}']);
    await first.dispatch('saveDraft', ['designer', 'name: mine\nepochs: 4\n']);
    await first.close();
    expect(readdirSync(dataDir).filter((f) => f.includes(DRAFTS_FILE))).toEqual([DRAFTS_FILE]);
    const second = await start(dataDir);
    expect(await second.dispatch('loadDraft', ['designer'])).toBe('name: mine\nepochs: 4\n');
    expect(await second.dispatch('loadDraft', ['compare.view'])).toBe('{"log":true}');
    expect(JSON.parse(readFileSync(join(dataDir, DRAFTS_FILE), 'utf8'))).toHaveProperty('designer');
    // What the user typed is theirs alone (POSIX permissions; Windows has none to check).
    if (process.platform !== 'win32') expect(statSync(join(dataDir, DRAFTS_FILE)).mode & 0o777).toBe(0o600);
  });
});

describe('series', () => {
  it('decimates after summing bytesSentTotal over every iteration', async () => {
    const { core, run } = await startWithRun(100, (runId, rank, iteration) => ({
      ...iterationRecord(runId, rank, iteration, 1 / (iteration + 1)),
      bytesSent: 100 + iteration,
      ...(iteration % 10 === 0 && { rho: 0.5 }),
    }));
    const [series] = (await core.dispatch('series', [
      [run.id],
      { columns: ['loss', 'bytesSentTotal', 'rho'], points: 11 },
    ])) as { iteration: number[]; columns: Record<string, (number | null)[]> }[];
    expect(series!.iteration).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 99]);
    const total = (n: number) => Array.from({ length: n + 1 }, (_, i) => 100 + i).reduce((a, b) => a + b, 0);
    expect(series!.columns.bytesSentTotal).toEqual(series!.iteration.map(total));
    expect(series!.columns.rho!.slice(0, 3)).toEqual([0.5, 0.5, 0.5]);
    expect(series!.columns.rho!.at(-1)).toBeNull();
    expect(Object.keys(series!.columns).sort()).toEqual(['bytesSentTotal', 'loss', 'rho']);
  });
});

describe('estimate, templates and bench history', () => {
  it('counts iterations from the dataset, batch and workers, and projects the time with no finished run', async () => {
    const core = await start();
    const estimate = await core.api.estimate({ ...experiment, epochs: 2, seeds: [1, 2] });
    // floor(floor(1000 / 2) / 32) = 15 iterations per epoch.
    expect(estimate.iterations).toBe(30);
    expect(estimate.projection?.arms.map((a) => a.arm)).toEqual(['topk@0.05']);
    expect(estimate.iterationMs).toBe(estimate.projection!.arms[0]!.iterationMs);
    expect(estimate.runSeconds).toBeCloseTo((30 * estimate.iterationMs!) / 1000, 9);
    expect(estimate.basis).toMatch(/^projected from the cluster model, not measured: /);
    expect(estimate.basis).toContain(
      `at 10.0 GFLOP/s (no finished run to measure it from: the cpu backend's default, ${DEFAULT_RATES.cpu.source})`,
    );
    const mnist = await core.api.estimate({ ...experiment, model: 'fnn', dataset: { name: 'mnist' }, workers: 4 });
    expect(mnist.iterations).toBe(Math.floor(15_000 / 32));
    await expect(core.api.estimate({ ...experiment, batchSize: 600 })).rejects.toThrow(/fewer than one batch/);
  });

  it('times from finished runs of the model and dataset, and calibrates other models on them', async () => {
    // Every phase 1 ms: 4 ms per iteration, 1 ms of compute.
    const { core, run } = await startWithRun(10, iterationRecord);
    core.store.setStatus(run.id, 'running');
    core.store.setStatus(run.id, 'finished');
    const measured = await core.api.estimate(experiment);
    expect(measured).toMatchObject({
      iterationMs: 4,
      basis: 'mean of 1 finished synthetic/synthetic run with 2 workers and batch 32',
    });
    expect(measured.projection).toBeUndefined();
    // The synthetic MLP's 1302528 FLOPs per iteration (batch 32) in 1 ms: 1.30 GFLOP/s.
    const fnn = await core.api.estimate({ ...experiment, model: 'fnn', dataset: { name: 'mnist' } });
    expect(fnn.basis).toContain(
      `at 1.30 GFLOP/s measured by finished run ${run!.id} (synthetic/synthetic, cpu backend)`,
    );
    // fnn on MNIST: 198800 multiply-adds (784x200 + 200x200 + 200x10) x 6 FLOPs x 32 examples at 1.302528 GFLOP/s.
    expect(fnn.projection!.arms[0]!.computeMs).toBeCloseTo((198_800 * 6 * 32) / 1.302528e6, 6);
  });

  it('lists the experiment templates with the default marked, and the recorded bench results', async () => {
    const core = await start();
    const templates = await core.api.templates();
    expect(templates.filter((t) => t.isDefault).map((t) => t.file)).toEqual(['mnist-fnn-topk-vs-gaussiank.yaml']);
    expect(templates.find((t) => t.file === 'quick-synthetic.yaml')?.name).toBe('quick-synthetic');
    const history = await core.api.benchHistory();
    expect(history.length).toBeGreaterThan(0);
    expect(history.every((h) => h.source.startsWith('bench/results/') && Array.isArray(h.results.operators))).toBe(
      true,
    );
  });
});

describe('bench', () => {
  it('runs one benchmark at a time, streams its progress and keeps it for the history', async () => {
    const core = await start();
    const lines: string[] = [];
    core.onEvent((e) => e.type === 'benchProgress' && lines.push(e.line));
    const request = {
      sizes: [4096],
      densities: [0.01],
      backends: ['cpu'],
      methods: ['topk'],
      repeats: 1,
      peers: false,
    };
    const first = core.dispatch('bench', [request]);
    await expect(core.dispatch('bench', [request])).rejects.toThrow(/already running/);
    const results = (await first) as { operators: { method: string; d: number }[] };
    expect(results.operators).toMatchObject([{ method: 'topk', d: 4096 }]);
    expect(lines.some((l) => l.includes('topk'))).toBe(true);
    const history = await core.api.benchHistory();
    expect(history[0]!.source).toMatch(/^this session/);
    await expect(core.dispatch('bench', [{ ...request, backends: ['tpu'] }])).rejects.toThrow(
      /^bench: argument 0\.backends\.0 /,
    );
  });
});

describe('local workers', () => {
  async function until(what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('keeps the count asked for: grows, shrinks, and replaces a worker that dies', async () => {
    const core = await start(undefined, 1);
    const events: AppEvent[] = [];
    core.onEvent((e) => events.push(e));
    await until('one worker', async () => (await core.api.workers()).length === 1);
    const [first] = await core.api.workers();
    expect(first).toMatchObject({ local: true, state: 'idle', backend: 'cpu' });
    // The view is the hub's snapshot (less its own lastSeen) plus what the Workers view shows.
    expect(Object.keys(first!).sort()).toEqual(
      'adapter backend capabilities connectedAt host id lastHeartbeat local rank remoteAddress runId state'.split(' '),
    );
    process.kill(first!.capabilities.pid, 'SIGKILL');
    await until('a replacement', async () => {
      const workers = await core.api.workers();
      return workers.length === 1 && workers[0]!.id !== first!.id;
    });
    expect(events.some((e) => e.type === 'log' && e.message.includes('local worker 0 killed by SIGKILL'))).toBe(true);
    await core.dispatch('setLocalWorkers', [2]);
    await until('two workers', async () => (await core.api.workers()).length === 2);
    await until('a workers event', async () => events.some((e) => e.type === 'workers' && e.workers.length === 2));
    await core.dispatch('setLocalWorkers', [0]);
    await until('no workers', async () => (await core.api.workers()).length === 0);
    expect((await core.api.info()).localWorkers.count).toBe(0);
  });
});

describe('runs', () => {
  it('marks runs going on as interrupted when it closes, queues queued ones again on restart, and resumes', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sparselab-app-'));
    const first = await start(dataDir);
    const runs = await first.api.launch({
      ...experiment,
      epochs: 50,
      arms: [
        { method: 'topk', density: 0.05 },
        { method: 'randk', density: 0.05 },
      ],
    });
    const deadline = Date.now() + 60_000; // two worker processes start (TensorFlow.js, WebAssembly): slow on a loaded machine
    while (!(await first.api.runs()).some((r) => r.status === 'running')) {
      if (Date.now() > deadline) throw new Error('no run started');
      await new Promise((r) => setTimeout(r, 100));
    }
    await first.close();
    const second = await start(dataDir);
    const after = await second.api.runs();
    const interrupted = after.find((r) => r.status === 'interrupted')!;
    expect((await second.api.run(interrupted.id)).history.at(-1)!.reason).toMatch(/SparseLab closed/);
    // The other run was still queued: it is queued again, with the workers it needs.
    expect(after.filter((r) => r.status === 'queued' || r.status === 'running')).toHaveLength(1);
    expect((await second.api.info()).localWorkers.count).toBe(2);
    await expect(second.dispatch('resumeRun', [runs.find((r) => r.id !== interrupted.id)!.id])).rejects.toThrow(
      /only interrupted, failed or cancelled runs can be resumed/,
    );
    await second.dispatch('resumeRun', [interrupted.id]);
    expect((await second.api.run(interrupted.id)).status).toBe('queued');
    for (const run of await second.api.runs()) await second.dispatch('cancelRun', [run.id]);
  });

  it('refuses to delete a run that is going on, cancels it, then deletes it', async () => {
    const core = await start();
    const events: AppEvent[] = [];
    core.onEvent((e) => events.push(e));
    const [run] = await core.api.launch(experiment, 'app-test.yaml');
    expect(events.some((e) => e.type === 'runsChanged')).toBe(true);
    // Launch grew the local pool to the run's two ranks.
    expect((await core.api.info()).localWorkers.count).toBe(2);
    await expect(core.dispatch('deleteRun', [run!.id])).rejects.toThrow(/cancel it before deleting it/);
    await core.dispatch('cancelRun', [run!.id]);
    expect((await core.api.run(run!.id)).status).toBe('cancelled');
    await expect(core.dispatch('cancelRun', [run!.id])).rejects.toThrow(/already cancelled/);
    await expect(core.dispatch('resumeRun', ['r-none'])).rejects.toThrow('unknown run "r-none"');
    await core.dispatch('deleteRun', [run!.id]);
    expect(await core.api.runs()).toEqual([]);
    expect(existsSync(join(core.store.dataDir, 'checkpoints', run!.id))).toBe(false);
  });
});
