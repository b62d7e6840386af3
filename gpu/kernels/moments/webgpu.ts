/** Moments and central moments on the WebGPU backend (moments.wgsl). */
import type { CentralMoments, Moments } from '../kernels';
import { floatOfBits } from '../float32Bits';
import type { Frame, GpuVector } from '../webgpu/vector';
import type { WebGpuKernels } from '../webgpu/index';

/** Bytes of the moments module's Result (read back whole). */
export function momentsResultBytes(kernels: WebGpuKernels): number {
  return 16 + kernels.workgroupSize * 32;
}

/** A moments Result buffer, initialized for a MODE 0 or 1 reduction. */
export function momentsResultBuffer(kernels: WebGpuKernels, frame: Frame): GPUBuffer {
  const result = kernels.storage(frame, momentsResultBytes(kernels), 'moments');
  kernels.device.queue.writeBuffer(result, 0, new Uint32Array([0xffffffff, 0, 0, 0]));
  return result;
}

/** Encodes the two-pass power-sum reduction of `vector` into `pass`; returns its Result buffer. */
export function encodeMoments(
  kernels: WebGpuKernels,
  pass: GPUComputePassEncoder,
  frame: Frame,
  vector: GpuVector,
  result = momentsResultBuffer(kernels, frame),
  mode: 0 | 1 = 0,
  meanHi = 0,
  meanLo = 0,
): GPUBuffer {
  const n = vector.length;
  const { items, numBlocks } = kernels.blocking(n);
  const paramsWords = new ArrayBuffer(32);
  new Uint32Array(paramsWords).set([n, numBlocks, 0, 0, 0, items]);
  new Float32Array(paramsWords, 8, 2).set([meanHi, meanLo]);
  const params = kernels.uniform(frame, new Uint8Array(paramsWords));
  const partials = kernels.storage(frame, numBlocks * 32, 'partials');
  pass.setBindGroup(0, kernels.bindGroup('moments', [vector.binding(), params, partials, result]));
  pass.setPipeline(kernels.pipeline('moments', 'blockMoments', { MODE: mode }));
  kernels.dispatch(pass, numBlocks);
  pass.setPipeline(kernels.pipeline('moments', 'finishMoments', { MODE: mode }));
  pass.dispatchWorkgroups(1);
  return result;
}

/** Runs the two-pass power-sum reduction; returns the raw result words. */
function powerSums(
  kernels: WebGpuKernels,
  vector: GpuVector,
  mode: 0 | 1,
  meanHi: number,
  meanLo: number,
): Promise<ArrayBuffer> {
  const frame = kernels.frame();
  const encoder = kernels.device.createCommandEncoder({ label: mode === 0 ? 'moments' : 'centralMoments' });
  const pass = encoder.beginComputePass();
  const result = encodeMoments(kernels, pass, frame, vector, undefined, mode, meanHi, meanLo);
  pass.end();
  return kernels.submitAndRead(encoder, result, 0, momentsResultBytes(kernels), frame);
}

/** Sums over the per-thread results in float64: [sum of s.x 2^(p0 E), s.y 2^(p1 E), s.z 2^(p2 E)]. */
function combine(
  kernels: WebGpuKernels,
  words: ArrayBuffer,
  powers: [number, number, number],
): { sums: number[]; maxKey: number } {
  const f = new Float32Array(words);
  const i32 = new Int32Array(words);
  const u32 = new Uint32Array(words);
  const sums = [0, 0, 0];
  let maxKey = 0;
  for (let t = 0; t < kernels.workgroupSize; t++) {
    const base = 4 + t * 8;
    const e = i32[base + 4]!;
    maxKey = Math.max(maxKey, u32[base + 5]!);
    if (e < -1000) continue;
    for (let c = 0; c < 3; c++) sums[c]! += f[base + c]! * 2 ** (powers[c]! * e);
  }
  return { sums, maxKey };
}

export async function moments(kernels: WebGpuKernels, vector: GpuVector): Promise<Moments> {
  kernels.checkVector(vector);
  const n = vector.length;
  if (n === 0) return { count: 0, sum: 0, sumSquares: 0, sumAbs: 0, maxAbs: 0, firstNonFinite: -1 };
  return momentsFrom(kernels, await powerSums(kernels, vector, 0, 0, 0), n);
}

/** Moments of n coordinates from a MODE 0 Result's words. */
export function momentsFrom(kernels: WebGpuKernels, words: ArrayBuffer, n: number): Moments {
  const first = new Uint32Array(words, 0, 1)[0]!;
  if (first !== 0xffffffff) {
    return { count: n, sum: NaN, sumSquares: NaN, sumAbs: NaN, maxAbs: NaN, firstNonFinite: first };
  }
  const { sums, maxKey } = combine(kernels, words, [1, 2, 1]);
  return {
    count: n,
    sum: sums[0]!,
    sumSquares: sums[1]!,
    sumAbs: sums[2]!,
    maxAbs: floatOfBits(maxKey),
    firstNonFinite: -1,
  };
}

export async function centralMoments(kernels: WebGpuKernels, vector: GpuVector, mean: number): Promise<CentralMoments> {
  kernels.checkVector(vector);
  if (vector.length === 0) return { m2: 0, m3: 0, m4: 0 };
  const meanHi = Math.fround(mean);
  const meanLo = Number.isFinite(meanHi) ? Math.fround(mean - meanHi) : 0;
  const words = await powerSums(kernels, vector, 1, meanHi, meanLo);
  const flags = new Uint32Array(words, 4, 1)[0]!;
  if (flags & 1) return { m2: NaN, m3: NaN, m4: NaN };
  if (flags & 6) {
    const pos = (flags & 2) !== 0;
    const neg = (flags & 4) !== 0;
    return { m2: Infinity, m3: pos && neg ? NaN : pos ? Infinity : -Infinity, m4: Infinity };
  }
  const { sums } = combine(kernels, words, [2, 3, 4]);
  return { m2: sums[0]!, m3: sums[1]!, m4: sums[2]! };
}
