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
import { mix32 } from '../random/random';
import { BufferPool } from '../../webgpuDevice/bufferPool';
import { PipelineCache, type OverrideConstants } from '../../webgpuDevice/pipelineCache';
import { wgslBindings } from './bindings';
import { selectOnDevice, topkOnDevice } from './deviceSelection';
import * as elementwise from '../elementwise/webgpu';
import { ELEMENTWISE_OPS } from '../elementwise/webgpu';
import * as momentsOnDevice from '../moments/webgpu';
import { SHARED_HISTOGRAM_BINS, histogram as histogramOnDevice } from '../histogram/webgpu';
import { countAbove as countAboveOnDevice } from '../count/webgpu';
import { thresholdBits } from '../float32Bits';
import { Frame, GpuVector, USAGE, VECTOR_USAGE, wrapGpuBuffer } from './vector';
import { SELECT_PIPELINES, compactAboveOnDevice } from '../select/webgpu';
import decideWgsl from '../select/decide.wgsl';
import commonWgsl from './common.wgsl';
import randomWgsl from '../random/random.wgsl';
import selectWgsl from '../select/select.wgsl';
import momentsWgsl from '../moments/moments.wgsl';
import countWgsl from '../count/count.wgsl';
import histogramWgsl from '../histogram/histogram.wgsl';
import elementwiseWgsl from '../elementwise/elementwise.wgsl';

export { Frame, GpuVector, VECTOR_USAGE, wrapGpuBuffer } from './vector';
export { createWebGpuKernels } from './create';

/** WGSL sources of the kernel modules, with their shared helpers prepended. */
export const WGSL_MODULES = {
  select: [commonWgsl, randomWgsl, selectWgsl, decideWgsl].join('\n'),
  moments: [commonWgsl, momentsWgsl].join('\n'),
  count: [commonWgsl, countWgsl].join('\n'),
  histogram: [commonWgsl, histogramWgsl].join('\n'),
  elementwise: [commonWgsl, elementwiseWgsl].join('\n'),
  random: randomWgsl,
} as const;

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

const KERNEL_MODULES = ['select', 'moments', 'count', 'histogram', 'elementwise'] as const;
type ModuleName = (typeof KERNEL_MODULES)[number];

const EMPTY_SPARSE = (): SparseVector => ({ indices: new Uint32Array(0), values: new Float32Array(0) });

/** Radix bins of the selection's digits (select.wgsl). */
const RADIX_BINS = 2048;

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
  private readonly bindingCounts: Record<ModuleName, number>;
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

    // Each module's layout comes from its own @binding declarations (bindings.ts).
    const bindings = Object.fromEntries(KERNEL_MODULES.map((m) => [m, wgslBindings(WGSL_MODULES[m], m)]));
    this.bindingCounts = Object.fromEntries(KERNEL_MODULES.map((m) => [m, bindings[m]!.length])) as Record<
      ModuleName,
      number
    >;
    const layoutOf = (module: ModuleName) =>
      device.createBindGroupLayout({
        label: module,
        entries: bindings[module]!.map((type, binding) => ({
          binding,
          visibility: 4 /* GPUShaderStage.COMPUTE */,
          buffer: { type },
        })),
      });
    this.groupLayouts = Object.fromEntries(KERNEL_MODULES.map((m) => [m, layoutOf(m)])) as Record<
      ModuleName,
      GPUBindGroupLayout
    >;
    this.layouts = Object.fromEntries(
      KERNEL_MODULES.map((m) => [m, device.createPipelineLayout({ bindGroupLayouts: [this.groupLayouts[m]] })]),
    ) as Record<ModuleName, GPUPipelineLayout>;
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
      ...ELEMENTWISE_OPS.map((_, op): [ModuleName, string, OverrideConstants] => [
        'elementwise',
        'elementwise',
        { OP: op },
      ]),
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
    if (resources.length !== this.bindingCounts[layout]) {
      throw new Error(`${layout}: ${resources.length} buffers for ${this.bindingCounts[layout]} WGSL bindings`);
    }
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
    const resolved = frame.take(256, USAGE.QUERY_RESOLVE | USAGE.COPY_SRC, 'timestamps');
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
      await readback.mapAsync(USAGE.MAP_READ, 0, bytes);
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

  /** @internal Submits the encoder with a copy of `size` bytes of `source` at `offset` and reads them back. */
  async submitAndRead(
    encoder: GPUCommandEncoder,
    source: GPUBuffer,
    offset: number,
    size: number,
    frame: Frame | null,
  ): Promise<ArrayBuffer> {
    const [bytes] = await this.readBack(encoder, [{ source, offset, size: Math.max(4, size) }], frame);
    return bytes!.slice(0, size);
  }

  /** @internal */
  checkVector(vector: GpuVector): void {
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
  // Coordinate-wise (../elementwise/webgpu.ts)

  addInto(target: GpuVector, addend: GpuVector): void {
    elementwise.addInto(this, target, addend);
  }

  addTo(out: GpuVector, a: GpuVector, b: GpuVector): void {
    elementwise.addTo(this, out, a, b);
  }

  zeroAt(target: GpuVector, indices: Uint32Array): void {
    elementwise.zeroAt(this, target, indices);
  }

  gather(vector: GpuVector, indices: Uint32Array): Promise<Float32Array> {
    return elementwise.gather(this, vector, indices);
  }

  // ---------------------------------------------------------------------------------------------
  // Reductions (../moments, ../histogram and ../count: webgpu.ts)

  moments(vector: GpuVector): Promise<Moments> {
    return momentsOnDevice.moments(this, vector);
  }

  centralMoments(vector: GpuVector, mean: number): Promise<CentralMoments> {
    return momentsOnDevice.centralMoments(this, vector, mean);
  }

  histogram(vector: GpuVector, min: number, max: number, bins: number): Promise<Uint32Array> {
    return histogramOnDevice(this, vector, min, max, bins);
  }

  countAbove(vector: GpuVector, thresholds: readonly number[]): Promise<number[]> {
    return countAboveOnDevice(this, vector, thresholds);
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
