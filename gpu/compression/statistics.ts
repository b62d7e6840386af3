import { contractionBounds, type CompressionStats } from '../../common/stats';
import type { Kernels, Moments, SparseVector } from '../kernels/kernels';

export interface StatisticsOptions {
  /** Histogram bins over [-max|u|, max|u|]; 0 leaves the histogram out. */
  histogramBins?: number;
}

export interface MeasuredSelection {
  /** null for Dense, which sends every coordinate. */
  selection: SparseVector | null;
  threshold: number | null;
  /** Exact Top_k of the same u when the caller already has it (Top_k, Trimmed_k). */
  exactTopk?: SparseVector;
}

/**
 * The per-call report of paper.md: rho of the operator and of exact Top_k on the same u, the
 * bounds, overlap with Top_k, and u's shape. Costs an exact Top_k (unless given), one
 * central-moment pass and, if asked, one histogram pass.
 */
export async function measureCompression<V>(
  kernels: Kernels<V>,
  u: V,
  moments: Moments,
  k: number,
  measured: MeasuredSelection,
  options: StatisticsOptions = {},
): Promise<CompressionStats> {
  const d = moments.count;
  const mean = moments.sum / d;
  const { m2, m3, m4 } = await kernels.centralMoments(u, mean);
  const variance = m2 / d;
  const std = Math.sqrt(variance);
  const { selection } = measured;
  const exact = measured.exactTopk ?? (await kernels.topk(u, k));
  const bins = options.histogramBins ?? 0;
  const range = Math.max(moments.maxAbs, Number.MIN_VALUE);
  return {
    d,
    k,
    selected: selection ? selection.indices.length : d,
    threshold: measured.threshold,
    rho: selection && selection.indices.length < d ? contractionRatio(moments.sumSquares, selection.values) : 0,
    // Everything sent leaves nothing behind: exactly 0, not the rounding of ||u||^2 - ||u||^2.
    rhoTopk: exact.indices.length < d ? contractionRatio(moments.sumSquares, exact.values) : 0,
    ...contractionBounds(d, k),
    overlap: selection ? sortedIntersectionSize(selection.indices, exact.indices) / k : Math.min(1, d / k),
    mean,
    std,
    skewness: variance > 0 ? m3 / d / (variance * std) : 0,
    excessKurtosis: variance > 0 ? m4 / d / (variance * variance) - 3 : 0,
    ...(bins > 0 && {
      histogram: { min: -range, max: range, counts: Array.from(await kernels.histogram(u, -range, range, bins)) },
    }),
  };
}

/** ||u - C(u)||^2 / ||u||^2 where C(u) keeps `sentValues` of u: (||u||^2 - ||sent||^2) / ||u||^2. */
export function contractionRatio(normSquared: number, sentValues: Float32Array): number {
  if (normSquared <= 0) return 0;
  let sent = 0;
  for (const v of sentValues) sent += v * v;
  return Math.min(1, Math.max(0, (normSquared - sent) / normSquared));
}

export function sortedIntersectionSize(a: Uint32Array, b: Uint32Array): number {
  let i = 0;
  let j = 0;
  let shared = 0;
  while (i < a.length && j < b.length) {
    if (a[i]! < b[j]!) i++;
    else if (a[i]! > b[j]!) j++;
    else {
      shared++;
      i++;
      j++;
    }
  }
  return shared;
}
