import { describe, expect, it } from 'vitest';
import {
  bundleCheckpoint,
  encodeRankCheckpoint,
  readCheckpointHeader,
  unbundleCheckpoint,
  weightsChecksum,
  type RankCheckpoint,
} from '../../common/checkpoint';

const floats = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed + i));

describe('checkpoint parts', () => {
  const weights = [floats(6, 1), floats(3, 2)];
  const parts: RankCheckpoint[] = [
    {
      rank: 0,
      iteration: 40,
      weightsChecksum: weightsChecksum(weights),
      weights,
      state: [],
      momentum: [floats(6, 3), floats(3, 4)],
      residuals: [floats(9, 5)],
    },
    { rank: 1, iteration: 40, weightsChecksum: weightsChecksum(weights), residuals: [floats(9, 6)] },
  ];

  it('reads a part header without its float blocks, also from an unaligned view', () => {
    const encoded = encodeRankCheckpoint(parts[1]!);
    const unaligned = new Uint8Array(encoded.byteLength + 1).fill(7);
    unaligned.set(encoded, 1);
    expect(readCheckpointHeader(unaligned.subarray(1))).toEqual({
      rank: 1,
      iteration: 40,
      weightsChecksum: parts[1]!.weightsChecksum,
    });
  });

  it('bundles the parts as file chunks that unbundle to the same parts, sharing the parts uncopied', () => {
    const encoded = parts.map(encodeRankCheckpoint);
    const chunks = bundleCheckpoint(encoded);
    expect(chunks.slice(1)).toEqual(encoded);
    expect(chunks[1]).toBe(encoded[0]);
    expect(unbundleCheckpoint(Buffer.concat(chunks))).toEqual(parts);
  });
});
