/**
 * Shared pieces of the WebGPU kernel tests: one device per test file, float32 data generators
 * that favour the hard cases (ties, -0, subnormals, huge values, NaN/Inf), and comparisons.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import { acquireGpuDevice, type AcquiredGpuDevice } from '../../gpu/webgpuDevice/device';

let acquired: Promise<AcquiredGpuDevice> | null = null;

/** The file's device (vitest runs each test file in its own process). */
export function testDevice(): Promise<AcquiredGpuDevice> {
  acquired ??= acquireGpuDevice().then((result) => {
    result.device.addEventListener('uncapturederror', (event) => {
      const message = (event as GPUUncapturedErrorEvent).error.message;
      // Surface GPU validation errors: they would otherwise only show up as wrong results.
      console.error(`uncaptured WebGPU error: ${message}`);
      uncaptured.push(message);
    });
    return result;
  });
  return acquired;
}

export const uncaptured: string[] = [];

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function bitsOf(x: number): number {
  f32[0] = x;
  return u32[0]!;
}

export function floatOfBits(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0]!;
}

/** Values that exercise magnitude-on-bits comparisons and exact arithmetic. */
export const SPECIAL_VALUES: readonly number[] = [
  0,
  -0,
  floatOfBits(0x00000001), // smallest subnormal
  floatOfBits(0x80000001),
  floatOfBits(0x00400000), // mid subnormal
  floatOfBits(0x807fffff), // largest subnormal, negative
  floatOfBits(0x00800000), // smallest normal
  floatOfBits(0x1a800000), // 2^-74: tiny normal
  1,
  -1,
  0.5,
  -0.5,
  Math.fround(0.1),
  Math.fround(-0.1),
  3.4028234663852886e38, // max float32
  -3.4028234663852886e38,
  1e20,
  -1e20,
  Math.fround(1e-30),
];

export interface VectorOptions {
  minLength?: number;
  maxLength?: number;
  /** Include NaN and +-Inf (default false). */
  nonFinite?: boolean;
  /** Include values near the float32 range ends (default true). */
  huge?: boolean;
}

/** A float32 element: specials, ties from a small set, or any finite float32. */
export function element(options: VectorOptions = {}): fc.Arbitrary<number> {
  const specials = SPECIAL_VALUES.filter((x) => options.huge !== false || Math.abs(x) < 1e10);
  const arbs: fc.Arbitrary<number>[] = [
    fc.constantFrom(...specials),
    fc.integer({ min: -4, max: 4 }).map((x) => x * 0.25),
    fc.float({ noNaN: true, noDefaultInfinity: true, min: -1000, max: 1000 }),
  ];
  if (options.huge !== false) arbs.push(fc.float({ noNaN: true, noDefaultInfinity: true }));
  if (options.nonFinite) arbs.push(fc.constantFrom(NaN, Infinity, -Infinity));
  return fc.oneof(...arbs);
}

/** A float32 vector whose length is either one of the interesting sizes or random. */
export function vector(options: VectorOptions = {}): fc.Arbitrary<Float32Array> {
  const minLength = options.minLength ?? 1;
  const maxLength = options.maxLength ?? 1500;
  const sizes = [1, 3, 257, 1000, 1025, maxLength].filter((n) => n >= minLength && n <= maxLength);
  const length = fc.oneof(fc.constantFrom(...sizes), fc.integer({ min: minLength, max: maxLength }));
  const shapes = (n: number): fc.Arbitrary<Float32Array> =>
    fc.oneof(
      {
        weight: 6,
        arbitrary: fc.array(element(options), { minLength: n, maxLength: n }).map((a) => Float32Array.from(a)),
      },
      // Constant vectors (all ties), all zeros and mixed-sign zeros.
      { weight: 1, arbitrary: element(options).map((x) => new Float32Array(n).fill(x)) },
      { weight: 1, arbitrary: fc.constant(new Float32Array(n)) },
      {
        weight: 1,
        arbitrary: fc
          .array(fc.constantFrom(0, -0, 1, -1), { minLength: n, maxLength: n })
          .map((a) => Float32Array.from(a)),
      },
    );
  return length.chain(shapes);
}

/** Same float32 values: equal bit patterns, or both NaN. */
export function expectSameFloats(actual: Float32Array, expected: Float32Array, what = 'values'): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(a) && Number.isNaN(e)) continue;
    if (bitsOf(a) !== bitsOf(e)) {
      expect.fail(`${what}[${i}]: got ${a} (0x${bitsOf(a).toString(16)}), expected ${e} (0x${bitsOf(e).toString(16)})`);
    }
  }
}

export function expectSameIndices(actual: Uint32Array, expected: Uint32Array, what = 'indices'): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) expect.fail(`${what}[${i}]: got ${actual[i]}, expected ${expected[i]}`);
  }
}

/** |actual - expected| <= rel * scale + floor (by default far below float32 subnormals). */
export function expectClose(
  actual: number,
  expected: number,
  scale: number,
  rel: number,
  what: string,
  floor = 1e-300,
): void {
  if (!Number.isFinite(expected) || !Number.isFinite(actual)) {
    expect(
      Object.is(actual, expected) || (Number.isNaN(actual) && Number.isNaN(expected)),
      `${what}: ${actual} vs ${expected}`,
    ).toBe(true);
    return;
  }
  const tolerance = rel * Math.abs(scale) + floor;
  if (!(Math.abs(actual - expected) <= tolerance)) {
    expect.fail(`${what}: got ${actual}, expected ${expected} (tolerance ${tolerance})`);
  }
}

/** A deterministic vector of n values with many ties, for the large cases. */
export function largeVector(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const r = next();
    // 30% exact ties on a coarse grid, the rest spread over many magnitudes.
    out[i] = r < 0.3 ? Math.round((next() - 0.5) * 8) / 4 : (next() - 0.5) * 2 ** Math.floor(next() * 20 - 10);
  }
  return out;
}
