/**
 * The scheduler between the store and the hub: queues runs, gives each P idle workers, records
 * what they report, and decides what a lost worker means (fail the run, or wait for a replacement
 * and resume from the last checkpoint). Plain Node: the CLI, Electron's main process and the
 * browser-mode server all drive the same Orchestrator.
 */
import { EventEmitter } from 'node:events';
import type { Experiment } from '../../../common/experiment';
import { isExternalEnvironment } from '../../../common/externalRun';
import { hasEnded, type RunStatus } from '../../../common/metrics';
import type { CheckpointMessage, MetricsBatch, StatusMessage } from '../../../common/protocol';
import { bundleCheckpoint, readCheckpointHeader } from '../../../common/checkpoint';
import type { Hub, WorkerInfo } from '../hub';
import type { RunRow, Store } from '../store';
import { ExternalRunRecorder } from './externalRuns';
import { appendMetrics } from './recordMetrics';
import { TorchEngine, type TorchEngineOptions } from './torchEngine';

/** The torch engine's choices the orchestrator does not make itself. */
export type OrchestratorOptions = { torch?: Pick<TorchEngineOptions, 'python' | 'gpus'> };

export interface RunProgress {
  runId: string;
  iteration: number;
  epoch: number;
  epochs: number;
  loss: number;
  wallMs: number;
}

export interface OrchestratorEvents {
  status: [runId: string, status: RunStatus, reason: string | null];
  progress: [progress: RunProgress];
  log: [level: 'info' | 'warn' | 'error', message: string];
}

interface ActiveRun {
  run: RunRow;
  config: Experiment;
  workerIds: string[];
  finishedRanks: Set<number>;
  /** Checkpoint parts by iteration, until every rank's part is in. */
  checkpointParts: Map<number, Uint8Array[]>;
}

interface Waiting {
  runId: string;
  /** A run waiting for a replacement fails at this time (epoch ms); queued runs have none. */
  deadline: number | null;
}

export class Orchestrator extends EventEmitter<OrchestratorEvents> {
  private readonly queue: Waiting[] = [];
  private readonly active = new Map<string, ActiveRun>();
  private readonly deadlineTimer: NodeJS.Timeout;
  private readonly detach: () => void;
  /** Trains the runs of experiments with engine: torch, one at a time, outside the hub's workers. */
  readonly torch: TorchEngine;

  constructor(
    readonly store: Store,
    readonly hub: Hub,
    options: OrchestratorOptions = {},
  ) {
    super();
    this.torch = new TorchEngine({
      ...options.torch,
      store,
      hubUrl: hub.url,
      token: hub.token,
      setStatus: (runId, status, reason) => this.setStatus(runId, status, reason),
      log: (level, message) => this.emit('log', level, message),
      ended: () => this.schedule(),
    });
    const handlers = {
      workerJoined: (worker: WorkerInfo) => {
        store.workerSeen({ id: worker.id, host: worker.capabilities.host, capabilities: worker.capabilities });
        this.schedule();
      },
      workerLost: (worker: WorkerInfo, reason: string) => {
        const runId = [...this.active.values()].find((a) => a.workerIds.includes(worker.id))?.run.id;
        const rank = runId ? this.active.get(runId)!.workerIds.indexOf(worker.id) : -1;
        if (runId)
          this.lost(runId, `rank ${rank} (worker ${worker.id} on ${worker.capabilities.host}) was lost: ${reason}`);
      },
      groupFailed: (runId: string, reason: string) => this.lost(runId, reason),
      status: (message: StatusMessage, worker: WorkerInfo) => this.onStatus(message, worker),
      metrics: (batch: MetricsBatch) => this.onMetrics(batch),
      log: (record: Parameters<Store['appendLog']>[0]) => this.guard(() => store.appendLog(record)),
      checkpoint: (message: CheckpointMessage, payload: Uint8Array) => void this.onCheckpoint(message, payload),
    };
    for (const [event, handler] of Object.entries(handlers)) hub.on(event as keyof typeof handlers, handler as never);
    // Runs trained outside SparseLab's workers (sparselab_torch) register through the same hub.
    const stopExternal = hub.external.accept(
      new ExternalRunRecorder(store, {
        status: (runId, status, reason) => this.emit('status', runId, status, reason),
        progress: (progress) => {
          this.torch.heard(progress.runId);
          this.emit('progress', progress);
        },
        launched: this.torch,
      }),
    );
    this.detach = () => {
      for (const [event, handler] of Object.entries(handlers))
        hub.off(event as keyof typeof handlers, handler as never);
      stopExternal();
    };
    this.deadlineTimer = setInterval(() => this.expireWaiting(), 1000).unref();
  }

  /** Records the experiment, creates a run per arm and seed, and queues them. */
  submit(experiment: Experiment, sourceFile?: string): RunRow[] {
    const row = this.store.createExperiment(experiment, { sourceFile });
    const runs = this.store.createRuns(row.id);
    for (const run of runs) this.queue.push({ runId: run.id, deadline: null });
    this.schedule();
    return runs;
  }

  /** Queues an interrupted, failed or cancelled run again; it resumes from its last checkpoint. */
  resume(runId: string): void {
    if (isExternalEnvironment(this.store.getRun(runId).environment)) {
      throw new Error(`run ${runId} was trained outside SparseLab's workers; resume it from its own script`);
    }
    this.store.setStatus(runId, 'queued', 'resumed by user');
    this.emit('status', runId, 'queued', 'resumed by user');
    this.queue.push({ runId, deadline: null });
    this.schedule();
  }

  cancel(runId: string, reason = 'cancelled by user'): void {
    const index = this.queue.findIndex((w) => w.runId === runId);
    if (index >= 0) this.queue.splice(index, 1);
    if (this.active.has(runId)) void this.hub.cancel(runId, reason);
    this.active.delete(runId);
    this.hub.external.cancel(runId, reason);
    this.setStatus(runId, 'cancelled', reason);
    this.torch.stop(runId, reason);
    this.schedule();
  }

  /** Resolves when every listed run has ended (finished, failed or cancelled). */
  waitFor(runIds: readonly string[]): Promise<void> {
    const ended = (id: string) => hasEnded(this.store.getRun(id).status);
    return new Promise((resolve) => {
      const check = () => {
        if (!runIds.every(ended)) return;
        this.off('status', check);
        resolve();
      };
      this.on('status', check);
      check();
    });
  }

  /** Stops listening to the hub and stops the torch engine's runs (their processes are gone when it resolves). */
  close(): Promise<void> {
    clearInterval(this.deadlineTimer);
    this.detach();
    return this.torch.close();
  }

  private schedule(): void {
    while (this.queue.length > 0) {
      const next = this.queue[0]!;
      const run = this.store.getRun(next.runId);
      if (run.config.engine === 'torch') {
        if (this.torch.active().length > 0) return; // its ranks take this machine's cores or GPUs: one at a time
        this.queue.shift();
        try {
          this.torch.start(run);
        } catch (error) {
          this.setStatus(run.id, 'failed', `could not start: ${(error as Error).message}`);
        }
        continue;
      }
      const idle = this.hub.workers().filter((w) => w.state === 'idle' && !this.isReserved(w.id));
      if (idle.length < run.config.workers) return;
      this.queue.shift();
      void this.start(run, run.config, idle.slice(0, run.config.workers)).catch((error: Error) =>
        this.fail(run.id, `could not start: ${error.message}`),
      );
    }
  }

  private isReserved(workerId: string): boolean {
    return [...this.active.values()].some((a) => a.workerIds.includes(workerId));
  }

  private async start(run: RunRow, config: Experiment, workers: WorkerInfo[]): Promise<void> {
    const workerIds = workers.map((w) => w.id);
    this.active.set(run.id, { run, config, workerIds, finishedRanks: new Set(), checkpointParts: new Map() });
    const checkpoint = await this.store.latestCheckpoint(run.id);
    if (checkpoint) this.store.discardAfter(run.id, checkpoint.iteration);
    this.store.setEnvironment(run.id, {
      versions: { sparselab: process.env.npm_package_version ?? '0.1.0', node: process.version },
      adapters: workers.map(
        (w) => w.capabilities.adapter ?? { backend: w.capabilities.backend, host: w.capabilities.host },
      ),
      seed: run.seed,
      host: workers.map((w) => w.capabilities.host).join(','),
      workers: workers.map((w) => w.capabilities),
    });
    this.hub.createGroup(run.id, workerIds);
    const resumed = checkpoint ? `resumed from iteration ${checkpoint.iteration}` : null;
    this.setStatus(run.id, 'running', resumed ?? `on ${workerIds.length} workers`);
    await this.hub.assign(
      run.id,
      { experiment: config, arm: run.armConfig, seed: run.seed },
      checkpoint ? { resume: { iteration: checkpoint.iteration }, checkpoint: checkpoint.bytes } : {},
    );
  }

  private onStatus(message: StatusMessage, worker: WorkerInfo): void {
    const active = this.active.get(message.runId);
    if (!active) return;
    const rank = active.workerIds.indexOf(worker.id);
    if (message.state === 'failed') {
      this.fail(message.runId, `rank ${rank}: ${message.reason ?? 'failed'}`);
    } else if (message.state === 'finished') {
      active.finishedRanks.add(rank);
      if (active.finishedRanks.size === active.workerIds.length) {
        this.active.delete(message.runId);
        this.hub.endGroup(message.runId, 'finished');
        this.setStatus(message.runId, 'finished', null);
        this.schedule();
      }
    }
  }

  private onMetrics(batch: MetricsBatch): void {
    this.guard(() => {
      appendMetrics(this.store, batch);
      if (batch.kind === 'iteration') {
        for (const record of batch.records) {
          if (record.rank !== 0) continue;
          const active = this.active.get(record.runId);
          if (!active) continue;
          this.emit('progress', {
            runId: record.runId,
            iteration: record.iteration,
            epoch: record.epoch,
            epochs: active.config.epochs,
            loss: record.loss,
            wallMs: record.wallMs,
          });
        }
      }
    });
  }

  private async onCheckpoint(message: CheckpointMessage, payload: Uint8Array): Promise<void> {
    const active = this.active.get(message.runId);
    if (!active) return;
    const parts = active.checkpointParts.get(message.iteration) ?? [];
    parts[message.rank] = payload;
    active.checkpointParts.set(message.iteration, parts);
    if (parts.filter(Boolean).length < active.workerIds.length) return;
    active.checkpointParts.delete(message.iteration);
    const diverged = divergedRank(parts);
    if (diverged !== null) {
      this.fail(
        message.runId,
        `replicas diverged: rank ${diverged}'s weights differ from rank 0's at iteration ${message.iteration}`,
      );
      return;
    }
    try {
      await this.store.writeCheckpoint(message.runId, message.iteration, bundleCheckpoint(parts));
      this.store.setProgress(message.runId, { iteration: message.iteration });
    } catch (error) {
      this.emit('log', 'error', `checkpoint of ${message.runId} at ${message.iteration}: ${(error as Error).message}`);
    }
  }

  /** A rank is gone: fail the run, or wait for a replacement, as the run's config says. */
  private lost(runId: string, reason: string): void {
    const active = this.active.get(runId);
    if (!active) return;
    this.active.delete(runId);
    void this.hub.cancel(runId, reason);
    if (active.config.faults.onWorkerLoss === 'fail') {
      this.setStatus(runId, 'failed', reason);
    } else {
      this.setStatus(
        runId,
        'waiting',
        `${reason}; waiting up to ${active.config.faults.waitSeconds} s for a replacement`,
      );
      this.queue.unshift({ runId, deadline: Date.now() + active.config.faults.waitSeconds * 1000 });
    }
    this.schedule();
  }

  private fail(runId: string, reason: string): void {
    if (this.active.delete(runId)) void this.hub.cancel(runId, reason);
    this.setStatus(runId, 'failed', reason);
    this.schedule();
  }

  private expireWaiting(): void {
    const now = Date.now();
    for (const waiting of this.queue.filter((w) => w.deadline !== null && w.deadline < now)) {
      this.queue.splice(this.queue.indexOf(waiting), 1);
      this.setStatus(waiting.runId, 'failed', 'no replacement worker came in time');
    }
  }

  private setStatus(runId: string, status: RunStatus, reason: string | null): void {
    this.guard(() => {
      this.store.setStatus(runId, status, reason ?? undefined);
      this.emit('status', runId, status, reason);
    });
  }

  /** Store errors (a deleted run, a closed store) are reported, never allowed to stop the hub. */
  private guard(action: () => void): void {
    try {
      action();
    } catch (error) {
      this.emit('log', 'error', (error as Error).message);
    }
  }
}

/** The first rank whose weights checksum differs from rank 0's, or null when all agree. */
function divergedRank(parts: readonly Uint8Array[]): number | null {
  const sums = parts.map((p) => readCheckpointHeader(p).weightsChecksum);
  const rank = sums.findIndex((sum) => sum !== sums[0]);
  return rank < 0 ? null : rank;
}
