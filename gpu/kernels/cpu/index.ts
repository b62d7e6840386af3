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
import * as count from '../count/cpu';
import * as elementwise from '../elementwise/cpu';
import * as histogram from '../histogram/cpu';
import * as moments from '../moments/cpu';
import * as random from '../random/cpu';
import * as select from '../select/cpu';
import { COMPACT_CHUNK, HIST_BYTES, MAX_LENGTH, SAMPLE } from './common';
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

/** Default CpuKernelsOptions.wholeSelectMaxLength: below it the sample costs more than it saves. */
const WHOLE_SELECT_MAX_LENGTH = 1 << 14;

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

  /** @internal */
  readonly heap: WasmHeap;
  /** Persistent scratch blocks, allocated on first use. */
  private histPtr = 0;
  private smallPtr = 0;
  private samplePtr = 0;
  private compactPtr = 0;

  /** @internal */
  readonly wholeSelectMaxLength: number;

  /** Use createCpuKernels(). */
  constructor(
    /** @internal */
    readonly wasm: KernelsWasm,
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
  // The primitives, each beside its AssemblyScript in gpu/kernels/<primitive>/ (cpu.ts).

  addInto(target: CpuVector, addend: CpuVector): void {
    elementwise.addInto(this, target, addend);
  }

  zeroAt(target: CpuVector, indices: Uint32Array): void {
    elementwise.zeroAt(this, target, indices);
  }

  async gather(vector: CpuVector, indices: Uint32Array): Promise<Float32Array> {
    return elementwise.gather(this, vector, indices);
  }

  async moments(vector: CpuVector): Promise<Moments> {
    return moments.moments(this, vector);
  }

  async centralMoments(vector: CpuVector, mean: number): Promise<CentralMoments> {
    return moments.centralMoments(this, vector, mean);
  }

  async histogram(vector: CpuVector, min: number, max: number, bins: number): Promise<Uint32Array> {
    return histogram.histogram(this, vector, min, max, bins);
  }

  async countAbove(vector: CpuVector, thresholds: readonly number[]): Promise<number[]> {
    return count.countAbove(this, vector, thresholds);
  }

  async compactAbove(vector: CpuVector, threshold: number): Promise<SparseVector> {
    return select.compactAbove(this, vector, threshold);
  }

  async topk(vector: CpuVector, k: number, hint?: number): Promise<SparseVector> {
    return select.topk(this, vector, k, hint);
  }

  async randomSubset(length: number, k: number, seed: number): Promise<Uint32Array> {
    return random.randomSubset(this, length, k, seed);
  }

  // ---------------------------------------------------------------------------------------
  // Internals, for the primitives' host code (gpu/kernels/<primitive>/cpu.ts).

  private allocate(length: number): CpuVector {
    if (!Number.isInteger(length) || length < 0 || length > MAX_LENGTH) {
      throw new RangeError(`CPU kernels: bad vector length ${length}`);
    }
    return new CpuVector(this, this.heap.alloc(length * 4), length);
  }

  /** @internal */
  check(vector: CpuVector): void {
    if (!(vector instanceof CpuVector) || vector.owner !== this) {
      throw new TypeError('CPU kernels: not a vector of these kernels');
    }
    if (vector.ptr < 0) throw new Error('CPU kernels: vector was released');
  }

  /** @internal */
  u32(ptr: number, length: number): Uint32Array {
    return new Uint32Array(this.wasm.memory.buffer, ptr, length);
  }
  /** @internal */
  f32(ptr: number, length: number): Float32Array {
    return new Float32Array(this.wasm.memory.buffer, ptr, length);
  }
  /** @internal */
  f64(ptr: number, length: number): Float64Array {
    return new Float64Array(this.wasm.memory.buffer, ptr, length);
  }

  /** @internal */
  small(): number {
    return (this.smallPtr ||= this.heap.alloc(256));
  }
  /** @internal */
  hist(): number {
    return (this.histPtr ||= this.heap.alloc(HIST_BYTES));
  }
  /** @internal */
  sampleBuffer(): number {
    return (this.samplePtr ||= this.heap.alloc(SAMPLE * 4));
  }
  /** @internal */
  compactBuffer(): number {
    return (this.compactPtr ||= this.heap.alloc(COMPACT_CHUNK * 8));
  }
}

/** CPU kernels on a fresh WebAssembly instance (its own memory). */
export async function createCpuKernels(options: CpuKernelsOptions = {}): Promise<CpuKernels> {
  return new CpuKernels(await instantiateKernelsWasm(), options);
}
