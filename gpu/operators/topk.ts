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
  for (let i = 0; i < values.length; i++) {
    const magnitude = Math.abs(values[i]!);
    // Math.min's rules: NaN wins, then the smaller.
    if (!(magnitude >= smallest)) smallest = smallest !== smallest ? smallest : magnitude;
  }
  return smallest;
}
