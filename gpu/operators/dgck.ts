import { randomKey } from '../kernels/random/random';
import type { SelectionOperator } from './operator';
import { kthLargest, nextBelow } from './selectHost';

/**
 * DGC_k, Deep Gradient Compression's sampling selector: the threshold is the magnitude that
 * ranks like the k-th would in a seeded random sample of u (with replacement); every
 * |u_i| >= threshold is a candidate, and when there are more than 4k/3 candidates an exact
 * Top_k over them decides.
 */
export const dgck: SelectionOperator = {
  method: 'dgck',
  async select(kernels, u, { k, moments, seed, sampleRatio }) {
    const d = moments.count;
    const sampleSize = Math.min(d, Math.max(1, Math.ceil(sampleRatio * d)));
    const positions = new Uint32Array(sampleSize);
    for (let j = 0; j < sampleSize; j++) positions[j] = randomKey(seed, j) % d;
    const sample = await kernels.gather(u, positions);
    const magnitudes = sample.map(Math.abs);
    const rank = Math.max(1, Math.ceil((k * sampleSize) / d));
    const sampled = kthLargest(magnitudes, rank);
    const threshold = nextBelow(sampled);
    const [candidates] = await kernels.countAbove(u, [threshold]);
    if (candidates! > (4 * k) / 3) {
      return { ...(await kernels.topk(u, k, threshold)), threshold };
    }
    return { ...(await kernels.compactAbove(u, threshold)), threshold };
  },
};
