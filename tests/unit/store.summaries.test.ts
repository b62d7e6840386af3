import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EvaluationRecord } from '../../common/metrics';
import { measuredIteration } from '../../main/core/runtime/comparison';
import { cleanUpStores, config, iteration, layerStats, setup } from './storeFixture';

cleanUpStores();

describe('summaries', () => {
  /** Two ranks, four iterations; every value below is worked out by hand. */
  function recorded() {
    const { store, clock, experiment, run } = setup();
    clock.t = 10_000;
    store.setStatus(run.id, 'running');
    for (let i = 0; i < 4; i++)
      for (const rank of [0, 1])
        store.append(
          'iteration',
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
    store.append('evaluation', ev(0, 100, 1.5, 0.5));
    store.append('evaluation', ev(2, 300, 0.4, 0.92));
    store.append('evaluation', ev(3, 400, 0.45, 0.9));
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

  it('projects from the phase times without their CPU waits and the count selected, not k', () => {
    const { store, run } = recorded();
    store.append('layerStats', layerStats(run.id, 0, 'kernel', 640));
    store.append('layerStats', layerStats(run.id, 0, 'bias', 10));
    store.flush();
    expect(measuredIteration(store, store.summary(run.id), false)).toEqual({
      computeSeconds: 0.007,
      compressSeconds: 0.0015,
      updateSeconds: 0.00075,
      d: 650,
      // The records select 81 where k is 79: the projection sends what was sent.
      k: 81,
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
      store.append('evaluation', {
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
    store.append('iteration', iteration(run.id, 0, 1));
    store.append('iteration', iteration(run.id, 0, 0, { rho: 0.5, loss: NaN }));
    store.append('evaluation', {
      runId: run.id,
      iteration: 0,
      epoch: 0.01,
      wallMs: 10,
      testLoss: 2.25,
      accuracy: 0.125,
    });
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
    store.append('iteration', iteration(run.id, 0));
    store.append('layerStats', {
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
