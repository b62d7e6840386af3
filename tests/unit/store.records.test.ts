import Database from 'better-sqlite3';
import { describe, expect, it, vi } from 'vitest';
import type { EvaluationRecord, HistogramRecord, LayerStatsRecord, LogRecord } from '../../common/metrics';
import { InvalidRecordError } from '../../main/core/store';
import { cleanUpStores, config, iteration, setup } from './storeFixture';

cleanUpStores();

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

    for (const r of [plain, measured, diverged]) store.append('iteration', r);
    store.append('layerStats', layer);
    store.append('layerStats', noThreshold);
    store.append('histogram', histogram);
    store.append('evaluation', accuracy);
    store.append('evaluation', perplexity);
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

  it('keeps records append-only, and a resume discards first what it records again', () => {
    const { store, run } = setup();
    for (let i = 0; i < 10; i++) store.append('iteration', iteration(run.id, i));
    store.append('evaluation', { runId: run.id, iteration: 5, epoch: 0.06, wallMs: 1, testLoss: 1, accuracy: 0.4 });
    store.append('evaluation', { runId: run.id, iteration: 8, epoch: 0.09, wallMs: 1, testLoss: 1, accuracy: 0.5 });
    store.flush();
    // A second record for an iteration never replaces the first (a finished run's counter stays as recorded).
    store.append('iteration', iteration(run.id, 3, 0, { loss: 999_999 }));
    store.append('evaluation', { runId: run.id, iteration: 8, epoch: 0.09, wallMs: 1, testLoss: 9, accuracy: 1 });
    store.flush();
    expect(store.iterationSeries(run.id, { columns: ['loss'], from: 3, to: 3 })).toEqual([
      { iteration: 3, rank: 0, loss: iteration(run.id, 3).loss },
    ]);
    expect(store.evaluationSeries(run.id).map((e) => e.accuracy)).toEqual([0.4, 0.5]);
    // Resuming from the checkpoint after 5 iterations: iteration 5 (the sixth) and what follows are measured
    // again; the evaluation made after 5 iterations stays.
    store.discardAfter(run.id, 5);
    expect(store.iterationSeries(run.id).map((r) => r.iteration)).toEqual([0, 1, 2, 3, 4]);
    expect(store.evaluationSeries(run.id).map((e) => e.iteration)).toEqual([5]);
    expect(store.getRun(run.id).iteration).toBe(4);
    store.append('iteration', iteration(run.id, 5, 0, { loss: 9 }));
    store.flush();
    expect(store.iterationSeries(run.id, { columns: ['loss'], from: 5 })).toEqual([{ iteration: 5, rank: 0, loss: 9 }]);
  });

  it('refuses, at append time, records that would break a batch', () => {
    const { store, run } = setup();
    expect(() => store.append('iteration', iteration(run.id, -1))).toThrow(InvalidRecordError);
    expect(() => store.append('iteration', iteration(run.id, 1.5))).toThrow('iteration must be a non-negative integer');
    expect(() => store.append('iteration', { ...iteration(run.id, 1), loss: true as unknown as number })).toThrow(
      'loss must be a number',
    );
    expect(() =>
      store.append('histogram', {
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
    for (let i = 0; i < 5000; i++) store.append('iteration', iteration(run.id, i >> 2, i & 3));
    expect(store.pending).toBe(1000); // two size-triggered flushes (maxBuffered 2000) happened
    store.flush();
    for (let i = 0; i < 1500; i++) store.append('iteration', iteration(run.id, 2000 + (i >> 2), i & 3));
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
    store.append('iteration', iteration(run.id, 0));
    store.appendLog({ runId: run.id, workerId: 'w', rank: 0, level: 'debug', message: 'x', time: 1 });
    expect(store.iterationSeries(run.id)).toEqual([]);
    await vi.waitFor(() => expect(store.pending).toBe(0), { timeout: 5000, interval: 10 });
    expect(store.iterationSeries(run.id).length).toBe(1);
    expect(store.logs(run.id).length).toBe(1);
  });

  it('flushes before a status change, so a finished run has all its records', () => {
    const { store, run } = setup({ flushIntervalMs: 60_000 });
    store.setStatus(run.id, 'running');
    store.append('iteration', iteration(run.id, 0));
    store.setStatus(run.id, 'finished');
    expect(store.pending).toBe(0);
    expect(store.iterationSeries(run.id).length).toBe(1);
  });

  it('drops, and only drops, the records of a run another process deleted meanwhile', () => {
    const { store, run, experiment } = setup({ flushIntervalMs: 60_000 });
    const other = store.createRun({ experimentId: experiment.id, arm: config.arms[1]!, seed: 1 });
    store.append('iteration', iteration(run.id, 0));
    store.append('iteration', iteration(other.id, 0));
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
    store.append('iteration', iteration(run.id, 0));
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
    for (let i = 0; i < 1000; i++) for (const rank of [0, 1]) store.append('iteration', iteration(run.id, i, rank));
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

describe('bytesSentTotal', () => {
  it("is each rank's running sum from the start of the run, before the range and the decimation", () => {
    const { store, run } = setup();
    for (let i = 0; i < 10; i++)
      for (const rank of [0, 1])
        store.append('iteration', iteration(run.id, i, rank, { bytesSent: 10 * (rank + 1) + i }));
    store.flush();
    const sum = (rank: number, upTo: number) =>
      Array.from({ length: upTo + 1 }, (_, i) => 10 * (rank + 1) + i).reduce((a, b) => a + b);
    const points = store.iterationSeries(run.id, {
      columns: ['bytesSentTotal'],
      ranks: 'all',
      from: 4,
      to: 8,
      points: 3,
    });
    expect(points).toEqual(
      [4, 6, 8].flatMap((i) => [0, 1].map((rank) => ({ iteration: i, rank, bytesSentTotal: sum(rank, i) }))),
    );
  });
});
