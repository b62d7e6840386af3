/**
 * Reuses GPU buffers by (usage, size class). Sizes are rounded up to a power of two (at least
 * 256 bytes), so a buffer serves every request of its class.
 *
 * Safety rule for callers: a buffer only used by GPU commands can be released as soon as the
 * commands using it are submitted (later users are queued after them); a MAP_READ buffer must be
 * unmapped first.
 */
export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  private readonly live = new Set<GPUBuffer>();
  private pooledBytes = 0;

  /** Free buffers beyond this many bytes are destroyed instead of kept. */
  maxPooledBytes = 256 * 1024 * 1024;

  constructor(readonly device: GPUDevice) {}

  static sizeClass(size: number): number {
    let s = 256;
    while (s < size) s *= 2;
    return s;
  }

  acquire(size: number, usage: GPUBufferUsageFlags, label?: string): GPUBuffer {
    const cls = BufferPool.sizeClass(size);
    const key = `${usage}:${cls}`;
    const list = this.free.get(key);
    const reused = list?.pop();
    if (reused) {
      this.pooledBytes -= cls;
      this.live.add(reused);
      return reused;
    }
    const buffer = this.device.createBuffer({ size: cls, usage, ...(label ? { label } : {}) });
    this.live.add(buffer);
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    if (!this.live.delete(buffer)) return;
    const cls = buffer.size;
    if (this.pooledBytes + cls > this.maxPooledBytes || buffer.mapState !== 'unmapped') {
      buffer.destroy();
      return;
    }
    const key = `${buffer.usage}:${cls}`;
    let list = this.free.get(key);
    if (!list) {
      list = [];
      this.free.set(key, list);
    }
    list.push(buffer);
    this.pooledBytes += cls;
  }

  /** Destroys the free buffers (live ones stay with their users). */
  trim(): void {
    for (const list of this.free.values()) for (const buffer of list) buffer.destroy();
    this.free.clear();
    this.pooledBytes = 0;
  }

  /** Destroys every buffer the pool ever handed out and still tracks. */
  destroy(): void {
    this.trim();
    for (const buffer of this.live) buffer.destroy();
    this.live.clear();
  }

  get stats(): { pooledBytes: number; live: number } {
    return { pooledBytes: this.pooledBytes, live: this.live.size };
  }
}
