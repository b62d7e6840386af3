import type { Moments } from '../kernels/kernels';
import type { SelectionOperator } from './operator';

/** RedSync tries m + r (M - m) for these r, from the mean m and maximum M of |u|. */
const RATIOS = [0.8, 0.6, 0.4, 0.2, 0] as const;

/**
 * Trimmed_k (RedSync's trimmed top-k): the first threshold m + r (M - m) that at least k
 * coordinates exceed bounds the candidates, then exact Top_k among them. Since the k largest
 * always lie above such a threshold, the selection equals Top_k's; what it saves is work.
 */
export const trimmedk: SelectionOperator = {
  method: 'trimmedk',
  async select(kernels, u, { k, moments }) {
    const thresholds = trimmedThresholds(moments);
    const counts = await kernels.countAbove(u, thresholds);
    const first = counts.findIndex((count) => count >= k);
    // Below the mean too few remain to trim: every coordinate is a candidate.
    const threshold = first >= 0 ? thresholds[first]! : null;
    return { ...(await kernels.topk(u, k, threshold ?? -1)), threshold };
  },
};

/** RedSync's thresholds m + r (M - m), as float32, in the order tried. */
export function trimmedThresholds(moments: Moments): number[] {
  const mean = moments.sumAbs / moments.count;
  return RATIOS.map((r) => Math.fround(mean + r * (moments.maxAbs - mean)));
}
