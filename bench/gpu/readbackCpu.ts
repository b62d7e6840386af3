/**
 * CPU time of the main thread of a process that waits for GPU read-backs: a compute pass that
 * keeps the GPU busy for a while, then mapAsync of its result, in a loop. With dawn.node's own
 * polling the thread spins for the whole wait; paced (gpu/worker/gpus/dawnPolling.ts) it sleeps.
 */
import { threadClock } from '../../gpu/worker/cpuWait';

export interface ReadbackCpu {
  readbacks: number;
  wallMs: number;
  /** CPU time of the thread that waited (Linux schedstat), ms. */
  mainThreadCpuMs: number | null;
  /** CPU time of the whole process (every thread: Dawn's, the driver's, SwiftShader's), ms. */
  processCpuMs: number;
  /** mainThreadCpuMs / wallMs: 1 is a core held for the whole loop. */
  mainThreadShare: number | null;
  meanReadbackMs: number;
}

const SHADER = /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> data: array<f32>;
override ROUNDS: u32 = 1000u;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  if (id.x >= arrayLength(&data)) { return; }
  var x = data[id.x];
  for (var i = 0u; i < ROUNDS; i++) { x = fract(x * 1.0001 + 0.37); }
  data[id.x] = x;
}`;

/** `readbacks` times: a compute pass of `rounds` per element over `elements` floats, then a read-back of them. */
export async function measureReadbackCpu(
  device: GPUDevice,
  options: { readbacks: number; elements: number; rounds: number },
): Promise<ReadbackCpu> {
  const bytes = options.elements * 4;
  const data = device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const staging = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const pipeline = device.createComputePipeline({
    layout: 'auto',
    compute: {
      module: device.createShaderModule({ code: SHADER }),
      entryPoint: 'main',
      constants: { ROUNDS: options.rounds },
    },
  });
  const bindGroup = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [{ binding: 0, resource: { buffer: data } }],
  });
  const thread = threadClock('onCpu');
  const readback = async () => {
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(Math.ceil(options.elements / 64));
    pass.end();
    encoder.copyBufferToBuffer(data, 0, staging, 0, bytes);
    device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    staging.unmap();
  };
  await readback(); // compile and warm up outside the measurement
  const threadStart = thread?.() ?? 0;
  const processStart = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < options.readbacks; i++) await readback();
  const wallMs = performance.now() - start;
  const usage = process.cpuUsage(processStart);
  const mainThreadCpuMs = thread ? thread() - threadStart : null;
  data.destroy();
  staging.destroy();
  return {
    readbacks: options.readbacks,
    wallMs,
    mainThreadCpuMs,
    processCpuMs: (usage.user + usage.system) / 1000,
    mainThreadShare: mainThreadCpuMs === null ? null : mainThreadCpuMs / wallMs,
    meanReadbackMs: wallMs / options.readbacks,
  };
}
