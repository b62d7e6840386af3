/**
 * Histograms of u as the store keeps them (equal-width bins over [min, max], common/stats.ts) and
 * the normal curve N(mean, std) fitted to them, scaled to the bin counts.
 */
import type { Histogram } from '../../../common/stats';

export interface FittedHistogram {
  /** Bin edges, counts.length + 1 of them. */
  edges: number[];
  centers: number[];
  width: number;
  total: number;
  /** Counts N(mean, std) puts in each bin: total * (Phi(b) - Phi(a)). */
  expected: number[];
  /** A smooth curve of the same scale: total * width * pdf(x), sampled across the bins. */
  curve: { x: number; y: number }[];
}

/** erf by Abramowitz and Stegun 7.1.26 (absolute error under 1.5e-7). */
export function erf(x: number): number {
  const sign = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return sign * (1 - poly * Math.exp(-a * a));
}

export function normalCdf(x: number, mean: number, std: number): number {
  if (!(std > 0)) return x < mean ? 0 : 1;
  return 0.5 * (1 + erf((x - mean) / (std * Math.SQRT2)));
}

export function normalPdf(x: number, mean: number, std: number): number {
  if (!(std > 0)) return 0;
  const z = (x - mean) / std;
  return Math.exp(-0.5 * z * z) / (std * Math.sqrt(2 * Math.PI));
}

export function binEdges(h: Histogram): number[] {
  const n = h.counts.length;
  const width = n > 0 ? (h.max - h.min) / n : 0;
  return Array.from({ length: n + 1 }, (_, i) => (i === n ? h.max : h.min + i * width));
}

/** The histogram with N(mean, std) fitted to it (mean and std of u as recorded, not of the binned data). */
export function fitNormal(h: Histogram, mean: number, std: number, samplesPerBin = 4): FittedHistogram {
  const n = h.counts.length;
  const edges = binEdges(h);
  const width = n > 0 ? (h.max - h.min) / n : 0;
  const centers = h.counts.map((_, i) => (edges[i]! + edges[i + 1]!) / 2);
  const total = h.counts.reduce((a, b) => a + b, 0);
  const expected = h.counts.map((_, i) => {
    // A single point mass (min = max) sits in the one bin.
    if (width === 0) return i === 0 ? total : 0;
    return total * (normalCdf(edges[i + 1]!, mean, std) - normalCdf(edges[i]!, mean, std));
  });
  const curve: { x: number; y: number }[] = [];
  if (width > 0 && std > 0) {
    const steps = n * samplesPerBin;
    for (let s = 0; s <= steps; s++) {
      const x = h.min + ((h.max - h.min) * s) / steps;
      curve.push({ x, y: total * width * normalPdf(x, mean, std) });
    }
  }
  return { edges, centers, width, total, expected, curve };
}

/**
 * Histograms of several layers on one common grid (the union of their ranges), for a whole-model view
 * where only per-layer histograms were recorded. A bin's count is spread over the grid bins it overlaps,
 * in proportion to the overlap (exact when the grids line up; an approximation otherwise).
 */
export function mergeHistograms(parts: Histogram[], bins: number): Histogram | null {
  const used = parts.filter((p) => p.counts.length > 0);
  if (used.length === 0 || bins < 1) return null;
  const min = Math.min(...used.map((p) => p.min));
  const max = Math.max(...used.map((p) => p.max));
  const counts = new Array<number>(bins).fill(0);
  const width = (max - min) / bins;
  const gridIndex = (x: number) => (width > 0 ? Math.min(bins - 1, Math.max(0, Math.floor((x - min) / width))) : 0);
  for (const part of used) {
    const edges = binEdges(part);
    part.counts.forEach((count, i) => {
      if (count === 0) return;
      const a = edges[i]!;
      const b = edges[i + 1]!;
      if (!(b > a) || width === 0) {
        counts[gridIndex(a)]! += count;
        return;
      }
      let assigned = 0;
      for (let g = gridIndex(a); g <= gridIndex(b) && g < bins; g++) {
        const lo = Math.max(a, min + g * width);
        const hi = Math.min(b, g === bins - 1 ? max : min + (g + 1) * width);
        if (hi > lo) {
          const share = (count * (hi - lo)) / (b - a);
          counts[g]! += share;
          assigned += share;
        }
      }
      // At subnormal widths the overlaps round away; what was not assigned goes where the bin's middle falls.
      if (assigned < count) counts[gridIndex(a + (b - a) / 2)]! += count - assigned;
    });
  }
  return { min, max, counts };
}

export interface Moments {
  n: number;
  mean: number;
  std: number;
  skewness: number;
  excessKurtosis: number;
}

/**
 * Moments of the union of groups from each group's own (population) moments: how a whole-model
 * mean, std, skewness and kurtosis follow from the per-layer ones, weighted by the layers' sizes.
 */
export function combineMoments(groups: Moments[]): Moments | null {
  const used = groups.filter((g) => g.n > 0);
  const n = used.reduce((a, g) => a + g.n, 0);
  if (n === 0) return null;
  const mean = used.reduce((a, g) => a + g.n * g.mean, 0) / n;
  // Raw central moments about the pooled mean: E[(x - m)^j] per group, shifted by delta = g.mean - m.
  let m2 = 0;
  let m3 = 0;
  let m4 = 0;
  for (const g of used) {
    const d = g.mean - mean;
    const s2 = g.std * g.std;
    const c3 = g.skewness * s2 * g.std;
    const c4 = (g.excessKurtosis + 3) * s2 * s2;
    m2 += g.n * (s2 + d * d);
    m3 += g.n * (c3 + 3 * d * s2 + d * d * d);
    m4 += g.n * (c4 + 4 * d * c3 + 6 * d * d * s2 + d * d * d * d);
  }
  m2 /= n;
  m3 /= n;
  m4 /= n;
  const std = Math.sqrt(m2);
  return {
    n,
    mean,
    std,
    skewness: m2 > 0 ? m3 / Math.pow(m2, 1.5) : 0,
    excessKurtosis: m2 > 0 ? m4 / (m2 * m2) - 3 : 0,
  };
}

/** Short human numbers for axes and tables: 3 significant digits, exponent form when tiny or huge. */
export function formatNumber(x: number | null | undefined, digits = 3): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e-3 && a < 1e5) return Number(x.toPrecision(digits)).toString();
  return x.toExponential(digits - 1);
}
