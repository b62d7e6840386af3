/**
 * The scheduler between the store and the hub: queues runs, gives each P idle workers, records
 * what they report, and decides what a lost worker means (fail the run, or wait for a replacement
 * and resume from the last checkpoint). Plain Node: the CLI, Electron's main process and the
 * browser-mode server all drive the same Orchestrator.
 */
import { EventEmitter } from 'node:events';
import { stallSecondsOf, type Experiment } from '../../../common/experiment';
import { hasEnded, type IterationRecord, type LogRecord, type RunStatus } from '../../../common/metrics';
import { isExternalEnvironment } from '../../../common/externalRun';
import type { CheckpointMessage, MetricsBatch, StatusMessage } from '../../../common/protocol';
import type { RecordOf } from '../../../common/records';
import { bundleCheckpoint, CheckpointFormatError, readCheckpointHeader } from '../../../common/checkpoint';
import type { Hub, WorkerInfo } from '../hub';
import type { RunRow, Store } from '../store';
import { ExternalRunRecorder } from './externalRuns';
import { Refusals } from './refusals';
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
  /** When each rank last made progress (a record or a checkpoint part), epoch ms; the start counts. */
  lastProgress: number[];
  /** Each rank's last iteration recorded: records are append-only, a rank's iterations only go up. */
  lastIteration: number[];
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
  /** Workers that stalled a run: never given another while they stay connected. */
  private readonly benched = new Set<string>();
  /** The run each worker was given last: its reports that arrive after that run ended are dropped quietly. */
  private readonly lastRunOf = new Map<string, string>();
  /** Reports a worker may not make (another run, another rank, a malformed checkpoint), refused and logged. */
  readonly refusals = new Refusals((workerId, message) => {
    this.emit('log', 'warn', message);
    this.guard(() =>
      this.store.appendLog({ runId: null, workerId, rank: null, level: 'warn', message, time: Date.now() }),
    );
  });
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
        this.benched.delete(worker.id);
        this.lastRunOf.delete(worker.id);
        this.refusals.forget(worker.id);
        const runId = [...this.active.values()].find((a) => a.workerIds.includes(worker.id))?.run.id;
        const rank = runId ? this.active.get(runId)!.workerIds.indexOf(worker.id) : -1;
        if (runId)
          this.lost(runId, `rank ${rank} (worker ${worker.id} on ${worker.capabilities.host}) was lost: ${reason}`);
      },
      groupFailed: (runId: string, reason: string) => this.lost(runId, reason),
      // Logged unless it is a late exchange of the worker's own ended run.
      collectiveRefused: (runId: string, worker: WorkerInfo) => void this.assigned(worker, runId, 'a collective'),
      status: (message: StatusMessage, worker: WorkerInfo) => this.onStatus(message, worker),
      metrics: (batch: MetricsBatch, worker: WorkerInfo) => this.onMetrics(batch, worker),
      log: (record: LogRecord, worker: WorkerInfo) => {
        // A worker's lines about the run it had last stay welcome after that run ended ("cancelled: ...").
        const ownEnded = record.runId === this.lastRunOf.get(worker.id) && !this.active.has(record.runId!);
        if (record.runId === null || ownEnded || this.assigned(worker, record.runId, 'a log line'))
          this.guard(() => store.appendLog({ ...record, message: boundedLine(record.message) }));
      },
      checkpoint: (message: CheckpointMessage, payload: Uint8Array, worker: WorkerInfo) =>
        void this.onCheckpoint(message, payload, worker).catch((error: Error) =>
          this.emit('log', 'error', `checkpoint from worker ${worker.id}: ${error.message}`),
        ),
    };
    for (const [event, handler] of Object.entries(handlers)) hub.on(event as keyof typeof handlers, handler as never);
    // Runs trained outside SparseLab's workers (sparselab_torch, and the torch engine's) register through the same hub.
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
    this.deadlineTimer = setInterval(() => {
      this.expireWaiting();
      this.checkStalls();
    }, 250).unref();
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
    const run = this.store.getRun(runId);
    if (isExternalEnvironment(run.environment)) {
      throw new Error(`run ${runId} was trained outside SparseLab's workers; resume it from its own script`);
    }
    let reason = 'resumed by user';
    const checkpointed =
      run.config.engine === 'torch'
        ? this.torch.checkpointOf(run) !== null
        : this.store.listCheckpoints(runId).length > 0;
    if (!checkpointed) {
      reason += '; it has no checkpoint, so it restarts from iteration 0';
      this.emit(
        'log',
        'warn',
        `run ${runId} has no checkpoint: it restarts from iteration 0 and its records are replaced`,
      );
    }
    this.store.setStatus(runId, 'queued', reason);
    this.emit('status', runId, 'queued', reason);
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
      const idle = this.hub
        .workers()
        .filter((w) => w.state === 'idle' && !this.isReserved(w.id) && !this.benched.has(w.id));
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
    this.active.set(run.id, {
      run,
      config,
      workerIds,
      finishedRanks: new Set(),
      checkpointParts: new Map(),
      lastProgress: workerIds.map(() => Date.now()),
      lastIteration: workerIds.map(() => -1),
    });
    for (const id of workerIds) this.lastRunOf.set(id, run.id);
    const checkpoint = await this.store.latestCheckpoint(run.id);
    // A resume records again from the checkpoint's iteration on.
    if (checkpoint) this.active.get(run.id)?.lastIteration.fill(checkpoint.iteration - 1);
    // Records are append-only: what a restart will record again goes first (everything, without a checkpoint).
    this.store.discardAfter(run.id, checkpoint?.iteration ?? -1);
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
    const at = this.assigned(worker, message.runId, `status '${message.state}'`);
    if (!at) return;
    const { active, rank } = at;
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

  /** Records count only for the run and rank the worker holds; a rank's iterations only go up. */
  private onMetrics(batch: MetricsBatch, worker: WorkerInfo): void {
    let progressed = false;
    this.guard(() => {
      for (const record of batch.records) {
        const at = this.assigned(worker, record.runId, `${batch.kind} records`);
        if (!at) continue;
        const { active, rank } = at;
        if (batch.kind !== 'iteration') {
          if (rank !== 0) {
            this.refusals.refuse(worker.id, `${batch.kind} records for run ${record.runId}: only rank 0 sends them`);
            continue;
          }
          this.store.append(batch.kind, record as RecordOf<typeof batch.kind>);
          progressed = true;
          continue;
        }
        const iteration = record as IterationRecord;
        if (iteration.rank !== rank || iteration.iteration <= active.lastIteration[rank]!) {
          this.refusals.refuse(
            worker.id,
            `an iteration record of rank ${iteration.rank} at iteration ${iteration.iteration} for run ${record.runId}` +
              ` (it is rank ${rank}, last at iteration ${active.lastIteration[rank]}): records are append-only`,
          );
          continue;
        }
        active.lastIteration[rank] = iteration.iteration;
        this.store.append('iteration', iteration);
        progressed = true;
        if (rank !== 0) continue;
        this.emit('progress', {
          runId: iteration.runId,
          iteration: iteration.iteration,
          epoch: iteration.epoch,
          epochs: active.config.epochs,
          loss: iteration.loss,
          wallMs: iteration.wallMs,
        });
      }
    });
    if (progressed) this.progressedWorker(worker);
  }

  private async onCheckpoint(message: CheckpointMessage, payload: Uint8Array, worker: WorkerInfo): Promise<void> {
    const at = this.assigned(worker, message.runId, `a checkpoint part`);
    if (!at) return;
    const { active, rank } = at;
    const problem = checkpointProblem(message, payload, rank, active.lastIteration[rank]! + 1);
    if (problem !== null) {
      // An assigned rank whose state cannot be saved (or that lies about it): its run cannot go on safely.
      this.fail(message.runId, `rank ${rank} (worker ${worker.id}) sent a bad checkpoint part: ${problem}`);
      return;
    }
    this.progressedWorker(worker);
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

  /**
   * The run and rank a worker holds, for a report it made about `runId`; null when the hub has not put it in
   * that run (another run, none, one that has ended): refused and logged, but for a late report of the run
   * the worker was given last (an honest worker's records in flight when its run ended), dropped quietly.
   */
  private assigned(worker: WorkerInfo, runId: string, what: string): { active: ActiveRun; rank: number } | null {
    const active = this.active.get(runId);
    const rank = active && worker.runId === runId ? active.workerIds.indexOf(worker.id) : -1;
    if (active && rank >= 0) return { active, rank };
    if (!active && this.lastRunOf.get(worker.id) === runId) return null;
    const holds = worker.runId !== null ? `it is rank ${worker.rank} of run ${worker.runId}` : 'it holds no run';
    this.refusals.refuse(worker.id, `${what} for run ${runId}, which is not its run (${holds})`);
    return null;
  }

  /** Progress counts for the run and rank the hub has the worker in, whatever its records claim. */
  private progressedWorker(worker: WorkerInfo): void {
    const active = worker.runId !== null ? this.active.get(worker.runId) : undefined;
    const rank = active ? active.workerIds.indexOf(worker.id) : -1;
    if (rank >= 0) active!.lastProgress[rank] = Date.now();
  }

  /**
   * A rank quiet for longer than the run's faults.stallSeconds is lost like a dead one: the run fails, or
   * waits for a replacement (the stalled worker is not given it again).
   */
  private checkStalls(): void {
    const now = Date.now();
    for (const active of [...this.active.values()]) {
      const limitMs = stallSecondsOf(active.config) * 1000;
      const rank = this.hub.group(active.run.id)?.awaitedRanks[0] ?? stalledRank(active.lastProgress);
      const quietMs = now - active.lastProgress[rank]!;
      if (quietMs <= limitMs) continue;
      const workerId = active.workerIds[rank]!;
      const host = this.hub.worker(workerId)?.capabilities.host ?? 'a host that left';
      this.benched.add(workerId);
      this.lost(
        active.run.id,
        `rank ${rank} (worker ${workerId} on ${host}) made no progress for ${Math.round(quietMs / 1000)} s ` +
          `(faults.stallSeconds ${stallSecondsOf(active.config)})`,
      );
    }
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

/** Longest log line kept from a worker (a frame may carry hundreds of megabytes). */
export const MAX_LOG_LINE = 8192;

function boundedLine(message: string): string {
  return message.length <= MAX_LOG_LINE
    ? message
    : `${message.slice(0, MAX_LOG_LINE)}… (${message.length - MAX_LOG_LINE} characters cut)`;
}

/**
 * What is wrong with a checkpoint part a rank sent, or null: a well-formed part of the sender's own rank, for
 * the iteration after its last recorded one (records are flushed before every checkpoint).
 */
function checkpointProblem(message: CheckpointMessage, payload: Uint8Array, rank: number, next: number): string | null {
  let header: ReturnType<typeof readCheckpointHeader>;
  try {
    header = readCheckpointHeader(payload);
  } catch (error) {
    if (error instanceof CheckpointFormatError) return error.message;
    throw error;
  }
  if (message.rank !== rank || header.rank !== rank)
    return `it is rank ${rank}; the part says rank ${message.rank} (header ${header.rank})`;
  if (message.iteration !== next || header.iteration !== next)
    return `a checkpoint after iteration ${next} was due; the part says ${message.iteration} (header ${header.iteration})`;
  return null;
}

/** Without a round open at the hub, the rank quiet for longest (the lowest of equals). */
function stalledRank(lastProgress: readonly number[]): number {
  let rank = 0;
  for (let r = 1; r < lastProgress.length; r++) if (lastProgress[r]! < lastProgress[rank]!) rank = r;
  return rank;
}

/** The first rank whose weights checksum differs from rank 0's, or null when all agree. */
function divergedRank(parts: readonly Uint8Array[]): number | null {
  const sums = parts.map((p) => readCheckpointHeader(p).weightsChecksum);
  const rank = sums.findIndex((sum) => sum !== sums[0]);
  return rank < 0 ? null : rank;
}
