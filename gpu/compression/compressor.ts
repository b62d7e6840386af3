import { selectionSize, type SparsifierConfig } from '../../common/sparsifier';
import type { CompressionStats } from '../../common/stats';
import type { Kernels, Moments } from '../kernels/kernels';
import { stepSeed } from '../kernels/random';
import { OPERATORS, type OperatorDeclaration } from '../operators';
import { NonFiniteGradientError } from './errors';
import { ResidualMemory } from './residualMemory';
import { measureCompression, type StatisticsOptions } from './statistics';

/** What crosses the wire: the full vector for Dense, (indices, values) otherwise. */
export type Compressed =
  | { kind: 'dense'; values: Float32Array }
  | { kind: 'sparse'; length: number; indices: Uint32Array; values: Float32Array };

export interface CompressOptions {
  /** Iteration number: seeds this call's random draws. */
  step: number;
  /** Density for this step, overriding the config's (density warm-up). */
  density?: number;
  /** Measure and return the statistics of this call. */
  statistics?: StatisticsOptions | false;
}

export interface CompressResult {
  compressed: Compressed;
  k: number;
  threshold: number | null;
  statistics?: CompressionStats;
}

/**
 * One tensor's compressor: GRACE's compressor (a selection operator) and memory (residual)
 * together. The communicator, which exchanges Compressed values, is a separate piece.
 */
export class Compressor<V> {
  private readonly operator: OperatorDeclaration;
  private readonly memory: ResidualMemory<V> | null;

  constructor(
    /** Where this compressor's residual lives and its passes run. */
    readonly kernels: Kernels<V>,
    readonly config: SparsifierConfig,
    readonly tensor: string,
    readonly length: number,
  ) {
    this.operator = OPERATORS[config.method];
    this.memory = this.operator.selection && config.errorFeedback ? new ResidualMemory(kernels, length) : null;
  }

  /** Compresses one gradient. The gradient vector itself is left unchanged. */
  async compress(gradient: V, options: CompressOptions): Promise<CompressResult> {
    const gradientMoments = await this.checkedMoments(gradient, 'gradient');
    const u = this.memory ? this.memory.compensate(gradient) : gradient;
    const moments = this.memory ? await this.checkedMoments(u, 'residual') : gradientMoments;
    const k = selectionSize(this.length, { density: options.density ?? this.config.density, k: this.config.k });
    const measure = options.statistics ? options.statistics : null;

    const { selection: operator, exactTopk } = this.operator;
    if (!operator) {
      const statistics = measure
        ? await measureCompression(this.kernels, u, moments, k, { selection: null, threshold: null }, measure)
        : undefined;
      return {
        compressed: { kind: 'dense', values: await this.kernels.download(u) },
        k: this.length,
        threshold: null,
        statistics,
      };
    }

    const selection = await operator.select(this.kernels, u, {
      k,
      moments,
      seed: stepSeed(this.config.seed, options.step),
      sampleRatio: this.config.sampleRatio,
    });
    const statistics = measure
      ? await measureCompression(
          this.kernels,
          u,
          moments,
          k,
          { selection, threshold: selection.threshold, ...(exactTopk && { exactTopk: selection }) },
          measure,
        )
      : undefined;
    this.memory?.update(selection.indices);
    return {
      compressed: { kind: 'sparse', length: this.length, indices: selection.indices, values: selection.values },
      k,
      threshold: selection.threshold,
      statistics,
    };
  }

  /** The residual memory, for checkpoints; null where the config has no error feedback. */
  get residual(): ResidualMemory<V> | null {
    return this.memory;
  }

  release(): void {
    this.memory?.release();
  }

  private async checkedMoments(vector: V, source: 'gradient' | 'residual'): Promise<Moments> {
    const moments = await this.kernels.moments(vector);
    if (moments.firstNonFinite >= 0) {
      const [value] = await this.kernels.gather(vector, Uint32Array.of(moments.firstNonFinite));
      throw new NonFiniteGradientError(this.tensor, moments.firstNonFinite, value!, source);
    }
    return moments;
  }
}
