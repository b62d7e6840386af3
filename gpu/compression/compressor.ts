import { selectionSize, type SparsifierConfig } from '../../common/sparsifier';
import type { CompressionStats } from '../../common/stats';
import type { DeviceSelection, DeviceSelectionItem, Kernels, Moments, SparseMethod } from '../kernels/kernels';
import { stepSeed } from '../kernels/random/random';
import { OPERATORS, type OperatorDeclaration } from '../operators';
import type { Selection } from '../operators/operator';
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

/** A compression prepared for a batch of device selections (Compressor.prepareOnDevice). */
export interface DevicePreparation<V> {
  item: DeviceSelectionItem<V>;
  finish(result: DeviceSelection): Promise<CompressResult>;
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
    const onDevice = this.prepareOnDevice(gradient, options);
    if (onDevice) {
      const [result] = await this.kernels.selectOnDevice!([onDevice.item]);
      return onDevice.finish(result!);
    }

    const gradientMoments = await this.checkedMoments(gradient, 'gradient');
    const u = this.memory ? this.memory.compensate(gradient) : gradient;
    const moments = this.memory ? await this.checkedMoments(u, 'residual') : gradientMoments;
    const k = this.selectionSize(options);
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
    return this.sent(selection, k, statistics);
  }

  /**
   * Where the backend decides selections on the device (selectOnDevice) and no statistics are
   * asked: forms u and returns its selection request, and finish() for the selection's result,
   * which traces a non-finite u to the gradient or the residual. Null for the host's path.
   */
  prepareOnDevice(gradient: V, options: CompressOptions): DevicePreparation<V> | null {
    if (!this.operator.selection || options.statistics || !this.kernels.selectOnDevice) return null;
    if (this.memory && !this.memory.keepsResidualUntilUpdate) return null;
    const method = this.config.method as SparseMethod;
    const k = this.selectionSize(options);
    const u = this.memory ? this.memory.compensate(gradient) : gradient;
    const request = { k, seed: stepSeed(this.config.seed, options.step), sampleRatio: this.config.sampleRatio };
    return {
      item: { u, method, request },
      finish: async (result) => {
        if (!result.selection) {
          if (this.memory) await this.checkedMoments(gradient, 'gradient');
          const [value] = await this.kernels.gather(u, Uint32Array.of(result.firstNonFinite));
          const source = this.memory ? 'residual' : 'gradient';
          throw new NonFiniteGradientError(this.tensor, result.firstNonFinite, value!, source);
        }
        return this.sent(result.selection, k, undefined);
      },
    };
  }

  private selectionSize(options: CompressOptions): number {
    return selectionSize(this.length, { density: options.density ?? this.config.density, k: this.config.k });
  }

  private sent(selection: Selection, k: number, statistics: CompressionStats | undefined): CompressResult {
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

/**
 * Compresses each gradient with its compressor, in order of the results. The selections that
 * run on a device share one submission and one read-back per backend (Compressor.prepareOnDevice);
 * the others run one by one.
 */
export async function compressAll<V>(
  jobs: readonly { compressor: Compressor<V>; gradient: V }[],
  options: CompressOptions,
): Promise<CompressResult[]> {
  const prepared = jobs.map(({ compressor, gradient }) => compressor.prepareOnDevice(gradient, options));
  const batches = new Map<Kernels<V>, number[]>();
  prepared.forEach((p, i) => {
    if (!p) return;
    const kernels = jobs[i]!.compressor.kernels;
    batches.set(kernels, [...(batches.get(kernels) ?? []), i]);
  });
  const selections = new Map<number, DeviceSelection>();
  await Promise.all(
    [...batches].map(async ([kernels, members]) => {
      const results = await kernels.selectOnDevice!(members.map((i) => prepared[i]!.item));
      members.forEach((i, j) => selections.set(i, results[j]!));
    }),
  );
  const results: CompressResult[] = [];
  for (const [i, { compressor, gradient }] of jobs.entries()) {
    const p = prepared[i];
    results.push(p ? await p.finish(selections.get(i)!) : await compressor.compress(gradient, options));
  }
  return results;
}
