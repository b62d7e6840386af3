/**
 * The torch engine's supervisor: starts a run's ranks under torchrun on this machine, and answers for them.
 *
 * Rank 0 connects to the hub as an external run carrying the run's id and a key made for this launch
 * (LaunchedRuns.claim), so its records land in the run the orchestrator created; no gradient crosses the hub, the
 * ranks exchange them over gloo or NCCL. torchrun runs in its own process group under launch.py, which asks the
 * kernel for SIGTERM when the app dies; each rank asks for SIGKILL when torchrun dies. Cancel kills the group
 * (SIGTERM, then SIGKILL after KILL_AFTER_MS); a rank that dies makes torchrun stop the others and report it, and
 * the run fails naming it; a run that records nothing for its stall deadline is stopped and failed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stallSecondsOf } from '../../../common/experiment';
import { hasEnded, type RunStatus } from '../../../common/metrics';
import { findTorchPython, torchPackagePath, torchPythonEnv } from '../cli/torchPython';
import type { RunDetail } from '../../../common/runs';
import type { Store } from '../store';
import {
  describeRankFailure,
  LAUNCH_MODULE,
  parseRankFailure,
  remoteNodeCommands,
  torchrunArgs,
  type NodeLayout,
  type TorchRunConfig,
} from './torchEngineCommand';

/** After SIGTERM, the group gets this long before SIGKILL. */
const KILL_AFTER_MS = 3000;
/** Output kept per run for its failure reason. */
const TAIL_LINES = 200;

export interface TorchEngineOptions {
  store: Store;
  /** The hub's address and token, for rank 0's connection. */
  hubUrl: string;
  token: string;
  /** --python of the CLI; else the experiment's torch.python, $SPARSELAB_PYTHON, /usr/bin/python3, python3. */
  python?: string;
  /** GPUs the ranks may use (CUDA_VISIBLE_DEVICES), one per rank. */
  gpus?: readonly number[];
  setStatus(runId: string, status: RunStatus, reason: string | null): void;
  log(level: 'info' | 'warn' | 'error', message: string): void;
  /** A launched run's processes are gone (whatever the run's end): the orchestrator may start the next. */
  ended(runId: string): void;
}

interface Launch {
  runId: string;
  key: Buffer;
  child: ChildProcess;
  tail: string[];
  /** Why we stopped it (cancel, stall, lost connection): the run's end, not torchrun's report. */
  stopping: string | null;
  /** What rank 0 said when it failed. */
  reported: string | null;
  lastRecord: number;
  stallMs: number;
  killTimer?: NodeJS.Timeout;
}

export class TorchEngine {
  private readonly launches = new Map<string, Launch>();
  private readonly stallTimer: NodeJS.Timeout;
  /** The app is closing: runs stopped now stay 'running' for the store to mark interrupted (resumable). */
  private closing = false;

  constructor(private readonly o: TorchEngineOptions) {
    this.stallTimer = setInterval(() => this.checkStalls(), 1000).unref();
  }

  /** Runs being trained now. */
  active(): string[] {
    return [...this.launches.keys()];
  }

  /** Launches the run's ranks (resuming from its last complete checkpoint, if any); throws if it cannot start. */
  start(run: RunDetail): void {
    const config = run.config;
    const python = findTorchPython(this.o.python ?? config.torch?.python);
    const checkpointDir = this.folderOf(run.id);
    mkdirSync(checkpointDir, { recursive: true });
    const resumeFrom = this.checkpointOf(run);
    // What an earlier attempt recorded after the checkpoint (everything, without one) is trained again.
    this.o.store.discardAfter(run.id, resumeFrom ?? -1);
    const runConfig: TorchRunConfig = {
      runId: run.id,
      experiment: config,
      arm: run.armConfig,
      seed: run.seed,
      checkpointDir,
      resumeFrom,
      backend: config.backend === 'cpu' ? 'gloo' : 'auto',
    };
    const configPath = join(checkpointDir, 'run.json');
    writeFileSync(configPath, JSON.stringify(runConfig, null, 2));
    const layout: NodeLayout = {
      perNode: config.workers,
      nodes: config.torch?.nodes ?? 1,
      rendezvous: config.torch?.rendezvous,
    };
    const key = randomBytes(24);
    const env: NodeJS.ProcessEnv = {
      ...torchPythonEnv(),
      SPARSELAB_HUB: this.o.hubUrl,
      SPARSELAB_TOKEN: this.o.token,
      SPARSELAB_RUN_KEY: key.toString('hex'),
      ...(this.o.gpus ? { CUDA_VISIBLE_DEVICES: this.o.gpus.join(',') } : {}),
    };
    const args = ['-m', LAUNCH_MODULE, '--', python, ...torchrunArgs(layout, 0, configPath)];
    // detached: its own process group, so a cancel reaches torchrun and every rank at once.
    const child = spawn(python, args, { env, cwd: checkpointDir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const launch: Launch = {
      runId: run.id,
      key,
      child,
      tail: [],
      stopping: null,
      reported: null,
      lastRecord: Date.now(),
      stallMs: 1000 * stallSecondsOf(config),
    };
    this.launches.set(run.id, launch);
    for (const stream of [child.stdout!, child.stderr!]) {
      let buffered = '';
      stream.setEncoding('utf8').on('data', (chunk: string) => {
        const lines = (buffered + chunk).split('\n');
        buffered = lines.pop() ?? '';
        launch.tail.push(...lines.filter(Boolean));
        if (launch.tail.length > TAIL_LINES) launch.tail.splice(0, launch.tail.length - TAIL_LINES);
      });
    }
    child.once('error', (error) => this.exited(launch, null, null, error.message));
    child.once('exit', (code, signal) => this.exited(launch, code, signal, null));
    const where = layout.nodes > 1 ? ` on node 0 of ${layout.nodes}` : '';
    const resumed = resumeFrom !== null ? `, resumed from iteration ${resumeFrom}` : '';
    this.o.setStatus(run.id, 'running', `torch engine: ${config.workers} ranks under torchrun${where}${resumed}`);
    if (layout.nodes > 1) {
      const commands = remoteNodeCommands(python, layout, configPath, {
        hub: this.o.hubUrl,
        packagePath: torchPackagePath(),
      });
      this.o.log('info', `run ${run.id} starts when every node joined; on node r of ${layout.nodes} run:`);
      commands.forEach((command, i) => this.o.log('info', `node ${i + 1}: ${command}`));
    }
  }

  /** The iteration of the run's last complete checkpoint, or null. */
  checkpointOf(run: RunDetail): number | null {
    return latestCheckpoint(this.folderOf(run.id), run.config.workers * (run.config.torch?.nodes ?? 1));
  }

  private folderOf(runId: string): string {
    return join(this.o.store.dataDir, 'torch', runId);
  }

  /** Stops a run's ranks (SIGTERM to its group, SIGKILL after KILL_AFTER_MS). */
  stop(runId: string, reason: string): void {
    const launch = this.launches.get(runId);
    if (!launch || launch.stopping) return;
    launch.stopping = reason;
    signalGroup(launch.child, 'SIGTERM');
    launch.killTimer = setTimeout(() => signalGroup(launch.child, 'SIGKILL'), KILL_AFTER_MS);
    launch.killTimer.unref();
  }

  /** Rank 0 of a launched run connected with this key. */
  claim(runId: string, key: string): boolean {
    const launch = this.launches.get(runId);
    if (!launch || launch.stopping) return false;
    const given = Buffer.from(key, 'hex');
    return given.length === launch.key.length && timingSafeEqual(given, launch.key);
  }

  /** Rank 0's connection ended before the run did: its processes get a moment to report why, then stop. */
  lost(runId: string, reason: string): void {
    const launch = this.launches.get(runId);
    if (!launch) return;
    setTimeout(() => {
      if (this.launches.get(runId) === launch) this.stop(runId, `rank 0's connection ended: ${reason}`);
    }, KILL_AFTER_MS).unref();
  }

  /** Rank 0 failed (its reason): the run fails when its processes are gone, with torchrun's first failure. */
  failed(runId: string, reason: string | null): void {
    const launch = this.launches.get(runId);
    if (launch) launch.reported = reason ?? 'rank 0 reported a failure';
  }

  /** The run recorded something: it is not stalled. */
  heard(runId: string): void {
    const launch = this.launches.get(runId);
    if (launch) launch.lastRecord = Date.now();
  }

  /** Stops every run (the app is closing); resolves once their processes are gone. */
  async close(): Promise<void> {
    clearInterval(this.stallTimer);
    this.closing = true;
    const exits = [...this.launches.values()].map(
      (l) => new Promise<void>((done) => (l.child.exitCode !== null ? done() : l.child.once('exit', () => done()))),
    );
    for (const runId of this.launches.keys()) this.stop(runId, 'the app closed');
    await Promise.all(exits);
  }

  private checkStalls(): void {
    const now = Date.now();
    for (const launch of this.launches.values()) {
      if (launch.stopping || now - launch.lastRecord <= launch.stallMs) continue;
      const reason = `stalled: no records for ${Math.round((now - launch.lastRecord) / 1000)} s (limit ${launch.stallMs / 1000} s)`;
      this.stop(launch.runId, reason);
      this.end(launch.runId, 'failed', reason);
    }
  }

  private exited(launch: Launch, code: number | null, signal: NodeJS.Signals | null, error: string | null): void {
    if (this.launches.get(launch.runId) !== launch) return;
    this.launches.delete(launch.runId);
    clearTimeout(launch.killTimer);
    if (this.closing) {
      // Left as it was: the store marks it interrupted, and a resume continues from its last checkpoint.
    } else if (launch.stopping) {
      this.end(launch.runId, 'failed', launch.stopping);
    } else if (error !== null) {
      this.end(launch.runId, 'failed', `torchrun could not start: ${error}`);
    } else if (code === 0) {
      this.end(launch.runId, 'finished', null);
    } else {
      this.end(launch.runId, 'failed', failureReason(launch.tail, code, signal, launch.reported));
    }
    this.o.ended(launch.runId);
  }

  /** Ends the run unless it already ended (rank 0 said finished or failed, or the user cancelled it). */
  private end(runId: string, status: 'finished' | 'failed', reason: string | null): void {
    if (hasEnded(this.o.store.getRun(runId).status)) return;
    this.o.setStatus(runId, status, reason);
  }
}

/** The iteration of the last complete checkpoint written by `worldSize` ranks in the run's folder, or null. */
export function latestCheckpoint(folder: string, worldSize: number): number | null {
  let text: string;
  try {
    text = readFileSync(join(folder, 'LATEST'), 'utf8');
  } catch {
    return null;
  }
  const saved = JSON.parse(text) as { iteration: number; worldSize: number };
  return saved.worldSize === worldSize ? saved.iteration : null;
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is already gone.
  }
}

/**
 * Why torchrun failed: the first failure it observed (a rank that died, or rank 0 with what it reported, or another
 * rank with its last line); else rank 0's report; else torchrun's own last lines.
 */
export function failureReason(
  tail: readonly string[],
  code: number | null,
  signal: NodeJS.Signals | null,
  reported: string | null = null,
): string {
  const text = tail.join('\n');
  const failure = parseRankFailure(text);
  if (failure && failure.rank === 0 && !failure.signal && reported) return reported;
  if (failure) {
    const prefix = `[default${failure.rank}]:`;
    const own = tail.filter((l) => l.startsWith(prefix) && l.length > prefix.length).at(-1);
    return describeRankFailure(failure, own ? own.slice(prefix.length).trim() : null);
  }
  if (reported) return reported;
  const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
  const last = tail
    .filter((l) => !/^\s*$/.test(l))
    .slice(-3)
    .join(' | ');
  return `torchrun ${how}${last ? `: ${last}` : ''}`;
}
