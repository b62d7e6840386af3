/**
 * The cluster time model of the GaussianK-SGD reference code (paper.md): communication of m
 * bytes among P workers costs alpha + beta * m. From iteration times measured on the user's
 * machine it projects what a run would take on hardware they do not have.
 */

export interface LinearCost {
  /** Seconds. */
  alpha: number;
  /** Seconds per byte. */
  beta: number;
}

export interface ClusterPreset {
  id: string;
  label: string;
  workers: number;
  /** Dense allreduce of m = 4d bytes. */
  allreduce: LinearCost;
  /** Sparse allgather of m = 4kP bytes, applied twice (values, then indices); `large` from 1 MiB up. */
  allgather: { small: LinearCost; large: LinearCost };
  /** Where the numbers come from. */
  source: string;
}

const MiB = 1 << 20;

const ALLREDUCE_10GBE: Record<number, LinearCost> = {
  2: { alpha: 1.5e-5, beta: 5.7e-11 },
  4: { alpha: 3.6e-5, beta: 1.1e-10 },
  8: { alpha: 8.5e-5, beta: 1.4e-10 },
  16: { alpha: 1.4e-4, beta: 2.0e-10 },
};

const ALLGATHER_1GBE: Record<number, { small: LinearCost; large: LinearCost }> = {
  2: { small: { alpha: 1.6e-3, beta: 1.0e-8 }, large: { alpha: 4.4e-3, beta: 5.8e-9 } },
  4: { small: { alpha: 2.7e-3, beta: 1.3e-8 }, large: { alpha: 5.6e-3, beta: 7.4e-9 } },
  8: { small: { alpha: 4.0e-3, beta: 1.5e-8 }, large: { alpha: 7.68e-3, beta: 8.2e-9 } },
  16: { small: { alpha: 1.7e-3, beta: 1.7e-8 }, large: { alpha: 2.1e-3, beta: 1.7e-8 } },
};

function scaleBeta(cost: LinearCost, factor: number): LinearCost {
  return { alpha: cost.alpha, beta: cost.beta * factor };
}

/**
 * Presets of the reference code. It measured allreduce on 10 GbE and allgather on 1 GbE only;
 * the other pairing is derived by scaling beta with the bandwidth ratio, and says so.
 */
export const CLUSTER_PRESETS: ClusterPreset[] = [2, 4, 8, 16].flatMap((p) => {
  const gather = ALLGATHER_1GBE[p]!;
  const reduce = ALLREDUCE_10GBE[p]!;
  return [
    {
      id: `${p}gpu-10gbe`,
      label: `${p} GPUs, 10 GbE`,
      workers: p,
      allreduce: reduce,
      allgather: { small: scaleBeta(gather.small, 0.1), large: scaleBeta(gather.large, 0.1) },
      source: 'allreduce measured (reference code); allgather: the 1 GbE model with beta / 10',
    },
    {
      id: `${p}gpu-1gbe`,
      label: `${p} GPUs, 1 GbE`,
      workers: p,
      allreduce: scaleBeta(reduce, 10),
      allgather: gather,
      source: 'allgather measured (reference code); allreduce: the 10 GbE model with beta x 10',
    },
  ];
});

/** The reference's cost model of torch.topk on a P102-100 GPU: s * d * log2(d) seconds. */
export const GPU_TOPK_SECONDS_PER_ELEMENT_LOG = 2.19e-10;

export function gpuTopkSeconds(d: number): number {
  return GPU_TOPK_SECONDS_PER_ELEMENT_LOG * d * Math.log2(d);
}

export function allreduceSeconds(preset: ClusterPreset, bytes: number): number {
  return preset.allreduce.alpha + preset.allreduce.beta * bytes;
}

/** Allgather of k (value, index) pairs from every worker: two messages of 4kP bytes. */
export function sparseAllgatherSeconds(preset: ClusterPreset, k: number): number {
  const bytes = 4 * k * preset.workers;
  const cost = bytes < MiB ? preset.allgather.small : preset.allgather.large;
  return 2 * (cost.alpha + cost.beta * bytes);
}

/** What one iteration measured on the user's machine, per rank, in seconds. */
export interface MeasuredIteration {
  computeSeconds: number;
  compressSeconds: number;
  updateSeconds: number;
  /** Model size and the number of coordinates each worker sends (k summed over tensors; d for Dense). */
  d: number;
  k: number;
  dense: boolean;
}

export interface ProjectedIteration {
  computeSeconds: number;
  compressSeconds: number;
  exchangeSeconds: number;
  updateSeconds: number;
  totalSeconds: number;
}

export function projectIteration(preset: ClusterPreset, measured: MeasuredIteration): ProjectedIteration {
  const exchangeSeconds = measured.dense
    ? allreduceSeconds(preset, 4 * measured.d)
    : sparseAllgatherSeconds(preset, measured.k);
  const compressSeconds = measured.dense ? 0 : measured.compressSeconds;
  return {
    computeSeconds: measured.computeSeconds,
    compressSeconds,
    exchangeSeconds,
    updateSeconds: measured.updateSeconds,
    totalSeconds: measured.computeSeconds + compressSeconds + exchangeSeconds + measured.updateSeconds,
  };
}

/** Speedup of an arm over Dense-SGD per iteration on the preset. */
export function projectedSpeedup(preset: ClusterPreset, arm: MeasuredIteration, dense: MeasuredIteration): number {
  return projectIteration(preset, { ...dense, dense: true }).totalSeconds / projectIteration(preset, arm).totalSeconds;
}
