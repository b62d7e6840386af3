import type { ChildProcess } from 'node:child_process';
import type { WorkerBackendChoice } from '../../../common/api';
import { gpuForSlot, type GpuInfo } from '../../../common/gpus';
import { startWorkerProcess, type WorkerProcess, type WorkerProcessOptions } from './workerProcess';

export interface LocalWorkerOptions {
  hubUrl: string;
  token: string;
  count: number;
  backend: WorkerBackendChoice;
  /** GPUs to place the workers on: worker i on gpus[i mod G], the same one after a respawn; none: Dawn's default. */
  gpus?: readonly GpuInfo[];
  /** Starts one worker process (tests replace it). */
  start?: (options: WorkerProcessOptions) => WorkerProcess;
  /** Passed to each worker's --dump-dir. */
  dumpDir?: string;
  /** Each worker's stderr lines, prefixed with its number. */
  onLine?: (worker: number, line: string) => void;
  /** A worker exited without stop() asking it to. */
  onExit?: (worker: number, exit: LocalWorkerExit) => void;
}

export interface LocalWorkerExit {
  pid: number;
  /** "exited with code 1", "was killed by SIGKILL". */
  how: string;
  lastLine: string | null;
}

/** Worker processes on this machine, worker i on GPU i mod G (or on the CPU); the token travels in the environment. */
export class LocalWorkers {
  private readonly processes: ChildProcess[] = [];
  private stopping = false;

  constructor(private readonly options: LocalWorkerOptions) {
    for (let i = 0; i < options.count; i++) this.spawnOne(i);
  }

  /** Ends one worker at once (SIGKILL), as a crash would. */
  kill(worker: number, signal: NodeJS.Signals = 'SIGKILL'): void {
    this.processes[worker]?.kill(signal);
  }

  /** Starts a fresh worker in slot `worker` (a replacement after a crash). */
  respawn(worker: number): void {
    this.spawnOne(worker);
  }

  pids(): number[] {
    return this.processes.map((p) => p.pid ?? -1);
  }

  stop(): void {
    this.stopping = true;
    for (const p of this.processes) if (p.exitCode === null) p.kill('SIGTERM');
  }

  private spawnOne(i: number): void {
    const { hubUrl, token, backend, dumpDir, onLine, gpus = [], start = startWorkerProcess } = this.options;
    const { child, lastLine } = start({
      hubUrl,
      token,
      backend,
      gpu: gpuForSlot(i, gpus),
      dumpDir,
      onLine: onLine && ((line) => onLine(i, line)),
    });
    child.once('exit', (code, signal) => {
      if (this.stopping) return;
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      this.options.onExit?.(i, { pid: child.pid ?? -1, how, lastLine: lastLine() });
    });
    this.processes[i] = child;
  }
}
