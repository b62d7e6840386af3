/** Vectors on the WebGPU backend, and the pooled scratch buffers of one call. */
import type { BufferPool } from '../../webgpuDevice/bufferPool';

/** GPUBufferUsage / GPUMapMode values (spec constants; no dependence on globals being installed). */
export const USAGE = {
  MAP_READ: 0x0001,
  INDIRECT: 0x0100,
  QUERY_RESOLVE: 0x0200,
  COPY_SRC: 0x0004,
  COPY_DST: 0x0008,
  UNIFORM: 0x0040,
  STORAGE: 0x0080,
} as const;

export const VECTOR_USAGE = USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST;

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
