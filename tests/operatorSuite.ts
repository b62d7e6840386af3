/**
 * The behaviour every backend must show through the compressor, written once and run per
 * backend (TF.js style): exactness, conservation, determinism, Gaussian_k's count, the edge
 * cases of the engine issue, statistics, and identical output to the naive oracle.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SPARSIFIER_METHODS, sparsifierConfigSchema, type SparsifierConfigInput } from '../common/sparsifier';
import { Compressor, NonFiniteGradientError, type Compressed } from '../gpu/compression';
import type { Kernels } from '../gpu/kernels/kernels';
import { normalData } from '../common/normalData';
import type { BackendCase } from './backends';
import { magnitudeBits, NaiveKernels } from './oracle/naiveKernels';

const SPARSE_METHODS = SPARSIFIER_METHODS.filter((m) => m !== 'dense');
/** Operators whose threshold comes from u's moments rather than from one of u's own values. */
const MOMENT_THRESHOLDS = new Set(['gaussiank', 'trimmedk']);

export interface SuiteSizes {
  /** Largest random vector in property tests. */
  maxLength: number;
  /** Property-test runs per property. */
  runs: number;
  /** Length of the normal vectors used for Gaussian_k's count and the statistics. */
  normalLength: number;
}

function config(input: SparsifierConfigInput) {
  return sparsifierConfigSchema.parse(input);
}

function sparse(c: Compressed) {
  if (c.kind !== 'sparse') throw new Error('expected a sparse result');
  return c;
}

/** Float32 vectors with ties, signed zeros, subnormals and wide magnitudes. */
export function gradientArbitrary(maxLength: number) {
  const special = fc.constantFrom(0, -0, 1, -1, 1e-40, -1e-40, 1.5e-45, 3.4e38, -3.4e38, 0.5, -0.5);
  const value = fc.oneof(fc.float({ noNaN: true, noDefaultInfinity: true }), special, fc.integer({ min: -3, max: 3 }));
  return fc.array(value, { minLength: 1, maxLength }).map((xs) => Float32Array.from(xs));
}

export function defineOperatorSuite(backend: BackendCase, sizes: SuiteSizes): void {
  describe(`operators on ${backend.name}`, () => {
    let kernels: Kernels;
    const oracle = new NaiveKernels();
    beforeAll(async () => {
      kernels = await backend.create();
    });
    afterAll(() => (kernels as { destroy?: () => void } | undefined)?.destroy?.());

    async function compressOnce(
      method: (typeof SPARSIFIER_METHODS)[number],
      data: Float32Array,
      extra: Partial<SparsifierConfigInput> = {},
    ) {
      const c = new Compressor(kernels, config({ method, density: 0.1, ...extra }), 'layer1', data.length);
      const g = kernels.upload(data);
      try {
        return await c.compress(g, { step: 0, statistics: { histogramBins: 8 } });
      } finally {
        kernels.release(g);
        c.release();
      }
    }

    it('Top_k returns a valid top-k: k coordinates, none smaller than any left out, ties to the lower index', async () => {
      await fc.assert(
        fc.asyncProperty(
          gradientArbitrary(sizes.maxLength),
          fc.double({ min: 0.01, max: 1, noNaN: true }),
          async (data, density) => {
            const { compressed, k } = await compressOnce('topk', data, { density, errorFeedback: false });
            const { indices, values } = sparse(compressed);
            expect(indices.length).toBe(k);
            const chosen = new Set(indices);
            const kept = Array.from(indices, (i) => magnitudeBits(data[i]!));
            const weakest = Math.min(...kept);
            for (let i = 0; i < data.length; i++) {
              if (chosen.has(i)) continue;
              const bits = magnitudeBits(data[i]!);
              expect(bits).toBeLessThanOrEqual(weakest);
              // A tie left out must come after every chosen tie.
              if (bits === weakest)
                expect(indices.filter((j) => magnitudeBits(data[j]!) === weakest).every((j) => j < i)).toBe(true);
            }
            expect(Array.from(values)).toEqual(Array.from(indices, (i) => data[i]));
          },
        ),
        { numRuns: sizes.runs },
      );
    });

    it('matches the naive oracle exactly, for every operator', async () => {
      await fc.assert(
        fc.asyncProperty(
          gradientArbitrary(sizes.maxLength),
          fc.constantFrom(...SPARSE_METHODS),
          fc.double({ min: 0.01, max: 1, noNaN: true }),
          fc.nat(1000),
          async (data, method, density, seed) => {
            const ours = await compressOnce(method, data, { density, seed });
            const reference = new Compressor(oracle, config({ method, density, seed }), 'layer1', data.length);
            const expected = await reference.compress(oracle.upload(data), { step: 0 });
            const indices = Array.from(sparse(ours.compressed).indices);
            if (ours.threshold === expected.threshold || !MOMENT_THRESHOLDS.has(method)) {
              expect(indices).toEqual(Array.from(sparse(expected.compressed).indices));
              expect(Array.from(sparse(ours.compressed).values)).toEqual(
                Array.from(sparse(expected.compressed).values),
              );
              if (!MOMENT_THRESHOLDS.has(method)) expect(ours.threshold).toBe(expected.threshold);
            } else {
              // A threshold made from sums (mean, std) may differ in its last bits where a backend sums in float32
              // (WGSL has no float64): it must stay within float32 rounding of the oracle's, and the selection
              // must be exactly what that threshold selects.
              expect(Math.abs(ours.threshold! - expected.threshold!)).toBeLessThanOrEqual(
                1e-5 * Math.abs(expected.threshold!),
              );
              const atOurs =
                method === 'gaussiank' ? await oracle.compactAbove(data, ours.threshold!) : sparse(expected.compressed);
              expect(indices).toEqual(Array.from(atOurs.indices));
            }
          },
        ),
        { numRuns: sizes.runs },
      );
    });

    it('conserves u = C(u) + e exactly, per coordinate, across steps with error feedback', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...SPARSE_METHODS),
          fc.array(gradientArbitrary(64), { minLength: 1, maxLength: 3 }),
          async (method, rawSteps) => {
            const d = rawSteps[0]!.length;
            const steps = rawSteps.map((s) => Float32Array.from({ length: d }, (_, i) => s[i % s.length]! / 4));
            const compressor = new Compressor(kernels, config({ method, density: 0.25 }), 'w', d);
            let residual: Float32Array = new Float32Array(d);
            for (const [step, gradient] of steps.entries()) {
              const u = gradient.map((g, i) => Math.fround(g + residual[i]!));
              const g = kernels.upload(gradient);
              const { compressed } = await compressor.compress(g, { step });
              kernels.release(g);
              residual = await compressor.residual!.read();
              const sent = new Float32Array(d);
              const { indices, values } = sparse(compressed);
              indices.forEach((index, j) => (sent[index] = values[j]!));
              for (let i = 0; i < d; i++)
                expect(Object.is(sent[i]! + residual[i]!, u[i]) || sent[i]! + residual[i]! === u[i]).toBe(true);
              for (const index of indices) expect(residual[index]).toBe(0);
            }
            compressor.release();
          },
        ),
        { numRuns: Math.max(5, sizes.runs >> 1) },
      );
    });

    it('draws Rand_k and DGC_k reproducibly: same seed and step, same selection; a new step draws anew', async () => {
      const data = normalData(Math.min(sizes.normalLength, 20_000), 7);
      for (const method of ['randk', 'dgck'] as const) {
        const run = async (seed: number, step: number) => {
          const c = new Compressor(
            kernels,
            config({ method, density: 0.01, seed, errorFeedback: false }),
            'w',
            data.length,
          );
          const g = kernels.upload(data);
          const out = sparse((await c.compress(g, { step })).compressed).indices;
          kernels.release(g);
          return Array.from(out);
        };
        expect(await run(5, 3)).toEqual(await run(5, 3));
        if (method === 'randk') {
          expect(await run(5, 3)).not.toEqual(await run(5, 4));
          expect(await run(5, 3)).not.toEqual(await run(6, 3));
        }
      }
    });

    it("keeps Gaussian_k's count within [2k/3, 4k/3] on normal data", async () => {
      for (const density of [0.01, 0.001]) {
        for (const seed of [1, 2, 3]) {
          const data = normalData(sizes.normalLength, seed);
          const { compressed, k } = await compressOnce('gaussiank', data, { density, errorFeedback: false });
          const selected = sparse(compressed).indices.length;
          expect(selected).toBeGreaterThanOrEqual((2 * k) / 3);
          expect(selected).toBeLessThanOrEqual((4 * k) / 3);
        }
      }
    });

    it('measures statistics that agree with an independent computation', async () => {
      const data = normalData(sizes.normalLength, 11).map((x) => x * 0.02 + 0.001);
      const { statistics, compressed, k } = await compressOnce('gaussiank', data, {
        density: 0.01,
        errorFeedback: false,
      });
      const s = statistics!;
      const d = data.length;
      const values = Array.from(data);
      const mean = values.reduce((a, b) => a + b, 0) / d;
      const central = (p: number) => values.reduce((a, x) => a + (x - mean) ** p, 0) / d;
      const norm2 = values.reduce((a, x) => a + x * x, 0);
      const sent = new Set(sparse(compressed).indices);
      const residual2 = values.reduce((a, x, i) => a + (sent.has(i) ? 0 : x * x), 0);
      const byMagnitude = values.map((x, i) => [Math.abs(x), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
      const top = new Set(byMagnitude.slice(0, k).map(([, i]) => i));
      const topResidual2 = values.reduce((a, x, i) => a + (top.has(i) ? 0 : x * x), 0);
      expect(s.d).toBe(d);
      expect(s.k).toBe(k);
      expect(s.selected).toBe(sent.size);
      expect(s.mean).toBeCloseTo(mean, 6);
      expect(s.std).toBeCloseTo(Math.sqrt(central(2)), 6);
      expect(s.skewness).toBeCloseTo(central(3) / central(2) ** 1.5, 2);
      expect(s.excessKurtosis).toBeCloseTo(central(4) / central(2) ** 2 - 3, 2);
      expect(s.rho).toBeCloseTo(residual2 / norm2, 5);
      expect(s.rhoTopk).toBeCloseTo(topResidual2 / norm2, 5);
      expect(s.rhoTopk).toBeLessThan(s.boundGaussian);
      expect(s.boundGeneral).toBeCloseTo(1 - k / d, 12);
      expect(s.boundGaussian).toBeCloseTo((1 - k / d) ** 2, 12);
      expect(s.delta).toBeCloseTo((2 * k * d - k * k) / (d * d), 12);
      expect(s.overlap).toBeCloseTo([...sent].filter((i) => top.has(i)).length / k, 12);
      expect(s.histogram!.counts.reduce((a, b) => a + b, 0)).toBe(d);
    });

    describe('edge cases', () => {
      it('density 1 and k > d select every coordinate', async () => {
        const data = Float32Array.from([3, -1, 0, 2]);
        for (const method of SPARSE_METHODS.filter((m) => m !== 'gaussiank' && m !== 'dgck')) {
          expect(Array.from(sparse((await compressOnce(method, data, { density: 1 })).compressed).indices)).toEqual([
            0, 1, 2, 3,
          ]);
          expect(
            Array.from(sparse((await compressOnce(method, data, { density: undefined, k: 99 })).compressed).indices),
          ).toEqual([0, 1, 2, 3]);
        }
      });

      it('d = 1 keeps its only coordinate (k is at least 1)', async () => {
        for (const method of ['topk', 'trimmedk', 'randk', 'dgck'] as const) {
          const out = sparse((await compressOnce(method, Float32Array.of(-2.5), { density: 0.001 })).compressed);
          expect(Array.from(out.indices)).toEqual([0]);
          expect(Array.from(out.values)).toEqual([-2.5]);
        }
      });

      it('all zeros: Top_k takes the lowest indices; Gaussian_k, whose threshold is 0, selects nothing', async () => {
        const zeros = new Float32Array(10);
        expect(Array.from(sparse((await compressOnce('topk', zeros, { density: 0.3 })).compressed).indices)).toEqual([
          0, 1, 2,
        ]);
        expect(sparse((await compressOnce('gaussiank', zeros, { density: 0.3 })).compressed).indices.length).toBe(0);
        expect((await compressOnce('topk', zeros, { density: 0.3 })).statistics!.rho).toBe(0);
      });

      it('constant vectors: Top_k breaks the ties by index; Gaussian_k follows the reference walk to all', async () => {
        const constant = new Float32Array(12).fill(-0.75);
        expect(
          Array.from(sparse((await compressOnce('topk', constant, { density: 0.25 })).compressed).indices),
        ).toEqual([0, 1, 2]);
        // thr = |mean| selects none -> halved selects all -> x1.5 (0.5625) still selects all, kept.
        expect(sparse((await compressOnce('gaussiank', constant, { density: 0.25 })).compressed).indices.length).toBe(
          12,
        );
      });

      it('ties at the threshold, negative zero and subnormals order by magnitude bits', async () => {
        // 1e-45 rounds to the smallest subnormal (2^-149); 3e-45 to twice it.
        const data = Float32Array.from([-0, 1e-45, 0, -1e-45, 3e-45, 5, -5, 5]);
        expect(
          Array.from(sparse((await compressOnce('topk', data, { density: undefined, k: 2 })).compressed).indices),
        ).toEqual([5, 6]);
        expect(
          Array.from(sparse((await compressOnce('topk', data, { density: undefined, k: 5 })).compressed).indices),
        ).toEqual([1, 4, 5, 6, 7]);
        expect(
          Array.from(sparse((await compressOnce('topk', data, { density: undefined, k: 7 })).compressed).indices),
        ).toEqual([0, 1, 3, 4, 5, 6, 7]);
      });

      it('refuses NaN and infinities, naming the tensor and the first bad index, and keeps the residual', async () => {
        for (const bad of [NaN, Infinity, -Infinity]) {
          const compressor = new Compressor(kernels, config({ method: 'topk', density: 0.5 }), 'conv1.weight', 6);
          const g = kernels.upload(Float32Array.from([1, 2, 3, 4, bad, bad]));
          const error = await compressor.compress(g, { step: 0 }).catch((e: unknown) => e);
          expect(error).toBeInstanceOf(NonFiniteGradientError);
          expect((error as NonFiniteGradientError).index).toBe(4);
          expect((error as Error).message).toContain('conv1.weight');
          expect((error as Error).message).toContain('index 4');
          expect(Array.from(await compressor.residual!.read())).toEqual([0, 0, 0, 0, 0, 0]);
          kernels.release(g);
          compressor.release();
        }
      });

      it('Dense sends the whole vector and keeps no residual', async () => {
        const data = Float32Array.from([1, -2, 3]);
        const result = await compressOnce('dense', data);
        expect(result.compressed.kind).toBe('dense');
        expect(Array.from(result.compressed.values)).toEqual([1, -2, 3]);
        expect(result.statistics!.rho).toBe(0);
      });
    });
  });
}
