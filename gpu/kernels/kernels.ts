/**
 * The data-parallel primitives every sparsification operator is built from. Each backend
 * (CPU: WebAssembly SIMD; WebGPU: WGSL) implements all of them with identical results, so an
 * operator's algorithm is written once (gpu/operators) and runs unchanged on either backend.
 *
 * Conventions every implementation follows:
 * - A vector is float32 and lives on the backend (`V`); hosts see it only through download().
 * - Magnitude comparisons are on |u| as float32, done on the IEEE bit patterns with the sign
 *   cleared, so -0 equals 0, subnormals are ordered correctly even where a GPU flushes them,
 *   and a threshold below 0 admits every coordinate.
 * - Thresholds are float32: callers pass numbers that are exactly representable (Math.fround).
 * - Sparse results list indices in ascending order with their values.
 * - Exact top-k orders by |u| descending and breaks ties by the lower index.
 */
export interface Moments {
  /** Number of coordinates. */
  count: number;
  sum: number;
  sumSquares: number;
  sumAbs: number;
  maxAbs: number;
  /** Index of the first NaN or +-Inf, or -1. When >= 0 the other fields are meaningless. */
  firstNonFinite: number;
}

export interface CentralMoments {
  /** Sums of (u_i - mean)^2, ^3 and ^4. */
  m2: number;
  m3: number;
  m4: number;
}

export interface SparseVector {
  /** Ascending coordinate indices. */
  indices: Uint32Array;
  values: Float32Array;
}

export interface Selection extends SparseVector {
  /** The magnitude threshold of the kept selection (|u_i| > threshold), or null where there is none. */
  threshold: number | null;
}

/** What an operator's selection needs besides u, when the backend computes u's moments itself. */
export interface DeviceSelectionRequest {
  /** Target count, already clamped to [1, d]. */
  k: number;
  /** Seed of this call's draws (already mixed with the step). */
  seed: number;
  /** DGC_k's sampled fraction. */
  sampleRatio: number;
}

/** One tensor's selection in a Kernels.selectOnDevice batch. */
export interface DeviceSelectionItem<V> {
  u: V;
  method: SparseMethod;
  request: DeviceSelectionRequest;
}

export interface DeviceSelection {
  /** Index of the first NaN or +-Inf of u, or -1; when >= 0, selection is null. */
  firstNonFinite: number;
  /** u's moments where the selection computed them (Gaussian_k, Trimmed_k), else null. */
  moments: Moments | null;
  selection: Selection | null;
}

/** Where a backend counts its host round trips and, where the adapter can, its GPU time. */
export interface DeviceCounters {
  /** Host read-backs (each one mapAsync of a result buffer). */
  readbacks: number;
  /** GPU time of the profiled submissions in nanoseconds (timestamp queries), and how many. */
  gpuNs: number;
  timedSubmissions: number;
}

import type { BackendName, SparseMethod } from '../../common/bench';

export type { BackendName, SparseMethod };

export interface Kernels<V = unknown> {
  readonly backend: BackendName;
  /** Human description of the device, e.g. "WebAssembly SIMD (2 threads)" or an adapter name. */
  readonly deviceName: string;

  /** Copies host data into a new backend vector. */
  upload(data: Float32Array): V;
  /** A new zero-filled vector of `length` coordinates. */
  zeros(length: number): V;
  /** Overwrites `target` with host data of the same length. */
  write(target: V, data: Float32Array): void;
  download(vector: V): Promise<Float32Array>;
  /**
   * WebGPU only: the first `length` float32 values of a GPUBuffer on the kernels' device (e.g. a
   * TensorFlow.js tensor's, from dataToGPU()) as a vector, without a copy; release() leaves the
   * buffer to its owner.
   */
  wrap?(buffer: GPUBuffer, length: number): V;
  length(vector: V): number;
  release(vector: V): void;

  /** target += addend, coordinate-wise (error-feedback compensation u = g + e). */
  addInto(target: V, addend: V): void;
  /** Optional: out = a + b coordinate-wise into a third vector (WebGPU; see ResidualMemory). */
  addTo?(out: V, a: V, b: V): void;
  /** Sets the listed coordinates to zero (error-feedback update e = u - C(u)). */
  zeroAt(target: V, indices: Uint32Array): void;
  /** Values at the listed coordinates. */
  gather(vector: V, indices: Uint32Array): Promise<Float32Array>;

  /** One fused pass: sum, sum of squares, sum and max of |u|, first non-finite index. */
  moments(vector: V): Promise<Moments>;
  /** Sums of powers 2..4 of (u_i - mean). */
  centralMoments(vector: V, mean: number): Promise<CentralMoments>;
  /** Equal-width histogram of u over [min, max]; values outside are clamped to the end bins. */
  histogram(vector: V, min: number, max: number, bins: number): Promise<Uint32Array>;

  /** For each threshold t, the number of coordinates with |u_i| > t, in one pass. */
  countAbove(vector: V, thresholds: readonly number[]): Promise<number[]>;
  /** Every coordinate with |u_i| > threshold, ascending. */
  compactAbove(vector: V, threshold: number): Promise<SparseVector>;
  /**
   * Exact top-k by |u| (ties: lower index first), ascending. `hint` is a threshold the caller
   * knows at least k coordinates exceed (|u_i| > hint); backends may use it to skip work, and
   * the result must not depend on it.
   */
  topk(vector: V, k: number, hint?: number): Promise<SparseVector>;
  /**
   * k distinct coordinates of [0, length) chosen uniformly by seed: the k largest keys
   * randomKey(seed, i) (see gpu/kernels/random.ts), ties to the lower index; ascending.
   */
  randomSubset(length: number, k: number, seed: number): Promise<Uint32Array>;

  /**
   * Optional: each item's whole selection with u's finiteness check, as the operator in
   * gpu/operators computes it (same result), for any number of tensors in one submission and
   * one read-back where the backend can (WebGPU). Callers use runSelection (gpu/operators/run.ts)
   * for one tensor.
   */
  selectOnDevice?(items: DeviceSelectionItem<V>[]): Promise<DeviceSelection[]>;
  /** Optional: read-backs and GPU time so far (WebGPU). */
  readonly counters?: DeviceCounters;
}
