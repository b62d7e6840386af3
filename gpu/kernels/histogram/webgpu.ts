/** The histogram on the WebGPU backend (histogram.wgsl; bin edges from edges.ts). */
import type { WebGpuKernels } from '../webgpu/index';
import type { GpuVector } from '../webgpu/vector';
import { histogramPlan } from './edges';

/** Bins a histogram counts in workgroup memory before adding them to the global counts. */
export const SHARED_HISTOGRAM_BINS = 2048;

export async function histogram(
  kernels: WebGpuKernels,
  vector: GpuVector,
  min: number,
  max: number,
  bins: number,
): Promise<Uint32Array> {
  kernels.checkVector(vector);
  if (!Number.isInteger(bins) || bins < 0) throw new RangeError(`bins must be a non-negative integer, got ${bins}`);
  const n = vector.length;
  if (bins === 0) return new Uint32Array(0);
  if (n === 0) return new Uint32Array(bins);
  const plan = histogramPlan(min, max, bins);
  const { items, numBlocks } = kernels.blocking(n);
  const frame = kernels.frame();
  const params = kernels.uniform(
    frame,
    new Uint32Array([
      n,
      numBlocks,
      bins,
      plan.edges.length,
      plan.nanBin,
      plan.negInfBin,
      plan.posInfBin,
      plan.finiteSkip ? 1 : 0,
      items,
      0,
      0,
      0,
    ]),
  );
  const edges = kernels.storage(frame, plan.edges.byteLength, 'edges');
  if (plan.edges.length > 0)
    kernels.device.queue.writeBuffer(edges, 0, plan.edges.buffer, plan.edges.byteOffset, plan.edges.byteLength);
  const counts = kernels.storage(frame, bins * 4, 'histogram');
  const encoder = kernels.device.createCommandEncoder({ label: 'histogram' });
  encoder.clearBuffer(counts, 0, bins * 4);
  const group = kernels.bindGroup('histogram', [vector.binding(), params, edges, counts]);
  const pass = encoder.beginComputePass();
  pass.setBindGroup(0, group);
  pass.setPipeline(kernels.pipeline('histogram', 'histogram', { SHARED_BINS: SHARED_HISTOGRAM_BINS }));
  kernels.dispatch(pass, numBlocks);
  pass.end();
  return new Uint32Array(await kernels.submitAndRead(encoder, counts, 0, bins * 4, frame));
}
