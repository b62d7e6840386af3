import { platform } from 'node:os';
import { describe, expect, it } from 'vitest';
import { cpuWaitClock } from '../../gpu/worker/cpuWait';

describe('cpuWaitClock', () => {
  it.runIf(platform() === 'linux')(
    'reads this thread’s run-queue delay from schedstat: finite, never decreasing',
    () => {
      const clock = cpuWaitClock();
      expect(clock).not.toBeNull();
      const first = clock!();
      let x = 0;
      for (let i = 0; i < 2e6; i++) x += Math.sqrt(i);
      const second = clock!();
      expect(x).toBeGreaterThan(0);
      expect(Number.isFinite(first) && first >= 0).toBe(true);
      expect(second).toBeGreaterThanOrEqual(first);
    },
  );
});
