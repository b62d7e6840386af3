/**
 * Selections decided on the GPU (select.wgsl, decide.wgsl): an operator's whole selection,
 * finiteness check included, in one submission with one read-back of a fixed-size result
 * (state, moments where the operator needs them, then up to `capacity` indices and values).
 *
 * The exact selection (Top_k, Trimmed_k, DGC_k's dense branch, Rand_k's random keys) is a radix
 * select with candidate filtering: one 11-bit histogram pass over all of d, one ordered
 * compaction of the candidates at or above the boundary bucket, and the remaining digit passes
 * over the candidates only (sized on the GPU, dispatched indirectly). Thresholds that the
 * operators compute in float64 (Gaussian_k's mu + sigma z) are computed on the GPU in
 * float-float and checked on the host against the float64 result after the read-back: on a
 * mismatch, or when a threshold's selection did not fit the capacity, the host completes the
 * selection with the operator's own algorithm (more read-backs, same result).
 */
import type { DeviceSelection, DeviceSelectionRequest, Moments, SparseMethod, SparseVector } from '../kernels';
import { mix32 } from '../random';
import { gaussianThreshold, gaussiank, reachableThresholds, walkCorrections } from '../../operators/gaussiank';
import { normalQuantile } from '../../operators/normalQuantile';
import { selectOnHost } from '../../operators/run';
import { smallestMagnitude } from '../../operators/topk';
import { trimmedThresholds } from '../../operators/trimmedk';
import type { Frame, GpuVector, WebGpuKernels } from './index';

const STATE_WORDS = 32;
/** Word offsets in select.wgsl's State. */
const STATE = {
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
const NONE = 0xffffffff;
/** Three radix passes' 2048-bin histograms. */
const HISTOGRAM_BYTES = 3 * 2048 * 4;
const ZERO_HISTOGRAMS = new Uint32Array(HISTOGRAM_BYTES / 4);
const INDIRECT_USAGE = 0x0100;

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
}

/** select.wgsl's Params. */
export function selectParams(
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
  return kernels.uniform(frame, words);
}

/** The buffers of one radix selection over n keys. */
interface SelectionBuffers {
  state: GPUBuffer;
  group: GPUBindGroup;
  blocking: { items: number; numBlocks: number };
}

/** The bindings of a selection; `cand` defaults to a fresh n-index buffer, `aux` to a placeholder. */
function selectionBuffers(
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
  const params = selectParams(kernels, frame, n, blocking, { ...fields, k });
  const group = kernels.bindGroup('select', [
    data,
    params,
    state,
    hist,
    counts,
    offsets,
    out,
    cand ?? kernels.storage(frame, n * 4, 'candidates'),
    aux ?? kernels.dummy(2),
  ]);
  return { state, group, blocking };
}

/** Encodes the three radix passes over all n keys (no candidate filtering): sets state.K. */
function encodeFullRadix(kernels: WebGpuKernels, pass: GPUComputePassEncoder, buffers: SelectionBuffers): void {
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
function encodeTail(
  kernels: WebGpuKernels,
  encoder: GPUCommandEncoder,
  frame: Frame,
  buffers: SelectionBuffers,
  timing: GPUComputePassTimestampWrites[] | null,
  before: (pass: GPUComputePassEncoder) => void = () => {},
): void {
  const { numBlocks } = buffers.blocking;
  const args = kernels.storage(frame, 16, 'dispatchArgs', INDIRECT_USAGE);
  const first = encoder.beginComputePass({ label: 'select', ...(timing && { timestampWrites: timing[0] }) });
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
  const second = encoder.beginComputePass({ label: 'candidates', ...(timing && { timestampWrites: timing[1] }) });
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

interface ReadResult {
  state: Uint32Array;
  moments: ArrayBuffer | null;
  out: ArrayBuffer;
}

/** Submits with one read-back of the state, the moments' result (if any) and the output. */
async function finish(
  kernels: WebGpuKernels,
  encoder: GPUCommandEncoder,
  frame: Frame,
  state: GPUBuffer,
  moments: GPUBuffer | null,
  out: GPUBuffer,
  outBytes: number,
): Promise<ReadResult> {
  const copies = [{ source: state, size: STATE_WORDS * 4 }];
  if (moments) copies.push({ source: moments, size: kernels.momentsResultBytes });
  copies.push({ source: out, size: outBytes });
  const parts = await kernels.readBack(encoder, copies, frame);
  return {
    state: new Uint32Array(parts[0]!),
    moments: moments ? parts[1]! : null,
    out: parts[parts.length - 1]!,
  };
}

function sparseFrom(words: ArrayBuffer, count: number, capacity: number): SparseVector {
  return {
    indices: new Uint32Array(words, 0, count).slice(),
    values: new Float32Array(words, capacity * 4, count).slice(),
  };
}

/** Exact top-k of a vector's magnitudes, or of random keys (keyMode 1, data a placeholder). */
export async function topkOnDevice(
  kernels: WebGpuKernels,
  data: GPUBuffer | GPUBufferBinding,
  n: number,
  k: number,
  keyMode: 0 | 1,
  options: { mixedSeed?: number; writeValues: boolean; checkFinite?: boolean; moments?: GpuVector },
): Promise<{ selection: SparseVector; state: Uint32Array; moments: ArrayBuffer | null }> {
  const frame = kernels.frame();
  const capacity = k;
  const out = kernels.storage(frame, capacity * (options.writeValues ? 8 : 4), 'selection');
  const buffers = selectionBuffers(kernels, frame, n, k, data, out, {
    keyMode,
    mixedSeed: options.mixedSeed ?? 0,
    capacity,
    writeValues: options.writeValues,
    checkFinite: options.checkFinite ?? false,
  });
  const encoder = kernels.device.createCommandEncoder({ label: keyMode === 0 ? 'topk' : 'randomSubset' });
  let moments: GPUBuffer | null = null;
  const timing = kernels.timestampWrites(frame);
  encodeTail(kernels, encoder, frame, buffers, timing?.writes ?? null, (pass) => {
    if (options.moments) moments = kernels.encodeMoments(pass, frame, options.moments);
  });
  timing?.resolve(encoder);
  const read = await finish(kernels, encoder, frame, buffers.state, moments, out, out.size);
  const count = Math.min(read.state[STATE.total]!, capacity);
  const selection = options.writeValues
    ? sparseFrom(read.out, count, capacity)
    : { indices: new Uint32Array(read.out, 0, count).slice(), values: new Float32Array(0) };
  return { selection, state: read.state, moments: read.moments };
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

/** Everything |u_i| > a threshold decided on the GPU (Gaussian_k, DGC_k): overflow-checked. */
function thresholdCapacity(k: number, n: number): number {
  return Math.min(n, Math.max(2 * k, k + 1024));
}

async function gaussiankOnDevice(kernels: WebGpuKernels, u: GpuVector, k: number): Promise<DeviceSelection> {
  const n = u.length;
  const frame = kernels.frame();
  const capacity = thresholdCapacity(k, n);
  const out = kernels.storage(frame, capacity * 8, 'selection');
  const moments = kernels.momentsResultBuffer(frame);
  const buffers = selectionBuffers(
    kernels,
    frame,
    n,
    k,
    u.binding(),
    out,
    { capacity, writeValues: true, numThresholds: 3, z: normalQuantile(1 - k / n / 2) },
    { aux: moments },
  );
  const encoder = kernels.device.createCommandEncoder({ label: 'gaussiank' });
  const timing = kernels.timestampWrites(frame);
  encodeTail(kernels, encoder, frame, buffers, timing?.writes ?? null, (pass) => {
    kernels.encodeMoments(pass, frame, u, moments);
    pass.setBindGroup(0, buffers.group);
    pass.setPipeline(kernels.pipeline('select', 'gaussianStart'));
    pass.dispatchWorkgroups(1);
    pass.setPipeline(kernels.pipeline('select', 'countThresholds'));
    kernels.dispatch(pass, buffers.blocking.numBlocks);
    pass.setPipeline(kernels.pipeline('select', 'gaussianWalk'));
    pass.dispatchWorkgroups(1);
  });
  timing?.resolve(encoder);
  const read = await finish(kernels, encoder, frame, buffers.state, moments, out, out.size);
  const stats = kernels.momentsFrom(read.moments!, n);
  if (stats.firstNonFinite >= 0) return { firstNonFinite: stats.firstNonFinite, moments: stats, selection: null };
  // The host's float64 decision, from the GPU's counts where it asked for the same thresholds.
  const gpuThresholds = [0, 1, 2, 3].map((i) => floatOfBits(read.state[STATE.thresholds + i]!));
  const start = gaussianThreshold(stats, k / n);
  const counted = new Map<number, number>();
  gpuThresholds.slice(0, 3).forEach((t, i) => counted.set(t, read.state[STATE.thresholdCounts + i]!));
  const agrees = reachableThresholds(start).every((t) => counted.has(t));
  if (!agrees) {
    const selection = await gaussiank.select(kernels, u, { k, moments: stats, seed: 0, sampleRatio: 0 });
    return { firstNonFinite: -1, moments: stats, selection };
  }
  const threshold = walkCorrections(start, k, (t) => counted.get(t)!);
  const total = read.state[STATE.total]!;
  if (!Object.is(threshold, gpuThresholds[3]) || total > capacity) {
    return {
      firstNonFinite: -1,
      moments: stats,
      selection: { ...(await kernels.compactAbove(u, threshold)), threshold },
    };
  }
  return { firstNonFinite: -1, moments: stats, selection: { ...sparseFrom(read.out, total, capacity), threshold } };
}

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);
function floatOfBits(bits: number): number {
  scratchBits[0] = bits;
  return scratch[0]!;
}

async function dgckOnDevice(
  kernels: WebGpuKernels,
  u: GpuVector,
  k: number,
  seed: number,
  sampleRatio: number,
): Promise<DeviceSelection> {
  const n = u.length;
  const sampleSize = Math.min(n, Math.max(1, Math.ceil(sampleRatio * n)));
  const rank = Math.max(1, Math.ceil((k * sampleSize) / n));
  const frame = kernels.frame();
  const capacity = Math.min(n, Math.max(k, Math.floor((4 * k) / 3) + 1));
  const out = kernels.storage(frame, capacity * 8, 'selection');
  // The sample (gathered into the main selection's candidate buffer) and its rank-th key.
  const cand = kernels.storage(frame, n * 4, 'candidates');
  const sample = selectionBuffers(
    kernels,
    frame,
    sampleSize,
    rank,
    cand,
    kernels.dummy(1),
    { earlyStop: false },
    {
      cand: kernels.dummy(3),
    },
  );
  const main = selectionBuffers(
    kernels,
    frame,
    n,
    k,
    u.binding(),
    out,
    { capacity, writeValues: true, mixedSeed: mix32(seed >>> 0), sampleSize, numThresholds: 1, checkFinite: true },
    { cand, aux: sample.state },
  );
  const encoder = kernels.device.createCommandEncoder({ label: 'dgck' });
  const timing = kernels.timestampWrites(frame);
  encodeTail(kernels, encoder, frame, main, timing?.writes ?? null, (pass) => {
    pass.setBindGroup(0, main.group);
    pass.setPipeline(kernels.pipeline('select', 'gatherSample'));
    kernels.dispatch(pass, kernels.blocking(sampleSize).numBlocks);
    encodeFullRadix(kernels, pass, sample);
    pass.setBindGroup(0, main.group);
    pass.setPipeline(kernels.pipeline('select', 'dgcThreshold'));
    pass.dispatchWorkgroups(1);
    pass.setPipeline(kernels.pipeline('select', 'countThresholds'));
    kernels.dispatch(pass, main.blocking.numBlocks);
    pass.setPipeline(kernels.pipeline('select', 'dgcBranch'));
    pass.dispatchWorkgroups(1);
  });
  timing?.resolve(encoder);
  const read = await finish(kernels, encoder, frame, main.state, null, out, out.size);
  const firstNonFinite = read.state[STATE.firstNonFinite]!;
  if (firstNonFinite !== NONE) return { firstNonFinite, moments: null, selection: null };
  const thresholdBits = read.state[STATE.thresholds]!;
  const threshold = thresholdBits === 0xbf800000 ? -1 : floatOfBits(thresholdBits);
  const total = read.state[STATE.total]!;
  return { firstNonFinite: -1, moments: null, selection: { ...sparseFrom(read.out, total, capacity), threshold } };
}

/** WebGpuKernels.selectOnDevice: see Kernels.selectOnDevice. */
export async function selectOnDevice(
  kernels: WebGpuKernels,
  u: GpuVector,
  method: SparseMethod,
  { k, seed, sampleRatio }: DeviceSelectionRequest,
): Promise<DeviceSelection> {
  const n = u.length;
  if (n === 0) return selectOnHost(kernels, u, method, { k, seed, sampleRatio });
  switch (method) {
    case 'topk':
    case 'trimmedk': {
      const wantsMoments = method === 'trimmedk';
      const { selection, state, moments } = await topkOnDevice(kernels, u.binding(), n, k, 0, {
        writeValues: true,
        checkFinite: !wantsMoments,
        ...(wantsMoments && { moments: u }),
      });
      const stats = moments ? kernels.momentsFrom(moments, n) : null;
      const firstNonFinite = stats
        ? stats.firstNonFinite
        : state[STATE.firstNonFinite] === NONE
          ? -1
          : state[STATE.firstNonFinite]!;
      if (firstNonFinite >= 0) return { firstNonFinite, moments: stats, selection: null };
      const kth = smallestMagnitude(selection.values);
      const threshold = stats ? trimmedThresholdOf(stats, kth) : kth;
      return { firstNonFinite: -1, moments: stats, selection: { ...selection, threshold } };
    }
    case 'randk': {
      const { selection, state } = await topkOnDevice(kernels, u.binding(), n, k, 1, {
        mixedSeed: mix32(seed >>> 0),
        writeValues: true,
        checkFinite: true,
      });
      const first = state[STATE.firstNonFinite]!;
      if (first !== NONE) return { firstNonFinite: first, moments: null, selection: null };
      return { firstNonFinite: -1, moments: null, selection: { ...selection, threshold: null } };
    }
    case 'gaussiank':
      return gaussiankOnDevice(kernels, u, k);
    case 'dgck':
      return dgckOnDevice(kernels, u, k, seed, sampleRatio);
  }
}

/** Trimmed_k's threshold: the first of its thresholds that at least k magnitudes exceed, i.e. that the k-th exceeds. */
function trimmedThresholdOf(moments: Moments, kth: number | null): number | null {
  const thresholds = trimmedThresholds(moments);
  const first = thresholds.findIndex((t) => kth !== null && kth > t);
  return first >= 0 ? thresholds[first]! : null;
}
