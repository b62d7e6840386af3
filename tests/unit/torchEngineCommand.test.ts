/** The torch engine's command lines and its reading of torchrun's failure reports (no processes). */
import { describe, expect, it } from 'vitest';
import { experimentSchema } from '../../common/experiment';
import { failureReason } from '../../main/core/runtime/torchEngine';
import {
  FREE_PORT,
  parseRankFailure,
  remoteNodeCommands,
  shellQuote,
  torchrunArgs,
} from '../../main/core/runtime/torchEngineCommand';
import { mnistExperiment } from '../experimentFixture';

/** torchrun 1.13's report when rank 1 was SIGKILLed and rank 0 then lost its peer (seen at the same time). */
const REPORT = `torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
====================================================
sparselab_torch.engine FAILED
----------------------------------------------------
Failures:
[1]:
  time      : 2026-12-04_19:25:40
  host      : localhost
  rank      : 1 (local_rank: 1)
  exitcode  : -9 (pid: 3760)
  error_file: <N/A>
  traceback : Signal 9 (SIGKILL) received by PID 3760
----------------------------------------------------
Root Cause (first observed failure):
[0]:
  time      : 2026-12-04_19:25:40
  host      : localhost
  rank      : 0 (local_rank: 0)
  exitcode  : 1 (pid: 3759)
  error_file: <N/A>
====================================================`;

describe('torchrun failure reports', () => {
  it('names the rank a signal killed before the ranks that only lost their peer', () => {
    expect(parseRankFailure(REPORT)).toEqual({ rank: 1, exitCode: null, signal: 'SIGKILL' });
    expect(failureReason(REPORT.split('\n'), 1, null, 'rank 0: RuntimeError: Connection closed by peer')).toBe(
      'rank 1 was killed by SIGKILL',
    );
  });

  it("takes the root cause otherwise, with rank 0's own report or the failed rank's last line", () => {
    const rootOnly = REPORT.replace('exitcode  : -9', 'exitcode  : -15');
    expect(parseRankFailure(rootOnly)).toEqual({ rank: 0, exitCode: 1, signal: null });
    expect(failureReason(rootOnly.split('\n'), 1, null, 'rank 0: NonFiniteGradientError: NaN')).toBe(
      'rank 0: NonFiniteGradientError: NaN',
    );
    const rank1 = rootOnly.replace('rank      : 0 (local_rank: 0)', 'rank      : 1 (local_rank: 1)');
    const tail = [
      '[default1]:Traceback (most recent call last):',
      '[default1]:ValueError: bad shard',
      ...rank1.split('\n'),
    ];
    expect(failureReason(tail, 1, null)).toBe('rank 1 exited with code 1: ValueError: bad shard');
  });

  it("falls back to torchrun's last lines when it reported no rank", () => {
    expect(parseRankFailure('ModuleNotFoundError: No module named torch')).toBeNull();
    expect(failureReason(['', 'ModuleNotFoundError: No module named torch'], 1, null)).toBe(
      'torchrun exited with code 1: ModuleNotFoundError: No module named torch',
    );
  });
});

describe('torchrun command lines', () => {
  it('one node: a rendezvous on a free local port (not --standalone, whose port 29400 others may hold)', () => {
    const args = torchrunArgs({ perNode: 4, nodes: 1 }, 0, '/data/torch/r1/run.json');
    expect(args).toContain(FREE_PORT);
    expect(args).not.toContain('--standalone');
    expect(args.slice(args.indexOf('--nproc_per_node'), args.indexOf('--nproc_per_node') + 2)).toEqual([
      '--nproc_per_node',
      '4',
    ]);
    expect(args.slice(-4)).toEqual(['-m', 'sparselab_torch.engine', '--config', '/data/torch/r1/run.json']);
  });

  it('several nodes: the exact command of each other node, secrets left for the user to fill in', () => {
    const commands = remoteNodeCommands(
      '/usr/bin/python3',
      { perNode: 8, nodes: 3, rendezvous: 'node0.lab:29500' },
      '/data/torch/r1/run.json',
      { hub: 'ws://node0.lab:7341/', packagePath: '/opt/sparselab/gpu/torch' },
    );
    expect(commands).toHaveLength(2);
    expect(commands[1]).toBe(
      'PYTHONPATH=/opt/sparselab/gpu/torch SPARSELAB_HUB=ws://node0.lab:7341/ SPARSELAB_TOKEN=<the hub token> ' +
        'SPARSELAB_RUN_KEY=<the run key> /usr/bin/python3 -m torch.distributed.run --nnodes 3 --node_rank 2 ' +
        '--rdzv_backend static --rdzv_endpoint node0.lab:29500 --master_addr node0.lab --master_port 29500 ' +
        '--nproc_per_node 8 --max_restarts 0 --monitor_interval 1 --redirects 2 --tee 2 -m sparselab_torch.engine ' +
        '--config /data/torch/r1/run.json',
    );
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
  });
});

describe('the engine field of experiments', () => {
  const base = mnistExperiment();

  it('defaults to the native engine, so existing experiments are unchanged', () => {
    expect(experimentSchema.parse(base).engine).toBe('native');
    expect(experimentSchema.parse(base).torch).toBeUndefined();
  });

  it('refuses what the torch engine cannot do, saying where', () => {
    const refused = (input: object) => experimentSchema.safeParse({ ...base, ...input }).error?.issues[0];
    expect(refused({ engine: 'torch', backend: 'webgpu' })).toMatchObject({ path: ['backend'] });
    expect(refused({ torch: { python: 'python3' } })).toMatchObject({ path: ['torch'] });
    expect(refused({ engine: 'torch', torch: { nodes: 2 } })).toMatchObject({ path: ['torch', 'rendezvous'] });
    expect(refused({ engine: 'torch', torch: { nodes: 2, rendezvous: 'node0' } })).toMatchObject({
      path: ['torch', 'rendezvous'],
    });
    expect(
      experimentSchema.parse({ ...base, engine: 'torch', torch: { nodes: 2, rendezvous: 'n0:29500' } }).torch,
    ).toEqual({ nodes: 2, rendezvous: 'n0:29500' });
  });
});
