/**
 * Backend parity: the WebGPU kernels and the CPU (WebAssembly) kernels on the same inputs give the
 * same indices, values and counts, and moments within float tolerance of each other.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Kernels } from '../../gpu/kernels/kernels';
import { createCpuKernels } from '../../gpu/kernels/cpu/index';
import { createWebGpuKernels, type WebGpuKernels } from '../../gpu/kernels/webgpu/index';
import { expectClose, expectSameFloats, expectSameIndices, testDevice, uncaptured, vector } from './helpers';

/** The smallest normal float32: below it WGSL may flush values to zero. */
const FLT_MIN = 2 ** -126;

type AnyKernels = Kernels<unknown>;

const cpu: AnyKernels = await createCpuKernels();

let gpu: WebGpuKernels;

beforeAll(async () => {
  const { device, isSoftware } = await testDevice();
  gpu = await createWebGpuKernels(device, { isSoftware });
});

afterAll(() => {
  gpu?.destroy();
  expect(uncaptured).toEqual([]);
});

/** Runs `body` on both backends with the same data uploaded. */
async function both<T>(data: Float32Array, body: (k: AnyKernels, v: unknown) => Promise<T>): Promise<[T, T]> {
  const results: T[] = [];
  for (const k of [cpu!, gpu as AnyKernels]) {
    const v = k.upload(data);
    try {
      results.push(await body(k, v));
    } finally {
      k.release(v);
    }
  }
  return results as [T, T];
}

const RUNS = Number(process.env.SPARSELAB_GPU_RUNS ?? 12);

describe('WebGPU and CPU backends agree', () => {
  test('topk, compactAbove and countAbove', async () => {
    await fc.assert(
      fc.asyncProperty(
        vector({ nonFinite: true, maxLength: 3000 }),
        fc.double({ min: 0, max: 1 }),
        async (data, fraction) => {
          const k0 = Math.max(1, Math.min(data.length, Math.ceil(fraction * data.length)));
          const [a, b] = await both(data, (k, v) => k.topk(v, k0));
          expectSameIndices(b.indices, a.indices, 'topk indices');
          expectSameFloats(b.values, a.values, 'topk values');
          const threshold = Math.abs(data[Math.floor(fraction * (data.length - 1))]!);
          const [ca, cb] = await both(data, (k, v) => k.compactAbove(v, threshold));
          expectSameIndices(cb.indices, ca.indices, 'compactAbove indices');
          expectSameFloats(cb.values, ca.values, 'compactAbove values');
          const thresholds = [threshold, -1, 0, 0.5, 1e30];
          const [na, nb] = await both(data, (k, v) => k.countAbove(v, thresholds));
          expect(nb).toEqual(na);
        },
      ),
      { numRuns: RUNS },
    );
  });

  test('randomSubset', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 20000 }),
        fc.double({ min: 0, max: 1 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        async (length, fraction, seed) => {
          const k0 = Math.max(1, Math.min(length, Math.ceil(fraction * length)));
          expectSameIndices(await gpu.randomSubset(length, k0, seed), await cpu!.randomSubset(length, k0, seed));
        },
      ),
      { numRuns: RUNS },
    );
  });

  test('addInto, zeroAt, gather, histogram', async () => {
    await fc.assert(
      fc.asyncProperty(vector({ nonFinite: true }), async (data) => {
        const indices = Uint32Array.from({ length: Math.ceil(data.length / 3) }, (_, i) => (i * 7919) % data.length);
        const [a, b] = await both(data, async (k, v) => {
          const w = k.upload(data.slice().reverse());
          k.addInto(v, w);
          k.release(w);
          const gathered = await k.gather(v, indices);
          k.zeroAt(v, indices);
          const histogram = await k.histogram(v, -2, 3, 17);
          return { gathered, histogram, after: await k.download(v) };
        });
        expectSameFloats(b.gathered, a.gathered, 'gather');
        expectSameFloats(b.after, a.after, 'addInto + zeroAt');
        expectSameIndices(b.histogram, a.histogram, 'histogram');
      }),
      { numRuns: RUNS },
    );
  });

  test('moments and centralMoments', async () => {
    await fc.assert(
      fc.asyncProperty(vector({ nonFinite: true }), async (data) => {
        const [a, b] = await both(data, (k, v) => k.moments(v));
        expect(b.firstNonFinite).toBe(a.firstNonFinite);
        if (a.firstNonFinite >= 0) return;
        expect(b.maxAbs).toBe(a.maxAbs);
        expectClose(b.sum, a.sum, a.sumAbs, 2e-5, 'sum');
        expectClose(b.sumSquares, a.sumSquares, a.sumSquares, 2e-5, 'sumSquares');
        const mean = a.sum / data.length;
        const [ca, cb] = await both(data, (k, v) => k.centralMoments(v, mean));
        // WGSL may flush subnormals (the mean too, a float32 uniform): on data made only of them the
        // moments may differ by up to n * FLT_MIN^p, values no float32 gradient statistic can hold.
        expectClose(cb.m2, ca.m2, ca.m2, 2e-5, 'm2', data.length * FLT_MIN ** 2);
        expectClose(cb.m4, ca.m4, ca.m4, 2e-5, 'm4', data.length * FLT_MIN ** 4);
      }),
      { numRuns: RUNS },
    );
  });
});
