/**
 * Opening one chosen GPU with Dawn (the `webgpu` package, loaded by gpu/webgpuDevice/device.ts).
 *
 * What selects one GPU, by platform (README "A multi-GPU machine"):
 * - dawn.node's `adapter=NAME` flag opens the first adapter, in Dawn's order, whose name contains
 *   NAME; `backend=` restricts the backend. Enough for GPUs of different names, everywhere.
 * - Identical GPUs on Linux: Mesa's Vulkan device-select layer (an implicit layer, in Debian's
 *   mesa-vulkan-drivers) puts the device `DRI_PRIME=pci-DDDD_BB_DD_F` names first, and with
 *   `MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE=1` hides every other one. It works over any
 *   Vulkan driver with VK_EXT_pci_bus_info (NVIDIA's included). CUDA_VISIBLE_DEVICES does nothing
 *   to Vulkan; NVIDIA's driver has no variable of its own for this.
 * - Windows (D3D12) and macOS (Metal): dawn.node cannot pick among identical names (Dawn's
 *   adapter-by-LUID option is not exposed to JavaScript), so such a GPU is reported unselectable.
 */
import type { GpuInfo } from '../../../common/gpus';

import type { DawnModule } from '../../webgpuDevice/device';

/** The environment under which Mesa's device-select layer exposes only the GPU at this bus address. */
export function deviceSelectEnv(busId: string): Record<string, string> {
  const match = /^([0-9a-f]{4}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/i.exec(busId);
  if (!match) throw new Error(`"${busId}" is not a PCI address like 0000:19:00.0`);
  const [, domain, bus, device, fn] = match;
  return { DRI_PRIME: `pci-${domain}_${bus}_${device}_${fn}!`, MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE: '1' };
}

/** How a worker process opens one GPU: variables its environment must hold before Dawn starts, and Dawn's flags. */
export interface GpuSelection {
  gpu: GpuInfo;
  env: Record<string, string>;
  dawnFlags: string[];
}

/** The variable carrying the chosen GPU (JSON GpuInfo) from the core to a local worker. */
export const GPU_ENV = 'SPARSELAB_GPU';

export function gpuSelection(gpu: GpuInfo): GpuSelection {
  if (gpu.selectableBy === null) {
    throw new Error(
      `GPU ${gpu.index} (${gpu.name}, ${gpu.id}) cannot be opened on its own: an earlier GPU has the same name, and ` +
        (process.platform === 'linux'
          ? "selecting among identical GPUs needs Mesa's Vulkan device-select layer (Debian/Ubuntu: apt install mesa-vulkan-drivers)"
          : 'dawn.node selects adapters by name only on this platform'),
    );
  }
  return {
    gpu,
    env: { ...(gpu.selectableBy === 'pci' && deviceSelectEnv(gpu.pciBusId!)), [GPU_ENV]: JSON.stringify(gpu) },
    dawnFlags: [`backend=${gpu.backend}`, `adapter=${gpu.name}`],
  };
}

/**
 * Opens the selected GPU: sets the selection's variables in this process's environment (the Vulkan
 * loader and its layers read them when Dawn creates its instance), then creates Dawn with the flags.
 * Returns the Dawn instance, whose requestAdapter() now yields that GPU, and the adapter.
 */
export async function openSelectedGpu(
  dawn: DawnModule,
  selection: GpuSelection,
): Promise<{ gpu: GPU; adapter: GPUAdapter }> {
  Object.assign(process.env, selection.env);
  const gpu = dawn.create(selection.dawnFlags);
  const { index, name } = selection.gpu;
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (error) {
    throw new Error(`GPU ${index} (${name}) could not be opened: ${(error as Error).message}`, { cause: error });
  }
  if (!adapter) throw new Error(`GPU ${index} (${name}) could not be opened: Dawn found no adapter`);
  return { gpu, adapter };
}
