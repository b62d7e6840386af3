/**
 * An iteration's time projected from a model of its parts, for an experiment no finished run can time:
 * compute from the model's FLOPs per example at a compute rate, compression and exchange from the cluster
 * time model (common/clusterModel.ts). A projection, not a measurement: the designer says so.
 */
import type { ArmProjection } from '../../../common/api';
import {
  CLUSTER_PRESETS,
  allreduceSeconds,
  gpuTopkSeconds,
  sparseAllgatherSeconds,
  type ClusterPreset,
} from '../../../common/clusterModel';
import { armName, type Experiment } from '../../../common/experiment';
import { modelParameters, rankMessage } from '../../../common/hubTraffic';
import { experimentModelCost, trainingFlopsPerExample } from '../../../common/modelCost';

/** Truncated-BPTT length of the PTB model (gpu/worker/data/batches.ts): a stream's tokens per iteration. */
export const BPTT = 35;

/**
 * Compute rates assumed when no run on this machine has been timed, from the recorded benchmarks: fnn/MNIST
 * (batch 128) on one WASM thread of this 2-core machine, and ResNet-20 (batch 128, the slower of the two
 * models measured) under TensorFlow.js WebGPU on an H200. 'auto' is counted as CPU, the one sure to exist.
 */
export const DEFAULT_RATES: Record<Experiment['backend'], { gflops: number; source: string }> = {
  cpu: { gflops: 10, source: 'fnn/MNIST on one CPU thread, bench/results/2026-11-29-cpu-2core-training.json' },
  auto: {
    gflops: 10,
    source: 'the CPU rate: fnn/MNIST on one thread, bench/results/2026-11-29-cpu-2core-training.json',
  },
  webgpu: { gflops: 60, source: 'ResNet-20 on an H200, bench/results/2026-11-28-h200-training-step.json' },
};

/** Examples (tokens for the language model) one rank computes per iteration. */
function examplesPerIteration(experiment: Pick<Experiment, 'dataset' | 'batchSize'>): number {
  return experiment.dataset.name === 'ptb' ? experiment.batchSize * BPTT : experiment.batchSize;
}

/** FLOPs of one rank's training step for the experiment's model, dataset and batch. */
export function iterationFlops(experiment: Pick<Experiment, 'model' | 'dataset' | 'batchSize'>): number {
  return trainingFlopsPerExample(experimentModelCost(experiment)) * examplesPerIteration(experiment);
}

/** The reference's preset (10 GbE) whose worker count is nearest P; null for one worker (nothing to exchange). */
export function presetFor(workers: number): ClusterPreset | null {
  if (workers < 2) return null;
  const tenGbE = CLUSTER_PRESETS.filter((p) => p.id.endsWith('-10gbe'));
  return tenGbE.reduce((best, p) =>
    Math.abs(Math.log2(p.workers / workers)) < Math.abs(Math.log2(best.workers / workers)) ? p : best,
  );
}

/** Each arm's projected iteration at `gflops`; d is the model's parameter count. */
export function projectArms(experiment: Experiment, gflops: number): ArmProjection[] {
  const d = modelParameters(experiment);
  const computeMs = iterationFlops(experiment) / (gflops * 1e6);
  const preset = presetFor(experiment.workers);
  return experiment.arms.map((arm) => {
    const dense = arm.method === 'dense';
    // k over the whole model (per-layer granularity sums a per-tensor k: the same to within a coordinate a tensor).
    const { k, bytes } = rankMessage(arm, d);
    const compressMs = dense ? 0 : gpuTopkSeconds(d) * 1000;
    let exchangeMs = 0;
    if (preset) exchangeMs = 1000 * (dense ? allreduceSeconds(preset, bytes) : sparseAllgatherSeconds(preset, k));
    return {
      arm: armName(arm),
      k,
      bytesPerIteration: bytes,
      computeMs,
      compressMs,
      exchangeMs,
      iterationMs: computeMs + compressMs + exchangeMs,
    };
  });
}

/** The basis in words, e.g. "projected: compute from 0.48 MFLOP per example at 2.0 GFLOP/s ...". */
export function projectionBasis(experiment: Experiment, gflops: number, rateSource: string): string {
  const cost = experimentModelCost(experiment);
  const flops = trainingFlopsPerExample(cost);
  const work = flops >= 1e9 ? `${(flops / 1e9).toPrecision(3)} GFLOP` : `${(flops / 1e6).toPrecision(3)} MFLOP`;
  const unit = experiment.dataset.name === 'ptb' ? 'token' : 'example';
  const preset = presetFor(experiment.workers);
  const exchange = preset
    ? `compression from the reference's GPU top-k cost, exchange from the ${preset.label} time model${preset.workers === experiment.workers ? '' : ` (nearest to ${experiment.workers} workers)`}`
    : 'no exchange with one worker';
  return (
    `projected from the cluster model, not measured: compute from ${work} per ${unit} ` +
    `(${cost.parameters.toLocaleString('en-US')} parameters) at ${gflops.toPrecision(3)} GFLOP/s ${rateSource}, ${exchange}`
  );
}
