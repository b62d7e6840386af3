/**
 * How each record maps to its table, derived from common/records.ts: field name, column (the field in snake_case)
 * and how the value is stored.
 *  - key: part of the primary key: a non-negative integer (rank, iteration) or a non-empty name (layer).
 *  - num: a required number. NaN (a diverged loss) is stored as NULL, as SQLite has no NaN, and read back as NaN.
 *  - opt: an optional number: absent <-> NULL.
 *  - nullable: number | null.
 *  - counts: histogram counts, a BLOB of little-endian uint32.
 * Values are checked when appended, so a batch never fails on one bad record.
 */
import { z } from 'zod';
import { RECORDS, type FieldDef, type RecordKind, type SqlType } from '../../../common/records';
import { InvalidRecordError } from './errors';

export type FieldKind = 'key' | 'text' | 'num' | 'opt' | 'nullable' | 'counts';

export interface FieldSpec {
  field: string;
  column: string;
  kind: FieldKind;
  sql: Exclude<SqlType, null>;
  /** The schema version that added the column, where a generated migration adds it. */
  since?: number;
}

export function columnName(field: string): string {
  return field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

function kindOf(f: FieldDef): FieldKind {
  if (f.key) return f.sql === 'TEXT' ? 'text' : 'key';
  if (f.sql === 'BLOB') return 'counts';
  if (f.schema instanceof z.ZodOptional) return 'opt';
  if (f.schema instanceof z.ZodNullable) return 'nullable';
  return 'num';
}

/** A record's stored fields, in declaration order (runId is the row's run_pk, not a column). */
function specs(kind: RecordKind): readonly FieldSpec[] {
  return Object.entries(RECORDS[kind].fields as Record<string, FieldDef>)
    .filter(([, f]) => f.sql !== null)
    .map(([field, f]) => ({
      field,
      column: columnName(field),
      kind: kindOf(f),
      sql: f.sql!,
      ...(f.since !== undefined && { since: f.since }),
    }));
}

export const TABLE_FIELDS: Readonly<Record<RecordKind, readonly FieldSpec[]>> = {
  iteration: specs('iteration'),
  evaluation: specs('evaluation'),
  layerStats: specs('layerStats'),
  histogram: specs('histogram'),
};

/** The bound values of one record, after run_pk, in the order of `fields`; throws on a value SQLite would refuse. */
export function recordParams(kind: string, fields: readonly FieldSpec[], record: object, runPk: number): unknown[] {
  const values = record as Record<string, unknown>;
  const params: unknown[] = new Array(fields.length + 1);
  params[0] = runPk;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    const v = values[f.field];
    switch (f.kind) {
      case 'key':
        if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
          throw new InvalidRecordError(kind, `${f.field} must be a non-negative integer, got ${String(v)}`);
        break;
      case 'num':
        if (typeof v !== 'number') throw new InvalidRecordError(kind, `${f.field} must be a number, got ${String(v)}`);
        break;
      case 'opt':
      case 'nullable':
        if (v === undefined || v === null) {
          params[i + 1] = null;
          continue;
        }
        if (typeof v !== 'number')
          throw new InvalidRecordError(kind, `${f.field} must be a number or absent, got ${String(v)}`);
        break;
      case 'text':
        if (typeof v !== 'string' || v.length === 0)
          throw new InvalidRecordError(kind, `${f.field} must be a non-empty string, got ${String(v)}`);
        break;
      case 'counts':
        params[i + 1] = encodeCounts(v);
        continue;
    }
    params[i + 1] = v;
  }
  return params;
}

/**
 * Records from rows selected raw (arrays, in the order of `fields`): NULL becomes NaN for required numbers and an
 * absent key for optional ones. `runId`, when given, comes first in each record.
 */
export function recordsFromRaw(
  fields: readonly FieldSpec[],
  rows: readonly unknown[][],
  runId?: string,
): Record<string, unknown>[] {
  const out = new Array<Record<string, unknown>>(rows.length);
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!;
    const record: Record<string, unknown> = runId === undefined ? {} : { runId };
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      const v = row[i];
      if (f.kind === 'counts') record[f.field] = decodeCounts(v as Uint8Array);
      else if (v !== null) record[f.field] = v;
      else if (f.kind === 'num') record[f.field] = NaN;
      else if (f.kind !== 'opt') record[f.field] = null;
    }
    out[r] = record;
  }
  return out;
}

/** Column names for a SELECT. */
export function columnList(fields: readonly FieldSpec[]): string {
  return fields.map((f) => f.column).join(', ');
}

/** Histogram counts as little-endian uint32. */
export function encodeCounts(counts: unknown): Buffer {
  if (!Array.isArray(counts)) throw new InvalidRecordError('histogram', 'counts must be an array');
  const out = Buffer.allocUnsafe(counts.length * 4);
  for (let i = 0; i < counts.length; i++) {
    const c: unknown = counts[i];
    if (typeof c !== 'number' || !Number.isInteger(c) || c < 0 || c > 0xffffffff)
      throw new InvalidRecordError('histogram', `counts[${i}] must be an integer in [0, 2^32), got ${String(c)}`);
    out.writeUInt32LE(c, i * 4);
  }
  return out;
}

export function decodeCounts(blob: Uint8Array): number[] {
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const counts = new Array<number>(blob.byteLength >>> 2);
  for (let i = 0; i < counts.length; i++) counts[i] = view.getUint32(i * 4, true);
  return counts;
}
