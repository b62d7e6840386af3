/**
 * dawn.node completes mapAsync and onSubmittedWorkDone by polling: while one is pending it hands
 * `globalThis.setImmediate` a native callback that calls ProcessEvents and schedules itself again,
 * a busy loop that holds a core for as long as the GPU works (one core per GPU worker). It looks
 * setImmediate up on the global object at each call, so a wrapper can pace those native callbacks:
 * the polls of a wait's first `spinMs` run at once (short read-backs keep their latency), later ones
 * after a sleep in the kernel (Atomics.wait) that doubles from `minSleepMs` to `maxSleepMs`.
 * JavaScript callbacks are never delayed.
 */
export interface PollPacing {
  spinMs: number;
  minSleepMs: number;
  maxSleepMs: number;
}

export const DEFAULT_POLL_PACING: PollPacing = { spinMs: 0.2, minSleepMs: 0.05, maxSleepMs: 0.25 };

/** How long to sleep before the next poll of a wait that began `elapsedMs` ago and has slept `sleeps` times. */
export function pollSleepMs(elapsedMs: number, sleeps: number, pacing: PollPacing): number {
  if (elapsedMs < pacing.spinMs) return 0;
  return Math.min(pacing.maxSleepMs, pacing.minSleepMs * 2 ** sleeps);
}

/**
 * dawn.node's poll callback: a function defined in C++ with no name and no parameters. JavaScript
 * functions, bound functions (named "bound f") and promise resolvers (one parameter) are not.
 */
export function isDawnPollCallback(fn: unknown): boolean {
  return (
    typeof fn === 'function' &&
    fn.name === '' &&
    fn.length === 0 &&
    /\{\s*\[native code\]\s*\}\s*$/.test(Function.prototype.toString.call(fn))
  );
}

let installed: (() => void) | null = null;

/** Paces dawn.node's polling in this process (once; later calls keep the first pacing). Returns the undo. */
export function paceDawnPolling(pacing: PollPacing = DEFAULT_POLL_PACING): () => void {
  if (installed) return installed;
  const original = globalThis.setImmediate;
  const cell = new Int32Array(new SharedArrayBuffer(4));
  let insidePoll = false;
  let waitStart = 0;
  let sleeps = 0;
  const paced = function (this: unknown, callback: (...args: unknown[]) => void, ...args: unknown[]) {
    if (!isDawnPollCallback(callback)) return original(callback, ...args);
    // Scheduled from inside a poll: the same wait goes on. From anywhere else: a new wait begins.
    if (!insidePoll) {
      waitStart = performance.now();
      sleeps = 0;
    }
    const sleepMs = insidePoll ? pollSleepMs(performance.now() - waitStart, sleeps, pacing) : 0;
    if (sleepMs > 0) sleeps++;
    return original(() => {
      if (sleepMs > 0) Atomics.wait(cell, 0, 0, sleepMs);
      insidePoll = true;
      try {
        callback(...args);
      } finally {
        insidePoll = false;
      }
    });
  } as typeof setImmediate;
  globalThis.setImmediate = Object.assign(paced, { __promisify__: original.__promisify__ });
  installed = () => {
    globalThis.setImmediate = original;
    installed = null;
  };
  return installed;
}
