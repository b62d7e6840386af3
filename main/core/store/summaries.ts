/** A run in numbers (the store aggregates; common/runSummary.ts reads the evaluations) and its export. */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { Experiment } from '../../../common/experiment';
import {
  AVERAGED_FIELDS,
  PHASE_FIELDS,
  RECORDS,
  meanKey,
  type FieldMeans,
  type RecordKind,
} from '../../../common/records';
import { evaluationOutcome } from '../../../common/runSummary';
import type { CsvTable, RunSummary } from '../../../common/runs';
import { TABLE_FIELDS, columnList, columnName } from './columns';
import { csvLine } from './csv';
import type { Db } from './database';
import { StoreError } from './errors';
import { runDbRow } from './runs';
import { evaluationSeries } from './series';

/** Means of the averaged fields and of the phases' sum, over every (rank, iteration) record. */
const AGGREGATES_SQL = `SELECT COUNT(DISTINCT iteration) AS iterations, MAX(iteration) AS lastIteration,
  AVG(${PHASE_FIELDS.map(columnName).join(' + ')}) AS meanIterationMs,
  ${AVERAGED_FIELDS.map((f) => `AVG(${columnName(f)}) AS ${meanKey(f)}`).join(', ')}
  FROM iterations WHERE run_pk = ?`;

type Aggregates = FieldMeans & { iterations: number; lastIteration: number | null; meanIterationMs: number | null };

/**
 * A run in numbers. `target` overrides the config's evaluation.target; accuracy targets are reached at >=,
 * perplexity targets (runs whose evaluations have no accuracy) at <=.
 */
export function summary(db: Db, runId: string, options: { target?: number } = {}): RunSummary {
  const row = runDbRow(db, runId);
  const aggregates = db.stmt(AGGREGATES_SQL).get(row.pk) as Aggregates;
  const final =
    aggregates.lastIteration === null
      ? undefined
      : (db
          .stmt('SELECT AVG(loss) AS loss, MAX(epoch) AS epoch FROM iterations WHERE run_pk = ? AND iteration = ?')
          .get(row.pk, aggregates.lastIteration) as { loss: number | null; epoch: number | null });
  const config = JSON.parse(row.config) as Experiment;
  return {
    runId,
    experimentId: row.experiment_id,
    arm: row.arm_name,
    seed: row.seed,
    status: row.status,
    ...aggregates,
    lastEpoch: final?.epoch ?? null,
    finalLoss: final?.loss ?? null,
    ...evaluationOutcome(evaluationSeries(db, runId), options.target ?? config.evaluation?.target),
    durationMs: row.started === null ? null : (row.ended ?? db.now()) - row.started,
  };
}

const CSV_TABLES: Record<CsvTable, { kind: RecordKind; orderBy: string }> = {
  iterations: { kind: 'iteration', orderBy: 'iteration, rank' },
  evaluations: { kind: 'evaluation', orderBy: 'iteration' },
  layerStats: { kind: 'layerStats', orderBy: 'iteration, layer' },
};

/**
 * A table of a run as CSV lines, the header first: iterations (every rank, by iteration then rank), evaluations
 * or layerStats. Columns are the record fields, in the order of their tables; absent values are empty cells.
 */
export function* csvLines(db: Db, runId: string, table: CsvTable): Generator<string> {
  const pk = db.runPk(runId);
  if (!Object.hasOwn(CSV_TABLES, table))
    throw new StoreError(`unknown table "${String(table)}"; use iterations, evaluations or layerStats`, 'BAD_ARGUMENT');
  const { kind, orderBy } = CSV_TABLES[table];
  const fields = TABLE_FIELDS[kind];
  yield csvLine(fields.map((f) => f.field));
  // raw(): values in column order, no object per row. NULL is exported empty (NaN was stored as NULL).
  const sql = `SELECT ${columnList(fields)} FROM ${RECORDS[kind].table} WHERE run_pk = ? ORDER BY ${orderBy}`;
  for (const row of db.stmt(sql, true).iterate(pk) as IterableIterator<unknown[]>) yield csvLine(row);
}

/** CSV lines streamed to a file; returns the number of data rows. */
export function writeCsvFile(lines: Iterable<string>, path: string): number {
  const fd = openSync(path, 'w');
  let rows = -1;
  try {
    let chunk = '';
    for (const line of lines) {
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
