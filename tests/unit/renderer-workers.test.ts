/** The Workers view's helpers: a worker's adapter and the GPUs of the machine with their slots. */
import { describe, expect, it } from 'vitest';
import type { AppInfo, WorkerView } from '../../common/api';
import type { GpuInfo } from '../../common/gpus';
import { adapterText, gpuRows } from '../../renderer/src/components/workers/workers';

const gpu = (index: number, busId: string | null): GpuInfo => ({
  index,
  id: busId ? `pci:${busId}` : `vulkan:SwiftShader#0`,
  name: busId ? 'NVIDIA A100' : 'SwiftShader',
  vendor: busId ? 'nvidia' : 'google',
  backend: 'vulkan',
  driver: busId ? 'nvidia' : null,
  memoryBytes: busId ? 80 * 2 ** 30 : null,
  pciBusId: busId,
  software: busId === null,
  selectableBy: busId ? 'pci' : 'name',
});

describe('Workers view', () => {
  it("names a placed worker's GPU by number, name and stable id", () => {
    const worker = {
      backend: 'webgpu',
      adapter: { name: 'NVIDIA A100', vendor: 'nvidia', architecture: '', index: 1, id: 'pci:0000:65:00.0' },
    } as WorkerView;
    expect(adapterText(worker)).toBe('GPU 1 · nvidia · NVIDIA A100 · pci:0000:65:00.0');
    expect(adapterText({ backend: 'cpu', adapter: null } as WorkerView)).toBe('CPU (WebAssembly)');
  });

  it('lists every GPU, whether workers use it, and the slots on it', () => {
    const local: AppInfo['localWorkers'] = {
      count: 3,
      backend: 'webgpu',
      gpus: [gpu(0, '0000:17:00.0'), gpu(1, '0000:65:00.0'), gpu(2, null)],
      placementGpus: [0, 1],
      slots: [
        { slot: 0, gpu: 0, pid: 10 },
        { slot: 1, gpu: 1, pid: 11 },
        { slot: 2, gpu: 0, pid: 12 },
      ],
      gpuError: null,
    };
    expect(gpuRows(local).map((r) => [r.gpu.index, r.used, r.slots, r.memory])).toEqual([
      [0, true, [0, 2], '80 GiB'],
      [1, true, [1], '80 GiB'],
      [2, false, [], '-'],
    ]);
  });
});
