import type { BackendName, Kernels } from './kernels/kernels';

export const BACKENDS: readonly BackendName[] = ['cpu', 'webgpu'];

/** The kernels of one backend; each is loaded only when asked for (WebGPU pulls in Dawn). */
export async function createKernels(
  backend: BackendName,
  options: {
    /** WebGPU: time selections with timestamp queries where the adapter offers them (for benchmarks). */
    profile?: boolean;
  } = {},
): Promise<Kernels> {
  if (backend === 'cpu') {
    const { createCpuKernels } = await import('./kernels/cpu/index');
    return createCpuKernels();
  }
  const { createWebGpuKernels } = await import('./kernels/webgpu/index');
  return createWebGpuKernels(undefined, { profile: options.profile ?? false });
}
