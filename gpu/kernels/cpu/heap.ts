/**
 * A first-fit allocator over a WebAssembly.Memory, run from the host: blocks are 64-byte
 * aligned, freed blocks coalesce with their neighbours, and the memory grows on demand (up to
 * wasm32's 4 GiB). Growing detaches every view onto the old ArrayBuffer, so callers must take
 * views from `memory.buffer` again after any allocation.
 */
const ALIGN = 64;
const PAGE = 65536;
const MAX_BYTES = 65536 * PAGE;

interface Block {
  ptr: number;
  size: number;
}

export class WasmHeap {
  /** Free blocks ordered by address, never adjacent (they coalesce). */
  private readonly free: Block[] = [];
  private readonly sizes = new Map<number, number>();
  /** End of the managed region: the memory's byte length when it was last grown. */
  private end: number;

  constructor(
    private readonly memory: WebAssembly.Memory,
    base: number,
  ) {
    const start = alignUp(base);
    this.end = memory.buffer.byteLength;
    if (this.end > start) this.free.push({ ptr: start, size: this.end - start });
    else this.end = start;
  }

  /** Bytes currently handed out. */
  get allocatedBytes(): number {
    let total = 0;
    for (const size of this.sizes.values()) total += size;
    return total;
  }

  /** Reserves `bytes` (rounded up to 64); returns the block's byte offset. */
  alloc(bytes: number): number {
    const size = alignUp(Math.max(ALIGN, bytes));
    for (let i = 0; i < this.free.length; i++) {
      const block = this.free[i]!;
      if (block.size < size) continue;
      const ptr = block.ptr;
      if (block.size === size) this.free.splice(i, 1);
      else {
        block.ptr += size;
        block.size -= size;
      }
      this.sizes.set(ptr, size);
      return ptr;
    }
    this.grow(size);
    return this.alloc(bytes);
  }

  release(ptr: number): void {
    const size = this.sizes.get(ptr);
    if (size === undefined) throw new Error(`WasmHeap: ${ptr} is not an allocated block`);
    this.sizes.delete(ptr);
    this.insertFree(ptr, size);
  }

  private insertFree(ptr: number, size: number): void {
    const free = this.free;
    let lo = 0;
    let hi = free.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (free[mid]!.ptr < ptr) lo = mid + 1;
      else hi = mid;
    }
    const prev = lo > 0 ? free[lo - 1]! : undefined;
    const next = lo < free.length ? free[lo]! : undefined;
    if (prev && prev.ptr + prev.size === ptr) {
      prev.size += size;
      if (next && prev.ptr + prev.size === next.ptr) {
        prev.size += next.size;
        free.splice(lo, 1);
      }
    } else if (next && ptr + size === next.ptr) {
      next.ptr = ptr;
      next.size += size;
    } else {
      free.splice(lo, 0, { ptr, size });
    }
  }

  /** Grows the memory so that a block of `size` bytes fits at its end. */
  private grow(size: number): void {
    const last = this.free[this.free.length - 1];
    const tailFree = last && last.ptr + last.size === this.end ? last.size : 0;
    const needed = size - tailFree;
    const current = this.memory.buffer.byteLength;
    // Grow by at least an eighth of the current size, so many small allocations grow rarely.
    let pages = Math.ceil(Math.max(needed, Math.min(current / 8, 256 * 1024 * 1024)) / PAGE);
    if (current + pages * PAGE > MAX_BYTES) pages = Math.ceil(needed / PAGE);
    if (current + pages * PAGE > MAX_BYTES) {
      throw new RangeError(
        `CPU kernels: out of WebAssembly memory (need ${size} more bytes, ${current} in use, 4 GiB limit)`,
      );
    }
    try {
      this.memory.grow(pages);
    } catch (error) {
      throw new RangeError(`CPU kernels: could not grow WebAssembly memory by ${pages * PAGE} bytes: ${error}`, {
        cause: error,
      });
    }
    const oldEnd = this.end;
    this.end = this.memory.buffer.byteLength;
    this.insertFree(oldEnd, this.end - oldEnd);
  }
}

function alignUp(x: number): number {
  return Math.ceil(x / ALIGN) * ALIGN;
}
