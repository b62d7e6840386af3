import { describe, expect, it, vi } from 'vitest';
import { Refusals } from '../../main/core/runtime/refusals';

describe('refusal log lines', () => {
  it('logs the first refusal of a worker, then one line per interval with a count, and caps all workers together', () => {
    vi.useFakeTimers({ now: 0 });
    try {
      const lines: string[] = [];
      const refusals = new Refusals((_worker, message) => lines.push(message), 5000, 3);
      for (let i = 0; i < 100; i++) refusals.refuse('w1', 'status for run r1');
      expect(lines).toEqual(['refused from worker w1: status for run r1']);
      // A rogue reconnecting under new ids gets at most maxLines lines per interval in all.
      for (let id = 2; id < 50; id++) refusals.refuse(`w${id}`, 'records for run r1');
      expect(lines).toHaveLength(3);
      vi.setSystemTime(5000);
      refusals.refuse('w1', 'status for run r1');
      expect(lines.at(-1)).toBe('refused from worker w1: status for run r1 (and 145 more refused since the last line)');
      expect(refusals.total).toBe(149);
    } finally {
      vi.useRealTimers();
    }
  });
});
