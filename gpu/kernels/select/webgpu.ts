/**
 * The encoding pieces of select.wgsl and decide.wgsl: their Params and State, the bindings of
 * one selection, and the passes of the selection's tail (see select.wgsl), shared by
 * deviceSelection.ts; plus compactAbove with a host-decided threshold.
 */
import type { SparseVector } from '../kernels';
import type { WebGpuKernels } from '../webgpu/index';
import { USAGE, type Frame, type GpuVector } from '../webgpu/vector';

export const STATE_WORDS = 32;
/** Word offsets in select.wgsl's State. */
export const STATE = {
  prefix: 0,
  kRem: 1,
  K: 2,
  total: 6,
  done: 8,
  args: 12,
  firstNonFinite: 15,
  thresholds: 16,
  thresholdCounts: 20,
} as const;
export const NONE = 0xffffffff;
/** Three radix passes' 2048-bin histograms. */
const HISTOGRAM_BYTES = 3 * 2048 * 4;
const ZERO_HISTOGRAMS = new Uint32Array(HISTOGRAM_BYTES / 4);

export interface SelectFields {
  threshold?: number;
  mixedSeed?: number;
  capacity?: number;
  writeValues?: boolean;
  keyMode?: 0 | 1;
  checkFinite?: boolean;
  earlyStop?: boolean;
  k?: number;
  sampleSize?: number;
  numThresholds?: number;
  z?: number;
  candidateCapacity?: number;
}

/** select.wgsl's Params. */
function selectParams(
  kernels: WebGpuKernels,
  frame: Frame,
  n: number,
  { items, numBlocks }: { items: number; numBlocks: number },
  fields: SelectFields,
): GPUBuffer {
  const words = new Uint32Array(20);
  const floats = new Float32Array(words.buffer);
  words.set([
    n,
    numBlocks,
    (fields.threshold ?? 0) >>> 0,
    fields.mixedSeed ?? 0,
    fields.capacity ?? 0,
    fields.writeValues ? 1 : 0,
    items,
    fields.keyMode ?? 0,
    fields.checkFinite ? 1 : 0,
    fields.earlyStop === false ? 0 : 1,
    kernels.maxWorkgroupsPerDimension,
    fields.k ?? 0,
    fields.sampleSize ?? 0,
    fields.numThresholds ?? 0,
  ]);
  const z = fields.z ?? 0;
  floats[14] = Math.fround(z);
  floats[15] = Number.isFinite(z) ? Math.fround(z - floats[14]!) : 0;
  words[16] = fields.candidateCapacity ?? n;
  return kernels.uniform(frame, words);
}

/**
 * Candidates kept for the low digits: at the boundary bucket of normal data they are about 3k
 * (density 0.001) or 1.3k (0.01); beyond this the low digits read all of d again.
 */
export function candidateCapacityFor(n: number, k: number): number {
  return Math.min(n, Math.max(8 * k, Math.ceil(n / 32), 4096));
}

/** Timestamp writes for a selection's first pass (begin) and last pass (end), where profiled. */
export interface PassTiming {
  begin?: GPUComputePassTimestampWrites;
  end?: GPUComputePassTimestampWrites;
}

/** The buffers of one radix selection over n keys. */
export interface SelectionBuffers {
  state: GPUBuffer;
  group: GPUBindGroup;
  blocking: { items: number; numBlocks: number };
}

/** The bindings of a selection; `cand` defaults to a fresh candidate buffer, `aux` to a placeholder. */
export function selectionBuffers(
  kernels: WebGpuKernels,
  frame: Frame,
  n: number,
  k: number,
  data: GPUBuffer | GPUBufferBinding,
  out: GPUBuffer,
  fields: SelectFields,
  { cand, aux }: { cand?: GPUBuffer; aux?: GPUBuffer } = {},
): SelectionBuffers {
  const blocking = kernels.blocking(n);
  const { numBlocks } = blocking;
  const state = kernels.storage(frame, STATE_WORDS * 4, 'state');
  const init = new Uint32Array(STATE_WORDS);
  init[STATE.kRem] = k;
  init[STATE.firstNonFinite] = NONE;
  kernels.device.queue.writeBuffer(state, 0, init);
  const hist = kernels.storage(frame, HISTOGRAM_BYTES, 'radixHistograms');
  kernels.device.queue.writeBuffer(hist, 0, ZERO_HISTOGRAMS);
  const counts = kernels.storage(frame, numBlocks * 8, 'blockCounts');
  const offsets = kernels.storage(frame, (numBlocks + 1) * 4, 'blockOffsets');
  const candidateCapacity = cand ? Math.min(n, cand.size / 4) : candidateCapacityFor(n, k);
  const params = selectParams(kernels, frame, n, blocking, { ...fields, k, candidateCapacity });
  const group = kernels.bindGroup('select', [
    data,
    params,
    state,
    hist,
    counts,
    offsets,
    out,
    cand ?? kernels.storage(frame, candidateCapacity * 4, 'candidates'),
    aux ?? kernels.dummy(2),
  ]);
  return { state, group, blocking };
}

/** Encodes the three radix passes over all n keys (no candidate filtering): sets state.K. */
export function encodeFullRadix(kernels: WebGpuKernels, pass: GPUComputePassEncoder, buffers: SelectionBuffers): void {
  pass.setBindGroup(0, buffers.group);
  for (let p = 0; p < 3; p++) {
    pass.setPipeline(kernels.pipeline('select', 'radixHistogram', { INDIRECT: 0 }));
    kernels.dispatch(pass, buffers.blocking.numBlocks);
    pass.setPipeline(kernels.pipeline('select', 'radixSelect'));
    pass.dispatchWorkgroups(1);
  }
}

/**
 * Encodes the selection's tail (see select.wgsl) after `before` (in the same first pass): the
 * first radix pass unless the state is already decided, the candidates' compaction, then (in a
 * second pass, dispatched by the candidate count) the low digits and the ordered output.
 */
export function encodeTail(
  kernels: WebGpuKernels,
  encoder: GPUCommandEncoder,
  frame: Frame,
  buffers: SelectionBuffers,
  timing: PassTiming,
  before: (pass: GPUComputePassEncoder) => void = () => {},
): void {
  const { numBlocks } = buffers.blocking;
  const args = kernels.storage(frame, 16, 'dispatchArgs', USAGE.INDIRECT);
  const first = encoder.beginComputePass({ label: 'select', ...(timing.begin && { timestampWrites: timing.begin }) });
  before(first);
  first.setBindGroup(0, buffers.group);
  first.setPipeline(kernels.pipeline('select', 'radixHistogram', { INDIRECT: 0 }));
  kernels.dispatch(first, numBlocks);
  first.setPipeline(kernels.pipeline('select', 'radixSelect'));
  first.dispatchWorkgroups(1);
  first.setPipeline(kernels.pipeline('select', 'countBlocks', { PRED: 2, INDIRECT: 0 }));
  kernels.dispatch(first, numBlocks);
  first.setPipeline(kernels.pipeline('select', 'scanBlocks', { PRED: 2, INDIRECT: 0 }));
  first.dispatchWorkgroups(1);
  first.setPipeline(kernels.pipeline('select', 'scatter', { PRED: 2, INDIRECT: 0 }));
  kernels.dispatch(first, numBlocks);
  first.setPipeline(kernels.pipeline('select', 'plan'));
  first.dispatchWorkgroups(1);
  first.end();
  encoder.copyBufferToBuffer(buffers.state, STATE.args * 4, args, 0, 12);
  const second = encoder.beginComputePass({ label: 'candidates', ...(timing.end && { timestampWrites: timing.end }) });
  second.setBindGroup(0, buffers.group);
  for (let p = 1; p < 3; p++) {
    second.setPipeline(kernels.pipeline('select', 'radixHistogram', { INDIRECT: 1 }));
    second.dispatchWorkgroupsIndirect(args, 0);
    second.setPipeline(kernels.pipeline('select', 'radixSelect'));
    second.dispatchWorkgroups(1);
  }
  second.setPipeline(kernels.pipeline('select', 'countBlocks', { PRED: 1, INDIRECT: 1 }));
  second.dispatchWorkgroupsIndirect(args, 0);
  second.setPipeline(kernels.pipeline('select', 'scanBlocks', { PRED: 1, INDIRECT: 1 }));
  second.dispatchWorkgroups(1);
  second.setPipeline(kernels.pipeline('select', 'locateTie', { INDIRECT: 1 }));
  second.dispatchWorkgroups(1);
  second.setPipeline(kernels.pipeline('select', 'scatter', { PRED: 1, INDIRECT: 1 }));
  second.dispatchWorkgroupsIndirect(args, 0);
  second.end();
}

/** Every select-module pipeline the selections use, for WebGpuKernels.prepare(). */
export const SELECT_PIPELINES: [string, Record<string, number>][] = [
  ['radixHistogram', { INDIRECT: 0 }],
  ['radixHistogram', { INDIRECT: 1 }],
  ['radixSelect', {}],
  ['countBlocks', { PRED: 0, INDIRECT: 0 }],
  ['scanBlocks', { PRED: 0, INDIRECT: 0 }],
  ['scatter', { PRED: 0, INDIRECT: 0 }],
  ['countBlocks', { PRED: 2, INDIRECT: 0 }],
  ['scanBlocks', { PRED: 2, INDIRECT: 0 }],
  ['scatter', { PRED: 2, INDIRECT: 0 }],
  ['plan', {}],
  ['countBlocks', { PRED: 1, INDIRECT: 1 }],
  ['scanBlocks', { PRED: 1, INDIRECT: 1 }],
  ['locateTie', { INDIRECT: 1 }],
  ['scatter', { PRED: 1, INDIRECT: 1 }],
  ['gaussianStart', {}],
  ['countThresholds', {}],
  ['gaussianWalk', {}],
  ['gatherSample', {}],
  ['dgcThreshold', {}],
  ['dgcBranch', {}],
];

export function sparseFrom(words: ArrayBuffer, count: number, capacity: number): SparseVector {
  return {
    indices: new Uint32Array(words, 0, count).slice(),
    values: new Float32Array(words, capacity * 4, count).slice(),
  };
}

/**
 * Every |u_i| > threshold (magnitude bits, -1 for all), in index order: counts, then (after a
 * read-back of the total) the scatter of exactly that many. Operators on the GPU decide their
 * thresholds there instead; this serves the host-decided fallbacks and the statistics.
 */
export async function compactAboveOnDevice(
  kernels: WebGpuKernels,
  vector: GpuVector,
  thresholdBits: number,
): Promise<SparseVector> {
  const n = vector.length;
  const blocking = kernels.blocking(n);
  const { numBlocks } = blocking;
  const frame = kernels.frame();
  const state = kernels.storage(frame, STATE_WORDS * 4, 'state');
  const counts = kernels.storage(frame, numBlocks * 4, 'blockCounts');
  const offsets = kernels.storage(frame, (numBlocks + 1) * 4, 'blockOffsets');
  const group = (out: GPUBuffer, capacity: number) =>
    kernels.bindGroup('select', [
      vector.binding(),
      selectParams(kernels, frame, n, blocking, { threshold: thresholdBits, capacity, writeValues: true }),
      state,
      kernels.dummy(0),
      counts,
      offsets,
      out,
      kernels.dummy(1),
      kernels.dummy(2),
    ]);
  const constants = { PRED: 0, INDIRECT: 0 };
  try {
    let encoder = kernels.device.createCommandEncoder({ label: 'compactAbove.count' });
    let pass = encoder.beginComputePass();
    pass.setBindGroup(0, group(kernels.dummy(3), 0));
    pass.setPipeline(kernels.pipeline('select', 'countBlocks', constants));
    kernels.dispatch(pass, numBlocks);
    pass.setPipeline(kernels.pipeline('select', 'scanBlocks', constants));
    pass.dispatchWorkgroups(1);
    pass.end();
    const [totalWords] = await kernels.readBack(encoder, [{ source: offsets, offset: numBlocks * 4, size: 4 }], null);
    const total = new Uint32Array(totalWords!)[0]!;
    if (total === 0) return { indices: new Uint32Array(0), values: new Float32Array(0) };
    const out = kernels.storage(frame, total * 8, 'compacted');
    encoder = kernels.device.createCommandEncoder({ label: 'compactAbove.scatter' });
    pass = encoder.beginComputePass();
    pass.setBindGroup(0, group(out, total));
    pass.setPipeline(kernels.pipeline('select', 'scatter', constants));
    kernels.dispatch(pass, numBlocks);
    pass.end();
    const [words] = await kernels.readBack(encoder, [{ source: out, size: total * 8 }], null);
    return sparseFrom(words!, total, total);
  } finally {
    frame.done();
  }
}
