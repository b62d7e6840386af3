/** Coordinate-wise kernels of the CPU backend (elementwise.as.ts): add, zero, gather. */
import type { CpuKernels, CpuVector } from '../cpu/index';

export function addInto(kernels: CpuKernels, target: CpuVector, addend: CpuVector): void {
  kernels.check(target);
  kernels.check(addend);
  if (target.length !== addend.length) {
    throw new RangeError(`addInto: lengths ${target.length} and ${addend.length} differ`);
  }
  kernels.wasm.addInto(target.ptr, addend.ptr, target.length);
}

export function zeroAt(kernels: CpuKernels, target: CpuVector, indices: Uint32Array): void {
  const u = kernels.view(target);
  for (let j = 0; j < indices.length; j++) u[indices[j]!] = 0;
}

export function gather(kernels: CpuKernels, vector: CpuVector, indices: Uint32Array): Float32Array {
  const u = kernels.view(vector);
  const out = new Float32Array(indices.length);
  for (let j = 0; j < indices.length; j++) out[j] = u[indices[j]!]!;
  return out;
}
