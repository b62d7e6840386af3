/**
 * The buffered record writer: records (iterations, statistics, histograms, evaluations, logs) wait in memory and
 * are written in one transaction every `flushIntervalMs`, when `maxBuffered` are waiting, or on flush(). A flushed
 * record survives the process being killed; a record still in the buffer does not.
 */
import { LOG_LEVELS, type LogRecord } from '../../../common/metrics';
import { RECORDS, type RecordKind } from '../../../common/records';
import { TABLE_FIELDS, recordParams } from './columns';
import { describeSqliteError, type Db } from './database';
import { InvalidRecordError, StoreError } from './errors';

const KIND_NAMES: Record<RecordKind, string> = {
  iteration: 'iteration',
  evaluation: 'evaluation',
  layerStats: 'layer statistics',
  histogram: 'histogram',
};

type Buffers = Record<RecordKind | 'logs', unknown[][]>;

function emptyBuffers(): Buffers {
  return { iteration: [], evaluation: [], layerStats: [], histogram: [], logs: [] };
}

/**
 * The INSERT of one record kind's stored fields, run_pk first. Records are append-only: a second record for
 * the same key (run, rank, iteration...) is ignored, never replaces the first (a resume discards what it will
 * record again first).
 */
function insertSql(kind: RecordKind): string {
  const columns = ['run_pk', ...TABLE_FIELDS[kind].map((f) => f.column)];
  return `INSERT OR IGNORE INTO ${RECORDS[kind].table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`;
}

export interface WriterOptions {
  flushIntervalMs: number;
  maxBuffered: number;
  onError: (error: Error) => void;
}

export class RecordWriter {
  private buffers: Buffers = emptyBuffers();
  /** Last (iteration, epoch) rank 0 appended, per run pk. */
  private progress = new Map<number, [number, number]>();
  private buffered = 0;
  private timer: NodeJS.Timeout | null = null;
  /** A background flush failed: size-triggered flushes wait for the timer's retry. */
  private failing = false;

  constructor(
    private readonly db: Db,
    private readonly options: WriterOptions,
  ) {}

  /** Validates a record of `kind` and buffers it; rank 0's iterations also move the run's progress. */
  append(kind: RecordKind, record: { runId: string }): void {
    const pk = this.db.runPk(record.runId);
    this.buffers[kind].push(recordParams(KIND_NAMES[kind], TABLE_FIELDS[kind], record, pk));
    if (kind === 'iteration') {
      const { rank, iteration, epoch } = record as unknown as { rank: number; iteration: number; epoch: number };
      if (rank === 0) this.progress.set(pk, [iteration, epoch]);
    }
    this.added();
  }

  appendLog(record: LogRecord): void {
    this.db.assertOpen();
    const pk = record.runId === null ? null : this.db.runPk(record.runId);
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

  get pending(): number {
    return this.buffered;
  }

  /** Writes the buffered records in one transaction and returns how many; see Store.flush. */
  flush(): number {
    this.db.assertOpen();
    if (this.buffered === 0 && this.progress.size === 0) return 0;
    try {
      this.writeBatch();
    } catch (error) {
      if (!String((error as { code?: string }).code).startsWith('SQLITE_CONSTRAINT_FOREIGNKEY')) throw error;
      // A run was deleted by another process: forget it and its records, then write the rest.
      for (const pk of this.db.forgetDeletedRuns()) this.drop(pk);
      this.writeBatch();
    }
    const written = this.buffered;
    this.buffers = emptyBuffers();
    this.progress = new Map();
    this.buffered = 0;
    this.failing = false;
    return written;
  }

  /** Forgets a run's buffered records (the run is being deleted). */
  drop(pk: number): void {
    let dropped = 0;
    for (const key of Object.keys(this.buffers) as (keyof Buffers)[]) {
      const kept = this.buffers[key].filter((p) => p[0] !== pk);
      dropped += this.buffers[key].length - kept.length;
      this.buffers[key] = kept;
    }
    this.buffered -= dropped;
    this.progress.delete(pk);
  }

  /** Forgets the progress rank 0's records would set (set explicitly instead). */
  forgetProgress(pk: number): void {
    this.progress.delete(pk);
  }

  /** Stops the timer; a later append starts it again. */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private added(): void {
    this.buffered++;
    if (this.buffered >= this.options.maxBuffered && !this.failing) this.backgroundFlush();
    else if (this.timer === null) this.retryLater();
  }

  private retryLater(): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      this.backgroundFlush();
    }, this.options.flushIntervalMs).unref();
  }

  private backgroundFlush(): void {
    if (this.db.isClosed) return;
    try {
      this.flush();
    } catch (error) {
      this.failing = true;
      this.options.onError(
        new StoreError(
          `could not write ${this.buffered} buffered records to ${this.db.path} (kept, retrying): ${describeSqliteError(error)}`,
          'FLUSH',
          { cause: error },
        ),
      );
      if (this.timer === null) this.retryLater();
    }
  }

  private writeBatch(): void {
    const b = this.buffers;
    this.db.sqlite.transaction(() => {
      for (const kind of Object.keys(RECORDS) as RecordKind[]) {
        if (b[kind].length === 0) continue;
        const s = this.db.stmt(insertSql(kind));
        for (const p of b[kind]) s.run(p);
      }
      if (b.logs.length) {
        const s = this.db.stmt(
          'INSERT INTO logs (run_pk, worker_id, rank, level, message, time) VALUES (?, ?, ?, ?, ?, ?)',
        );
        for (const p of b.logs) s.run(p);
      }
      const s = this.db.stmt('UPDATE runs SET iteration = ?, epoch = ? WHERE pk = ?');
      for (const [pk, [iteration, epoch]] of this.progress) s.run(iteration, epoch, pk);
    })();
  }
}
