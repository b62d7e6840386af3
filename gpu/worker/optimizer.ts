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
   * are needed only with weight decay.
   */
  step(gradients: readonly Float32Array[], lr: number, weights?: readonly Float32Array[]): Float32Array[] {
    const { momentum, weightDecay } = this;
    gradients.forEach((gradient, t) => {
      const v = this.velocity[t]!;
      const delta = this.deltas[t]!;
      const w = weights?.[t];
      if (w && weightDecay > 0) {
        for (let i = 0; i < v.length; i++) v[i] = momentum * v[i]! + gradient[i]! + weightDecay * w[i]!;
      } else {
        for (let i = 0; i < v.length; i++) v[i] = momentum * v[i]! + gradient[i]!;
      }
      for (let i = 0; i < v.length; i++) delta[i] = -lr * v[i]!;
    });
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
