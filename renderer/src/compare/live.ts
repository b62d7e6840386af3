/** Live updates: a pushed progress event appended to a run's cached series, without asking the core again. */
import type { AppEvent, RunSeries } from '../../../common/api';

type Progress = Extract<AppEvent, { type: 'progress' }>;

/**
 * Appends the event's iteration (loss, epoch, wallMs; null in the other cached columns) when it
 * is past the series' last iteration. Returns whether anything was added.
 */
export function appendProgress(series: RunSeries, event: Progress): boolean {
  const last = series.iteration[series.iteration.length - 1];
  if (last !== undefined && event.iteration <= last) return false;
  series.iteration.push(event.iteration);
  for (const [name, column] of Object.entries(series.columns)) {
    if (!column) continue;
    const value =
      name === 'loss' ? event.loss : name === 'epoch' ? event.epoch : name === 'wallMs' ? event.wallMs : null;
    column.push(value);
  }
  return true;
}

/** Calls `fn` at most once per `ms`, the last request included (trailing). */
export function throttle(
  fn: () => void,
  ms: number,
  now: () => number = () => performance.now(),
): {
  request: () => void;
  cancel: () => void;
} {
  let lastRun = -Infinity;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const run = (): void => {
    timer = null;
    lastRun = now();
    fn();
  };
  return {
    request() {
      if (timer !== null) return;
      const wait = Math.max(0, lastRun + ms - now());
      timer = setTimeout(run, wait);
    },
    cancel() {
      if (timer !== null) clearTimeout(timer);
      timer = null;
    },
  };
}
