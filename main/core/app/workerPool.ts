import type { ChildProcess } from 'node:child_process';
import type { WorkerBackendChoice } from '../../../common/api';
import { gpuForSlot, type GpuInfo, type SlotPlacement } from '../../../common/gpus';
import { startWorkerProcess, type WorkerProcess, type WorkerProcessOptions } from '../runtime/workerProcess';

export interface WorkerPoolOptions {
  hubUrl: string;
  token: string;
  backend: WorkerBackendChoice;
  /** GPUs to place workers on: slot s on gpus[s mod G]; none: every worker on Dawn's default (or the CPU). */
  gpus?: readonly GpuInfo[];
  /** Starts one worker process (tests replace it). */
  start?: (options: WorkerProcessOptions) => WorkerProcess;
  /** Each worker's stderr lines. */
  onLine?: (slot: number, line: string) => void;
  /** A worker exited without being asked to. */
  onExit?: (slot: number, description: string) => void;
  /** Which worker slots to stop first when shrinking (idle ones); default the highest. */
  preferStop?: (pids: number[]) => number[];
}

interface Slot {
  /** Stable number: a worker started again after a crash keeps its slot, and so its GPU. */
  id: number;
  child: ChildProcess;
  stopping: boolean;
  exited: Promise<void>;
}

/**
 * `sparselab worker` processes the app keeps on this machine, grown and shrunk on request. Each has
 * a slot number, the lowest free one, and slot s runs on GPU s mod G. A worker that dies is started
 * again in its slot after a pause (up to 5 times in a row without one lasting a minute).
 */
export class WorkerPool {
  private readonly slots: Slot[] = [];
  private wanted = 0;
  private crashes = 0;
  private closed = false;
  private gpus: readonly GpuInfo[];

  constructor(private readonly options: WorkerPoolOptions) {
    this.gpus = options.gpus ?? [];
  }

  /** Workers the pool keeps. */
  get count(): number {
    return this.wanted;
  }

  get backend(): WorkerBackendChoice {
    return this.options.backend;
  }

  /** The GPUs workers are placed on. */
  get placementGpus(): readonly GpuInfo[] {
    return this.gpus;
  }

  /** Process ids of the live workers. */
  pids(): number[] {
    return this.live().map((s) => s.child.pid ?? -1);
  }

  /** Each live worker's slot, GPU and pid, by slot. */
  placements(): (SlotPlacement & { pid: number })[] {
    return this.live()
      .map((s) => ({ slot: s.id, gpu: gpuForSlot(s.id, this.gpus), pid: s.child.pid ?? -1 }))
      .sort((a, b) => a.slot - b.slot);
  }

  resize(count: number): void {
    if (this.closed) return;
    this.wanted = count;
    this.crashes = 0;
    const live = this.slots.filter((s) => !s.stopping);
    for (let i = live.length; i < count; i++) this.spawnOne(this.freeSlot());
    if (live.length > count) {
      const order = this.options.preferStop?.(live.map((s) => s.child.pid ?? -1)) ?? [];
      const victims = [
        ...order.map((pid) => live.find((s) => s.child.pid === pid)).filter((s): s is Slot => s !== undefined),
        ...[...live].sort((a, b) => b.id - a.id),
      ];
      const doomed = new Set<Slot>();
      for (const slot of victims) if (doomed.size < live.length - count) doomed.add(slot);
      for (const slot of doomed) this.stopSlot(slot);
    }
  }

  /** Places workers on these GPUs from now on: every worker is started again on its slot's new GPU. */
  setGpus(gpus: readonly GpuInfo[]): void {
    this.gpus = gpus;
    const count = this.wanted;
    for (const slot of this.slots) this.stopSlot(slot);
    this.resize(count);
  }

  /** Stops every worker (SIGTERM, then SIGKILL after 3 s) and resolves when all have exited. */
  async close(): Promise<void> {
    this.closed = true;
    this.wanted = 0;
    for (const slot of this.slots) this.stopSlot(slot);
    await Promise.all(this.slots.map((s) => s.exited));
  }

  private live(): Slot[] {
    return this.slots.filter((s) => !s.stopping && s.child.exitCode === null && s.child.signalCode === null);
  }

  /** The lowest slot number no running worker holds. */
  private freeSlot(): number {
    const taken = new Set(this.slots.filter((s) => !s.stopping).map((s) => s.id));
    let id = 0;
    while (taken.has(id)) id++;
    return id;
  }

  private stopSlot(slot: Slot): void {
    slot.stopping = true;
    if (slot.child.exitCode !== null || slot.child.signalCode !== null) return;
    slot.child.kill('SIGTERM');
    const kill = setTimeout(() => slot.child.kill('SIGKILL'), 3000);
    kill.unref();
    void slot.exited.then(() => clearTimeout(kill));
  }

  private spawnOne(id: number): void {
    const { hubUrl, token, onLine, start = startWorkerProcess } = this.options;
    const { child } = start({
      hubUrl,
      token,
      backend: this.backend,
      gpu: gpuForSlot(id, this.gpus),
      onLine: onLine && ((line) => onLine(id, line)),
    });
    const started = Date.now();
    const slot: Slot = {
      id,
      child,
      stopping: false,
      exited: new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.once('error', () => resolve());
      }),
    };
    this.slots.push(slot);
    child.once('error', (error) => this.options.onExit?.(id, `could not start: ${error.message}`));
    child.once('exit', (code, signal) => {
      this.slots.splice(this.slots.indexOf(slot), 1);
      if (slot.stopping || this.closed) return;
      this.options.onExit?.(id, signal ? `killed by ${signal}` : `exited with code ${code}`);
      if (Date.now() - started > 60_000) this.crashes = 0;
      if (++this.crashes > 5) return;
      const restart = setTimeout(() => {
        const held = this.slots.some((s) => !s.stopping && s.id === id);
        if (!this.closed && !held && this.slots.filter((s) => !s.stopping).length < this.wanted) this.spawnOne(id);
      }, 1000 * this.crashes);
      restart.unref();
    });
  }
}
