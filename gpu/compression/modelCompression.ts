import type { SparsifierConfig } from '../../common/sparsifier';
import type { Kernels } from '../kernels/kernels';
import { Compressor, compressAll, type CompressOptions, type CompressResult } from './compressor';
import { concatenate } from './concatenate';

export interface TensorShape {
  name: string;
  length: number;
}

/** One step's gradients, per model tensor: a host array, or a buffer on the compressing kernels' GPUDevice. */
export interface TensorGradients {
  host: readonly (Float32Array | null)[];
  device: readonly (GPUBuffer | null)[];
}

/** Where compressors run: on the host, or, per tensor ('layer' granularity), on the model's GPUDevice. */
export interface CompressorPlacement {
  host: Kernels;
  device?: { kernels: Kernels; tensors: readonly boolean[] };
}

/**
 * A model's compressors and how its tensors map onto them: 'layer', one compressor per tensor
 * (each with its own k and residual); 'model', one compressor over all tensors concatenated.
 */
export class ModelCompression {
  private constructor(
    readonly compressors: readonly Compressor<unknown>[],
    readonly granularity: 'layer' | 'model',
  ) {}

  static create(
    placement: CompressorPlacement,
    config: SparsifierConfig,
    tensors: readonly TensorShape[],
    granularity: 'layer' | 'model',
  ): ModelCompression {
    const { host, device } = placement;
    if (granularity === 'model') {
      if (device?.tensors.some((d) => d)) throw new Error("granularity 'model' compresses on the host only");
      const total = tensors.reduce((sum, t) => sum + t.length, 0);
      return new ModelCompression([new Compressor(host, config, 'model', total)], granularity);
    }
    const kernelsOf = (i: number) => (device?.tensors[i] ? device.kernels : host);
    return new ModelCompression(
      tensors.map((t, i) => new Compressor(kernelsOf(i), config, t.name, t.length)),
      granularity,
    );
  }

  /** Coordinates per compressor, in order. */
  get lengths(): number[] {
    return this.compressors.map((c) => c.length);
  }

  /**
   * Compresses one step's gradients; the selections on a device share one submission and one
   * read-back (compressAll).
   */
  async compress(gradients: TensorGradients, options: CompressOptions): Promise<CompressResult[]> {
    const vectors = this.compressors.map((compressor, i) => {
      const { kernels } = compressor;
      const buffer = this.granularity === 'layer' ? gradients.device[i] : null;
      return buffer
        ? kernels.wrap!(buffer, compressor.length)
        : kernels.upload(this.hostInput(i, gradients.host as readonly Float32Array[]));
    });
    try {
      return await compressAll(
        this.compressors.map((compressor, i) => ({ compressor, gradient: vectors[i] })),
        options,
      );
    } finally {
      this.compressors.forEach(({ kernels }, i) => kernels.release(vectors[i]));
    }
  }

  /**
   * u = g + e of every compressor, exactly as it will be compressed (before compress is called),
   * read to the host: for researchers who analyse it elsewhere.
   */
  async compensated(gradients: TensorGradients): Promise<{ tensor: string; u: Float32Array }[]> {
    const host = await this.hostGradients(gradients);
    const out: { tensor: string; u: Float32Array }[] = [];
    for (const [i, compressor] of this.compressors.entries()) {
      const residual = compressor.residual ? await compressor.residual.read() : null;
      const g = this.hostInput(i, host);
      out.push({ tensor: compressor.tensor, u: residual ? g.map((x, j) => Math.fround(x + residual[j]!)) : g.slice() });
    }
    return out;
  }

  release(): void {
    for (const c of this.compressors) c.release();
  }

  /** Compressor i's input from host arrays: its tensor's ('layer'), or every tensor's concatenated ('model'). */
  private hostInput(i: number, host: readonly Float32Array[]): Float32Array {
    return this.granularity === 'model' ? concatenate(host) : host[i]!;
  }

  /** Every tensor's gradient on the host, reading back those on the GPU. */
  private hostGradients(gradients: TensorGradients): Promise<Float32Array[]> {
    return Promise.all(
      gradients.host.map(async (array, i) => {
        if (array) return array;
        const { kernels, length } = this.compressors[i]!;
        const vector = kernels.wrap!(gradients.device[i]!, length);
        try {
          return await kernels.download(vector);
        } finally {
          kernels.release(vector);
        }
      }),
    );
  }
}
