/**
 * Thresholded compaction and exact top-k on the CPU backend (compaction.as.ts, select.as.ts).
 * Top-k never depends on sampling luck, only its speed does: see cpu/index.ts.
 */
import type { SparseVector } from '../kernels';
import type { CpuKernels, CpuVector } from '../cpu/index';
import { COMPACT_CHUNK, MAX_CANDIDATE_FRACTION, SAMPLE, iota } from '../cpu/common';
import { MAGNITUDE_MASK, thresholdBits } from '../float32Bits';

export function compactAbove(kernels: CpuKernels, vector: CpuVector, threshold: number): SparseVector {
  kernels.check(vector);
  const t = thresholdBits(threshold);
  const buffer = kernels.compactBuffer();
  const idxPtr = buffer;
  const valPtr = buffer + COMPACT_CHUNK * 4;
  const chunks: { indices: Uint32Array; values: Float32Array }[] = [];
  let total = 0;
  let start = 0;
  const n = vector.length;
  do {
    const c = kernels.wasm.compactAbove(vector.ptr, start, n, t, idxPtr, valPtr, COMPACT_CHUNK);
    start = kernels.wasm.lastStop() >>> 0;
    if (start === n && chunks.length === 0) {
      return { indices: kernels.u32(idxPtr, c).slice(), values: kernels.f32(valPtr, c).slice() };
    }
    chunks.push({ indices: kernels.u32(idxPtr, c).slice(), values: kernels.f32(valPtr, c).slice() });
    total += c;
  } while (start < n);
  const indices = new Uint32Array(total);
  const values = new Float32Array(total);
  let at = 0;
  for (const chunk of chunks) {
    indices.set(chunk.indices, at);
    values.set(chunk.values, at);
    at += chunk.indices.length;
  }
  return { indices, values };
}

export function topk(kernels: CpuKernels, vector: CpuVector, k: number, hint?: number): SparseVector {
  kernels.check(vector);
  const n = vector.length;
  k = Math.trunc(k);
  if (!(k > 0) || n === 0) return { indices: new Uint32Array(0), values: new Float32Array(0) };
  if (k >= n) return { indices: iota(n), values: kernels.view(vector).slice() };
  if (n > kernels.wholeSelectMaxLength) {
    const selected = topkByCandidates(kernels, vector, k, hint === undefined ? -1 : thresholdBits(hint));
    if (selected) return selected;
  }
  return topkWhole(kernels, vector, k);
}

/** Top-k among the coordinates above a sampled (or hinted) threshold; null when that fails. */
function topkByCandidates(kernels: CpuKernels, vector: CpuVector, k: number, hintBits: number): SparseVector | null {
  const { wasm, heap } = kernels;
  const n = vector.length;
  const s = Math.min(SAMPLE, n);
  // The sample's rank-th largest magnitude: with a 4-sigma margin, more than k coordinates exceed it.
  const expected = (k * s) / n;
  const rank = Math.min(s, Math.ceil(expected + 4 * Math.sqrt(expected) + 4));
  const estimate = (rank * n) / s;
  if (estimate > n * MAX_CANDIDATE_FRACTION) return null;

  const hist = kernels.hist();
  const sample = kernels.sampleBuffer();
  wasm.sampleFloat(vector.ptr, n, s, 0x2545f491, sample);
  const sampled = wasm.selectKeys(sample, s, rank, MAGNITUDE_MASK, hist);

  const cap = Math.min(n, Math.ceil(2 * estimate) + 4096);
  const candidates = heap.alloc(cap * 8);
  try {
    const idxPtr = candidates;
    const valPtr = candidates + cap * 4;
    // The tighter of the two thresholds; if the hint turns out wrong, fall back to the sample's.
    const thresholds = hintBits > sampled ? [hintBits, sampled] : [sampled];
    for (const t of thresholds) {
      const c = wasm.compactAbove(vector.ptr, 0, n, t, idxPtr, valPtr, cap);
      if (wasm.lastStop() >>> 0 < n) return null; // more candidates than the cap
      if (c < k) continue; // too few: the k-th largest is not above t
      const key = wasm.selectKeys(valPtr, c, k, MAGNITUDE_MASK, hist);
      const quota = k - (wasm.lastGreater() >>> 0);
      const out = heap.alloc(k * 8);
      try {
        const written = wasm.emitCandidates(idxPtr, valPtr, c, MAGNITUDE_MASK, key, quota, out, out + k * 4);
        if (written !== k) throw new Error(`topk: selected ${written} of ${k}`);
        return { indices: kernels.u32(out, k).slice(), values: kernels.f32(out + k * 4, k).slice() };
      } finally {
        heap.release(out);
      }
    }
    return null;
  } finally {
    heap.release(candidates);
  }
}

/** Radix select over the whole vector: two histogram passes, one emission pass. */
function topkWhole(kernels: CpuKernels, vector: CpuVector, k: number): SparseVector {
  const { wasm, heap } = kernels;
  const n = vector.length;
  const hist = kernels.hist();
  const out = heap.alloc(k * 8);
  try {
    const key = wasm.selectFloat(vector.ptr, n, k, hist);
    const quota = k - (wasm.lastGreater() >>> 0);
    const written = wasm.emitFloat(vector.ptr, n, key, quota, k, out, out + k * 4);
    if (written !== k) throw new Error(`topk: selected ${written} of ${k}`);
    return { indices: kernels.u32(out, k).slice(), values: kernels.f32(out + k * 4, k).slice() };
  } finally {
    heap.release(out);
  }
}
