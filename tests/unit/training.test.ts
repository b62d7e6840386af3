import { describe, expect, it } from 'vitest';
import { experimentSchema, type ExperimentInput } from '../../common/experiment';
import { learningRateAt } from '../../common/schedule';
import type { Compressed } from '../../gpu/compression';
import { accumulatePacked, packSparse } from '../../gpu/compression/packing';
import { syntheticExperiment } from '../experimentFixture';

const sparse = (length: number, indices: number[], values: number[]): Compressed => ({
  kind: 'sparse',
  length,
  indices: Uint32Array.from(indices),
  values: Float32Array.from(values),
});

describe('sparse exchange packing', () => {
  it('sums every rank’s selections into dense tensors', () => {
    const rank0 = packSparse([sparse(4, [0, 3], [1, 2]), sparse(2, [1], [5])]);
    const rank1 = packSparse([sparse(4, [3], [0.5]), sparse(2, [], [])]);
    const sums = [new Float32Array(4), new Float32Array(2)];
    accumulatePacked(rank0, sums, 'rank 0');
    accumulatePacked(rank1, sums, 'rank 1');
    expect(Array.from(sums[0]!)).toEqual([1, 0, 0, 2.5]);
    expect(Array.from(sums[1]!)).toEqual([0, 5]);
  });

  it('sends only what was selected: 8 bytes per coordinate plus a count per tensor', () => {
    expect(packSparse([sparse(1_000_000, [7, 9], [1, 2])]).byteLength).toBe(4 + 2 * 8);
  });

  it('refuses corrupted messages with the rank and the problem', () => {
    const good = packSparse([sparse(4, [0, 3], [1, 2])]);
    expect(() => accumulatePacked(good, [new Float32Array(2)], 'rank 2')).toThrow(
      'rank 2: tensor 0 index 3 is outside its 2 coordinates',
    );
    expect(() => accumulatePacked(good.subarray(0, 8), [new Float32Array(4)], 'rank 1')).toThrow(
      'rank 1: tensor 0 is truncated',
    );
    expect(() => accumulatePacked(good, [], 'rank 1')).toThrow('rank 1: 5 words left over after 0 tensors');
    expect(() => accumulatePacked(good.subarray(0, 7), [new Float32Array(4)], 'rank 1')).toThrow(
      /not a whole number of words/,
    );
  });

  it("names the rank that sent a NaN, an infinity or an overflowing value, never the receiver's gradient", () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      const lying = packSparse([sparse(4, [0, 3], [1, bad])]);
      expect(() => accumulatePacked(lying, [new Float32Array(4)], 'rank 3')).toThrow(
        `rank 3 sent ${bad} for tensor 0 index 3; a non-finite value from a rank is refused`,
      );
    }
    const sums = [Float32Array.of(0, 3e38)];
    expect(() => accumulatePacked(packSparse([sparse(2, [1], [3e38])]), sums, 'rank 1')).toThrow(
      /^rank 1 sent 3\.0\d*e\+38 for tensor 0 index 1, and the sum overflowed float32; refused$/,
    );
  });
});

describe('learning-rate schedules', () => {
  const at = (optimizer: ExperimentInput['optimizer'], epoch: number) =>
    learningRateAt(experimentSchema.parse(syntheticExperiment({ epochs: 10, optimizer })), epoch);

  it('steps at milestones, anneals by cosine and warms up linearly', () => {
    const step = { lr: 0.1, schedule: { type: 'step' as const, milestones: [5, 8], gamma: 0.1 } };
    expect([0, 4.9, 5, 8].map((e) => at(step, e))).toEqual([0.1, 0.1, 0.1 * 0.1, 0.1 * 0.1 * 0.1]);
    const cosine = { lr: 0.1, schedule: { type: 'cosine' as const, minLr: 0 } };
    expect(at(cosine, 5)).toBeCloseTo(0.05, 12);
    expect(at(cosine, 10)).toBeCloseTo(0, 12);
    expect(at({ lr: 0.1, warmupEpochs: 2 }, 1)).toBeCloseTo(0.05, 12);
  });
});
