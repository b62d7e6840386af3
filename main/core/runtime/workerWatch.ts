import { hasEnded } from '../../../common/metrics';
import type { Hub } from '../hub';
import type { RunRow, Store } from '../store';
import type { LocalWorkerExit, LocalWorkers } from './localWorkers';
import type { Orchestrator } from './orchestrator';

/**
 * Local workers that die: one that never joined the hub could not start (no WebGPU adapter, a bad
 * install), so the runs are cancelled with its last words instead of waiting for it forever; one
 * that joined and died (its rank's run fails or waits, as configured) is replaced for the runs to come.
 */
export class WorkerWatch {
  failure: string | null = null;
  private readonly joined = new Set<number>();

  constructor(
    hub: Hub,
    private readonly orchestrator: Orchestrator,
    private readonly store: Store,
    private readonly runs: () => readonly RunRow[],
  ) {
    hub.on('workerJoined', (worker) => this.joined.add(worker.capabilities.pid));
  }

  exited(workers: LocalWorkers, i: number, exit: LocalWorkerExit): void {
    if (this.joined.has(exit.pid)) {
      workers.respawn(i);
      return;
    }
    this.failure ??= `local worker ${i} ${exit.how} before joining the hub${exit.lastLine ? `: ${exit.lastLine}` : ''}`;
    for (const run of this.runs()) {
      if (!hasEnded(this.store.getRun(run.id).status)) this.orchestrator.cancel(run.id, this.failure);
    }
  }
}
