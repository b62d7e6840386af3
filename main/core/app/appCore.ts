/**
 * The app's core: the store, the hub, the orchestrator and the local worker processes behind the one
 * typed API the renderer sees (common/api.ts). Electron's main process and `sparselab serve` both host
 * one AppCore and carry its calls (`dispatch`) and events (`onEvent`) to the renderer.
 */
import os from 'node:os';
import {
  API_METHODS,
  ApiError,
  type ApiMethod,
  type AppEvent,
  type AppInfo,
  type BenchRecord,
  type BenchRequest,
  type ConnectedWorker,
  type ExperimentTemplate,
  type RunComparison,
  type RunEstimate,
  type RunSeries,
  type SeriesColumn,
  type SparseLabApi,
  type WorkerBackendChoice,
  type WorkerView,
} from '../../../common/api';
import type { AnnotationPatch, RunAnnotation } from '../../../common/annotations';
import { checkArgs } from '../../../common/apiArgs';
import type { BenchResults } from '../../../common/bench';
import { experimentSchema, type Experiment } from '../../../common/experiment';
import { placementProblem, type GpuInfo } from '../../../common/gpus';
import { isExternalEnvironment } from '../../../common/externalRun';
import { hasEnded, type HistogramRecord, type LayerStatsRecord } from '../../../common/metrics';
import { startHub, type Hub, type HubLogLevel, type WorkerInfo } from '../hub';
import { compareRunIds } from '../runtime/comparison';
import { placedGpus } from '../runtime/gpus';
import { Orchestrator } from '../runtime/orchestrator';
import { describeDataFolderOwner } from '../store/owner';
import {
  defaultDataDir,
  openStore,
  type ExperimentRow,
  type LogEntry,
  type LogOptions,
  type RunDetail,
  type RunFilter,
  type RunRow,
  type Store,
} from '../store';
import { recordedBench } from './benchHistory';
import { Drafts } from './drafts';
import { describeIssues, isUserError, userMessage } from './errors';
import { estimateExperiment, iterationsPerEpoch } from './estimate';
import { runSeries } from './series';
import { ProgressThrottle } from './progressThrottle';
import { findGpus, installedCli, type FoundGpus } from './localGpus';
import { listTemplates, packageVersion, reachableHubUrl } from './templates';
import { WorkerPool } from './workerPool';

export type LogLevel = 'info' | 'warn' | 'error';

export interface AppCoreOptions {
  mode: 'electron' | 'browser';
  /** Data folder; default $SPARSELAB_HOME or the per-user data folder. */
  dataDir?: string;
  /** The workers' hub: interface (default 127.0.0.1), port (default any free one), token (default random). */
  hub?: { host?: string; port?: number; token?: string };
  /** Worker processes kept on this machine (default 2). */
  localWorkers?: number;
  /** Where those workers run their models (default auto). */
  workerBackend?: WorkerBackendChoice;
  /** Place them on these GPUs (numbers from `sparselab gpus`); default every hardware GPU. */
  localGpus?: number[] | null;
  /** Finds this machine's GPUs (tests give a fake list; default runtime/gpus.ts discoverLocalGpus). */
  discoverGpus?: () => Promise<GpuInfo[]>;
  /** Where the core's own log lines go besides the log events (default: warnings and errors to stderr). */
  log?: (level: LogLevel, message: string) => void;
  /** Extra versions for info() (electron, chrome). */
  versions?: Record<string, string>;
}

export type CallReply = { ok: true; result: unknown } | { ok: false; error: string };

const RESUMABLE = new Set(['interrupted', 'failed', 'cancelled']);
const WORKERS_EVERY_MS = 2000;
/** Worker stderr lines forwarded as log events, per 5 s window. */
const WORKER_LINES_PER_WINDOW = 50;

function defaultLog(level: LogLevel, message: string): void {
  if (level !== 'info') console.error(`[${level}] ${message}`);
}

export class AppCore {
  /** The API as the renderer sees it: only its methods, bound to this core. */
  readonly api: SparseLabApi;
  private readonly listeners = new Set<(event: AppEvent) => void>();
  private readonly progress: ProgressThrottle;
  private workersTimer: NodeJS.Timeout | null = null;
  private readonly workersInterval: NodeJS.Timeout;
  private workersSignature = '';
  private workerLines = { windowStart: 0, count: 0 };
  private readonly sessionBench: BenchRecord[] = [];
  private benchRunning = false;
  private closing: Promise<void> | null = null;
  private readonly detachHub: () => void;

  private constructor(
    readonly options: AppCoreOptions,
    readonly store: Store,
    readonly hub: Hub,
    readonly orchestrator: Orchestrator,
    readonly pool: WorkerPool,
    private readonly drafts: Drafts,
    private readonly log: (level: LogLevel, message: string) => void,
    private readonly gpus: FoundGpus,
  ) {
    const methods = Object.fromEntries(
      API_METHODS.map((method) => [method, (this[method] as (...args: unknown[]) => unknown).bind(this)]),
    ) as Omit<SparseLabApi, 'onEvent'>;
    this.api = { ...methods, onEvent: (listener) => this.onEvent(listener) };
    this.progress = new ProgressThrottle(({ runId, iteration, epoch, epochs, loss, wallMs }) =>
      this.emit({ type: 'progress', runId, iteration, epoch, epochs, loss, wallMs }),
    );

    orchestrator.on('status', (runId, status, reason) => {
      this.progress.flush(runId);
      this.emit({ type: 'runStatus', runId, status, reason });
      this.workersChangedSoon();
    });
    orchestrator.on('progress', (progress) => this.progress.queue(progress));
    orchestrator.on('log', (level, message) => this.logEvent(level, message));
    const joined = (worker: WorkerInfo) => {
      this.logEvent(
        'info',
        `worker ${worker.id} joined from ${worker.capabilities.host} (${worker.capabilities.backend})`,
      );
      this.workersChangedSoon();
    };
    const lost = (worker: WorkerInfo, reason: string) => {
      this.logEvent('warn', `worker ${worker.id} on ${worker.capabilities.host} left: ${reason}`);
      this.workersChangedSoon();
    };
    hub.on('workerJoined', joined);
    hub.on('workerLost', lost);
    this.detachHub = () => {
      hub.off('workerJoined', joined);
      hub.off('workerLost', lost);
    };
    this.workersInterval = setInterval(() => this.emitWorkers(), WORKERS_EVERY_MS);
    this.workersInterval.unref();
  }

  /** Opens the store, marks runs found running as interrupted, starts the hub, the orchestrator and the workers. */
  static async start(options: AppCoreOptions): Promise<AppCore> {
    const log = options.log ?? defaultLog;
    let core: AppCore | null = null;
    const emitLog = (level: LogLevel, message: string) => {
      if (core) core.logEvent(level, message);
      else log(level, message);
    };
    const dataDir = options.dataDir ?? defaultDataDir();
    const store = openStore(dataDir, {
      owner: options.mode === 'electron' ? 'app' : 'serve',
      onError: (error) => emitLog('error', `store: ${error.message}`),
    });
    let hub: Hub | null = null;
    try {
      const interrupted = store.markInterrupted('SparseLab stopped while the run was going on; found at startup');
      hub = await startHub({
        host: options.hub?.host ?? '127.0.0.1',
        port: options.hub?.port ?? 0,
        token: options.hub?.token,
        log: (level: HubLogLevel, message: string) => {
          // Losing every worker is expected while closing.
          if ((level === 'warn' || level === 'error') && !core?.isClosing) emitLog(level, `hub: ${message}`);
        },
      });
      describeDataFolderOwner(dataDir, `hub ${hub.url}`);
      const orchestrator = new Orchestrator(store, hub);
      const backend = options.workerBackend ?? 'auto';
      const gpus = await findGpus(backend, options.localGpus ?? null, options.discoverGpus, emitLog);
      const pool = new WorkerPool({
        hubUrl: hub.url,
        token: hub.token,
        backend,
        gpus: gpus.used,
        onLine: (slot, line) => core?.workerLine(slot, line),
        onExit: (slot, description) => emitLog('warn', `local worker ${slot} ${description}`),
        preferStop: (pids) => core?.idleFirst(pids) ?? pids,
      });
      const drafts = new Drafts(store.dataDir, (message) => emitLog('warn', message));
      core = new AppCore(options, store, hub, orchestrator, pool, drafts, log, gpus);
      if (interrupted.length > 0)
        core.logEvent(
          'warn',
          `${interrupted.length} run(s) were running when SparseLab stopped; resume them from Runs`,
        );
      pool.resize(options.localWorkers ?? 2);
      // Runs still queued when SparseLab stopped go back in the queue.
      for (const run of store.listRuns({ status: 'queued' }).reverse()) {
        try {
          core.ensureWorkers(store.getRun(run.id).config.workers);
          orchestrator.resume(run.id);
        } catch (error) {
          core.logEvent('error', `could not queue ${run.id} again: ${(error as Error).message}`);
        }
      }
      return core;
    } catch (error) {
      if (core) await core.close();
      else {
        await hub?.close();
        store.close();
      }
      throw error;
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // Transport side

  /** Validates a call's arguments (checkArgs) and runs it; what both transports call. Throws ApiError-like errors. */
  async dispatch(method: unknown, rawArgs: unknown): Promise<unknown> {
    if (this.closing) throw new ApiError('SparseLab is shutting down');
    const args = checkArgs(method as ApiMethod, rawArgs) as unknown[];
    const fn = this.api[method as ApiMethod] as (...a: unknown[]) => Promise<unknown>;
    return await fn(...args);
  }

  /** dispatch, with every error turned into a message for the user; never throws. */
  async call(method: unknown, rawArgs: unknown): Promise<CallReply> {
    try {
      return { ok: true, result: await this.dispatch(method, rawArgs) };
    } catch (error) {
      const name = typeof method === 'string' ? method.slice(0, 64) : 'call';
      if (!isUserError(error)) {
        this.logEvent('error', `${name}: unexpected ${(error as Error)?.stack ?? String(error)}`);
      }
      return { ok: false, error: userMessage(name, error) };
    }
  }

  get isClosing(): boolean {
    return this.closing !== null;
  }

  onEvent(listener: (event: AppEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops the workers, the hub and the orchestrator and closes the store; runs going on become interrupted. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.workersInterval);
      this.progress.close();
      if (this.workersTimer) clearTimeout(this.workersTimer);
      await this.orchestrator.close();
      this.detachHub();
      await this.pool.close();
      await this.hub.close();
      await this.drafts.settled().catch(() => {});
      try {
        this.store.markInterrupted('SparseLab closed while the run was going on');
      } finally {
        this.store.close();
      }
      this.listeners.clear();
    })();
    return this.closing;
  }

  // -------------------------------------------------------------------------------------------------------------
  // The API

  async info(): Promise<AppInfo> {
    const listen = this.hub.host;
    const url = reachableHubUrl(listen, this.hub.port);
    return {
      mode: this.options.mode,
      versions: {
        sparselab: packageVersion(),
        node: process.versions.node,
        ...(process.versions.electron && { electron: process.versions.electron }),
        ...(process.versions.chrome && { chrome: process.versions.chrome }),
        ...this.options.versions,
      },
      dataDir: this.store.dataDir,
      hub: {
        url,
        listen,
        port: this.hub.port,
        token: this.hub.token,
        workerCommand: `${installedCli()} worker --hub ${url} --token ${this.hub.token}`,
      },
      localWorkers: {
        count: this.pool.count,
        backend: this.pool.backend,
        gpus: this.gpus.found,
        placementGpus: this.pool.placementGpus.map((gpu) => gpu.index),
        slots: this.pool.placements().map((p) => ({ slot: p.slot, gpu: p.gpu?.index ?? null, pid: p.pid })),
        gpuError: this.gpus.error,
      },
      cores: os.availableParallelism(),
    };
  }

  async templates(): Promise<ExperimentTemplate[]> {
    return listTemplates();
  }

  async launch(input: unknown, sourceName?: string): Promise<RunRow[]> {
    const experiment = validateExperiment(input);
    // A batch larger than a rank's shard would fail on every worker; PTB's size depends on its files.
    if (experiment.dataset.name !== 'ptb') iterationsPerEpoch(experiment);
    if (experiment.engine === 'native') {
      // torch runs bring their own ranks (torchrun), on CUDA's GPUs rather than the workers' adapters
      const problem = placementProblem(experiment.workers, this.pool.placementGpus, experiment.shareGpus);
      if (problem) throw new ApiError(problem);
      this.ensureWorkers(experiment.workers);
    }
    const runs = this.orchestrator.submit(experiment, sourceName);
    this.emit({ type: 'runsChanged' });
    this.logEvent('info', `launched ${experiment.name}: ${runs.length} run(s) on ${experiment.workers} workers each`);
    return this.store.listRuns({ experimentId: runs[0]!.experimentId });
  }

  async estimate(input: unknown): Promise<RunEstimate> {
    const experiment = validateExperiment(input);
    const available = Math.max(this.pool.count, this.hub.workers().length);
    return estimateExperiment(this.store, experiment, available);
  }

  async experiments(): Promise<ExperimentRow[]> {
    return this.store.listExperiments();
  }

  async runs(filter?: RunFilter): Promise<RunRow[]> {
    return this.store.listRuns(filter ?? {});
  }

  async run(runId: string): Promise<RunDetail> {
    return this.store.getRun(runId);
  }

  async cancelRun(runId: string): Promise<void> {
    const run = this.store.getRun(runId);
    if (hasEnded(run.status)) throw new ApiError(`run ${runId} has already ${run.status}; nothing to cancel`);
    if (run.status === 'interrupted') {
      this.store.setStatus(runId, 'cancelled', 'cancelled by user');
      this.emit({ type: 'runStatus', runId, status: 'cancelled', reason: 'cancelled by user' });
      return;
    }
    this.orchestrator.cancel(runId);
  }

  async resumeRun(runId: string): Promise<void> {
    const run = this.store.getRun(runId);
    if (!RESUMABLE.has(run.status))
      throw new ApiError(`run ${runId} is ${run.status}; only interrupted, failed or cancelled runs can be resumed`);
    if (isExternalEnvironment(run.environment))
      throw new ApiError(`run ${runId} was trained outside SparseLab's workers; resume it from its own script`);
    if (run.config.engine === 'native') this.ensureWorkers(run.config.workers);
    this.orchestrator.resume(runId);
  }

  async deleteRun(runId: string): Promise<void> {
    const run = this.store.getRun(runId);
    if (run.status === 'running' || run.status === 'waiting' || run.status === 'queued')
      throw new ApiError(`run ${runId} (${run.arm}) is ${run.status}; cancel it before deleting it`);
    this.store.deleteRun(runId);
    if (this.store.listRuns({ experimentId: run.experimentId, limit: 1 }).length === 0)
      this.store.deleteExperiment(run.experimentId);
    this.emit({ type: 'runsChanged' });
  }

  async runAnnotations(): Promise<Record<string, RunAnnotation>> {
    return this.store.annotations.all();
  }

  async annotateRun(runId: string, patch: AnnotationPatch): Promise<RunAnnotation> {
    const annotation = this.store.annotations.update(runId, patch);
    this.emit({ type: 'runsChanged' });
    return annotation;
  }

  async logs(runId: string, options?: LogOptions): Promise<LogEntry[]> {
    this.store.flush();
    return this.store.logs(runId, options ?? {});
  }

  async compare(runIds: string[], options?: { target?: number }): Promise<RunComparison[]> {
    this.store.flush();
    return compareRunIds(this.store, runIds, options ?? {}).map((row) => ({
      ...row.summary,
      armConfig: row.armConfig,
      d: row.d,
      k: row.k,
      measured: row.measured,
      speedups: row.speedups,
    }));
  }

  async series(runIds: string[], options?: { columns?: SeriesColumn[]; points?: number }): Promise<RunSeries[]> {
    this.store.flush();
    return runIds.map((runId) => runSeries(this.store, runId, options ?? {}));
  }

  async layerNames(runId: string): Promise<string[]> {
    this.store.flush();
    return this.store.layerNames(runId);
  }

  async layerStats(runId: string, layer?: string): Promise<LayerStatsRecord[]> {
    this.store.flush();
    return this.store.layerStatsSeries(runId, layer === undefined ? {} : { layer });
  }

  async histograms(runId: string, layer?: string): Promise<HistogramRecord[]> {
    this.store.flush();
    return this.store.histograms(runId, layer === undefined ? {} : { layer });
  }

  async exportRun(
    runId: string,
    format: 'csv' | 'json',
    table: 'iterations' | 'evaluations' | 'layerStats' = 'iterations',
  ): Promise<string> {
    this.store.flush();
    if (format === 'csv') return this.store.exportCsv(runId, table);
    return `${JSON.stringify(this.store.exportJson(runId), null, 2)}\n`;
  }

  async workers(): Promise<WorkerView[]> {
    return this.workerViews();
  }

  async setLocalWorkers(count: number): Promise<void> {
    this.pool.resize(count);
    this.logEvent('info', `keeping ${count} local worker(s)`);
  }

  async setLocalGpus(chosen: number[] | null): Promise<void> {
    if (this.pool.backend === 'cpu') throw new ApiError('local workers use the cpu backend: they run on no GPU');
    let used: GpuInfo[];
    try {
      used = placedGpus(this.pool.backend, this.gpus.found, chosen);
    } catch (error) {
      throw new ApiError((error as Error).message);
    }
    this.pool.setGpus(used);
    this.workersChangedSoon();
    this.logEvent('info', `local workers now on GPU(s) ${used.map((gpu) => gpu.index).join(', ') || 'none'}`);
  }

  async bench(request: BenchRequest): Promise<BenchResults> {
    if (this.benchRunning) throw new ApiError('a benchmark is already running; wait for it to finish');
    this.benchRunning = true;
    try {
      const { runBench } = await import('../bench/run');
      const results = await runBench({
        ...request,
        tfjsMaxSize: 4_000_000,
        skipSoftwareAdapters: true,
        onProgress: (line) => this.emit({ type: 'benchProgress', line }),
      });
      this.sessionBench.unshift({ source: `this session (${new Date().toISOString()})`, results });
      return results;
    } finally {
      this.benchRunning = false;
    }
  }

  async benchHistory(): Promise<BenchRecord[]> {
    return [...this.sessionBench, ...recordedBench((message) => this.logEvent('warn', message))];
  }

  async loadDraft(key: string): Promise<string | null> {
    return this.drafts.get(key);
  }

  async saveDraft(key: string, value: string): Promise<void> {
    await this.drafts.set(key, value);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Internals

  private emit(event: AppEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.log('error', `an event listener failed: ${(error as Error).message}`);
      }
    }
  }

  private logEvent(level: LogLevel, message: string): void {
    this.log(level, message);
    this.emit({ type: 'log', level, message, time: Date.now() });
  }

  private workerLine(slot: number, line: string): void {
    const now = Date.now();
    if (now - this.workerLines.windowStart > 5000) this.workerLines = { windowStart: now, count: 0 };
    if (++this.workerLines.count > WORKER_LINES_PER_WINDOW) return;
    // Failures reach the user through the run's status; these lines are the workers' chatter (Dawn's included).
    this.logEvent('info', `[local worker ${slot}] ${line}`);
  }

  /** Grows the local pool so that, with the workers from elsewhere, a run of P ranks can start. */
  private ensureWorkers(p: number): void {
    const mine = new Set(this.pool.pids());
    const remote = this.hub.workers().filter((w) => !this.isLocal(w, mine)).length;
    const needed = p - remote;
    if (needed > this.pool.count) {
      this.logEvent('info', `starting ${needed - this.pool.count} more local worker(s) for a run of ${p} ranks`);
      this.pool.resize(needed);
    }
  }

  private isLocal(worker: ConnectedWorker, pids: Set<number>): boolean {
    return worker.capabilities.host === os.hostname() && pids.has(worker.capabilities.pid);
  }

  /** The pids in the order to stop them: workers without a run first. */
  private idleFirst(pids: number[]): number[] {
    const busy = new Set(
      this.hub
        .workers()
        .filter((w) => w.state === 'busy')
        .map((w) => w.capabilities.pid),
    );
    return [...pids.filter((p) => !busy.has(p)), ...pids.filter((p) => busy.has(p))];
  }

  private workerViews(): WorkerView[] {
    const mine = new Set(this.pool.pids());
    return this.hub.workers().map(({ lastSeen, ...worker }) => ({
      ...worker,
      host: worker.capabilities.host,
      backend: worker.capabilities.backend,
      adapter: worker.capabilities.adapter ?? null,
      local: this.isLocal(worker, mine),
    }));
  }

  /** A workers event soon (joins and losses come in bursts), besides the one every 2 s. */
  private workersChangedSoon(): void {
    if (this.workersTimer || this.closing) return;
    this.workersTimer = setTimeout(() => {
      this.workersTimer = null;
      this.emitWorkers(true);
    }, 200);
    this.workersTimer.unref();
  }

  private emitWorkers(force = false): void {
    if (this.closing) return;
    const workers = this.workerViews();
    const signature = workers.map((w) => `${w.id}:${w.state}:${w.runId}:${w.rank}:${w.local}`).join('|');
    // Every 2 s while there are workers (their heartbeat ages), else only on a change.
    if (!force && signature === this.workersSignature && workers.length === 0) return;
    this.workersSignature = signature;
    this.emit({ type: 'workers', workers });
  }
}

/** experimentSchema's result, or an ApiError naming each field and its problem. */
export function validateExperiment(input: unknown): Experiment {
  const result = experimentSchema.safeParse(input);
  if (result.success) return result.data;
  const problems = describeIssues(result.error.issues);
  throw new ApiError(`the experiment is not valid: ${problems.length === 1 ? problems[0] : problems.join('; ')}`);
}
