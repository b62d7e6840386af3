/** The multi-threshold count on the CPU backend (count.as.ts). */
import type { CpuKernels, CpuVector } from '../cpu/index';
import { thresholdBits } from '../float32Bits';

export function countAbove(kernels: CpuKernels, vector: CpuVector, thresholds: readonly number[]): number[] {
  kernels.check(vector);
  const bits = thresholds.map(thresholdBits);
  const counts: number[] = [];
  const thr = kernels.small();
  const out = thr + 32;
  for (let g = 0; g < bits.length; g += 8) {
    const group = bits.slice(g, g + 8);
    new Int32Array(kernels.wasm.memory.buffer, thr, 8).set(group);
    kernels.wasm.countAbove(vector.ptr, vector.length, thr, group.length, out);
    counts.push(...kernels.u32(out, group.length));
  }
  return counts;
}
