/**
 * Reports refused from workers (a run or rank not theirs, a malformed checkpoint), logged so that a worker
 * sending them in a loop cannot flood the log: the first of each worker at once, then at most one line per
 * interval carrying how many were refused meanwhile. Memory stays bounded by the number of workers tracked.
 */
export class Refusals {
  /** Every refusal since the start, logged or not. */
  total = 0;
  private readonly byWorker = new Map<string, { lastLogged: number; unlogged: number }>();

  constructor(
    private readonly log: (workerId: string, message: string) => void,
    private readonly intervalMs = 5000,
    private readonly maxTracked = 1024,
  ) {}

  refuse(workerId: string, message: string): void {
    this.total++;
    const now = Date.now();
    const seen = this.byWorker.get(workerId);
    if (seen && now - seen.lastLogged < this.intervalMs) {
      seen.unlogged++;
      return;
    }
    const more = seen && seen.unlogged > 0 ? ` (and ${seen.unlogged} more refused since the last line)` : '';
    this.log(workerId, `refused from worker ${workerId}: ${message}${more}`);
    if (!seen && this.byWorker.size >= this.maxTracked) this.byWorker.delete(this.byWorker.keys().next().value!);
    this.byWorker.set(workerId, { lastLogged: now, unlogged: 0 });
  }

  forget(workerId: string): void {
    this.byWorker.delete(workerId);
  }
}
