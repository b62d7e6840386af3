import { describe, expect, it } from 'vitest';
import type { ArmProjection } from '../../common/api';
import { armProjectionsText } from '../../renderer/src/designer/estimate';

const arm = (name: string, iterationMs: number, bytesPerIteration: number): ArmProjection => ({
  arm: name,
  k: 1,
  bytesPerIteration,
  computeMs: 0,
  compressMs: 0,
  exchangeMs: 0,
  iterationMs,
});

describe('armProjectionsText', () => {
  it("lists each arm's projected iteration and bytes sent, in kB and MB past a thousand", () => {
    expect(armProjectionsText([arm('dense', 0.6903, 27_688), arm('topk@k=100', 6.07, 800)])).toBe(
      'dense 0.690 ms (27.7 kB sent), topk@k=100 6.07 ms (800 B sent)',
    );
    expect(armProjectionsText([arm('dense', 412.3, 1_076_520)])).toBe('dense 412 ms (1.08 MB sent)');
  });
});
