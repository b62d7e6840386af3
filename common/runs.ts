/** What the store holds and reports about experiments and runs: read by the CLI, the app and its renderer. */
import type { Arm, Experiment } from './experiment';
import type {
  EvaluationRecord,
  HistogramRecord,
  IterationRecord,
  LayerStatsRecord,
  LogRecord,
  RunStatus,
} from './metrics';
import type { FieldMeans } from './records';

export interface StoreOptions {
  /** Buffered records are written at most this long after they were appended (default 200 ms). */
  flushIntervalMs?: number;
  /** A buffer holding this many records is written at once, inside the append (default 2000). */
  maxBuffered?: number;
  /** Checkpoints kept per run; older files and rows are removed when a new one is written (default 2; 0 = all). */
  checkpointsKept?: number;
  /** Milliseconds to wait on a database another process holds locked (default 5000). */
  busyTimeoutMs?: number;
  /** Where background flush failures go (default: console.error); records stay buffered and are retried. */
  onError?: (error: Error) => void;
  /** Clock, epoch milliseconds (tests). */
  now?: () => number;
  /**
   * Set by the one process that trains in the folder, its role ('app', 'serve', 'run', 'resume'): the store takes
   * the data folder for it (main/core/store/owner.ts) before opening and gives it back when closed.
   */
  owner?: string;
}

/** What a run ran on, recorded when it starts. */
export interface RunEnvironment {
  /** e.g. { sparselab, node, tfjs, electron, chrome }. */
  versions: Record<string, string>;
  /** Compute adapters the workers reported (WebGPU adapter info, 'cpu'). */
  adapters: unknown[];
  seed: number;
  host: string;
  [key: string]: unknown;
}

export interface ExperimentRow {
  id: string;
  name: string;
  config: Experiment;
  sourceFile: string | null;
  created: number;
  /** Runs by status, only statuses with at least one run. */
  statusCounts: Partial<Record<RunStatus, number>>;
  runCount: number;
}

export interface NewExperiment {
  /** Defaults to a fresh id like "e-lx3k9q2a-4f7c". */
  id?: string;
  sourceFile?: string | null;
}

export interface NewRun {
  experimentId: string;
  arm: Arm;
  seed: number;
  /** Defaults to a fresh id like "r-lx3k9q2a-4f7c"; letters, digits, '.', '_' and '-' only. */
  id?: string;
  /** The run's full configuration; defaults to the experiment's with arms = [arm] and seeds = [seed]. */
  config?: Experiment;
  totalIterations?: number | null;
  environment?: RunEnvironment | null;
}

export interface RunRow {
  id: string;
  experimentId: string;
  experimentName: string;
  /** Arm name (legend). */
  arm: string;
  armConfig: Arm;
  seed: number;
  status: RunStatus;
  created: number;
  /** First time the run entered 'running'. */
  started: number | null;
  /** When it finished, failed or was cancelled; null while it can still go on. */
  ended: number | null;
  failureReason: string | null;
  /** Last iteration rank 0 reported, and its epoch. */
  iteration: number | null;
  epoch: number | null;
  totalIterations: number | null;
}

export interface StatusChange {
  /** null for the run's creation. */
  from: RunStatus | null;
  to: RunStatus;
  reason: string | null;
  time: number;
}

export interface CheckpointInfo {
  iteration: number;
  path: string;
  bytes: number;
  sha256: string;
  created: number;
}

export interface RunDetail extends RunRow {
  config: Experiment;
  environment: RunEnvironment | null;
  history: StatusChange[];
  checkpoints: CheckpointInfo[];
}

export interface RunFilter {
  experimentId?: string;
  status?: RunStatus | readonly RunStatus[];
  limit?: number;
  offset?: number;
}

export interface Progress {
  iteration?: number | null;
  epoch?: number | null;
  totalIterations?: number | null;
}

/** Fields of an iteration a series can select (runId is implied). */
export type IterationField = Exclude<keyof IterationRecord, 'runId'>;
/** Those, and bytesSentTotal: the bytes the rank sent from the start of the run to the end of the iteration. */
export type IterationColumn = IterationField | 'bytesSentTotal';

export interface IterationSeriesOptions<F extends IterationColumn = IterationField> {
  /** Columns besides iteration and rank (always present); default all. */
  columns?: readonly F[];
  /** Rank 0 only (default) or every rank. */
  ranks?: 'rank0' | 'all';
  /**
   * At most this many iterations, by a constant iteration stride from the first one; the last iteration is
   * always included. Default: every iteration.
   */
  points?: number;
  /** Inclusive iteration range. */
  from?: number;
  to?: number;
}

export type IterationPoint<F extends IterationColumn = IterationField> = Pick<
  IterationRecord & { bytesSentTotal: number },
  F | 'iteration' | 'rank'
>;

export interface LayerStatsOptions {
  layer?: string;
  from?: number;
  to?: number;
}

export interface HistogramOptions {
  layer?: string;
  iteration?: number;
}

export type LogLevel = LogRecord['level'];

export interface LogEntry extends LogRecord {
  /** Increasing id, for paging (afterId). */
  id: number;
}

export interface LogOptions {
  /** Only this rank; null = records without a rank. */
  rank?: number | null;
  /** Minimum level. */
  level?: LogLevel;
  /** Entries with id > afterId. */
  afterId?: number;
  /** At most this many, the first ones after afterId. */
  limit?: number;
  /** The last N entries (still in ascending order); overrides limit. */
  tail?: number;
}

export interface WorkerSeen {
  id: string;
  host: string;
  capabilities?: unknown;
}

export interface WorkerRow {
  id: string;
  host: string;
  capabilities: unknown;
  firstSeen: number;
  lastSeen: number;
}

export interface TargetResult {
  metric: 'accuracy' | 'perplexity';
  /** Accuracy to reach (>=), or perplexity to get down to (<=). */
  value: number;
  reached: boolean;
  /** The first evaluation that reached it. */
  wallMs: number | null;
  iteration: number | null;
  epoch: number | null;
}

/**
 * A run in numbers. Besides the fields below, the mean over every (rank, iteration) record of each iteration field
 * that aggregates by mean (common/records.ts): meanComputeMs, meanBytesSent, ...
 */
export interface RunSummary extends FieldMeans {
  runId: string;
  experimentId: string;
  arm: string;
  seed: number;
  status: RunStatus;
  /** Iterations rank 0 reported, and the last one. */
  iterations: number;
  lastIteration: number | null;
  lastEpoch: number | null;
  /** Training loss at the last iteration, mean over the ranks that reported it. */
  finalLoss: number | null;
  /** Of the last evaluation (highest iteration). */
  finalTestLoss: number | null;
  finalAccuracy: number | null;
  finalPerplexity: number | null;
  bestAccuracy: number | null;
  bestPerplexity: number | null;
  /** Null when the config has no evaluation.target (and none was passed) or the run has no evaluation. */
  target: TargetResult | null;
  /** The mean of the phases' sum over every (rank, iteration) record. */
  meanIterationMs: number | null;
  /** ended - started, or now - started while the run has not ended. */
  durationMs: number | null;
}

export type CsvTable = 'iterations' | 'evaluations' | 'layerStats';

export interface RunExport {
  format: 'sparselab-run';
  formatVersion: 1;
  exportedAt: number;
  experiment: Omit<ExperimentRow, 'statusCounts' | 'runCount'>;
  run: RunDetail;
  summary: RunSummary;
  iterations: IterationRecord[];
  evaluations: EvaluationRecord[];
  layerStats: LayerStatsRecord[];
  histograms: HistogramRecord[];
  logs: LogEntry[];
}

export interface LoadedCheckpoint {
  iteration: number;
  bytes: Uint8Array;
  path: string;
}
