import type { Kernels } from '../kernels/kernels';

/**
 * Error feedback, GRACE's "memory": one residual e per tensor, starting at zero.
 * compensate() forms u = g + e; update() zeroes what was sent in u, which becomes the new
 * e = u - C(u). Since C(u) copies u's own values, u = C(u) + e holds exactly, per coordinate.
 *
 * Where the backend has addTo, u is formed in a second buffer and e stays untouched until
 * update(), so a compression that fails after compensate() (a non-finite u found on the device)
 * keeps e by not calling update(); elsewhere u is formed in place and callers check the gradient first.
 */
export class ResidualMemory<V> {
  private residual: V;
  /** The second buffer u is formed in, where the backend has addTo. */
  private spare: V | null;

  constructor(
    private readonly kernels: Kernels<V>,
    readonly length: number,
  ) {
    this.residual = kernels.zeros(length);
    this.spare = kernels.addTo ? kernels.zeros(length) : null;
  }

  /** Whether compensate() leaves e intact until update(), so a compression may fail after it. */
  get keepsResidualUntilUpdate(): boolean {
    return this.spare !== null;
  }

  /** u = g + e; valid until update(). */
  compensate(gradient: V): V {
    if (this.spare && this.kernels.addTo) {
      this.kernels.addTo(this.spare, this.residual, gradient);
      return this.spare;
    }
    this.kernels.addInto(this.residual, gradient);
    return this.residual;
  }

  /** e = u - C(u): the sent coordinates of u are zeroed and u becomes the residual. */
  update(sentIndices: Uint32Array): void {
    if (this.spare) [this.residual, this.spare] = [this.spare, this.residual];
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
    if (this.spare) this.kernels.release(this.spare);
  }
}
