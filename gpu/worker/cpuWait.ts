import { openSync, readSync } from 'node:fs';

/**
 * Milliseconds the calling thread has spent ready to run but waiting for a CPU, from Linux's
 * /proc/thread-self/schedstat (its second field, run_delay in ns); null where the OS does not
 * say. One read costs a few microseconds. On a box with more busy processes than cores this is
 * where time goes that no phase of the iteration caused.
 */
export function cpuWaitClock(): (() => number) | null {
  let fd: number;
  try {
    fd = openSync('/proc/thread-self/schedstat', 'r');
  } catch {
    return null;
  }
  const buffer = Buffer.alloc(96);
  const read = () => {
    const text = buffer.toString('latin1', 0, readSync(fd, buffer, 0, buffer.length, 0));
    return Number(text.split(' ')[1]) / 1e6;
  };
  return Number.isFinite(read()) ? read : null;
}
