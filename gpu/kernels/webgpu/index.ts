/**
 * WebGPU backend of the Kernels contract (gpu/kernels/kernels.ts): every O(d) pass runs in WGSL,
 * only scalars and final sparse results are read back.
 *
 * Vectors are GPUBuffers of float32 bit patterns (bound as array<u32>, so NaN payloads, -0 and
 * subnormals pass through untouched and magnitudes compare as integers). The training runtime can
 * hand in buffers it already has on the same device with wrapGpuBuffer().
 *
 * Calls encode and submit all their GPU work synchronously, before their first await, so GPU work
 * runs in call order. compactAbove is the exception: its output size is only known after a first
 * submission, so its scatter runs after that await; do not modify its input vector before it resolves.
 */
import type {
  CentralMoments,
  DeviceCounters,
  DeviceSelection,
  DeviceSelectionItem,
  Kernels,
  Moments,
  SparseVector,
} from '../kernels';
import { mix32 } from '../random';
import { acquireGpuDevice, adapterName, isSoftwareAdapter, type GpuAdapterDescription } from '../../webgpu/device';
import { BufferPool } from '../../webgpu/bufferPool';
import { PipelineCache, type OverrideConstants } from '../../webgpu/pipelineCache';
import { histogramPlan } from './histogramEdges';
import { selectOnDevice, topkOnDevice } from './deviceSelection';
import { SELECT_PIPELINES, compactAboveOnDevice } from './selectEncoding';
import decideWgsl from './shaders/decide.wgsl';
import commonWgsl from './shaders/common.wgsl';
import randomWgsl from './shaders/random.wgsl';
import selectWgsl from './shaders/select.wgsl';
import momentsWgsl from './shaders/moments.wgsl';
import countWgsl from './shaders/count.wgsl';
import histogramWgsl from './shaders/histogram.wgsl';
import elementwiseWgsl from './shaders/elementwise.wgsl';

/** GPUBufferUsage / GPUMapMode values (spec constants; no dependence on globals being installed). */
const USAGE = {
  MAP_READ: 0x0001,
  COPY_SRC: 0x0004,
  COPY_DST: 0x0008,
  UNIFORM: 0x0040,
  STORAGE: 0x0080,
} as const;
const MAP_READ = 0x0001;
const QUERY_RESOLVE = 0x0200;

export const VECTOR_USAGE = USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST;

/** WGSL sources of the kernel modules, with their shared helpers prepended. */
export const WGSL_MODULES = {
  select: [commonWgsl, randomWgsl, selectWgsl, decideWgsl].join('\n'),
  moments: [commonWgsl, momentsWgsl].join('\n'),
  count: [commonWgsl, countWgsl].join('\n'),
  histogram: [commonWgsl, histogramWgsl].join('\n'),
  elementwise: [commonWgsl, elementwiseWgsl].join('\n'),
  random: randomWgsl,
} as const;

/** A float32 vector living in a GPUBuffer on the kernels' device. */
export class GpuVector {
  private released = false;
  constructor(
    readonly buffer: GPUBuffer,
    readonly length: number,
    /** Whether release() destroys the buffer (false for wrapped buffers the caller owns). */
    readonly owned: boolean,
  ) {}

  /** Binding of the first `length` floats (never empty: WebGPU bindings need a non-zero size). */
  binding(): GPUBufferBinding {
    this.check();
    return { buffer: this.buffer, offset: 0, size: Math.max(4, this.length * 4) };
  }

  check(): void {
    if (this.released) throw new Error('GpuVector used after release()');
  }

  markReleased(): void {
    this.released = true;
  }

  get isReleased(): boolean {
    return this.released;
  }
}

/**
 * Wraps a GPUBuffer the caller already has (on the kernels' device) as a vector of its first
 * `length` float32 values. It needs STORAGE usage, plus COPY_SRC for download() and COPY_DST
 * for write(). release() leaves it alone unless `owned` is true.
 */
export function wrapGpuBuffer(buffer: GPUBuffer, length: number, options: { owned?: boolean } = {}): GpuVector {
  if (!Number.isInteger(length) || length < 0)
    throw new RangeError(`length must be a non-negative integer, got ${length}`);
  if (buffer.size < length * 4) {
    throw new RangeError(`buffer of ${buffer.size} bytes cannot hold ${length} float32 values`);
  }
  if ((buffer.usage & USAGE.STORAGE) === 0) throw new Error('wrapGpuBuffer: the buffer needs GPUBufferUsage.STORAGE');
  return new GpuVector(buffer, length, options.owned ?? false);
}

export interface WebGpuKernelsOptions {
  /** Threads per workgroup: a power of two from 32 to 2048 within the device limit (default 256). */
  workgroupSize?: number;
  /** Least elements per thread (default 16): each workgroup covers workgroupSize * items. */
  itemsPerThread?: number;
  /**
   * Most workgroups per data pass (0: no cap). Each extra workgroup costs about a millisecond
   * under SwiftShader, so software adapters default to 32 (a few per core) and the elements per
   * thread grow with d instead; GPUs default to no cap (d / 4096 workgroups).
   */
  maxWorkgroups?: number;
  /** Workgroups per dispatch dimension before rows are added (default: the device limit; tests lower it). */
  maxWorkgroupsPerDimension?: number;
  deviceName?: string;
  isSoftware?: boolean;
  /** Destroy the device in destroy() (set when createWebGpuKernels acquired it). */
  ownsDevice?: boolean;
  /** Time selections with timestamp queries where the device has 'timestamp-query' (counters.gpuNs). */
  profile?: boolean;
}

type ModuleName = 'select' | 'moments' | 'count' | 'histogram' | 'elementwise';

const EMPTY_SPARSE = (): SparseVector => ({ indices: new Uint32Array(0), values: new Float32Array(0) });

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** Magnitude bits as i32 for the shaders; a threshold below 0 admits everything (-1). */
function thresholdBits(t: number): number {
  if (t < 0) return -1;
  scratchF32[0] = t;
  return scratchU32[0]! & 0x7fffffff;
}

/** Radix bins of the selection's digits (select.wgsl). */
const RADIX_BINS = 2048;
const SHARED_HISTOGRAM_BINS = 2048;

/** Buffers taken from the pool for one call, given back together. */
export class Frame {
  private readonly buffers: GPUBuffer[] = [];
  constructor(private readonly pool: BufferPool) {}
  take(size: number, usage: GPUBufferUsageFlags, label?: string): GPUBuffer {
    const buffer = this.pool.acquire(size, usage, label);
    this.buffers.push(buffer);
    return buffer;
  }
  done(): void {
    for (const buffer of this.buffers) this.pool.release(buffer);
    this.buffers.length = 0;
  }
}

export class WebGpuKernels implements Kernels<GpuVector> {
  readonly backend = 'webgpu' as const;
  readonly deviceName: string;
  readonly isSoftware: boolean;
  readonly pipelines: PipelineCache;
  readonly pool: BufferPool;
  /** Threads per workgroup and elements per thread of every kernel. */
  readonly workgroupSize: number;
  readonly itemsPerThread: number;
  readonly maxWorkgroups: number;
  readonly maxWorkgroupsPerDimension: number;

  private readonly layouts: Record<ModuleName, GPUPipelineLayout>;
  private readonly groupLayouts: Record<ModuleName, GPUBindGroupLayout>;
  /** Small placeholder buffers for bindings a kernel does not use (one per binding slot kind). */
  private readonly dummies: GPUBuffer[] = [];
  private readonly ownsDevice: boolean;
  private destroyed = false;
  readonly counters: DeviceCounters = { readbacks: 0, gpuNs: 0, timedSubmissions: 0 };
  private readonly timestamps: GPUQuerySet | null;
  /** The resolved timestamps of the submission being encoded, copied into its read-back. */
  private pendingTiming: GPUBuffer | null = null;

  constructor(
    readonly device: GPUDevice,
    options: WebGpuKernelsOptions = {},
  ) {
    this.deviceName = options.deviceName ?? 'WebGPU device';
    this.isSoftware = options.isSoftware ?? false;
    this.ownsDevice = options.ownsDevice ?? false;
    this.workgroupSize = options.workgroupSize ?? 256;
    this.itemsPerThread = options.itemsPerThread ?? 16;
    const wg = this.workgroupSize;
    if (!(wg >= 32 && wg <= 2048 && (wg & (wg - 1)) === 0 && RADIX_BINS % wg === 0)) {
      throw new RangeError(`workgroupSize must be a power of two dividing ${RADIX_BINS}, got ${wg}`);
    }
    if (wg > device.limits.maxComputeInvocationsPerWorkgroup) {
      throw new RangeError(
        `workgroupSize ${wg} exceeds the device limit ${device.limits.maxComputeInvocationsPerWorkgroup}`,
      );
    }
    if (!Number.isInteger(this.itemsPerThread) || this.itemsPerThread < 1) {
      throw new RangeError(`itemsPerThread must be a positive integer, got ${this.itemsPerThread}`);
    }
    this.maxWorkgroups = options.maxWorkgroups ?? (this.isSoftware ? 32 : 0);
    this.maxWorkgroupsPerDimension = Math.min(
      options.maxWorkgroupsPerDimension ?? Infinity,
      device.limits.maxComputeWorkgroupsPerDimension,
    );
    this.pipelines = new PipelineCache(device);
    this.pool = new BufferPool(device);
    this.timestamps =
      options.profile && device.features.has('timestamp-query')
        ? device.createQuerySet({ type: 'timestamp', count: 4 })
        : null;

    const entry = (binding: number, type: GPUBufferBindingType): GPUBindGroupLayoutEntry => ({
      binding,
      visibility: 4 /* GPUShaderStage.COMPUTE */,
      buffer: { type },
    });
    const ro = 'read-only-storage' as const;
    const rw = 'storage' as const;
    const uni = 'uniform' as const;
    const make = (label: string, types: GPUBufferBindingType[]) =>
      device.createBindGroupLayout({ label, entries: types.map((t, i) => entry(i, t)) });
    this.groupLayouts = {
      select: make('select', [ro, uni, rw, rw, rw, rw, rw, rw, ro]),
      moments: make('moments', [ro, uni, rw, rw]),
      count: make('count', [ro, uni, rw]),
      histogram: make('histogram', [ro, uni, ro, rw]),
      elementwise: make('elementwise', [rw, uni, ro, ro]),
    };
    const pl = (layout: GPUBindGroupLayout) => device.createPipelineLayout({ bindGroupLayouts: [layout] });
    this.layouts = {
      select: pl(this.groupLayouts.select),
      moments: pl(this.groupLayouts.moments),
      count: pl(this.groupLayouts.count),
      histogram: pl(this.groupLayouts.histogram),
      elementwise: pl(this.groupLayouts.elementwise),
    };
    for (let i = 0; i < 4; i++) {
      this.dummies.push(device.createBuffer({ label: `dummy${i}`, size: 16, usage: USAGE.STORAGE }));
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Plumbing

  private get baseConstants(): OverrideConstants {
    return { WG: this.workgroupSize };
  }

  /** @internal */
  pipeline(module: ModuleName, entryPoint: string, constants: OverrideConstants = {}): GPUComputePipeline {
    return this.pipelines.get({
      code: WGSL_MODULES[module],
      entryPoint,
      constants: { ...this.baseConstants, ...constants },
      layout: this.layouts[module],
      label: `${module}.${entryPoint}`,
    });
  }

  /** Every pipeline the kernels use: [module, entry point, extra override constants]. */
  private pipelineList(): [ModuleName, string, OverrideConstants][] {
    return [
      ['elementwise', 'addInto', {}],
      ['elementwise', 'addSelf', {}],
      ['elementwise', 'addTo', {}],
      ['elementwise', 'zeroAt', {}],
      ['elementwise', 'gather', {}],
      ['moments', 'blockMoments', { MODE: 0 }],
      ['moments', 'finishMoments', { MODE: 0 }],
      ['moments', 'blockMoments', { MODE: 1 }],
      ['moments', 'finishMoments', { MODE: 1 }],
      ['count', 'countAbove', {}],
      ['histogram', 'histogram', { SHARED_BINS: SHARED_HISTOGRAM_BINS }],
      ...SELECT_PIPELINES.map(([entryPoint, constants]): [ModuleName, string, OverrideConstants] => [
        'select',
        entryPoint,
        constants,
      ]),
    ];
  }

  /**
   * Compiles every pipeline now instead of at first use; rejects with the compiler's message when
   * a shader does not compile. (Dawn's async pipeline creation was slower than this under SwiftShader.)
   */
  async prepare(): Promise<void> {
    this.device.pushErrorScope('validation');
    this.device.pushErrorScope('internal');
    for (const [module, entryPoint, constants] of this.pipelineList()) this.pipeline(module, entryPoint, constants);
    const internal = await this.device.popErrorScope();
    const validation = await this.device.popErrorScope();
    const error = validation ?? internal;
    if (error) throw new Error(`WebGPU kernels failed to compile: ${error.message}`);
  }

  /** @internal */
  dispatch(pass: GPUComputePassEncoder, groups: number): void {
    if (groups <= 0) return;
    const perDim = this.maxWorkgroupsPerDimension;
    const x = Math.min(groups, perDim);
    const y = Math.ceil(groups / x);
    if (y > perDim) throw new RangeError(`${groups} workgroups exceed a 2-D dispatch`);
    pass.dispatchWorkgroups(x, y);
  }

  /** How a pass over n elements is cut: elements per thread and workgroups (blocks). */
  blocking(n: number): { items: number; numBlocks: number } {
    const wg = this.workgroupSize;
    let items = this.itemsPerThread;
    if (this.maxWorkgroups > 0) items = Math.max(items, Math.ceil(n / (wg * this.maxWorkgroups)));
    return { items, numBlocks: Math.ceil(n / (wg * items)) };
  }

  /** @internal */
  uniform(frame: Frame, words: ArrayBufferView): GPUBuffer {
    const buffer = frame.take(Math.max(16, words.byteLength), USAGE.UNIFORM | USAGE.COPY_DST, 'params');
    this.device.queue.writeBuffer(buffer, 0, words.buffer, words.byteOffset, words.byteLength);
    return buffer;
  }

  /** @internal */
  storage(frame: Frame, bytes: number, label: string, extraUsage = 0): GPUBuffer {
    return frame.take(Math.max(16, bytes), USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST | extraUsage, label);
  }

  /** @internal */
  bindGroup(layout: ModuleName, resources: (GPUBuffer | GPUBufferBinding)[]): GPUBindGroup {
    return this.device.createBindGroup({
      layout: this.groupLayouts[layout],
      entries: resources.map((r, binding) => ({
        binding,
        // A GPUBufferBinding has a `buffer` member; a GPUBuffer does not.
        resource: 'buffer' in r ? r : { buffer: r },
      })),
    });
  }

  /** @internal A new set of pooled buffers for one call. */
  frame(): Frame {
    return new Frame(this.pool);
  }

  /** @internal A small placeholder buffer for an unused binding (0..3, distinct buffers). */
  dummy(index: number): GPUBuffer {
    return this.dummies[index]!;
  }

  /**
   * @internal Timestamp writes for a submission's first and last compute pass where profiling is
   * on; resolve() encodes their resolution, and the next readBack() reads them with the result.
   */
  timestampWrites(
    frame: Frame,
  ): { writes: GPUComputePassTimestampWrites[]; resolve(encoder: GPUCommandEncoder): void } | null {
    const querySet = this.timestamps;
    if (!querySet) return null;
    const resolved = frame.take(256, QUERY_RESOLVE | USAGE.COPY_SRC, 'timestamps');
    return {
      writes: [
        { querySet, beginningOfPassWriteIndex: 0 },
        { querySet, endOfPassWriteIndex: 1 },
      ],
      resolve: (encoder) => {
        encoder.resolveQuerySet(querySet, 0, 2, resolved, 0);
        this.pendingTiming = resolved;
      },
    };
  }

  /**
   * @internal Submits the encoder with copies of each (source, size) into one read-back buffer,
   * gives the frame's scratch buffers back, and resolves with each copy's bytes: the one
   * mapAsync of every call, counted in counters.readbacks.
   */
  async readBack(
    encoder: GPUCommandEncoder,
    copies: { source: GPUBuffer; offset?: number; size: number }[],
    frame: Frame | null,
  ): Promise<ArrayBuffer[]> {
    const timing = this.pendingTiming;
    this.pendingTiming = null;
    const all = timing ? [...copies, { source: timing, size: 16 }] : copies;
    const places: number[] = [];
    let bytes = 0;
    for (const copy of all) {
      places.push(bytes);
      bytes += Math.max(8, Math.ceil(copy.size / 8) * 8);
    }
    const readback = this.pool.acquire(bytes, USAGE.MAP_READ | USAGE.COPY_DST, 'readback');
    all.forEach((copy, i) =>
      encoder.copyBufferToBuffer(copy.source, copy.offset ?? 0, readback, places[i]!, Math.ceil(copy.size / 4) * 4),
    );
    this.device.queue.submit([encoder.finish()]);
    frame?.done();
    this.counters.readbacks++;
    try {
      await readback.mapAsync(MAP_READ, 0, bytes);
      const mapped = readback.getMappedRange(0, bytes);
      const parts = all.map((copy, i) => mapped.slice(places[i]!, places[i]! + copy.size));
      readback.unmap();
      if (timing) {
        const [begin, end] = new BigUint64Array(parts.pop()!);
        this.counters.gpuNs += Number(end! - begin!);
        this.counters.timedSubmissions++;
      }
      return parts;
    } finally {
      this.pool.release(readback);
    }
  }

  /** Submits the encoder with a copy of `size` bytes of `source` at `offset` and reads them back. */
  private async submitAndRead(
    encoder: GPUCommandEncoder,
    source: GPUBuffer,
    offset: number,
    size: number,
    frame: Frame | null,
  ): Promise<ArrayBuffer> {
    const [bytes] = await this.readBack(encoder, [{ source, offset, size: Math.max(4, size) }], frame);
    return bytes!.slice(0, size);
  }

  private checkVector(vector: GpuVector): void {
    vector.check();
    if (this.destroyed) throw new Error('WebGpuKernels used after destroy()');
  }

  private checkLength(length: number): void {
    if (!Number.isInteger(length) || length < 0)
      throw new RangeError(`length must be a non-negative integer, got ${length}`);
    const bytes = length * 4;
    if (bytes > this.device.limits.maxStorageBufferBindingSize || bytes > this.device.limits.maxBufferSize) {
      throw new RangeError(
        `${length} floats (${bytes} bytes) exceed this device's storage binding limit of ` +
          `${this.device.limits.maxStorageBufferBindingSize} bytes`,
      );
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Vectors

  upload(data: Float32Array): GpuVector {
    this.checkLength(data.length);
    const buffer = this.device.createBuffer({
      label: 'vector',
      size: Math.max(16, Math.ceil((data.length * 4) / 16) * 16),
      usage: VECTOR_USAGE,
      mappedAtCreation: true,
    });
    new Float32Array(buffer.getMappedRange(), 0, data.length).set(data);
    buffer.unmap();
    return new GpuVector(buffer, data.length, true);
  }

  zeros(length: number): GpuVector {
    this.checkLength(length);
    const buffer = this.device.createBuffer({
      label: 'vector',
      size: Math.max(16, Math.ceil((length * 4) / 16) * 16),
      usage: VECTOR_USAGE,
    });
    return new GpuVector(buffer, length, true);
  }

  write(target: GpuVector, data: Float32Array): void {
    this.checkVector(target);
    if (data.length !== target.length) {
      throw new RangeError(`write: ${data.length} values into a vector of length ${target.length}`);
    }
    if (data.length === 0) return;
    this.device.queue.writeBuffer(target.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
  }

  async download(vector: GpuVector): Promise<Float32Array> {
    this.checkVector(vector);
    if (vector.length === 0) return new Float32Array(0);
    const encoder = this.device.createCommandEncoder({ label: 'download' });
    return new Float32Array(await this.submitAndRead(encoder, vector.buffer, 0, vector.length * 4, null));
  }

  length(vector: GpuVector): number {
    return vector.length;
  }

  wrap(buffer: GPUBuffer, length: number): GpuVector {
    return wrapGpuBuffer(buffer, length);
  }

  release(vector: GpuVector): void {
    if (vector.isReleased) return;
    vector.markReleased();
    if (vector.owned) vector.buffer.destroy();
  }

  // ---------------------------------------------------------------------------------------------
  // Coordinate-wise

  private elementwise(
    entryPoint: 'addInto' | 'addSelf' | 'addTo' | 'zeroAt' | 'gather',
    dst: GPUBuffer | GPUBufferBinding,
    n: number,
    count: number,
    source: GPUBuffer | GPUBufferBinding | null,
    data: GPUBuffer | GPUBufferBinding | null,
    frame: Frame,
    encoder: GPUCommandEncoder,
  ): void {
    const items = entryPoint === 'zeroAt' || entryPoint === 'gather' ? count : n;
    const { items: perThread, numBlocks } = this.blocking(items);
    const params = this.uniform(frame, new Uint32Array([n, count, numBlocks, perThread]));
    const group = this.bindGroup('elementwise', [dst, params, source ?? this.dummies[0]!, data ?? this.dummies[1]!]);
    const pass = encoder.beginComputePass({ label: entryPoint });
    pass.setPipeline(this.pipeline('elementwise', entryPoint));
    pass.setBindGroup(0, group);
    this.dispatch(pass, numBlocks);
    pass.end();
  }

  addInto(target: GpuVector, addend: GpuVector): void {
    this.checkVector(target);
    this.checkVector(addend);
    if (target.length !== addend.length) {
      throw new RangeError(`addInto: lengths differ (${target.length} and ${addend.length})`);
    }
    if (target.length === 0) return;
    const frame = new Frame(this.pool);
    const encoder = this.device.createCommandEncoder({ label: 'addInto' });
    if (target.buffer === addend.buffer) {
      this.elementwise('addSelf', target.binding(), target.length, 0, null, null, frame, encoder);
    } else {
      this.elementwise('addInto', target.binding(), target.length, 0, addend.binding(), null, frame, encoder);
    }
    this.device.queue.submit([encoder.finish()]);
    frame.done();
  }

  addTo(out: GpuVector, a: GpuVector, b: GpuVector): void {
    for (const v of [out, a, b]) this.checkVector(v);
    if (a.length !== out.length || b.length !== out.length) {
      throw new RangeError(`addTo: lengths differ (${out.length}, ${a.length} and ${b.length})`);
    }
    if (out.buffer === a.buffer || out.buffer === b.buffer) throw new Error('addTo: out must be a third vector');
    if (out.length === 0) return;
    const frame = new Frame(this.pool);
    const encoder = this.device.createCommandEncoder({ label: 'addTo' });
    this.elementwise('addTo', out.binding(), out.length, 0, a.binding(), b.binding(), frame, encoder);
    this.device.queue.submit([encoder.finish()]);
    frame.done();
  }

  private uploadIndices(frame: Frame, indices: Uint32Array): GPUBuffer {
    const buffer = this.storage(frame, indices.byteLength, 'indices');
    this.device.queue.writeBuffer(buffer, 0, indices.buffer, indices.byteOffset, indices.byteLength);
    return buffer;
  }

  zeroAt(target: GpuVector, indices: Uint32Array): void {
    this.checkVector(target);
    if (indices.length === 0 || target.length === 0) return;
    const frame = new Frame(this.pool);
    const encoder = this.device.createCommandEncoder({ label: 'zeroAt' });
    const list = this.uploadIndices(frame, indices);
    this.elementwise('zeroAt', target.binding(), target.length, indices.length, list, null, frame, encoder);
    this.device.queue.submit([encoder.finish()]);
    frame.done();
  }

  async gather(vector: GpuVector, indices: Uint32Array): Promise<Float32Array> {
    this.checkVector(vector);
    const count = indices.length;
    if (count === 0) return new Float32Array(0);
    if (vector.length === 0) return new Float32Array(count).fill(NaN);
    const frame = new Frame(this.pool);
    const encoder = this.device.createCommandEncoder({ label: 'gather' });
    const list = this.uploadIndices(frame, indices);
    const out = this.storage(frame, count * 4, 'gathered');
    this.elementwise('gather', out, vector.length, count, list, vector.binding(), frame, encoder);
    return new Float32Array(await this.submitAndRead(encoder, out, 0, count * 4, frame));
  }

  // ---------------------------------------------------------------------------------------------
  // Reductions

  /** @internal Bytes of the moments module's Result (read back whole). */
  get momentsResultBytes(): number {
    return 16 + this.workgroupSize * 32;
  }

  /** @internal A moments Result buffer, initialized for a MODE 0 or 1 reduction. */
  momentsResultBuffer(frame: Frame): GPUBuffer {
    const result = this.storage(frame, this.momentsResultBytes, 'moments');
    this.device.queue.writeBuffer(result, 0, new Uint32Array([0xffffffff, 0, 0, 0]));
    return result;
  }

  /** @internal Encodes the two-pass power-sum reduction of `vector` into `pass`; returns its Result buffer. */
  encodeMoments(
    pass: GPUComputePassEncoder,
    frame: Frame,
    vector: GpuVector,
    result = this.momentsResultBuffer(frame),
    mode: 0 | 1 = 0,
    meanHi = 0,
    meanLo = 0,
  ): GPUBuffer {
    const n = vector.length;
    const { items, numBlocks } = this.blocking(n);
    const paramsWords = new ArrayBuffer(32);
    new Uint32Array(paramsWords).set([n, numBlocks, 0, 0, 0, items]);
    new Float32Array(paramsWords, 8, 2).set([meanHi, meanLo]);
    const params = this.uniform(frame, new Uint8Array(paramsWords));
    const partials = this.storage(frame, numBlocks * 32, 'partials');
    pass.setBindGroup(0, this.bindGroup('moments', [vector.binding(), params, partials, result]));
    pass.setPipeline(this.pipeline('moments', 'blockMoments', { MODE: mode }));
    this.dispatch(pass, numBlocks);
    pass.setPipeline(this.pipeline('moments', 'finishMoments', { MODE: mode }));
    pass.dispatchWorkgroups(1);
    return result;
  }

  /** Runs the two-pass power-sum reduction; returns the raw result words. */
  private powerSums(vector: GpuVector, mode: 0 | 1, meanHi: number, meanLo: number): Promise<ArrayBuffer> {
    const frame = new Frame(this.pool);
    const encoder = this.device.createCommandEncoder({ label: mode === 0 ? 'moments' : 'centralMoments' });
    const pass = encoder.beginComputePass();
    const result = this.encodeMoments(pass, frame, vector, undefined, mode, meanHi, meanLo);
    pass.end();
    return this.submitAndRead(encoder, result, 0, this.momentsResultBytes, frame);
  }

  /** Sums over the per-thread results in float64: [sum of s.x 2^(p0 E), s.y 2^(p1 E), s.z 2^(p2 E)]. */
  private combine(words: ArrayBuffer, powers: [number, number, number]): { sums: number[]; maxKey: number } {
    const f = new Float32Array(words);
    const i32 = new Int32Array(words);
    const u32 = new Uint32Array(words);
    const sums = [0, 0, 0];
    let maxKey = 0;
    for (let t = 0; t < this.workgroupSize; t++) {
      const base = 4 + t * 8;
      const e = i32[base + 4]!;
      maxKey = Math.max(maxKey, u32[base + 5]!);
      if (e < -1000) continue;
      for (let c = 0; c < 3; c++) sums[c]! += f[base + c]! * 2 ** (powers[c]! * e);
    }
    return { sums, maxKey };
  }

  async moments(vector: GpuVector): Promise<Moments> {
    this.checkVector(vector);
    const n = vector.length;
    if (n === 0) return { count: 0, sum: 0, sumSquares: 0, sumAbs: 0, maxAbs: 0, firstNonFinite: -1 };
    return this.momentsFrom(await this.powerSums(vector, 0, 0, 0), n);
  }

  /** @internal Moments of n coordinates from a MODE 0 Result's words. */
  momentsFrom(words: ArrayBuffer, n: number): Moments {
    const first = new Uint32Array(words, 0, 1)[0]!;
    if (first !== 0xffffffff) {
      return { count: n, sum: NaN, sumSquares: NaN, sumAbs: NaN, maxAbs: NaN, firstNonFinite: first };
    }
    const { sums, maxKey } = this.combine(words, [1, 2, 1]);
    scratchU32[0] = maxKey;
    return {
      count: n,
      sum: sums[0]!,
      sumSquares: sums[1]!,
      sumAbs: sums[2]!,
      maxAbs: scratchF32[0]!,
      firstNonFinite: -1,
    };
  }

  async centralMoments(vector: GpuVector, mean: number): Promise<CentralMoments> {
    this.checkVector(vector);
    if (vector.length === 0) return { m2: 0, m3: 0, m4: 0 };
    const meanHi = Math.fround(mean);
    const meanLo = Number.isFinite(meanHi) ? Math.fround(mean - meanHi) : 0;
    const words = await this.powerSums(vector, 1, meanHi, meanLo);
    const flags = new Uint32Array(words, 4, 1)[0]!;
    if (flags & 1) return { m2: NaN, m3: NaN, m4: NaN };
    if (flags & 6) {
      const pos = (flags & 2) !== 0;
      const neg = (flags & 4) !== 0;
      return { m2: Infinity, m3: pos && neg ? NaN : pos ? Infinity : -Infinity, m4: Infinity };
    }
    const { sums } = this.combine(words, [2, 3, 4]);
    return { m2: sums[0]!, m3: sums[1]!, m4: sums[2]! };
  }

  async histogram(vector: GpuVector, min: number, max: number, bins: number): Promise<Uint32Array> {
    this.checkVector(vector);
    if (!Number.isInteger(bins) || bins < 0) throw new RangeError(`bins must be a non-negative integer, got ${bins}`);
    const n = vector.length;
    if (bins === 0) return new Uint32Array(0);
    if (n === 0) return new Uint32Array(bins);
    const plan = histogramPlan(min, max, bins);
    const { items, numBlocks } = this.blocking(n);
    const frame = new Frame(this.pool);
    const params = this.uniform(
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
    const edges = this.storage(frame, plan.edges.byteLength, 'edges');
    if (plan.edges.length > 0)
      this.device.queue.writeBuffer(edges, 0, plan.edges.buffer, plan.edges.byteOffset, plan.edges.byteLength);
    const counts = this.storage(frame, bins * 4, 'histogram');
    const encoder = this.device.createCommandEncoder({ label: 'histogram' });
    encoder.clearBuffer(counts, 0, bins * 4);
    const group = this.bindGroup('histogram', [vector.binding(), params, edges, counts]);
    const pass = encoder.beginComputePass();
    pass.setBindGroup(0, group);
    pass.setPipeline(this.pipeline('histogram', 'histogram', { SHARED_BINS: SHARED_HISTOGRAM_BINS }));
    this.dispatch(pass, numBlocks);
    pass.end();
    return new Uint32Array(await this.submitAndRead(encoder, counts, 0, bins * 4, frame));
  }

  async countAbove(vector: GpuVector, thresholds: readonly number[]): Promise<number[]> {
    this.checkVector(vector);
    const m = thresholds.length;
    if (m === 0) return [];
    const n = vector.length;
    if (n === 0) return thresholds.map(() => 0);
    const { items, numBlocks } = this.blocking(n);
    const chunks = Math.ceil(m / 8);
    const stride = 256; // min{Uniform,Storage}BufferOffsetAlignment
    const frame = new Frame(this.pool);
    const params = frame.take(chunks * stride, USAGE.UNIFORM | USAGE.COPY_DST, 'params');
    const words = new Int32Array((chunks * stride) / 4);
    for (let c = 0; c < chunks; c++) {
      const base = (c * stride) / 4;
      const count = Math.min(8, m - c * 8);
      words.set([n, numBlocks, count, items], base);
      // Unused slots: i32 max, which no magnitude key exceeds.
      for (let t = 0; t < 8; t++) words[base + 4 + t] = t < count ? thresholdBits(thresholds[c * 8 + t]!) : 0x7fffffff;
    }
    this.device.queue.writeBuffer(params, 0, words);
    const result = this.storage(frame, chunks * stride, 'counts');
    const encoder = this.device.createCommandEncoder({ label: 'countAbove' });
    encoder.clearBuffer(result, 0, chunks * stride);
    const pass = encoder.beginComputePass();
    pass.setPipeline(this.pipeline('count', 'countAbove'));
    const data = vector.binding();
    for (let c = 0; c < chunks; c++) {
      pass.setBindGroup(
        0,
        this.bindGroup('count', [
          data,
          { buffer: params, offset: c * stride, size: 48 },
          { buffer: result, offset: c * stride, size: 32 },
        ]),
      );
      this.dispatch(pass, numBlocks);
    }
    pass.end();
    const counts = new Uint32Array(await this.submitAndRead(encoder, result, 0, chunks * stride, frame));
    return thresholds.map((_, t) => counts[Math.floor(t / 8) * (stride / 4) + (t % 8)]!);
  }

  // ---------------------------------------------------------------------------------------------
  // Compaction and selection (deviceSelection.ts)

  async compactAbove(vector: GpuVector, threshold: number): Promise<SparseVector> {
    this.checkVector(vector);
    if (vector.length === 0) return EMPTY_SPARSE();
    return compactAboveOnDevice(this, vector, thresholdBits(threshold));
  }

  async topk(vector: GpuVector, k: number, _hint?: number): Promise<SparseVector> {
    this.checkVector(vector);
    const n = vector.length;
    k = Math.floor(k);
    if (!(k > 0) || n === 0) return EMPTY_SPARSE();
    if (k >= n) {
      const values = await this.download(vector);
      return { indices: Uint32Array.from({ length: n }, (_, i) => i), values };
    }
    return topkOnDevice(this, vector.binding(), n, k, 0, { writeValues: true });
  }

  async randomSubset(length: number, k: number, seed: number): Promise<Uint32Array> {
    if (this.destroyed) throw new Error('WebGpuKernels used after destroy()');
    if (!Number.isInteger(length) || length < 0)
      throw new RangeError(`length must be a non-negative integer, got ${length}`);
    if (length > 0xffffffff) throw new RangeError('randomSubset: length must fit in 32 bits');
    k = Math.floor(k);
    if (!(k > 0) || length === 0) return new Uint32Array(0);
    if (k >= length) return Uint32Array.from({ length }, (_, i) => i);
    const { indices } = await topkOnDevice(this, this.dummies[2]!, length, k, 1, {
      mixedSeed: mix32(seed >>> 0),
      writeValues: false,
    });
    return indices;
  }

  selectOnDevice(items: DeviceSelectionItem<GpuVector>[]): Promise<DeviceSelection[]> {
    for (const { u } of items) this.checkVector(u);
    return selectOnDevice(this, items);
  }

  // ---------------------------------------------------------------------------------------------

  /** Frees pooled buffers and placeholders; destroys the device if createWebGpuKernels acquired it. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.pool.destroy();
    for (const buffer of this.dummies) buffer.destroy();
    this.pipelines.clear();
    if (this.ownsDevice) this.device.destroy();
  }
}

function describeDevice(device: GPUDevice): { info: GpuAdapterDescription; isFallbackAdapter: boolean } | null {
  const info = (device as GPUDevice & { adapterInfo?: GPUAdapterInfo & { isFallbackAdapter?: boolean } }).adapterInfo;
  if (!info) return null;
  return {
    info: {
      vendor: info.vendor ?? '',
      architecture: info.architecture ?? '',
      device: info.device ?? '',
      description: info.description ?? '',
    },
    isFallbackAdapter: info.isFallbackAdapter === true,
  };
}

/**
 * Kernels on `device` (one the training runtime already has), or on a device acquired with
 * acquireGpuDevice() (which destroy() then destroys). Compiles every pipeline before resolving
 * unless `prepare: false` (about 3 s under SwiftShader, mostly Dawn's zero-initialization of the
 * workgroup histograms; milliseconds on GPUs).
 */
export async function createWebGpuKernels(
  device?: GPUDevice,
  options: Omit<WebGpuKernelsOptions, 'ownsDevice'> & {
    /** Compile every pipeline before resolving (default true); false compiles each at first use. */
    prepare?: boolean;
  } = {},
): Promise<WebGpuKernels> {
  let kernels: WebGpuKernels;
  if (device) {
    const described = describeDevice(device);
    const isSoftware =
      options.isSoftware ?? (described ? isSoftwareAdapter(described.info, described.isFallbackAdapter) : false);
    kernels = new WebGpuKernels(device, {
      ...options,
      deviceName:
        options.deviceName ??
        (described ? adapterName(described.info) : 'WebGPU device') + (isSoftware ? ' [software]' : ''),
      isSoftware,
      ownsDevice: false,
    });
  } else {
    const acquired = await acquireGpuDevice(options.profile ? { optionalFeatures: ['timestamp-query'] } : {});
    kernels = new WebGpuKernels(acquired.device, {
      ...options,
      deviceName: options.deviceName ?? adapterName(acquired.adapterInfo) + (acquired.isSoftware ? ' [software]' : ''),
      isSoftware: acquired.isSoftware,
      ownsDevice: true,
    });
  }
  if (options.prepare !== false) {
    try {
      await kernels.prepare();
    } catch (error) {
      kernels.destroy();
      throw error;
    }
  }
  return kernels;
}
