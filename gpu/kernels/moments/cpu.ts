/** Moments and central moments on the CPU backend (moments.as.ts). */
import type { CentralMoments, Moments } from '../kernels';
import type { CpuKernels, CpuVector } from '../cpu/index';

export function moments(kernels: CpuKernels, vector: CpuVector): Moments {
  kernels.check(vector);
  const out = kernels.small();
  kernels.wasm.moments(vector.ptr, vector.length, out);
  const [sum, sumSquares, sumAbs, maxAbs, firstNonFinite] = kernels.f64(out, 5);
  return {
    count: vector.length,
    sum: sum!,
    sumSquares: sumSquares!,
    sumAbs: sumAbs!,
    maxAbs: maxAbs!,
    firstNonFinite: firstNonFinite!,
  };
}

export function centralMoments(kernels: CpuKernels, vector: CpuVector, mean: number): CentralMoments {
  kernels.check(vector);
  const out = kernels.small();
  kernels.wasm.centralMoments(vector.ptr, vector.length, mean, out);
  const [m2, m3, m4] = kernels.f64(out, 3);
  return { m2: m2!, m3: m3!, m4: m4! };
}
