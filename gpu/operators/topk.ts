import type { SelectionOperator } from './operator';

/** Exact Top_k: the k largest |u_i|, ties to the lower index. Its threshold is the k-th magnitude. */
export const topk: SelectionOperator = {
  method: 'topk',
  async select(kernels, u, { k }) {
    const selection = await kernels.topk(u, k);
    return { ...selection, threshold: smallestMagnitude(selection.values) };
  },
};

export function smallestMagnitude(values: Float32Array): number | null {
  if (values.length === 0) return null;
  let smallest = Infinity;
  for (const v of values) smallest = Math.min(smallest, Math.abs(v));
  return smallest;
}
