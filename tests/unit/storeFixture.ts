/** What the store tests share: an experiment, stores in fresh folders closed after each test, records. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach } from 'vitest';
import { experimentSchema, type Experiment } from '../../common/experiment';
import type { IterationRecord, LayerStatsRecord } from '../../common/metrics';
import { openStore, type Store, type StoreOptions } from '../../main/core/store';

export const config: Experiment = experimentSchema.parse({
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

/** Stores to close after the test. */
export const open: Store[] = [];
const dirs: string[] = [];

/** Closes the test's stores after each test and removes the folders after the file; call once per test file. */
export function cleanUpStores(): void {
  afterEach(() => {
    for (const s of open.splice(0)) s.close();
  });
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
}

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sparselab-store-'));
  dirs.push(dir);
  return dir;
}

/** A store in a fresh folder, with a clock the test moves, and one queued run of the topk arm, seed 1. */
export function setup(options: StoreOptions = {}) {
  const dir = tempDir();
  const clock = { t: 1000 };
  const store = openStore(dir, { now: () => clock.t, ...options });
  open.push(store);
  const experiment = store.createExperiment(config, { sourceFile: '/x/mnist.yaml' });
  const run = store.createRun({ experimentId: experiment.id, arm: config.arms[0]!, seed: 1, totalIterations: 100 });
  return { dir, clock, store, experiment, run };
}

export function iteration(runId: string, it: number, rank = 0, extra: Partial<IterationRecord> = {}): IterationRecord {
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
export function layerStats(runId: string, iteration: number, layer: string, d: number): LayerStatsRecord {
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
