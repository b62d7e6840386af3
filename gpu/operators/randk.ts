import type { SelectionOperator } from './operator';

/** Rand_k: k distinct coordinates drawn uniformly from the call's seed. */
export const randk: SelectionOperator = {
  method: 'randk',
  async select(kernels, u, { k, moments, seed }) {
    const indices = await kernels.randomSubset(moments.count, k, seed);
    return { indices, values: await kernels.gather(u, indices), threshold: null };
  },
};
