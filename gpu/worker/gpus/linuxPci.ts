/** What Linux says about the machine's GPUs: /sys (PCI), /proc/driver/nvidia, nvidia-smi, Vulkan layers. */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';

export interface PciGpu {
  /** domain:bus:device.function, e.g. "0000:19:00.0". */
  busId: string;
  vendorId: number;
  deviceId: number;
  /** Kernel driver bound to it (nvidia, amdgpu, i915), or null. */
  driver: string | null;
  memoryBytes: number | null;
}

const PCI_DEVICES = '/sys/bus/pci/devices';

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

/** PCI display controllers (class 0x03xxxx), sorted by bus address. */
export function linuxPciGpus(root = PCI_DEVICES): PciGpu[] {
  let entries: string[];
  try {
    entries = readdirSync(root).sort();
  } catch {
    return [];
  }
  const nvidiaMemory = entries.length > 0 ? nvidiaSmiMemory() : new Map<string, number>();
  const gpus: PciGpu[] = [];
  for (const busId of entries) {
    const dir = join(root, busId);
    if (!read(join(dir, 'class'))?.startsWith('0x03')) continue;
    let driver: string | null = null;
    try {
      driver = basename(readlinkSync(join(dir, 'driver')));
    } catch {
      // no driver bound
    }
    const vram = Number(read(join(dir, 'mem_info_vram_total')) ?? NaN); // amdgpu
    gpus.push({
      busId,
      vendorId: Number(read(join(dir, 'vendor')) ?? NaN),
      deviceId: Number(read(join(dir, 'device')) ?? NaN),
      driver,
      memoryBytes: Number.isFinite(vram) ? vram : (nvidiaMemory.get(busId) ?? null),
    });
  }
  return gpus;
}

/** Total memory per bus address from nvidia-smi, where it is installed (empty map otherwise). */
function nvidiaSmiMemory(): Map<string, number> {
  const memory = new Map<string, number>();
  if (!existsSync('/proc/driver/nvidia/gpus')) return memory;
  try {
    const text = execFileSync('nvidia-smi', ['--query-gpu=pci.bus_id,memory.total', '--format=csv,noheader,nounits'], {
      encoding: 'utf8',
      timeout: 5000,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    for (const line of text.split('\n')) {
      const [bus, mib] = line.split(',').map((x) => x.trim());
      // nvidia-smi writes an 8-digit domain: 00000000:19:00.0.
      const match = bus && /^[0-9a-f]*([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])$/i.exec(bus);
      if (match && Number(mib) > 0) memory.set(match[1]!.toLowerCase(), Number(mib) * 2 ** 20);
    }
  } catch {
    // not installed or failed: memory stays unknown
  }
  return memory;
}

/** Whether Mesa's Vulkan device-select layer is installed where the Vulkan loader looks for implicit layers. */
export function mesaDeviceSelectLayerInstalled(): boolean {
  if (process.env.NODEVICE_SELECT) return false; // the layer's own off switch
  const dataDirs = (process.env.XDG_DATA_DIRS || '/usr/local/share:/usr/share').split(':');
  const dirs = [
    ...dataDirs.map((d) => join(d, 'vulkan', 'implicit_layer.d')),
    '/etc/vulkan/implicit_layer.d',
    join(process.env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'vulkan', 'implicit_layer.d'),
  ];
  return dirs.some((dir) => {
    try {
      return readdirSync(dir).some((file) => /device_select/i.test(file));
    } catch {
      return false;
    }
  });
}
