/**
 * Records external runs (common/externalRun.ts) in the store: the runs a training script outside SparseLab's
 * workers registers with the hub, and the ones `sparselab import` reads from a file. Runs registered under the
 * same experiment name share one experiment, so Compare shows them side by side.
 */
import { createHash } from 'node:crypto';
import { hasEnded, type LogRecord, type RunStatus } from '../../../common/metrics';
import type { MetricsBatch, StatusMessage } from '../../../common/protocol';
import { externalExperiment, type ExternalEnvironment, type ExternalRunSpec } from '../../../common/externalRun';
import type { RunEnvironment } from '../../../common/runs';
import type { ExternalRunHandler } from '../hub/external';
import { UnknownExperimentError, type Store } from '../store';
import type { RunProgress } from './orchestrator';

/** Runs the core launched outside its workers (the torch engine), which connect as external runs. */
export interface LaunchedRuns {
  /** True when `key` is the one made for launching `runId` (and the run still goes on). */
  claim(runId: string, key: string): boolean;
  /** The launched run's connection ended before it said finished or failed: its launcher decides what that means. */
  lost(runId: string, reason: string): void;
  /** Rank 0 said the run failed: its launcher weighs that against what its processes report when they exit. */
  failed(runId: string, reason: string | null): void;
}

export interface ExternalRunEvents {
  launched?: LaunchedRuns;
  status?: (runId: string, status: RunStatus, reason: string | null) => void;
  /** Rank 0's iterations, as the orchestrator reports a native run's progress. */
  progress?: (progress: RunProgress) => void;
}

/** The id of the experiment external runs named `name` are recorded under: the same name, the same id. */
function externalExperimentId(name: string): string {
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 48);
  const hash = createHash('sha256').update(name, 'utf8').digest('hex').slice(0, 10);
  return `x-${slug ? `${slug}-` : ''}${hash}`;
}

export class ExternalRunRecorder implements ExternalRunHandler {
  /** Epochs of the runs being recorded, for their progress. */
  private readonly epochs = new Map<string, number>();
  /** Of those, the runs the core launched itself. */
  private readonly launchedIds = new Set<string>();

  constructor(
    private readonly store: Store,
    private readonly events: ExternalRunEvents = {},
  ) {}

  register(spec: ExternalRunSpec, origin: string): string {
    if (spec.launch) return this.attach(spec, spec.launch);
    const config = externalExperiment(spec);
    const experimentId = externalExperimentId(spec.experiment);
    try {
      this.store.getExperiment(experimentId);
    } catch (error) {
      if (!(error instanceof UnknownExperimentError)) throw error;
      this.store.createExperiment(config, { id: experimentId });
    }
    const external: ExternalEnvironment = { framework: spec.framework, model: spec.model, dataset: spec.dataset };
    const environment: RunEnvironment = {
      versions: {
        [spec.framework.name]: spec.framework.version,
        ...(spec.framework.python ? { python: spec.framework.python } : {}),
      },
      adapters: spec.devices,
      seed: spec.seed,
      host: spec.host,
      pid: spec.pid,
      external,
    };
    const perEpoch = spec.iterationsPerEpoch;
    const run = this.store.createRun({
      experimentId,
      arm: spec.arm,
      seed: spec.seed,
      config,
      environment,
      totalIterations: perEpoch ? Math.ceil(spec.epochs * perEpoch) : null,
    });
    this.epochs.set(run.id, spec.epochs);
    const reason = `external: ${spec.framework.name} ${spec.framework.backend} on ${spec.worldSize} ranks (${origin})`;
    this.setStatus(run.id, 'running', reason);
    return run.id;
  }

  /** A launched run's rank 0 connected: its records go to the run the core created; its environment gets the framework. */
  private attach(spec: ExternalRunSpec, launch: { runId: string; key: string }): string {
    if (!this.events.launched?.claim(launch.runId, launch.key)) {
      throw new Error(`run ${launch.runId} was not launched here, or its key does not match`);
    }
    const run = this.store.getRun(launch.runId);
    const f = spec.framework;
    this.store.setEnvironment(run.id, {
      ...(run.environment ?? { seed: spec.seed, host: spec.host }),
      versions: { ...(run.environment?.versions ?? {}), torch: f.version, ...(f.python ? { python: f.python } : {}) },
      adapters: spec.devices,
      engine: { name: 'torch', backend: f.backend, worldSize: spec.worldSize, host: spec.host, pid: spec.pid },
    } as RunEnvironment);
    this.epochs.set(run.id, spec.epochs);
    this.launchedIds.add(run.id);
    return run.id;
  }

  metrics(runId: string, batch: MetricsBatch): void {
    for (const record of batch.records) this.store.append(batch.kind, record);
    const epochs = this.epochs.get(runId);
    if (batch.kind !== 'iteration' || epochs === undefined || !this.events.progress) return;
    for (const r of batch.records) {
      if (r.rank === 0)
        this.events.progress({ runId, iteration: r.iteration, epoch: r.epoch, epochs, loss: r.loss, wallMs: r.wallMs });
    }
  }

  log(record: LogRecord): void {
    this.store.appendLog(record);
  }

  status(runId: string, state: StatusMessage['state'], reason: string | null): void {
    if (state === 'started') return;
    if (state === 'failed' && this.launchedIds.has(runId)) {
      this.events.launched?.failed(runId, reason);
      return;
    }
    this.end(runId, state, reason ?? (state === 'failed' ? 'the training script reported a failure' : null));
  }

  lost(runId: string, reason: string): void {
    if (this.launchedIds.delete(runId)) {
      this.epochs.delete(runId);
      this.events.launched?.lost(runId, reason);
      return;
    }
    this.end(runId, 'failed', reason);
  }

  /** Ends a run still going (one the user cancelled meanwhile stays cancelled). */
  private end(runId: string, status: 'finished' | 'failed', reason: string | null): void {
    this.epochs.delete(runId);
    this.launchedIds.delete(runId);
    if (hasEnded(this.store.getRun(runId).status)) return;
    this.setStatus(runId, status, reason);
  }

  private setStatus(runId: string, status: RunStatus, reason: string | null): void {
    this.store.setStatus(runId, status, reason);
    this.events.status?.(runId, status, reason);
  }
}
