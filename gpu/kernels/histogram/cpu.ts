/** The histogram on the CPU backend (histogram.as.ts). */
import type { CpuKernels, CpuVector } from '../cpu/index';

export function histogram(kernels: CpuKernels, vector: CpuVector, min: number, max: number, bins: number): Uint32Array {
  kernels.check(vector);
  const counts = new Uint32Array(bins);
  if (bins === 0) return counts;
  const ptr = kernels.heap.alloc(bins * 16);
  try {
    kernels.u32(ptr, bins * 4).fill(0);
    kernels.wasm.histogram(vector.ptr, vector.length, min, max, bins, ptr);
    const copies = kernels.u32(ptr, bins * 4);
    for (let b = 0; b < bins; b++) {
      counts[b] = copies[b]! + copies[bins + b]! + copies[2 * bins + b]! + copies[3 * bins + b]!;
    }
  } finally {
    kernels.heap.release(ptr);
  }
  return counts;
}
