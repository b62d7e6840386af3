/**
 * The records a run produces, each defined once: a zod schema whose fields carry their metadata.
 * The worker sends them (validated on the hub with these schemas), the store keeps them (its
 * columns and new-column migrations come from here), the API serves them (SERIES_COLUMNS) and
 * Compare plots them (its y metrics are the fields marked `chart`). `npm run build:schema` writes
 * them as JSON Schema to common/records.schema.json for workers in other languages.
 *
 * Adding a field: declare it below with `since` set to the next schema version; its producer fills
 * it in; where it is marked `chart`, Compare offers it.
 *
 * Environment-free: no Node, no DOM.
 */
import { z } from 'zod';

/** How a field is kept in SQLite; null: not a column of its table (the run id is the table's run_pk). */
export type SqlType = 'INTEGER' | 'REAL' | 'TEXT' | 'BLOB' | null;

export interface FieldMeta {
  /** What people see (tables, the JSON Schema's title); axisLabel adds the unit a chart axis shows. */
  label: string;
  unit?: 'ms' | 'bytes' | 'coordinates' | 'epochs' | 'fraction';
  description?: string;
  sql: SqlType;
  /** Part of its table's primary key (a non-negative integer, or a non-empty name). */
  key?: true;
  /** The API's series can carry it (rank 0, by iteration). */
  series?: true;
  /** Compare offers it as a y metric (implies series). */
  chart?: true;
  /** Shown multiplied by this (a fraction as a percentage). */
  scale?: number;
  /** Run summaries report its mean over every (rank, iteration) record as mean<Field>. */
  aggregate?: 'mean';
  /** One of the iteration's phases, which add up to the iteration time. */
  phase?: true;
  /**
   * The schema version whose migration adds this field's column (generated from this field);
   * absent for the columns of the hand-written migrations (main/core/store/schema.ts).
   */
  since?: number;
}

export interface FieldDef<S extends z.ZodType = z.ZodType> extends FieldMeta {
  schema: S;
}

type Fields = Record<string, FieldDef>;

/** The label with the unit a chart axis shows: (ms), or (%) for a fraction shown times 100. */
export function axisLabel(meta: FieldMeta): string {
  if (meta.unit === 'fraction' && meta.scale === 100) return `${meta.label} (%)`;
  return meta.unit === 'ms' ? `${meta.label} (ms)` : meta.label;
}

function field<S extends z.ZodType, const M extends FieldMeta>(schema: S, meta: M): M & { schema: S } {
  return { ...meta, schema };
}

// ---------------------------------------------------------------------------------------------------------------
// Value types

/** A record number: finite, or one of the tokens non-finite numbers travel as on the wire. */
export const recordNumber = z.union([
  z.number(),
  z
    .enum(['NaN', 'Infinity', '-Infinity'])
    .transform((s) => (s === 'NaN' ? NaN : s === 'Infinity' ? Infinity : -Infinity)),
]);
export const nonNegativeInt = z.number().int().nonnegative();
export const recordId = z.string().min(1).max(256);

const num = recordNumber;
const opt = recordNumber.optional();

const runId = field(recordId, { label: 'Run', sql: null });
const iteration = field(nonNegativeInt, { label: 'Iteration', sql: 'INTEGER', key: true });
const layer = field(z.string(), {
  label: 'Layer',
  description: 'tensor name, or "model" for the whole flattened u',
  sql: 'TEXT',
  key: true,
});
const ms = <const M extends Omit<FieldMeta, 'sql' | 'unit'>>(meta: M) =>
  field(num, { ...meta, unit: 'ms', sql: 'REAL' } as const);
const optionalMs = <const M extends Omit<FieldMeta, 'sql' | 'unit'>>(meta: M) =>
  field(opt, { ...meta, unit: 'ms', sql: 'REAL' } as const);
const shape = {
  mean: field(num, { label: 'Mean of u', sql: 'REAL' }),
  std: field(num, { label: 'Std of u', sql: 'REAL' }),
  skewness: field(num, { label: 'Skewness of u', sql: 'REAL' }),
  excessKurtosis: field(num, { label: 'Excess kurtosis of u', sql: 'REAL' }),
};

// ---------------------------------------------------------------------------------------------------------------
// The records

/** One rank's iteration; the statistics fields are present on the iterations where they were measured. */
export const ITERATION_FIELDS = {
  runId,
  iteration,
  rank: field(nonNegativeInt, { label: 'Rank', sql: 'INTEGER', key: true }),
  epoch: field(num, {
    label: 'Epoch',
    unit: 'epochs',
    description: 'fractional, at the end of the iteration',
    sql: 'REAL',
    series: true,
  }),
  loss: field(num, { label: 'Train loss', sql: 'REAL', chart: true }),
  lr: field(num, { label: 'Learning rate', sql: 'REAL', chart: true }),
  density: field(num, { label: 'Density', unit: 'fraction', sql: 'REAL', chart: true }),
  k: field(num, { label: 'k', unit: 'coordinates', description: 'summed over tensors', sql: 'INTEGER', series: true }),
  selected: field(num, { label: 'Selected coordinates', unit: 'coordinates', sql: 'INTEGER', chart: true }),
  bytesSent: field(num, {
    label: 'Bytes sent / iteration',
    unit: 'bytes',
    sql: 'INTEGER',
    chart: true,
    aggregate: 'mean',
  }),
  bytesReceived: field(num, { label: 'Bytes received / iteration', unit: 'bytes', sql: 'INTEGER', aggregate: 'mean' }),
  wallMs: ms({ label: 'Wall time', description: 'since the run started', series: true }),
  computeMs: ms({ label: 'Compute', series: true, aggregate: 'mean', phase: true }),
  compressMs: ms({ label: 'Compress', series: true, aggregate: 'mean', phase: true }),
  exchangeMs: ms({
    label: 'Exchange',
    description: 'the allgather (sparse) or allreduce (Dense) of the compressed gradients through the hub',
    series: true,
    aggregate: 'mean',
    phase: true,
  }),
  waitMs: ms({
    label: 'Waiting for other ranks',
    description: "of exchangeMs, the time this rank's contribution waited at the hub for the other ranks'",
    chart: true,
    aggregate: 'mean',
  }),
  updateMs: ms({ label: 'Update', series: true, aggregate: 'mean', phase: true }),
  cpuWaitMs: optionalMs({
    label: 'Waiting for a CPU after compute',
    description:
      'of compress + exchange + update, the time this rank was ready to run but waiting for a CPU (Linux schedstat only)',
    chart: true,
    aggregate: 'mean',
  }),
  computeCpuWaitMs: optionalMs({
    label: 'Waiting for a CPU during compute',
    description: 'of computeMs, the time spent waiting for a CPU; the cluster projections subtract it',
    chart: true,
    aggregate: 'mean',
  }),
  compressCpuWaitMs: optionalMs({
    label: 'Waiting for a CPU during compress',
    description: 'of compressMs',
    aggregate: 'mean',
  }),
  updateCpuWaitMs: optionalMs({
    label: 'Waiting for a CPU during update',
    description: 'of updateMs',
    aggregate: 'mean',
  }),
  rho: field(opt, {
    label: 'rho (contraction ratio)',
    description: 'whole model: sum of residual energies over sum of energies',
    sql: 'REAL',
    chart: true,
  }),
  rhoTopk: field(opt, { label: 'rho of exact Top_k', sql: 'REAL', chart: true }),
  boundGeneral: field(opt, { label: 'Bound 1 - k/d', sql: 'REAL', series: true }),
  boundGaussian: field(opt, { label: 'Bound (1 - k/d)^2', sql: 'REAL', series: true }),
  overlap: field(opt, { label: 'Overlap with exact Top_k', unit: 'fraction', sql: 'REAL', chart: true }),
  uNorm: field(opt, {
    label: 'Norm of u = g + e',
    description: 'L2 norm over the whole model of u, the gradient plus the residual: what was compressed',
    sql: 'REAL',
    chart: true,
    since: 7,
  }),
} satisfies Fields;

/** A test-set evaluation (rank 0, after the ranks' sums are reduced). */
export const EVALUATION_FIELDS = {
  runId,
  iteration,
  epoch: field(num, { label: 'Epoch', unit: 'epochs', sql: 'REAL' }),
  wallMs: ms({ label: 'Wall time', description: 'since the run started' }),
  testLoss: field(num, { label: 'Test loss', sql: 'REAL', chart: true }),
  accuracy: field(opt, {
    label: 'Test accuracy',
    unit: 'fraction',
    description: 'classification models',
    sql: 'REAL',
    chart: true,
    scale: 100,
  }),
  perplexity: field(opt, { label: 'Test perplexity', description: 'language models', sql: 'REAL', chart: true }),
} satisfies Fields;

/** Per-layer statistics of one iteration (rank 0), where measured: the compressor's report less its histogram. */
export const LAYER_STATS_FIELDS = {
  runId,
  iteration,
  layer,
  d: field(num, { label: 'd', unit: 'coordinates', sql: 'INTEGER' }),
  k: field(num, { label: 'k', unit: 'coordinates', sql: 'INTEGER' }),
  selected: field(num, { label: 'Selected', unit: 'coordinates', sql: 'INTEGER' }),
  threshold: field(num.nullable(), {
    label: 'Threshold',
    description: 'magnitude threshold of the kept selection, where the operator has one',
    sql: 'REAL',
  }),
  rho: field(num, { label: 'rho', sql: 'REAL' }),
  rhoTopk: field(num, { label: 'rho of exact Top_k', sql: 'REAL' }),
  boundGeneral: field(num, { label: 'Bound 1 - k/d', sql: 'REAL' }),
  boundGaussian: field(num, { label: 'Bound (1 - k/d)^2', sql: 'REAL' }),
  overlap: field(num, { label: 'Overlap with exact Top_k', unit: 'fraction', sql: 'REAL' }),
  ...shape,
} satisfies Fields;

/** A histogram of u at one iteration (rank 0): equal-width bins over [min, max], the last bin closed. */
export const HISTOGRAM_FIELDS = {
  runId,
  iteration,
  layer,
  min: field(num, { label: 'Lowest bin edge', sql: 'REAL' }),
  max: field(num, { label: 'Highest bin edge', sql: 'REAL' }),
  counts: field(z.array(num), { label: 'Bin counts', description: 'stored as little-endian uint32', sql: 'BLOB' }),
  ...shape,
} satisfies Fields;

/** Every record kind: its fields and table. The kind is also the `metrics` message's `kind`. */
export const RECORDS = {
  iteration: { table: 'iterations', fields: ITERATION_FIELDS },
  evaluation: { table: 'evaluations', fields: EVALUATION_FIELDS },
  layerStats: { table: 'layer_stats', fields: LAYER_STATS_FIELDS },
  histogram: { table: 'histograms', fields: HISTOGRAM_FIELDS },
} as const;
export type RecordKind = keyof typeof RECORDS;
export const RECORD_KINDS = Object.keys(RECORDS) as RecordKind[];

type SchemaOf<F extends Fields> = z.ZodObject<{ -readonly [K in keyof F]: F[K]['schema'] }>;

/** The record's zod schema; each field's metadata rides along for the JSON Schema. */
function recordSchema<F extends Fields>(fields: F): SchemaOf<F> {
  const shape: Record<string, z.ZodType> = {};
  for (const [name, f] of Object.entries(fields)) {
    const { schema, label, description, unit } = f;
    shape[name] = schema.meta({ title: label, ...(description && { description }), ...(unit && { unit }) });
  }
  return z.object(shape) as unknown as SchemaOf<F>;
}

export const iterationRecordSchema = recordSchema(ITERATION_FIELDS);
export const evaluationRecordSchema = recordSchema(EVALUATION_FIELDS);
export const layerStatsRecordSchema = recordSchema(LAYER_STATS_FIELDS);
export const histogramRecordSchema = recordSchema(HISTOGRAM_FIELDS);

export const RECORD_SCHEMAS = {
  iteration: iterationRecordSchema,
  evaluation: evaluationRecordSchema,
  layerStats: layerStatsRecordSchema,
  histogram: histogramRecordSchema,
} as const;

export type IterationRecord = z.output<typeof iterationRecordSchema>;
export type EvaluationRecord = z.output<typeof evaluationRecordSchema>;
export type LayerStatsRecord = z.output<typeof layerStatsRecordSchema>;
export type HistogramRecord = z.output<typeof histogramRecordSchema>;

/** The record of one kind. */
export type RecordOf<K extends RecordKind> = z.output<(typeof RECORD_SCHEMAS)[K]>;

/** A batch of records of one kind, as a `metrics` message carries it. */
export type MetricsBatch = { [K in RecordKind]: { kind: K; records: RecordOf<K>[] } }[RecordKind];

// ---------------------------------------------------------------------------------------------------------------
// What derives from the fields

type FieldsWhere<F extends Fields, M> = { [K in keyof F]: F[K] extends M ? K : never }[keyof F] & string;

function fieldsWhere<F extends Fields>(fields: F, test: (f: FieldDef) => boolean): string[] {
  return Object.entries(fields)
    .filter(([, f]) => test(f))
    .map(([name]) => name);
}

/** Iteration fields Compare offers as y metrics; evaluation ones likewise. */
export type IterationChartField = FieldsWhere<typeof ITERATION_FIELDS, { chart: true }>;
export type EvaluationChartField = FieldsWhere<typeof EVALUATION_FIELDS, { chart: true }>;
export const ITERATION_CHART_FIELDS = fieldsWhere(ITERATION_FIELDS, (f) => f.chart === true) as IterationChartField[];
export const EVALUATION_CHART_FIELDS = fieldsWhere(
  EVALUATION_FIELDS,
  (f) => f.chart === true,
) as EvaluationChartField[];

/** The iteration's phases, in order; their sum is the iteration time. */
export type PhaseField = FieldsWhere<typeof ITERATION_FIELDS, { phase: true }>;
export const PHASE_FIELDS = fieldsWhere(ITERATION_FIELDS, (f) => f.phase === true) as PhaseField[];

/** Iteration fields whose mean a run summary reports. */
export type AveragedField = FieldsWhere<typeof ITERATION_FIELDS, { aggregate: 'mean' }>;
export const AVERAGED_FIELDS = fieldsWhere(ITERATION_FIELDS, (f) => f.aggregate === 'mean') as AveragedField[];
/** mean<Field> of each averaged field: null where no record has it. */
export type FieldMeans = { [K in AveragedField as `mean${Capitalize<K>}`]: number | null };
export function meanKey<K extends AveragedField>(name: K): `mean${Capitalize<K>}` {
  return `mean${name[0]!.toUpperCase()}${name.slice(1)}` as `mean${Capitalize<K>}`;
}

/** Iteration columns a series can carry besides iteration (always there): the series and chart fields, and bytesSentTotal. */
export type SeriesColumn = FieldsWhere<typeof ITERATION_FIELDS, { series: true } | { chart: true }> | 'bytesSentTotal';
export const SERIES_COLUMNS = [
  ...fieldsWhere(ITERATION_FIELDS, (f) => f.series === true || f.chart === true),
  /** Bytes rank 0 sent from the start of the run to the end of this iteration. */
  'bytesSentTotal',
] as unknown as readonly [SeriesColumn, ...SeriesColumn[]];

// ---------------------------------------------------------------------------------------------------------------
// JSON Schema

/** The records as one self-contained JSON Schema (draft 2020-12); see common/records.schema.json. */
export function recordsJsonSchema(): Record<string, unknown> {
  const defs: Record<string, unknown> = {};
  for (const kind of RECORD_KINDS) {
    const { $schema: _, ...schema } = z.toJSONSchema(RECORD_SCHEMAS[kind], { io: 'input', target: 'draft-2020-12' });
    defs[kind] = { title: `${kind} record`, ...schema };
  }
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://sparselab.local/records.schema.json',
    title: 'SparseLab records',
    description:
      'Generated from common/records.ts by `npm run build:schema`; do not edit. $defs holds one schema per record kind; ' +
      'the root validates a batch as a metrics message carries it: { "kind": <kind>, "records": [<record of that kind>, ...] }. ' +
      'Non-finite numbers travel as the strings "NaN", "Infinity" and "-Infinity".',
    oneOf: RECORD_KINDS.map((kind) => ({
      type: 'object',
      properties: { kind: { const: kind }, records: { type: 'array', items: { $ref: `#/$defs/${kind}` } } },
      required: ['kind', 'records'],
    })),
    $defs: defs,
  };
}
