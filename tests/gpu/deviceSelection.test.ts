/**
 * Selections decided on the GPU (Kernels.selectOnDevice) against the same operators composed on
 * the host (selectOnHost): identical indices, values and thresholds, the finiteness check, and
 * one read-back per selection.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SPARSE_METHODS, type SparseMethod } from '../../common/bench';
import { sparsifierConfigSchema } from '../../common/sparsifier';
import { Compressor, compressAll, type CompressResult } from '../../gpu/compression';
import { createCpuKernels } from '../../gpu/kernels/cpu/index';
import type { DeviceSelection, Kernels } from '../../gpu/kernels/kernels';
import { createWebGpuKernels, type WebGpuKernels } from '../../gpu/kernels/webgpu/index';
import { selectOnHost } from '../../gpu/operators/run';
import { gradientArbitrary } from '../operatorSuite';
import { normalData } from '../../common/normalData';
import { testDevice } from './helpers';

/** Operators whose threshold comes from u's moments, which the CPU backend sums differently. */
const MOMENT_THRESHOLDS = new Set<SparseMethod>(['gaussiank', 'trimmedk']);

let gpu: WebGpuKernels;
let cpu: Kernels;
beforeAll(async () => {
  // Few, large workgroups (as on SwiftShader), and rows of 6 to exercise 2-D indirect dispatches.
  gpu = await createWebGpuKernels((await testDevice()).device, { maxWorkgroupsPerDimension: 6 });
  cpu = await createCpuKernels();
});
afterAll(() => {
  gpu.destroy();
  (cpu as { destroy?: () => void }).destroy?.();
});

function plain(result: DeviceSelection) {
  const s = result.selection!;
  return { indices: Array.from(s.indices), values: Array.from(s.values), threshold: s.threshold };
}

async function onDevice(data: Float32Array, method: SparseMethod, k: number, seed: number) {
  const u = gpu.upload(data);
  try {
    const before = gpu.counters.readbacks;
    const [device] = await gpu.selectOnDevice([{ u, method, request: { k, seed, sampleRatio: 0.05 } }]);
    const readbacks = gpu.counters.readbacks - before;
    const host = await selectOnHost(gpu, u, method, { k, seed, sampleRatio: 0.05 });
    return { device: device!, host, readbacks };
  } finally {
    gpu.release(u);
  }
}

async function onCpu(data: Float32Array, method: SparseMethod, k: number, seed: number) {
  const u = cpu.upload(data);
  try {
    return await selectOnHost(cpu, u, method, { k, seed, sampleRatio: 0.05 });
  } finally {
    cpu.release(u);
  }
}

describe('selectOnDevice (WebGPU)', () => {
  it('equals the operator composed on the host, and the CPU backend, for every operator', async () => {
    await fc.assert(
      fc.asyncProperty(
        gradientArbitrary(3000),
        fc.constantFrom(...SPARSE_METHODS),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.nat(1000),
        async (data, method, fraction, seed) => {
          const k = Math.max(1, Math.min(data.length, Math.round(fraction * data.length)));
          const { device, host, readbacks } = await onDevice(data, method, k, seed);
          expect(device.firstNonFinite).toBe(-1);
          expect(plain(device)).toEqual(plain(host));
          if (!MOMENT_THRESHOLDS.has(method)) expect(plain(device)).toEqual(plain(await onCpu(data, method, k, seed)));
          // Gaussian_k completes on the host when its selection outgrows the capacity.
          if (method !== 'gaussiank') expect(readbacks, `${method} k=${k} of ${data.length}`).toBe(1);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('decides on normal data with one read-back, over many blocks and candidate passes', async () => {
    for (const [d, seed] of [
      [50_000, 1],
      [120_000, 2],
    ] as const) {
      const data = normalData(d, seed);
      for (const density of [0.001, 0.01, 0.1]) {
        const k = Math.round(density * d);
        for (const method of SPARSE_METHODS) {
          const { device, host, readbacks } = await onDevice(data, method, k, seed);
          expect(plain(device), `${method} d=${d} density=${density}`).toEqual(plain(host));
          expect(readbacks, `${method} d=${d} density=${density}`).toBe(1);
        }
      }
    }
  });

  it('reports the first NaN or infinity instead of a selection', async () => {
    for (const method of SPARSE_METHODS) {
      const data = normalData(5000, 3);
      data[4321] = Infinity;
      data[777] = NaN;
      const { device } = await onDevice(data, method, 50, 1);
      expect(device.firstNonFinite, method).toBe(777);
      expect(device.selection).toBeNull();
    }
  });

  it('takes a whole tie group and a bucket that holds exactly the keys needed', async () => {
    // 300 copies of 2 (one radix bucket), 100 of 3: k = 100 is the bucket above; k = 400 all.
    const data = Float32Array.from({ length: 1000 }, (_, i) => (i % 10 < 3 ? 2 : i % 10 === 3 ? -3 : 0.5));
    for (const k of [100, 250, 400, 401]) {
      const { device, host, readbacks } = await onDevice(data, 'topk', k, 0);
      expect(plain(device), `k=${k}`).toEqual(plain(host));
      expect(readbacks).toBe(1);
    }
  });

  it('reads all of d again when the boundary bucket holds more candidates than fit', async () => {
    // 20,000 equal magnitudes: every coordinate is a candidate, far beyond the 4096 kept.
    const data = Float32Array.from({ length: 20_000 }, (_, i) => (i % 3 === 0 ? -1.25 : 1.25));
    data[12_345] = 7;
    for (const method of ['topk', 'trimmedk', 'dgck'] as const) {
      const { device, host, readbacks } = await onDevice(data, method, 10, 4);
      expect(plain(device), method).toEqual(plain(host));
      expect(plain(device).indices, method).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 12_345]);
      expect(readbacks).toBe(1);
    }
  });

  it("compresses a model's tensors with one read-back per step, as one by one", async () => {
    const lengths = [3000, 40, 1, 700, 5000];
    const build = () =>
      lengths.map((length, i) => {
        const method = SPARSE_METHODS[i % SPARSE_METHODS.length]!;
        return new Compressor(gpu, sparsifierConfigSchema.parse({ method, density: 0.05 }), `t${i}`, length);
      });
    const batched = build();
    const single = build();
    const plainResult = (r: CompressResult) => ({
      ...r,
      compressed: JSON.stringify(r.compressed, (_, v) => (ArrayBuffer.isView(v) ? Array.from(v as Float32Array) : v)),
    });
    for (let step = 0; step < 3; step++) {
      const gradients = lengths.map((length, i) => gpu.upload(normalData(length, 10 * step + i + 1)));
      const before = gpu.counters.readbacks;
      const together = await compressAll(
        batched.map((compressor, i) => ({ compressor, gradient: gradients[i]! })),
        { step },
      );
      expect(gpu.counters.readbacks - before).toBe(1);
      const oneByOne: CompressResult[] = [];
      for (const [i, compressor] of single.entries()) oneByOne.push(await compressor.compress(gradients[i]!, { step }));
      expect(together.map(plainResult)).toEqual(oneByOne.map(plainResult));
      gradients.forEach((g) => gpu.release(g));
    }
    for (const [i, compressor] of batched.entries())
      expect(Array.from(await compressor.residual!.read())).toEqual(Array.from(await single[i]!.residual!.read()));
    [...batched, ...single].forEach((c) => c.release());
  });
});
