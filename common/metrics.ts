/** A run's statuses and log records; the metric records themselves are defined in ./records. */
export type { EvaluationRecord, HistogramRecord, IterationRecord, LayerStatsRecord } from './records';

export const RUN_STATUSES = ['queued', 'running', 'waiting', 'finished', 'failed', 'cancelled', 'interrupted'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** A run in one of these has ended for good: nothing more will happen to it unless it is resumed. */
export const ENDED_STATUSES: readonly RunStatus[] = ['finished', 'failed', 'cancelled'];

export function hasEnded(status: RunStatus): boolean {
  return ENDED_STATUSES.includes(status);
}

/** Log levels, least severe first. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;

export interface LogRecord {
  runId: string | null;
  workerId: string | null;
  rank: number | null;
  level: (typeof LOG_LEVELS)[number];
  message: string;
  /** Epoch milliseconds. */
  time: number;
}
