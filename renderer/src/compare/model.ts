/**
 * From the runs' series to what the chart draws: the chosen y against the chosen x per run,
 * smoothed, and averaged over the seeds of one experiment + arm when asked.
 */
import type { RunSeries, SeriesColumn } from '../../../common/api';
import type { EvaluationRecord, RunStatus } from '../../../common/metrics';
import type { RunRow } from '../../../common/runs';
import {
  EVALUATION_CHART_FIELDS,
  EVALUATION_FIELDS,
  ITERATION_CHART_FIELDS,
  ITERATION_FIELDS,
  PHASE_FIELDS,
  axisLabel,
  type EvaluationChartField,
  type FieldMeta,
  type IterationChartField,
} from '../../../common/records';
import { aggregateSeeds, type BandKind } from './aggregate';
import { assignColors, DASHES, methodMarker } from './colors';
import { armLabel } from './names';
import { emaSmooth } from './smoothing';

export const X_AXES = {
  iteration: { label: 'Iteration' },
  epoch: { label: 'Epoch' },
  wallTime: { label: 'Wall time (s)' },
  bytes: { label: 'Bytes sent (rank 0, cumulative)' },
} as const;
export type XAxisId = keyof typeof X_AXES;

type IterationMetric = { label: string; source: 'iteration'; columns: readonly SeriesColumn[]; scale?: number };
type EvaluationMetric = {
  label: string;
  source: 'evaluation';
  field: EvaluationChartField;
  scale?: number;
};

/** The y metrics: the record fields marked `chart` (common/records.ts), and the iteration time, the phases' sum. */
export type YMetricId = IterationChartField | EvaluationChartField | 'iterationMs';
const scaleOf = ({ scale }: FieldMeta) => (scale === undefined ? {} : { scale });
const iterationMetric = (id: IterationChartField): [YMetricId, IterationMetric] => {
  const meta: FieldMeta = ITERATION_FIELDS[id];
  return [id, { label: axisLabel(meta), source: 'iteration', columns: [id], ...scaleOf(meta) }];
};
const evaluationMetric = (id: EvaluationChartField): [YMetricId, EvaluationMetric] => {
  const meta: FieldMeta = EVALUATION_FIELDS[id];
  return [id, { label: axisLabel(meta), source: 'evaluation', field: id, ...scaleOf(meta) }];
};
/** In the menu: the train loss, the evaluation metrics, the other iteration fields, the iteration time. */
export const Y_METRICS = Object.fromEntries([
  iterationMetric('loss'),
  ...EVALUATION_CHART_FIELDS.map(evaluationMetric),
  ...ITERATION_CHART_FIELDS.filter((id) => id !== 'loss').map(iterationMetric),
  ['iterationMs', { label: 'Iteration time (ms)', source: 'iteration', columns: PHASE_FIELDS }],
]) as Record<YMetricId, IterationMetric | EvaluationMetric>;

export interface PlotOptions {
  x: XAxisId;
  y: YMetricId;
  /** EMA weight, 0 (none) to 0.99. */
  smoothing: number;
  /** One curve per experiment + arm with a band across its seeds. */
  aggregate: boolean;
  band: BandKind;
  /** Plot 1 - y: rho and its bounds sit at 0.99-1.0 after warm-up, and 1 - rho on a log axis tells them apart. */
  oneMinus?: boolean;
}

/** What the model needs to know about a run besides its series. */
export interface RunMeta {
  runId: string;
  experimentId: string;
  experimentName: string;
  arm: string;
  method?: string;
  seed: number;
  status?: RunStatus;
  /** The name the user gave the run, shown instead of its arm and seed. */
  name?: string | null;
}

/** A stored run as the model knows it, going by the name the user gave it where there is one. */
export function runMetaOf(run: RunRow, name: string | null | undefined): RunMeta {
  return {
    runId: run.id,
    experimentId: run.experimentId,
    experimentName: run.experimentName,
    arm: run.arm,
    method: run.armConfig.method,
    seed: run.seed,
    status: run.status,
    name: name ?? null,
  };
}

export interface PlotSeries {
  key: string;
  label: string;
  color: string;
  dash: number[];
  /** Point marker of the arm's method (Chart.js point style), so coinciding arms stay apart. */
  marker: string;
  /** Read-only; may be the core's own column arrays, where null reads as a missing value (not finite). */
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  /** The band across seeds (aggregated curves of more than one run). */
  lower?: Float64Array;
  upper?: Float64Array;
  runIds: string[];
}

export interface PlotModel {
  series: PlotSeries[];
  xLabel: string;
  yLabel: string;
  /** Points before decimation, over all series. */
  points: number;
  /** EMA weight applied to the curves (0: as recorded); the y label says so too, and so every export. */
  smoothing: number;
}

/** The columns a series request needs for this x and y. */
export function columnsFor(x: XAxisId, y: YMetricId): SeriesColumn[] {
  const cols = new Set<SeriesColumn>();
  if (x === 'epoch') cols.add('epoch');
  if (x === 'wallTime') cols.add('wallMs');
  if (x === 'bytes') cols.add('bytesSentTotal');
  const metric = Y_METRICS[y];
  if (metric.source === 'iteration') for (const c of metric.columns) cols.add(c);
  return [...cols];
}

/**
 * Columns converted to Float64Array, kept per source array while its length and the scale stay the
 * same (redraws for smoothing or scales do not convert again; live appends grow the length).
 */
const converted = new WeakMap<readonly unknown[], { length: number; scale: number; values: Float64Array }>();

function toFloat(values: readonly (number | null)[] | undefined, length: number, scale = 1): Float64Array {
  if (!values) return new Float64Array(length).fill(NaN);
  const hit = converted.get(values);
  if (hit && hit.length === length && hit.scale === scale) return hit.values;
  const out = new Float64Array(length);
  for (let i = 0; i < length; i++) {
    const v = values[i];
    out[i] = v === null || v === undefined ? NaN : v * scale;
  }
  converted.set(values, { length, scale, values: out });
  return out;
}

/**
 * Interpolated value of `col` (aligned with `iteration`, increasing) at an iteration; past the last
 * recorded iteration (a strided series may end before it), the last value.
 */
function valueAtIteration(iteration: readonly number[], col: ArrayLike<number>, at: number): number {
  let lo = 0;
  let hi = iteration.length - 1;
  if (hi < 0 || at < iteration[0]!) return NaN;
  if (at >= iteration[hi]!) return col[hi]!;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (iteration[mid]! <= at) lo = mid;
    else hi = mid;
  }
  if (iteration[lo] === at) return col[lo]!;
  if (iteration[hi] === at) return col[hi]!;
  const t = (at - iteration[lo]!) / (iteration[hi]! - iteration[lo]!);
  return col[lo]! + (col[hi]! - col[lo]!) * t;
}

/**
 * A column as it came from the core, read as numbers: null and absent entries are not finite, which
 * is how every consumer here (decimation, smoothing, averaging, export) tells a missing value.
 * Returned without a copy, so the first draw of new data allocates nothing for it.
 */
function raw(values: readonly (number | null)[] | undefined, length: number): ArrayLike<number> {
  if (!values) return new Float64Array(length).fill(NaN);
  return values as unknown as ArrayLike<number>;
}

/** One run's raw curve (x, y) for the options, unsmoothed. */
export function runCurve(series: RunSeries, x: XAxisId, y: YMetricId): { x: ArrayLike<number>; y: ArrayLike<number> } {
  const metric = Y_METRICS[y];
  const n = series.iteration.length;
  const xOfIteration = (): ArrayLike<number> => {
    if (x === 'iteration') return series.iteration;
    if (x === 'epoch') return raw(series.columns.epoch, n);
    if (x === 'wallTime') return toFloat(series.columns.wallMs, n, 1 / 1000);
    return raw(series.columns.bytesSentTotal, n);
  };
  if (metric.source === 'evaluation') {
    const evals = series.evaluations.filter((e) => typeof e[metric.field] === 'number');
    const xs = new Float64Array(evals.length);
    const ys = new Float64Array(evals.length);
    const bytes = x === 'bytes' ? raw(series.columns.bytesSentTotal, n) : null;
    evals.forEach((e: EvaluationRecord, i) => {
      xs[i] =
        x === 'iteration'
          ? e.iteration
          : x === 'epoch'
            ? e.epoch
            : x === 'wallTime'
              ? e.wallMs / 1000
              : // An evaluation's iteration counts the iterations done: the bytes are those after the last one.
                valueAtIteration(series.iteration, bytes!, e.iteration - 1);
      ys[i] = (e[metric.field] as number) * (metric.scale ?? 1);
    });
    return { x: xs, y: ys };
  }
  const xs = xOfIteration();
  let ys: ArrayLike<number>;
  if (metric.columns.length === 1) {
    ys = metric.scale
      ? toFloat(series.columns[metric.columns[0]!], n, metric.scale)
      : raw(series.columns[metric.columns[0]!], n);
  } else {
    const sum = new Float64Array(n);
    for (const c of metric.columns) {
      const col = raw(series.columns[c], n);
      for (let i = 0; i < n; i++) sum[i] = sum[i]! + (col[i] ?? NaN);
    }
    ys = sum;
  }
  return { x: xs, y: ys };
}

export function groupKey(meta: RunMeta): string {
  return `${meta.experimentId}/${meta.arm}`;
}

/** A colour per group (experiment/arm) of these runs: what the chart, the legend and the tables share. */
export function colorsOfGroups(metas: Iterable<RunMeta>): Map<string, string> {
  return assignColors([...metas].map((m) => ({ key: groupKey(m), arm: m.arm, method: m.method })));
}

/** The plotted series, in a stable order (experiment, arm, seed). */
export function buildPlot(
  series: readonly RunSeries[],
  metas: ReadonlyMap<string, RunMeta>,
  options: PlotOptions,
  /** Colour per group key (experiment/arm); by default assigned among the runs given. */
  groupColors?: ReadonlyMap<string, string>,
): PlotModel {
  const runs = series
    .map((s) => ({ s, meta: metas.get(s.runId) }))
    .filter((r): r is { s: RunSeries; meta: RunMeta } => r.meta !== undefined)
    .sort(
      (a, b) =>
        a.meta.experimentName.localeCompare(b.meta.experimentName) ||
        a.meta.experimentId.localeCompare(b.meta.experimentId) ||
        a.meta.arm.localeCompare(b.meta.arm) ||
        a.meta.seed - b.meta.seed,
    );
  const experiments = new Set(runs.map((r) => r.meta.experimentId));
  const manyExperiments = experiments.size > 1;
  const colors = groupColors ?? colorsOfGroups(runs.map((r) => r.meta));
  const groups = new Map<string, { meta: RunMeta; runs: { s: RunSeries; meta: RunMeta }[] }>();
  for (const r of runs) {
    const key = groupKey(r.meta);
    const g = groups.get(key) ?? { meta: r.meta, runs: [] };
    g.runs.push(r);
    groups.set(key, g);
  }
  const name = (meta: RunMeta): string => {
    const arm = armLabel(meta.arm, meta.method);
    return manyExperiments ? `${meta.experimentName} · ${arm}` : arm;
  };
  const smoothing = appliedSmoothing(options);
  const curve = (s: RunSeries): { x: ArrayLike<number>; y: ArrayLike<number> } => {
    const c = runCurve(s, options.x, options.y);
    const y = options.oneMinus ? oneMinus(c.y) : c.y;
    return { x: c.x, y: smoothing > 0 ? emaSmooth(y, smoothing) : y };
  };

  const out: PlotSeries[] = [];
  let points = 0;
  for (const [key, g] of groups) {
    const color = colors.get(key) ?? '#7f7f7f';
    if (options.aggregate && g.runs.length > 1) {
      const agg = aggregateSeeds(
        g.runs.map((r) => curve(r.s)),
        options.band,
      );
      points += agg.x.length;
      out.push({
        key,
        label: `${name(g.meta)} (mean of ${g.runs.length} seeds)`,
        color,
        dash: [],
        marker: methodMarker(g.meta.method),
        x: agg.x,
        y: agg.mean,
        ...(options.band !== 'none' ? { lower: agg.lower, upper: agg.upper } : {}),
        runIds: g.runs.map((r) => r.meta.runId),
      });
      continue;
    }
    g.runs.forEach((r, i) => {
      const c = curve(r.s);
      points += c.x.length;
      out.push({
        key: `${key}/${r.meta.runId}`,
        label: r.meta.name
          ? r.meta.name
          : g.runs.length > 1 || !options.aggregate
            ? `${name(r.meta)} seed ${r.meta.seed}`
            : name(r.meta),
        color,
        dash: DASHES[i % DASHES.length]!,
        marker: methodMarker(r.meta.method),
        x: c.x,
        y: c.y,
        runIds: [r.meta.runId],
      });
    });
  }
  const yLabel =
    (options.oneMinus ? `1 − ${Y_METRICS[options.y].label}` : Y_METRICS[options.y].label) +
    (smoothing > 0 ? ` (smoothed by EMA ${smoothing.toFixed(2)})` : '');
  return { series: out, xLabel: X_AXES[options.x].label, yLabel, points, smoothing };
}

function oneMinus(ys: ArrayLike<number>): Float64Array {
  const out = new Float64Array(ys.length);
  for (let i = 0; i < ys.length; i++) {
    const y = ys[i] as number | null;
    out[i] = y === null ? NaN : 1 - y;
  }
  return out;
}

/**
 * The EMA weight applied: only dense per-iteration series are smoothed. Evaluations are a few points
 * each, and smoothing them would draw a final accuracy the summary table does not have.
 */
function appliedSmoothing(options: Pick<PlotOptions, 'y' | 'smoothing'>): number {
  return Y_METRICS[options.y].source === 'iteration' ? options.smoothing : 0;
}

/** The model with a dashed horizontal line at `y` across the x range of its series (an evaluation target). */
export function withTargetLine(model: PlotModel, y: number, label: string): PlotModel {
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of model.series) {
    for (let i = 0; i < s.x.length; i++) {
      const v = s.x[i]!;
      if (!Number.isFinite(v) || !Number.isFinite(s.y[i]!)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  if (!Number.isFinite(y) || lo > hi) return model;
  const line: PlotSeries = {
    key: 'target',
    label,
    color: '#6b7280',
    dash: [4, 4],
    marker: 'line',
    x: Float64Array.of(lo, hi),
    y: Float64Array.of(y, y),
    runIds: [],
  };
  return { ...model, series: [...model.series, line] };
}
