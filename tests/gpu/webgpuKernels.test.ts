/**
 * Every WebGpuKernels method against the naive oracle (tests/oracle/naiveKernels.ts), on the same
 * inputs: exact equality for indices, values and counts; moments within float tolerance.
 *
 * Two kernel configurations share the file's device: the default one (under SwiftShader: at most
 * 32 large workgroups per pass) and one with tiny blocks (64 elements per workgroup, at most 16
 * workgroups per dispatch row) so that small inputs already span many blocks, multi-tile block
 * scans and 2-D dispatches.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createWebGpuKernels, type GpuVector, type WebGpuKernels } from '../../gpu/kernels/webgpu/index';
import { NaiveKernels, largestKeys, magnitudeBits } from '../oracle/naiveKernels';
import {
  expectClose,
  expectSameFloats,
  expectSameIndices,
  largeVector,
  testDevice,
  uncaptured,
  vector,
} from './helpers';

const naive = new NaiveKernels();
const configs: Record<string, WebGpuKernels> = {};

beforeAll(async () => {
  const { device, isSoftware } = await testDevice();
  configs.default = await createWebGpuKernels(device, { isSoftware });
  configs.smallBlocks = await createWebGpuKernels(device, {
    workgroupSize: 64,
    itemsPerThread: 1,
    maxWorkgroups: 0,
    maxWorkgroupsPerDimension: 16,
  });
});

afterAll(() => {
  for (const kernels of Object.values(configs)) kernels.destroy();
  expect(uncaptured).toEqual([]);
});

/** Runs `body` with the data uploaded, releasing the vector afterwards. */
async function withVector<T>(
  kernels: WebGpuKernels,
  data: Float32Array,
  body: (v: GpuVector) => Promise<T>,
): Promise<T> {
  const v = kernels.upload(data);
  try {
    return await body(v);
  } finally {
    kernels.release(v);
  }
}

/** A threshold drawn from the data's magnitudes (hits ties exactly), or a special one. */
function thresholdFor(data: Float32Array, pick: number, special: number): number {
  if (special === 0) return -1;
  if (special === 1) return 0;
  if (special === 2) return Infinity;
  return Math.abs(data[Math.floor(pick * data.length)]!);
}

// Property runs per test (raise for a deeper local check: SPARSELAB_GPU_RUNS=100 npx vitest run tests/gpu).
const RUNS = Number(process.env.SPARSELAB_GPU_RUNS ?? 12);

describe.each(['default', 'smallBlocks'])('WebGpuKernels (%s) vs NaiveKernels', (name) => {
  const k = () => configs[name]!;

  test('upload, write, download and zeros round-trip bit patterns', async () => {
    await fc.assert(
      fc.asyncProperty(vector({ nonFinite: true }), async (data) => {
        await withVector(k(), data, async (v) => {
          expect(k().length(v)).toBe(data.length);
          expectSameFloats(await k().download(v), data);
          const reversed = data.slice().reverse();
          k().write(v, reversed);
          expectSameFloats(await k().download(v), reversed);
        });
        const z = k().zeros(data.length);
        expectSameFloats(await k().download(z), new Float32Array(data.length));
        k().release(z);
      }),
      { numRuns: 6 },
    );
  });

  test('addInto is IEEE float32 addition, exact even for subnormals, Inf and NaN', async () => {
    await fc.assert(
      fc.asyncProperty(
        vector({ nonFinite: true }).chain((a) =>
          fc.tuple(fc.constant(a), vector({ nonFinite: true, minLength: a.length, maxLength: a.length })),
        ),
        async ([a, b]) => {
          const expected = a.slice();
          naive.addInto(expected, b);
          const va = k().upload(a);
          const vb = k().upload(b);
          k().addInto(va, vb);
          expectSameFloats(await k().download(va), expected, 'a + b');
          // The same vector on both sides.
          const doubled = b.slice();
          naive.addInto(doubled, b);
          k().addInto(vb, vb);
          expectSameFloats(await k().download(vb), doubled, 'b + b');
          k().release(va);
          k().release(vb);
        },
      ),
      { numRuns: RUNS },
    );
  });

  test('zeroAt and gather at listed indices (duplicates, any order)', async () => {
    await fc.assert(
      fc.asyncProperty(
        vector({ nonFinite: true }).chain((data) =>
          fc.tuple(
            fc.constant(data),
            fc.array(fc.integer({ min: 0, max: data.length - 1 }), {
              minLength: 0,
              maxLength: Math.min(600, 2 * data.length),
            }),
          ),
        ),
        async ([data, list]) => {
          const indices = Uint32Array.from(list);
          await withVector(k(), data, async (v) => {
            expectSameFloats(await k().gather(v, indices), await naive.gather(data, indices), 'gather');
            const expected = data.slice();
            naive.zeroAt(expected, indices);
            k().zeroAt(v, indices);
            expectSameFloats(await k().download(v), expected, 'zeroAt');
          });
        },
      ),
      { numRuns: RUNS },
    );
  });

  test('moments: sums within float tolerance, maxAbs and firstNonFinite exact', async () => {
    await fc.assert(
      fc.asyncProperty(vector({ nonFinite: true }), fc.boolean(), async (data, keepNonFinite) => {
        if (!keepNonFinite) data = data.map((x) => (Number.isFinite(x) ? x : 0.5));
        const expected = await naive.moments(data);
        const actual = await withVector(k(), data, (v) => k().moments(v));
        expect(actual.count).toBe(expected.count);
        expect(actual.firstNonFinite).toBe(expected.firstNonFinite);
        if (expected.firstNonFinite >= 0) return;
        expect(actual.maxAbs).toBe(expected.maxAbs);
        expectClose(actual.sum, expected.sum, expected.sumAbs, 1e-5, 'sum');
        expectClose(actual.sumSquares, expected.sumSquares, expected.sumSquares, 1e-5, 'sumSquares');
        expectClose(actual.sumAbs, expected.sumAbs, expected.sumAbs, 1e-5, 'sumAbs');
      }),
      { numRuns: 2 * RUNS },
    );
  });

  test('centralMoments within float tolerance (Inf/NaN as in float64)', async () => {
    await fc.assert(
      fc.asyncProperty(
        vector({ nonFinite: true }),
        // Means are passed to the GPU as a float32 pair (about 48 bits): float32 range, so no
        // |mean| below 1e-30 (float32 would round it to 0).
        fc.oneof(
          fc.constant('data-mean'),
          fc.double({ min: -1e3, max: 1e3, noNaN: true }).map((m) => (Math.abs(m) < 1e-30 ? 0 : m)),
        ),
        fc.boolean(),
        async (data, meanChoice, keepNonFinite) => {
          if (!keepNonFinite) data = data.map((x) => (Number.isFinite(x) ? x : -2));
          let mean = typeof meanChoice === 'number' ? meanChoice : 0;
          if (meanChoice === 'data-mean') {
            const m = await naive.moments(data);
            mean = Number.isFinite(m.sum) ? m.sum / data.length : 0;
          }
          const expected = await naive.centralMoments(data, mean);
          const actual = await withVector(k(), data, (v) => k().centralMoments(v, mean));
          const scale = [0, 0, 0];
          for (const x of data) {
            const c = Math.abs(x - mean);
            scale[0]! += c ** 2;
            scale[1]! += c ** 3;
            scale[2]! += c ** 4;
          }
          expectClose(actual.m2, expected.m2, scale[0]!, 1e-5, 'm2');
          expectClose(actual.m3, expected.m3, scale[1]!, 1e-5, 'm3');
          expectClose(actual.m4, expected.m4, scale[2]!, 1e-5, 'm4');
        },
      ),
      { numRuns: 2 * RUNS },
    );
  });

  test('histogram is exactly the float64 reference (clamping, NaN, Inf, degenerate ranges)', async () => {
    const range = fc.oneof(
      fc.tuple(fc.double({ min: -10, max: 0, noNaN: true }), fc.double({ min: 0, max: 10, noNaN: true })),
      fc.tuple(fc.constantFrom(-1, 0, 0.1), fc.constantFrom(1, 0.7, 0.1, -1)),
      fc.tuple(fc.double({ noNaN: true }), fc.double({ noNaN: true })),
      fc.tuple(fc.constantFrom(-Infinity, 0, NaN), fc.constantFrom(Infinity, 1)),
    );
    await fc.assert(
      fc.asyncProperty(
        vector({ nonFinite: true }),
        range,
        fc.oneof(fc.integer({ min: 1, max: 40 }), fc.constantFrom(1, 2, 2048, 2049, 3000)),
        async (data, [min, max], bins) => {
          const expected = await naive.histogram(data, min, max, bins);
          const actual = await withVector(k(), data, (v) => k().histogram(v, min, max, bins));
          expectSameIndices(actual, expected, `histogram [${min}, ${max}] / ${bins}`);
        },
      ),
      { numRuns: 2 * RUNS },
    );
  });

  test('countAbove, for up to 12 thresholds in one call', async () => {
    await fc.assert(
      fc.asyncProperty(
        vector({ nonFinite: true }),
        fc.array(fc.tuple(fc.double({ min: 0, max: 1, maxExcluded: true }), fc.integer({ min: 0, max: 9 })), {
          minLength: 0,
          maxLength: 12,
        }),
        async (data, picks) => {
          const thresholds = picks.map(([pick, special]) => thresholdFor(data, pick, special));
          const expected = await naive.countAbove(data, thresholds);
          const actual = await withVector(k(), data, (v) => k().countAbove(v, thresholds));
          expect(actual).toEqual(expected);
        },
      ),
      { numRuns: 2 * RUNS },
    );
  });

  test('compactAbove: ordered indices and values', async () => {
    await fc.assert(
      fc.asyncProperty(
        vector({ nonFinite: true }),
        fc.double({ min: 0, max: 1, maxExcluded: true }),
        fc.integer({ min: 0, max: 9 }),
        async (data, pick, special) => {
          const threshold = thresholdFor(data, pick, special);
          const expected = await naive.compactAbove(data, threshold);
          const actual = await withVector(k(), data, (v) => k().compactAbove(v, threshold));
          expectSameIndices(actual.indices, expected.indices);
          expectSameFloats(actual.values, expected.values);
        },
      ),
      { numRuns: 2 * RUNS },
    );
  });

  test('topk: exact k largest |u|, ties to the lower index, ascending', async () => {
    await fc.assert(
      fc.asyncProperty(
        vector({ nonFinite: true }),
        fc.double({ min: 0, max: 1 }),
        fc.boolean(),
        async (data, fraction, withHint) => {
          const k0 = Math.max(1, Math.min(data.length, Math.ceil(fraction * data.length)));
          const expected = await naive.topk(data, k0);
          // A valid hint (at least k coordinates exceed it) must not change the result.
          const hint = withHint ? -1 : undefined;
          const actual = await withVector(k(), data, (v) => k().topk(v, k0, hint));
          expectSameIndices(actual.indices, expected.indices);
          expectSameFloats(actual.values, expected.values);
        },
      ),
      { numRuns: 3 * RUNS },
    );
  });

  test('topk resolves ties at the k-th magnitude to the lowest indices', async () => {
    // Every coordinate ties: the answer is the first k indices, across block boundaries.
    const data = new Float32Array(5000).fill(-0.75);
    data[4321] = 2;
    for (const k0 of [1, 2, 63, 64, 65, 1000, 4999]) {
      const expected = await naive.topk(data, k0);
      const actual = await withVector(k(), data, (v) => k().topk(v, k0));
      expectSameIndices(actual.indices, expected.indices, `k=${k0}`);
      expectSameFloats(actual.values, expected.values, `k=${k0}`);
    }
  });

  test('randomSubset: the k largest randomKey(seed, i), ascending', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.constantFrom(1, 3, 257, 1000), fc.integer({ min: 1, max: 5000 })),
        fc.double({ min: 0, max: 1 }),
        fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: -(2 ** 31), max: -1 }), fc.constant(0)),
        async (length, fraction, seed) => {
          const k0 = Math.max(1, Math.min(length, Math.ceil(fraction * length)));
          const expected = await naive.randomSubset(length, k0, seed);
          const actual = await k().randomSubset(length, k0, seed);
          expectSameIndices(actual, expected);
        },
      ),
      { numRuns: 2 * RUNS },
    );
  });

  test('empty and degenerate inputs', async () => {
    const empty = k().zeros(0);
    expect(await k().download(empty)).toEqual(new Float32Array(0));
    expect(await k().moments(empty)).toEqual(await naive.moments(new Float32Array(0)));
    expect(await k().centralMoments(empty, 1)).toEqual({ m2: 0, m3: 0, m4: 0 });
    expect(await k().countAbove(empty, [0, -1])).toEqual([0, 0]);
    expect(await k().histogram(empty, 0, 1, 3)).toEqual(new Uint32Array(3));
    expect((await k().compactAbove(empty, -1)).indices.length).toBe(0);
    expect((await k().topk(empty, 3)).indices.length).toBe(0);
    k().addInto(empty, empty);
    k().zeroAt(empty, Uint32Array.of(0));
    k().release(empty);
    expect(await k().randomSubset(0, 1, 1)).toEqual(new Uint32Array(0));
    expect(await k().randomSubset(10, 10, 1)).toEqual(Uint32Array.from({ length: 10 }, (_, i) => i));
    await withVector(k(), Float32Array.of(3, -4, 0), async (v) => {
      expect(await k().countAbove(v, [])).toEqual([]);
      expect(await k().gather(v, new Uint32Array(0))).toEqual(new Float32Array(0));
      expect((await k().topk(v, 0)).indices.length).toBe(0);
      const all = await k().topk(v, 3);
      expect(Array.from(all.indices)).toEqual([0, 1, 2]);
      expect(Array.from(all.values)).toEqual([3, -4, 0]);
      expect(await k().histogram(v, 0, 1, 0)).toEqual(new Uint32Array(0));
    });
  });
});

describe('large inputs (~300k coordinates, many blocks)', () => {
  const n = 300_007;
  const data = largeVector(n, 12345);
  const magnitudes = Float32Array.from(data, Math.abs).sort();
  let v: GpuVector;
  const kernels = () => configs.default!;

  beforeAll(() => {
    v = kernels().upload(data);
  });
  afterAll(() => kernels().release(v));

  test('topk at several k, including inside a large tie group', async () => {
    // 0.25, 0.5, ... are each shared by ~10k coordinates: pick k landing inside such a group.
    const tieValue = 0.75;
    const above = data.reduce((c, x) => c + (magnitudeBits(x) > magnitudeBits(tieValue) ? 1 : 0), 0);
    // The oracle's order (|u| descending, ties to the lower index), computed once: its top k for
    // every k is a prefix, sorted ascending (what naive.topk returns).
    const order = largestKeys(Array.from(data, magnitudeBits), n);
    for (const k0 of [1, 3000, above + 17, n - 5]) {
      const indices = Uint32Array.from(order.slice(0, k0)).sort();
      const actual = await kernels().topk(v, k0);
      expectSameIndices(actual.indices, indices, `k=${k0}`);
      expectSameFloats(
        actual.values,
        Float32Array.from(indices, (i) => data[i]!),
        `k=${k0}`,
      );
    }
    const spot = await naive.topk(data, 3000);
    expectSameIndices(spot.indices, Uint32Array.from(order.slice(0, 3000)).sort(), 'oracle prefix');
  });

  test('compactAbove, countAbove, moments and histogram', async () => {
    const thresholds = [magnitudes[n - 3001]!, 0.75, 0, -1];
    expect(await kernels().countAbove(v, thresholds)).toEqual(await naive.countAbove(data, thresholds));
    const expected = await naive.compactAbove(data, thresholds[0]!);
    const actual = await kernels().compactAbove(v, thresholds[0]!);
    expectSameIndices(actual.indices, expected.indices);
    expectSameFloats(actual.values, expected.values);
    const m = await kernels().moments(v);
    const mRef = await naive.moments(data);
    expect(m.maxAbs).toBe(mRef.maxAbs);
    // Kahan-compensated per-thread sums: far tighter than the property tests ask.
    expectClose(m.sum, mRef.sum, mRef.sumAbs, 1e-7, 'sum');
    expectClose(m.sumSquares, mRef.sumSquares, mRef.sumSquares, 1e-7, 'sumSquares');
    expect(await kernels().histogram(v, -2, 2, 100)).toEqual(await naive.histogram(data, -2, 2, 100));
  });

  test('randomSubset', async () => {
    for (const [k0, seed] of [
      [1, 7],
      [n >> 3, 123456789],
    ] as const) {
      expectSameIndices(await kernels().randomSubset(n, k0, seed), await naive.randomSubset(n, k0, seed), `k=${k0}`);
    }
  });
});
