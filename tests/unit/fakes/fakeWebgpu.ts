/**
 * A stand-in for the `webgpu` package (dawn.node) on a machine with several GPUs. It follows Dawn's
 * GPU::requestAdapter (src/dawn/node/binding/GPU.cpp): `backend=` filters, `adapter=` opens the
 * first adapter whose name contains the flag's text, and a name that matches nothing rejects with
 * every adapter listed. With `deviceSelectLayer` it also does what Mesa's Vulkan device-select layer
 * does when Dawn creates its instance: DRI_PRIME=pci-DDDD_BB_DD_F puts that device first (a tag that
 * matches none, its default GPU), and MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE=1 hides the others. Every create() is recorded with
 * its flags and the variables the layer read.
 */
import type { DawnModule } from '../../../gpu/webgpuDevice/device';

export interface FakeAdapter {
  name: string;
  backend: string;
  vendor: string;
  description: string;
  /** The physical device; null for a CPU implementation. */
  pciBusId: string | null;
}

export interface FakeCreate {
  flags: string[];
  env: { DRI_PRIME?: string; MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE?: string };
}

export interface FakeDawn extends DawnModule {
  creates: FakeCreate[];
}

/** Four adapters, two of them identical A100s, and SwiftShader. */
export const FOUR_ADAPTERS: FakeAdapter[] = [
  {
    name: 'NVIDIA A100-SXM4-80GB',
    backend: 'vulkan',
    vendor: 'nvidia',
    description: 'NVIDIA: 550.54',
    pciBusId: '0000:65:00.0',
  },
  {
    name: 'NVIDIA A100-SXM4-80GB',
    backend: 'vulkan',
    vendor: 'nvidia',
    description: 'NVIDIA: 550.54',
    pciBusId: '0000:17:00.0',
  },
  {
    name: 'NVIDIA RTX A4000',
    backend: 'vulkan',
    vendor: 'nvidia',
    description: 'NVIDIA: 550.54',
    pciBusId: '0000:b3:00.0',
  },
  {
    name: 'SwiftShader Device (Subzero)',
    backend: 'vulkan',
    vendor: 'google',
    description: 'SwiftShader driver 5.0.0',
    pciBusId: null,
  },
];

function pciTag(busId: string): string {
  return `pci-${busId.replace(/[:.]/g, '_')}`;
}

export function fakeDawn(adapters: FakeAdapter[], options: { deviceSelectLayer: boolean }): FakeDawn {
  const creates: FakeCreate[] = [];
  const create = (flags: string[]): GPU => {
    const env = {
      DRI_PRIME: process.env.DRI_PRIME,
      MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE: process.env.MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE,
    };
    creates.push({ flags: [...flags], env });
    // The instance sees the devices the layer lets through when it is created.
    let visible = [...adapters];
    if (options.deviceSelectLayer && env.DRI_PRIME?.startsWith('pci-')) {
      // A tag that matches no device leaves the layer's default: the first GPU that is not a CPU.
      const tag = env.DRI_PRIME.replace(/!$/, '');
      const chosen =
        visible.find((a) => a.pciBusId !== null && pciTag(a.pciBusId) === tag) ?? visible.find((a) => a.pciBusId);
      if (chosen) {
        visible = [chosen, ...visible.filter((a) => a !== chosen)];
        if (env.MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE === '1') visible = [chosen];
      }
    }
    const flag = (name: string) => flags.find((f) => f.startsWith(`${name}=`))?.slice(name.length + 1);
    return {
      requestAdapter: async () => {
        const backend = flag('backend');
        const candidates = visible.filter((a) => !backend || a.backend === backend);
        if (candidates.length === 0) return null;
        const name = flag('adapter');
        const found = candidates.find((a) => !name || a.name.includes(name));
        if (!found) {
          const head = backend
            ? `no adapter with backend '${backend}' and name '${name}' found`
            : 'no suitable backends found';
          const list = candidates.map((a) => `\n * backend: '${a.backend}', name: '${a.name}'`).join('');
          throw new Error(`${head}\nAvailable adapters:${list}`);
        }
        return {
          info: {
            vendor: found.vendor,
            architecture: '',
            device: found.name.toLowerCase(),
            description: found.description,
          },
          // Which physical device this is: what the tests check.
          fakePciBusId: found.pciBusId,
        } as unknown as GPUAdapter;
      },
    } as unknown as GPU;
  };
  return { create, globals: {}, creates };
}

/** What /sys says of the same machine (gpu/worker/gpus/linuxPci.ts's PciGpu), sorted by bus address. */
export function fakePci(adapters: FakeAdapter[]) {
  return adapters
    .filter((a) => a.pciBusId !== null)
    .map((a) => ({ busId: a.pciBusId!, vendorId: 0x10de, deviceId: 0x20b2, driver: 'nvidia', memoryBytes: 80e9 }))
    .sort((a, b) => a.busId.localeCompare(b.busId));
}
