import type { CompressionStats, Histogram } from './stats';

/** Records a run produces; the worker sends them, the store keeps them, the app plots them. */

export const RUN_STATUSES = ['queued', 'running', 'waiting', 'finished', 'failed', 'cancelled', 'interrupted'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** A run in one of these has ended for good: nothing more will happen to it unless it is resumed. */
export const ENDED_STATUSES: readonly RunStatus[] = ['finished', 'failed', 'cancelled'];

export function hasEnded(status: RunStatus): boolean {
  return ENDED_STATUSES.includes(status);
}

/** Milliseconds one iteration spent in each phase, on one rank. */
export interface PhaseTimes {
  computeMs: number;
  compressMs: number;
  communicateMs: number;
  /** Of communicateMs, the time this rank's contribution waited at the hub for the other ranks'. */
  waitMs: number;
  updateMs: number;
  /**
   * Of compress + communicate + update, the time this rank was ready to run but waiting for a CPU
   * (more busy processes than cores); absent where the OS does not say (Linux schedstat only).
   */
  cpuWaitMs?: number;
  /**
   * Of computeMs, compressMs and updateMs, the time spent waiting for a CPU the same way. The
   * cluster projections subtract them: a worker with a device of its own would not wait.
   */
  computeCpuWaitMs?: number;
  compressCpuWaitMs?: number;
  updateCpuWaitMs?: number;
}

/** One rank's iteration; statistics fields are present on the iterations where they were measured. */
export interface IterationRecord extends PhaseTimes {
  runId: string;
  rank: number;
  iteration: number;
  /** Fractional epoch at the end of the iteration. */
  epoch: number;
  loss: number;
  lr: number;
  density: number;
  /** Summed over tensors. */
  k: number;
  selected: number;
  bytesSent: number;
  bytesReceived: number;
  /** Milliseconds since the run started. */
  wallMs: number;
  /** Whole-model contraction ratios: sum of residual norms over sum of norms. */
  rho?: number;
  rhoTopk?: number;
  boundGeneral?: number;
  boundGaussian?: number;
  overlap?: number;
}

/** Per-layer statistics of one iteration (rank 0), where measured: the compressor's report less the
 * histogram (recorded apart) and delta (derived from k and d). */
export interface LayerStatsRecord extends Omit<CompressionStats, 'histogram' | 'delta'> {
  runId: string;
  iteration: number;
  layer: string;
}

export interface HistogramRecord
  extends Histogram, Pick<CompressionStats, 'mean' | 'std' | 'skewness' | 'excessKurtosis'> {
  runId: string;
  iteration: number;
  /** Layer name, or "model" for the whole flattened u. */
  layer: string;
}

export interface EvaluationRecord {
  runId: string;
  iteration: number;
  epoch: number;
  wallMs: number;
  testLoss: number;
  /** Classification models. */
  accuracy?: number;
  /** Language models. */
  perplexity?: number;
}

export interface LogRecord {
  runId: string | null;
  workerId: string | null;
  rank: number | null;
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  /** Epoch milliseconds. */
  time: number;
}
