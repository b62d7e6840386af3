/**
 * Device acquisition, the SwiftShader fallback, the WGSL port of randomKey, the exact histogram
 * plan, wrapped buffers, the pipeline cache and the buffer pool.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mix32, randomKey } from '../../gpu/kernels/random/random';
import {
  createWebGpuKernels,
  wrapGpuBuffer,
  VECTOR_USAGE,
  WGSL_MODULES,
  type WebGpuKernels,
} from '../../gpu/kernels/webgpu/index';
import { floatOfOrderedKey, histogramPlan, orderedKey, referenceBin, NO_BIN } from '../../gpu/kernels/histogram/edges';
import { BufferPool } from '../../gpu/webgpuDevice/bufferPool';
import { DEFAULT_SWIFTSHADER_ICD_PATHS, isSoftwareAdapter } from '../../gpu/webgpuDevice/device';
import { PipelineCache } from '../../gpu/webgpuDevice/pipelineCache';
import { NaiveKernels } from '../oracle/naiveKernels';
import { bitsOf, expectSameFloats, expectSameIndices, floatOfBits, testDevice, uncaptured } from './helpers';

let device: GPUDevice;

beforeAll(async () => {
  ({ device } = await testDevice());
});

afterAll(() => {
  expect(uncaptured).toEqual([]);
});

describe('acquireGpuDevice', () => {
  test('opens a device with the adapter maxima and labels software adapters', async () => {
    const acquired = await testDevice();
    expect(acquired.device.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 1024 * 1024);
    expect(acquired.isSoftware).toBe(isSoftwareAdapter(acquired.adapterInfo) || acquired.isSoftware);
    if (/swiftshader/i.test(JSON.stringify(acquired.adapterInfo))) {
      expect(acquired.isSoftware).toBe(true);
      // SwiftShader allows 1 GiB bindings: 64M-float vectors (256 MiB) fit.
      expect(acquired.device.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(256 * 1024 * 1024);
    }
  });

  test('isSoftwareAdapter recognises CPU implementations', () => {
    const info = (description: string) => ({ vendor: '', architecture: '', device: '', description });
    expect(isSoftwareAdapter(info('SwiftShader driver 5.0.0'))).toBe(true);
    expect(isSoftwareAdapter(info('llvmpipe (LLVM 15.0.6, 256 bits)'))).toBe(true);
    expect(isSoftwareAdapter(info('Microsoft Basic Render Driver'))).toBe(true);
    expect(isSoftwareAdapter(info('NVIDIA GeForce RTX 4090'))).toBe(false);
    expect(isSoftwareAdapter(info('NVIDIA GeForce RTX 4090'), true)).toBe(true);
  });

  /** Runs acquireGpuDevice in a fresh Node process (the Vulkan loader reads its env at create()). */
  async function acquireInChild(options: object, env: NodeJS.ProcessEnv): Promise<Record<string, unknown>> {
    const { build } = await import('esbuild');
    // Inside the repository, so that the bundle's import('webgpu') resolves to node_modules.
    const dir = join(process.cwd(), 'node_modules', '.cache', 'sparselab-gpu-tests');
    await mkdir(dir, { recursive: true });
    const bundle = join(dir, 'device.mjs');
    await build({
      entryPoints: [join(process.cwd(), 'gpu/webgpuDevice/device.ts')],
      bundle: true,
      format: 'esm',
      platform: 'node',
      outfile: bundle,
      logLevel: 'silent',
    });
    const script = join(dir, 'acquire.mjs');
    await writeFile(
      script,
      `import { acquireGpuDevice } from './device.mjs';
       try {
         const r = await acquireGpuDevice(JSON.parse(process.argv[2]));
         console.log(JSON.stringify({ ok: true, info: r.adapterInfo, isSoftware: r.isSoftware, icd: process.env.VK_ICD_FILENAMES ?? null }));
       } catch (e) {
         console.log(JSON.stringify({ ok: false, name: e.name, message: e.message }));
       }
       process.exit(0);`,
    );
    const { stdout } = await promisify(execFile)(process.execPath, [script, JSON.stringify(options)], {
      env,
      timeout: 60_000,
    });
    return JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>;
  }

  function envWithoutIcd(): NodeJS.ProcessEnv {
    const env = { ...process.env };
    delete env.VK_ICD_FILENAMES;
    delete env.VK_DRIVER_FILES;
    delete env.XDG_RUNTIME_DIR;
    return env;
  }

  const swiftShaderIcd = DEFAULT_SWIFTSHADER_ICD_PATHS.find((path) => existsSync(path));

  test.skipIf(process.platform !== 'linux' || !swiftShaderIcd)(
    'without VK_ICD_FILENAMES, falls back to the installed SwiftShader ICD',
    async () => {
      const result = await acquireInChild({}, envWithoutIcd());
      expect(result.ok, JSON.stringify(result)).toBe(true);
      // Either a real GPU was found first, or the fallback pointed the loader at SwiftShader.
      if (result.icd !== null) {
        expect(result.icd).toBe(swiftShaderIcd);
        expect(result.isSoftware).toBe(true);
      }
    },
  );

  test.skipIf(process.platform !== 'linux')('says what to install when there is no adapter', async () => {
    const result = await acquireInChild(
      { swiftShaderIcdPaths: ['/nonexistent/vk_swiftshader_icd.json'] },
      envWithoutIcd(),
    );
    if (result.ok) return; // this machine has a usable GPU
    expect(result.name).toBe('NoGpuAdapterError');
    expect(result.message).toMatch(/VK_ICD_FILENAMES/);
    expect(result.message).toMatch(/chromium/);
  });
});

describe('random.wgsl', () => {
  test('mix32 and randomKey are bit-identical to gpu/kernels/random.ts', async () => {
    const n = 20000;
    const inputs = new Uint32Array(3 * n);
    fc.sample(fc.tuple(fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff })), {
      numRuns: n - 4,
      seed: 42,
    }).forEach(([a, b, c], i) => inputs.set([a, b, c], 3 * i));
    inputs.set(
      [0, 0, 0, 0xffffffff, 0xffffffff, 0xffffffff, 1, 0x80000000, 0x7fffffff, 0xdeadbeef, 12345, 0xfffffffe],
      3 * (n - 4),
    );
    const code = `${WGSL_MODULES.random}
      @group(0) @binding(0) var<storage, read> inputs: array<u32>;
      @group(0) @binding(1) var<storage, read_write> outputs: array<u32>;
      @compute @workgroup_size(64)
      fn main(@builtin(global_invocation_id) id: vec3<u32>) {
        let i = id.x;
        if (i >= arrayLength(&inputs) / 3u) { return; }
        outputs[2u * i] = mix32(inputs[3u * i]);
        outputs[2u * i + 1u] = randomKey(inputs[3u * i + 1u], inputs[3u * i + 2u]);
      }`;
    const pipeline = device.createComputePipeline({
      layout: 'auto',
      compute: { module: device.createShaderModule({ code }), entryPoint: 'main' },
    });
    const input = device.createBuffer({ size: inputs.byteLength, usage: VECTOR_USAGE });
    device.queue.writeBuffer(input, 0, inputs);
    const output = device.createBuffer({ size: 8 * n, usage: VECTOR_USAGE });
    const readback = device.createBuffer({ size: 8 * n, usage: 0x1 | 0x8 });
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(
      0,
      device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [
          { binding: 0, resource: { buffer: input } },
          { binding: 1, resource: { buffer: output } },
        ],
      }),
    );
    pass.dispatchWorkgroups(Math.ceil(n / 64));
    pass.end();
    encoder.copyBufferToBuffer(output, 0, readback, 0, 8 * n);
    device.queue.submit([encoder.finish()]);
    await readback.mapAsync(0x1);
    const got = new Uint32Array(readback.getMappedRange().slice(0));
    readback.unmap();
    for (let i = 0; i < n; i++) {
      const [a, b, c] = [inputs[3 * i]!, inputs[3 * i + 1]!, inputs[3 * i + 2]!];
      if (got[2 * i] !== mix32(a)) expect.fail(`mix32(${a}): got ${got[2 * i]}, expected ${mix32(a)}`);
      if (got[2 * i + 1] !== randomKey(b, c)) expect.fail(`randomKey(${b}, ${c}): got ${got[2 * i + 1]}`);
    }
    for (const b of [input, output, readback]) b.destroy();
  });
});

describe('histogram plan (host side of the exact histogram)', () => {
  test('ordered keys preserve float order', () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true }), fc.float({ noNaN: true }), (a, b) => {
        const ka = orderedKey(bitsOf(a));
        const kb = orderedKey(bitsOf(b));
        if (a < b) expect(ka).toBeLessThan(kb);
        expect(floatOfOrderedKey(ka)).toBe(a);
      }),
    );
  });

  test('counting edges <= key reproduces the float64 reference bin', () => {
    const range = fc.oneof(
      fc.tuple(fc.double({ min: -100, max: 100, noNaN: true }), fc.double({ min: -100, max: 100, noNaN: true })),
      fc.tuple(fc.double({ noNaN: true }), fc.double({ noNaN: true })),
      fc.tuple(fc.constantFrom(-Infinity, 0, NaN, 1), fc.constantFrom(Infinity, 1, NaN, 0)),
    );
    fc.assert(
      fc.property(
        range,
        fc.integer({ min: 1, max: 64 }),
        fc.array(fc.oneof(fc.float(), fc.float({ min: -100, max: 100 })), { minLength: 1, maxLength: 50 }),
        ([min, max], bins, xs) => {
          const plan = histogramPlan(min, max, bins);
          for (const x of xs) {
            const expected = referenceBin(x, min, max, bins);
            const bits = bitsOf(x);
            let bin: number;
            if (Number.isNaN(x)) bin = plan.nanBin;
            else if (x === -Infinity) bin = plan.negInfBin;
            else if (x === Infinity) bin = plan.posInfBin;
            else if (plan.finiteSkip) bin = NO_BIN;
            else {
              const key = orderedKey(bits);
              bin = plan.edges.filter((edge) => edge <= key).length;
            }
            expect(bin === NO_BIN ? -1 : bin, `x=${x} in [${min}, ${max}] / ${bins}`).toBe(expected);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('wrapped buffers, pipeline cache, buffer pool', () => {
  let kernels: WebGpuKernels;
  beforeAll(async () => {
    kernels = await createWebGpuKernels(device, { prepare: false });
  });
  afterAll(() => kernels.destroy());

  test('kernels run on a GPUBuffer the caller owns, and release() leaves it alone', async () => {
    const data = Float32Array.from({ length: 3000 }, (_, i) => Math.sin(i) * (i % 5));
    // A larger buffer than the vector: only the first 3000 floats belong to it.
    const buffer = device.createBuffer({ size: 4 * 4096, usage: VECTOR_USAGE });
    device.queue.writeBuffer(buffer, 0, data);
    device.queue.writeBuffer(buffer, 4 * 3000, new Float32Array(1096).fill(1e30));
    const v = wrapGpuBuffer(buffer, 3000);
    const naive = new NaiveKernels();
    const expected = await naive.topk(data, 100);
    const actual = await kernels.topk(v, 100);
    expectSameIndices(actual.indices, expected.indices);
    expectSameFloats(actual.values, expected.values);
    expect((await kernels.moments(v)).maxAbs).toBe((await naive.moments(data)).maxAbs);
    kernels.release(v);
    expect(() => kernels.length(v)).not.toThrow();
    await expect(kernels.download(v)).rejects.toThrow(/after release/);
    // Still alive: a new wrapper reads it.
    expectSameFloats(await kernels.download(wrapGpuBuffer(buffer, 3000)), data);
    expect(() => wrapGpuBuffer(buffer, 5000)).toThrow(RangeError);
    buffer.destroy();
  });

  test('pipeline cache compiles each (source, entry point, constants, layout) once', () => {
    const cache = new PipelineCache(device);
    const request = { code: WGSL_MODULES.elementwise, entryPoint: 'elementwise', constants: { WG: 64, OP: 3 } };
    const first = cache.get(request);
    expect(cache.get({ ...request, constants: { WG: 64, OP: 3 } })).toBe(first);
    expect(cache.get({ ...request, constants: { WG: 128, OP: 3 } })).not.toBe(first);
    expect(cache.size).toBe(2);
  });

  test('buffer pool reuses buffers by usage and size class', () => {
    const pool = new BufferPool(device);
    const usage = 0x80 | 0x8;
    const a = pool.acquire(1000, usage);
    expect(a.size).toBe(1024);
    pool.release(a);
    expect(pool.acquire(700, usage)).toBe(a);
    expect(pool.acquire(700, usage)).not.toBe(a);
    pool.destroy();
  });

  test('a vector that exceeds the storage binding limit is refused up front', () => {
    const tooLong = Math.floor(device.limits.maxStorageBufferBindingSize / 4) + 1;
    expect(() => kernels.zeros(tooLong)).toThrow(/binding limit/);
  });

  test('subnormals survive upload, addInto and download bit-exactly', async () => {
    const tiny = Float32Array.from([1, 2, 3, 0x7fffff, 0x400000], (bits) => floatOfBits(bits));
    const v = kernels.upload(tiny);
    kernels.addInto(v, v);
    const doubled = await kernels.download(v);
    expect(Array.from(doubled, bitsOf)).toEqual([2, 4, 6, 0xfffffe, 0x800000]);
    kernels.release(v);
  });
});
