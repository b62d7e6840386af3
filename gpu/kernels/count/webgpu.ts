/** The multi-threshold count on the WebGPU backend (count.wgsl). */
import type { WebGpuKernels } from '../webgpu/index';
import { thresholdBits } from '../float32Bits';
import { USAGE, type GpuVector } from '../webgpu/vector';

export async function countAbove(
  kernels: WebGpuKernels,
  vector: GpuVector,
  thresholds: readonly number[],
): Promise<number[]> {
  kernels.checkVector(vector);
  const m = thresholds.length;
  if (m === 0) return [];
  const n = vector.length;
  if (n === 0) return thresholds.map(() => 0);
  const { items, numBlocks } = kernels.blocking(n);
  const chunks = Math.ceil(m / 8);
  const stride = 256; // min{Uniform,Storage}BufferOffsetAlignment
  const frame = kernels.frame();
  const params = frame.take(chunks * stride, USAGE.UNIFORM | USAGE.COPY_DST, 'params');
  const words = new Int32Array((chunks * stride) / 4);
  for (let c = 0; c < chunks; c++) {
    const base = (c * stride) / 4;
    const count = Math.min(8, m - c * 8);
    words.set([n, numBlocks, count, items], base);
    // Unused slots: i32 max, which no magnitude key exceeds.
    for (let t = 0; t < 8; t++) words[base + 4 + t] = t < count ? thresholdBits(thresholds[c * 8 + t]!) : 0x7fffffff;
  }
  kernels.device.queue.writeBuffer(params, 0, words);
  const result = kernels.storage(frame, chunks * stride, 'counts');
  const encoder = kernels.device.createCommandEncoder({ label: 'countAbove' });
  encoder.clearBuffer(result, 0, chunks * stride);
  const pass = encoder.beginComputePass();
  pass.setPipeline(kernels.pipeline('count', 'countAbove'));
  const data = vector.binding();
  for (let c = 0; c < chunks; c++) {
    pass.setBindGroup(
      0,
      kernels.bindGroup('count', [
        data,
        { buffer: params, offset: c * stride, size: 48 },
        { buffer: result, offset: c * stride, size: 32 },
      ]),
    );
    kernels.dispatch(pass, numBlocks);
  }
  pass.end();
  const counts = new Uint32Array(await kernels.submitAndRead(encoder, result, 0, chunks * stride, frame));
  return thresholds.map((_, t) => counts[Math.floor(t / 8) * (stride / 4) + (t % 8)]!);
}
