import { openSync, readSync } from 'node:fs';

/**
 * A clock of the calling thread in milliseconds, from Linux's /proc/thread-self/schedstat: `onCpu`
 * (its first field) the time the thread has run on a CPU, `waitingForCpu` (the second, run_delay)
 * the time it was ready to run but waiting for a CPU; null where the OS does not say. One read costs
 * a few microseconds. On a box with more busy processes than cores, waiting for a CPU is where time
 * goes that no phase of the iteration caused.
 */
export function threadClock(field: 'onCpu' | 'waitingForCpu'): (() => number) | null {
  let fd: number;
  try {
    fd = openSync('/proc/thread-self/schedstat', 'r');
  } catch {
    return null;
  }
  const index = field === 'onCpu' ? 0 : 1;
  const buffer = Buffer.alloc(96);
  const read = () => {
    const text = buffer.toString('latin1', 0, readSync(fd, buffer, 0, buffer.length, 0));
    return Number(text.split(' ')[index]) / 1e6;
  };
  return Number.isFinite(read()) ? read : null;
}
