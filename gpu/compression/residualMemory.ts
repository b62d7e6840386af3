import type { Kernels } from '../kernels/kernels';

/**
 * Error feedback, GRACE's "memory": one residual e per tensor, starting at zero.
 * compensate() turns e into u = g + e in place; update() zeroes what was sent, leaving
 * e = u - C(u). Since C(u) copies u's own values, u = C(u) + e holds exactly, per coordinate.
 */
export class ResidualMemory<V> {
  private residual: V;

  constructor(
    private readonly kernels: Kernels<V>,
    readonly length: number,
  ) {
    this.residual = kernels.zeros(length);
  }

  /** u = g + e, held in the memory's own storage; valid until update(). */
  compensate(gradient: V): V {
    this.kernels.addInto(this.residual, gradient);
    return this.residual;
  }

  /** e = u - C(u): the sent coordinates are zeroed. */
  update(sentIndices: Uint32Array): void {
    this.kernels.zeroAt(this.residual, sentIndices);
  }

  /** The residual, e.g. for a checkpoint. */
  async read(): Promise<Float32Array> {
    return this.kernels.download(this.residual);
  }

  /** Restores a residual from a checkpoint. */
  restore(values: Float32Array): void {
    if (values.length !== this.length) {
      throw new RangeError(`residual has ${this.length} coordinates, checkpoint has ${values.length}`);
    }
    this.kernels.write(this.residual, values);
  }

  release(): void {
    this.kernels.release(this.residual);
  }
}
