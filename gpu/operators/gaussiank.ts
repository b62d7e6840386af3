import type { Moments } from '../kernels/kernels';
import { normalQuantile } from './normalQuantile';
import type { SelectionOperator } from './operator';

/** The reference evaluates the selection at most this many times. */
const MAX_EVALUATIONS = 3;

/**
 * Gaussian_k exactly as the GaussianK-SGD reference: thr = mu + sigma * Phi^-1(1 - density/2)
 * from u's mean and (unbiased) standard deviation; select |u_i| > thr; while the count is below
 * 2k/3 halve thr, above 4k/3 multiply it by 1.5, evaluating at most three times and keeping the
 * last selection evaluated. The counts the walk can need (three thresholds) come from one pass,
 * then the kept selection is compacted: two passes over u after the moments.
 */
export const gaussiank: SelectionOperator = {
  method: 'gaussiank',
  async select(kernels, u, { k, moments }) {
    const d = moments.count;
    const start = gaussianThreshold(moments, k / d);
    const reachable = reachableThresholds(start);
    const counts = await kernels.countAbove(u, reachable);
    const countAt = new Map(reachable.map((t, i) => [t, counts[i]!]));
    const threshold = walkCorrections(start, k, (t) => countAt.get(t)!);
    return { ...(await kernels.compactAbove(u, threshold)), threshold };
  },
};

/** mu + sigma * z with z the two-sided normal quantile of `density`, as float32. */
export function gaussianThreshold(moments: Moments, density: number): number {
  const { count, sum, sumSquares } = moments;
  const mean = sum / count;
  const variance = count > 1 ? Math.max(0, (sumSquares - sum * mean) / (count - 1)) : 0;
  const z = normalQuantile(1 - density / 2);
  return Math.fround(mean + Math.sqrt(variance) * z);
}

function corrected(threshold: number, count: number, k: number): number | null {
  if (count < (2 * k) / 3) return Math.fround(threshold * 0.5);
  if (count > (4 * k) / 3) return Math.fround(threshold * 1.5);
  return null;
}

/** Every threshold whose count the correction walk from `start` can ask for (all but the last evaluation). */
export function reachableThresholds(start: number): number[] {
  let level = [start];
  const all = new Set(level);
  for (let evaluation = 2; evaluation < MAX_EVALUATIONS; evaluation++) {
    level = level.flatMap((t) => [Math.fround(t * 0.5), Math.fround(t * 1.5)]);
    level.forEach((t) => all.add(t));
  }
  return [...all];
}

/** The reference's correction loop; returns the threshold of the selection it keeps. */
export function walkCorrections(start: number, k: number, countAbove: (t: number) => number): number {
  let threshold = start;
  for (let evaluation = 1; evaluation < MAX_EVALUATIONS; evaluation++) {
    const next = corrected(threshold, countAbove(threshold), k);
    if (next === null) break;
    threshold = next;
  }
  return threshold;
}
