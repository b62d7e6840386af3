/**
 * The GPUs of one machine and which local worker runs on which: shared by the worker (which opens
 * its GPU), the core (which places workers) and the renderer (which shows both).
 */
import { z } from 'zod';

/** One GPU as discovery found it (gpu/worker/gpus/discovery.ts); it travels to a local worker as JSON. */
export const gpuInfoSchema = z
  .object({
    /** Its number on this machine: what `--gpus 0,2` and `worker --gpu N` name. */
    index: z.number().int().nonnegative(),
    /** Stable identity: `pci:0000:65:00.0` where the bus address is known, else `vulkan:NAME#n`. */
    id: z.string().min(1),
    /** As the driver names it, e.g. "NVIDIA H200". */
    name: z.string().min(1),
    /** e.g. "nvidia", "amd", "intel", "google" (SwiftShader). */
    vendor: z.string(),
    /** Dawn's backend for it: vulkan, metal, d3d12, ... */
    backend: z.string().min(1),
    /** The driver's description (its version, e.g. "NVIDIA: 560.35.03"), else the kernel driver (Linux), where known. */
    driver: z.string().nullable(),
    memoryBytes: z.number().nonnegative().nullable(),
    /** PCI address (domain:bus:device.function), where known. */
    pciBusId: z.string().nullable(),
    /** A CPU implementation (SwiftShader, lavapipe, WARP): workers may share it freely. */
    software: z.boolean(),
    /**
     * How a worker opens this GPU and no other: 'name' (no earlier GPU's name contains its name, so
     * Dawn's `adapter=` flag finds it), 'pci' (Mesa's Vulkan device-select layer exposes only this
     * bus address), or null when neither works (the second of two identical GPUs without that layer).
     */
    selectableBy: z.enum(['name', 'pci']).nullable(),
  })
  .strict();
export type GpuInfo = z.infer<typeof gpuInfoSchema>;

/** What a local worker's slot runs on. */
export interface SlotPlacement {
  /** Stable slot number: a restarted worker keeps it. */
  slot: number;
  /** The GPU, or null for a worker that uses no GPU (CPU backend, or none found). */
  gpu: GpuInfo | null;
}

/** "0,2" -> [0, 2]; a clear error for anything else. */
export function parseGpuList(text: string): number[] {
  const parts = text.split(',').map((part) => part.trim());
  const indices = parts.map((part) => {
    if (!/^\d+$/.test(part)) throw new Error(`"${part}" is not a GPU number (expected a list like 0,2)`);
    return Number(part);
  });
  if (new Set(indices).size !== indices.length) throw new Error(`GPU list "${text}" names a GPU twice`);
  return indices;
}

/** One line per GPU, for errors and the CLI: "0: NVIDIA H200 (vulkan, nvidia, 141 GB, pci:0000:19:00.0)". */
export function describeGpus(gpus: readonly GpuInfo[]): string {
  if (gpus.length === 0) return '  (none: no WebGPU adapter was found)';
  return gpus.map((gpu) => `  ${gpu.index}: ${describeGpu(gpu)}`).join('\n');
}

function describeGpu(gpu: GpuInfo): string {
  const details = [
    gpu.backend,
    gpu.driver ?? gpu.vendor,
    gpu.memoryBytes !== null ? `${(gpu.memoryBytes / 1e9).toFixed(0)} GB` : null,
    gpu.software ? 'software' : null,
    gpu.id,
  ].filter((x): x is string => x !== null && x !== '');
  return `${gpu.name} (${details.join(', ')})`;
}

/** The GPUs `chosen` names, in that order; an error listing the GPUs found when one does not exist. */
export function chooseGpus(found: readonly GpuInfo[], chosen: readonly number[] | null): GpuInfo[] {
  if (chosen === null) {
    const hardware = found.filter((gpu) => !gpu.software);
    return hardware.length > 0 ? hardware : [...found];
  }
  return chosen.map((index) => {
    const gpu = found.find((g) => g.index === index);
    if (!gpu) {
      throw new Error(`there is no GPU ${index} on this machine; the GPUs found:\n${describeGpus(found)}`);
    }
    return gpu;
  });
}

/** Slot s runs on GPU s mod G (G = the GPUs used); no GPUs: every slot null. */
export function gpuForSlot(slot: number, gpus: readonly GpuInfo[]): GpuInfo | null {
  return gpus.length === 0 ? null : gpus[slot % gpus.length]!;
}

/**
 * Whether P ranks may run on these GPUs: each rank on its own hardware GPU when P <= G; more ranks
 * than GPUs only when the experiment allows sharing (`shareGpus`). Software adapters are the CPU
 * and may always be shared. Returns null when fine, else the reason, said before launch.
 */
export function placementProblem(ranks: number, gpus: readonly GpuInfo[], shareGpus: boolean): string | null {
  const hardware = gpus.filter((gpu) => !gpu.software);
  if (hardware.length === 0 || ranks <= hardware.length || shareGpus) return null;
  return (
    `${ranks} workers but ${hardware.length} GPU${hardware.length === 1 ? '' : 's'} ` +
    `(${hardware.map((gpu) => `${gpu.index}: ${gpu.name}`).join(', ')}): ranks would share GPUs. ` +
    'Set shareGpus: true in the experiment to allow it, use fewer workers, or --backend cpu'
  );
}
