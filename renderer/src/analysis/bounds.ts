/**
 * The contraction ratio against the paper's bounds (paper.md): rho <= 1 - k/d holds for Top_k on any u,
 * rho <= (1 - k/d)^2 under bell-shaped u. Turns recorded series (whole model or one layer) into
 * aligned points and counts where each bound held.
 */
import type { RunSeries } from '../../../common/api';
import type { LayerStatsRecord } from '../../../common/metrics';

export interface ContractionPoint {
  iteration: number;
  rho: number | null;
  rhoTopk: number | null;
  boundGeneral: number | null;
  boundGaussian: number | null;
  overlap: number | null;
  selected: number | null;
  k: number | null;
}

/** Tolerance of a bound check, for float32 sums near the bound. */
export const BOUND_TOLERANCE = 1e-6;

const num = (v: number | null | undefined): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** Whole-model points from a run's series: the iterations where statistics were measured (rho present). */
export function pointsFromSeries(series: RunSeries): ContractionPoint[] {
  const c = series.columns;
  const at = (col: keyof typeof c, i: number) => num(c[col]?.[i]);
  const points: ContractionPoint[] = [];
  series.iteration.forEach((iteration, i) => {
    const rho = at('rho', i);
    const rhoTopk = at('rhoTopk', i);
    if (rho === null && rhoTopk === null) return;
    points.push({
      iteration,
      rho,
      rhoTopk,
      boundGeneral: at('boundGeneral', i),
      boundGaussian: at('boundGaussian', i),
      overlap: at('overlap', i),
      selected: at('selected', i),
      k: at('k', i),
    });
  });
  return points;
}

/** One layer's points from its statistics records (any order; sorted by iteration). */
export function pointsFromLayerStats(records: LayerStatsRecord[], layer: string): ContractionPoint[] {
  return records
    .filter((r) => r.layer === layer)
    .sort((a, b) => a.iteration - b.iteration)
    .map((r) => ({
      iteration: r.iteration,
      rho: num(r.rho),
      rhoTopk: num(r.rhoTopk),
      boundGeneral: num(r.boundGeneral),
      boundGaussian: num(r.boundGaussian),
      overlap: num(r.overlap),
      selected: num(r.selected),
      k: num(r.k),
    }));
}

export interface BoundTally {
  /** Points where both values exist. */
  measured: number;
  held: number;
  /** Largest value - bound (positive: the worst violation). */
  worstMargin: number | null;
  /** Iterations where it did not hold. */
  violations: number[];
}

export interface BoundSummary {
  rhoGeneral: BoundTally;
  rhoGaussian: BoundTally;
  topkGeneral: BoundTally;
  topkGaussian: BoundTally;
  /** Mean |selected - k| / k over the points with both. */
  meanSelectionError: number | null;
  meanOverlap: number | null;
}

function tally(
  points: ContractionPoint[],
  value: keyof ContractionPoint,
  bound: keyof ContractionPoint,
  tolerance: number,
): BoundTally {
  const result: BoundTally = { measured: 0, held: 0, worstMargin: null, violations: [] };
  for (const p of points) {
    const v = p[value];
    const b = p[bound];
    if (v === null || b === null) continue;
    result.measured++;
    const margin = v - b;
    if (margin <= tolerance) result.held++;
    else result.violations.push(p.iteration);
    if (result.worstMargin === null || margin > result.worstMargin) result.worstMargin = margin;
  }
  return result;
}

function mean(values: number[]): number | null {
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : null;
}

export function summarizeBounds(points: ContractionPoint[], tolerance = BOUND_TOLERANCE): BoundSummary {
  return {
    rhoGeneral: tally(points, 'rho', 'boundGeneral', tolerance),
    rhoGaussian: tally(points, 'rho', 'boundGaussian', tolerance),
    topkGeneral: tally(points, 'rhoTopk', 'boundGeneral', tolerance),
    topkGaussian: tally(points, 'rhoTopk', 'boundGaussian', tolerance),
    meanSelectionError: mean(
      points.flatMap((p) => (p.selected !== null && p.k !== null && p.k > 0 ? [Math.abs(p.selected - p.k) / p.k] : [])),
    ),
    meanOverlap: mean(points.flatMap((p) => (p.overlap !== null ? [p.overlap] : []))),
  };
}

/** "held in 47 of 47" / "held in 40 of 47 (first miss at iteration 120)" / null when nothing was measured. */
export function describeTally(t: BoundTally): string | null {
  if (t.measured === 0) return null;
  const base = `${t.held} of ${t.measured}`;
  return t.violations.length ? `${base} (first exceeded at iteration ${t.violations[0]})` : base;
}

/** The bounds k and d imply: 1 - k/d and (1 - k/d)^2. */
export function expectedBounds(k: number, d: number): { boundGeneral: number; boundGaussian: number } {
  const g = 1 - k / d;
  return { boundGeneral: g, boundGaussian: g * g };
}

/** How the contraction chart shows rho: as is, 1 - rho (on a log axis), or rho / (1 - k/d). */
export type RhoView = 'rho' | 'oneMinus' | 'normalized';

export const RHO_VIEWS: Record<
  RhoView,
  { label: string; axis: string; log: boolean; general: string; gaussian: string; of: (operator: string) => string }
> = {
  oneMinus: {
    label: '1 − rho (log)',
    axis: '1 − rho: share of ||u||² sent (higher is better)',
    log: true,
    general: 'k/d (general bound: 1 − rho ≥ k/d)',
    gaussian: '1 − (1 − k/d)² (bell-shaped bound)',
    of: (operator) => `1 − rho of ${operator}`,
  },
  normalized: {
    label: 'rho / (1 − k/d)',
    axis: 'rho / (1 − k/d): 1 is the general bound',
    log: false,
    general: '1 (general bound)',
    gaussian: '1 − k/d (bell-shaped bound)',
    of: (operator) => `rho of ${operator} / (1 − k/d)`,
  },
  rho: {
    label: 'rho',
    axis: 'contraction ratio ||u − C(u)||² / ||u||²',
    log: false,
    general: '1 − k/d (general bound)',
    gaussian: '(1 − k/d)² (bell-shaped bound)',
    of: (operator) => `rho of ${operator}`,
  },
};

/**
 * Points as the chosen view draws them. After warm-up rho and both bounds sit at 0.99-1.0: 1 - rho
 * on a log axis, or rho over the general bound, tells them apart (a smaller 1 - rho is a worse
 * operator; in the normalized view the bell-shaped bound is 1 - k/d and the general one 1).
 */
export function viewContraction(points: readonly ContractionPoint[], view: RhoView): ContractionPoint[] {
  if (view === 'rho') return [...points];
  return points.map((p) => {
    const f = (v: number | null): number | null => {
      if (v === null) return null;
      if (view === 'oneMinus') return 1 - v;
      return p.boundGeneral !== null && p.boundGeneral > 0 ? v / p.boundGeneral : null;
    };
    return {
      ...p,
      rho: f(p.rho),
      rhoTopk: f(p.rhoTopk),
      boundGeneral: f(p.boundGeneral),
      boundGaussian: f(p.boundGaussian),
    };
  });
}

/**
 * Iterations where the operator's rho is below exact Top_k's: impossible at the same count (Top_k
 * keeps the largest k), so it selected more than k. Returns how many and how many selected more.
 */
export function belowTopk(
  points: readonly ContractionPoint[],
  tolerance = BOUND_TOLERANCE,
): { below: number; more: number } {
  let below = 0;
  let more = 0;
  for (const p of points) {
    if (p.rho === null || p.rhoTopk === null || p.rho >= p.rhoTopk - tolerance) continue;
    below++;
    if (p.selected !== null && p.k !== null && p.selected > p.k) more++;
  }
  return { below, more };
}
