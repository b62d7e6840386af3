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
import { appendMetrics } from './recordMetrics';

export interface ExternalRunEvents {
  status?: (runId: string, status: RunStatus, reason: string | null) => void;
  /** Rank 0's iterations, as the orchestrator reports a native run's progress. */
  progress?: (progress: RunProgress) => void;
}

/** The id of the experiment external runs named `name` are recorded under: the same name, the same id. */
export function externalExperimentId(name: string): string {
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

  constructor(
    private readonly store: Store,
    private readonly events: ExternalRunEvents = {},
  ) {}

  register(spec: ExternalRunSpec, origin: string): string {
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

  metrics(runId: string, batch: MetricsBatch): void {
    appendMetrics(this.store, batch);
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
    this.end(runId, state, reason ?? (state === 'failed' ? 'the training script reported a failure' : null));
  }

  lost(runId: string, reason: string): void {
    this.end(runId, 'failed', reason);
  }

  /** Ends a run still going (one the user cancelled meanwhile stays cancelled). */
  private end(runId: string, status: 'finished' | 'failed', reason: string | null): void {
    this.epochs.delete(runId);
    if (hasEnded(this.store.getRun(runId).status)) return;
    this.setStatus(runId, status, reason);
  }

  private setStatus(runId: string, status: RunStatus, reason: string | null): void {
    this.store.setStatus(runId, status, reason);
    this.events.status?.(runId, status, reason);
  }
}
