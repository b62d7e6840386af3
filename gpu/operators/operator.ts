import type { SparsifierMethod } from '../../common/sparsifier';
import type { Kernels, Moments, Selection } from '../kernels/kernels';

export type { Selection };

/** What an operator is asked to do on one vector u of d coordinates. */
export interface SelectionRequest {
  /** Target count, already clamped to [1, d]. */
  k: number;
  /** Moments of u from the caller's finiteness check, reused instead of another pass. */
  moments: Moments;
  /** Seed of this call's draws (already mixed with the step, see random.stepSeed). */
  seed: number;
  /** DGC_k's sampled fraction. */
  sampleRatio: number;
}

/**
 * A selection operator: declared once, composed of the backend's kernels, so it runs the same
 * on every backend. It never modifies u.
 */
export interface SelectionOperator {
  readonly method: Exclude<SparsifierMethod, 'dense'>;
  select<V>(kernels: Kernels<V>, u: V, request: SelectionRequest): Promise<Selection>;
}
