import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { experimentSchema, type Experiment } from '../../common/experiment';
import type {
  EvaluationRecord,
  HistogramRecord,
  IterationRecord,
  LayerStatsRecord,
  LogRecord,
} from '../../common/metrics';
import {
  APPLICATION_ID,
  InvalidRecordError,
  MIGRATIONS,
  InvalidTransitionError,
  SCHEMA_VERSION,
  StoreOpenError,
  UnknownRunError,
  defaultDataDir,
  migrate,
  openStore,
  schemaVersion,
  type Store,
  type StoreOptions,
} from '../../main/core/store';
import { measuredIteration } from '../../main/core/runtime/comparison';

const config: Experiment = experimentSchema.parse({
  name: 'mnist-topk',
  model: 'fnn',
  dataset: { name: 'mnist', trainLimit: 1000 },
  epochs: 1,
  batchSize: 32,
  optimizer: { lr: 0.1 },
  seeds: [1, 2],
  arms: [{ method: 'topk', density: 0.01 }, { method: 'dense' }],
  evaluation: { target: 0.9 },
});

const open: Store[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sparselab-store-'));
  dirs.push(dir);
  return dir;
}

/** A store in a fresh folder, with a clock the test moves, and one queued run of the topk arm, seed 1. */
function setup(options: StoreOptions = {}) {
  const dir = tempDir();
  const clock = { t: 1000 };
  const store = openStore(dir, { now: () => clock.t, ...options });
  open.push(store);
  const experiment = store.createExperiment(config, { sourceFile: '/x/mnist.yaml' });
  const run = store.createRun({ experimentId: experiment.id, arm: config.arms[0]!, seed: 1, totalIterations: 100 });
  return { dir, clock, store, experiment, run };
}

function iteration(runId: string, it: number, rank = 0, extra: Partial<IterationRecord> = {}): IterationRecord {
  return {
    runId,
    rank,
    iteration: it,
    epoch: (it + 1) / 100,
    loss: 2 - it / 1000,
    lr: 0.1,
    density: 0.01,
    k: 79,
    selected: 81,
    bytesSent: 648,
    bytesReceived: 1944,
    wallMs: 12.5 * (it + 1),
    computeMs: 8.25,
    compressMs: 1.5,
    exchangeMs: 2,
    waitMs: 0.5,
    updateMs: 0.75,
    ...extra,
  };
}

/** A layer's statistics with placeholder values: what the tests read is its name and d. */
function layerStats(runId: string, iteration: number, layer: string, d: number): LayerStatsRecord {
  return {
    runId,
    iteration,
    layer,
    d,
    k: 1,
    selected: 1,
    threshold: 0,
    rho: 0,
    rhoTopk: 0,
    boundGeneral: 0,
    boundGaussian: 0,
    overlap: 1,
    mean: 0,
    std: 0,
    skewness: 0,
    excessKurtosis: 0,
  };
}

describe('data folder', () => {
  it('follows SPARSELAB_HOME, then the platform convention', () => {
    expect(defaultDataDir({ SPARSELAB_HOME: '/data/sl' }, 'linux', '/home/a')).toBe('/data/sl');
    expect(defaultDataDir({}, 'linux', '/home/a')).toBe('/home/a/.local/share/sparselab');
    expect(defaultDataDir({ XDG_DATA_HOME: '/xdg' }, 'linux', '/home/a')).toBe('/xdg/sparselab');
    expect(defaultDataDir({ XDG_DATA_HOME: 'relative' }, 'linux', '/home/a')).toBe('/home/a/.local/share/sparselab');
    expect(defaultDataDir({}, 'darwin', '/Users/a')).toBe('/Users/a/Library/Application Support/SparseLab');
    expect(defaultDataDir({ APPDATA: 'C:\\Users\\a\\AppData\\Roaming' }, 'win32', 'C:\\Users\\a')).toBe(
      'C:\\Users\\a\\AppData\\Roaming\\SparseLab',
    );
  });

  it('creates DATA/sparselab.db in WAL mode with foreign keys on', () => {
    const { dir, store } = setup();
    expect(existsSync(join(dir, 'sparselab.db'))).toBe(true);
    expect(store.dbPath).toBe(join(dir, 'sparselab.db'));
    const db = new Database(store.dbPath, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
    expect(store.schemaVersion()).toBe(SCHEMA_VERSION);
    expect(store.integrityCheck()).toEqual([]);
  });
});

describe('experiments and runs', () => {
  it('records experiments and runs, lists them newest first and filters', () => {
    const { store, clock, experiment, run } = setup();
    expect(experiment).toMatchObject({ name: 'mnist-topk', sourceFile: '/x/mnist.yaml', created: 1000, runCount: 0 });
    expect(experiment.config).toEqual(config);
    clock.t = 2000;
    const more = store.createRuns(experiment.id, { totalIterations: 50 });
    expect(more.map((r) => [r.arm, r.seed])).toEqual([
      ['topk@0.01', 1],
      ['topk@0.01', 2],
      ['dense', 1],
      ['dense', 2],
    ]);
    store.setStatus(more[0]!.id, 'running');
    expect(store.listRuns().map((r) => r.id)).toEqual([...more.map((r) => r.id)].reverse().concat(run.id));
    expect(store.listRuns({ status: 'running' }).map((r) => r.id)).toEqual([more[0]!.id]);
    expect(store.listRuns({ status: ['running', 'queued'], limit: 2 }).length).toBe(2);

    clock.t = 3000;
    const other = store.createExperiment({ ...config, name: 'second' });
    expect(store.listRuns({ experimentId: other.id })).toEqual([]);
    expect(store.listExperiments().map((e) => [e.name, e.runCount, e.statusCounts])).toEqual([
      ['second', 0, {}],
      ['mnist-topk', 5, { queued: 4, running: 1 }],
    ]);

    const detail = store.getRun(run.id);
    expect(detail).toMatchObject({
      id: run.id,
      experimentId: experiment.id,
      experimentName: 'mnist-topk',
      arm: 'topk@0.01',
      armConfig: config.arms[0],
      seed: 1,
      status: 'queued',
      created: 1000,
      started: null,
      ended: null,
      totalIterations: 100,
      environment: null,
      history: [{ from: null, to: 'queued', reason: null, time: 1000 }],
      checkpoints: [],
    });
    // The run's own config reproduces it alone.
    expect(detail.config).toEqual({ ...config, arms: [config.arms[0]], seeds: [1] });
    const env = { versions: { node: '20' }, adapters: ['cpu'], seed: 1, host: 'box' };
    store.setEnvironment(run.id, env);
    expect(store.getRun(run.id).environment).toEqual(env);
  });

  it('moves runs through statuses with a history, and refuses impossible moves', () => {
    const { store, clock, run } = setup();
    clock.t = 2000;
    store.setStatus(run.id, 'running');
    clock.t = 3000;
    store.setStatus(run.id, 'waiting', 'rank 2 went silent');
    clock.t = 4000;
    store.setStatus(run.id, 'running', 'rank 2 replaced');
    expect(store.setStatus(run.id, 'running').status).toBe('running'); // no-op
    clock.t = 5000;
    const failed = store.setStatus(run.id, 'failed', 'NaN in gradient of dense_1/kernel');
    expect(failed).toMatchObject({ started: 2000, ended: 5000, failureReason: 'NaN in gradient of dense_1/kernel' });
    expect(() => store.setStatus(run.id, 'finished')).toThrow(InvalidTransitionError);
    expect(() => store.setStatus(run.id, 'finished')).toThrow(`cannot go from failed to finished`);
    clock.t = 6000;
    const requeued = store.setStatus(run.id, 'queued', 'retry');
    expect(requeued).toMatchObject({ status: 'queued', started: 2000, ended: null, failureReason: null });
    expect(store.getRun(run.id).history).toEqual([
      { from: null, to: 'queued', reason: null, time: 1000 },
      { from: 'queued', to: 'running', reason: null, time: 2000 },
      { from: 'running', to: 'waiting', reason: 'rank 2 went silent', time: 3000 },
      { from: 'waiting', to: 'running', reason: 'rank 2 replaced', time: 4000 },
      { from: 'running', to: 'failed', reason: 'NaN in gradient of dense_1/kernel', time: 5000 },
      { from: 'failed', to: 'queued', reason: 'retry', time: 6000 },
    ]);
  });

  it('marks runs a previous process left running or waiting as interrupted', () => {
    const { dir, store, experiment, run } = setup();
    const [a, b, c] = store.createRuns(experiment.id);
    store.setStatus(run.id, 'running');
    store.setStatus(a!.id, 'running');
    store.setStatus(a!.id, 'waiting');
    store.setStatus(b!.id, 'running');
    store.setStatus(b!.id, 'finished');
    store.appendIteration(iteration(run.id, 0));
    store.close();

    const reopened = openStore(dir, { now: () => 9000 });
    open.push(reopened);
    expect(reopened.getRun(run.id).status).toBe('running'); // opening alone changes nothing
    expect(reopened.markInterrupted().sort()).toEqual([run.id, a!.id].sort());
    expect(reopened.getRun(run.id).status).toBe('interrupted');
    expect(reopened.getRun(a!.id).history.at(-1)).toEqual({
      from: 'waiting',
      to: 'interrupted',
      reason: 'SparseLab stopped while the run was waiting; found at startup',
      time: 9000,
    });
    expect(reopened.getRun(b!.id).status).toBe('finished');
    expect(reopened.getRun(c!.id).status).toBe('queued');
    expect(reopened.markInterrupted()).toEqual([]);
    // close() flushed the record appended before it.
    expect(reopened.iterationSeries(run.id).length).toBe(1);
    // Interrupted runs resume.
    expect(reopened.setStatus(run.id, 'running').status).toBe('running');
  });

  it('names an unknown run id in its error', () => {
    const { store } = setup();
    expect(() => store.getRun('r-nope')).toThrow(UnknownRunError);
    expect(() => store.getRun('r-nope')).toThrow('unknown run "r-nope"');
    expect(() => store.appendIteration(iteration('r-nope', 0))).toThrow('unknown run "r-nope"');
    expect(() => store.iterationSeries('r-nope')).toThrow('unknown run "r-nope"');
    expect(() => store.setStatus('r-nope', 'running')).toThrow('unknown run "r-nope"');
    expect(() => store.getExperiment('e-nope')).toThrow('unknown experiment "e-nope"');
  });
});

describe('records', () => {
  it('round-trips every record type', () => {
    const { store, run } = setup();
    const plain = iteration(run.id, 0);
    const measured = iteration(run.id, 10, 0, {
      rho: 0.81,
      rhoTopk: 0.79,
      boundGeneral: 0.99,
      boundGaussian: 0.9801,
      overlap: 0.93,
      cpuWaitMs: 1.25,
      computeCpuWaitMs: 3.5,
      compressCpuWaitMs: 0.25,
      updateCpuWaitMs: 0.125,
    });
    const diverged = iteration(run.id, 11, 3, { loss: NaN, lr: Infinity, rho: -Infinity });
    const layer: LayerStatsRecord = {
      runId: run.id,
      iteration: 10,
      layer: 'dense_1/kernel',
      d: 100_352,
      k: 1003,
      selected: 1010,
      threshold: 0.0123,
      rho: 0.8,
      rhoTopk: 0.78,
      boundGeneral: 0.99,
      boundGaussian: 0.9801,
      overlap: 0.95,
      mean: -1e-5,
      std: 0.004,
      skewness: 0.1,
      excessKurtosis: 3.2,
    };
    const noThreshold: LayerStatsRecord = { ...layer, layer: 'dense_1/bias', d: 128, threshold: null };
    const histogram: HistogramRecord = {
      runId: run.id,
      iteration: 0,
      layer: 'model',
      min: -0.5,
      max: 0.25,
      counts: [0, 1, 4_294_967_295, 17, 0],
      mean: 0.001,
      std: 0.1,
      skewness: -0.2,
      excessKurtosis: 1.5,
    };
    const accuracy: EvaluationRecord = {
      runId: run.id,
      iteration: 99,
      epoch: 1,
      wallMs: 1234,
      testLoss: 0.3,
      accuracy: 0.91,
    };
    const perplexity: EvaluationRecord = {
      runId: run.id,
      iteration: 50,
      epoch: 0.5,
      wallMs: 600,
      testLoss: 4.9,
      perplexity: 134.2,
    };
    const logs: LogRecord[] = [
      {
        runId: run.id,
        workerId: 'w-1',
        rank: 1,
        level: 'warn',
        message: 'slow step, "quoted", 2 lines\nsecond',
        time: 5,
      },
      { runId: null, workerId: null, rank: null, level: 'info', message: 'hub started', time: 1 },
    ];

    for (const r of [plain, measured, diverged]) store.appendIteration(r);
    store.appendLayerStats(layer);
    store.appendLayerStats(noThreshold);
    store.appendHistogram(histogram);
    store.appendEvaluation(accuracy);
    store.appendEvaluation(perplexity);
    for (const l of logs) store.appendLog(l);
    store.workerSeen({ id: 'w-1', host: 'box', capabilities: { webgpu: true, cores: 8 } });
    expect(store.flush()).toBe(10);

    const all = store.iterationSeries(run.id, { ranks: 'all' }).map((r) => ({ runId: run.id, ...r }));
    expect(all).toEqual([plain, measured, diverged]);
    // Absent optional statistics stay absent (not null, not undefined-valued keys).
    expect(Object.keys(all[0]!)).not.toContain('rho');
    expect(Number.isNaN(all[2]!.loss)).toBe(true);
    expect(store.layerStatsSeries(run.id)).toEqual([noThreshold, layer]);
    expect(store.layerStatsSeries(run.id, { layer: 'dense_1/kernel' })).toEqual([layer]);
    expect(store.layerNames(run.id)).toEqual(['dense_1/bias', 'dense_1/kernel', 'model']);
    expect(store.histograms(run.id)).toEqual([histogram]);
    expect(store.histograms(run.id, { layer: 'model', iteration: 1 })).toEqual([]);
    expect(store.evaluationSeries(run.id)).toEqual([perplexity, accuracy]);
    expect(store.logs(run.id)).toEqual([{ id: 1, ...logs[0] }]);
    expect(store.logs(null)).toEqual([{ id: 2, ...logs[1] }]);
    expect(store.logs(run.id, { rank: 0 })).toEqual([]);
    expect(store.logs(run.id, { level: 'error' })).toEqual([]);
    expect(store.listWorkers()).toEqual([
      { id: 'w-1', host: 'box', capabilities: { webgpu: true, cores: 8 }, firstSeen: 1000, lastSeen: 1000 },
    ]);
    // Progress follows rank 0.
    expect(store.getRun(run.id)).toMatchObject({ iteration: 10, epoch: 0.11 });
  });

  it('replaces a record reported again (a resumed run), and discards what follows a checkpoint', () => {
    const { store, run } = setup();
    for (let i = 0; i < 10; i++) store.appendIteration(iteration(run.id, i));
    store.appendEvaluation({ runId: run.id, iteration: 8, epoch: 0.09, wallMs: 1, testLoss: 1, accuracy: 0.5 });
    store.flush();
    store.discardAfter(run.id, 5);
    expect(store.iterationSeries(run.id).map((r) => r.iteration)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(store.evaluationSeries(run.id)).toEqual([]);
    expect(store.getRun(run.id).iteration).toBe(5);
    store.appendIteration(iteration(run.id, 5, 0, { loss: 9 }));
    store.flush();
    expect(store.iterationSeries(run.id, { columns: ['loss'], from: 5 })).toEqual([{ iteration: 5, rank: 0, loss: 9 }]);
  });

  it('refuses, at append time, records that would break a batch', () => {
    const { store, run } = setup();
    expect(() => store.appendIteration(iteration(run.id, -1))).toThrow(InvalidRecordError);
    expect(() => store.appendIteration(iteration(run.id, 1.5))).toThrow('iteration must be a non-negative integer');
    expect(() => store.appendIteration({ ...iteration(run.id, 1), loss: true as unknown as number })).toThrow(
      'loss must be a number',
    );
    expect(() =>
      store.appendHistogram({
        ...({} as HistogramRecord),
        runId: run.id,
        iteration: 0,
        layer: 'x',
        min: 0,
        max: 1,
        mean: 0,
        std: 0,
        skewness: 0,
        excessKurtosis: 0,
        counts: [-1],
      }),
    ).toThrow('counts[0] must be an integer');
    expect(() =>
      store.appendLog({ runId: run.id, workerId: null, rank: null, level: 'fatal' as 'error', message: '', time: 0 }),
    ).toThrow('level must be one of');
    expect(store.pending).toBe(0);
  });
});

describe('batching', () => {
  it('buffers appends until a flush, and writes them in one transaction', () => {
    const { store, run } = setup({ flushIntervalMs: 60_000 });
    for (let i = 0; i < 5000; i++) store.appendIteration(iteration(run.id, i >> 2, i & 3));
    expect(store.pending).toBe(1000); // two size-triggered flushes (maxBuffered 2000) happened
    store.flush();
    for (let i = 0; i < 1500; i++) store.appendIteration(iteration(run.id, 2000 + (i >> 2), i & 3));
    expect(store.pending).toBe(1500);
    expect(store.iterationSeries(run.id, { ranks: 'all' }).length).toBe(5000);
    const db = (store as unknown as { db: { sqlite: Database.Database } }).db.sqlite;
    const transaction = vi.spyOn(db, 'transaction');
    expect(store.flush()).toBe(1500);
    expect(transaction).toHaveBeenCalledTimes(1);
    transaction.mockRestore();
    expect(store.pending).toBe(0);
    expect(store.iterationSeries(run.id, { ranks: 'all' }).length).toBe(6500);
  });

  it('flushes on its own within the interval', async () => {
    const { store, run } = setup({ flushIntervalMs: 20 });
    store.appendIteration(iteration(run.id, 0));
    store.appendLog({ runId: run.id, workerId: 'w', rank: 0, level: 'debug', message: 'x', time: 1 });
    expect(store.iterationSeries(run.id)).toEqual([]);
    await vi.waitFor(() => expect(store.pending).toBe(0), { timeout: 5000, interval: 10 });
    expect(store.iterationSeries(run.id).length).toBe(1);
    expect(store.logs(run.id).length).toBe(1);
  });

  it('flushes before a status change, so a finished run has all its records', () => {
    const { store, run } = setup({ flushIntervalMs: 60_000 });
    store.setStatus(run.id, 'running');
    store.appendIteration(iteration(run.id, 0));
    store.setStatus(run.id, 'finished');
    expect(store.pending).toBe(0);
    expect(store.iterationSeries(run.id).length).toBe(1);
  });

  it('drops, and only drops, the records of a run another process deleted meanwhile', () => {
    const { store, run, experiment } = setup({ flushIntervalMs: 60_000 });
    const other = store.createRun({ experimentId: experiment.id, arm: config.arms[1]!, seed: 1 });
    store.appendIteration(iteration(run.id, 0));
    store.appendIteration(iteration(other.id, 0));
    store.appendLog({ runId: other.id, workerId: null, rank: 0, level: 'info', message: 'x', time: 0 });
    const cli = new Database(store.dbPath);
    cli.pragma('foreign_keys = ON');
    cli.prepare('DELETE FROM runs WHERE id = ?').run(other.id);
    cli.close();
    expect(store.flush()).toBe(1);
    expect(store.iterationSeries(run.id).length).toBe(1);
    expect(() => store.getRun(other.id)).toThrow(`unknown run "${other.id}"`);
  });

  it('keeps records when the database is locked, reports it, and writes them later', async () => {
    const errors: Error[] = [];
    const { store, run } = setup({ flushIntervalMs: 20, busyTimeoutMs: 5, onError: (e) => errors.push(e) });
    const other = new Database(store.dbPath);
    other.exec('BEGIN IMMEDIATE');
    store.appendIteration(iteration(run.id, 0));
    await vi.waitFor(() => expect(errors.length).toBeGreaterThan(0), { timeout: 5000, interval: 10 });
    expect(errors[0]!.message).toMatch(/could not write 1 buffered records .*kept, retrying.*SQLITE_BUSY/);
    expect(store.pending).toBe(1);
    other.exec('COMMIT');
    other.close();
    await vi.waitFor(() => expect(store.pending).toBe(0), { timeout: 5000, interval: 10 });
    expect(store.iterationSeries(run.id).length).toBe(1);
  });
});

describe('series', () => {
  it('decimates by iteration stride to at most N points, keeping the last, with chosen columns', () => {
    const { store, run } = setup();
    for (let i = 0; i < 1000; i++) for (const rank of [0, 1]) store.appendIteration(iteration(run.id, i, rank));
    store.flush();
    const ten = store.iterationSeries(run.id, { points: 10, columns: ['loss', 'wallMs'] });
    expect(ten.map((r) => r.iteration)).toEqual([0, 111, 222, 333, 444, 555, 666, 777, 888, 999]);
    expect(ten[1]).toEqual({ iteration: 111, rank: 0, loss: 2 - 111 / 1000, wallMs: 12.5 * 112 });
    const seven = store.iterationSeries(run.id, { points: 7, columns: [] });
    expect(seven).toEqual([0, 167, 334, 501, 668, 835, 999].map((i) => ({ iteration: i, rank: 0 })));
    const both = store.iterationSeries(run.id, { points: 3, ranks: 'all', columns: ['rank'] });
    expect(both.map((r) => [r.iteration, r.rank])).toEqual([
      [0, 0],
      [0, 1],
      [500, 0],
      [500, 1],
      [999, 0],
      [999, 1],
    ]);
    expect(store.iterationSeries(run.id, { points: 1 }).map((r) => r.iteration)).toEqual([999]);
    expect(store.iterationSeries(run.id, { points: 5000 }).length).toBe(1000);
    expect(store.iterationSeries(run.id, { points: 3, from: 100, to: 200 }).map((r) => r.iteration)).toEqual([
      100, 150, 200,
    ]);
    expect(() => store.iterationSeries(run.id, { columns: ['nope' as 'loss'] })).toThrow(
      'unknown iteration column "nope"',
    );
  });
});

describe('summaries', () => {
  /** Two ranks, four iterations; every value below is worked out by hand. */
  function recorded() {
    const { store, clock, experiment, run } = setup();
    clock.t = 10_000;
    store.setStatus(run.id, 'running');
    for (let i = 0; i < 4; i++)
      for (const rank of [0, 1])
        store.appendIteration(
          iteration(run.id, i, rank, {
            epoch: (i + 1) / 4,
            loss: 2 - 0.5 * i + 0.1 * rank,
            computeMs: 10 + i,
            compressMs: 2,
            exchangeMs: 3 + rank,
            updateMs: 1,
            bytesSent: 100 * (i + 1),
            bytesReceived: 50,
            cpuWaitMs: 1 + rank,
            computeCpuWaitMs: 4 + rank,
            compressCpuWaitMs: 0.5,
            updateCpuWaitMs: 0.25,
          }),
        );
    const ev = (iteration: number, wallMs: number, testLoss: number, accuracy: number): EvaluationRecord => ({
      runId: run.id,
      iteration,
      epoch: (iteration + 1) / 4,
      wallMs,
      testLoss,
      accuracy,
    });
    store.appendEvaluation(ev(0, 100, 1.5, 0.5));
    store.appendEvaluation(ev(2, 300, 0.4, 0.92));
    store.appendEvaluation(ev(3, 400, 0.45, 0.9));
    clock.t = 14_000;
    store.setStatus(run.id, 'finished');
    return { store, experiment, run };
  }

  it('computes finals, bests, time to target and means', () => {
    const { store, experiment, run } = recorded();
    const s = store.summary(run.id);
    expect(s).toMatchObject({
      runId: run.id,
      experimentId: experiment.id,
      arm: 'topk@0.01',
      seed: 1,
      status: 'finished',
      iterations: 4,
      lastIteration: 3,
      lastEpoch: 1,
      finalTestLoss: 0.45,
      finalAccuracy: 0.9,
      finalPerplexity: null,
      bestAccuracy: 0.92,
      bestPerplexity: null,
      target: { metric: 'accuracy', value: 0.9, reached: true, wallMs: 300, iteration: 2, epoch: 0.75 },
      meanComputeMs: 11.5,
      meanCompressMs: 2,
      meanExchangeMs: 3.5,
      meanUpdateMs: 1,
      meanIterationMs: 18,
      meanCpuWaitMs: 1.5,
      meanComputeCpuWaitMs: 4.5,
      meanCompressCpuWaitMs: 0.5,
      meanUpdateCpuWaitMs: 0.25,
      meanBytesSent: 250,
      meanBytesReceived: 50,
      durationMs: 4000,
    });
    expect(s.finalLoss).toBeCloseTo(0.55, 12);
    expect(store.summary(run.id, { target: 0.95 }).target).toEqual({
      metric: 'accuracy',
      value: 0.95,
      reached: false,
      wallMs: null,
      iteration: null,
      epoch: null,
    });
    expect(store.summaries(experiment.id)).toEqual([s]);
  });

  it('projects from the phase times without their CPU waits, or from the wall times where none were measured', () => {
    const { store, run } = recorded();
    store.appendLayerStats(layerStats(run.id, 0, 'kernel', 640));
    store.appendLayerStats(layerStats(run.id, 0, 'bias', 10));
    store.flush();
    expect(measuredIteration(store, store.summary(run.id), false)).toEqual({
      computeSeconds: 0.007,
      compressSeconds: 0.0015,
      updateSeconds: 0.00075,
      d: 650,
      k: 79,
      dense: false,
    });
    const unmeasured = {
      ...store.summary(run.id),
      meanComputeCpuWaitMs: null,
      meanCompressCpuWaitMs: null,
      meanUpdateCpuWaitMs: null,
    };
    expect(measuredIteration(store, unmeasured, false)).toMatchObject({
      computeSeconds: 0.0115,
      compressSeconds: 0.002,
      updateSeconds: 0.001,
    });
  });

  it('uses perplexity (lower is better) for language models, and nulls for a run without records', () => {
    const { store, experiment, run } = setup();
    for (const [iteration, perplexity] of [
      [0, 200],
      [10, 120],
      [20, 130],
    ] as const)
      store.appendEvaluation({
        runId: run.id,
        iteration,
        epoch: iteration / 10,
        wallMs: iteration * 10,
        testLoss: 5,
        perplexity,
      });
    store.flush();
    const s = store.summary(run.id, { target: 150 });
    expect(s).toMatchObject({ finalPerplexity: 130, bestPerplexity: 120, finalAccuracy: null, bestAccuracy: null });
    expect(s.target).toEqual({ metric: 'perplexity', value: 150, reached: true, wallMs: 100, iteration: 10, epoch: 1 });
    const empty = store.createRun({ experimentId: experiment.id, arm: config.arms[1]!, seed: 2 });
    expect(store.summary(empty.id)).toMatchObject({
      iterations: 0,
      lastIteration: null,
      finalLoss: null,
      target: null,
      meanIterationMs: null,
      meanBytesSent: null,
      durationMs: null,
    });
  });
});

describe('export', () => {
  it('writes iterations and evaluations as CSV with a header row', () => {
    const { store, run, dir } = setup();
    store.appendIteration(iteration(run.id, 0, 1));
    store.appendIteration(iteration(run.id, 0, 0, { rho: 0.5, loss: NaN }));
    store.appendEvaluation({ runId: run.id, iteration: 0, epoch: 0.01, wallMs: 10, testLoss: 2.25, accuracy: 0.125 });
    store.flush();
    const lines = store.exportCsv(run.id, 'iterations').trimEnd().split('\n');
    expect(lines[0]).toBe(
      'iteration,rank,epoch,loss,lr,density,k,selected,bytesSent,bytesReceived,wallMs,computeMs,compressMs,exchangeMs,waitMs,updateMs,cpuWaitMs,computeCpuWaitMs,compressCpuWaitMs,updateCpuWaitMs,rho,rhoTopk,boundGeneral,boundGaussian,overlap,uNorm',
    );
    expect(lines.slice(1)).toEqual([
      '0,0,0.01,,0.1,0.01,79,81,648,1944,12.5,8.25,1.5,2,0.5,0.75,,,,,0.5,,,,,',
      '0,1,0.01,2,0.1,0.01,79,81,648,1944,12.5,8.25,1.5,2,0.5,0.75,,,,,,,,,,',
    ]);
    expect(store.exportCsv(run.id, 'evaluations')).toBe(
      'iteration,epoch,wallMs,testLoss,accuracy,perplexity\n0,0.01,10,2.25,0.125,\n',
    );
    const file = join(dir, 'it.csv');
    expect(store.exportCsvToFile(run.id, 'iterations', file)).toBe(2);
    expect(readFileSync(file, 'utf8')).toBe(store.exportCsv(run.id, 'iterations'));
  });

  it('exports everything about a run as JSON', () => {
    const { store, run, experiment } = setup();
    store.appendIteration(iteration(run.id, 0));
    store.appendLayerStats({
      runId: run.id,
      iteration: 0,
      layer: 'l',
      d: 10,
      k: 1,
      selected: 1,
      threshold: null,
      rho: 0.9,
      rhoTopk: 0.9,
      boundGeneral: 0.9,
      boundGaussian: 0.81,
      overlap: 1,
      mean: 0,
      std: 1,
      skewness: 0,
      excessKurtosis: 0,
    });
    store.appendLog({ runId: run.id, workerId: 'w', rank: 0, level: 'info', message: 'hi', time: 3 });
    store.flush();
    const out = JSON.parse(JSON.stringify(store.exportJson(run.id)));
    expect(Object.keys(out)).toEqual([
      'format',
      'formatVersion',
      'exportedAt',
      'experiment',
      'run',
      'summary',
      'iterations',
      'evaluations',
      'layerStats',
      'histograms',
      'logs',
    ]);
    expect(out).toMatchObject({
      format: 'sparselab-run',
      formatVersion: 1,
      experiment: { id: experiment.id, name: 'mnist-topk', sourceFile: '/x/mnist.yaml', config },
      run: { id: run.id, status: 'queued', history: [{ to: 'queued' }] },
      summary: { iterations: 1 },
      iterations: [iteration(run.id, 0)],
      layerStats: [{ layer: 'l', threshold: null }],
      logs: [{ message: 'hi', runId: run.id }],
      evaluations: [],
      histograms: [],
    });
  });
});

describe('checkpoints and deletion', () => {
  it('writes checkpoints atomically, keeps the newest two, and falls back past a damaged one', async () => {
    const errors: Error[] = [];
    const { store, run, dir } = setup({ onError: (e) => errors.push(e) });
    expect(await store.latestCheckpoint(run.id)).toBeNull();
    const bytes = (i: number) => Uint8Array.from({ length: 1000 + i }, (_, j) => (i + j) & 255);
    for (const i of [200, 400, 600]) {
      const info = await store.writeCheckpoint(run.id, i, bytes(i));
      expect(info.path).toBe(join(dir, 'checkpoints', run.id, `${String(i).padStart(10, '0')}.ckpt`));
    }
    expect(store.listCheckpoints(run.id).map((c) => c.iteration)).toEqual([400, 600]);
    expect(readdirSync(store.checkpointDir(run.id)).sort()).toEqual(['0000000400.ckpt', '0000000600.ckpt']);
    expect(await store.latestCheckpoint(run.id)).toEqual({
      iteration: 600,
      bytes: bytes(600),
      path: store.checkpointPath(run.id, 600),
    });
    writeFileSync(store.checkpointPath(run.id, 600), bytes(1)); // damaged behind the store's back
    expect((await store.latestCheckpoint(run.id))?.iteration).toBe(400);
    expect(errors[0]!.message).toMatch(/0000000600\.ckpt of run .* is damaged/);
    expect(store.getRun(run.id).checkpoints.length).toBe(2);
  });

  it('writes a checkpoint given as chunks as their concatenation, with its size and SHA-256', async () => {
    const { store, run } = setup();
    const chunks = [Uint8Array.of(1, 2, 3), new Uint8Array(0), Uint8Array.from({ length: 70_000 }, (_, j) => j & 255)];
    const whole = Buffer.concat(chunks);
    const info = await store.writeCheckpoint(run.id, 10, chunks);
    expect(readFileSync(info.path)).toEqual(whole);
    expect(info.bytes).toBe(whole.byteLength);
    expect(info.sha256).toBe(createHash('sha256').update(whole).digest('hex'));
    expect((await store.latestCheckpoint(run.id))?.bytes).toEqual(new Uint8Array(whole));
  });

  it('deletes a run with its records and checkpoints folder', async () => {
    const { store, run, experiment } = setup();
    store.appendIteration(iteration(run.id, 0));
    store.flush();
    store.appendIteration(iteration(run.id, 1)); // still buffered: dropped with the run
    await store.writeCheckpoint(run.id, 1, new Uint8Array(8));
    const keep = store.createRun({ experimentId: experiment.id, arm: config.arms[1]!, seed: 1 });
    store.deleteRun(run.id);
    expect(existsSync(store.checkpointDir(run.id))).toBe(false);
    expect(() => store.getRun(run.id)).toThrow(`unknown run "${run.id}"`);
    expect(store.flush()).toBe(0);
    expect(store.listRuns().map((r) => r.id)).toEqual([keep.id]);
    const db = new Database(store.dbPath, { readonly: true });
    for (const table of ['iterations', 'status_history', 'checkpoints'])
      expect(db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get()).toEqual({ n: table === 'status_history' ? 1 : 0 });
    db.close();
    store.deleteExperiment(experiment.id);
    expect(store.listExperiments()).toEqual([]);
    expect(store.integrityCheck()).toEqual([]);
  });
});

describe('opening', () => {
  it('says which file is not a database and what is wrong with it', () => {
    const dir = tempDir();
    const path = join(dir, 'sparselab.db');
    writeFileSync(path, 'name,loss\nrun,1\n');
    expect(() => openStore(dir)).toThrow(StoreOpenError);
    expect(() => openStore(dir)).toThrow(`cannot open the SparseLab database ${path}: it is not an SQLite database`);
  });

  it('reports a damaged database with its path', () => {
    const dir = tempDir();
    const store = openStore(dir);
    store.createExperiment(config);
    store.close();
    const path = join(dir, 'sparselab.db');
    const bytes = readFileSync(path);
    bytes.fill(0x5a, 100); // keep SQLite's header, garble every page
    writeFileSync(path, bytes);
    expect(() => openStore(dir)).toThrow(
      new RegExp(`cannot open the SparseLab database ${path}: .*(damaged|malformed)`),
    );
  });

  it('refuses an SQLite database that is not SparseLab’s, or is from a newer SparseLab, or is a folder', () => {
    const dir = tempDir();
    const db = new Database(join(dir, 'sparselab.db'));
    db.exec('CREATE TABLE songs (title TEXT)');
    db.close();
    expect(() => openStore(dir)).toThrow("it is an SQLite database but not SparseLab's (it holds the tables songs)");

    const newer = tempDir();
    openStore(newer).close();
    const db2 = new Database(join(newer, 'sparselab.db'));
    db2.prepare('INSERT INTO schema_version VALUES (?, ?, ?)').run(SCHEMA_VERSION + 1, 'future', 0);
    db2.close();
    expect(() => openStore(newer)).toThrow(`written by a newer SparseLab (schema version ${SCHEMA_VERSION + 1}`);

    const folder = tempDir();
    mkdirSync(join(folder, 'sparselab.db'));
    expect(() => openStore(folder)).toThrow('it is a folder');
  });

  it('leaves a database as it was when a migration fails', () => {
    const dir = tempDir();
    openStore(dir).close();
    const db = new Database(join(dir, 'sparselab.db'));
    const broken = { version: SCHEMA_VERSION + 1, description: 'broken', up: () => db.exec('CREATE TABLE runs (x)') };
    expect(() => migrate(db, SCHEMA_VERSION + 1, Date.now, [...MIGRATIONS, broken])).toThrow(
      `migration ${SCHEMA_VERSION + 1} (broken) failed: table runs already exists`,
    );
    expect(schemaVersion(db)).toBe(SCHEMA_VERSION);
    expect(db.pragma('application_id', { simple: true })).toBe(APPLICATION_ID);
    db.close();
  });

  it('migrates a version-1 database, keeping its data and a backup', () => {
    const dir = tempDir();
    const db = new Database(join(dir, 'sparselab.db'));
    db.pragma('journal_mode = WAL');
    migrate(db, 1);
    db.prepare("INSERT INTO experiments (id, name, config, created) VALUES ('e-old', 'old', ?, 1)").run(
      JSON.stringify(config),
    );
    db.prepare(
      `INSERT INTO runs (id, experiment_pk, arm_name, arm, seed, status, config, created, iteration)
       VALUES ('r-old', 1, 'dense', '{"method":"dense"}', 1, 'running', ?, 2, 7)`,
    ).run(JSON.stringify(config));
    db.prepare(
      'INSERT INTO iterations (run_pk, rank, iteration, loss, communicate_ms) VALUES (1, 0, 7, 0.5, 3.25)',
    ).run();
    expect(db.prepare('SELECT MAX(version) AS v FROM schema_version').get()).toEqual({ v: 1 });
    db.close();

    const store = openStore(dir);
    open.push(store);
    expect(store.schemaVersion()).toBe(SCHEMA_VERSION);
    expect(store.getRun('r-old')).toMatchObject({ status: 'running', iteration: 7, totalIterations: null });
    // Version 6 renamed communicate_ms to exchange_ms, keeping the values.
    expect(store.iterationSeries('r-old', { columns: ['loss', 'exchangeMs'] })).toEqual([
      { iteration: 7, rank: 0, loss: 0.5, exchangeMs: 3.25 },
    ]);
    store.appendLayerStats(layerStats('r-old', 7, 'l', 1));
    store.flush();
    expect(store.layerNames('r-old')).toEqual(['l']);
    expect(readdirSync(dir).filter((f) => /^sparselab\.db\.v1-\d+-\d+\.bak$/.test(f)).length).toBe(1);
    expect(store.integrityCheck()).toEqual([]);
  });
});
