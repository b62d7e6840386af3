/**
 * A deliberately naive implementation of the Kernels contract, written for obviousness rather
 * than speed: the oracle every backend is checked against in tests.
 */
import type { CentralMoments, Kernels, Moments, SparseVector } from '../../gpu/kernels/kernels';
import { randomKey } from '../../gpu/kernels/random/random';

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

/** Bit pattern of |x| as float32 (sign cleared). */
export function magnitudeBits(x: number): number {
  scratch[0] = x;
  return (scratchBits[0]! & 0x7fffffff) >>> 0;
}

function thresholdBits(t: number): number {
  return t < 0 ? -1 : magnitudeBits(t);
}

function sparseOf(u: Float32Array, indices: number[]): SparseVector {
  const sorted = Uint32Array.from(indices).sort();
  return { indices: sorted, values: Float32Array.from(sorted, (i) => u[i]!) };
}

/** Indices of the k largest keys, ties to the lower index. */
export function largestKeys(keys: ArrayLike<number>, k: number): number[] {
  const order = Array.from({ length: keys.length }, (_, i) => i);
  order.sort((a, b) => keys[b]! - keys[a]! || a - b);
  return order.slice(0, k);
}

export class NaiveKernels implements Kernels<Float32Array> {
  readonly backend = 'cpu' as const;
  readonly deviceName = 'naive oracle';

  upload(data: Float32Array): Float32Array {
    return data.slice();
  }
  zeros(length: number): Float32Array {
    return new Float32Array(length);
  }
  write(target: Float32Array, data: Float32Array): void {
    target.set(data);
  }
  async download(vector: Float32Array): Promise<Float32Array> {
    return vector.slice();
  }
  length(vector: Float32Array): number {
    return vector.length;
  }
  release(): void {}

  addInto(target: Float32Array, addend: Float32Array): void {
    for (let i = 0; i < target.length; i++) target[i] = target[i]! + addend[i]!;
  }
  zeroAt(target: Float32Array, indices: Uint32Array): void {
    for (const i of indices) target[i] = 0;
  }
  async gather(vector: Float32Array, indices: Uint32Array): Promise<Float32Array> {
    return Float32Array.from(indices, (i) => vector[i]!);
  }

  async moments(u: Float32Array): Promise<Moments> {
    let sum = 0;
    let sumSquares = 0;
    let sumAbs = 0;
    let maxAbs = 0;
    for (let i = 0; i < u.length; i++) {
      const x = u[i]!;
      if (!Number.isFinite(x)) {
        return { count: u.length, sum: NaN, sumSquares: NaN, sumAbs: NaN, maxAbs: NaN, firstNonFinite: i };
      }
      sum += x;
      sumSquares += x * x;
      sumAbs += Math.abs(x);
      maxAbs = Math.max(maxAbs, Math.abs(x));
    }
    return { count: u.length, sum, sumSquares, sumAbs, maxAbs, firstNonFinite: -1 };
  }
  async centralMoments(u: Float32Array, mean: number): Promise<CentralMoments> {
    let m2 = 0;
    let m3 = 0;
    let m4 = 0;
    for (const x of u) {
      const c = x - mean;
      m2 += c * c;
      m3 += c * c * c;
      m4 += c * c * c * c;
    }
    return { m2, m3, m4 };
  }
  async histogram(u: Float32Array, min: number, max: number, bins: number): Promise<Uint32Array> {
    const counts = new Uint32Array(bins);
    const width = (max - min) / bins;
    for (const x of u) {
      const bin = width > 0 ? Math.floor((x - min) / width) : 0;
      counts[Math.min(bins - 1, Math.max(0, bin))]!++;
    }
    return counts;
  }

  async countAbove(u: Float32Array, thresholds: readonly number[]): Promise<number[]> {
    return thresholds.map((t) => {
      const tb = thresholdBits(t);
      let n = 0;
      for (const x of u) if (magnitudeBits(x) > tb) n++;
      return n;
    });
  }
  async compactAbove(u: Float32Array, threshold: number): Promise<SparseVector> {
    const tb = thresholdBits(threshold);
    const picked: number[] = [];
    for (let i = 0; i < u.length; i++) if (magnitudeBits(u[i]!) > tb) picked.push(i);
    return sparseOf(u, picked);
  }
  async topk(u: Float32Array, k: number): Promise<SparseVector> {
    return sparseOf(u, largestKeys(Array.from(u, magnitudeBits), k));
  }
  async randomSubset(length: number, k: number, seed: number): Promise<Uint32Array> {
    const keys = Array.from({ length }, (_, i) => randomKey(seed, i));
    return Uint32Array.from(largestKeys(keys, k)).sort();
  }
}
