/** Which GPU a worker opens for `--gpu N`: the one the core resolved for it, else one it discovers itself. */
import { chooseGpus, gpuInfoSchema } from '../../../common/gpus';
import { loadDawn } from '../../webgpuDevice/device';
import { GPU_ENV, gpuSelection, type GpuSelection } from './dawn';
import { discoverGpus, systemSources } from './discovery';

/**
 * The selection for GPU `index`. A local worker gets its GPU from the core in $SPARSELAB_GPU (and the
 * variables that select it already set); a worker started by hand discovers the GPUs itself. A GPU
 * that does not exist is an error listing the GPUs found.
 */
export async function resolveGpuSelection(
  index: number,
  env: NodeJS.ProcessEnv = process.env,
  discover = async () => discoverGpus(systemSources(await loadDawn())),
): Promise<GpuSelection> {
  const given = env[GPU_ENV];
  if (given) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(given);
    } catch {
      parsed = null;
    }
    const gpu = gpuInfoSchema.safeParse(parsed);
    if (!gpu.success) throw new Error(`$${GPU_ENV} does not describe a GPU: ${gpu.error.issues[0]?.message ?? given}`);
    if (gpu.data.index !== index) throw new Error(`$${GPU_ENV} names GPU ${gpu.data.index} but --gpu says ${index}`);
    return gpuSelection(gpu.data);
  }
  const [gpu] = chooseGpus(await discover(), [index]);
  return gpuSelection(gpu!);
}
