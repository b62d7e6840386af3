/**
 * Compare's dashboard: small multiples of the selected runs, each panel one y against one x. The
 * defaults tell a sparsification comparison at a glance (accuracy against iterations, bytes sent and
 * wall time; train loss; the selected count; 1 - rho), and every panel's axes can be changed. The view
 * and bench/ui draw panels through drawPanel.
 */
import type { RunSeries, SeriesColumn } from '../../../common/api';
import type { CompareChart, DrawResult } from './chart';
import {
  buildPlot,
  columnsFor,
  withTargetLine,
  X_AXES,
  Y_METRICS,
  type PlotModel,
  type PlotOptions,
  type RunMeta,
  type XAxisId,
  type YMetricId,
} from './model';

export interface PanelSpec {
  y: YMetricId;
  x: XAxisId;
  logX: boolean;
  logY: boolean;
  /** Plot 1 - y (rho and its kind sit at 0.99-1.0 after warm-up: on a log axis 1 - rho separates them). */
  oneMinus: boolean;
}

/** The six panels a comparison opens on. */
export function defaultPanels(): PanelSpec[] {
  const panel = (y: YMetricId, x: XAxisId, more: Partial<PanelSpec> = {}): PanelSpec => ({
    y,
    x,
    logX: false,
    logY: false,
    oneMinus: false,
    ...more,
  });
  return [
    panel('accuracy', 'iteration'),
    // Dense sends two orders of magnitude more than the sparse arms: only a log axis shows both.
    panel('accuracy', 'bytes', { logX: true }),
    panel('accuracy', 'wallTime'),
    panel('loss', 'iteration'),
    panel('selected', 'iteration', { logY: true }),
    panel('rho', 'iteration', { oneMinus: true, logY: true }),
  ];
}

/** A saved panel list, or the defaults where it is not one (another version's settings). */
export function restorePanels(saved: unknown): PanelSpec[] {
  const defaults = defaultPanels();
  if (!Array.isArray(saved) || saved.length !== defaults.length) return defaults;
  return defaults.map((d, i) => {
    const s = saved[i] as Partial<PanelSpec> | null;
    return s && typeof s === 'object' ? { ...d, ...pick(s, d) } : d;
  });
}

/** The saved fields that still mean something: the right type, and axes and metrics this version knows. */
function pick(s: Partial<PanelSpec>, d: PanelSpec): Partial<PanelSpec> {
  const out: Partial<PanelSpec> = {};
  for (const key of Object.keys(d) as (keyof PanelSpec)[]) {
    if (typeof s[key] !== typeof d[key]) continue;
    if (key === 'x' && !Object.hasOwn(X_AXES, s.x!)) continue;
    if (key === 'y' && !Object.hasOwn(Y_METRICS, s.y!)) continue;
    (out as Record<string, unknown>)[key] = s[key];
  }
  return out;
}

/** Every column the panels need, for one series request. */
export function dashboardColumns(panels: readonly PanelSpec[]): SeriesColumn[] {
  return [...new Set(panels.flatMap((p) => columnsFor(p.x, p.y)))];
}

/** Accuracy panels show perplexity for language models (runs that record perplexity and no accuracy). */
export function evaluationMetricOf(series: readonly RunSeries[]): 'accuracy' | 'perplexity' {
  const has = (field: 'accuracy' | 'perplexity') =>
    series.some((s) => s.evaluations.some((e) => typeof e[field] === 'number'));
  return has('perplexity') && !has('accuracy') ? 'perplexity' : 'accuracy';
}

/** What every panel shares: the controls above the dashboard, and the evaluation target. */
export interface CommonOptions {
  smoothing: number;
  aggregate: boolean;
  band: PlotOptions['band'];
  /** The evaluation target as the experiment states it (accuracy fraction or perplexity), or null. */
  target: number | null;
}

/** The panel's plot model: its y (accuracy or perplexity as the runs record), the target line where it applies. */
export function panelModel(
  spec: PanelSpec,
  series: readonly RunSeries[],
  metas: ReadonlyMap<string, RunMeta>,
  common: CommonOptions,
  colors: ReadonlyMap<string, string>,
): PlotModel {
  const y = spec.y === 'accuracy' || spec.y === 'perplexity' ? evaluationMetricOf(series) : spec.y;
  let model = buildPlot(
    series,
    metas,
    {
      x: spec.x,
      y,
      smoothing: common.smoothing,
      aggregate: common.aggregate,
      band: common.band,
      oneMinus: spec.oneMinus,
    },
    colors,
  );
  const target = common.target;
  if (target !== null && (y === 'accuracy' || y === 'perplexity') && !spec.oneMinus) {
    const isAccuracy = y === 'accuracy';
    // A target is an accuracy (fraction) for classifiers, a perplexity for language models.
    if (isAccuracy === target <= 1) {
      const value = isAccuracy ? Number((target * 100).toPrecision(6)) : target;
      model = withTargetLine(model, value, `target ${value}${isAccuracy ? '%' : ''}`);
    }
  }
  return model;
}

/** Builds and draws one panel; returns its model and what was drawn. */
export function drawPanel(
  chart: CompareChart,
  spec: PanelSpec,
  series: readonly RunSeries[],
  metas: ReadonlyMap<string, RunMeta>,
  common: CommonOptions,
  colors: ReadonlyMap<string, string>,
): { model: PlotModel; result: DrawResult } {
  const model = panelModel(spec, series, metas, common, colors);
  return { model, result: chart.draw(model, { logX: spec.logX, logY: spec.logY }) };
}
