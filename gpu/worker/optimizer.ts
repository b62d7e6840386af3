/**
 * SGD with momentum and weight decay, PyTorch's formulation (no dampening):
 * v = momentum * v + (g + weightDecay * w); w = w - lr * v. Every rank applies it to the same
 * averaged gradient, so replicas stay identical. Its state is the momentum buffers.
 */
export class MomentumSgd {
  private readonly velocity: Float32Array[];
  private readonly deltas: Float32Array[];

  constructor(
    tensorSizes: readonly number[],
    private readonly momentum: number,
    private readonly weightDecay: number,
  ) {
    this.velocity = tensorSizes.map((size) => new Float32Array(size));
    this.deltas = tensorSizes.map((size) => new Float32Array(size));
  }

  get needsWeights(): boolean {
    return this.weightDecay > 0;
  }

  /**
   * The deltas to add to each weight tensor (reused buffers: valid until the next step); `weights`
   * are needed only with weight decay. Each gradient value is first multiplied by `gradientScale`
   * and rounded to float32 (the 1/P of an average of P ranks' sums), in the same pass: the bits are
   * those of scaling the gradient in place and then stepping.
   */
  step(
    gradients: readonly Float32Array[],
    lr: number,
    weights?: readonly Float32Array[],
    gradientScale = 1,
  ): Float32Array[] {
    const { momentum, weightDecay } = this;
    const fround = Math.fround;
    for (let t = 0; t < gradients.length; t++) {
      const gradient = gradients[t]!;
      const v = this.velocity[t]!;
      const delta = this.deltas[t]!;
      const w = weights?.[t];
      const n = v.length;
      if (w && weightDecay > 0) {
        for (let i = 0; i < n; i++) {
          const vi = fround(momentum * v[i]! + fround(gradient[i]! * gradientScale) + weightDecay * w[i]!);
          v[i] = vi;
          delta[i] = -lr * vi;
        }
      } else if (gradientScale === 1) {
        for (let i = 0; i < n; i++) {
          const vi = fround(momentum * v[i]! + gradient[i]!);
          v[i] = vi;
          delta[i] = -lr * vi;
        }
      } else {
        for (let i = 0; i < n; i++) {
          const vi = fround(momentum * v[i]! + fround(gradient[i]! * gradientScale));
          v[i] = vi;
          delta[i] = -lr * vi;
        }
      }
    }
    return this.deltas;
  }

  /**
   * The same step, returning the weights after it, w + (-lr * v), in reused buffers (valid until
   * the next step) rather than the deltas: `weights` are read, never written (they may be views of
   * the model's own storage). Same float32 bits as adding step()'s deltas to the weights.
   */
  stepWeights(
    gradients: readonly Float32Array[],
    lr: number,
    weights: readonly Float32Array[],
    gradientScale = 1,
  ): Float32Array[] {
    const { momentum, weightDecay } = this;
    const fround = Math.fround;
    for (let t = 0; t < gradients.length; t++) {
      const gradient = gradients[t]!;
      const v = this.velocity[t]!;
      const out = this.deltas[t]!;
      const w = weights[t]!;
      const n = v.length;
      if (w.length !== n) throw new RangeError(`stepWeights: tensor ${t} has ${n} values, weights ${w.length}`);
      // Two loops rather than a branch per element: the branch made this pass 2.5x slower.
      if (weightDecay > 0) {
        for (let i = 0; i < n; i++) {
          const wi = w[i]!;
          const vi = fround(momentum * v[i]! + fround(gradient[i]! * gradientScale) + weightDecay * wi);
          v[i] = vi;
          out[i] = wi + fround(-lr * vi);
        }
      } else {
        for (let i = 0; i < n; i++) {
          const vi = fround(momentum * v[i]! + fround(gradient[i]! * gradientScale));
          v[i] = vi;
          out[i] = w[i]! + fround(-lr * vi);
        }
      }
    }
    return this.deltas;
  }

  state(): Float32Array[] {
    return this.velocity.map((v) => v.slice());
  }

  restore(state: readonly Float32Array[]): void {
    if (state.length !== this.velocity.length) {
      throw new RangeError(`optimizer has ${this.velocity.length} tensors, checkpoint has ${state.length}`);
    }
    state.forEach((s, t) => this.velocity[t]!.set(s));
  }
}
