/**
 * How each record type maps to its table: field name, column, and how the value is stored.
 *  - key: a non-negative integer (rank, iteration); anything else would break the primary key.
 *  - num: a required number. NaN (a diverged loss) is stored as NULL, as SQLite has no NaN, and read back as NaN.
 *  - opt: an optional number: absent <-> NULL.
 *  - nullable: number | null.
 *  - text: a required string.
 * Values are checked when appended, so a batch never fails on one bad record.
 */
import { InvalidRecordError } from './errors';

export type FieldKind = 'key' | 'num' | 'opt' | 'nullable' | 'text';

export interface FieldSpec {
  field: string;
  column: string;
  kind: FieldKind;
}

function spec(fields: [string, string, FieldKind][]): readonly FieldSpec[] {
  return fields.map(([field, column, kind]) => ({ field, column, kind }));
}

export const ITERATION_FIELDS = spec([
  ['iteration', 'iteration', 'key'],
  ['rank', 'rank', 'key'],
  ['epoch', 'epoch', 'num'],
  ['loss', 'loss', 'num'],
  ['lr', 'lr', 'num'],
  ['density', 'density', 'num'],
  ['k', 'k', 'num'],
  ['selected', 'selected', 'num'],
  ['bytesSent', 'bytes_sent', 'num'],
  ['bytesReceived', 'bytes_received', 'num'],
  ['wallMs', 'wall_ms', 'num'],
  ['computeMs', 'compute_ms', 'num'],
  ['compressMs', 'compress_ms', 'num'],
  ['communicateMs', 'communicate_ms', 'num'],
  ['waitMs', 'wait_ms', 'num'],
  ['updateMs', 'update_ms', 'num'],
  ['cpuWaitMs', 'cpu_wait_ms', 'opt'],
  ['computeCpuWaitMs', 'compute_cpu_wait_ms', 'opt'],
  ['compressCpuWaitMs', 'compress_cpu_wait_ms', 'opt'],
  ['updateCpuWaitMs', 'update_cpu_wait_ms', 'opt'],
  ['rho', 'rho', 'opt'],
  ['rhoTopk', 'rho_topk', 'opt'],
  ['boundGeneral', 'bound_general', 'opt'],
  ['boundGaussian', 'bound_gaussian', 'opt'],
  ['overlap', 'overlap', 'opt'],
]);

export const EVALUATION_FIELDS = spec([
  ['iteration', 'iteration', 'key'],
  ['epoch', 'epoch', 'num'],
  ['wallMs', 'wall_ms', 'num'],
  ['testLoss', 'test_loss', 'num'],
  ['accuracy', 'accuracy', 'opt'],
  ['perplexity', 'perplexity', 'opt'],
]);

export const LAYER_STATS_FIELDS = spec([
  ['iteration', 'iteration', 'key'],
  ['layer', 'layer', 'text'],
  ['d', 'd', 'num'],
  ['k', 'k', 'num'],
  ['selected', 'selected', 'num'],
  ['threshold', 'threshold', 'nullable'],
  ['rho', 'rho', 'num'],
  ['rhoTopk', 'rho_topk', 'num'],
  ['boundGeneral', 'bound_general', 'num'],
  ['boundGaussian', 'bound_gaussian', 'num'],
  ['overlap', 'overlap', 'num'],
  ['mean', 'mean', 'num'],
  ['std', 'std', 'num'],
  ['skewness', 'skewness', 'num'],
  ['excessKurtosis', 'excess_kurtosis', 'num'],
]);

/** Histograms: counts is handled apart (a BLOB). */
export const HISTOGRAM_FIELDS = spec([
  ['iteration', 'iteration', 'key'],
  ['layer', 'layer', 'text'],
  ['min', 'min', 'num'],
  ['max', 'max', 'num'],
  ['mean', 'mean', 'num'],
  ['std', 'std', 'num'],
  ['skewness', 'skewness', 'num'],
  ['excessKurtosis', 'excess_kurtosis', 'num'],
]);

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
      if (v !== null) record[f.field] = v;
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
export function encodeCounts(counts: readonly number[]): Buffer {
  if (!Array.isArray(counts)) throw new InvalidRecordError('histogram', 'counts must be an array');
  const out = Buffer.allocUnsafe(counts.length * 4);
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]!;
    if (!Number.isInteger(c) || c < 0 || c > 0xffffffff)
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
