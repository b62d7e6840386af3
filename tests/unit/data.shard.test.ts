import { describe, expect, it } from 'vitest';
import {
  DatasetError,
  Random,
  augmentImages,
  batches,
  batchesPerEpoch,
  permutation,
  shardIndices,
  shardStreams,
  type ClassificationBatch,
  type ClassificationSplit,
  type TokenBatch,
  type TokenSplit,
} from '../../gpu/worker/data';

const union = (parts: Int32Array[]) => parts.flatMap((p) => Array.from(p));

describe('shardIndices', () => {
  it('gives disjoint, equal shards that cover all but size mod worldSize examples', () => {
    for (const [size, worldSize] of [
      [1000, 4],
      [1003, 4],
      [10, 3],
      [7, 1],
    ] as const) {
      const shards = Array.from({ length: worldSize }, (_, r) => shardIndices(size, r, worldSize, 42, 0));
      const all = union(shards);
      expect(shards.every((s) => s.length === Math.floor(size / worldSize))).toBe(true);
      expect(new Set(all).size).toBe(all.length);
      expect(all.every((i) => i >= 0 && i < size)).toBe(true);
      expect(all.length).toBe(size - (size % worldSize));
    }
  });

  it('reshuffles every epoch, and over epochs every example is seen', () => {
    const e0 = shardIndices(1003, 1, 4, 42, 0);
    const e1 = shardIndices(1003, 1, 4, 42, 1);
    expect(Array.from(e0)).not.toEqual(Array.from(e1));
    const seen = new Set<number>();
    for (let epoch = 0; epoch < 5; epoch++)
      for (let r = 0; r < 4; r++) for (const i of shardIndices(1003, r, 4, 42, epoch)) seen.add(i);
    expect(seen.size).toBe(1003);
  });

  it('is a pure function of (size, rank, worldSize, seed, epoch)', () => {
    expect(shardIndices(5000, 2, 4, 7, 3)).toEqual(shardIndices(5000, 2, 4, 7, 3));
    expect(Array.from(shardIndices(5000, 2, 4, 8, 3))).not.toEqual(Array.from(shardIndices(5000, 2, 4, 7, 3)));
    // Pinned: the order must not change between releases or machines (checkpoints resume mid-epoch).
    expect(Array.from(shardIndices(10, 0, 2, 1, 0))).toEqual([2, 3, 1, 0, 9]);
    expect(Array.from(shardIndices(10, 1, 2, 1, 0))).toEqual([5, 6, 4, 7, 8]);
    expect(Array.from(permutation(8, 123))).toEqual([2, 0, 7, 3, 6, 4, 1, 5]);
  });

  it('rejects a rank outside the world', () => {
    expect(() => shardIndices(10, 4, 4, 1, 0)).toThrow('rank must be an integer in 0..3, got 4');
    expect(() => shardIndices(10, 0, 0, 1, 0)).toThrow('worldSize must be a positive integer, got 0');
  });
});

describe('permutation and Random', () => {
  it('permutes uniformly enough and deterministically', () => {
    const p = permutation(100, 5);
    expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(permutation(100, 5)).toEqual(p);
    // Position of element 0 over many seeds is spread out.
    const positions = new Array<number>(10).fill(0);
    for (let s = 0; s < 2000; s++) positions[permutation(10, s).indexOf(0)]!++;
    expect(Math.min(...positions)).toBeGreaterThan(140);
  });

  it('draws normals with mean 0 and variance 1', () => {
    const r = new Random(3);
    let sum = 0;
    let squares = 0;
    for (let i = 0; i < 20000; i++) {
      const x = r.nextNormal();
      sum += x;
      squares += x * x;
    }
    expect(Math.abs(sum / 20000)).toBeLessThan(0.03);
    expect(squares / 20000).toBeCloseTo(1, 1);
  });
});

function classification(size: number, features = 3): ClassificationSplit {
  return {
    kind: 'classification',
    inputs: Float32Array.from({ length: size * features }, (_, i) => Math.floor(i / features)),
    labels: Int32Array.from({ length: size }, (_, i) => i % 10),
    size,
    inputShape: [features],
    numClasses: 10,
  };
}

describe('classification batches', () => {
  it('cuts the shard into full batches of examples with their own labels', () => {
    const split = classification(103);
    const options = { rank: 1, worldSize: 2, seed: 9, epoch: 2, batchSize: 10 };
    const list = [...batches(split, options)] as ClassificationBatch[];
    expect(list.length).toBe(5); // 51 examples per rank, 5 full batches
    expect(batchesPerEpoch(split, options)).toBe(5);
    const shard = shardIndices(103, 1, 2, 9, 2);
    list.forEach((batch, b) => {
      expect(batch.size).toBe(10);
      expect(batch.inputShape).toEqual([3]);
      for (let i = 0; i < 10; i++) {
        const example = shard[b * 10 + i]!;
        expect(Array.from(batch.inputs.subarray(i * 3, i * 3 + 3))).toEqual([example, example, example]);
        expect(batch.labels[i]).toBe(example % 10);
      }
    });
    const withLast = [...batches(split, { ...options, dropLast: false })] as ClassificationBatch[];
    expect(withLast.map((b) => b.size)).toEqual([10, 10, 10, 10, 10, 1]);
  });

  it('gives every rank the same number of batches and fails clearly when a shard is smaller than a batch', () => {
    const split = classification(1001);
    const counts = [0, 1, 2].map(
      (rank) => [...batches(split, { rank, worldSize: 3, seed: 1, epoch: 0, batchSize: 32 })].length,
    );
    expect(counts).toEqual([10, 10, 10]);
    expect(() =>
      batchesPerEpoch(classification(10), { rank: 0, worldSize: 4, seed: 1, epoch: 0, batchSize: 4 }),
    ).toThrow(new DatasetError('10 examples give each of 4 ranks 2, fewer than one batch of 4'));
  });

  it('augments images reproducibly: crops and flips of the same picture', () => {
    const shape = [4, 4, 1];
    const image = Float32Array.from({ length: 16 }, (_, i) => i + 1);
    const a = Float32Array.from(image);
    const b = Float32Array.from(image);
    augmentImages(a, 1, shape, new Random(5));
    augmentImages(b, 1, shape, new Random(5));
    expect(a).toEqual(b);
    // Every kept value comes from the original; the rest is the zero padding.
    expect([...a].every((v) => v === 0 || image.includes(v))).toBe(true);
    const split: ClassificationSplit = { ...classification(8, 16), inputShape: shape };
    const run = () => [...batches(split, { rank: 0, worldSize: 1, seed: 3, epoch: 1, batchSize: 4, augment: true })];
    expect(run()).toEqual(run());
  });
});

describe('token batches (truncated BPTT)', () => {
  const split: TokenSplit = {
    kind: 'tokens',
    tokens: Int32Array.from({ length: 1000 }, (_, i) => i),
    size: 1000,
    vocabularySize: 1000,
  };

  it('splits the text into worldSize x batchSize contiguous streams and walks them bptt tokens at a time', () => {
    // 2 ranks x 3 streams = 6 streams of 166 tokens; (166 - 1) / 35 = 4 batches.
    const options = { rank: 1, worldSize: 2, seed: 4, epoch: 0, batchSize: 3, bptt: 35 };
    const list = [...batches(split, options)] as TokenBatch[];
    expect(list.length).toBe(4);
    expect(batchesPerEpoch(split, options)).toBe(4);
    const streams = shardStreams(3, 1, 2, 4, 0);
    list.forEach((batch, t) => {
      expect([batch.streams, batch.steps, batch.resetState]).toEqual([3, 35, t === 0]);
      for (let r = 0; r < 3; r++) {
        const start = streams[r]! * 166 + t * 35;
        expect(batch.inputs[r * 35]).toBe(start);
        expect(batch.inputs[r * 35 + 34]).toBe(start + 34);
        expect(batch.targets[r * 35]).toBe(start + 1);
        expect(batch.targets[r * 35 + 34]).toBe(start + 35);
      }
    });
  });

  it('gives ranks disjoint streams, reassigned every epoch', () => {
    const all = union([0, 1, 2, 3].map((rank) => shardStreams(5, rank, 4, 8, 0)));
    expect([...all].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(Array.from(shardStreams(5, 0, 4, 8, 1))).not.toEqual(Array.from(shardStreams(5, 0, 4, 8, 0)));
  });

  it('fails clearly when the text is too short', () => {
    expect(() => batchesPerEpoch(split, { rank: 0, worldSize: 4, seed: 1, epoch: 0, batchSize: 20, bptt: 35 })).toThrow(
      '1000 tokens are too few for 4 ranks x 20 streams x 35 steps: each stream gets 12 tokens, at least 36 needed',
    );
  });
});
