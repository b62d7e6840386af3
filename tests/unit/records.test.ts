import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { apiArgs } from '../../common/apiArgs';
import { decodeFrame, encodeFrame } from '../../common/frame';
import {
  EVALUATION_FIELDS,
  ITERATION_FIELDS,
  PHASE_FIELDS,
  RECORDS,
  RECORD_KINDS,
  SERIES_COLUMNS,
  axisLabel,
  recordsJsonSchema,
  type FieldDef,
} from '../../common/records';
import { MIGRATIONS, migrate, openStore } from '../../main/core/store';
import { composeMigrations } from '../../main/core/store/schema';
import { TABLE_FIELDS } from '../../main/core/store/columns';
import { Y_METRICS } from '../../renderer/src/compare/model';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const declared = () => RECORD_KINDS.flatMap((kind) => TABLE_FIELDS[kind].filter((f) => f.since !== undefined));

function columnsOf(db: Database.Database, table: string): [string, string][] {
  return (db.pragma(`table_info(${table})`) as { name: string; type: string }[])
    .map((c): [string, string] => [c.name, c.type])
    .sort();
}

describe('the records, defined once in common/records.ts', () => {
  it('common/records.schema.json is what `npm run build:schema` writes from them', () => {
    const checkedIn = JSON.parse(readFileSync('common/records.schema.json', 'utf8')) as unknown;
    expect(checkedIn, 'common/records.schema.json is stale: run `npm run build:schema`').toEqual(recordsJsonSchema());
  });

  it('the JSON Schema requires exactly the required fields of each record and describes every field', () => {
    const defs = (recordsJsonSchema() as { $defs: Record<string, { required: string[]; properties: object }> }).$defs;
    for (const kind of RECORD_KINDS) {
      const fields = RECORDS[kind].fields as Record<string, FieldDef>;
      expect(Object.keys(defs[kind]!.properties)).toEqual(Object.keys(fields));
      const required = Object.entries(fields).filter(([, f]) => !f.schema.safeParse(undefined).success);
      expect(defs[kind]!.required).toEqual(required.map(([name]) => name));
    }
  });

  it('a fresh database has exactly the columns the records declare, with their SQLite types', () => {
    const db = new Database(':memory:');
    migrate(db);
    for (const kind of RECORD_KINDS) {
      const expected = [['run_pk', 'INTEGER'], ...TABLE_FIELDS[kind].map((f) => [f.column, f.sql])].sort();
      expect(columnsOf(db, RECORDS[kind].table), RECORDS[kind].table).toEqual(expected);
    }
    db.close();
  });

  it('a database of every earlier version migrates to the same columns, keeping its rows', () => {
    const fresh = new Database(':memory:');
    migrate(fresh);
    for (const { version } of MIGRATIONS.slice(0, -1)) {
      const db = new Database(':memory:');
      migrate(db, version);
      migrate(db);
      for (const kind of RECORD_KINDS) {
        const table = RECORDS[kind].table;
        expect(columnsOf(db, table), `${table} from version ${version}`).toEqual(columnsOf(fresh, table));
      }
      db.close();
    }
    fresh.close();
  });

  it('a field declared with `since` gets a migration of that version adding its column', () => {
    expect(declared().length).toBeGreaterThan(0);
    for (const f of declared()) expect(MIGRATIONS.find((m) => m.version === f.since)?.description).toContain(f.column);
  });

  it('refuses a schema version taken twice or skipped, by hand or by a field', () => {
    // Today's migrations (by hand and from fields, in any interleaving) plus one more field.
    const field = { field: 'x', column: 'x', kind: 'opt', sql: 'REAL' } as const;
    const next = MIGRATIONS.length + 1;
    const adding = (since: number) =>
      composeMigrations(MIGRATIONS, [{ table: 'iterations', field: { ...field, since } }]);
    expect(adding(next).at(-1)).toMatchObject({ version: next, description: 'iterations.x' });
    expect(() => adding(next - 1)).toThrow(`found version ${next - 1} in place ${next}`);
    expect(() => adding(next + 1)).toThrow(`found version ${next + 1} in place ${next}`);
  });

  it('series columns, Compare y metrics and the API argument check follow the field metadata', () => {
    const chart = Object.entries(ITERATION_FIELDS as Record<string, FieldDef>).filter(([, f]) => f.chart);
    for (const [name, f] of chart) {
      expect(SERIES_COLUMNS).toContain(name);
      expect(Y_METRICS[name as keyof typeof Y_METRICS]).toMatchObject({ label: axisLabel(f), source: 'iteration' });
    }
    for (const [name, f] of Object.entries(EVALUATION_FIELDS as Record<string, FieldDef>).filter(([, f]) => f.chart))
      expect(Y_METRICS[name as keyof typeof Y_METRICS]).toMatchObject({ label: axisLabel(f), source: 'evaluation' });
    expect(Y_METRICS.iterationMs).toMatchObject({ columns: PHASE_FIELDS });
    expect([Y_METRICS.accuracy.label, Y_METRICS.waitMs.label]).toEqual([
      'Test accuracy (%)',
      'Waiting for other ranks (ms)',
    ]);
    expect(PHASE_FIELDS.length).toBeGreaterThan(1);
    const series = apiArgs.series;
    expect(series.safeParse([['r1'], { columns: [...SERIES_COLUMNS] }]).success).toBe(true);
    expect(series.safeParse([['r1'], { columns: ['bytesReceived'] }]).success).toBe(false);
  });

  it('a record crosses the wire and lands in the store field for field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sparselab-records-'));
    dirs.push(dir);
    const store = openStore(dir);
    try {
      const experiment = store.createExperiment({ name: 'x', arms: [], seeds: [1] } as never);
      const run = store.createRun({ experimentId: experiment.id, arm: { method: 'dense' } as never, seed: 1 });
      const record = Object.fromEntries(
        Object.entries(ITERATION_FIELDS as Record<string, FieldDef>).map(([name, f]) => [
          name,
          name === 'runId' ? run.id : f.sql === 'INTEGER' ? 7 : 0.5,
        ]),
      );
      const frame = encodeFrame({ type: 'metrics', kind: 'iteration', records: [record as never] });
      const { header } = decodeFrame(frame, 'worker');
      if (header.type !== 'metrics' || header.kind !== 'iteration') throw new Error('not an iteration batch');
      store.append('iteration', header.records[0]!);
      store.flush();
      const [stored] = store.iterationSeries(run.id, { ranks: 'all' });
      expect({ runId: run.id, ...stored }).toEqual(record);
    } finally {
      store.close();
    }
  });
});
