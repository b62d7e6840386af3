import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { selectionSize } from '../../common/sparsifier';
import { gaussianThreshold, reachableThresholds, walkCorrections } from '../../gpu/operators/gaussiank';
import { normalQuantile } from '../../gpu/operators/normalQuantile';
import { kthLargest, nextBelow } from '../../gpu/operators/selectHost';
import { normalData } from '../../common/normalData';

describe('normalQuantile', () => {
  it('matches tabulated quantiles of the standard normal', () => {
    expect(normalQuantile(0.5)).toBeCloseTo(0, 12);
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963985, 8);
    expect(normalQuantile(1 - 0.001 / 2)).toBeCloseTo(3.290526731, 8);
    expect(normalQuantile(0.01)).toBeCloseTo(-2.326347874, 8);
    expect(normalQuantile(1e-9)).toBeCloseTo(-5.997807015, 6);
  });
});

describe('selectionSize', () => {
  it('is max(1, floor(density d)), clamped to d', () => {
    expect(selectionSize(1000, { density: 0.001 })).toBe(1);
    expect(selectionSize(1000, { density: 0.0001 })).toBe(1);
    expect(selectionSize(25_000_000, { density: 0.001 })).toBe(25_000);
    expect(selectionSize(10, { density: 1 })).toBe(10);
    expect(selectionSize(10, { k: 50 })).toBe(10);
    expect(selectionSize(1, { density: 0.5 })).toBe(1);
  });
});

describe('Gaussian_k threshold correction', () => {
  const thresholdOf = (counts: Record<number, number>) => (t: number) => counts[t]!;

  it('keeps the first threshold whose count lies in [2k/3, 4k/3]', () => {
    expect(walkCorrections(2, 30, thresholdOf({ 2: 30 }))).toBe(2);
  });

  it('halves when too few and multiplies by 1.5 when too many, evaluating at most three times', () => {
    // 2 -> too few -> 1 -> too many -> 1.5, which is kept without being evaluated again.
    expect(walkCorrections(2, 30, thresholdOf({ 2: 5, 1: 100 }))).toBe(1.5);
    expect(walkCorrections(2, 30, thresholdOf({ 2: 100, 3: 100 }))).toBe(4.5);
  });

  it('counts every threshold the walk can ask about in one pass', () => {
    expect(reachableThresholds(2).sort()).toEqual([1, 2, 3]);
  });

  it('uses the unbiased standard deviation, as torch.std does', () => {
    const moments = { count: 4, sum: 4, sumSquares: 10, sumAbs: 4, maxAbs: 2, firstNonFinite: -1 };
    // mean 1, unbiased variance (10 - 4) / 3 = 2.
    expect(gaussianThreshold(moments, 0.05)).toBeCloseTo(1 + Math.SQRT2 * 1.959963985, 5);
  });
});

describe('host selection helpers', () => {
  it('kthLargest agrees with sorting', () => {
    fc.assert(
      fc.property(fc.array(fc.float({ noNaN: true }), { minLength: 1, maxLength: 200 }), fc.nat(), (values, r) => {
        const data = Float32Array.from(values);
        const rank = (r % data.length) + 1;
        const sorted = Array.from(data).sort((a, b) => b - a);
        expect(kthLargest(data.slice(), rank)).toBe(sorted[rank - 1]);
      }),
    );
  });

  it('nextBelow turns ">= m" into "> t" on float32 magnitudes', () => {
    fc.assert(
      fc.property(
        fc.float({ min: 0, noNaN: true, noDefaultInfinity: true }),
        fc.float({ min: 0, noNaN: true }),
        (m, x) => {
          const t = nextBelow(Math.fround(m));
          expect(Math.fround(x) > t).toBe(Math.fround(x) >= Math.fround(m));
        },
      ),
    );
  });
});

describe('normalData', () => {
  it('is standard normal and reproducible from its seed', () => {
    const data = normalData(200_000, 3);
    const mean = data.reduce((a, b) => a + b, 0) / data.length;
    const variance = data.reduce((a, b) => a + (b - mean) ** 2, 0) / data.length;
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(variance).toBeCloseTo(1, 1);
    expect(normalData(1000, 3)).toEqual(data.subarray(0, 1000));
  });
});
