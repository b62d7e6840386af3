import type Database from 'better-sqlite3';
import { TABLE_FIELDS, type FieldSpec } from './columns';
import { RECORDS, RECORD_KINDS } from '../../../common/records';

/**
 * The database schema, as numbered migrations. A migration, once released, never changes: a new version adds one.
 * Pending migrations run in one transaction with their rows in schema_version, so a database is always at a version.
 *
 * Layout: experiments and runs carry a text id (what people and records use) and an integer key (pk) that every
 * per-run table references, so the big tables (iterations, statistics) stay compact and their primary keys lead
 * with run_pk, which both serves the series queries and the ON DELETE CASCADE of a run.
 */
export interface Migration {
  version: number;
  description: string;
  /** Table rebuilds need foreign keys off while they run; the runner checks them before committing. */
  foreignKeysOff?: boolean;
  up: (db: Database.Database) => void;
}

/** PRAGMA application_id of SparseLab databases ("SPLB"). */
export const APPLICATION_ID = 0x53504c42;

const STATUSES = "'queued', 'running', 'waiting', 'finished', 'failed', 'cancelled', 'interrupted'";

/** Written by hand: tables, and changes a record field's `since` cannot express (renames). Append new ones. */
const HAND_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'experiments, runs, status history, iterations, evaluations, logs, checkpoints',
    up: (db) =>
      db.exec(`
        CREATE TABLE experiments (
          pk INTEGER PRIMARY KEY,
          id TEXT NOT NULL UNIQUE,
          name TEXT NOT NULL,
          config TEXT NOT NULL,
          source_file TEXT,
          created INTEGER NOT NULL
        );
        CREATE INDEX experiments_created ON experiments (created);

        CREATE TABLE runs (
          pk INTEGER PRIMARY KEY,
          id TEXT NOT NULL UNIQUE,
          experiment_pk INTEGER NOT NULL REFERENCES experiments (pk) ON DELETE CASCADE,
          arm_name TEXT NOT NULL,
          arm TEXT NOT NULL,
          seed INTEGER NOT NULL,
          status TEXT NOT NULL CHECK (status IN (${STATUSES})),
          config TEXT NOT NULL,
          environment TEXT,
          created INTEGER NOT NULL,
          started INTEGER,
          ended INTEGER,
          failure_reason TEXT,
          iteration INTEGER,
          epoch REAL
        );
        CREATE INDEX runs_experiment ON runs (experiment_pk, created);
        CREATE INDEX runs_status ON runs (status, created);
        CREATE INDEX runs_created ON runs (created);

        CREATE TABLE status_history (
          id INTEGER PRIMARY KEY,
          run_pk INTEGER NOT NULL REFERENCES runs (pk) ON DELETE CASCADE,
          from_status TEXT CHECK (from_status IN (${STATUSES})),
          to_status TEXT NOT NULL CHECK (to_status IN (${STATUSES})),
          reason TEXT,
          time INTEGER NOT NULL
        );
        CREATE INDEX status_history_run ON status_history (run_pk, id);

        CREATE TABLE iterations (
          run_pk INTEGER NOT NULL REFERENCES runs (pk) ON DELETE CASCADE,
          rank INTEGER NOT NULL,
          iteration INTEGER NOT NULL,
          epoch REAL,
          loss REAL,
          lr REAL,
          density REAL,
          k INTEGER,
          selected INTEGER,
          bytes_sent INTEGER,
          bytes_received INTEGER,
          wall_ms REAL,
          compute_ms REAL,
          compress_ms REAL,
          communicate_ms REAL,
          update_ms REAL,
          rho REAL,
          rho_topk REAL,
          bound_general REAL,
          bound_gaussian REAL,
          overlap REAL,
          PRIMARY KEY (run_pk, rank, iteration)
        ) WITHOUT ROWID;

        CREATE TABLE evaluations (
          run_pk INTEGER NOT NULL REFERENCES runs (pk) ON DELETE CASCADE,
          iteration INTEGER NOT NULL,
          epoch REAL,
          wall_ms REAL,
          test_loss REAL,
          accuracy REAL,
          perplexity REAL,
          PRIMARY KEY (run_pk, iteration)
        ) WITHOUT ROWID;

        CREATE TABLE logs (
          id INTEGER PRIMARY KEY,
          run_pk INTEGER REFERENCES runs (pk) ON DELETE CASCADE,
          worker_id TEXT,
          rank INTEGER,
          level TEXT NOT NULL CHECK (level IN ('debug', 'info', 'warn', 'error')),
          message TEXT NOT NULL,
          time INTEGER NOT NULL
        );
        CREATE INDEX logs_run ON logs (run_pk, id);

        CREATE TABLE checkpoints (
          run_pk INTEGER NOT NULL REFERENCES runs (pk) ON DELETE CASCADE,
          iteration INTEGER NOT NULL,
          path TEXT NOT NULL,
          bytes INTEGER NOT NULL,
          sha256 TEXT NOT NULL,
          created INTEGER NOT NULL,
          PRIMARY KEY (run_pk, iteration)
        ) WITHOUT ROWID;
      `),
  },
  {
    version: 2,
    description: 'compressor statistics (per layer, histograms), workers seen, runs.total_iterations',
    up: (db) =>
      db.exec(`
        ALTER TABLE runs ADD COLUMN total_iterations INTEGER;

        CREATE TABLE layer_stats (
          run_pk INTEGER NOT NULL REFERENCES runs (pk) ON DELETE CASCADE,
          layer TEXT NOT NULL,
          iteration INTEGER NOT NULL,
          d INTEGER,
          k INTEGER,
          selected INTEGER,
          threshold REAL,
          rho REAL,
          rho_topk REAL,
          bound_general REAL,
          bound_gaussian REAL,
          overlap REAL,
          mean REAL,
          std REAL,
          skewness REAL,
          excess_kurtosis REAL,
          PRIMARY KEY (run_pk, layer, iteration)
        ) WITHOUT ROWID;

        -- counts: the bins as little-endian uint32, bins * 4 bytes.
        CREATE TABLE histograms (
          run_pk INTEGER NOT NULL REFERENCES runs (pk) ON DELETE CASCADE,
          layer TEXT NOT NULL,
          iteration INTEGER NOT NULL,
          min REAL,
          max REAL,
          counts BLOB NOT NULL,
          mean REAL,
          std REAL,
          skewness REAL,
          excess_kurtosis REAL,
          PRIMARY KEY (run_pk, layer, iteration)
        ) WITHOUT ROWID;

        CREATE TABLE workers (
          id TEXT PRIMARY KEY,
          host TEXT NOT NULL,
          capabilities TEXT NOT NULL,
          first_seen INTEGER NOT NULL,
          last_seen INTEGER NOT NULL
        );
      `),
  },
  {
    version: 3,
    description: 'iterations.wait_ms: time a rank waited at the hub for the other ranks',
    up: (db) => db.exec('ALTER TABLE iterations ADD COLUMN wait_ms REAL'),
  },
  {
    version: 4,
    description: 'iterations.cpu_wait_ms: time a rank was ready to run but waited for a CPU',
    up: (db) => db.exec('ALTER TABLE iterations ADD COLUMN cpu_wait_ms REAL'),
  },
  {
    version: 5,
    description: 'iterations.{compute,compress,update}_cpu_wait_ms: the same wait within those phases',
    up: (db) =>
      db.exec(`
        ALTER TABLE iterations ADD COLUMN compute_cpu_wait_ms REAL;
        ALTER TABLE iterations ADD COLUMN compress_cpu_wait_ms REAL;
        ALTER TABLE iterations ADD COLUMN update_cpu_wait_ms REAL;
      `),
  },
  {
    version: 6,
    description: 'iterations.communicate_ms renamed exchange_ms: one name for the exchange phase',
    up: (db) => db.exec('ALTER TABLE iterations RENAME COLUMN communicate_ms TO exchange_ms'),
  },
  {
    version: 8,
    description: 'run_annotations: a name, notes and tags per run, written by the researcher',
    up: (db) =>
      db.exec(`
        CREATE TABLE run_annotations (
          run_pk INTEGER PRIMARY KEY REFERENCES runs (pk) ON DELETE CASCADE,
          name TEXT,
          notes TEXT NOT NULL DEFAULT '',
          tags TEXT NOT NULL DEFAULT '[]',
          updated INTEGER NOT NULL
        );
      `),
  },
];

/** A stored record field and its table, as a generated migration adds it. */
export interface AddedColumn {
  table: string;
  field: FieldSpec;
}

/** The columns of the record fields declared with a `since` (common/records.ts). */
function declaredColumns(): AddedColumn[] {
  return RECORD_KINDS.flatMap((kind) =>
    TABLE_FIELDS[kind].filter((f) => f.since !== undefined).map((field) => ({ table: RECORDS[kind].table, field })),
  );
}

/**
 * The hand-written migrations and, per version named by a field's `since`, one that adds those fields' columns (so
 * a new field is declared once), in order. Throws where a version is taken twice or missing.
 */
export function composeMigrations(
  hand: readonly Migration[],
  added: readonly AddedColumn[] = declaredColumns(),
): Migration[] {
  const byVersion = new Map<number, AddedColumn[]>();
  for (const c of added) byVersion.set(c.field.since!, [...(byVersion.get(c.field.since!) ?? []), c]);
  const generated = [...byVersion].map(([version, columns]): Migration => ({
    version,
    description: columns.map((c) => `${c.table}.${c.field.column}`).join(', '),
    up: (db) => {
      for (const { table, field } of columns) db.exec(`ALTER TABLE ${table} ADD COLUMN ${field.column} ${field.sql}`);
    },
  }));
  const all = [...hand, ...generated].sort((a, b) => a.version - b.version);
  all.forEach((m, i) => {
    if (m.version !== i + 1)
      throw new Error(
        `schema migrations must be numbered 1, 2, ... without gaps or repeats; found version ${m.version} in place ${i + 1} ` +
          "(two changes took the same number, by hand or as a record field's since: renumber the later one)",
      );
  });
  return all;
}

export const MIGRATIONS: readonly Migration[] = composeMigrations(HAND_MIGRATIONS);

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

function hasTable(db: Database.Database, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?").get(name) !== undefined;
}

/** The version a database is at: 0 for an empty one. */
export function schemaVersion(db: Database.Database): number {
  if (!hasTable(db, 'schema_version')) return 0;
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_version').get() as { v: number | null };
  return row.v ?? 0;
}

/** Tables that are not SQLite's own. */
export function userTables(db: Database.Database): string[] {
  return (
    db
      .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
      .all() as {
      name: string;
    }[]
  ).map((r) => r.name);
}

/**
 * Applies the migrations above the database's version, up to `target`, all in one IMMEDIATE transaction (so two
 * processes opening a new database at once do not both migrate it, and a failed migration leaves it as it was).
 * Returns the versions before and after.
 */
export function migrate(
  db: Database.Database,
  target: number = SCHEMA_VERSION,
  now: () => number = Date.now,
  migrations: readonly Migration[] = MIGRATIONS,
): { from: number; to: number } {
  const pending = (version: number) => migrations.filter((m) => m.version > version && m.version <= target);
  if (pending(schemaVersion(db)).length === 0) return { from: schemaVersion(db), to: schemaVersion(db) };
  // PRAGMA foreign_keys cannot change inside a transaction.
  const keysOff = pending(schemaVersion(db)).some((m) => m.foreignKeysOff);
  const keysWereOn = (db.pragma('foreign_keys', { simple: true }) as number) === 1;
  if (keysOff) db.pragma('foreign_keys = OFF');
  try {
    return db
      .transaction(() => {
        const from = schemaVersion(db);
        let version = from;
        for (const m of pending(from)) {
          try {
            db.exec(`CREATE TABLE IF NOT EXISTS schema_version (
              version INTEGER PRIMARY KEY,
              description TEXT NOT NULL,
              applied INTEGER NOT NULL
            )`);
            m.up(db);
            db.prepare('INSERT INTO schema_version (version, description, applied) VALUES (?, ?, ?)').run(
              m.version,
              m.description,
              now(),
            );
          } catch (error) {
            throw new Error(`migration ${m.version} (${m.description}) failed: ${(error as Error).message}`, {
              cause: error,
            });
          }
          version = m.version;
        }
        if (keysOff) {
          const broken = db.pragma('foreign_key_check') as unknown[];
          if (broken.length > 0)
            throw new Error(`the migrations to version ${version} break ${broken.length} foreign keys`);
        }
        if (from === 0) db.pragma(`application_id = ${APPLICATION_ID}`);
        return { from, to: version };
      })
      .immediate();
  } finally {
    if (keysOff && keysWereOn) db.pragma('foreign_keys = ON');
  }
}
