import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { armName, type Arm, type Experiment } from '../../../common/experiment';
import {
  RUN_STATUSES,
  hasEnded,
  type EvaluationRecord,
  type HistogramRecord,
  type IterationRecord,
  type LayerStatsRecord,
  type LogRecord,
  type RunStatus,
} from '../../../common/metrics';
import {
  EVALUATION_FIELDS,
  HISTOGRAM_FIELDS,
  ITERATION_FIELDS,
  LAYER_STATS_FIELDS,
  decodeCounts,
  encodeCounts,
  recordParams,
  recordsFromRaw,
  columnList,
  type FieldSpec,
} from './columns';
import { csvLine } from './csv';
import {
  InvalidRecordError,
  InvalidTransitionError,
  StoreClosedError,
  StoreError,
  StoreOpenError,
  UnknownExperimentError,
  UnknownRunError,
} from './errors';
import { CHECKPOINTS_DIR, DB_FILE, checkpointFileName, defaultDataDir } from './paths';
import { RunAnnotations } from './annotations';
import { SCHEMA_VERSION, migrate, schemaVersion, userTables } from './schema';
import type {
  CheckpointInfo,
  CsvTable,
  ExperimentRow,
  HistogramOptions,
  IterationField,
  IterationPoint,
  IterationSeriesOptions,
  LayerStatsOptions,
  LoadedCheckpoint,
  LogEntry,
  LogLevel,
  LogOptions,
  NewExperiment,
  NewRun,
  Progress,
  RunDetail,
  RunEnvironment,
  RunExport,
  RunFilter,
  RunRow,
  RunSummary,
  StatusChange,
  StoreOptions,
  TargetResult,
  WorkerRow,
  WorkerSeen,
} from '../../../common/runs';

/** Status changes a run may make; anything else is a bug in the caller and throws InvalidTransitionError. */
export const STATUS_TRANSITIONS: Readonly<Record<RunStatus, readonly RunStatus[]>> = {
  queued: ['running', 'waiting', 'cancelled', 'failed'],
  running: ['waiting', 'finished', 'failed', 'cancelled', 'interrupted'],
  waiting: ['running', 'failed', 'cancelled', 'interrupted'],
  interrupted: ['queued', 'running', 'waiting', 'failed', 'cancelled'],
  failed: ['queued'],
  cancelled: ['queued'],
  finished: [],
};

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const SQLITE_HEADER = 'SQLite format 3\0';

/** Opens (creating and migrating as needed) the store in `dataDir`; see Store. */
export function openStore(dataDir: string = defaultDataDir(), options: StoreOptions = {}): Store {
  return new Store(dataDir, options);
}

interface RunDbRow {
  pk: number;
  id: string;
  experiment_id: string;
  experiment_name: string;
  arm_name: string;
  arm: string;
  seed: number;
  status: RunStatus;
  config: string;
  environment: string | null;
  created: number;
  started: number | null;
  ended: number | null;
  failure_reason: string | null;
  iteration: number | null;
  epoch: number | null;
  total_iterations: number | null;
}

interface ExperimentDbRow {
  pk: number;
  id: string;
  name: string;
  config: string;
  source_file: string | null;
  created: number;
}

type Buffers = {
  iterations: unknown[][];
  layerStats: unknown[][];
  histograms: unknown[][];
  evaluations: unknown[][];
  logs: unknown[][];
};

function emptyBuffers(): Buffers {
  return { iterations: [], layerStats: [], histograms: [], evaluations: [], logs: [] };
}

function describeSqliteError(error: unknown): string {
  const e = error as { message?: string; code?: string };
  const code = e.code ?? '';
  if (code === 'SQLITE_NOTADB') return 'the file is not an SQLite database (SQLITE_NOTADB)';
  if (code.startsWith('SQLITE_CORRUPT'))
    return `the database is damaged: ${e.message} (${code}); restore it from a backup or move it away`;
  return code ? `${e.message} (${code})` : String(e.message ?? error);
}

function insertSql(table: string, fields: readonly FieldSpec[], extra: string[] = []): string {
  const columns = ['run_pk', ...fields.map((f) => f.column), ...extra];
  return `INSERT OR REPLACE INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`;
}

/**
 * SparseLab's run store: experiments, runs and everything they record, in one SQLite database (WAL), with
 * checkpoints as files beside it.
 *
 * Writes come in two kinds. Experiment and run creation, status changes, environment, progress, checkpoints rows,
 * deletions are written at once, in their own transaction, synced to disk (synchronous=FULL for that commit).
 * Records (iterations, statistics, histograms, evaluations, logs) are buffered by the append methods and written in
 * one transaction every `flushIntervalMs` (default 200 ms), when `maxBuffered` records are waiting, on flush(),
 * before any status change and on close(). A flushed record survives the process being killed; a record still in
 * the buffer does not. Reads see what has been flushed.
 */
export class Store {
  readonly dataDir: string;
  readonly dbPath: string;
  readonly checkpointsDir: string;
  private readonly db: Database.Database;
  /** Names, notes and tags of runs (annotations.ts). */
  readonly annotations: RunAnnotations;
  private readonly flushIntervalMs: number;
  private readonly maxBuffered: number;
  private readonly checkpointsKept: number;
  private readonly onError: (error: Error) => void;
  private readonly now: () => number;
  private readonly runPks = new Map<string, number>();
  private readonly statements = new Map<string, Database.Statement>();
  private buffers: Buffers = emptyBuffers();
  /** Last (iteration, epoch) rank 0 appended, per run pk. */
  private progress = new Map<number, [number, number]>();
  private buffered = 0;
  private timer: NodeJS.Timeout | null = null;
  /** A background flush failed: size-triggered flushes wait for the timer's retry. */
  private failing = false;
  private closed = false;
  private readonly exitHook = (): void => {
    try {
      this.flush();
    } catch {
      // The process is exiting; nothing left to report to.
    }
  };

  constructor(dataDir: string = defaultDataDir(), options: StoreOptions = {}) {
    this.dataDir = resolve(dataDir);
    this.dbPath = join(this.dataDir, DB_FILE);
    this.checkpointsDir = join(this.dataDir, CHECKPOINTS_DIR);
    this.flushIntervalMs = options.flushIntervalMs ?? 200;
    this.maxBuffered = Math.max(1, options.maxBuffered ?? 2000);
    this.checkpointsKept = options.checkpointsKept ?? 2;
    this.onError = options.onError ?? ((e) => console.error(`sparselab store: ${e.message}`));
    this.now = options.now ?? Date.now;

    try {
      mkdirSync(this.dataDir, { recursive: true });
    } catch (error) {
      throw new StoreError(`cannot create the data folder ${this.dataDir}: ${(error as Error).message}`, 'DATA_DIR', {
        cause: error,
      });
    }
    checkDatabaseFile(this.dbPath);
    let db: Database.Database;
    try {
      db = new Database(this.dbPath, { timeout: options.busyTimeoutMs ?? 5000 });
    } catch (error) {
      throw new StoreOpenError(this.dbPath, describeSqliteError(error), { cause: error });
    }
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      const version = schemaVersion(db);
      if (version === 0) {
        const tables = userTables(db);
        if (tables.length > 0)
          throw new StoreOpenError(
            this.dbPath,
            `it is an SQLite database but not SparseLab's (it holds the tables ${tables.join(', ')})`,
          );
      } else if (version > SCHEMA_VERSION) {
        throw new StoreOpenError(
          this.dbPath,
          `it was written by a newer SparseLab (schema version ${version}; this one knows up to ${SCHEMA_VERSION})`,
        );
      } else if (version < SCHEMA_VERSION) {
        // A copy of the database as it was, in case a migration goes wrong: sparselab.db.v1-<time>-<pid>.bak.
        db.prepare('VACUUM INTO ?').run(`${this.dbPath}.v${version}-${Date.now()}-${process.pid}.bak`);
      }
      migrate(db, SCHEMA_VERSION, this.now);
    } catch (error) {
      db.close();
      if (error instanceof StoreOpenError) throw error;
      throw new StoreOpenError(this.dbPath, describeSqliteError(error), { cause: error });
    }
    this.db = db;
    this.annotations = new RunAnnotations(db, this.now);
    process.on('exit', this.exitHook);
  }

  // ---------------------------------------------------------------- experiments

  /** Records an experiment (its parsed config, defaults applied). */
  createExperiment(config: Experiment, options: NewExperiment = {}): ExperimentRow {
    this.assertOpen();
    const created = this.now();
    const id = options.id ?? this.freshId('e', 'experiments');
    checkId('experiment', id);
    this.durable(() =>
      this.stmt('INSERT INTO experiments (id, name, config, source_file, created) VALUES (?, ?, ?, ?, ?)').run(
        id,
        config.name,
        JSON.stringify(config),
        options.sourceFile ?? null,
        created,
      ),
    );
    return this.getExperiment(id);
  }

  getExperiment(experimentId: string): ExperimentRow {
    this.assertOpen();
    const row = this.stmt('SELECT * FROM experiments WHERE id = ?').get(experimentId) as ExperimentDbRow | undefined;
    if (!row) throw new UnknownExperimentError(experimentId);
    return this.experimentRow(row, this.statusCounts(row.pk));
  }

  /** Newest first. */
  listExperiments(): ExperimentRow[] {
    this.assertOpen();
    const counts = new Map<number, Partial<Record<RunStatus, number>>>();
    for (const r of this.stmt(
      'SELECT experiment_pk, status, COUNT(*) AS n FROM runs GROUP BY experiment_pk, status',
    ).all() as {
      experiment_pk: number;
      status: RunStatus;
      n: number;
    }[]) {
      const c = counts.get(r.experiment_pk) ?? {};
      c[r.status] = r.n;
      counts.set(r.experiment_pk, c);
    }
    return (this.stmt('SELECT * FROM experiments ORDER BY created DESC, pk DESC').all() as ExperimentDbRow[]).map(
      (row) => this.experimentRow(row, counts.get(row.pk) ?? {}),
    );
  }

  /** Deletes an experiment with all its runs, their records and checkpoint folders. */
  deleteExperiment(experimentId: string): void {
    this.assertOpen();
    const pk = this.experimentPk(experimentId);
    const runs = this.stmt('SELECT pk, id FROM runs WHERE experiment_pk = ?').all(pk) as { pk: number; id: string }[];
    for (const r of runs) this.dropBuffered(r.pk);
    this.durable(() => this.stmt('DELETE FROM experiments WHERE pk = ?').run(pk));
    for (const r of runs) {
      this.runPks.delete(r.id);
      rmSync(this.checkpointDir(r.id), { recursive: true, force: true });
    }
  }

  // ---------------------------------------------------------------- runs

  /** Creates a queued run (written and synced at once). */
  createRun(input: NewRun): RunRow {
    this.assertOpen();
    const experiment = this.getExperimentDb(input.experimentId);
    const id = this.insertRun(experiment, input);
    return this.getRunRow(id);
  }

  /** Creates the experiment's runs, one per arm and seed (arms outer), in one transaction. */
  createRuns(experimentId: string, options: { totalIterations?: number | null } = {}): RunRow[] {
    this.assertOpen();
    const experiment = this.getExperimentDb(experimentId);
    const config = JSON.parse(experiment.config) as Experiment;
    const ids = this.durable(() =>
      config.arms.flatMap((arm) =>
        config.seeds.map((seed) =>
          this.insertRun(experiment, { experimentId, arm, seed, totalIterations: options.totalIterations }, false),
        ),
      ),
    );
    return ids.map((id) => this.getRunRow(id));
  }

  /** The run with its config, environment, status history and checkpoints. */
  getRun(runId: string): RunDetail {
    this.assertOpen();
    const row = this.runDbRow(runId);
    return {
      ...this.runRow(row),
      config: JSON.parse(row.config) as Experiment,
      environment: row.environment === null ? null : (JSON.parse(row.environment) as RunEnvironment),
      history: this.history(row.pk),
      checkpoints: this.listCheckpoints(runId),
    };
  }

  /** Runs, newest first, optionally of one experiment and/or in some statuses. */
  listRuns(filter: RunFilter = {}): RunRow[] {
    this.assertOpen();
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.experimentId !== undefined) {
      where.push('r.experiment_pk = ?');
      params.push(this.experimentPk(filter.experimentId));
    }
    if (filter.status !== undefined) {
      const statuses: readonly RunStatus[] = typeof filter.status === 'string' ? [filter.status] : filter.status;
      for (const s of statuses)
        if (!RUN_STATUSES.includes(s)) throw new StoreError(`unknown status "${s}"`, 'BAD_ARGUMENT');
      where.push(`r.status IN (${statuses.map(() => '?').join(', ') || 'NULL'})`);
      params.push(...statuses);
    }
    params.push(filter.limit ?? -1, filter.offset ?? 0);
    const rows = this.stmt(
      `${RUN_SELECT} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY r.created DESC, r.pk DESC LIMIT ? OFFSET ?`,
    ).all(...params) as RunDbRow[];
    return rows.map((r) => this.runRow(r));
  }

  /**
   * Moves a run to another status (see STATUS_TRANSITIONS), with a status-history row; buffered records are
   * flushed first, so a finished run has all its records. Setting the status it already has does nothing.
   * started is set the first time a run enters 'running'; ended when it finishes, fails or is cancelled (and cleared
   * when it is queued again); failureReason holds the reason of 'failed'.
   */
  setStatus(runId: string, to: RunStatus, reason: string | null = null): RunRow {
    this.assertOpen();
    if (!RUN_STATUSES.includes(to)) throw new StoreError(`unknown status "${to}"`, 'BAD_ARGUMENT');
    const row = this.runDbRow(runId);
    if (row.status === to) return this.runRow(row);
    if (!STATUS_TRANSITIONS[row.status].includes(to)) throw new InvalidTransitionError(runId, row.status, to);
    this.flush();
    const now = this.now();
    const started = row.started ?? (to === 'running' ? now : null);
    const ended = hasEnded(to) ? now : to === 'interrupted' || to === 'waiting' ? row.ended : null;
    const failureReason = to === 'failed' ? (reason ?? 'unknown reason') : null;
    this.durable(() => {
      this.stmt('UPDATE runs SET status = ?, started = ?, ended = ?, failure_reason = ? WHERE pk = ?').run(
        to,
        started,
        ended,
        failureReason,
        row.pk,
      );
      this.addHistory(row.pk, row.status, to, reason, now);
    });
    return this.getRunRow(runId);
  }

  /**
   * At startup of the process that trains: runs left 'running' or 'waiting' by a previous process become
   * 'interrupted' (resumable from their latest checkpoint), each with a status-history row. Returns their ids.
   * Only that process may call it: another one (a CLI listing runs) would interrupt runs that are alive.
   */
  markInterrupted(reason?: string): string[] {
    this.assertOpen();
    const rows = this.stmt(
      "SELECT pk, id, status FROM runs WHERE status IN ('running', 'waiting') ORDER BY pk",
    ).all() as {
      pk: number;
      id: string;
      status: RunStatus;
    }[];
    if (rows.length === 0) return [];
    const now = this.now();
    this.durable(() => {
      for (const r of rows) {
        this.stmt("UPDATE runs SET status = 'interrupted' WHERE pk = ?").run(r.pk);
        this.addHistory(
          r.pk,
          r.status,
          'interrupted',
          reason ?? `SparseLab stopped while the run was ${r.status}; found at startup`,
          now,
        );
      }
    });
    return rows.map((r) => r.id);
  }

  /** Records what the run runs on (versions, adapters, seed, host); replaces what was there. */
  setEnvironment(runId: string, environment: RunEnvironment): void {
    this.assertOpen();
    const pk = this.runPk(runId);
    this.durable(() => this.stmt('UPDATE runs SET environment = ? WHERE pk = ?').run(JSON.stringify(environment), pk));
  }

  /**
   * Sets progress fields (undefined = unchanged). Iteration and epoch also follow the rank-0 iteration records
   * on each flush, so this is mostly for totalIterations.
   */
  setProgress(runId: string, progress: Progress): void {
    this.assertOpen();
    const pk = this.runPk(runId);
    const sets: string[] = [];
    const params: unknown[] = [];
    for (const [field, column] of [
      ['iteration', 'iteration'],
      ['epoch', 'epoch'],
      ['totalIterations', 'total_iterations'],
    ] as const) {
      if (progress[field] === undefined) continue;
      sets.push(`${column} = ?`);
      params.push(progress[field]);
    }
    if (sets.length === 0) return;
    if (progress.iteration !== undefined || progress.epoch !== undefined) this.progress.delete(pk);
    this.durable(() => this.stmt(`UPDATE runs SET ${sets.join(', ')} WHERE pk = ?`).run(...params, pk));
  }

  /**
   * For a resume from the checkpoint at `iteration`: deletes the run's records and checkpoints after it
   * (iterations, evaluations, statistics, histograms; logs stay), and sets its progress back.
   */
  discardAfter(runId: string, iteration: number): void {
    this.assertOpen();
    const pk = this.runPk(runId);
    this.flush();
    const doomed = this.stmt('SELECT path FROM checkpoints WHERE run_pk = ? AND iteration > ?').all(pk, iteration) as {
      path: string;
    }[];
    this.durable(() => {
      for (const table of ['iterations', 'evaluations', 'layer_stats', 'histograms', 'checkpoints'])
        this.stmt(`DELETE FROM ${table} WHERE run_pk = ? AND iteration > ?`).run(pk, iteration);
      const last = this.stmt(
        'SELECT iteration, epoch FROM iterations WHERE run_pk = ? AND rank = 0 ORDER BY iteration DESC LIMIT 1',
      ).get(pk) as { iteration: number; epoch: number | null } | undefined;
      this.stmt('UPDATE runs SET iteration = ?, epoch = ? WHERE pk = ?').run(
        last?.iteration ?? null,
        last?.epoch ?? null,
        pk,
      );
    });
    for (const c of doomed) rmSync(c.path, { force: true });
  }

  /** Deletes a run, everything it recorded and its checkpoints folder. */
  deleteRun(runId: string): void {
    this.assertOpen();
    const pk = this.runPk(runId);
    this.dropBuffered(pk);
    this.durable(() => this.stmt('DELETE FROM runs WHERE pk = ?').run(pk));
    this.runPks.delete(runId);
    rmSync(this.checkpointDir(runId), { recursive: true, force: true });
  }

  // ---------------------------------------------------------------- buffered records

  appendIteration(record: IterationRecord): void {
    const pk = this.appendPk(record.runId);
    this.buffers.iterations.push(recordParams('iteration', ITERATION_FIELDS, record, pk));
    if (record.rank === 0) this.progress.set(pk, [record.iteration, record.epoch]);
    this.added();
  }

  appendLayerStats(record: LayerStatsRecord): void {
    const pk = this.appendPk(record.runId);
    this.buffers.layerStats.push(recordParams('layer statistics', LAYER_STATS_FIELDS, record, pk));
    this.added();
  }

  appendHistogram(record: HistogramRecord): void {
    const pk = this.appendPk(record.runId);
    const params = recordParams('histogram', HISTOGRAM_FIELDS, record, pk);
    params.push(encodeCounts(record.counts));
    this.buffers.histograms.push(params);
    this.added();
  }

  appendEvaluation(record: EvaluationRecord): void {
    const pk = this.appendPk(record.runId);
    this.buffers.evaluations.push(recordParams('evaluation', EVALUATION_FIELDS, record, pk));
    this.added();
  }

  appendLog(record: LogRecord): void {
    this.assertOpen();
    const pk = record.runId === null ? null : this.runPk(record.runId);
    if (!LOG_LEVELS.includes(record.level))
      throw new InvalidRecordError('log', `level must be one of ${LOG_LEVELS.join(', ')}, got ${String(record.level)}`);
    if (record.rank !== null && (!Number.isSafeInteger(record.rank) || record.rank < 0))
      throw new InvalidRecordError('log', `rank must be a non-negative integer or null, got ${String(record.rank)}`);
    if (typeof record.time !== 'number' || !Number.isFinite(record.time))
      throw new InvalidRecordError('log', `time must be a finite number, got ${String(record.time)}`);
    if (record.workerId !== null && typeof record.workerId !== 'string')
      throw new InvalidRecordError('log', `workerId must be a string or null`);
    this.buffers.logs.push([pk, record.workerId, record.rank, record.level, String(record.message), record.time]);
    this.added();
  }

  /** Records waiting in the buffer. */
  get pending(): number {
    return this.buffered;
  }

  /**
   * Writes the buffered records in one transaction and returns how many. Throws if the database refuses (the
   * records stay buffered); records of runs deleted meanwhile (by another process) are dropped.
   */
  flush(): number {
    this.assertOpen();
    if (this.buffered === 0 && this.progress.size === 0) return 0;
    try {
      this.writeBatch();
    } catch (error) {
      if (!String((error as { code?: string }).code).startsWith('SQLITE_CONSTRAINT_FOREIGNKEY')) throw error;
      // A run was deleted by another process: forget it and its records, then write the rest.
      for (const [id, pk] of [...this.runPks]) {
        if (this.stmt('SELECT 1 FROM runs WHERE pk = ?').get(pk) !== undefined) continue;
        this.runPks.delete(id);
        this.dropBuffered(pk);
      }
      this.writeBatch();
    }
    const written = this.buffered;
    this.buffers = emptyBuffers();
    this.progress = new Map();
    this.buffered = 0;
    this.failing = false;
    return written;
  }

  // ---------------------------------------------------------------- workers

  /** A worker connected or reported in: first seen is kept, the rest updated. */
  workerSeen(worker: WorkerSeen): void {
    this.assertOpen();
    const now = this.now();
    this.stmt(
      `INSERT INTO workers (id, host, capabilities, first_seen, last_seen) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET host = excluded.host, capabilities = excluded.capabilities,
       last_seen = excluded.last_seen`,
    ).run(worker.id, worker.host, JSON.stringify(worker.capabilities ?? null), now, now);
  }

  /** Most recently seen first. */
  listWorkers(): WorkerRow[] {
    this.assertOpen();
    return (
      this.stmt('SELECT * FROM workers ORDER BY last_seen DESC, id').all() as {
        id: string;
        host: string;
        capabilities: string;
        first_seen: number;
        last_seen: number;
      }[]
    ).map((r) => ({
      id: r.id,
      host: r.host,
      capabilities: JSON.parse(r.capabilities) as unknown,
      firstSeen: r.first_seen,
      lastSeen: r.last_seen,
    }));
  }

  // ---------------------------------------------------------------- series

  /**
   * Iteration records of a run by iteration (then rank), with the chosen columns. `points` decimates: iterations
   * first + j * stride with stride = ceil((last - first) / (points - 1)), plus the last one, so at most `points`
   * iterations come back (fewer where iterations are missing).
   */
  iterationSeries<F extends IterationField = IterationField>(
    runId: string,
    options: IterationSeriesOptions<F> = {},
  ): IterationPoint<F>[] {
    this.assertOpen();
    const pk = this.runPk(runId);
    const byField = new Map(ITERATION_FIELDS.map((f) => [f.field, f]));
    const wanted = new Set<string>(['iteration', 'rank', ...(options.columns ?? ITERATION_FIELDS.map((f) => f.field))]);
    const fields = [...wanted].map((name) => {
      const f = byField.get(name);
      if (!f)
        throw new StoreError(
          `unknown iteration column "${name}"; columns are ${ITERATION_FIELDS.map((c) => c.field).join(', ')}`,
          'BAD_ARGUMENT',
        );
      return f;
    });
    const where = ['run_pk = ?'];
    const params: unknown[] = [pk];
    const allRanks = options.ranks === 'all';
    if (!allRanks) where.push('rank = 0');
    if (options.from !== undefined) {
      where.push('iteration >= ?');
      params.push(options.from);
    }
    if (options.to !== undefined) {
      where.push('iteration <= ?');
      params.push(options.to);
    }
    if (options.points !== undefined) {
      const points = Math.floor(options.points);
      if (!(points >= 1)) throw new StoreError(`points must be at least 1, got ${options.points}`, 'BAD_ARGUMENT');
      const range = this.stmt(
        `SELECT MIN(iteration) AS lo, MAX(iteration) AS hi FROM iterations WHERE ${where.join(' AND ')}`,
      ).get(...params) as { lo: number | null; hi: number | null };
      if (range.lo === null || range.hi === null) return [];
      if (points === 1) {
        where.push('iteration = ?');
        params.push(range.hi);
      } else {
        const stride = Math.max(1, Math.ceil((range.hi - range.lo) / (points - 1)));
        if (stride > 1) {
          where.push('((iteration - ?) % ? = 0 OR iteration = ?)');
          params.push(range.lo, stride, range.hi);
        }
      }
    }
    const rows = this.stmt(
      `SELECT ${columnList(fields)} FROM iterations WHERE ${where.join(' AND ')}
       ORDER BY iteration${allRanks ? ', rank' : ''}`,
      true,
    ).all(...params) as unknown[][];
    return recordsFromRaw(fields, rows) as IterationPoint<F>[];
  }

  /** Every evaluation of a run, by iteration. */
  evaluationSeries(runId: string): EvaluationRecord[] {
    this.assertOpen();
    const pk = this.runPk(runId);
    const rows = this.stmt(
      `SELECT ${columnList(EVALUATION_FIELDS)} FROM evaluations WHERE run_pk = ? ORDER BY iteration`,
      true,
    ).all(pk) as unknown[][];
    return recordsFromRaw(EVALUATION_FIELDS, rows, runId) as unknown as EvaluationRecord[];
  }

  /** Per-layer statistics by iteration, then layer; optionally one layer and an inclusive iteration range. */
  layerStatsSeries(runId: string, options: LayerStatsOptions = {}): LayerStatsRecord[] {
    this.assertOpen();
    const pk = this.runPk(runId);
    const where = ['run_pk = ?'];
    const params: unknown[] = [pk];
    if (options.layer !== undefined) {
      where.push('layer = ?');
      params.push(options.layer);
    }
    if (options.from !== undefined) {
      where.push('iteration >= ?');
      params.push(options.from);
    }
    if (options.to !== undefined) {
      where.push('iteration <= ?');
      params.push(options.to);
    }
    const rows = this.stmt(
      `SELECT ${columnList(LAYER_STATS_FIELDS)} FROM layer_stats WHERE ${where.join(' AND ')}
       ORDER BY iteration, layer`,
      true,
    ).all(...params) as unknown[][];
    return recordsFromRaw(LAYER_STATS_FIELDS, rows, runId) as unknown as LayerStatsRecord[];
  }

  /** Layers a run has statistics or histograms for, sorted. */
  layerNames(runId: string): string[] {
    this.assertOpen();
    const pk = this.runPk(runId);
    return (
      this.stmt(
        'SELECT DISTINCT layer FROM layer_stats WHERE run_pk = ? UNION SELECT DISTINCT layer FROM histograms WHERE run_pk = ? ORDER BY layer',
      ).all(pk, pk) as { layer: string }[]
    ).map((r) => r.layer);
  }

  /** Histograms by iteration, then layer; optionally of one layer and/or one iteration. */
  histograms(runId: string, options: HistogramOptions = {}): HistogramRecord[] {
    this.assertOpen();
    const pk = this.runPk(runId);
    const where = ['run_pk = ?'];
    const params: unknown[] = [pk];
    if (options.layer !== undefined) {
      where.push('layer = ?');
      params.push(options.layer);
    }
    if (options.iteration !== undefined) {
      where.push('iteration = ?');
      params.push(options.iteration);
    }
    const rows = this.stmt(
      `SELECT ${columnList(HISTOGRAM_FIELDS)}, counts FROM histograms WHERE ${where.join(' AND ')}
       ORDER BY iteration, layer`,
      true,
    ).all(...params) as unknown[][];
    const records = recordsFromRaw(HISTOGRAM_FIELDS, rows, runId);
    return records.map((r, i) => {
      const { iteration, layer, min, max, mean, std, skewness, excessKurtosis } = r;
      const counts = decodeCounts(rows[i]![HISTOGRAM_FIELDS.length] as Buffer);
      return { runId, iteration, layer, min, max, counts, mean, std, skewness, excessKurtosis } as HistogramRecord;
    });
  }

  /** Log entries of a run (or, with null, those of no run), oldest first. */
  logs(runId: string | null, options: LogOptions = {}): LogEntry[] {
    this.assertOpen();
    const where: string[] = [];
    const params: unknown[] = [];
    if (runId === null) where.push('l.run_pk IS NULL');
    else {
      where.push('l.run_pk = ?');
      params.push(this.runPk(runId));
    }
    if (options.rank !== undefined) {
      if (options.rank === null) where.push('l.rank IS NULL');
      else {
        where.push('l.rank = ?');
        params.push(options.rank);
      }
    }
    if (options.level !== undefined) {
      if (!LOG_LEVELS.includes(options.level))
        throw new StoreError(`unknown log level "${String(options.level)}"`, 'BAD_ARGUMENT');
      const levels = LOG_LEVELS.slice(LOG_LEVELS.indexOf(options.level));
      where.push(`l.level IN (${levels.map(() => '?').join(', ')})`);
      params.push(...levels);
    }
    if (options.afterId !== undefined) {
      where.push('l.id > ?');
      params.push(options.afterId);
    }
    const select = `SELECT l.id, r.id AS runId, l.worker_id AS workerId, l.rank, l.level, l.message, l.time
      FROM logs l LEFT JOIN runs r ON r.pk = l.run_pk WHERE ${where.join(' AND ')}`;
    if (options.tail !== undefined)
      return (
        this.stmt(`SELECT * FROM (${select} ORDER BY l.id DESC LIMIT ?) ORDER BY id`).all(
          ...params,
          options.tail,
        ) as LogEntry[]
      ).map(logEntry);
    return (this.stmt(`${select} ORDER BY l.id LIMIT ?`).all(...params, options.limit ?? -1) as LogEntry[]).map(
      logEntry,
    );
  }

  // ---------------------------------------------------------------- summaries and export

  /**
   * A run in numbers. `target` overrides the config's evaluation.target; accuracy targets are reached at >=,
   * perplexity targets (runs whose evaluations have no accuracy) at <=.
   */
  summary(runId: string, options: { target?: number } = {}): RunSummary {
    this.assertOpen();
    const row = this.runDbRow(runId);
    const agg = this.stmt(
      `SELECT COUNT(DISTINCT iteration) AS iterations, MAX(iteration) AS last,
        AVG(compute_ms) AS compute, AVG(compress_ms) AS compress, AVG(communicate_ms) AS communicate,
        AVG(wait_ms) AS wait, AVG(cpu_wait_ms) AS cpuWait, AVG(compute_cpu_wait_ms) AS computeCpuWait,
        AVG(compress_cpu_wait_ms) AS compressCpuWait, AVG(update_cpu_wait_ms) AS updateCpuWait,
        AVG(update_ms) AS updt, AVG(compute_ms + compress_ms + communicate_ms + update_ms) AS total,
        AVG(bytes_sent) AS sent, AVG(bytes_received) AS received
       FROM iterations WHERE run_pk = ?`,
    ).get(row.pk) as {
      iterations: number;
      last: number | null;
      compute: number | null;
      compress: number | null;
      communicate: number | null;
      wait: number | null;
      cpuWait: number | null;
      computeCpuWait: number | null;
      compressCpuWait: number | null;
      updateCpuWait: number | null;
      updt: number | null;
      total: number | null;
      sent: number | null;
      received: number | null;
    };
    const final =
      agg.last === null
        ? undefined
        : (this.stmt(
            'SELECT AVG(loss) AS loss, MAX(epoch) AS epoch FROM iterations WHERE run_pk = ? AND iteration = ?',
          ).get(row.pk, agg.last) as { loss: number | null; epoch: number | null });
    const evaluations = this.evaluationSeries(runId);
    const last = evaluations[evaluations.length - 1];
    const accuracies = evaluations.filter((e) => e.accuracy !== undefined && !Number.isNaN(e.accuracy));
    const perplexities = evaluations.filter((e) => e.perplexity !== undefined && !Number.isNaN(e.perplexity));
    const config = JSON.parse(row.config) as Experiment;
    const targetValue = options.target ?? config.evaluation?.target;
    let target: TargetResult | null = null;
    if (targetValue !== undefined && (accuracies.length > 0 || perplexities.length > 0)) {
      const metric = accuracies.length > 0 ? 'accuracy' : 'perplexity';
      const hit =
        metric === 'accuracy'
          ? accuracies.find((e) => e.accuracy! >= targetValue)
          : perplexities.find((e) => e.perplexity! <= targetValue);
      target = {
        metric,
        value: targetValue,
        reached: hit !== undefined,
        wallMs: hit?.wallMs ?? null,
        iteration: hit?.iteration ?? null,
        epoch: hit?.epoch ?? null,
      };
    }
    return {
      runId,
      experimentId: row.experiment_id,
      arm: row.arm_name,
      seed: row.seed,
      status: row.status,
      iterations: agg.iterations,
      lastIteration: agg.last,
      lastEpoch: final?.epoch ?? null,
      finalLoss: final?.loss ?? null,
      finalTestLoss: last?.testLoss ?? null,
      finalAccuracy: last?.accuracy ?? null,
      finalPerplexity: last?.perplexity ?? null,
      bestAccuracy: accuracies.length ? Math.max(...accuracies.map((e) => e.accuracy!)) : null,
      bestPerplexity: perplexities.length ? Math.min(...perplexities.map((e) => e.perplexity!)) : null,
      target,
      meanIterationMs: agg.total,
      meanComputeMs: agg.compute,
      meanCompressMs: agg.compress,
      meanCommunicateMs: agg.communicate,
      meanWaitMs: agg.wait,
      meanCpuWaitMs: agg.cpuWait,
      meanComputeCpuWaitMs: agg.computeCpuWait,
      meanCompressCpuWaitMs: agg.compressCpuWait,
      meanUpdateCpuWaitMs: agg.updateCpuWait,
      meanUpdateMs: agg.updt,
      meanBytesSent: agg.sent,
      meanBytesReceived: agg.received,
      durationMs: row.started === null ? null : (row.ended ?? this.now()) - row.started,
    };
  }

  /** Summaries of an experiment's runs, newest first. */
  summaries(experimentId: string, options: { target?: number } = {}): RunSummary[] {
    return this.listRuns({ experimentId }).map((r) => this.summary(r.id, options));
  }

  /**
   * A table of a run as CSV with a header row: iterations (every rank, by iteration then rank), evaluations or
   * layerStats. Columns are the record fields, in the order of their tables; absent values are empty cells.
   */
  exportCsv(runId: string, table: CsvTable): string {
    let out = '';
    for (const line of this.csvLines(runId, table)) out += line;
    return out;
  }

  /** exportCsv, streamed to a file; returns the number of data rows. */
  exportCsvToFile(runId: string, table: CsvTable, path: string): number {
    const fd = openSync(path, 'w');
    let rows = -1;
    try {
      let chunk = '';
      for (const line of this.csvLines(runId, table)) {
        chunk += line;
        rows++;
        if (chunk.length > 1 << 16) {
          writeSync(fd, chunk);
          chunk = '';
        }
      }
      writeSync(fd, chunk);
    } finally {
      closeSync(fd);
    }
    return rows;
  }

  /** Everything a run recorded, as one JSON-ready object (NaN becomes null under JSON.stringify). */
  exportJson(runId: string): RunExport {
    this.assertOpen();
    const run = this.getRun(runId);
    const experiment = this.getExperiment(run.experimentId);
    const iterations = this.iterationSeries(runId, { ranks: 'all' }).map((r) => ({ runId, ...r })) as IterationRecord[];
    return {
      format: 'sparselab-run',
      formatVersion: 1,
      exportedAt: this.now(),
      experiment: {
        id: experiment.id,
        name: experiment.name,
        config: experiment.config,
        sourceFile: experiment.sourceFile,
        created: experiment.created,
      },
      run,
      summary: this.summary(runId),
      iterations,
      evaluations: this.evaluationSeries(runId),
      layerStats: this.layerStatsSeries(runId),
      histograms: this.histograms(runId),
      logs: this.logs(runId),
    };
  }

  // ---------------------------------------------------------------- checkpoints

  /** DATA/checkpoints/RUN_ID (not created until a checkpoint is written). */
  checkpointDir(runId: string): string {
    checkId('run', runId);
    return join(this.checkpointsDir, runId);
  }

  checkpointPath(runId: string, iteration: number): string {
    return join(this.checkpointDir(runId), checkpointFileName(iteration));
  }

  /**
   * Writes a checkpoint file atomically (temporary file, fsync, rename, fsync of the folder), then records it;
   * keeps the newest `checkpointsKept` of the run. Asynchronous, so a large checkpoint does not block the loop;
   * the file's content may come as chunks, written in order without being joined first.
   */
  async writeCheckpoint(
    runId: string,
    iteration: number,
    content: Uint8Array | readonly Uint8Array[],
  ): Promise<CheckpointInfo> {
    const chunks = content instanceof Uint8Array ? [content] : content;
    this.assertOpen();
    const pk = this.runPk(runId);
    if (!Number.isSafeInteger(iteration) || iteration < 0)
      throw new StoreError(`checkpoint iteration must be a non-negative integer, got ${iteration}`, 'BAD_ARGUMENT');
    const dir = this.checkpointDir(runId);
    const path = this.checkpointPath(runId, iteration);
    const tmp = `${path}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
    await mkdir(dir, { recursive: true });
    try {
      const file = await open(tmp, 'w');
      try {
        for (const chunk of chunks) await file.writeFile(chunk); // at the file's position; loops on short writes
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(tmp, path);
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    }
    await syncFolder(dir);
    const info: CheckpointInfo = {
      iteration,
      path,
      bytes: chunks.reduce((n, chunk) => n + chunk.byteLength, 0),
      sha256: chunks.reduce((hash, chunk) => hash.update(chunk), createHash('sha256')).digest('hex'),
      created: this.now(),
    };
    this.assertOpen();
    let doomed: { iteration: number; path: string }[] = [];
    this.durable(() => {
      this.stmt(
        'INSERT OR REPLACE INTO checkpoints (run_pk, iteration, path, bytes, sha256, created) VALUES (?, ?, ?, ?, ?, ?)',
      ).run(pk, iteration, path, info.bytes, info.sha256, info.created);
      if (this.checkpointsKept > 0) {
        doomed = this.stmt(
          'SELECT iteration, path FROM checkpoints WHERE run_pk = ? ORDER BY iteration DESC LIMIT -1 OFFSET ?',
        ).all(pk, this.checkpointsKept) as { iteration: number; path: string }[];
        for (const d of doomed)
          this.stmt('DELETE FROM checkpoints WHERE run_pk = ? AND iteration = ?').run(pk, d.iteration);
      }
    });
    for (const d of doomed) if (d.path !== path) await unlink(d.path).catch(() => undefined);
    return info;
  }

  /**
   * The newest checkpoint whose file is there and intact (size and SHA-256 as recorded); an older one where the
   * newest is missing or damaged; null when there is none.
   */
  async latestCheckpoint(runId: string): Promise<LoadedCheckpoint | null> {
    for (const c of this.listCheckpoints(runId).reverse()) {
      let data: Buffer;
      try {
        data = await readFile(c.path);
      } catch {
        this.onError(new StoreError(`checkpoint ${c.path} of run "${runId}" is missing`, 'CHECKPOINT'));
        continue;
      }
      if (data.byteLength !== c.bytes || createHash('sha256').update(data).digest('hex') !== c.sha256) {
        this.onError(new StoreError(`checkpoint ${c.path} of run "${runId}" is damaged`, 'CHECKPOINT'));
        continue;
      }
      return {
        iteration: c.iteration,
        bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
        path: c.path,
      };
    }
    return null;
  }

  /** The run's checkpoints, oldest first. */
  listCheckpoints(runId: string): CheckpointInfo[] {
    this.assertOpen();
    const pk = this.runPk(runId);
    return this.stmt(
      'SELECT iteration, path, bytes, sha256, created FROM checkpoints WHERE run_pk = ? ORDER BY iteration',
    ).all(pk) as CheckpointInfo[];
  }

  // ---------------------------------------------------------------- maintenance

  /** Problems SQLite finds (integrity_check, foreign_key_check); empty when the database is sound. */
  integrityCheck(): string[] {
    this.assertOpen();
    const problems = (this.db.pragma('integrity_check') as { integrity_check: string }[])
      .map((r) => r.integrity_check)
      .filter((m) => m !== 'ok');
    for (const r of this.db.pragma('foreign_key_check') as { table: string; rowid: number; parent: string }[])
      problems.push(`${r.table} row ${r.rowid} refers to a missing ${r.parent} row`);
    return problems;
  }

  /** The schema version the database is at. */
  schemaVersion(): number {
    this.assertOpen();
    return schemaVersion(this.db);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Flushes and closes; later calls do nothing. Throws the flush's error, if any, after closing. */
  close(): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    let failure: unknown = null;
    try {
      this.flush();
    } catch (error) {
      failure = error;
    }
    try {
      this.db.pragma('optimize');
    } catch {
      // Advisory only.
    }
    this.db.close();
    this.closed = true;
    process.removeListener('exit', this.exitHook);
    if (failure) throw failure;
  }

  // ---------------------------------------------------------------- internals

  private assertOpen(): void {
    if (this.closed) throw new StoreClosedError(this.dbPath);
  }

  /** A cached prepared statement; raw ones (rows as arrays) are cached apart, as raw mode sticks to a statement. */
  private stmt(sql: string, raw = false): Database.Statement {
    const key = raw ? `raw:${sql}` : sql;
    let s = this.statements.get(key);
    if (!s) {
      s = this.db.prepare(sql);
      if (raw) s.raw(true);
      if (this.statements.size > 500) this.statements.clear();
      this.statements.set(key, s);
    }
    return s;
  }

  /** A transaction committed with synchronous=FULL: on disk when it returns, even across a power cut. */
  private durable<T>(fn: () => T): T {
    if (this.db.inTransaction) return fn();
    this.db.pragma('synchronous = FULL');
    try {
      return this.db.transaction(fn)();
    } finally {
      this.db.pragma('synchronous = NORMAL');
    }
  }

  private runPk(runId: string): number {
    const cached = this.runPks.get(runId);
    if (cached !== undefined) return cached;
    const row = this.stmt('SELECT pk FROM runs WHERE id = ?').get(runId) as { pk: number } | undefined;
    if (!row) throw new UnknownRunError(String(runId));
    this.runPks.set(runId, row.pk);
    return row.pk;
  }

  private appendPk(runId: string): number {
    this.assertOpen();
    return this.runPk(runId);
  }

  private experimentPk(experimentId: string): number {
    return this.getExperimentDb(experimentId).pk;
  }

  private getExperimentDb(experimentId: string): ExperimentDbRow {
    const row = this.stmt('SELECT * FROM experiments WHERE id = ?').get(experimentId) as ExperimentDbRow | undefined;
    if (!row) throw new UnknownExperimentError(experimentId);
    return row;
  }

  private statusCounts(experimentPk: number): Partial<Record<RunStatus, number>> {
    const counts: Partial<Record<RunStatus, number>> = {};
    for (const r of this.stmt('SELECT status, COUNT(*) AS n FROM runs WHERE experiment_pk = ? GROUP BY status').all(
      experimentPk,
    ) as { status: RunStatus; n: number }[])
      counts[r.status] = r.n;
    return counts;
  }

  private experimentRow(row: ExperimentDbRow, statusCounts: Partial<Record<RunStatus, number>>): ExperimentRow {
    return {
      id: row.id,
      name: row.name,
      config: JSON.parse(row.config) as Experiment,
      sourceFile: row.source_file,
      created: row.created,
      statusCounts,
      runCount: Object.values(statusCounts).reduce((a, b) => a + b, 0),
    };
  }

  private insertRun(experiment: ExperimentDbRow, input: NewRun, durable = true): string {
    if (!Number.isSafeInteger(input.seed))
      throw new StoreError(`seed must be an integer, got ${input.seed}`, 'BAD_ARGUMENT');
    const id = input.id ?? this.freshId('r', 'runs');
    checkId('run', id);
    const experimentConfig = JSON.parse(experiment.config) as Experiment;
    const config: Experiment = input.config ?? { ...experimentConfig, arms: [input.arm], seeds: [input.seed] };
    const created = this.now();
    const write = () => {
      const { lastInsertRowid } = this.stmt(
        `INSERT INTO runs (id, experiment_pk, arm_name, arm, seed, status, config, environment, created, total_iterations)
         VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)`,
      ).run(
        id,
        experiment.pk,
        armName(input.arm),
        JSON.stringify(input.arm),
        input.seed,
        JSON.stringify(config),
        input.environment ? JSON.stringify(input.environment) : null,
        created,
        input.totalIterations ?? null,
      );
      this.addHistory(Number(lastInsertRowid), null, 'queued', null, created);
    };
    if (durable) this.durable(write);
    else write();
    return id;
  }

  private addHistory(pk: number, from: RunStatus | null, to: RunStatus, reason: string | null, time: number): void {
    this.stmt('INSERT INTO status_history (run_pk, from_status, to_status, reason, time) VALUES (?, ?, ?, ?, ?)').run(
      pk,
      from,
      to,
      reason,
      time,
    );
  }

  private history(pk: number): StatusChange[] {
    return this.stmt(
      'SELECT from_status AS "from", to_status AS "to", reason, time FROM status_history WHERE run_pk = ? ORDER BY id',
    ).all(pk) as StatusChange[];
  }

  private runDbRow(runId: string): RunDbRow {
    const row = this.stmt(`${RUN_SELECT} WHERE r.id = ?`).get(runId) as RunDbRow | undefined;
    if (!row) throw new UnknownRunError(String(runId));
    return row;
  }

  private getRunRow(runId: string): RunRow {
    return this.runRow(this.runDbRow(runId));
  }

  private runRow(row: RunDbRow): RunRow {
    return {
      id: row.id,
      experimentId: row.experiment_id,
      experimentName: row.experiment_name,
      arm: row.arm_name,
      armConfig: JSON.parse(row.arm) as Arm,
      seed: row.seed,
      status: row.status,
      created: row.created,
      started: row.started,
      ended: row.ended,
      failureReason: row.failure_reason,
      iteration: row.iteration,
      epoch: row.epoch,
      totalIterations: row.total_iterations,
    };
  }

  private freshId(prefix: string, table: 'experiments' | 'runs'): string {
    for (;;) {
      const id = `${prefix}-${this.now().toString(36)}-${randomBytes(2).toString('hex')}`;
      if (this.stmt(`SELECT 1 FROM ${table} WHERE id = ?`).get(id) === undefined) return id;
    }
  }

  private added(): void {
    this.buffered++;
    if (this.buffered >= this.maxBuffered && !this.failing) this.backgroundFlush();
    else if (this.timer === null)
      this.timer = setTimeout(() => {
        this.timer = null;
        this.backgroundFlush();
      }, this.flushIntervalMs).unref();
  }

  private backgroundFlush(): void {
    if (this.closed) return;
    try {
      this.flush();
    } catch (error) {
      this.failing = true;
      this.onError(
        new StoreError(
          `could not write ${this.buffered} buffered records to ${this.dbPath} (kept, retrying): ${describeSqliteError(error)}`,
          'FLUSH',
          { cause: error },
        ),
      );
      if (this.timer === null)
        this.timer = setTimeout(() => {
          this.timer = null;
          this.backgroundFlush();
        }, this.flushIntervalMs).unref();
    }
  }

  private writeBatch(): void {
    const b = this.buffers;
    this.db.transaction(() => {
      if (b.iterations.length) {
        const s = this.stmt(insertSql('iterations', ITERATION_FIELDS));
        for (const p of b.iterations) s.run(p);
      }
      if (b.layerStats.length) {
        const s = this.stmt(insertSql('layer_stats', LAYER_STATS_FIELDS));
        for (const p of b.layerStats) s.run(p);
      }
      if (b.histograms.length) {
        const s = this.stmt(insertSql('histograms', HISTOGRAM_FIELDS, ['counts']));
        for (const p of b.histograms) s.run(p);
      }
      if (b.evaluations.length) {
        const s = this.stmt(insertSql('evaluations', EVALUATION_FIELDS));
        for (const p of b.evaluations) s.run(p);
      }
      if (b.logs.length) {
        const s = this.stmt(
          'INSERT INTO logs (run_pk, worker_id, rank, level, message, time) VALUES (?, ?, ?, ?, ?, ?)',
        );
        for (const p of b.logs) s.run(p);
      }
      const s = this.stmt('UPDATE runs SET iteration = ?, epoch = ? WHERE pk = ?');
      for (const [pk, [iteration, epoch]] of this.progress) s.run(iteration, epoch, pk);
    })();
  }

  /** Forgets buffered records of a run (being deleted). */
  private dropBuffered(pk: number): void {
    let dropped = 0;
    for (const key of Object.keys(this.buffers) as (keyof Buffers)[]) {
      const kept = this.buffers[key].filter((p) => p[0] !== pk);
      dropped += this.buffers[key].length - kept.length;
      this.buffers[key] = kept;
    }
    this.buffered -= dropped;
    this.progress.delete(pk);
  }

  private *csvLines(runId: string, table: CsvTable): Generator<string> {
    this.assertOpen();
    const pk = this.runPk(runId);
    const [fields, sql] =
      table === 'iterations'
        ? [
            ITERATION_FIELDS,
            `SELECT ${columnList(ITERATION_FIELDS)} FROM iterations WHERE run_pk = ? ORDER BY iteration, rank`,
          ]
        : table === 'evaluations'
          ? [
              EVALUATION_FIELDS,
              `SELECT ${columnList(EVALUATION_FIELDS)} FROM evaluations WHERE run_pk = ? ORDER BY iteration`,
            ]
          : table === 'layerStats'
            ? [
                LAYER_STATS_FIELDS,
                `SELECT ${columnList(LAYER_STATS_FIELDS)} FROM layer_stats WHERE run_pk = ? ORDER BY iteration, layer`,
              ]
            : [];
    if (!fields || !sql)
      throw new StoreError(
        `unknown table "${String(table)}"; use iterations, evaluations or layerStats`,
        'BAD_ARGUMENT',
      );
    yield csvLine(fields.map((f) => f.field));
    // raw(): values in column order, no object per row. NULL is exported empty (NaN was stored as NULL).
    for (const row of this.stmt(sql, true).iterate(pk) as IterableIterator<unknown[]>) yield csvLine(row);
  }
}

const RUN_SELECT = `SELECT r.*, e.id AS experiment_id, e.name AS experiment_name
  FROM runs r JOIN experiments e ON e.pk = r.experiment_pk`;

function logEntry(row: LogEntry): LogEntry {
  return {
    id: row.id,
    runId: row.runId,
    workerId: row.workerId,
    rank: row.rank,
    level: row.level,
    message: row.message,
    time: row.time,
  };
}

function checkId(kind: string, id: string): void {
  if (typeof id !== 'string' || !ID_PATTERN.test(id))
    throw new StoreError(
      `invalid ${kind} id "${String(id)}": use letters, digits, '.', '_' and '-' (128 at most), starting with a letter or digit`,
      'BAD_ARGUMENT',
    );
}

/** Refuses, with a clear message, a file at the database path that is not an SQLite database. */
function checkDatabaseFile(path: string): void {
  if (!existsSync(path)) return;
  const stat = statSync(path);
  if (stat.isDirectory()) throw new StoreOpenError(path, 'it is a folder, not a database file');
  if (stat.size === 0) return;
  const header = Buffer.alloc(16);
  const fd = openSync(path, 'r');
  let read: number;
  try {
    read = readSync(fd, header, 0, 16, 0);
  } finally {
    closeSync(fd);
  }
  if (read < 16 || header.toString('latin1') !== SQLITE_HEADER) {
    const shown = header
      .subarray(0, read)
      .toString('latin1')
      .replace(/[^\x20-\x7e]/g, '.');
    throw new StoreOpenError(
      path,
      `it is not an SQLite database (${stat.size} bytes starting with "${shown}"); move it away or choose another data folder`,
    );
  }
}

/** fsync of a folder, so a rename in it is on disk; not possible on Windows, where it is skipped. */
async function syncFolder(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
