/**
 * The seeded random subset on the CPU backend (random.as.ts for the keys, select.as.ts and
 * compaction.as.ts for their selection): the k largest randomKey(seed, i), i < length.
 */
import type { CpuKernels } from '../cpu/index';
import { MAX_CANDIDATE_FRACTION, MAX_LENGTH, iota } from '../cpu/common';
import { mix32 } from './random';

const ALL_KEYS = 0xffffffff;

export function randomSubset(kernels: CpuKernels, length: number, k: number, seed: number): Uint32Array {
  const { wasm, heap } = kernels;
  if (!Number.isInteger(length) || length < 0 || length > MAX_LENGTH) {
    throw new RangeError(`randomSubset: bad length ${length}`);
  }
  k = Math.trunc(k);
  if (!(k > 0) || length === 0) return new Uint32Array(0);
  if (k >= length) return iota(length);
  const ms = mix32(seed >>> 0);
  const hist = kernels.hist();

  // Keys are uniform on [0, 2^32): count(key >= t) is about length * (2^32 - t) / 2^32.
  const expected = k + 5 * Math.sqrt(k) + 16;
  if (expected <= length * MAX_CANDIDATE_FRACTION) {
    const t = Math.floor(2 ** 32 * (1 - expected / length));
    const cap = Math.ceil(expected + 6 * Math.sqrt(expected) + 1024);
    const candidates = heap.alloc(cap * 8);
    try {
      const idxPtr = candidates;
      const keyPtr = candidates + cap * 4;
      const c = wasm.compactRandom(ms, 0, length, t, idxPtr, keyPtr, cap);
      if (wasm.lastStop() >>> 0 === length && c >= k) {
        const key = wasm.selectKeys(keyPtr, c, k, ALL_KEYS, hist);
        const quota = k - (wasm.lastGreater() >>> 0);
        const out = heap.alloc(k * 4);
        try {
          const written = wasm.emitCandidates(idxPtr, keyPtr, c, ALL_KEYS, key, quota, out, 0);
          if (written !== k) throw new Error(`randomSubset: selected ${written} of ${k}`);
          return kernels.u32(out, k).slice();
        } finally {
          heap.release(out);
        }
      }
    } finally {
      heap.release(candidates);
    }
  }
  const out = heap.alloc(k * 4);
  try {
    const key = wasm.selectRandom(ms, length, k, hist);
    const quota = k - (wasm.lastGreater() >>> 0);
    const written = wasm.emitRandom(ms, length, key, quota, k, out);
    if (written !== k) throw new Error(`randomSubset: selected ${written} of ${k}`);
    return kernels.u32(out, k).slice();
  } finally {
    heap.release(out);
  }
}
