import type { RunProgress } from '../runtime/orchestrator';

/** Progress of each run passed on at most every `everyMs` per run, the latest one kept meanwhile. */
export class ProgressThrottle {
  private readonly pending = new Map<string, RunProgress>();
  private readonly sentAt = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly send: (progress: RunProgress) => void,
    private readonly everyMs = 250,
  ) {}

  queue(progress: RunProgress): void {
    const last = this.sentAt.get(progress.runId) ?? 0;
    if (Date.now() - last >= this.everyMs) {
      this.pending.delete(progress.runId);
      this.sendNow(progress);
      return;
    }
    this.pending.set(progress.runId, progress);
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        for (const runId of [...this.pending.keys()]) this.flush(runId);
      }, this.everyMs);
      this.timer.unref();
    }
  }

  /** Passes on a run's held-back progress now (before its status changes). */
  flush(runId: string): void {
    const pending = this.pending.get(runId);
    if (!pending) return;
    this.pending.delete(runId);
    this.sendNow(pending);
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
  }

  private sendNow(progress: RunProgress): void {
    this.sentAt.set(progress.runId, Date.now());
    this.send(progress);
  }
}
