import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { StoreClosedError, StoreError, StoreOpenError, UnknownExperimentError, UnknownRunError } from './errors';
import { SCHEMA_VERSION, migrate, schemaVersion, userTables } from './schema';

const SQLITE_HEADER = 'SQLite format 3\0';
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * The open SQLite database and what every store module needs of it: cached statements, durable transactions and
 * the integer keys of runs and experiments.
 */
export class Db {
  private readonly statements = new Map<string, Database.Statement>();
  private readonly runPks = new Map<string, number>();
  private closed = false;

  constructor(
    readonly sqlite: Database.Database,
    readonly path: string,
    readonly now: () => number,
  ) {}

  get isClosed(): boolean {
    return this.closed;
  }

  assertOpen(): void {
    if (this.closed) throw new StoreClosedError(this.path);
  }

  /** A cached prepared statement; raw ones (rows as arrays) are cached apart, as raw mode sticks to a statement. */
  stmt(sql: string, raw = false): Database.Statement {
    const key = raw ? `raw:${sql}` : sql;
    let s = this.statements.get(key);
    if (!s) {
      s = this.sqlite.prepare(sql);
      if (raw) s.raw(true);
      if (this.statements.size > 500) this.statements.clear();
      this.statements.set(key, s);
    }
    return s;
  }

  /** A transaction committed with synchronous=FULL: on disk when it returns, even across a power cut. */
  durable<T>(fn: () => T): T {
    if (this.sqlite.inTransaction) return fn();
    this.sqlite.pragma('synchronous = FULL');
    try {
      return this.sqlite.transaction(fn)();
    } finally {
      this.sqlite.pragma('synchronous = NORMAL');
    }
  }

  runPk(runId: string): number {
    this.assertOpen();
    const cached = this.runPks.get(runId);
    if (cached !== undefined) return cached;
    const row = this.stmt('SELECT pk FROM runs WHERE id = ?').get(runId) as { pk: number } | undefined;
    if (!row) throw new UnknownRunError(String(runId));
    this.runPks.set(runId, row.pk);
    return row.pk;
  }

  /** Forgets cached run keys: one run's, or those of runs no longer in the database (deleted by another process). */
  forgetRun(runId: string): void {
    this.runPks.delete(runId);
  }

  forgetDeletedRuns(): number[] {
    const gone: number[] = [];
    for (const [id, pk] of [...this.runPks]) {
      if (this.stmt('SELECT 1 FROM runs WHERE pk = ?').get(pk) !== undefined) continue;
      this.runPks.delete(id);
      gone.push(pk);
    }
    return gone;
  }

  experimentPk(experimentId: string): number {
    const row = this.stmt('SELECT pk FROM experiments WHERE id = ?').get(experimentId) as { pk: number } | undefined;
    if (!row) throw new UnknownExperimentError(experimentId);
    return row.pk;
  }

  freshId(prefix: string, table: 'experiments' | 'runs'): string {
    for (;;) {
      const id = `${prefix}-${this.now().toString(36)}-${randomBytes(2).toString('hex')}`;
      if (this.stmt(`SELECT 1 FROM ${table} WHERE id = ?`).get(id) === undefined) return id;
    }
  }

  close(): void {
    try {
      this.sqlite.pragma('optimize');
    } catch {
      // Advisory only.
    }
    this.sqlite.close();
    this.closed = true;
  }
}

export function checkId(kind: string, id: string): void {
  if (typeof id !== 'string' || !ID_PATTERN.test(id))
    throw new StoreError(
      `invalid ${kind} id "${String(id)}": use letters, digits, '.', '_' and '-' (128 at most), starting with a letter or digit`,
      'BAD_ARGUMENT',
    );
}

export function describeSqliteError(error: unknown): string {
  const e = error as { message?: string; code?: string };
  const code = e.code ?? '';
  if (code === 'SQLITE_NOTADB') return 'the file is not an SQLite database (SQLITE_NOTADB)';
  if (code.startsWith('SQLITE_CORRUPT'))
    return `the database is damaged: ${e.message} (${code}); restore it from a backup or move it away`;
  return code ? `${e.message} (${code})` : String(e.message ?? error);
}

/**
 * Opens the database at `path` in `dataDir` (created as needed), refusing files that are not SparseLab's or are
 * from a newer SparseLab, and migrates it to SCHEMA_VERSION after backing up an older one.
 */
export function openDatabase(
  dataDir: string,
  path: string,
  options: { busyTimeoutMs?: number; now: () => number },
): Database.Database {
  try {
    mkdirSync(dataDir, { recursive: true });
  } catch (error) {
    throw new StoreError(`cannot create the data folder ${dataDir}: ${(error as Error).message}`, 'DATA_DIR', {
      cause: error,
    });
  }
  checkDatabaseFile(path);
  let db: Database.Database;
  try {
    db = new Database(path, { timeout: options.busyTimeoutMs ?? 5000 });
  } catch (error) {
    throw new StoreOpenError(path, describeSqliteError(error), { cause: error });
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
          path,
          `it is an SQLite database but not SparseLab's (it holds the tables ${tables.join(', ')})`,
        );
    } else if (version > SCHEMA_VERSION) {
      throw new StoreOpenError(
        path,
        `it was written by a newer SparseLab (schema version ${version}; this one knows up to ${SCHEMA_VERSION})`,
      );
    } else if (version < SCHEMA_VERSION) {
      // A copy of the database as it was, in case a migration goes wrong: sparselab.db.v1-<time>-<pid>.bak.
      db.prepare('VACUUM INTO ?').run(`${path}.v${version}-${Date.now()}-${process.pid}.bak`);
    }
    migrate(db, SCHEMA_VERSION, options.now);
  } catch (error) {
    db.close();
    if (error instanceof StoreOpenError) throw error;
    throw new StoreOpenError(path, describeSqliteError(error), { cause: error });
  }
  return db;
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
