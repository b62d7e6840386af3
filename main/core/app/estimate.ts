import type { RunEstimate } from '../../../common/api';
import type { DatasetName, Experiment } from '../../../common/experiment';
import { ApiError } from '../../../common/api';
import type { Store } from '../store';

/** Training examples (tokens for PTB) of each dataset's full training split. */
export const TRAIN_SIZES: Record<DatasetName, number> = {
  mnist: 60_000,
  'fashion-mnist': 60_000,
  cifar10: 50_000,
  ptb: 929_589,
  synthetic: 5_000,
};

/** Truncated-BPTT length of the PTB model (gpu/worker/data/batches.ts). */
const BPTT = 35;

/** Iterations of one epoch for one rank, as the trainer cuts its shard (gpu/worker/data/batches.ts). */
export function iterationsPerEpoch(experiment: Experiment): number {
  const full = TRAIN_SIZES[experiment.dataset.name];
  const size = Math.min(full, experiment.dataset.trainLimit ?? full);
  const { workers: p, batchSize: b } = experiment;
  if (experiment.dataset.name === 'ptb') {
    const streamLength = Math.floor(size / (p * b));
    const batches = Math.floor((streamLength - 1) / BPTT);
    if (batches < 1)
      throw new ApiError(
        `dataset: ${size} tokens are too few for ${p} workers x ${b} streams x ${BPTT} steps (each stream gets ${streamLength} tokens)`,
      );
    return batches;
  }
  const perRank = Math.floor(size / p);
  const batches = Math.floor(perRank / b);
  if (batches < 1)
    throw new ApiError(
      `batchSize: ${size} examples give each of ${p} workers ${perRank}, fewer than one batch of ${b}`,
    );
  return batches;
}

/**
 * How long an experiment will take: iterations from the dataset's size, batch and workers; the time per
 * iteration from finished runs of the same model and dataset (those with the same workers and batch first).
 */
export function estimateExperiment(store: Store, experiment: Experiment, availableWorkers: number): RunEstimate {
  const iterations = Math.ceil(experiment.epochs * iterationsPerEpoch(experiment));
  const similar: { ms: number; exact: boolean }[] = [];
  for (const row of store.listExperiments()) {
    const config = row.config;
    if (config.model !== experiment.model || config.dataset.name !== experiment.dataset.name) continue;
    if (!row.statusCounts.finished) continue;
    const exact = config.workers === experiment.workers && config.batchSize === experiment.batchSize;
    for (const run of store.listRuns({ experimentId: row.id, status: 'finished' })) {
      const ms = store.summary(run.id).meanIterationMs;
      if (ms !== null && Number.isFinite(ms)) similar.push({ ms, exact });
    }
    if (similar.length >= 50) break;
  }
  const exact = similar.filter((s) => s.exact);
  const basisRuns = exact.length > 0 ? exact : similar;
  const pair = `${experiment.model}/${experiment.dataset.name}`;
  if (basisRuns.length === 0) {
    return {
      iterations,
      iterationMs: null,
      runSeconds: null,
      totalSeconds: null,
      basis: `no finished ${pair} run to estimate the time from`,
    };
  }
  const iterationMs = basisRuns.reduce((sum, s) => sum + s.ms, 0) / basisRuns.length;
  const runSeconds = (iterations * iterationMs) / 1000;
  const runs = experiment.arms.length * experiment.seeds.length;
  const concurrent = Math.max(1, Math.floor(Math.max(availableWorkers, experiment.workers) / experiment.workers));
  const what = exact.length > 0 ? `with ${experiment.workers} workers and batch ${experiment.batchSize}` : '';
  return {
    iterations,
    iterationMs,
    runSeconds,
    totalSeconds: Math.ceil(runs / concurrent) * runSeconds,
    basis: `mean of ${basisRuns.length} finished ${pair} run${basisRuns.length === 1 ? '' : 's'}${what ? ` ${what}` : ''}`,
  };
}
