import type { ChildProcess } from 'node:child_process';
import type { WorkerBackendChoice } from '../../../common/api';
import { startWorkerProcess } from '../runtime/workerProcess';

export interface WorkerPoolOptions {
  hubUrl: string;
  token: string;
  backend: WorkerBackendChoice;
  /** Each worker's stderr lines. */
  onLine?: (slot: number, line: string) => void;
  /** A worker exited without being asked to. */
  onExit?: (slot: number, description: string) => void;
  /** Which worker slots to stop first when shrinking (idle ones); default the highest. */
  preferStop?: (pids: number[]) => number[];
}

interface Slot {
  child: ChildProcess;
  stopping: boolean;
  exited: Promise<void>;
}

/**
 * `sparselab worker` processes the app keeps on this machine, grown and shrunk on request. A worker
 * that dies is started again after a pause (up to 5 times in a row without one lasting a minute).
 */
export class WorkerPool {
  private readonly slots: Slot[] = [];
  private wanted = 0;
  private crashes = 0;
  private closed = false;

  constructor(private readonly options: WorkerPoolOptions) {}

  /** Workers the pool keeps. */
  get count(): number {
    return this.wanted;
  }

  get backend(): WorkerBackendChoice {
    return this.options.backend;
  }

  /** Process ids of the live workers. */
  pids(): number[] {
    return this.slots.filter((s) => !s.stopping && s.child.exitCode === null).map((s) => s.child.pid ?? -1);
  }

  resize(count: number): void {
    if (this.closed) return;
    this.wanted = count;
    this.crashes = 0;
    const live = this.slots.filter((s) => !s.stopping);
    for (let i = live.length; i < count; i++) this.spawnOne();
    if (live.length > count) {
      const order = this.options.preferStop?.(live.map((s) => s.child.pid ?? -1)) ?? [];
      const victims = [
        ...order.map((pid) => live.find((s) => s.child.pid === pid)).filter((s): s is Slot => s !== undefined),
        ...[...live].reverse(),
      ];
      const doomed = new Set<Slot>();
      for (const slot of victims) if (doomed.size < live.length - count) doomed.add(slot);
      for (const slot of doomed) this.stopSlot(slot);
    }
  }

  /** Stops every worker (SIGTERM, then SIGKILL after 3 s) and resolves when all have exited. */
  async close(): Promise<void> {
    this.closed = true;
    this.wanted = 0;
    for (const slot of this.slots) this.stopSlot(slot);
    await Promise.all(this.slots.map((s) => s.exited));
  }

  private stopSlot(slot: Slot): void {
    slot.stopping = true;
    if (slot.child.exitCode !== null || slot.child.signalCode !== null) return;
    slot.child.kill('SIGTERM');
    const kill = setTimeout(() => slot.child.kill('SIGKILL'), 3000);
    kill.unref();
    void slot.exited.then(() => clearTimeout(kill));
  }

  private spawnOne(): void {
    const index = this.slots.length;
    const { hubUrl, token, onLine } = this.options;
    const { child } = startWorkerProcess({
      hubUrl,
      token,
      backend: this.backend,
      onLine: onLine && ((line) => onLine(index, line)),
    });
    const started = Date.now();
    const slot: Slot = {
      child,
      stopping: false,
      exited: new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.once('error', () => resolve());
      }),
    };
    this.slots.push(slot);
    child.once('error', (error) => this.options.onExit?.(index, `could not start: ${error.message}`));
    child.once('exit', (code, signal) => {
      this.slots.splice(this.slots.indexOf(slot), 1);
      if (slot.stopping || this.closed) return;
      this.options.onExit?.(index, signal ? `killed by ${signal}` : `exited with code ${code}`);
      if (Date.now() - started > 60_000) this.crashes = 0;
      if (++this.crashes > 5) return;
      const restart = setTimeout(() => {
        if (!this.closed && this.slots.filter((s) => !s.stopping).length < this.wanted) this.spawnOne();
      }, 1000 * this.crashes);
      restart.unref();
    });
  }
}
