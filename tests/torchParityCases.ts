/**
 * The golden inputs SparseLab's side writes (gpu/torch/tests/fixtures/ts-*): edge cases the
 * operators must agree on, generated deterministically from the shared counter-based mixer.
 */
import type { SparsifierMethod } from '../common/sparsifier';
import { SPARSIFIER_METHODS } from '../common/sparsifier';
import { mix32 } from '../gpu/kernels/random/random';
import type { ParityRun } from './torchParity';

function uniform(i: number, salt: number): number {
  return (mix32((i ^ Math.imul(salt, 0x9e3779b9)) >>> 0) + 0.5) / 2 ** 32;
}

function fromBits(bits: number[]): Float32Array {
  return new Float32Array(Uint32Array.from(bits).buffer);
}

function generate(d: number, at: (i: number) => number): Float32Array {
  return Float32Array.from({ length: d }, (_, i) => at(i));
}

function normal(i: number, salt: number): number {
  return Math.sqrt(-2 * Math.log(uniform(i, salt))) * Math.cos(2 * Math.PI * uniform(i, salt + 1));
}

export interface ParityCase {
  name: string;
  data: Float32Array;
  /** Big inputs keep to small k so the fixtures stay small. */
  big?: boolean;
}

export const TS_CASES: ParityCase[] = [
  { name: 'ts-ties', data: generate(97, (i) => [1, -1, 2, -2, 0, -0, 3, 1][i % 8]!) },
  // Subnormals of both signs, zeros of both signs and one normal.
  {
    name: 'ts-subnormals',
    data: fromBits(
      Array.from({ length: 64 }, (_, i) =>
        i === 40 ? 0x3f800000 : i % 7 === 0 ? (i % 2) << 31 : ((mix32(i) & 0x7fffff) | ((i % 2) << 31)) >>> 0,
      ),
    ),
  },
  { name: 'ts-zeros', data: generate(50, (i) => (i % 3 === 0 ? -0 : 0)) },
  { name: 'ts-constant', data: generate(300, () => -0.375) },
  { name: 'ts-one', data: Float32Array.of(-2.5) },
  { name: 'ts-cauchy', data: generate(1000, (i) => Math.tan(Math.PI * (uniform(i, 3) - 0.5))) },
  { name: 'ts-normal-big', data: generate(40_000, (i) => 1e-3 * normal(i, 5)), big: true },
  { name: 'ts-heavy-big', data: generate(30_000, (i) => Math.tan(Math.PI * (uniform(i, 9) - 0.5)) * 1e-4), big: true },
  // Few distinct magnitudes over a big vector: ties decide most of the selection.
  { name: 'ts-ties-big', data: generate(20_000, (i) => ((mix32(i) % 5) - 2) * 0.25), big: true },
];

/** Every method at every density edge (big inputs: two small densities, no Dense, which would only store the input again). */
export function runsFor(c: ParityCase): ParityRun[] {
  const d = c.data.length;
  const targets: { density?: number; k?: number }[] = c.big
    ? [{ density: 0.001 }, { density: 0.01 }]
    : [
        { k: 1 },
        { density: 0.5 / d }, // floor(density * d) = 0: k = 1
        { density: 1 / d },
        { density: 0.1 },
        { density: 0.5 },
        { k: Math.max(1, d - 1) },
        { density: 1 },
        { k: d + 5 }, // clamped to d
      ];
  const methods: SparsifierMethod[] = SPARSIFIER_METHODS.filter((m) => !(c.big && m === 'dense'));
  return methods.flatMap((method) =>
    targets.map((target) => ({
      method,
      ...target,
      seed: 7,
      step: 3,
      sampleRatio: c.big ? 0.01 : 0.5,
      bins: 16,
    })),
  );
}
