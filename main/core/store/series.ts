/** Reading a run's records back: iteration series (decimated here, once), evaluations, statistics, histograms, logs. */
import { LOG_LEVELS } from '../../../common/metrics';
import {
  RECORDS,
  type EvaluationRecord,
  type HistogramRecord,
  type LayerStatsRecord,
  type RecordKind,
} from '../../../common/records';
import type {
  HistogramOptions,
  IterationColumn,
  IterationPoint,
  IterationSeriesOptions,
  LayerStatsOptions,
  LogEntry,
  LogOptions,
} from '../../../common/runs';
import { TABLE_FIELDS, columnList, recordsFromRaw, type FieldSpec } from './columns';
import type { Db } from './database';
import { StoreError } from './errors';

/** A condition of a WHERE: its SQL and the values of its placeholders; false or undefined leaves it out. */
type Condition = readonly [sql: string, ...params: unknown[]] | false | undefined;

/** The one WHERE builder of every query here: the conditions given, joined by AND. */
function whereOf(conditions: readonly Condition[]): { where: string; params: unknown[] } {
  const given = conditions.filter((c): c is readonly [string, ...unknown[]] => Array.isArray(c));
  return { where: given.map(([sql]) => sql).join(' AND '), params: given.flatMap(([, ...params]) => params) };
}

/** An inclusive iteration range, where given. */
function range(from: number | undefined, to: number | undefined): Condition[] {
  return [from !== undefined && ['iteration >= ?', from], to !== undefined && ['iteration <= ?', to]];
}

/** Rank 0's (or each rank's) bytes sent from the start of the run to the end of the iteration. */
const BYTES_SENT_TOTAL: FieldSpec = { field: 'bytesSentTotal', column: 'bytes_sent_total', kind: 'num', sql: 'REAL' };

/**
 * Iteration records of a run by iteration (then rank), with the chosen columns. `points` decimates: iterations
 * first + j * stride with stride = ceil((last - first) / (points - 1)), plus the last one, so at most `points`
 * iterations come back (fewer where iterations are missing). bytesSentTotal is summed over every iteration before.
 */
export function iterationSeries<F extends IterationColumn>(
  db: Db,
  runId: string,
  options: IterationSeriesOptions<F> = {},
): IterationPoint<F>[] {
  const pk = db.runPk(runId);
  const byField = new Map([...TABLE_FIELDS.iteration, BYTES_SENT_TOTAL].map((f) => [f.field, f]));
  const wanted = new Set<string>([
    'iteration',
    'rank',
    ...(options.columns ?? TABLE_FIELDS.iteration.map((f) => f.field)),
  ]);
  const fields = [...wanted].map((name) => {
    const f = byField.get(name);
    if (!f)
      throw new StoreError(
        `unknown iteration column "${name}"; columns are ${[...byField.keys()].join(', ')}`,
        'BAD_ARGUMENT',
      );
    return f;
  });
  const allRanks = options.ranks === 'all';
  const ofRun: Condition[] = [['run_pk = ?', pk], !allRanks && ['rank = 0']];
  const filter: Condition[] = [...range(options.from, options.to)];
  if (options.points !== undefined) {
    const points = Math.floor(options.points);
    if (!(points >= 1)) throw new StoreError(`points must be at least 1, got ${options.points}`, 'BAD_ARGUMENT');
    const { where, params } = whereOf([...ofRun, ...filter]);
    const span = db
      .stmt(`SELECT MIN(iteration) AS lo, MAX(iteration) AS hi FROM iterations WHERE ${where}`)
      .get(...params) as { lo: number | null; hi: number | null };
    if (span.lo === null || span.hi === null) return [];
    const stride = points === 1 ? 0 : Math.max(1, Math.ceil((span.hi - span.lo) / (points - 1)));
    if (points === 1) filter.push(['iteration = ?', span.hi]);
    else if (stride > 1) filter.push(['((iteration - ?) % ? = 0 OR iteration = ?)', span.lo, stride, span.hi]);
  }
  // The running total needs every iteration of the rank: the range and the decimation apply after it.
  const withTotal = fields.includes(BYTES_SENT_TOTAL);
  const run = whereOf(ofRun);
  const source = withTotal
    ? `(SELECT ${columnList(fields.filter((f) => f !== BYTES_SENT_TOTAL))},
        TOTAL(bytes_sent) OVER (PARTITION BY rank ORDER BY iteration) AS ${BYTES_SENT_TOTAL.column}
        FROM iterations WHERE ${run.where})`
    : 'iterations';
  const kept = whereOf(withTotal ? filter : [...ofRun, ...filter]);
  const rows = db
    .stmt(
      `SELECT ${columnList(fields)} FROM ${source} ${kept.where ? `WHERE ${kept.where}` : ''}
       ORDER BY iteration${allRanks ? ', rank' : ''}`,
      true,
    )
    .all(...(withTotal ? run.params : []), ...kept.params) as unknown[][];
  return recordsFromRaw(fields, rows) as IterationPoint<F>[];
}

/** A run's records of one kind, from its table. */
function records(
  db: Db,
  runId: string,
  kind: RecordKind,
  conditions: readonly Condition[],
  orderBy: string,
): Record<string, unknown>[] {
  const fields = TABLE_FIELDS[kind];
  const { where, params } = whereOf([['run_pk = ?', db.runPk(runId)], ...conditions]);
  const rows = db
    .stmt(`SELECT ${columnList(fields)} FROM ${RECORDS[kind].table} WHERE ${where} ORDER BY ${orderBy}`, true)
    .all(...params) as unknown[][];
  return recordsFromRaw(fields, rows, runId);
}

/** Every evaluation of a run, by iteration. */
export function evaluationSeries(db: Db, runId: string): EvaluationRecord[] {
  return records(db, runId, 'evaluation', [], 'iteration') as EvaluationRecord[];
}

/** Per-layer statistics by iteration, then layer; optionally one layer and an inclusive iteration range. */
export function layerStatsSeries(db: Db, runId: string, options: LayerStatsOptions = {}): LayerStatsRecord[] {
  const conditions: Condition[] = [
    options.layer !== undefined && ['layer = ?', options.layer],
    ...range(options.from, options.to),
  ];
  return records(db, runId, 'layerStats', conditions, 'iteration, layer') as LayerStatsRecord[];
}

/** Histograms by iteration, then layer; optionally of one layer and/or one iteration. */
export function histograms(db: Db, runId: string, options: HistogramOptions = {}): HistogramRecord[] {
  const conditions: Condition[] = [
    options.layer !== undefined && ['layer = ?', options.layer],
    options.iteration !== undefined && ['iteration = ?', options.iteration],
  ];
  return records(db, runId, 'histogram', conditions, 'iteration, layer') as HistogramRecord[];
}

/** Layers a run has statistics or histograms for, sorted. */
export function layerNames(db: Db, runId: string): string[] {
  const pk = db.runPk(runId);
  return (
    db
      .stmt(
        'SELECT DISTINCT layer FROM layer_stats WHERE run_pk = ? UNION SELECT DISTINCT layer FROM histograms WHERE run_pk = ? ORDER BY layer',
      )
      .all(pk, pk) as { layer: string }[]
  ).map((r) => r.layer);
}

/** Log entries of a run (or, with null, those of no run), oldest first. */
export function logs(db: Db, runId: string | null, options: LogOptions = {}): LogEntry[] {
  const { rank, level } = options;
  if (level !== undefined && !LOG_LEVELS.includes(level))
    throw new StoreError(`unknown log level "${String(level)}"`, 'BAD_ARGUMENT');
  const levels = level === undefined ? [] : LOG_LEVELS.slice(LOG_LEVELS.indexOf(level));
  const { where, params } = whereOf([
    runId === null ? ['l.run_pk IS NULL'] : ['l.run_pk = ?', db.runPk(runId)],
    rank === null && ['l.rank IS NULL'],
    rank !== undefined && rank !== null && ['l.rank = ?', rank],
    levels.length > 0 && [`l.level IN (${levels.map(() => '?').join(', ')})`, ...levels],
    options.afterId !== undefined && ['l.id > ?', options.afterId],
  ]);
  const select = `SELECT l.id, r.id AS runId, l.worker_id AS workerId, l.rank, l.level, l.message, l.time
    FROM logs l LEFT JOIN runs r ON r.pk = l.run_pk WHERE ${where}`;
  const rows =
    options.tail !== undefined
      ? db.stmt(`SELECT * FROM (${select} ORDER BY l.id DESC LIMIT ?) ORDER BY id`).all(...params, options.tail)
      : db.stmt(`${select} ORDER BY l.id LIMIT ?`).all(...params, options.limit ?? -1);
  return (rows as LogEntry[]).map(({ id, runId, workerId, rank, level, message, time }) => ({
    id,
    runId,
    workerId,
    rank,
    level,
    message,
    time,
  }));
}
