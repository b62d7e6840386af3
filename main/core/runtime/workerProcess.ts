import { spawn, type ChildProcess } from 'node:child_process';
import { constants, setPriority } from 'node:os';
import type { WorkerBackendChoice } from '../../../common/api';
import type { GpuInfo } from '../../../common/gpus';
import { gpuSelection } from '../../../gpu/worker/gpus/dawn';
import { cliScript } from '../packageRoot';

export interface WorkerProcessOptions {
  hubUrl: string;
  token: string;
  backend: WorkerBackendChoice;
  /** The GPU this worker runs on and no other (placement: workerPool.ts, localWorkers.ts); none: Dawn's default. */
  gpu?: GpuInfo | null;
  /** Passed to the worker's --dump-dir. */
  dumpDir?: string;
  /** Each non-empty line the worker writes to stderr. */
  onLine?: (line: string) => void;
}

export interface WorkerProcess {
  child: ChildProcess;
  /** The last stderr line, or the unterminated text after it: what a worker that died said last. */
  lastLine(): string | null;
}

/** What starts a worker: the command, its arguments and the variables added to this process's environment. */
export interface WorkerLaunch {
  command: string;
  args: string[];
  env: Record<string, string>;
}

/**
 * The command line and environment of a `sparselab worker` on this machine: the installed CLI run by
 * this Node (never npx, which may run the package's build scripts), the token in the environment
 * (never on the command line), and for a placed worker `--gpu N` with the variables that make Dawn
 * see that GPU (gpu/worker/gpus/dawn.ts).
 */
export function workerLaunch(options: WorkerProcessOptions): WorkerLaunch {
  const args = [cliScript(), 'worker', '--hub', options.hubUrl, '--backend', options.backend];
  if (options.dumpDir) args.push('--dump-dir', options.dumpDir);
  const env: Record<string, string> = { SPARSELAB_TOKEN: options.token };
  if (options.gpu) {
    args.push('--gpu', String(options.gpu.index));
    Object.assign(env, gpuSelection(options.gpu).env);
  }
  // Inside Electron, process.execPath is Electron: run it as plain Node.
  if (process.versions.electron) env.ELECTRON_RUN_AS_NODE = '1';
  return { command: process.execPath, args, env };
}

/** Starts `sparselab worker` on this machine (workerLaunch). */
export function startWorkerProcess(options: WorkerProcessOptions): WorkerProcess {
  const launch = workerLaunch(options);
  const child = spawn(launch.command, launch.args, {
    env: { ...process.env, ...launch.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  lowerPriority(child);
  let buffered = '';
  let last: string | null = null;
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (buffered + chunk).split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      if (!line) continue;
      last = line;
      options.onLine?.(line);
    }
  });
  return { child, lastLine: () => buffered || last };
}

/**
 * Local workers are compute-bound and may outnumber the cores; the hub (which every rank waits on
 * in each exchange) and the app's window are not. Below normal priority, a worker yields the core
 * to them sooner when they wake. Among themselves the workers stay equal. Set at once after spawn,
 * while Node is still starting, so the threads it starts inherit it (a test checks every thread).
 */
function lowerPriority(child: ChildProcess): void {
  if (child.pid === undefined) return; // the spawn failed; its 'error' event says why
  try {
    setPriority(child.pid, constants.priority.PRIORITY_BELOW_NORMAL);
  } catch {
    // Already gone (its exit is reported), or the OS refuses: the worker runs at normal priority.
  }
}
