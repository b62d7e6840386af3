import { describe, expect, it } from 'vitest';
import { sparsifierConfigSchema } from '../../common/sparsifier';
import { ModelCompression, type Compressed } from '../../gpu/compression';
import { createCpuKernels } from '../../gpu/kernels/cpu/index';
import type { Kernels } from '../../gpu/kernels/kernels';

const SHAPES = [
  { name: 'w', length: 300 },
  { name: 'b', length: 20 },
];
const config = sparsifierConfigSchema.parse({ method: 'topk', density: 0.05 });
const gradient = (length: number, at: number) =>
  Float32Array.from({ length }, (_, i) => (i === at ? 50 : Math.sin(i) / 10));
/** A member of the kernels, methods bound to them (they check that vectors are their own). */
function bound(target: object, key: string | symbol): unknown {
  const value = Reflect.get(target, key) as unknown;
  return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
}
const indices = (c: Compressed) => Array.from((c as Extract<Compressed, { kind: 'sparse' }>).indices);

describe('ModelCompression', () => {
  it("'layer': one compressor per tensor, placed on the device kernels where flagged, fed its buffer in place", async () => {
    const cpu = await createCpuKernels();
    // Stand-in device kernels: the CPU ones, with wrap() reading a "GPU buffer" that holds an array.
    const wrapped: number[] = [];
    const device: Kernels = new Proxy(cpu, {
      get: (target, key) =>
        key === 'wrap'
          ? (buffer: GPUBuffer, length: number) => {
              wrapped.push(length);
              return target.upload((buffer as unknown as { data: Float32Array }).data);
            }
          : bound(target, key),
    });
    const compression = ModelCompression.create(
      { host: cpu, device: { kernels: device, tensors: [true, false] } },
      config,
      SHAPES,
      'layer',
    );
    expect(compression.compressors.map((c) => c.kernels)).toEqual([device, cpu]);
    expect(compression.lengths).toEqual([300, 20]);
    const onGpu = { data: gradient(300, 7) } as unknown as GPUBuffer;
    const results = await compression.compress({ host: [null, gradient(20, 3)], device: [onGpu, null] }, { step: 0 });
    expect(wrapped).toEqual([300]);
    expect(results.map((r) => r.k)).toEqual([15, 1]);
    expect(indices(results[0]!.compressed)).toContain(7);
    expect(indices(results[1]!.compressed)).toEqual([3]);
    // u = g + e as compressed next, the device tensor read back.
    const compensated = await compression.compensated({ host: [null, gradient(20, 3)], device: [onGpu, null] });
    expect(compensated.map((c) => c.tensor)).toEqual(['w', 'b']);
    expect(compensated[1]!.u[3]).toBe(Math.fround(50)); // the residual at the sent index was zeroed
    compression.release();
  });

  it("'model': one compressor over the tensors concatenated, its k from the whole model; never on a device", async () => {
    const cpu = await createCpuKernels();
    const compression = ModelCompression.create({ host: cpu }, config, SHAPES, 'model');
    expect(compression.lengths).toEqual([320]);
    const [result] = await compression.compress(
      { host: [gradient(300, 1), gradient(20, 5)], device: [null, null] },
      { step: 0 },
    );
    expect(result!.k).toBe(16);
    expect(indices(result!.compressed)).toEqual(expect.arrayContaining([1, 305]));
    compression.release();
    expect(() =>
      ModelCompression.create({ host: cpu, device: { kernels: cpu, tensors: [true, false] } }, config, SHAPES, 'model'),
    ).toThrow("granularity 'model' compresses on the host only");
  });
});
