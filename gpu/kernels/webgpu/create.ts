/** Creating the WebGPU kernels on a device the caller has, or on one acquired for them. */
import {
  acquireGpuDevice,
  adapterName,
  describeAdapterInfo,
  isSoftwareAdapter,
  type GpuAdapterDescription,
} from '../../webgpuDevice/device';
import { WebGpuKernels, type WebGpuKernelsOptions } from './index';

function describeDevice(device: GPUDevice): { info: GpuAdapterDescription; isFallbackAdapter: boolean } | null {
  const info = (device as GPUDevice & { adapterInfo?: GPUAdapterInfo & { isFallbackAdapter?: boolean } }).adapterInfo;
  if (!info) return null;
  return { info: describeAdapterInfo(info), isFallbackAdapter: info.isFallbackAdapter === true };
}

/**
 * Kernels on `device` (one the training runtime already has), or on a device acquired with
 * acquireGpuDevice() (which destroy() then destroys). Compiles every pipeline before resolving
 * unless `prepare: false` (about 3 s under SwiftShader, mostly Dawn's zero-initialization of the
 * workgroup histograms; milliseconds on GPUs).
 */
export async function createWebGpuKernels(
  device?: GPUDevice,
  options: Omit<WebGpuKernelsOptions, 'ownsDevice'> & {
    /** Compile every pipeline before resolving (default true); false compiles each at first use. */
    prepare?: boolean;
  } = {},
): Promise<WebGpuKernels> {
  let kernels: WebGpuKernels;
  if (device) {
    const described = describeDevice(device);
    const isSoftware =
      options.isSoftware ?? (described ? isSoftwareAdapter(described.info, described.isFallbackAdapter) : false);
    kernels = new WebGpuKernels(device, {
      ...options,
      deviceName:
        options.deviceName ??
        (described ? adapterName(described.info) : 'WebGPU device') + (isSoftware ? ' [software]' : ''),
      isSoftware,
      ownsDevice: false,
    });
  } else {
    const acquired = await acquireGpuDevice(options.profile ? { optionalFeatures: ['timestamp-query'] } : {});
    kernels = new WebGpuKernels(acquired.device, {
      ...options,
      deviceName: options.deviceName ?? adapterName(acquired.adapterInfo) + (acquired.isSoftware ? ' [software]' : ''),
      isSoftware: acquired.isSoftware,
      ownsDevice: true,
    });
  }
  if (options.prepare !== false) {
    try {
      await kernels.prepare();
    } catch (error) {
      kernels.destroy();
      throw error;
    }
  }
  return kernels;
}
