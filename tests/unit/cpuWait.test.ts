import { platform } from 'node:os';
import { describe, expect, it } from 'vitest';
import { threadClock } from '../../gpu/worker/cpuWait';

describe('threadClock', () => {
  it.runIf(platform() === 'linux')(
    'reads this thread’s time on a CPU and its run-queue delay from schedstat: finite, never decreasing',
    () => {
      for (const field of ['onCpu', 'waitingForCpu'] as const) {
        const clock = threadClock(field);
        expect(clock).not.toBeNull();
        const first = clock!();
        let x = 0;
        for (let i = 0; i < 2e6; i++) x += Math.sqrt(i);
        const second = clock!();
        expect(x).toBeGreaterThan(0);
        expect(Number.isFinite(first) && first >= 0).toBe(true);
        expect(second).toBeGreaterThanOrEqual(first);
      }
    },
  );

  it.runIf(platform() === 'linux')('counts the time this thread has run on a CPU', () => {
    const clock = threadClock('onCpu')!;
    const start = clock();
    const wallStart = performance.now();
    let x = 0;
    while (performance.now() - wallStart < 100) x += Math.sqrt(x + 1);
    expect(x).toBeGreaterThan(0);
    // 100 ms of spinning: the scheduler has accounted for some of it, however busy the machine.
    expect(clock() - start).toBeGreaterThan(0);
  });
});
