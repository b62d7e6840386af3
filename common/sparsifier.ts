import { z } from 'zod';

/** The gradient sparsifiers SparseLab knows, by the names researchers use in configs. */
export const SPARSIFIER_METHODS = ['dense', 'topk', 'gaussiank', 'dgck', 'trimmedk', 'randk'] as const;
export type SparsifierMethod = (typeof SPARSIFIER_METHODS)[number];

/** Names shown to people (tables, legends). */
export const SPARSIFIER_LABELS: Record<SparsifierMethod, string> = {
  dense: 'Dense',
  topk: 'Top_k',
  gaussiank: 'Gaussian_k',
  dgck: 'DGC_k',
  trimmedk: 'Trimmed_k',
  randk: 'Rand_k',
};

export const sparsifierConfigSchema = z
  .object({
    method: z.enum(SPARSIFIER_METHODS),
    /** Fraction of coordinates kept: k = max(1, floor(density * d)). */
    density: z.number().gt(0, 'must be greater than 0').lte(1, 'must be at most 1').optional(),
    /** A fixed k instead of a density; clamped to d for tensors smaller than k. */
    k: z.number().int('must be an integer').positive('must be at least 1').optional(),
    /** Residual memory (error feedback): what is not sent is added to the next gradient. */
    errorFeedback: z.boolean().default(true),
    /** Seed of the draws behind Rand_k and DGC_k's sampling. */
    seed: z.number().int().nonnegative().default(0),
    /** DGC_k: fraction of coordinates sampled to estimate the threshold. */
    sampleRatio: z.number().gt(0).lte(1).default(0.01),
  })
  .strict()
  .refine((c) => c.method === 'dense' || (c.density === undefined) !== (c.k === undefined), {
    message: 'give exactly one of density or k',
    path: ['density'],
  });

export type SparsifierConfig = z.infer<typeof sparsifierConfigSchema>;
export type SparsifierConfigInput = z.input<typeof sparsifierConfigSchema>;

/** k = max(1, floor(density * d)), never more than d. */
export function selectionSize(d: number, target: { density?: number; k?: number }): number {
  if (!Number.isInteger(d) || d < 1) throw new RangeError(`d must be a positive integer, got ${d}`);
  const k = target.k ?? Math.floor((target.density ?? 1) * d);
  return Math.min(d, Math.max(1, k));
}
