/** Coordinate-wise kernels of the WebGPU backend (elementwise.wgsl): add, zero, gather. */
import type { GpuVector, Frame } from '../webgpu/vector';
import type { WebGpuKernels } from '../webgpu/index';

/** elementwise.wgsl's operations, in the order of its OP constant. */
export const ELEMENTWISE_OPS = ['addInto', 'addSelf', 'addTo', 'zeroAt', 'gather'] as const;

function elementwise(
  kernels: WebGpuKernels,
  entryPoint: (typeof ELEMENTWISE_OPS)[number],
  dst: GPUBuffer | GPUBufferBinding,
  n: number,
  count: number,
  source: GPUBuffer | GPUBufferBinding | null,
  data: GPUBuffer | GPUBufferBinding | null,
  frame: Frame,
  encoder: GPUCommandEncoder,
): void {
  const items = entryPoint === 'zeroAt' || entryPoint === 'gather' ? count : n;
  const { items: perThread, numBlocks } = kernels.blocking(items);
  const params = kernels.uniform(frame, new Uint32Array([n, count, numBlocks, perThread]));
  const group = kernels.bindGroup('elementwise', [dst, params, source ?? kernels.dummy(0), data ?? kernels.dummy(1)]);
  const pass = encoder.beginComputePass({ label: entryPoint });
  pass.setPipeline(kernels.pipeline('elementwise', 'elementwise', { OP: ELEMENTWISE_OPS.indexOf(entryPoint) }));
  pass.setBindGroup(0, group);
  kernels.dispatch(pass, numBlocks);
  pass.end();
}

export function addInto(kernels: WebGpuKernels, target: GpuVector, addend: GpuVector): void {
  kernels.checkVector(target);
  kernels.checkVector(addend);
  if (target.length !== addend.length) {
    throw new RangeError(`addInto: lengths differ (${target.length} and ${addend.length})`);
  }
  if (target.length === 0) return;
  const frame = kernels.frame();
  const encoder = kernels.device.createCommandEncoder({ label: 'addInto' });
  if (target.buffer === addend.buffer) {
    elementwise(kernels, 'addSelf', target.binding(), target.length, 0, null, null, frame, encoder);
  } else {
    elementwise(kernels, 'addInto', target.binding(), target.length, 0, addend.binding(), null, frame, encoder);
  }
  kernels.device.queue.submit([encoder.finish()]);
  frame.done();
}

export function addTo(kernels: WebGpuKernels, out: GpuVector, a: GpuVector, b: GpuVector): void {
  for (const v of [out, a, b]) kernels.checkVector(v);
  if (a.length !== out.length || b.length !== out.length) {
    throw new RangeError(`addTo: lengths differ (${out.length}, ${a.length} and ${b.length})`);
  }
  if (out.buffer === a.buffer || out.buffer === b.buffer) throw new Error('addTo: out must be a third vector');
  if (out.length === 0) return;
  const frame = kernels.frame();
  const encoder = kernels.device.createCommandEncoder({ label: 'addTo' });
  elementwise(kernels, 'addTo', out.binding(), out.length, 0, a.binding(), b.binding(), frame, encoder);
  kernels.device.queue.submit([encoder.finish()]);
  frame.done();
}

function uploadIndices(kernels: WebGpuKernels, frame: Frame, indices: Uint32Array): GPUBuffer {
  const buffer = kernels.storage(frame, indices.byteLength, 'indices');
  kernels.device.queue.writeBuffer(buffer, 0, indices.buffer, indices.byteOffset, indices.byteLength);
  return buffer;
}

export function zeroAt(kernels: WebGpuKernels, target: GpuVector, indices: Uint32Array): void {
  kernels.checkVector(target);
  if (indices.length === 0 || target.length === 0) return;
  const frame = kernels.frame();
  const encoder = kernels.device.createCommandEncoder({ label: 'zeroAt' });
  const list = uploadIndices(kernels, frame, indices);
  elementwise(kernels, 'zeroAt', target.binding(), target.length, indices.length, list, null, frame, encoder);
  kernels.device.queue.submit([encoder.finish()]);
  frame.done();
}

export async function gather(kernels: WebGpuKernels, vector: GpuVector, indices: Uint32Array): Promise<Float32Array> {
  kernels.checkVector(vector);
  const count = indices.length;
  if (count === 0) return new Float32Array(0);
  if (vector.length === 0) return new Float32Array(count).fill(NaN);
  const frame = kernels.frame();
  const encoder = kernels.device.createCommandEncoder({ label: 'gather' });
  const list = uploadIndices(kernels, frame, indices);
  const out = kernels.storage(frame, count * 4, 'gathered');
  elementwise(kernels, 'gather', out, vector.length, count, list, vector.binding(), frame, encoder);
  return new Float32Array(await kernels.submitAndRead(encoder, out, 0, count * 4, frame));
}
