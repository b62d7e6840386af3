/**
 * The one API the renderer sees. Defined once here; the core implements it (main/core/app), the
 * preload exposes it through contextBridge (Electron), and `sparselab serve` carries the same calls
 * over a WebSocket (browser mode). Every argument crossing the boundary is validated
 * by `checkArgs` (common/apiArgs.ts, kept apart so the sandboxed preload stays free of zod).
 */
import type { AnnotationPatch, RunAnnotation } from './annotations';
import type { BackendName, BenchOptions, BenchResults } from './bench';
import type { MeasuredIteration } from './clusterModel';
import type { Arm, ExperimentInput } from './experiment';
import type { GpuInfo } from './gpus';
import type { EvaluationRecord, HistogramRecord, LayerStatsRecord, RunStatus } from './metrics';
import type { SeriesColumn } from './records';
import type { WorkerCapabilities } from './protocol';
import type { ExperimentRow, LogEntry, LogOptions, RunDetail, RunFilter, RunRow, RunSummary } from './runs';

export type WorkerBackendChoice = 'auto' | 'cpu' | 'webgpu';

export interface AppInfo {
  mode: 'electron' | 'browser';
  /** sparselab, node, electron, chrome where known. */
  versions: Record<string, string>;
  dataDir: string;
  hub: {
    /** ws://host:port the workers connect to. */
    url: string;
    /** Interface the hub listens on (127.0.0.1 unless told otherwise). */
    listen: string;
    port: number;
    token: string;
    /** The exact command that starts a worker on another machine (address and token filled in). */
    workerCommand: string;
  };
  /** Worker processes the app keeps on this machine. */
  localWorkers: {
    count: number;
    backend: WorkerBackendChoice;
    /** Every GPU of this machine (none for the cpu backend, or when discovery failed: see gpuError). */
    gpus: GpuInfo[];
    /** The numbers of the GPUs workers are placed on (slot s on placementGpus[s mod G]); empty: no placement. */
    placementGpus: number[];
    /** Each live local worker's slot, its GPU's number (null: none) and pid. */
    slots: { slot: number; gpu: number | null; pid: number }[];
    /** Why the GPUs are unknown, when discovery failed. */
    gpuError: string | null;
  };
  /** CPU cores of the machine the core runs on. */
  cores: number;
}

/** A worker connected to the hub: what the hub's registry reports (main/core/hub) and the Workers view builds on. */
export interface ConnectedWorker {
  id: string;
  capabilities: WorkerCapabilities;
  state: 'idle' | 'busy';
  runId: string | null;
  rank: number | null;
  remoteAddress: string;
  /** Epoch milliseconds. */
  connectedAt: number;
  lastHeartbeat: number;
}

/** A connected worker, as the Workers view lists it. */
export interface WorkerView extends ConnectedWorker {
  host: string;
  backend: BackendName;
  adapter: WorkerCapabilities['adapter'] | null;
  /** Started by this app (true) or by hand on any machine (false). */
  local: boolean;
}

/** An experiment file shipped in resources/experiments. */
export interface ExperimentTemplate {
  /** File name, e.g. "mnist-fnn-topk-vs-gaussiank.yaml". */
  file: string;
  /** The experiment's name field. */
  name: string;
  /** The file's text (YAML). */
  text: string;
  isDefault: boolean;
}

export interface RunEstimate {
  /** Iterations per run (epochs x iterations per epoch of one rank's shard). */
  iterations: number;
  /** Expected milliseconds per iteration, or null when nothing is known to estimate from. */
  iterationMs: number | null;
  /** Expected seconds per run and for all arms x seeds (runs one after the other when workers are short). */
  runSeconds: number | null;
  totalSeconds: number | null;
  /** Where the iteration time comes from, in words (e.g. "mean of 3 finished fnn/mnist runs"). */
  basis: string;
}

/** One run's row in Compare's summary table: the store's summary plus what the projection needs. */
export interface RunComparison extends RunSummary {
  armConfig: Arm;
  /** The run's whole model size and mean coordinates sent per iteration; null before statistics exist. */
  d: number | null;
  k: number | null;
  /** The measured iteration the cluster projection starts from (null until the run has records). */
  measured: MeasuredIteration | null;
  /** Projected speedup over the same experiment's Dense arm, per cluster preset id. */
  speedups: Record<string, number | null>;
}

/** Iteration columns a series can carry (SERIES_COLUMNS, derived from the records in ./records). */
export type { SeriesColumn };

/** A run's curves, column-wise (one array per column, aligned with `iteration`; null where not measured). */
export interface RunSeries {
  runId: string;
  iteration: number[];
  columns: Partial<Record<SeriesColumn, (number | null)[]>>;
  evaluations: EvaluationRecord[];
}

/** What the app asks the engine benchmark for: the CLI's options less its tf.js size cap and adapter filter. */
export type BenchRequest = Pick<BenchOptions, 'sizes' | 'densities' | 'backends' | 'methods' | 'repeats' | 'peers'>;

/** A benchmark result with where it came from ("bench/results/2026-11-28-cpu-2core.json", or "this session"). */
export interface BenchRecord {
  source: string;
  results: BenchResults;
}

export type AppEvent =
  | { type: 'runStatus'; runId: string; status: RunStatus; reason: string | null }
  | { type: 'progress'; runId: string; iteration: number; epoch: number; epochs: number; loss: number; wallMs: number }
  | { type: 'runsChanged' }
  | { type: 'workers'; workers: WorkerView[] }
  | { type: 'benchProgress'; line: string }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; message: string; time: number };

export interface SparseLabApi {
  info(): Promise<AppInfo>;
  templates(): Promise<ExperimentTemplate[]>;
  /** Validates, stores the experiment and queues one run per arm x seed; local workers are added up to its P. */
  launch(experiment: ExperimentInput, sourceName?: string): Promise<RunRow[]>;
  estimate(experiment: ExperimentInput): Promise<RunEstimate>;

  experiments(): Promise<ExperimentRow[]>;
  runs(filter?: RunFilter): Promise<RunRow[]>;
  run(runId: string): Promise<RunDetail>;
  cancelRun(runId: string): Promise<void>;
  resumeRun(runId: string): Promise<void>;
  deleteRun(runId: string): Promise<void>;
  /** Every run's name, notes and tags, by run id (runs without any are absent). */
  runAnnotations(): Promise<Record<string, RunAnnotation>>;
  /** Changes the fields given of a run's name, notes and tags; returns them as stored. */
  annotateRun(runId: string, patch: AnnotationPatch): Promise<RunAnnotation>;
  logs(runId: string, options?: LogOptions): Promise<LogEntry[]>;

  compare(runIds: string[], options?: { target?: number }): Promise<RunComparison[]>;
  series(runIds: string[], options?: { columns?: SeriesColumn[]; points?: number }): Promise<RunSeries[]>;
  layerNames(runId: string): Promise<string[]>;
  layerStats(runId: string, layer?: string): Promise<LayerStatsRecord[]>;
  histograms(runId: string, layer?: string): Promise<HistogramRecord[]>;
  exportRun(
    runId: string,
    format: 'csv' | 'json',
    table?: 'iterations' | 'evaluations' | 'layerStats',
  ): Promise<string>;

  workers(): Promise<WorkerView[]>;
  /** Keeps this many local worker processes (0 to 64). */
  setLocalWorkers(count: number): Promise<void>;
  /** Places local workers on these GPUs (numbers from info().localWorkers.gpus; null: every GPU) and restarts them there. */
  setLocalGpus(gpus: number[] | null): Promise<void>;

  bench(request: BenchRequest): Promise<BenchResults>;
  /** Recorded results (bench/results) and the ones run in this session, newest first. */
  benchHistory(): Promise<BenchRecord[]>;

  /** Text the user typed that must survive closing the app (the designer's draft, view settings). */
  loadDraft(key: string): Promise<string | null>;
  saveDraft(key: string, value: string): Promise<void>;

  /** Live updates, pushed; returns the unsubscribe. */
  onEvent(listener: (event: AppEvent) => void): () => void;
}

export type ApiMethod = Exclude<keyof SparseLabApi, 'onEvent'>;

/** Every method, for the preload and the bridge to expose; the type check below keeps it complete. */
export const API_METHODS = [
  'info',
  'templates',
  'launch',
  'estimate',
  'experiments',
  'runs',
  'run',
  'cancelRun',
  'resumeRun',
  'deleteRun',
  'runAnnotations',
  'annotateRun',
  'logs',
  'compare',
  'series',
  'layerNames',
  'layerStats',
  'histograms',
  'exportRun',
  'workers',
  'setLocalWorkers',
  'setLocalGpus',
  'bench',
  'benchHistory',
  'loadDraft',
  'saveDraft',
] as const satisfies readonly ApiMethod[];
type Missing = Exclude<ApiMethod, (typeof API_METHODS)[number]>;
const complete: Missing extends never ? true : Missing = true;
void complete;

/** An error meant for the user: its message is shown as is. */
export class ApiError extends Error {
  override name = 'ApiError';
}

/** Browser mode's wire format (JSON text frames on the /api WebSocket). */
export type BridgeRequest = { id: number; method: ApiMethod; args: unknown[] };
export type BridgeMessage =
  { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string } | { event: AppEvent };

/** Electron's IPC channels (invoke for calls, send for events). */
export const IPC_CALL = 'sparselab:call';
export const IPC_EVENT = 'sparselab:event';
