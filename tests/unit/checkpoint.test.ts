import { describe, expect, it } from 'vitest';
import {
  bundleCheckpoint,
  CheckpointFormatError,
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

  it('refuses every malformed part and bundle with what is wrong, before reading it', () => {
    const good = encodeRankCheckpoint(parts[1]!);
    const header = (json: string, floats = 0) => {
      const text = new TextEncoder().encode(json);
      const out = new Uint8Array(4 + Math.ceil(text.length / 4) * 4 + floats * 4);
      new DataView(out.buffer).setUint32(0, text.length, true);
      out.set(text, 4);
      return out;
    };
    const cases: [Uint8Array, RegExp][] = [
      [new Uint8Array(3), /shorter than its 4-byte header length/],
      [Uint8Array.of(0xff, 0xff, 0xff, 0x7f, 1, 2), /a header of 2147483647 bytes does not fit/],
      [header('{not json'), /the header is not JSON/],
      [header('{"rank":-1,"iteration":0}'), /non-negative integer rank and iteration/],
      [header('{"rank":0,"iteration":1,"weightsChecksum":"zz"}'), /8-digit hex weights checksum/],
      [header('{"rank":0,"iteration":1,"weightsChecksum":"0000abcd"}'), /no tensor lengths/],
      [
        header('{"rank":0,"iteration":1,"weightsChecksum":"0000abcd","lengths":{"evil":[1]}}', 1),
        /unknown block 'evil'/,
      ],
      [header('{"rank":0,"iteration":1,"weightsChecksum":"0000abcd","lengths":{"residuals":[2.5]}}'), /not counts/],
      [good.subarray(0, good.length - 4), /tensors need 36 bytes of float32, 32 follow/],
    ];
    for (const [bytes, problem] of cases) {
      expect(() => readCheckpointHeader(bytes)).toThrow(CheckpointFormatError);
      expect(() => readCheckpointHeader(bytes)).toThrow(problem);
    }
    const bundle = Buffer.concat(bundleCheckpoint([good]));
    expect(() => unbundleCheckpoint(bundle.subarray(0, 2))).toThrow(/its index does not fit/);
    expect(() => unbundleCheckpoint(bundle.subarray(0, bundle.length - 1))).toThrow(/index lists \d+ bytes/);
  });
});
