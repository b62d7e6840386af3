import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Experiment } from '../../../common/experiment';
import type {
  EvaluationRecord,
  HistogramRecord,
  LayerStatsRecord,
  LogRecord,
  RunStatus,
} from '../../../common/metrics';
import type { RecordKind, RecordOf } from '../../../common/records';
import type {
  CheckpointInfo,
  CsvTable,
  ExperimentRow,
  HistogramOptions,
  IterationColumn,
  IterationField,
  IterationPoint,
  IterationSeriesOptions,
  LayerStatsOptions,
  LoadedCheckpoint,
  LogEntry,
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
  StoreOptions,
  WorkerRow,
  WorkerSeen,
} from '../../../common/runs';
import { Checkpoints } from './checkpoints';
import { RunAnnotations } from './annotations';
import { Db, openDatabase } from './database';
import { claimDataFolder, releaseDataFolder } from './owner';
import { CHECKPOINTS_DIR, DB_FILE, defaultDataDir } from './paths';
import * as runs from './runs';
import { schemaVersion } from './schema';
import * as series from './series';
import { csvLines, summary, writeCsvFile } from './summaries';
import { listWorkers, workerSeen } from './workers';
import { RecordWriter } from './writer';

export { STATUS_TRANSITIONS } from './runs';

/** Opens (creating and migrating as needed) the store in `dataDir`; see Store. */
export function openStore(dataDir: string = defaultDataDir(), options: StoreOptions = {}): Store {
  return new Store(dataDir, options);
}

/**
 * SparseLab's run store: experiments, runs and everything they record, in one SQLite database (WAL), with
 * checkpoints as files beside it. This class is the one entry point; each part lives in its own module:
 * runs.ts (experiments and runs), writer.ts (buffered records), series.ts (reading records), summaries.ts
 * (summaries and export), checkpoints.ts and workers.ts.
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
  /** Whether this store holds the data folder (StoreOptions.owner). */
  private readonly owns: boolean;
  private readonly db: Db;
  private readonly writer: RecordWriter;
  private readonly checkpoints: Checkpoints;
  /** Names, notes and tags of runs (annotations.ts). */
  readonly annotations = new RunAnnotations(() => this.open());
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
    const now = options.now ?? Date.now;
    const onError = options.onError ?? ((e: Error) => console.error(`sparselab store: ${e.message}`));
    this.owns = options.owner !== undefined;
    if (options.owner !== undefined) claimDataFolder(this.dataDir, options.owner);
    try {
      this.db = new Db(
        openDatabase(this.dataDir, this.dbPath, { busyTimeoutMs: options.busyTimeoutMs, now }),
        this.dbPath,
        now,
      );
    } catch (error) {
      if (this.owns) releaseDataFolder(this.dataDir);
      throw error;
    }
    this.writer = new RecordWriter(this.db, {
      flushIntervalMs: options.flushIntervalMs ?? 200,
      maxBuffered: Math.max(1, options.maxBuffered ?? 2000),
      onError,
    });
    this.checkpoints = new Checkpoints(this.db, this.checkpointsDir, options.checkpointsKept ?? 2, onError);
    process.on('exit', this.exitHook);
  }

  // ---------------------------------------------------------------- experiments

  /** Records an experiment (its parsed config, defaults applied). */
  createExperiment(config: Experiment, options: NewExperiment = {}): ExperimentRow {
    return runs.createExperiment(this.open(), config, options);
  }

  getExperiment(experimentId: string): ExperimentRow {
    return runs.getExperiment(this.open(), experimentId);
  }

  /** Newest first. */
  listExperiments(): ExperimentRow[] {
    return runs.listExperiments(this.open());
  }

  /** Deletes an experiment with all its runs, their records and checkpoint folders. */
  deleteExperiment(experimentId: string): void {
    for (const r of runs.deleteExperiment(this.open(), experimentId)) {
      this.writer.drop(r.pk);
      this.checkpoints.removeFolder(r.id);
    }
  }

  // ---------------------------------------------------------------- runs

  /** Creates a queued run (written and synced at once). */
  createRun(input: NewRun): RunRow {
    return runs.createRun(this.open(), input);
  }

  /** Creates the experiment's runs, one per arm and seed (arms outer), in one transaction. */
  createRuns(experimentId: string, options: { totalIterations?: number | null } = {}): RunRow[] {
    return runs.createRuns(this.open(), experimentId, options);
  }

  /** The run with its config, environment, status history and checkpoints. */
  getRun(runId: string): RunDetail {
    const row = runs.runDbRow(this.open(), runId);
    return {
      ...runs.runRow(row),
      config: JSON.parse(row.config) as Experiment,
      environment: row.environment === null ? null : (JSON.parse(row.environment) as RunEnvironment),
      history: runs.history(this.db, row.pk),
      checkpoints: this.listCheckpoints(runId),
    };
  }

  /** Runs, newest first, optionally of one experiment and/or in some statuses. */
  listRuns(filter: RunFilter = {}): RunRow[] {
    return runs.listRuns(this.open(), filter);
  }

  /**
   * Moves a run to another status (see STATUS_TRANSITIONS), with a status-history row; buffered records are
   * flushed first, so a finished run has all its records. Setting the status it already has does nothing.
   * started is set the first time a run enters 'running'; ended when it finishes, fails or is cancelled (and cleared
   * when it is queued again); failureReason holds the reason of 'failed'.
   */
  setStatus(runId: string, to: RunStatus, reason: string | null = null): RunRow {
    return runs.setStatus(this.open(), runId, to, reason, () => this.flush());
  }

  /**
   * At startup of the process that trains: runs left 'running' or 'waiting' by a previous process become
   * 'interrupted' (resumable from their latest checkpoint), each with a status-history row. Returns their ids.
   * Only that process may call it: another one (a CLI listing runs) would interrupt runs that are alive.
   */
  markInterrupted(reason?: string): string[] {
    return runs.markInterrupted(this.open(), reason);
  }

  /** Records what the run runs on (versions, adapters, seed, host); replaces what was there. */
  setEnvironment(runId: string, environment: RunEnvironment): void {
    runs.setEnvironment(this.open(), runId, environment);
  }

  /**
   * Sets progress fields (undefined = unchanged). Iteration and epoch also follow the rank-0 iteration records
   * on each flush, so this is mostly for totalIterations.
   */
  setProgress(runId: string, progress: Progress): void {
    const pk = this.open().runPk(runId);
    if (progress.iteration !== undefined || progress.epoch !== undefined) this.writer.forgetProgress(pk);
    runs.setProgress(this.db, pk, progress);
  }

  /**
   * For a resume from the checkpoint at `iteration` (iterations done): deletes what the resumed run records again,
   * the iterations, statistics and histograms from that iteration on and the evaluations and checkpoints after it
   * (logs stay), and sets its progress back. -1 discards every record.
   */
  discardAfter(runId: string, iteration: number): void {
    const pk = this.open().runPk(runId);
    this.flush();
    const doomed = this.checkpoints.pathsAfter(pk, iteration);
    runs.discardRecordsAfter(this.db, pk, iteration);
    for (const path of doomed) rmSync(path, { force: true });
  }

  /** Deletes a run, everything it recorded and its checkpoints folder. */
  deleteRun(runId: string): void {
    this.writer.drop(this.open().runPk(runId));
    runs.deleteRun(this.db, runId);
    this.checkpoints.removeFolder(runId);
  }

  // ---------------------------------------------------------------- buffered records

  /** Validates a record of `kind` and buffers it; rank 0's iterations also move the run's progress. */
  append<K extends RecordKind>(kind: K, record: RecordOf<K>): void {
    this.open();
    this.writer.append(kind, record);
  }

  appendLog(record: LogRecord): void {
    this.writer.appendLog(record);
  }

  /** Records waiting in the buffer. */
  get pending(): number {
    return this.writer.pending;
  }

  /**
   * Writes the buffered records in one transaction and returns how many. Throws if the database refuses (the
   * records stay buffered); records of runs deleted meanwhile (by another process) are dropped.
   */
  flush(): number {
    return this.writer.flush();
  }

  // ---------------------------------------------------------------- workers

  /** A worker connected or reported in: first seen is kept, the rest updated. */
  workerSeen(worker: WorkerSeen): void {
    workerSeen(this.open(), worker);
  }

  /** Most recently seen first. */
  listWorkers(): WorkerRow[] {
    return listWorkers(this.open());
  }

  // ---------------------------------------------------------------- series

  /** See series.iterationSeries: rank 0 (or every rank) by iteration, decimated to `points` where given. */
  iterationSeries<F extends IterationColumn = IterationField>(
    runId: string,
    options: IterationSeriesOptions<F> = {},
  ): IterationPoint<F>[] {
    return series.iterationSeries(this.open(), runId, options);
  }

  /** Every evaluation of a run, by iteration. */
  evaluationSeries(runId: string): EvaluationRecord[] {
    return series.evaluationSeries(this.open(), runId);
  }

  /** Per-layer statistics by iteration, then layer; optionally one layer and an inclusive iteration range. */
  layerStatsSeries(runId: string, options: LayerStatsOptions = {}): LayerStatsRecord[] {
    return series.layerStatsSeries(this.open(), runId, options);
  }

  /** Layers a run has statistics or histograms for, sorted. */
  layerNames(runId: string): string[] {
    return series.layerNames(this.open(), runId);
  }

  /** Histograms by iteration, then layer; optionally of one layer and/or one iteration. */
  histograms(runId: string, options: HistogramOptions = {}): HistogramRecord[] {
    return series.histograms(this.open(), runId, options);
  }

  /** Log entries of a run (or, with null, those of no run), oldest first. */
  logs(runId: string | null, options: LogOptions = {}): LogEntry[] {
    return series.logs(this.open(), runId, options);
  }

  // ---------------------------------------------------------------- summaries and export

  /**
   * A run in numbers. `target` overrides the config's evaluation.target; accuracy targets are reached at >=,
   * perplexity targets (runs whose evaluations have no accuracy) at <=.
   */
  summary(runId: string, options: { target?: number } = {}): RunSummary {
    return summary(this.open(), runId, options);
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
    for (const line of csvLines(this.open(), runId, table)) out += line;
    return out;
  }

  /** exportCsv, streamed to a file; returns the number of data rows. */
  exportCsvToFile(runId: string, table: CsvTable, path: string): number {
    return writeCsvFile(csvLines(this.open(), runId, table), path);
  }

  /** Everything a run recorded, as one JSON-ready object (NaN becomes null under JSON.stringify). */
  exportJson(runId: string): RunExport {
    const run = this.getRun(runId);
    const experiment = this.getExperiment(run.experimentId);
    const iterations = this.iterationSeries(runId, { ranks: 'all' }).map((r) => ({ runId, ...r }));
    return {
      format: 'sparselab-run',
      formatVersion: 1,
      exportedAt: this.db.now(),
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
    return this.checkpoints.dir(runId);
  }

  checkpointPath(runId: string, iteration: number): string {
    return this.checkpoints.path(runId, iteration);
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
    this.open();
    return this.checkpoints.write(runId, iteration, content);
  }

  /**
   * The newest checkpoint whose file is there and intact (size and SHA-256 as recorded); an older one where the
   * newest is missing or damaged; null when there is none.
   */
  async latestCheckpoint(runId: string): Promise<LoadedCheckpoint | null> {
    this.open();
    return this.checkpoints.latest(runId);
  }

  /** The run's checkpoints, oldest first. */
  listCheckpoints(runId: string): CheckpointInfo[] {
    this.open();
    return this.checkpoints.list(runId);
  }

  // ---------------------------------------------------------------- maintenance

  /** Problems SQLite finds (integrity_check, foreign_key_check); empty when the database is sound. */
  integrityCheck(): string[] {
    const { sqlite } = this.open();
    const problems = (sqlite.pragma('integrity_check') as { integrity_check: string }[])
      .map((r) => r.integrity_check)
      .filter((m) => m !== 'ok');
    for (const r of sqlite.pragma('foreign_key_check') as { table: string; rowid: number; parent: string }[])
      problems.push(`${r.table} row ${r.rowid} refers to a missing ${r.parent} row`);
    return problems;
  }

  /** The schema version the database is at. */
  schemaVersion(): number {
    return schemaVersion(this.open().sqlite);
  }

  get isClosed(): boolean {
    return this.db.isClosed;
  }

  /** Flushes and closes (giving back the data folder it holds); later calls do nothing. Throws the flush's error, if any, after closing. */
  close(): void {
    if (this.db.isClosed) return;
    this.writer.stop();
    let failure: unknown = null;
    try {
      this.flush();
    } catch (error) {
      failure = error;
    }
    this.db.close();
    process.removeListener('exit', this.exitHook);
    if (this.owns) releaseDataFolder(this.dataDir);
    if (failure) throw failure;
  }

  /** The database, checked open. */
  private open(): Db {
    this.db.assertOpen();
    return this.db;
  }
}
