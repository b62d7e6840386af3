/**
 * Finds the GPUs of this machine as Dawn (the `webgpu` package) sees them, with what the OS adds:
 * on Linux the PCI bus address, kernel driver and memory from /sys (and nvidia-smi where
 * installed). See README "A multi-GPU machine" for how each platform selects one.
 *
 * dawn.node offers no call that lists adapters, but `create(['adapter=NAME'])` with a name that
 * matches nothing rejects requestAdapter() with every adapter's backend and name, in Dawn's order.
 * That order is what `adapter=NAME` walks: it opens the first adapter whose name contains NAME.
 */
import type { GpuInfo } from '../../../common/gpus';
import { SOFTWARE_ADAPTER, type DawnModule } from '../../webgpuDevice/device';
import { deviceSelectEnv } from './dawn';
import { linuxPciGpus, mesaDeviceSelectLayerInstalled, type PciGpu } from './linuxPci';

/** Where discovery reads from; tests give a fake Dawn and a fake /sys. */
export interface DiscoverySources {
  dawn: DawnModule;
  platform: NodeJS.Platform;
  /** Display-class PCI devices, sorted by bus address (Linux; [] elsewhere). */
  pciGpus: () => PciGpu[];
  /** Mesa's VK_LAYER_MESA_device_select is installed (Linux). */
  deviceSelectLayer: () => boolean;
}

export function systemSources(dawn: DawnModule): DiscoverySources {
  const linux = process.platform === 'linux';
  return {
    dawn,
    platform: process.platform,
    pciGpus: linux ? linuxPciGpus : () => [],
    deviceSelectLayer: linux ? mesaDeviceSelectLayerInstalled : () => false,
  };
}

/** A name no adapter has: Dawn then lists them all. */
const NO_SUCH_ADAPTER = 'sparselab-list-adapters-\u0001';
const LISTED = /^ \* backend: '([^']*)', name: '(.*)'$/;
const PCI_VENDORS: Record<number, string> = {
  0x10de: 'nvidia',
  0x1002: 'amd',
  0x8086: 'intel',
  0x106b: 'apple',
  0x13b5: 'arm',
  0x5143: 'qualcomm',
  0x1af4: 'virtio',
  0x15ad: 'vmware',
  0x1414: 'microsoft',
};

export interface ListedAdapter {
  backend: string;
  name: string;
}

/** Every adapter Dawn offers under the current environment, in Dawn's order (high-performance first). */
export async function listDawnAdapters(dawn: DawnModule): Promise<ListedAdapter[]> {
  const gpu = dawn.create([`adapter=${NO_SUCH_ADAPTER}`]);
  let message: string;
  try {
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (adapter === null) return []; // Dawn found no adapter at all
    throw new Error('Dawn returned an adapter for a name no adapter has; cannot list its adapters');
  } catch (error) {
    message = error instanceof Error ? error.message : String(error);
  }
  const listed: ListedAdapter[] = [];
  for (const line of message.split('\n')) {
    const match = LISTED.exec(line);
    if (match) listed.push({ backend: match[1]!, name: match[2]! });
  }
  return listed;
}

/** Vendor and driver description of the first adapter with this exact name (Dawn's adapter info). */
async function adapterDetails(
  dawn: DawnModule,
  adapter: ListedAdapter,
): Promise<{ vendor: string; description: string }> {
  try {
    const found = await dawn.create([`backend=${adapter.backend}`, `adapter=${adapter.name}`]).requestAdapter({
      powerPreference: 'high-performance',
    });
    return { vendor: found?.info.vendor ?? '', description: found?.info.description ?? '' };
  } catch {
    return { vendor: '', description: '' };
  }
}

/** Runs `body` with these variables set in this process's environment, then restores them. */
async function withEnv<T>(vars: Record<string, string>, body: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((name) => [name, process.env[name]]));
  Object.assign(process.env, vars);
  try {
    return await body();
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

/**
 * The GPUs of this machine, numbered. Where Mesa's device-select layer is installed (Linux), each
 * PCI GPU is probed alone through it, so identical GPUs get their own bus address and can be
 * selected; elsewhere GPUs are in Dawn's order, and an adapter whose name an earlier one contains
 * cannot be selected (Dawn's `adapter=` flag would open the earlier one).
 */
export async function discoverGpus(sources: DiscoverySources): Promise<GpuInfo[]> {
  const listed = await listDawnAdapters(sources.dawn);
  // Display devices of GPU vendors only: a server's BMC VGA (ASPEED, Matrox) has no Vulkan driver, and
  // the layer would answer for it with its default GPU.
  const pci = sources.pciGpus().filter((d) => PCI_VENDORS[d.vendorId] !== undefined);
  const probed = sources.deviceSelectLayer() && pci.length > 0 ? await probeEachGpu(sources, listed, pci) : null;
  const found: Omit<GpuInfo, 'index' | 'id'>[] = probed?.found ?? [];
  const rest = probed?.unmatched ?? listed;
  const details = await Promise.all(rest.map((adapter) => describe(sources, adapter, null)));
  for (const [i, adapter] of rest.entries()) {
    // Without the layer, a bus address is attached only where it cannot be wrong: the only PCI GPU
    // and the only adapter of its vendor.
    const vendor = details[i]!.vendor;
    const devices = pci.filter((d) => PCI_VENDORS[d.vendorId] === vendor);
    const unique =
      !details[i]!.software && devices.length === 1 && details.filter((d) => d.vendor === vendor).length === 1;
    const earlier = listed.slice(0, listed.indexOf(adapter));
    const shadowed = earlier.some((a) => a.backend === adapter.backend && a.name.includes(adapter.name));
    const described = unique ? await describe(sources, adapter, devices[0]!) : details[i]!;
    found.push({ ...described, selectableBy: shadowed ? null : 'name' });
  }
  return numbered(found);
}

/**
 * Each PCI GPU alone through Mesa's device-select layer: its adapter, and the listed adapters no PCI
 * GPU accounted for (software ones). Null when the answers do not add up (more GPUs of a name than
 * Dawn lists): the layer did not single them out, and name selection is used instead.
 */
async function probeEachGpu(
  sources: DiscoverySources,
  listed: readonly ListedAdapter[],
  pci: readonly PciGpu[],
): Promise<{ found: Omit<GpuInfo, 'index' | 'id'>[]; unmatched: ListedAdapter[] } | null> {
  const found: Omit<GpuInfo, 'index' | 'id'>[] = [];
  const unmatched = [...listed];
  for (const device of pci) {
    const alone = await withEnv(deviceSelectEnv(device.busId), () => listDawnAdapters(sources.dawn));
    if (alone.length !== 1) return null;
    const [adapter] = alone as [ListedAdapter];
    const at = unmatched.findIndex((a) => a.name === adapter.name && a.backend === adapter.backend);
    if (at < 0) return null;
    unmatched.splice(at, 1);
    found.push({ ...(await describe(sources, adapter, device)), selectableBy: 'pci' });
  }
  return { found, unmatched };
}

const detailCache = new WeakMap<DawnModule, Map<string, Promise<{ vendor: string; description: string }>>>();

async function describe(
  sources: DiscoverySources,
  adapter: ListedAdapter,
  device: PciGpu | null,
): Promise<Omit<GpuInfo, 'index' | 'id' | 'selectableBy'>> {
  let cache = detailCache.get(sources.dawn);
  if (!cache) detailCache.set(sources.dawn, (cache = new Map()));
  const key = `${adapter.backend}\n${adapter.name}`;
  if (!cache.has(key)) cache.set(key, adapterDetails(sources.dawn, adapter));
  const details = await cache.get(key)!;
  const vendor = (device && PCI_VENDORS[device.vendorId]) || details.vendor.toLowerCase() || 'unknown';
  return {
    name: adapter.name,
    vendor,
    backend: adapter.backend,
    // The driver's own description names its version ("NVIDIA: 560.35.03"); else the kernel driver.
    driver: details.description || device?.driver || null,
    memoryBytes: device?.memoryBytes ?? null,
    pciBusId: device?.busId ?? null,
    software: SOFTWARE_ADAPTER.test(`${adapter.name} ${details.vendor} ${details.description}`),
  };
}

/** Numbers the GPUs and gives each its stable id: the bus address, else backend, name and occurrence. */
function numbered(found: Omit<GpuInfo, 'index' | 'id'>[]): GpuInfo[] {
  const seen = new Map<string, number>();
  return found.map((gpu, index) => {
    const key = `${gpu.backend}:${gpu.name}`;
    const occurrence = seen.get(key) ?? 0;
    seen.set(key, occurrence + 1);
    const id = gpu.pciBusId ? `pci:${gpu.pciBusId}` : `${key}#${occurrence}`;
    return { index, id, ...gpu };
  });
}
