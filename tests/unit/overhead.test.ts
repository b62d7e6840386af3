import { describe, expect, it } from 'vitest';
import type { RunSummary } from '../../common/runs';
import { activeOverheadOf, overheadOf } from '../../main/core/runtime/comparison';

/** The summary fields the overhead reads; the rest of a RunSummary does not enter it. */
function summary(times: Partial<RunSummary>): RunSummary {
  return {
    meanIterationMs: 20,
    meanComputeMs: 12,
    meanCompressMs: 1,
    meanExchangeMs: 6.5,
    meanUpdateMs: 0.5,
    meanWaitMs: 3,
    meanCpuWaitMs: 2.3,
    meanComputeCpuWaitMs: 5,
    meanCompressCpuWaitMs: 0.4,
    meanUpdateCpuWaitMs: 0.1,
    ...times,
  } as RunSummary;
}

describe('framework overhead of a run', () => {
  it('counts compress, the exchange without the wait for slower ranks, and update, against the iteration', () => {
    // (1 + (6.5 - 3) + 0.5) / 20
    expect(overheadOf(summary({}))).toBeCloseTo(0.25, 12);
    expect(overheadOf(summary({ meanIterationMs: null }))).toBeNull();
  });

  it('without waits, leaves every wait for a CPU out of its phase, and the wait for slower ranks too', () => {
    // compress 0.6, exchange 6.5 - 3 - (2.3 - 0.4 - 0.1) = 1.7, update 0.4, compute 7: 2.7 / 9.7
    expect(activeOverheadOf(summary({}))).toBeCloseTo(2.7 / 9.7, 12);
    // With no wait for a CPU it is the plain share against compute + framework.
    const none = { meanCpuWaitMs: 0, meanComputeCpuWaitMs: 0, meanCompressCpuWaitMs: 0, meanUpdateCpuWaitMs: 0 };
    expect(activeOverheadOf(summary(none))).toBeCloseTo(5 / 17, 12);
  });

  it('without waits is unknown where the OS does not report them', () => {
    expect(activeOverheadOf(summary({ meanCpuWaitMs: null }))).toBeNull();
    expect(activeOverheadOf(summary({ meanComputeCpuWaitMs: null }))).toBeNull();
  });
});
