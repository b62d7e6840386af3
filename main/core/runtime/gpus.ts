/** The GPUs of this machine as the core sees them, and which ones local workers are placed on. */
import { execFile } from 'node:child_process';
import { z } from 'zod';
import type { WorkerBackendChoice } from '../../../common/api';
import { chooseGpus, gpuInfoSchema, type GpuInfo } from '../../../common/gpus';
import { cliScript } from '../packageRoot';

/**
 * Discovers the GPUs in a `sparselab gpus --json` child process: Dawn (and the Vulkan driver it
 * loads) stays out of the core's process, which may be Electron's.
 */
export async function discoverLocalGpus(timeoutMs = 60_000): Promise<GpuInfo[]> {
  const cli = cliScript();
  const env = { ...process.env, ...(process.versions.electron && { ELECTRON_RUN_AS_NODE: '1' }) };
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [cli, 'gpus', '--json'], { env, timeout: timeoutMs }, (error, out, err) =>
      error ? reject(new Error(`GPU discovery failed: ${err.trim() || error.message}`)) : resolve(out),
    ),
  );
  return z.array(gpuInfoSchema).parse(JSON.parse(stdout));
}

export interface LocalPlacement {
  /** Every GPU found. */
  found: GpuInfo[];
  /** The ones workers are placed on (worker i on used[i mod G]); empty: no placement. */
  used: GpuInfo[];
}

/**
 * The GPUs local workers of this backend run on: those chosen (`--gpus 0,2`; a GPU that does not
 * exist is an error listing the GPUs found), else every hardware GPU; for 'webgpu' with no hardware
 * GPU, the software one. 'cpu' workers use none; choosing GPUs for them is an error.
 */
export async function localPlacement(
  backend: WorkerBackendChoice,
  chosen: readonly number[] | null,
  discover: () => Promise<GpuInfo[]> = discoverLocalGpus,
): Promise<LocalPlacement> {
  if (backend === 'cpu') {
    if (chosen !== null) throw new Error('--gpus needs the webgpu or auto backend, not cpu');
    return { found: [], used: [] };
  }
  const found = await discover();
  return { found, used: placedGpus(backend, found, chosen) };
}

/** Of the GPUs found, those local workers of a GPU-using backend run on (see localPlacement). */
export function placedGpus(
  backend: Exclude<WorkerBackendChoice, 'cpu'>,
  found: readonly GpuInfo[],
  chosen: readonly number[] | null,
): GpuInfo[] {
  const used = chooseGpus(found, chosen);
  // 'auto' keeps software adapters for the CPU kernels it would otherwise pick, unless asked for by number.
  return backend === 'auto' && chosen === null ? used.filter((gpu) => !gpu.software) : used;
}
