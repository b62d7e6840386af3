import type { SparsifierConfig } from '../../common/sparsifier';
import type { Kernels } from '../kernels/kernels';
import { Compressor } from './compressor';

export { Compressor, compressAll, type Compressed, type CompressOptions, type CompressResult } from './compressor';
export { NonFiniteGradientError } from './errors';
export { ResidualMemory } from './residualMemory';
export { measureCompression, type StatisticsOptions } from './statistics';

export interface TensorShape {
  name: string;
  length: number;
}

/**
 * Compressors for a model: one per tensor ('layer' granularity, each with its own k and
 * residual), or one over the whole flattened model ('model').
 */
export function createCompressors<V>(
  kernels: Kernels<V>,
  config: SparsifierConfig,
  tensors: readonly TensorShape[],
  granularity: 'layer' | 'model',
): Compressor<V>[] {
  if (granularity === 'layer') return tensors.map((t) => new Compressor(kernels, config, t.name, t.length));
  const total = tensors.reduce((sum, t) => sum + t.length, 0);
  return [new Compressor(kernels, config, 'model', total)];
}
