import { instantiateOptimizerWasm, type OptimizerWasm } from '../kernels/cpu/wasm/module';

/**
 * SGD with momentum and weight decay, PyTorch's formulation (no dampening), in float32:
 * v = momentum * v + g + weightDecay * w; w = w - lr * v. It owns the master weights, the momentum
 * buffers and the buffer the ranks' gradients are summed into, side by side in one WebAssembly
 * memory, so a step is one SIMD pass that reads the sum (zeroing it for the next one), updates v
 * and writes the new weights in place. Every rank applies it to the same sum, so replicas stay
 * identical.
 */
export class MomentumSgd {
  /** The ranks' summed gradients, tensors concatenated; each step reads and zeroes it. */
  readonly gradientSum: Float32Array;
  /** The master weights, one view per tensor (the model gets a copy after each step). */
  readonly weights: Float32Array[];
  private readonly velocity: Float32Array[];
  private readonly length: number;
  private readonly pointers: { w: number; v: number; g: number };

  private constructor(
    private readonly wasm: OptimizerWasm,
    tensorSizes: readonly number[],
    private readonly momentum: number,
    private readonly weightDecay: number,
  ) {
    const length = tensorSizes.reduce((a, b) => a + b, 0);
    // Three 16-byte aligned regions after the module's own data; the memory never grows again, so the views stay valid.
    const bytes = Math.ceil(length / 4) * 16;
    const base = Math.ceil(wasm.heapBase() / 16) * 16;
    const needed = base + 3 * bytes - wasm.memory.buffer.byteLength;
    if (needed > 0) wasm.memory.grow(Math.ceil(needed / 65536));
    this.length = length;
    this.pointers = { w: base, v: base + bytes, g: base + 2 * bytes };
    const region = (ptr: number) => new Float32Array(wasm.memory.buffer, ptr, length);
    this.gradientSum = region(this.pointers.g);
    this.weights = splitInto(region(this.pointers.w), tensorSizes);
    this.velocity = splitInto(region(this.pointers.v), tensorSizes);
  }

  static async create(tensorSizes: readonly number[], momentum: number, weightDecay: number): Promise<MomentumSgd> {
    return new MomentumSgd(await instantiateOptimizerWasm(), tensorSizes, momentum, weightDecay);
  }

  /** Takes the model's weights as the master copy (at the start, after a broadcast or a restore). */
  setWeights(weights: readonly Float32Array[]): void {
    checkShapes('the weights', this.weights, weights);
    weights.forEach((w, t) => this.weights[t]!.set(w));
  }

  /**
   * One step on the summed gradients, each first scaled by `gradientScale` (the 1/P of an average
   * over P ranks); returns the new master weights (views, valid until the next step).
   */
  step(lr: number, gradientScale = 1): Float32Array[] {
    const { w, v, g } = this.pointers;
    this.wasm.sgdMomentum(w, v, g, this.length, lr, this.momentum, gradientScale, this.weightDecay);
    return this.weights;
  }

  state(): Float32Array[] {
    return this.velocity.map((v) => v.slice());
  }

  restore(state: readonly Float32Array[]): void {
    checkShapes('the checkpoint', this.velocity, state);
    state.forEach((s, t) => this.velocity[t]!.set(s));
  }
}

function checkShapes(what: string, own: readonly Float32Array[], given: readonly Float32Array[]): void {
  if (given.length !== own.length) {
    throw new RangeError(`optimizer has ${own.length} tensors; got ${given.length} in ${what}`);
  }
  given.forEach((g, t) => {
    if (g.length !== own[t]!.length) {
      throw new RangeError(`optimizer: tensor ${t} has ${own[t]!.length} values; got ${g.length} in ${what}`);
    }
  });
}

export function splitInto(flat: Float32Array, lengths: readonly number[]): Float32Array[] {
  let at = 0;
  return lengths.map((length) => flat.subarray(at, (at += length)));
}
