import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sparsifierConfigSchema } from '../../common/sparsifier';
import {
  AllgatherCommunicator,
  AllreduceCommunicator,
  createCommunicator,
  ModelCompression,
  type CollectiveTransport,
  type Compressed,
} from '../../gpu/compression';
import { accumulatePacked } from '../../gpu/compression/packing';
import { createCpuKernels } from '../../gpu/kernels/cpu/index';

/**
 * A world of `ranks` over one in-memory hub: every rank's transport records what it sends and
 * completes once all ranks have sent, summing allreduce contributions in rank order as the hub does.
 */
function world(ranks: number): { transports: CollectiveTransport[]; sent: Uint8Array[][] } {
  const sent: Uint8Array[][] = Array.from({ length: ranks }, () => []);
  let round: { gather: (Uint8Array | undefined)[]; done: (() => void)[] } = { gather: [], done: [] };
  const collective = async (rank: number, bytes: Uint8Array): Promise<Uint8Array[]> => {
    sent[rank]!.push(bytes.slice());
    const current = round;
    current.gather[rank] = bytes.slice();
    await new Promise<void>((resolve) => {
      current.done.push(resolve);
      if (current.done.length === ranks) {
        round = { gather: [], done: [] };
        current.done.forEach((d) => d());
      }
    });
    return current.gather as Uint8Array[];
  };
  const transports = Array.from({ length: ranks }, (_, rank): CollectiveTransport => ({
    allgather: (payload) => collective(rank, payload),
    async allreduce(data) {
      const parts = await collective(rank, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      const sum = new Float32Array(data.length);
      for (const part of parts) {
        const v = new Float32Array(part.buffer, part.byteOffset, data.length);
        for (let i = 0; i < sum.length; i++) sum[i] = sum[i]! + v[i]!;
      }
      return sum;
    },
  }));
  return { transports, sent };
}

const SHAPES = [
  { name: 'w', length: 300 },
  { name: 'b', length: 20 },
];

describe('communicator', () => {
  it('is the one the operator declares: allreduce for Dense, allgather for every selection', () => {
    const { transports } = world(1);
    expect(createCommunicator('dense', transports[0]!)).toBeInstanceOf(AllreduceCommunicator);
    for (const method of ['topk', 'gaussiank', 'dgck', 'trimmedk', 'randk'] as const) {
      expect(createCommunicator(method, transports[0]!), method).toBeInstanceOf(AllgatherCommunicator);
    }
  });

  // GRACE once sent the uncompressed tensor: here the bytes on the wire are decoded back and must be
  // exactly each rank's selection (k coordinates per tensor), never the gradient or u = g + e.
  for (const method of ['topk', 'gaussiank', 'dgck', 'trimmedk', 'randk'] as const) {
    it(`${method}: sends exactly the compressed tensors and every rank sums all of them in rank order`, async () => {
      const kernels = await createCpuKernels();
      const ranks = 3;
      const { transports, sent } = world(ranks);
      const config = (rank: number) => sparsifierConfigSchema.parse({ method, density: 0.05, seed: 7 + rank });
      const compressions = Array.from({ length: ranks }, (_, rank) =>
        ModelCompression.create({ host: kernels }, config(rank), SHAPES, 'layer'),
      );
      const gradients = Array.from({ length: ranks }, (_, rank) =>
        SHAPES.map((s) => Float32Array.from({ length: s.length }, (_, i) => Math.sin(1 + i * (rank + 2)) * (i + 1))),
      );
      for (let step = 0; step < 2; step++) {
        const results = await Promise.all(
          compressions.map((c, rank) =>
            c.compress({ host: gradients[rank]!, device: SHAPES.map(() => null) }, { step }),
          ),
        );
        const sums = compressions.map(() => SHAPES.map((s) => new Float32Array(s.length)));
        await Promise.all(
          compressions.map((_, rank) =>
            createCommunicator(method, transports[rank]!).exchange(
              results[rank]!.map((r) => r.compressed),
              sums[rank]!,
            ),
          ),
        );
        const expected = SHAPES.map((s) => new Float32Array(s.length));
        for (let rank = 0; rank < ranks; rank++) {
          const bytes = sent[rank]![step]!;
          const compressed = results[rank]!.map((r) => r.compressed as Extract<Compressed, { kind: 'sparse' }>);
          const k = compressed.reduce((n, c) => n + c.indices.length, 0);
          expect(k).toBeLessThan(SHAPES.reduce((n, s) => n + s.length, 0) / 4);
          // The wire holds per tensor a count, the indices and the values: nothing else.
          expect(bytes.byteLength).toBe(4 * (SHAPES.length + 2 * k));
          const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
          const floats = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
          let at = 0;
          for (const c of compressed) {
            expect(words[at]).toBe(c.indices.length);
            expect(Array.from(words.subarray(at + 1, at + 1 + c.indices.length))).toEqual(Array.from(c.indices));
            expect(Array.from(floats.subarray(at + 1 + c.indices.length, at + 1 + 2 * c.indices.length))).toEqual(
              Array.from(c.values),
            );
            at += 1 + 2 * c.indices.length;
          }
          accumulatePacked(bytes, expected, `rank ${rank}`);
        }
        for (let rank = 0; rank < ranks; rank++) {
          sums[rank]!.forEach((sum, t) =>
            expect(Array.from(sum), `rank ${rank} tensor ${t}`).toEqual(Array.from(expected[t]!)),
          );
        }
      }
      compressions.forEach((c) => c.release());
    });
  }

  it('dense: one allreduce of every tensor, concatenated; the sums are the same bits on every rank', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: 5, maxLength: 5 }), {
          minLength: 2,
          maxLength: 4,
        }),
        async (vectors) => {
          const ranks = vectors.length;
          const { transports, sent } = world(ranks);
          const sums = vectors.map(() => [new Float32Array(2), new Float32Array(3)]);
          await Promise.all(
            vectors.map((v, rank) =>
              createCommunicator('dense', transports[rank]!).exchange(
                [
                  { kind: 'dense', values: Float32Array.from(v.slice(0, 2)) },
                  { kind: 'dense', values: Float32Array.from(v.slice(2)) },
                ],
                sums[rank]!,
              ),
            ),
          );
          const inOrder = new Float32Array(5);
          for (const v of vectors) for (let i = 0; i < 5; i++) inOrder[i] = inOrder[i]! + Math.fround(v[i]!);
          for (let rank = 0; rank < ranks; rank++) {
            expect(sent[rank]![0]!.byteLength).toBe(5 * 4);
            expect([...sums[rank]![0]!, ...sums[rank]![1]!]).toEqual(Array.from(inOrder));
          }
        },
      ),
      { numRuns: 50 },
    );
  });

  it('refuses what its collective cannot combine, saying which tensor', async () => {
    const { transports } = world(1);
    const selection: Compressed = { kind: 'sparse', length: 4, indices: Uint32Array.of(1), values: Float32Array.of(2) };
    const dense: Compressed = { kind: 'dense', values: new Float32Array(4) };
    await expect(
      createCommunicator('dense', transports[0]!).exchange([selection], [new Float32Array(4)]),
    ).rejects.toThrow('tensor 0 is a selection; allreduce sums dense vectors only');
    await expect(createCommunicator('topk', transports[0]!).exchange([dense], [new Float32Array(4)])).rejects.toThrow(
      /Dense goes through allreduce/,
    );
    await expect(
      createCommunicator('topk', transports[0]!).exchange([selection], [new Float32Array(3)]),
    ).rejects.toThrow('tensor 0 has 4 coordinates, its sum 3');
  });
});
