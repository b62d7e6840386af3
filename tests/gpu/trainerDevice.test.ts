/**
 * Gradients that stay on the GPU: a model on tfjs-backend-webgpu hands its gradients to WGSL
 * kernels created on the backend's own GPUDevice (dataToGPU(), no host round trip), and the
 * compressors there select exactly what the CPU kernels select from the same gradients.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sparsifierConfigSchema, type SparsifierMethod } from '../../common/sparsifier';
import { ModelCompression, type CompressResult } from '../../gpu/compression';
import { createCpuKernels, type CpuKernels } from '../../gpu/kernels/cpu';
import { createWebGpuKernels, type WebGpuKernels } from '../../gpu/kernels/webgpu';
import type { ClassificationBatch, DatasetInfo } from '../../gpu/worker/data';
import { buildModel, initTensorflow, modelGpuDevice, type TrainableModel } from '../../gpu/worker/models';

const MNIST: DatasetInfo = { name: 'mnist', task: 'classification', inputShape: [28, 28, 1], numClasses: 10 };

function batchOf(step: number, size = 16): ClassificationBatch {
  return {
    kind: 'classification',
    inputs: Float32Array.from({ length: size * 784 }, (_, i) => Math.sin(i * 0.731 + step * 1.37)),
    labels: Int32Array.from({ length: size }, (_, i) => (i * 7 + step) % 10),
    size,
    inputShape: [28, 28, 1],
  };
}

let model: TrainableModel;
let gpu: WebGpuKernels;
let cpu: CpuKernels;

beforeAll(async () => {
  // Like the rest of tests/gpu: a GPU, or SwiftShader from Debian's chromium.
  expect(await initTensorflow('webgpu')).toBe('webgpu');
  const device = modelGpuDevice();
  expect(device).not.toBeNull();
  gpu = await createWebGpuKernels(device!);
  cpu = await createCpuKernels();
  model = buildModel('fnn', MNIST, 3);
});

afterAll(() => {
  model?.dispose();
  gpu?.destroy();
});

function bits(values: Float32Array): number[] {
  return Array.from(new Uint32Array(values.buffer, values.byteOffset, values.length));
}

describe('gradients on the GPU (shared GPUDevice)', () => {
  it('the kernels run on the model backend device', () => {
    expect(gpu.device).toBe((tf.backend() as unknown as { device: GPUDevice }).device);
    expect(modelGpuDevice()).toBe(gpu.device);
  });

  const methods: SparsifierMethod[] = ['topk', 'gaussiank', 'randk', 'trimmedk', 'dgck'];
  for (const method of methods) {
    it(`${method}: the same selections and residuals as the CPU kernels over steps with error feedback`, async () => {
      const config = sparsifierConfigSchema.parse({ method, density: 0.01, seed: 11 });
      const shapes = model.trainable.map((t) => ({ name: t.name, length: t.size }));
      const onGpu = ModelCompression.create({ host: gpu }, config, shapes, 'layer').compressors;
      const onCpu = ModelCompression.create({ host: cpu }, config, shapes, 'layer').compressors;
      try {
        for (let step = 0; step < 3; step++) {
          const computed = await model.lossAndGradientsOnDevice(batchOf(step));
          expect(computed).not.toBeNull();
          const { buffers, loss } = computed!;
          expect(Number.isFinite(loss)).toBe(true);
          const gpuResults: CompressResult[] = [];
          const cpuResults: CompressResult[] = [];
          try {
            for (const [i, compressor] of onGpu.entries()) {
              const vector = gpu.wrap(buffers[i]!, compressor.length);
              // The CPU twin gets the same gradient bits, read back only for the comparison.
              const host = await gpu.download(vector);
              gpuResults.push(await compressor.compress(vector, { step }));
              gpu.release(vector);
              expect(buffers[i]!.size).toBeGreaterThanOrEqual(host.byteLength); // wrap left the buffer alone
              const cpuVector = cpu.upload(host);
              cpuResults.push(await onCpu[i]!.compress(cpuVector, { step }));
              cpu.release(cpuVector);
            }
          } finally {
            computed!.release();
          }
          for (const [i, g] of gpuResults.entries()) {
            const c = cpuResults[i]!;
            const what = `${method} step ${step} tensor ${shapes[i]!.name}`;
            if (g.compressed.kind !== 'sparse' || c.compressed.kind !== 'sparse') throw new Error('sparse expected');
            expect(g.k, what).toBe(c.k);
            if (method === 'gaussiank' || method === 'trimmedk') {
              // Thresholds from sums (Gaussian_k's mean and std, Trimmed_k's mean) are float32 sums on
              // the GPU and may differ in their last bits (see the operator suite).
              expect(Math.abs(g.threshold! - c.threshold!), what).toBeLessThanOrEqual(1e-5 * Math.abs(c.threshold!));
              // Gaussian_k selects by that threshold; Trimmed_k's selection is exact Top_k either way.
              if (method === 'gaussiank' && g.threshold !== c.threshold) continue;
            } else {
              expect(g.threshold, what).toBe(c.threshold);
            }
            expect(Array.from(g.compressed.indices), what).toEqual(Array.from(c.compressed.indices));
            expect(bits(g.compressed.values), what).toEqual(bits(c.compressed.values));
          }
        }
        if (method !== 'gaussiank') {
          for (const [i, compressor] of onGpu.entries()) {
            expect(bits(await compressor.residual!.read())).toEqual(bits(await onCpu[i]!.residual!.read()));
          }
        }
      } finally {
        onGpu.forEach((c) => c.release());
        onCpu.forEach((c) => c.release());
      }
    });
  }
});
