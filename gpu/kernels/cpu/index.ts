/**
 * The CPU backend of the Kernels contract (gpu/kernels/kernels.ts): vectors live in the linear
 * memory of a WebAssembly SIMD module (gpu/kernels/cpu/wasm/kernels.as.ts, which re-exports each
 * primitive's gpu/kernels/<primitive>/<primitive>.as.ts) and every pass over them runs there, on
 * the calling thread.
 *
 * Selection (topk, randomSubset) is exact and never depends on sampling luck, only its speed
 * does: a stratified sample of the keys estimates a threshold that a few more than k coordinates
 * exceed, one SIMD pass compacts those candidates, and a two-level 16-bit radix select among
 * them finds the k-th key; ties at that key go to the lower indices. When the estimate misses
 * (too few or too many candidates, heavy ties, k close to d) the same radix select runs over
 * the whole vector instead: two histogram passes and one emission pass.
 */
import type { CentralMoments, Kernels, Moments, SparseVector } from '../kernels';
import { mix32 } from '../random/random';
import { WasmHeap } from './heap';
import { instantiateKernelsWasm, type KernelsWasm } from './wasm/module';

/** A float32 vector in the CPU kernels' WebAssembly memory. Opaque: use the kernels' methods. */
export class CpuVector {
  /** @internal Byte offset in linear memory; -1 once released. */
  ptr: number;
  /** @internal */
  readonly owner: CpuKernels;
  readonly length: number;

  /** @internal */
  constructor(owner: CpuKernels, ptr: number, length: number) {
    this.owner = owner;
    this.ptr = ptr;
    this.length = length;
  }
}

const MAGNITUDE_MASK = 0x7fffffff;
const ALL_KEYS = 0xffffffff;
/**
 * Keys sampled to estimate a selection threshold. A smaller sample costs less and leaves more
 * candidates; 4096 balances the two (16K to 4M coordinates, densities 0.001 and 0.01): 2048 was
 * faster below 200K coordinates (30 against 49 us at 40K) and slower at 1M with k = 10000 (1007
 * against 803 us); 8192 and 16384 were slower except at 4M. The FNN's 157K-coordinate layer at
 * k = 157 takes 67 us, 173 with 16384.
 */
const SAMPLE = 4096;
/** Default CpuKernelsOptions.wholeSelectMaxLength: below it the sample costs more than it saves. */
const WHOLE_SELECT_MAX_LENGTH = 1 << 14;
/** Coordinates compacted per call into the persistent compaction buffer. */
const COMPACT_CHUNK = 1 << 18;
/** Scratch for the radix select: 4 sub-histograms of 65536 u32. */
const HIST_BYTES = 4 * 65536 * 4;
/** Above this fraction of candidates the whole-vector select is cheaper than compacting them. */
const MAX_CANDIDATE_FRACTION = 1 / 4;
const MAX_LENGTH = 2 ** 31 - 1;

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** |t| as float32 bits; -1 (admits every coordinate) for t < 0. NaN maps to its bits, as in the oracle. */
function thresholdBits(t: number): number {
  if (t < 0) return -1;
  scratchF32[0] = t;
  return scratchU32[0]! & MAGNITUDE_MASK;
}

function emptySparse(): SparseVector {
  return { indices: new Uint32Array(0), values: new Float32Array(0) };
}

function iota(n: number): Uint32Array {
  const indices = new Uint32Array(n);
  for (let i = 0; i < n; i++) indices[i] = i;
  return indices;
}

export interface CpuKernelsOptions {
  /**
   * Vectors up to this length skip the sampled-candidates step of topk and go straight to the
   * whole-vector radix select (default 16384). Results never depend on it; tests lower it to
   * run the sampled path on small vectors.
   */
  wholeSelectMaxLength?: number;
}

export class CpuKernels implements Kernels<CpuVector> {
  readonly backend = 'cpu' as const;
  readonly deviceName = 'WebAssembly SIMD (1 thread)';

  private readonly heap: WasmHeap;
  /** Persistent scratch blocks, allocated on first use. */
  private histPtr = 0;
  private smallPtr = 0;
  private samplePtr = 0;
  private compactPtr = 0;

  private readonly wholeSelectMaxLength: number;

  /** Use createCpuKernels(). */
  constructor(
    private readonly wasm: KernelsWasm,
    options: CpuKernelsOptions = {},
  ) {
    this.heap = new WasmHeap(wasm.memory, wasm.heapBase());
    this.wholeSelectMaxLength = options.wholeSelectMaxLength ?? WHOLE_SELECT_MAX_LENGTH;
  }

  // ---------------------------------------------------------------------------------------
  // Memory.

  /**
   * A Float32Array aliasing the vector's storage (zero-copy): writes through it are what the
   * kernels see. It is invalidated (detached, length 0) when the WebAssembly memory grows, which
   * any allocation may cause (upload, zeros, and the scratch of topk, compactAbove, ...), so take
   * a fresh view after such calls rather than keeping one.
   */
  view(vector: CpuVector): Float32Array {
    this.check(vector);
    return new Float32Array(this.wasm.memory.buffer, vector.ptr, vector.length);
  }

  /** Bytes of WebAssembly memory currently reserved (for diagnostics). */
  get memoryBytes(): number {
    return this.wasm.memory.buffer.byteLength;
  }

  upload(data: Float32Array): CpuVector {
    const vector = this.allocate(data.length);
    this.view(vector).set(data);
    return vector;
  }

  zeros(length: number): CpuVector {
    const vector = this.allocate(length);
    this.view(vector).fill(0);
    return vector;
  }

  write(target: CpuVector, data: Float32Array): void {
    if (data.length !== target.length) {
      throw new RangeError(`write: ${data.length} values into a vector of ${target.length}`);
    }
    this.view(target).set(data);
  }

  async download(vector: CpuVector): Promise<Float32Array> {
    return this.view(vector).slice();
  }

  length(vector: CpuVector): number {
    this.check(vector);
    return vector.length;
  }

  release(vector: CpuVector): void {
    this.check(vector);
    this.heap.release(vector.ptr);
    vector.ptr = -1;
  }

  // ---------------------------------------------------------------------------------------
  // Element-wise.

  addInto(target: CpuVector, addend: CpuVector): void {
    this.check(target);
    this.check(addend);
    if (target.length !== addend.length) {
      throw new RangeError(`addInto: lengths ${target.length} and ${addend.length} differ`);
    }
    this.wasm.addInto(target.ptr, addend.ptr, target.length);
  }

  zeroAt(target: CpuVector, indices: Uint32Array): void {
    const u = this.view(target);
    for (let j = 0; j < indices.length; j++) u[indices[j]!] = 0;
  }

  async gather(vector: CpuVector, indices: Uint32Array): Promise<Float32Array> {
    const u = this.view(vector);
    const out = new Float32Array(indices.length);
    for (let j = 0; j < indices.length; j++) out[j] = u[indices[j]!]!;
    return out;
  }

  // ---------------------------------------------------------------------------------------
  // Statistics.

  async moments(vector: CpuVector): Promise<Moments> {
    this.check(vector);
    const out = this.small();
    this.wasm.moments(vector.ptr, vector.length, out);
    const [sum, sumSquares, sumAbs, maxAbs, firstNonFinite] = this.f64(out, 5);
    return {
      count: vector.length,
      sum: sum!,
      sumSquares: sumSquares!,
      sumAbs: sumAbs!,
      maxAbs: maxAbs!,
      firstNonFinite: firstNonFinite!,
    };
  }

  async centralMoments(vector: CpuVector, mean: number): Promise<CentralMoments> {
    this.check(vector);
    const out = this.small();
    this.wasm.centralMoments(vector.ptr, vector.length, mean, out);
    const [m2, m3, m4] = this.f64(out, 3);
    return { m2: m2!, m3: m3!, m4: m4! };
  }

  async histogram(vector: CpuVector, min: number, max: number, bins: number): Promise<Uint32Array> {
    this.check(vector);
    const counts = new Uint32Array(bins);
    if (bins === 0) return counts;
    const ptr = this.heap.alloc(bins * 16);
    try {
      this.u32(ptr, bins * 4).fill(0);
      this.wasm.histogram(vector.ptr, vector.length, min, max, bins, ptr);
      const copies = this.u32(ptr, bins * 4);
      for (let b = 0; b < bins; b++) {
        counts[b] = copies[b]! + copies[bins + b]! + copies[2 * bins + b]! + copies[3 * bins + b]!;
      }
    } finally {
      this.heap.release(ptr);
    }
    return counts;
  }

  // ---------------------------------------------------------------------------------------
  // Thresholds.

  async countAbove(vector: CpuVector, thresholds: readonly number[]): Promise<number[]> {
    this.check(vector);
    const bits = thresholds.map(thresholdBits);
    const counts: number[] = [];
    const thr = this.small();
    const out = thr + 32;
    for (let g = 0; g < bits.length; g += 8) {
      const group = bits.slice(g, g + 8);
      new Int32Array(this.wasm.memory.buffer, thr, 8).set(group);
      this.wasm.countAbove(vector.ptr, vector.length, thr, group.length, out);
      counts.push(...this.u32(out, group.length));
    }
    return counts;
  }

  async compactAbove(vector: CpuVector, threshold: number): Promise<SparseVector> {
    this.check(vector);
    const t = thresholdBits(threshold);
    const buffer = this.compactBuffer();
    const idxPtr = buffer;
    const valPtr = buffer + COMPACT_CHUNK * 4;
    const chunks: { indices: Uint32Array; values: Float32Array }[] = [];
    let total = 0;
    let start = 0;
    const n = vector.length;
    do {
      const c = this.wasm.compactAbove(vector.ptr, start, n, t, idxPtr, valPtr, COMPACT_CHUNK);
      start = this.wasm.lastStop() >>> 0;
      if (start === n && chunks.length === 0) {
        return { indices: this.u32(idxPtr, c).slice(), values: this.f32(valPtr, c).slice() };
      }
      chunks.push({ indices: this.u32(idxPtr, c).slice(), values: this.f32(valPtr, c).slice() });
      total += c;
    } while (start < n);
    const indices = new Uint32Array(total);
    const values = new Float32Array(total);
    let at = 0;
    for (const chunk of chunks) {
      indices.set(chunk.indices, at);
      values.set(chunk.values, at);
      at += chunk.indices.length;
    }
    return { indices, values };
  }

  // ---------------------------------------------------------------------------------------
  // Selection.

  async topk(vector: CpuVector, k: number, hint?: number): Promise<SparseVector> {
    this.check(vector);
    const n = vector.length;
    k = Math.trunc(k);
    if (!(k > 0) || n === 0) return emptySparse();
    if (k >= n) return { indices: iota(n), values: this.view(vector).slice() };
    if (n > this.wholeSelectMaxLength) {
      const selected = this.topkByCandidates(vector, k, hint === undefined ? -1 : thresholdBits(hint));
      if (selected) return selected;
    }
    return this.topkWhole(vector, k);
  }

  /** Top-k among the coordinates above a sampled (or hinted) threshold; null when that fails. */
  private topkByCandidates(vector: CpuVector, k: number, hintBits: number): SparseVector | null {
    const n = vector.length;
    const s = Math.min(SAMPLE, n);
    // The sample's rank-th largest magnitude: with a 4-sigma margin, more than k coordinates exceed it.
    const expected = (k * s) / n;
    const rank = Math.min(s, Math.ceil(expected + 4 * Math.sqrt(expected) + 4));
    const estimate = (rank * n) / s;
    if (estimate > n * MAX_CANDIDATE_FRACTION) return null;

    const hist = this.hist();
    const sample = this.sampleBuffer();
    this.wasm.sampleFloat(vector.ptr, n, s, 0x2545f491, sample);
    const sampled = this.wasm.selectKeys(sample, s, rank, MAGNITUDE_MASK, hist);

    const cap = Math.min(n, Math.ceil(2 * estimate) + 4096);
    const candidates = this.heap.alloc(cap * 8);
    try {
      const idxPtr = candidates;
      const valPtr = candidates + cap * 4;
      // The tighter of the two thresholds; if the hint turns out wrong, fall back to the sample's.
      const thresholds = hintBits > sampled ? [hintBits, sampled] : [sampled];
      for (const t of thresholds) {
        const c = this.wasm.compactAbove(vector.ptr, 0, n, t, idxPtr, valPtr, cap);
        if (this.wasm.lastStop() >>> 0 < n) return null; // more candidates than the cap
        if (c < k) continue; // too few: the k-th largest is not above t
        const key = this.wasm.selectKeys(valPtr, c, k, MAGNITUDE_MASK, hist);
        const quota = k - (this.wasm.lastGreater() >>> 0);
        const out = this.heap.alloc(k * 8);
        try {
          const written = this.wasm.emitCandidates(idxPtr, valPtr, c, MAGNITUDE_MASK, key, quota, out, out + k * 4);
          if (written !== k) throw new Error(`topk: selected ${written} of ${k}`);
          return { indices: this.u32(out, k).slice(), values: this.f32(out + k * 4, k).slice() };
        } finally {
          this.heap.release(out);
        }
      }
      return null;
    } finally {
      this.heap.release(candidates);
    }
  }

  /** Radix select over the whole vector: two histogram passes, one emission pass. */
  private topkWhole(vector: CpuVector, k: number): SparseVector {
    const n = vector.length;
    const hist = this.hist();
    const out = this.heap.alloc(k * 8);
    try {
      const key = this.wasm.selectFloat(vector.ptr, n, k, hist);
      const quota = k - (this.wasm.lastGreater() >>> 0);
      const written = this.wasm.emitFloat(vector.ptr, n, key, quota, k, out, out + k * 4);
      if (written !== k) throw new Error(`topk: selected ${written} of ${k}`);
      return { indices: this.u32(out, k).slice(), values: this.f32(out + k * 4, k).slice() };
    } finally {
      this.heap.release(out);
    }
  }

  async randomSubset(length: number, k: number, seed: number): Promise<Uint32Array> {
    if (!Number.isInteger(length) || length < 0 || length > MAX_LENGTH) {
      throw new RangeError(`randomSubset: bad length ${length}`);
    }
    k = Math.trunc(k);
    if (!(k > 0) || length === 0) return new Uint32Array(0);
    if (k >= length) return iota(length);
    const ms = mix32(seed >>> 0);
    const hist = this.hist();

    // Keys are uniform on [0, 2^32): count(key >= t) is about length * (2^32 - t) / 2^32.
    const expected = k + 5 * Math.sqrt(k) + 16;
    if (expected <= length * MAX_CANDIDATE_FRACTION) {
      const t = Math.floor(2 ** 32 * (1 - expected / length));
      const cap = Math.ceil(expected + 6 * Math.sqrt(expected) + 1024);
      const candidates = this.heap.alloc(cap * 8);
      try {
        const idxPtr = candidates;
        const keyPtr = candidates + cap * 4;
        const c = this.wasm.compactRandom(ms, 0, length, t, idxPtr, keyPtr, cap);
        if (this.wasm.lastStop() >>> 0 === length && c >= k) {
          const key = this.wasm.selectKeys(keyPtr, c, k, ALL_KEYS, hist);
          const quota = k - (this.wasm.lastGreater() >>> 0);
          const out = this.heap.alloc(k * 4);
          try {
            const written = this.wasm.emitCandidates(idxPtr, keyPtr, c, ALL_KEYS, key, quota, out, 0);
            if (written !== k) throw new Error(`randomSubset: selected ${written} of ${k}`);
            return this.u32(out, k).slice();
          } finally {
            this.heap.release(out);
          }
        }
      } finally {
        this.heap.release(candidates);
      }
    }
    const out = this.heap.alloc(k * 4);
    try {
      const key = this.wasm.selectRandom(ms, length, k, hist);
      const quota = k - (this.wasm.lastGreater() >>> 0);
      const written = this.wasm.emitRandom(ms, length, key, quota, k, out);
      if (written !== k) throw new Error(`randomSubset: selected ${written} of ${k}`);
      return this.u32(out, k).slice();
    } finally {
      this.heap.release(out);
    }
  }

  // ---------------------------------------------------------------------------------------
  // Internals.

  private allocate(length: number): CpuVector {
    if (!Number.isInteger(length) || length < 0 || length > MAX_LENGTH) {
      throw new RangeError(`CPU kernels: bad vector length ${length}`);
    }
    return new CpuVector(this, this.heap.alloc(length * 4), length);
  }

  private check(vector: CpuVector): void {
    if (!(vector instanceof CpuVector) || vector.owner !== this) {
      throw new TypeError('CPU kernels: not a vector of these kernels');
    }
    if (vector.ptr < 0) throw new Error('CPU kernels: vector was released');
  }

  private u32(ptr: number, length: number): Uint32Array {
    return new Uint32Array(this.wasm.memory.buffer, ptr, length);
  }
  private f32(ptr: number, length: number): Float32Array {
    return new Float32Array(this.wasm.memory.buffer, ptr, length);
  }
  private f64(ptr: number, length: number): Float64Array {
    return new Float64Array(this.wasm.memory.buffer, ptr, length);
  }

  private small(): number {
    return (this.smallPtr ||= this.heap.alloc(256));
  }
  private hist(): number {
    return (this.histPtr ||= this.heap.alloc(HIST_BYTES));
  }
  private sampleBuffer(): number {
    return (this.samplePtr ||= this.heap.alloc(SAMPLE * 4));
  }
  private compactBuffer(): number {
    return (this.compactPtr ||= this.heap.alloc(COMPACT_CHUNK * 8));
  }
}

/** CPU kernels on a fresh WebAssembly instance (its own memory). */
export async function createCpuKernels(options: CpuKernelsOptions = {}): Promise<CpuKernels> {
  return new CpuKernels(await instantiateKernelsWasm(), options);
}
