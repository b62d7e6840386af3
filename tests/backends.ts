/** The kernel backends a test suite runs against: the naive oracle and the real ones. */
import type { Kernels } from '../gpu/kernels/kernels';
import { NaiveKernels } from './oracle/naiveKernels';

export interface BackendCase {
  name: string;
  create: () => Promise<Kernels>;
}

export const naiveBackend: BackendCase = { name: 'naive', create: async () => new NaiveKernels() };

export const cpuBackend: BackendCase = {
  name: 'cpu',
  create: async () => (await import('../gpu/kernels/cpu/index')).createCpuKernels(),
};

export const webgpuBackend: BackendCase = {
  name: 'webgpu',
  create: async () => (await import('../gpu/kernels/webgpu/index')).createWebGpuKernels(),
};
