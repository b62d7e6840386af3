/** Pure helpers of the Workers view. */
import type { AppInfo, WorkerView } from '../../../../common/api';
import type { GpuInfo } from '../../../../common/gpus';

/** "0.4 s", "12 s", "3 min": how long ago a heartbeat came. */
export function ageText(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 120) return `${Math.round(s)} s`;
  return `${Math.round(s / 60)} min`;
}

/** Heartbeats come every few seconds: older than 10 s is late, older than 30 s is probably gone. */
export function ageLevel(ms: number): 'ok' | 'late' | 'stale' {
  return ms < 10_000 ? 'ok' : ms < 30_000 ? 'late' : 'stale';
}

/** "GPU 1 · nvidia · NVIDIA A100 · pci:0000:65:00.0": the GPU a worker was placed on, or its adapter's name. */
export function adapterText(worker: WorkerView): string {
  if (!worker.adapter) return worker.backend === 'cpu' ? 'CPU (WebAssembly)' : '-';
  const { vendor, name, architecture, index, id } = worker.adapter;
  const parts = [index !== undefined ? `GPU ${index}` : null, vendor, name || architecture, id];
  return parts.filter((x) => x).join(' · ') || '-';
}

export interface GpuRow {
  gpu: GpuInfo;
  /** Local workers are placed on it. */
  used: boolean;
  /** The slots of the local workers running on it. */
  slots: number[];
  memory: string;
}

/** The GPUs of this machine, whether local workers use each and which slots run on it. */
export function gpuRows(local: AppInfo['localWorkers']): GpuRow[] {
  const used = new Set(local.placementGpus);
  return local.gpus.map((gpu) => ({
    gpu,
    used: used.has(gpu.index),
    slots: local.slots.filter((s) => s.gpu === gpu.index).map((s) => s.slot),
    memory: gpu.memoryBytes === null ? '-' : `${(gpu.memoryBytes / 2 ** 30).toFixed(0)} GiB`,
  }));
}

/** Local workers first, then by id. */
export function sortWorkers(workers: readonly WorkerView[]): WorkerView[] {
  return [...workers].sort((a, b) => Number(b.local) - Number(a.local) || a.id.localeCompare(b.id));
}

/** A whole number in 0..64, or the reason it is not. */
export function parseWorkerCount(text: string): { count: number } | { error: string } {
  const t = text.trim();
  if (!/^\d+$/.test(t)) return { error: 'must be a whole number' };
  const count = Number(t);
  if (count > 64) return { error: 'must be at most 64' };
  return { count };
}
