import type { RunEstimate } from '../../../common/api';
import type { DatasetName, Experiment } from '../../../common/experiment';
import { ApiError } from '../../../common/api';
import { withoutCpuWait } from '../runtime/comparison';
import type { Store } from '../store';
import { BPTT, DEFAULT_RATES, iterationFlops, projectArms, projectionBasis } from './projection';

/** Training examples (tokens for PTB) of each dataset's full training split. */
export const TRAIN_SIZES: Record<DatasetName, number> = {
  mnist: 60_000,
  'fashion-mnist': 60_000,
  cifar10: 50_000,
  ptb: 929_589,
  synthetic: 5_000,
};

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

/** A finished run's compute rate: its model's FLOPs per iteration over its measured compute time. */
interface Calibration {
  gflops: number;
  what: string;
  backend: Experiment['backend'];
}

/**
 * How long an experiment will take: iterations from the dataset's size, batch and workers; the time per
 * iteration from finished runs of the same model and dataset (those with the same workers and batch first),
 * or without any, projected from the cluster model (./projection.ts) at a compute rate calibrated on the
 * newest finished run of any model (one on the same backend first), or a stated default.
 */
export function estimateExperiment(store: Store, experiment: Experiment, availableWorkers: number): RunEstimate {
  const iterations = Math.ceil(experiment.epochs * iterationsPerEpoch(experiment));
  const similar: { ms: number; exact: boolean }[] = [];
  const calibrations: Calibration[] = [];
  for (const row of store.listExperiments()) {
    const config = row.config;
    if (!row.statusCounts.finished) continue;
    const samePair = config.model === experiment.model && config.dataset.name === experiment.dataset.name;
    // Another model's runs serve only to calibrate the compute rate; one on the same backend is enough.
    if (!samePair && calibrations.some((c) => c.backend === experiment.backend)) continue;
    const exact = samePair && config.workers === experiment.workers && config.batchSize === experiment.batchSize;
    for (const run of store.listRuns({ experimentId: row.id, status: 'finished' })) {
      const summary = store.summary(run.id);
      const ms = summary.meanIterationMs;
      if (samePair && ms !== null && Number.isFinite(ms)) similar.push({ ms, exact });
      // Time spent waiting for a CPU is the machine's load, not the model's cost.
      const computeMs = withoutCpuWait(summary.meanComputeMs, summary.meanComputeCpuWaitMs);
      if (computeMs > 0) {
        calibrations.push({
          gflops: iterationFlops(config) / (computeMs * 1e6),
          what: `measured by finished run ${run.id} (${config.model}/${config.dataset.name}, ${config.backend} backend)`,
          backend: config.backend,
        });
      }
    }
    if (similar.length >= 50) break;
  }
  const exact = similar.filter((s) => s.exact);
  const basisRuns = exact.length > 0 ? exact : similar;
  const runs = experiment.arms.length * experiment.seeds.length;
  const concurrent = Math.max(1, Math.floor(Math.max(availableWorkers, experiment.workers) / experiment.workers));
  const timed = (iterationMs: number, basis: string): RunEstimate => {
    const runSeconds = (iterations * iterationMs) / 1000;
    return { iterations, iterationMs, runSeconds, totalSeconds: Math.ceil(runs / concurrent) * runSeconds, basis };
  };
  if (basisRuns.length === 0) {
    const calibration = calibrations.find((c) => c.backend === experiment.backend) ?? calibrations[0];
    const fallback = DEFAULT_RATES[experiment.backend];
    const gflops = calibration?.gflops ?? fallback.gflops;
    const rateSource =
      calibration?.what ??
      `(no finished run to measure it from: the ${experiment.backend} backend's default, ${fallback.source})`;
    const arms = projectArms(experiment, gflops);
    const iterationMs = arms.reduce((sum, a) => sum + a.iterationMs, 0) / arms.length;
    return { ...timed(iterationMs, projectionBasis(experiment, gflops, rateSource)), projection: { arms } };
  }
  const iterationMs = basisRuns.reduce((sum, s) => sum + s.ms, 0) / basisRuns.length;
  const pair = `${experiment.model}/${experiment.dataset.name}`;
  const what = exact.length > 0 ? `with ${experiment.workers} workers and batch ${experiment.batchSize}` : '';
  return timed(
    iterationMs,
    `mean of ${basisRuns.length} finished ${pair} run${basisRuns.length === 1 ? '' : 's'}${what ? ` ${what}` : ''}`,
  );
}
