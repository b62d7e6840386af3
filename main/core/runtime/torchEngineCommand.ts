/**
 * The torch engine's command lines: torchrun for this machine (one node), the command for each node of a
 * run over several machines, and what torchrun's report of a failed rank says. Pure: no processes here.
 */
import type { Experiment } from '../../../common/experiment';

/** The trainer's entry point (gpu/torch/sparselab_torch/engine/__main__.py). */
const TRAINER_MODULE = 'sparselab_torch.engine';
/** Asks for SIGKILL when the app goes, then execs torchrun (gpu/torch/sparselab_torch/engine/launch.py). */
export const LAUNCH_MODULE = 'sparselab_torch.engine.launch';

/** launch.py replaces this argument with a port free on this machine. */
export const FREE_PORT = '{free-port}';

/** What the trainer reads from its --config file (gpu/torch/sparselab_torch/engine/__main__.py). */
export interface TorchRunConfig {
  runId: string;
  experiment: Experiment;
  arm: Experiment['arms'][number];
  seed: number;
  checkpointDir: string;
  /** The checkpoint's iteration to resume from, or null. */
  resumeFrom: number | null;
  /** gloo on the CPU; auto: NCCL with one GPU per rank where CUDA is available, else gloo. */
  backend: 'auto' | 'gloo';
}

export interface NodeLayout {
  /** Ranks on each node (the experiment's workers). */
  perNode: number;
  nodes: number;
  /** host:port of node 0's rendezvous (several nodes). */
  rendezvous?: string;
}

/**
 * torchrun's arguments for node `nodeRank`: one node rendezvous on a free local port; several, a static rendezvous at node 0
 * so node r holds ranks r*P .. r*P+P-1 and global rank 0 (the one that records) is on node 0. Torch 1.13 spells
 * its options with underscores; later versions take both. Under Python 3.11 torch 1.13 parses only --redirects and
 * --tee of 1 or 2 (3.11's IntFlag no longer lists 0 and 3), so both are 2: every rank's stderr, where the trainer
 * writes, reaches the supervisor prefixed "[defaultR]:".
 */
export function torchrunArgs(layout: NodeLayout, nodeRank: number, configPath: string): string[] {
  const rendezvous = layout.rendezvous ?? '';
  const [host = '', port = ''] = rendezvous.split(':');
  const placement =
    layout.nodes > 1
      ? [
          '--nnodes',
          String(layout.nodes),
          '--node_rank',
          String(nodeRank),
          '--rdzv_backend',
          'static',
          '--rdzv_endpoint',
          rendezvous,
          '--master_addr',
          host,
          '--master_port',
          port,
        ]
      : // Not --standalone: its fixed port 29400 is taken by any other torchrun on the machine.
        ['--nnodes', '1', '--node_rank', '0', '--master_addr', '127.0.0.1', '--master_port', FREE_PORT];
  return [
    '-m',
    'torch.distributed.run',
    ...placement,
    '--nproc_per_node',
    String(layout.perNode),
    '--max_restarts',
    '0',
    '--monitor_interval',
    '1',
    '--redirects',
    '2',
    '--tee',
    '2',
    '-m',
    TRAINER_MODULE,
    '--config',
    configPath,
  ];
}

/** Single-quoted for a POSIX shell. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The commands to type on nodes 1..N-1 of a run over several machines (node 0 is this one). Each node needs
 * this repository's gpu/torch (PYTHONPATH), the run's config at the same path, and to reach the hub; the token
 * and the run's key travel in the environment.
 */
export function remoteNodeCommands(
  python: string,
  layout: NodeLayout,
  configPath: string,
  env: { hub: string; packagePath: string },
): string[] {
  const commands: string[] = [];
  for (let node = 1; node < layout.nodes; node++) {
    const vars = [
      `PYTHONPATH=${shellQuote(env.packagePath)}`,
      `SPARSELAB_HUB=${shellQuote(env.hub)}`,
      'SPARSELAB_TOKEN=<the hub token>',
      'SPARSELAB_RUN_KEY=<the run key>',
    ];
    commands.push([...vars, shellQuote(python), ...torchrunArgs(layout, node, configPath).map(shellQuote)].join(' '));
  }
  return commands;
}

export interface RankFailure {
  rank: number;
  exitCode: number | null;
  signal: string | null;
}

const SIGNALS: Record<number, string> = {
  1: 'SIGHUP',
  2: 'SIGINT',
  6: 'SIGABRT',
  8: 'SIGFPE',
  9: 'SIGKILL',
  11: 'SIGSEGV',
  15: 'SIGTERM',
};

const FAILURE = /rank\s*:\s*(\d+) \(local_rank: \d+\)\s*\n\s*exitcode\s*:\s*(-?\d+)/g;

/**
 * The failure that explains a torchrun ChildFailedError report ("rank      : 1 (local_rank: 1)" then
 * "exitcode  : -9 (pid: 123)"; a negative exit code is the signal that ended it), or null if the text has none.
 * A rank killed by a signal other than torchrun's own SIGTERM comes first: the others only lost their peer, and
 * torchrun's "Root Cause" may name one of them when it saw both exits at once. Else the root cause.
 */
export function parseRankFailure(output: string): RankFailure | null {
  const failures = [...output.matchAll(FAILURE)].map((m): RankFailure => {
    const code = Number(m[2]);
    const signal = code < 0 ? (SIGNALS[-code] ?? `signal ${-code}`) : null;
    return { rank: Number(m[1]), exitCode: signal ? null : code, signal };
  });
  const killed = failures.find((f) => f.signal !== null && f.signal !== 'SIGTERM');
  // torchrun lists every failure, then the first one it observed under "Root Cause".
  return killed ?? failures.at(-1) ?? null;
}

/** "rank 1 was killed by SIGKILL" or "rank 0 exited with code 1: <its last line>". */
export function describeRankFailure(failure: RankFailure, lastLine: string | null): string {
  const how = failure.signal ? `was killed by ${failure.signal}` : `exited with code ${failure.exitCode}`;
  // A killed rank's last line says what it was doing, not why it died.
  return `rank ${failure.rank} ${how}${lastLine && !failure.signal ? `: ${lastLine}` : ''}`;
}
