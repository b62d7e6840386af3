/**
 * The WebAssembly CPU kernels against the naive oracle (tests/oracle/naiveKernels.ts): exact
 * equality for indices, values and counts; moments within float tolerance (firstNonFinite
 * exact). Run `npm run build:wasm` first.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { normalData } from '../../common/normalData';
import { createCpuKernels, type CpuKernels, type CpuVector } from '../../gpu/kernels/cpu/index';
import type { CentralMoments, Moments, SparseVector } from '../../gpu/kernels/kernels';
import { randomKey } from '../../gpu/kernels/random/random';
import { largestKeys, magnitudeBits, NaiveKernels } from '../oracle/naiveKernels';

const naive = new NaiveKernels();
/** Default kernels: whole-vector radix select below 65536 coordinates, sampled candidates above. */
let cpu: CpuKernels;
/** Sampled-candidates path at every length, so small property inputs exercise it too. */
let sampled: CpuKernels;

beforeAll(async () => {
  cpu = await createCpuKernels();
  sampled = await createCpuKernels({ wholeSelectMaxLength: 0 });
});

/** CPU_KERNELS_RUNS=5000 fuzzes harder. */
const RUNS = { numRuns: Number(process.env.CPU_KERNELS_RUNS ?? 150) };

// ---------------------------------------------------------------------------------------------
// Arbitraries.

const FLT_MIN = Math.fround(1.17549435e-38);
const special = fc.constantFrom(0, -0, 1, -1, 0.5, -0.5, 2.5, -2.5, 1e-45, -1e-45, FLT_MIN, 3.4028234663852886e38);
const finite = fc.oneof(
  { arbitrary: fc.float({ noNaN: true, noDefaultInfinity: true }), weight: 3 },
  { arbitrary: fc.float({ min: -4, max: 4, noNaN: true }), weight: 4 },
  { arbitrary: special, weight: 2 },
  { arbitrary: fc.float({ min: -FLT_MIN, max: FLT_MIN, noNaN: true }), weight: 1 },
);
const tieValue = fc.constantFrom(0, -0, 1, -1, 2, -2, 0.25);

function arrayOf(value: fc.Arbitrary<number>, maxLength: number): fc.Arbitrary<Float32Array> {
  return fc
    .oneof(
      { arbitrary: fc.integer({ min: 1, max: 9 }), weight: 2 },
      { arbitrary: fc.integer({ min: 1, max: maxLength }), weight: 3 },
    )
    .chain((n) => fc.array(value, { minLength: n, maxLength: n }))
    .map((a) => Float32Array.from(a));
}

/** Finite vectors: arbitrary floats, tie-heavy, constant (incl. all-zero), and small lengths. */
const finiteVector = fc.oneof(
  { arbitrary: arrayOf(finite, 1500), weight: 4 },
  { arbitrary: arrayOf(tieValue, 1500), weight: 2 },
  {
    arbitrary: fc
      .tuple(fc.oneof(special, finite), fc.integer({ min: 1, max: 1500 }))
      .map(([x, n]) => new Float32Array(n).fill(x)),
    weight: 1,
  },
);

/** Like finiteVector, sometimes with NaN or +-Inf planted at a few positions. */
const anyVector = fc
  .tuple(finiteVector, fc.array(fc.tuple(fc.nat(), fc.constantFrom(NaN, Infinity, -Infinity)), { maxLength: 3 }))
  .map(([u, planted]) => {
    const out = u.slice();
    for (const [at, x] of planted) out[at % out.length] = x;
    return out;
  });

/** A vector and k in [1, d]. */
const vectorAndK = anyVector.chain((u) =>
  fc.tuple(fc.constant(u), fc.oneof(fc.integer({ min: 1, max: u.length }), fc.constantFrom(1, u.length))),
);

/** Thresholds: values of the vector itself (ties), arbitrary floats, negatives and zeros. */
function thresholdsFor(u: Float32Array, maxLength: number): fc.Arbitrary<number[]> {
  const own = fc.nat({ max: u.length - 1 }).map((i) => Math.abs(u[i]!));
  const threshold = fc.oneof(own, finite.map(Math.abs), fc.constantFrom(-1, -0, 0, -1e30));
  return fc.array(threshold, { minLength: 0, maxLength });
}

// ---------------------------------------------------------------------------------------------
// Helpers.

function sameBits(actual: ArrayLike<number>, expected: ArrayLike<number>): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) {
      expect.fail(`index ${i}: got ${actual[i]}, expected ${expected[i]} (of ${expected.length})`);
    }
  }
}

function sameSparse(actual: SparseVector, expected: SparseVector): void {
  expect(actual.indices).toBeInstanceOf(Uint32Array);
  expect(actual.values).toBeInstanceOf(Float32Array);
  sameBits(actual.indices, expected.indices);
  sameBits(actual.values, expected.values);
}

function close(actual: number, expected: number, scale: number, rel: number): void {
  if (Object.is(actual, expected)) return;
  if (!(Math.abs(actual - expected) <= rel * scale)) {
    expect.fail(`got ${actual}, expected ${expected} (tolerance ${rel} x ${scale})`);
  }
}

function checkMoments(actual: Moments, expected: Moments): void {
  expect(actual.count).toBe(expected.count);
  expect(actual.firstNonFinite).toBe(expected.firstNonFinite);
  if (expected.firstNonFinite >= 0) return;
  expect(actual.maxAbs).toBe(expected.maxAbs);
  close(actual.sumAbs, expected.sumAbs, expected.sumAbs, 2e-5);
  close(actual.sum, expected.sum, expected.sumAbs, 2e-5);
  close(actual.sumSquares, expected.sumSquares, expected.sumSquares, 2e-5);
}

function checkCentral(actual: CentralMoments, expected: CentralMoments, u: Float32Array, mean: number): void {
  let a3 = 0;
  for (const x of u) a3 += Math.abs(x - mean) ** 3;
  close(actual.m2, expected.m2, expected.m2, 1e-9);
  close(actual.m3, expected.m3, a3, 1e-9);
  close(actual.m4, expected.m4, expected.m4, 1e-9);
}

/** Runs `f` on a fresh CPU vector holding `u`, releasing it afterwards. */
async function withVector<T>(kernels: CpuKernels, u: Float32Array, f: (v: CpuVector) => Promise<T>): Promise<T> {
  const v = kernels.upload(u);
  try {
    return await f(v);
  } finally {
    kernels.release(v);
  }
}

/** Expected top-k for several k from one sort of the oracle's magnitude keys. */
function topkOracle(u: Float32Array): (k: number) => SparseVector {
  const order = largestKeys(Array.from(u, magnitudeBits), u.length);
  return (k) => {
    const indices = Uint32Array.from(order.slice(0, k)).sort();
    return { indices, values: Float32Array.from(indices, (i) => u[i]!) };
  };
}

// ---------------------------------------------------------------------------------------------

describe('CpuKernels: memory and element-wise', () => {
  it('reports the backend', () => {
    expect(cpu.backend).toBe('cpu');
    expect(cpu.deviceName).toMatch(/WebAssembly SIMD/);
  });

  it('upload / download / write / zeros / length / view round-trip bit-exactly', async () => {
    await fc.assert(
      fc.asyncProperty(anyVector, async (u) => {
        const v = cpu.upload(u);
        expect(cpu.length(v)).toBe(u.length);
        sameBits(await cpu.download(v), u);
        sameBits(cpu.view(v), u);
        const z = cpu.zeros(u.length);
        sameBits(await cpu.download(z), new Float32Array(u.length));
        cpu.write(z, u);
        sameBits(await cpu.download(z), u);
        // Writes through the view are what the kernels see.
        cpu.view(v).fill(3);
        sameBits(await cpu.download(v), new Float32Array(u.length).fill(3));
        expect(() => cpu.write(z, new Float32Array(u.length + 1))).toThrow();
        cpu.release(v);
        cpu.release(z);
      }),
      RUNS,
    );
    const empty = cpu.zeros(0);
    expect(cpu.length(empty)).toBe(0);
    expect((await cpu.download(empty)).length).toBe(0);
    cpu.release(empty);
  });

  it('addInto matches the oracle', async () => {
    await fc.assert(
      fc.asyncProperty(
        anyVector.chain((u) =>
          fc.tuple(fc.constant(u), fc.array(finite, { minLength: u.length, maxLength: u.length })),
        ),
        async ([u, addend]) => {
          const a = Float32Array.from(addend);
          const t = cpu.upload(u);
          const b = cpu.upload(a);
          cpu.addInto(t, b);
          const expected = u.slice();
          naive.addInto(expected, a);
          sameBits(await cpu.download(t), expected);
          sameBits(await cpu.download(b), a);
          cpu.release(t);
          cpu.release(b);
        },
      ),
      RUNS,
    );
  });

  it('zeroAt and gather match the oracle', async () => {
    await fc.assert(
      fc.asyncProperty(
        anyVector.chain((u) => fc.tuple(fc.constant(u), fc.array(fc.nat({ max: u.length + 2 }), { maxLength: 40 }))),
        async ([u, picks]) => {
          const indices = Uint32Array.from(picks);
          await withVector(cpu, u, async (v) => {
            sameBits(await cpu.gather(v, indices), await naive.gather(u, indices));
            const expected = u.slice();
            naive.zeroAt(expected, indices);
            cpu.zeroAt(v, indices);
            sameBits(await cpu.download(v), expected);
          });
        },
      ),
      RUNS,
    );
  });

  it('rejects released and foreign vectors', async () => {
    const v = cpu.upload(new Float32Array([1, 2, 3]));
    cpu.release(v);
    await expect(cpu.moments(v)).rejects.toThrow(/released/);
    expect(() => cpu.release(v)).toThrow();
    const w = sampled.upload(new Float32Array([1]));
    expect(() => cpu.view(w)).toThrow();
    sampled.release(w);
  });

  it('survives memory growth: many vectors, interleaved releases, fresh views', async () => {
    const kernels = await createCpuKernels();
    const before = kernels.memoryBytes;
    const live = new Map<CpuVector, Float32Array>();
    const early = kernels.upload(normalData(1000, 1));
    const staleView = kernels.view(early);
    for (let i = 0; i < 120; i++) {
      const u = normalData(10_000 + 997 * i, i + 2);
      live.set(kernels.upload(u), u);
      if (i % 3 === 0) {
        const [first] = live.keys();
        kernels.release(first!);
        live.delete(first!);
      }
    }
    const big = normalData(3_000_000, 99);
    live.set(kernels.upload(big), big);
    expect(kernels.memoryBytes).toBeGreaterThan(before);
    // The old view was detached by growth; a fresh one sees the data.
    expect(staleView.length).toBe(0);
    sameBits(kernels.view(early), normalData(1000, 1));
    for (const [v, u] of live) sameBits(await kernels.download(v), u);
    // Freed space is reused rather than grown into.
    const size = kernels.memoryBytes;
    for (const v of live.keys()) kernels.release(v);
    const again = kernels.upload(big);
    expect(kernels.memoryBytes).toBe(size);
    sameBits(await kernels.download(again), big);
  });
});

describe('CpuKernels: statistics', () => {
  it('moments match the oracle (firstNonFinite exact)', async () => {
    await fc.assert(
      fc.asyncProperty(anyVector, async (u) => {
        checkMoments(await withVector(cpu, u, (v) => cpu.moments(v)), await naive.moments(u));
      }),
      RUNS,
    );
  });

  it('moments: empty vector, multi-block accumulation, extreme magnitudes, late non-finite', async () => {
    checkMoments(await withVector(cpu, new Float32Array(0), (v) => cpu.moments(v)), {
      count: 0,
      sum: 0,
      sumSquares: 0,
      sumAbs: 0,
      maxAbs: 0,
      firstNonFinite: -1,
    });
    const u = normalData(300_003, 5);
    for (let i = 0; i < u.length; i++) u[i] = u[i]! + 0.25;
    checkMoments(await withVector(cpu, u, (v) => cpu.moments(v)), await naive.moments(u));
    // Blocks of huge and tiny values (squares would overflow / underflow in float32).
    const extreme = new Float32Array(5000);
    for (let i = 0; i < extreme.length; i++) extreme[i] = i < 2500 ? 1e30 * (1 + i / 7) : 1e-30 * (1 + i / 11);
    checkMoments(await withVector(cpu, extreme, (v) => cpu.moments(v)), await naive.moments(extreme));
    const tiny = new Float32Array(3000).map((_, i) => 1e-42 * ((i % 5) - 2));
    checkMoments(await withVector(cpu, tiny, (v) => cpu.moments(v)), await naive.moments(tiny));
    for (const at of [0, 1, 1023, 1024, 4095, 299_999, 300_002]) {
      const w = u.slice();
      w[at] = at % 2 ? NaN : -Infinity;
      w[Math.min(at + 7, w.length - 1)] = Infinity;
      const m = await withVector(cpu, w, (v) => cpu.moments(v));
      expect(m.firstNonFinite).toBe(at);
    }
  });

  it('centralMoments match the oracle', async () => {
    await fc.assert(
      fc.asyncProperty(
        arrayOf(fc.float({ min: -1e6, max: 1e6, noNaN: true }), 1500),
        fc.float({ min: -10, max: 10, noNaN: true }),
        async (u, mean) => {
          checkCentral(
            await withVector(cpu, u, (v) => cpu.centralMoments(v, mean)),
            await naive.centralMoments(u, mean),
            u,
            mean,
          );
        },
      ),
      RUNS,
    );
    const u = normalData(300_001, 6);
    checkCentral(
      await withVector(cpu, u, (v) => cpu.centralMoments(v, 0.01)),
      await naive.centralMoments(u, 0.01),
      u,
      0.01,
    );
  });

  it('histogram matches the oracle exactly', async () => {
    const range = fc.oneof(fc.double({ min: -10, max: 10, noNaN: true }), fc.constantFrom(0, -1, 1, 1e-40, 1e38));
    await fc.assert(
      fc.asyncProperty(anyVector, range, range, fc.integer({ min: 0, max: 70 }), async (u, a, b, bins) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        for (const [min, max] of [
          [lo, hi],
          [hi, lo],
        ] as const) {
          sameBits(
            await withVector(cpu, u, (v) => cpu.histogram(v, min, max, bins)),
            await naive.histogram(u, min, max, bins),
          );
        }
      }),
      RUNS,
    );
    const u = normalData(200_003, 7);
    sameBits(await withVector(cpu, u, (v) => cpu.histogram(v, -3, 3, 64)), await naive.histogram(u, -3, 3, 64));
  });
});

describe('CpuKernels: thresholds', () => {
  it('countAbove matches the oracle (1..20 thresholds, ties, negatives)', async () => {
    await fc.assert(
      fc.asyncProperty(
        anyVector.chain((u) => fc.tuple(fc.constant(u), thresholdsFor(u, 20))),
        async ([u, thresholds]) => {
          const actual = await withVector(cpu, u, (v) => cpu.countAbove(v, thresholds));
          expect(actual).toEqual(await naive.countAbove(u, thresholds));
        },
      ),
      RUNS,
    );
  });

  it('compactAbove matches the oracle', async () => {
    await fc.assert(
      fc.asyncProperty(
        anyVector.chain((u) => fc.tuple(fc.constant(u), thresholdsFor(u, 1))),
        async ([u, [threshold]]) => {
          const t = threshold ?? 0;
          sameSparse(await withVector(cpu, u, (v) => cpu.compactAbove(v, t)), await naive.compactAbove(u, t));
        },
      ),
      RUNS,
    );
  });

  it('countAbove and compactAbove on a large vector (SIMD body, tail, multi-chunk output)', async () => {
    const u = normalData(300_005, 8);
    u[300_004] = 9; // only in the scalar tail
    u[17] = -0;
    const thresholds = [-1, 0, 0.5, 1, 2, 3, 3.29, 4, 8.5, 10].map(Math.fround);
    await withVector(cpu, u, async (v) => {
      expect(await cpu.countAbove(v, thresholds)).toEqual(await naive.countAbove(u, thresholds));
      for (const t of [-1, 0, 3.29, 8.5]) {
        sameSparse(await cpu.compactAbove(v, Math.fround(t)), await naive.compactAbove(u, Math.fround(t)));
      }
    });
  });
});

describe('CpuKernels: selection', () => {
  it('topk matches the oracle, with and without hints, on both selection paths', async () => {
    await fc.assert(
      fc.asyncProperty(
        vectorAndK,
        fc.oneof(fc.constant(undefined), fc.double({ min: -1, max: 4, noNaN: true })),
        async ([u, k], hint) => {
          const expected = await naive.topk(u, k);
          // A valid hint: a threshold that at least k coordinates exceed.
          const magnitudes = Array.from(u, Math.abs).sort((a, b) => b - a);
          const options = [magnitudes[k], magnitudes[Math.min(u.length - 1, 2 * k)]].filter((t) => t !== undefined);
          const counts = await naive.countAbove(u, options);
          const valid = options.find((_, i) => counts[i]! >= k) ?? -1;
          for (const kernels of [cpu, sampled]) {
            await withVector(kernels, u, async (v) => {
              sameSparse(await kernels.topk(v, k), expected);
              sameSparse(await kernels.topk(v, k, valid), expected);
              // An arbitrary (possibly wrong) hint must not change the result either.
              sameSparse(await kernels.topk(v, k, hint === undefined ? undefined : Math.fround(hint)), expected);
            });
          }
        },
      ),
      RUNS,
    );
  });

  it('topk on large vectors: radix paths, ties, constant, all-zero, non-finite, k = d', async () => {
    const n = 300_001;
    const gaussian = normalData(n, 9);
    const ties = Float32Array.from(normalData(n, 10), (x) => Math.round(x * 2) / 2);
    const constant = new Float32Array(n).fill(-1.5);
    const zeros = new Float32Array(n);
    const withNaN = normalData(n, 11);
    withNaN[5] = NaN;
    withNaN[n - 1] = -Infinity;
    withNaN[1000] = Infinity;
    const cases: [string, Float32Array, number[]][] = [
      ['gaussian', gaussian, [1, 2, 300, 3000, 30_000, 150_000, n - 1, n]],
      ['ties', ties, [1, 300, 3000, 100_000, n - 1]],
      ['constant', constant, [1, 300, n - 1, n]],
      ['zeros', zeros, [1, 3000, n]],
      ['non-finite', withNaN, [1, 2, 3, 300]],
    ];
    for (const [, u, ks] of cases) {
      const expectedFor = topkOracle(u);
      await withVector(cpu, u, async (v) => {
        for (const k of ks) {
          const expected = expectedFor(k);
          sameSparse(await cpu.topk(v, k), expected);
          sameSparse(await cpu.topk(v, k, -1), expected);
        }
      });
    }
    // Hints on the gaussian: valid (many candidates / few candidates) and invalid (too high).
    const expectedFor = topkOracle(gaussian);
    await withVector(cpu, gaussian, async (v) => {
      for (const hint of [0.5, 2.5, 3.4, 100]) sameSparse(await cpu.topk(v, 300, Math.fround(hint)), expectedFor(300));
    });
  });

  it('randomSubset matches the oracle', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3000 }).chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 1, max: n }))),
        fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: -1000, max: 1000 })),
        async ([n, k], seed) => {
          const actual = await cpu.randomSubset(n, k, seed);
          expect(actual).toBeInstanceOf(Uint32Array);
          sameBits(actual, await naive.randomSubset(n, k, seed));
        },
      ),
      RUNS,
    );
    expect((await cpu.randomSubset(0, 5, 1)).length).toBe(0);
  });

  it('randomSubset on a large length: sampled and whole paths', async () => {
    const n = 300_007;
    for (const seed of [0, 12345, 0xdeadbeef]) {
      const order = largestKeys(
        Array.from({ length: n }, (_, i) => randomKey(seed, i)),
        n,
      );
      for (const k of [1, 300, 3000, 100_000, n - 1, n]) {
        sameBits(await cpu.randomSubset(n, k, seed), Uint32Array.from(order.slice(0, k)).sort());
      }
    }
  });
});
