/** Experiments and runs: their rows, statuses and progress. Every write here is durable at once. */
import { armName, type Arm, type Experiment } from '../../../common/experiment';
import { RUN_STATUSES, hasEnded, type RunStatus } from '../../../common/metrics';
import type {
  ExperimentRow,
  NewExperiment,
  NewRun,
  Progress,
  RunEnvironment,
  RunFilter,
  RunRow,
  StatusChange,
} from '../../../common/runs';
import { checkId, type Db } from './database';
import { InvalidTransitionError, StoreError, UnknownExperimentError, UnknownRunError } from './errors';

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

export interface RunDbRow {
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

const RUN_SELECT = `SELECT r.*, e.id AS experiment_id, e.name AS experiment_name
  FROM runs r JOIN experiments e ON e.pk = r.experiment_pk`;

// ---------------------------------------------------------------- experiments

export function createExperiment(db: Db, config: Experiment, options: NewExperiment = {}): ExperimentRow {
  const id = options.id ?? db.freshId('e', 'experiments');
  checkId('experiment', id);
  db.durable(() =>
    db
      .stmt('INSERT INTO experiments (id, name, config, source_file, created) VALUES (?, ?, ?, ?, ?)')
      .run(id, config.name, JSON.stringify(config), options.sourceFile ?? null, db.now()),
  );
  return getExperiment(db, id);
}

export function getExperiment(db: Db, experimentId: string): ExperimentRow {
  const row = experimentDbRow(db, experimentId);
  const counts: Partial<Record<RunStatus, number>> = {};
  for (const r of db
    .stmt('SELECT status, COUNT(*) AS n FROM runs WHERE experiment_pk = ? GROUP BY status')
    .all(row.pk) as { status: RunStatus; n: number }[])
    counts[r.status] = r.n;
  return experimentRow(row, counts);
}

/** Newest first. */
export function listExperiments(db: Db): ExperimentRow[] {
  const counts = new Map<number, Partial<Record<RunStatus, number>>>();
  for (const r of db
    .stmt('SELECT experiment_pk, status, COUNT(*) AS n FROM runs GROUP BY experiment_pk, status')
    .all() as { experiment_pk: number; status: RunStatus; n: number }[]) {
    const c = counts.get(r.experiment_pk) ?? {};
    c[r.status] = r.n;
    counts.set(r.experiment_pk, c);
  }
  return (db.stmt('SELECT * FROM experiments ORDER BY created DESC, pk DESC').all() as ExperimentDbRow[]).map((row) =>
    experimentRow(row, counts.get(row.pk) ?? {}),
  );
}

/** Deletes an experiment with its runs and their records; returns the runs' ids and keys (for their files). */
export function deleteExperiment(db: Db, experimentId: string): { pk: number; id: string }[] {
  const pk = db.experimentPk(experimentId);
  const runs = db.stmt('SELECT pk, id FROM runs WHERE experiment_pk = ?').all(pk) as { pk: number; id: string }[];
  db.durable(() => db.stmt('DELETE FROM experiments WHERE pk = ?').run(pk));
  for (const r of runs) db.forgetRun(r.id);
  return runs;
}

function experimentDbRow(db: Db, experimentId: string): ExperimentDbRow {
  const row = db.stmt('SELECT * FROM experiments WHERE id = ?').get(experimentId) as ExperimentDbRow | undefined;
  if (!row) throw new UnknownExperimentError(experimentId);
  return row;
}

function experimentRow(row: ExperimentDbRow, statusCounts: Partial<Record<RunStatus, number>>): ExperimentRow {
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

// ---------------------------------------------------------------- runs

/** Creates a queued run (written and synced at once). */
export function createRun(db: Db, input: NewRun): RunRow {
  const id = insertRun(db, experimentDbRow(db, input.experimentId), input);
  return getRunRow(db, id);
}

/** Creates the experiment's runs, one per arm and seed (arms outer), in one transaction. */
export function createRuns(db: Db, experimentId: string, options: { totalIterations?: number | null } = {}): RunRow[] {
  const experiment = experimentDbRow(db, experimentId);
  const config = JSON.parse(experiment.config) as Experiment;
  const ids = db.durable(() =>
    config.arms.flatMap((arm) =>
      config.seeds.map((seed) =>
        insertRun(db, experiment, { experimentId, arm, seed, totalIterations: options.totalIterations }),
      ),
    ),
  );
  return ids.map((id) => getRunRow(db, id));
}

/** Runs, newest first, optionally of one experiment and/or in some statuses. */
export function listRuns(db: Db, filter: RunFilter = {}): RunRow[] {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.experimentId !== undefined) {
    where.push('r.experiment_pk = ?');
    params.push(db.experimentPk(filter.experimentId));
  }
  if (filter.status !== undefined) {
    const statuses: readonly RunStatus[] = typeof filter.status === 'string' ? [filter.status] : filter.status;
    for (const s of statuses) checkStatus(s);
    where.push(`r.status IN (${statuses.map(() => '?').join(', ') || 'NULL'})`);
    params.push(...statuses);
  }
  params.push(filter.limit ?? -1, filter.offset ?? 0);
  const rows = db
    .stmt(
      `${RUN_SELECT} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY r.created DESC, r.pk DESC LIMIT ? OFFSET ?`,
    )
    .all(...params) as RunDbRow[];
  return rows.map(runRow);
}

/** See Store.setStatus; `beforeChange` runs once the change is sure to happen (the store flushes its records there). */
export function setStatus(
  db: Db,
  runId: string,
  to: RunStatus,
  reason: string | null,
  beforeChange: () => void,
): RunRow {
  checkStatus(to);
  const row = runDbRow(db, runId);
  if (row.status === to) return runRow(row);
  if (!STATUS_TRANSITIONS[row.status].includes(to)) throw new InvalidTransitionError(runId, row.status, to);
  beforeChange();
  const now = db.now();
  const started = row.started ?? (to === 'running' ? now : null);
  const ended = hasEnded(to) ? now : to === 'interrupted' || to === 'waiting' ? row.ended : null;
  const failureReason = to === 'failed' ? (reason ?? 'unknown reason') : null;
  db.durable(() => {
    db.stmt('UPDATE runs SET status = ?, started = ?, ended = ?, failure_reason = ? WHERE pk = ?').run(
      to,
      started,
      ended,
      failureReason,
      row.pk,
    );
    addHistory(db, row.pk, row.status, to, reason, now);
  });
  return getRunRow(db, runId);
}

function checkStatus(status: RunStatus): void {
  if (!RUN_STATUSES.includes(status)) throw new StoreError(`unknown status "${status}"`, 'BAD_ARGUMENT');
}

/** Runs left 'running' or 'waiting' become 'interrupted', each with a status-history row; returns their ids. */
export function markInterrupted(db: Db, reason?: string): string[] {
  const rows = db.stmt("SELECT pk, id, status FROM runs WHERE status IN ('running', 'waiting') ORDER BY pk").all() as {
    pk: number;
    id: string;
    status: RunStatus;
  }[];
  if (rows.length === 0) return [];
  const now = db.now();
  db.durable(() => {
    for (const r of rows) {
      db.stmt("UPDATE runs SET status = 'interrupted' WHERE pk = ?").run(r.pk);
      const why = reason ?? `SparseLab stopped while the run was ${r.status}; found at startup`;
      addHistory(db, r.pk, r.status, 'interrupted', why, now);
    }
  });
  return rows.map((r) => r.id);
}

export function setEnvironment(db: Db, runId: string, environment: RunEnvironment): void {
  const pk = db.runPk(runId);
  db.durable(() => db.stmt('UPDATE runs SET environment = ? WHERE pk = ?').run(JSON.stringify(environment), pk));
}

/** Sets the progress fields given (undefined = unchanged). */
export function setProgress(db: Db, pk: number, progress: Progress): void {
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
  db.durable(() => db.stmt(`UPDATE runs SET ${sets.join(', ')} WHERE pk = ?`).run(...params, pk));
}

/** Deletes the run's records after `iteration` (logs stay) and sets its progress back to rank 0's last one. */
export function discardRecordsAfter(db: Db, pk: number, iteration: number): void {
  db.durable(() => {
    // Iterations, statistics and histograms are numbered by the iteration they measured (the resumed rank
    // measures `iteration` again); evaluations and checkpoints by the iterations done before them.
    for (const table of ['iterations', 'layer_stats', 'histograms'])
      db.stmt(`DELETE FROM ${table} WHERE run_pk = ? AND iteration >= ?`).run(pk, iteration);
    for (const table of ['evaluations', 'checkpoints'])
      db.stmt(`DELETE FROM ${table} WHERE run_pk = ? AND iteration > ?`).run(pk, iteration);
    const last = db
      .stmt('SELECT iteration, epoch FROM iterations WHERE run_pk = ? AND rank = 0 ORDER BY iteration DESC LIMIT 1')
      .get(pk) as { iteration: number; epoch: number | null } | undefined;
    db.stmt('UPDATE runs SET iteration = ?, epoch = ? WHERE pk = ?').run(
      last?.iteration ?? null,
      last?.epoch ?? null,
      pk,
    );
  });
}

export function deleteRun(db: Db, runId: string): void {
  const pk = db.runPk(runId);
  db.durable(() => db.stmt('DELETE FROM runs WHERE pk = ?').run(pk));
  db.forgetRun(runId);
}

export function runDbRow(db: Db, runId: string): RunDbRow {
  const row = db.stmt(`${RUN_SELECT} WHERE r.id = ?`).get(runId) as RunDbRow | undefined;
  if (!row) throw new UnknownRunError(String(runId));
  return row;
}

function getRunRow(db: Db, runId: string): RunRow {
  return runRow(runDbRow(db, runId));
}

export function history(db: Db, pk: number): StatusChange[] {
  return db
    .stmt(
      'SELECT from_status AS "from", to_status AS "to", reason, time FROM status_history WHERE run_pk = ? ORDER BY id',
    )
    .all(pk) as StatusChange[];
}

export function runRow(row: RunDbRow): RunRow {
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

/** Inserts a queued run with its first status-history row; durable when not already in a transaction. */
function insertRun(db: Db, experiment: ExperimentDbRow, input: NewRun): string {
  if (!Number.isSafeInteger(input.seed))
    throw new StoreError(`seed must be an integer, got ${input.seed}`, 'BAD_ARGUMENT');
  const id = input.id ?? db.freshId('r', 'runs');
  checkId('run', id);
  const experimentConfig = JSON.parse(experiment.config) as Experiment;
  const config: Experiment = input.config ?? { ...experimentConfig, arms: [input.arm], seeds: [input.seed] };
  const created = db.now();
  db.durable(() => {
    const { lastInsertRowid } = db
      .stmt(
        `INSERT INTO runs (id, experiment_pk, arm_name, arm, seed, status, config, environment, created, total_iterations)
         VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)`,
      )
      .run(
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
    addHistory(db, Number(lastInsertRowid), null, 'queued', null, created);
  });
  return id;
}

function addHistory(
  db: Db,
  pk: number,
  from: RunStatus | null,
  to: RunStatus,
  reason: string | null,
  time: number,
): void {
  db.stmt('INSERT INTO status_history (run_pk, from_status, to_status, reason, time) VALUES (?, ?, ?, ?, ?)').run(
    pk,
    from,
    to,
    reason,
    time,
  );
}
