import { EventEmitter } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import type { Hub } from '../../main/core/hub';
import type { LocalWorkers } from '../../main/core/runtime/localWorkers';
import type { Orchestrator } from '../../main/core/runtime/orchestrator';
import { WorkerWatch } from '../../main/core/runtime/workerWatch';
import type { RunRow, Store } from '../../main/core/store';

function setup(statuses: Record<string, string>) {
  const hub = new EventEmitter();
  const cancel = vi.fn((runId: string, reason: string) => (statuses[runId] = `cancelled: ${reason}`));
  const respawn = vi.fn();
  const store = { getRun: (id: string) => ({ id, status: statuses[id] }) };
  const runs = Object.keys(statuses).map((id) => ({ id }) as RunRow);
  const watch = new WorkerWatch(
    hub as unknown as Hub,
    { cancel } as unknown as Orchestrator,
    store as unknown as Store,
    () => runs,
  );
  const workers = { respawn } as unknown as LocalWorkers;
  return { hub, watch, workers, cancel, respawn };
}

describe('WorkerWatch', () => {
  it('cancels the unfinished runs with the last words of a worker that died before joining', () => {
    const { watch, workers, cancel, respawn } = setup({ a: 'finished', b: 'running', c: 'queued' });
    watch.exited(workers, 1, { pid: 42, how: 'exited with code 1', lastLine: 'sparselab: WebGPU backend unavailable' });
    expect(watch.failure).toBe(
      'local worker 1 exited with code 1 before joining the hub: sparselab: WebGPU backend unavailable',
    );
    expect(cancel.mock.calls.map(([id]) => id)).toEqual(['b', 'c']);
    expect(cancel).toHaveBeenCalledWith('b', watch.failure);
    expect(respawn).not.toHaveBeenCalled();
  });

  it('replaces a worker that had joined and then died, and fails nothing itself', () => {
    const { hub, watch, workers, cancel, respawn } = setup({ a: 'running' });
    hub.emit('workerJoined', { capabilities: { pid: 7 } });
    watch.exited(workers, 0, { pid: 7, how: 'was killed by SIGKILL', lastLine: null });
    expect(respawn).toHaveBeenCalledWith(0);
    expect(watch.failure).toBeNull();
    expect(cancel).not.toHaveBeenCalled();
  });
});
