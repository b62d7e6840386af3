/**
 * Reports refused from workers (a run or rank not theirs, a malformed checkpoint), logged so that workers
 * sending them in a loop cannot flood the log: the first of each worker at once, then at most one line per
 * worker per interval, and at most `maxLines` lines per interval from all workers together (a rogue that
 * reconnects under new worker ids); every line says how many were refused without one. Memory stays bounded
 * by the number of workers tracked.
 */
export class Refusals {
  /** Every refusal since the start, logged or not. */
  total = 0;
  private readonly byWorker = new Map<string, { lastLogged: number; unlogged: number }>();
  private window = { start: 0, lines: 0, unlogged: 0 };

  constructor(
    private readonly log: (workerId: string, message: string) => void,
    private readonly intervalMs = 5000,
    private readonly maxLines = 20,
    private readonly maxTracked = 1024,
  ) {}

  refuse(workerId: string, message: string): void {
    this.total++;
    const now = Date.now();
    if (now - this.window.start >= this.intervalMs)
      this.window = { start: now, lines: 0, unlogged: this.window.unlogged };
    const seen = this.byWorker.get(workerId);
    if ((seen && now - seen.lastLogged < this.intervalMs) || this.window.lines >= this.maxLines) {
      if (seen) seen.unlogged++;
      else this.window.unlogged++;
      return;
    }
    const unlogged = (seen?.unlogged ?? 0) + this.window.unlogged;
    const more = unlogged > 0 ? ` (and ${unlogged} more refused since the last line)` : '';
    this.log(workerId, `refused from worker ${workerId}: ${message}${more}`);
    this.window.lines++;
    this.window.unlogged = 0;
    if (!seen && this.byWorker.size >= this.maxTracked) this.byWorker.delete(this.byWorker.keys().next().value!);
    this.byWorker.set(workerId, { lastLogged: now, unlogged: 0 });
  }

  forget(workerId: string): void {
    this.byWorker.delete(workerId);
  }
}
