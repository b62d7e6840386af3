/**
 * One rank's training iteration on a WebGPU model (tfjs-backend-webgpu), phase by phase, for a
 * GPU machine without this repository's node_modules (bundled with esbuild, `webgpu` beside it):
 * - device: gradients stay on the GPU (dataToGPU) and the WGSL kernels, created on the
 *   backend's own GPUDevice, compress them one tensor after another, each with one read-back;
 * - batched: the same, every tensor's selection in one submission and one read-back (compressAll);
 * - host: the gradients are downloaded and compressed by the WebAssembly kernels (the path a
 *   WebGPU worker took before);
 * - routed: what a WebGPU worker does now (gpu/worker/trainer.ts): tensors of at least
 *   DEVICE_COMPRESS_MIN_LENGTH coordinates on the GPU in place, smaller ones read back to the CPU.
 * Synthetic inputs of the data set's shape (timings do not depend on the values). No hub: the
 * update phase is the sum of P = 4 copies of this rank's selections, the momentum step and the
 * weight update. Also checks that both paths select the same coordinates (Top_k).
 */
import { writeFileSync } from 'node:fs';
import { sparsifierConfigSchema, type SparsifierMethod } from '../../common/sparsifier';
import { ModelCompression, compressAll, type CompressResult } from '../../gpu/compression';
import { accumulatePacked, packSparse } from '../../gpu/compression/packing';
import { createCpuKernels } from '../../gpu/kernels/cpu';
import type { Kernels } from '../../gpu/kernels/kernels';
import { createWebGpuKernels } from '../../gpu/kernels/webgpu';
import type { ClassificationBatch, DatasetInfo } from '../../gpu/worker/data';
import { buildModel, initTensorflow, modelGpuDevice } from '../../gpu/worker/models';
import { MomentumSgd, splitInto } from '../../gpu/worker/optimizer';
import { DEVICE_COMPRESS_MIN_LENGTH } from '../../gpu/worker/trainer';

const P = 4;
type Path = 'device' | 'batched' | 'host' | 'routed';
const ITERATIONS = Number(process.env.ITERATIONS ?? 40);
const WARMUP = 5;
const MODELS = (process.env.MODELS ?? 'fnn,resnet20').split(',') as ('fnn' | 'resnet20' | 'vgg16')[];
const METHODS = (process.env.METHODS ?? 'topk,gaussiank').split(',') as SparsifierMethod[];
const BATCH = Number(process.env.BATCH ?? 128);

const INFO: Record<string, DatasetInfo> = {
  fnn: { name: 'mnist', task: 'classification', inputShape: [28, 28, 1], numClasses: 10 },
  resnet20: { name: 'cifar10', task: 'classification', inputShape: [32, 32, 3], numClasses: 10 },
  vgg16: { name: 'cifar10', task: 'classification', inputShape: [32, 32, 3], numClasses: 10 },
};

function batchOf(info: DatasetInfo, step: number): ClassificationBatch {
  const width = info.inputShape.reduce((a, b) => a * b, 1);
  return {
    kind: 'classification',
    inputs: Float32Array.from({ length: BATCH * width }, (_, i) => Math.sin(i * 0.731 + step * 1.37)),
    labels: Int32Array.from({ length: BATCH }, (_, i) => (i * 7 + step) % 10),
    size: BATCH,
    inputShape: [...info.inputShape],
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

console.log(`backend ${await initTensorflow('webgpu')}`);
const device = modelGpuDevice()!;
const gpu = await createWebGpuKernels(device);
const cpu = await createCpuKernels();
console.log(`kernels on ${gpu.deviceName} (the model's device: ${gpu.device === device})`);

const rows: Record<string, unknown>[] = [];
for (const modelName of MODELS) {
  const info = INFO[modelName]!;
  const batches = Array.from({ length: 4 }, (_, s) => batchOf(info, s));
  for (const method of METHODS) {
    for (const path of (process.env.PATHS ?? 'device,batched,host,routed').split(',') as Path[]) {
      const model = buildModel(modelName, info, 1);
      const shapes = model.trainable.map((t) => ({ name: t.name, length: t.size }));
      const allOnDevice = path === 'device' || path === 'batched';
      const kernels = (allOnDevice ? gpu : cpu) as Kernels;
      const config = sparsifierConfigSchema.parse({ method, density: 0.001, seed: 5 });
      const onDevice = shapes.map((s) => allOnDevice || (path === 'routed' && s.length >= DEVICE_COMPRESS_MIN_LENGTH));
      const { compressors } = ModelCompression.create(
        path === 'routed'
          ? { host: cpu as Kernels, device: { kernels: gpu as Kernels, tensors: onDevice } }
          : { host: kernels },
        config,
        shapes,
        'layer',
      );
      const optimizer = await MomentumSgd.create(
        shapes.map((s) => s.length),
        0.9,
        0,
      );
      optimizer.setWeights(await model.getWeightsAsync());
      const sums = splitInto(
        optimizer.gradientSum,
        shapes.map((s) => s.length),
      );
      const times = { compute: [] as number[], compress: [] as number[], update: [] as number[] };
      for (let it = 0; it < WARMUP + ITERATIONS; it++) {
        const batch = batches[it % batches.length]!;
        const t0 = performance.now();
        let results: CompressResult[] = [];
        let t1: number;
        if (path !== 'host') {
          const computed = (await model.lossAndGradientsOnDevice(batch, onDevice))!;
          t1 = performance.now();
          try {
            const vectors = compressors.map((c, i) => {
              const buffer = computed.buffers[i];
              return buffer ? c.kernels.wrap!(buffer, c.length) : c.kernels.upload(computed.host[i]!);
            });
            if (path === 'batched') {
              const jobs = compressors.map((compressor, i) => ({ compressor, gradient: vectors[i] }));
              results = await compressAll(jobs, { step: it });
            } else {
              for (const [i, c] of compressors.entries()) results.push(await c.compress(vectors[i], { step: it }));
            }
            compressors.forEach((c, i) => c.kernels.release(vectors[i]));
          } finally {
            computed.release();
          }
        } else {
          const { gradients } = await model.lossAndGradientsAsync(batch);
          t1 = performance.now();
          results = [];
          for (const [i, c] of compressors.entries()) {
            const v = kernels.upload(gradients[i]!);
            results.push(await c.compress(v, { step: it }));
            kernels.release(v);
          }
        }
        const t2 = performance.now();
        const packed = packSparse(results.map((r) => r.compressed));
        for (let r = 0; r < P; r++) accumulatePacked(packed, sums, `rank ${r}`);
        model.setWeights(optimizer.step(0.01, 1 / P));
        const t3 = performance.now();
        if (it >= WARMUP) {
          times.compute.push(t1 - t0);
          times.compress.push(t2 - t1);
          times.update.push(t3 - t2);
        }
      }
      compressors.forEach((c) => c.release());
      model.dispose();
      const row = {
        model: modelName,
        parameters: shapes.reduce((n, s) => n + s.length, 0),
        method,
        path,
        onDevice: onDevice.filter((d) => d).length,
        computeMs: median(times.compute),
        compressMs: median(times.compress),
        updateMs: median(times.update),
      };
      const total = row.computeMs + row.compressMs + row.updateMs;
      rows.push({ ...row, overhead: (row.compressMs + row.updateMs) / total });
      writeFileSync(
        process.env.RESULTS ?? 'training-step.json',
        JSON.stringify({ device: gpu.deviceName, rows }, null, 2),
      );
      console.log(
        `${modelName.padEnd(9)} ${method.padEnd(10)} ${path.padEnd(7)} compute ${row.computeMs.toFixed(2)} ms  ` +
          `compress ${row.compressMs.toFixed(2)} ms  update ${row.updateMs.toFixed(2)} ms  ` +
          `overhead ${((100 * (row.compressMs + row.updateMs)) / total).toFixed(0)}%`,
      );
    }
  }
}

// Same gradients, both kernels: Top_k must select the same coordinates with the same bits.
{
  const info = INFO[MODELS[0]!]!;
  const model = buildModel(MODELS[0]!, info, 2);
  const computed = (await model.lossAndGradientsOnDevice(batchOf(info, 9)))!;
  let mismatches = 0;
  for (const [i, t] of model.trainable.entries()) {
    const v = gpu.wrap(computed.buffers[i]!, t.size);
    const host = await gpu.download(v);
    const k = Math.max(1, Math.floor(0.001 * t.size));
    const a = await gpu.topk(v, k);
    const hv = cpu.upload(host);
    const b = await cpu.topk(hv, k);
    cpu.release(hv);
    gpu.release(v);
    for (let j = 0; j < k; j++)
      if (a.indices[j] !== b.indices[j] || Object.is(a.values[j], b.values[j]) === false) mismatches++;
  }
  computed.release();
  model.dispose();
  console.log(`Top_k on the GPU vs the CPU kernels, same gradients: ${mismatches} mismatches`);
  rows.push({ check: 'topk-gpu-vs-cpu', mismatches });
}

writeFileSync(process.env.RESULTS ?? 'training-step.json', JSON.stringify({ device: gpu.deviceName, rows }, null, 2));
process.exit(0);
