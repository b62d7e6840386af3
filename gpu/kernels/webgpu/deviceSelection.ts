/**
 * Selections decided on the GPU (select.wgsl, decide.wgsl): each operator's whole selection,
 * finiteness check included, encoded into one command buffer for any number of tensors and
 * read back with one mapAsync of fixed-size results (each selection's state, moments where the
 * operator needs them, then up to `capacity` indices and values).
 *
 * The exact selection (Top_k, Trimmed_k, DGC_k's Top_k branch, Rand_k's random keys) is a radix
 * select with candidate filtering (../select/webgpu.ts). Thresholds that the operators compute in
 * float64 (Gaussian_k's mu + sigma z) are computed on the GPU in float-float and checked on the
 * host against the float64 result after the read-back: on a mismatch, or when a threshold's
 * selection did not fit its capacity, the host completes that selection with the operator's own
 * algorithm (more read-backs, same result).
 */
import type { DeviceSelection, DeviceSelectionItem, Moments, SparseVector } from '../kernels';
import { floatOfBits } from '../float32Bits';
import { mix32 } from '../random/random';
import { gaussianThreshold, gaussiank, reachableThresholds, walkCorrections } from '../../operators/gaussiank';
import { normalQuantile } from '../../operators/normalQuantile';
import { selectOnHost } from '../../operators/run';
import { smallestMagnitude } from '../../operators/topk';
import { trimmedThresholds } from '../../operators/trimmedk';
import type { WebGpuKernels } from './index';
import { encodeMoments, momentsFrom, momentsResultBuffer, momentsResultBytes } from '../moments/webgpu';
import type { Frame, GpuVector } from './vector';
import {
  NONE,
  STATE,
  STATE_WORDS,
  candidateCapacityFor,
  encodeFullRadix,
  encodeTail,
  selectionBuffers,
  sparseFrom,
  type PassTiming,
} from '../select/webgpu';

/** What one encoded selection reads back, and how its bytes become the result. */
interface Encoded<T> {
  copies: { source: GPUBuffer; size: number }[];
  decode(parts: ArrayBuffer[]): T | Promise<T>;
}

interface Context {
  kernels: WebGpuKernels;
  encoder: GPUCommandEncoder;
  frame: Frame;
  timing: PassTiming;
}

/** Encodes every item into one submission, reads all back with one mapAsync, decodes each. */
async function runBatch<T>(
  kernels: WebGpuKernels,
  label: string,
  encoders: ((c: Context) => Encoded<T>)[],
): Promise<T[]> {
  const frame = kernels.frame();
  const encoder = kernels.device.createCommandEncoder({ label });
  const timestamps = kernels.timestampWrites(frame);
  const last = encoders.length - 1;
  const encoded = encoders.map((encode, i) =>
    encode({
      kernels,
      encoder,
      frame,
      timing: {
        ...(i === 0 && timestamps && { begin: timestamps.writes[0] }),
        ...(i === last && timestamps && { end: timestamps.writes[1] }),
      },
    }),
  );
  timestamps?.resolve(encoder);
  const copies = encoded.flatMap((e) => e.copies);
  const parts =
    copies.length > 0 ? await kernels.readBack(encoder, copies, frame) : submitOnly(kernels, encoder, frame);
  let at = 0;
  return Promise.all(
    encoded.map((e) => {
      const mine = parts.slice(at, at + e.copies.length);
      at += e.copies.length;
      return e.decode(mine);
    }),
  );
}

function submitOnly(kernels: WebGpuKernels, encoder: GPUCommandEncoder, frame: Frame): ArrayBuffer[] {
  kernels.device.queue.submit([encoder.finish()]);
  frame.done();
  return [];
}

interface TopkRead {
  selection: SparseVector;
  state: Uint32Array;
  moments: ArrayBuffer | null;
}

/** The exact top-k of magnitudes, or of random keys (keyMode 1): the indices (and values). */
function encodeTopk(
  { kernels, encoder, frame, timing }: Context,
  data: GPUBuffer | GPUBufferBinding,
  n: number,
  k: number,
  keyMode: 0 | 1,
  options: { mixedSeed?: number; writeValues: boolean; checkFinite?: boolean; moments?: GpuVector },
): Encoded<TopkRead> {
  const capacity = k;
  const outBytes = capacity * (options.writeValues ? 8 : 4);
  const out = kernels.storage(frame, outBytes, 'selection');
  const buffers = selectionBuffers(kernels, frame, n, k, data, out, {
    keyMode,
    mixedSeed: options.mixedSeed ?? 0,
    capacity,
    writeValues: options.writeValues,
    checkFinite: options.checkFinite ?? false,
  });
  const moments = options.moments ? momentsResultBuffer(kernels, frame) : null;
  encodeTail(kernels, encoder, frame, buffers, timing, (pass) => {
    if (options.moments) encodeMoments(kernels, pass, frame, options.moments, moments!);
  });
  const copies = [{ source: buffers.state, size: STATE_WORDS * 4 }];
  if (moments) copies.push({ source: moments, size: momentsResultBytes(kernels) });
  copies.push({ source: out, size: outBytes });
  return {
    copies,
    decode(parts) {
      const state = new Uint32Array(parts[0]!);
      const words = parts[parts.length - 1]!;
      const count = Math.min(state[STATE.total]!, capacity);
      const selection = options.writeValues
        ? sparseFrom(words, count, capacity)
        : { indices: new Uint32Array(words, 0, count).slice(), values: new Float32Array(0) };
      return { selection, state, moments: moments ? parts[1]! : null };
    },
  };
}

/** The standalone Kernels.topk / randomSubset: one selection, one read-back. */
export async function topkOnDevice(
  kernels: WebGpuKernels,
  data: GPUBuffer | GPUBufferBinding,
  n: number,
  k: number,
  keyMode: 0 | 1,
  options: { mixedSeed?: number; writeValues: boolean },
): Promise<SparseVector> {
  const label = keyMode === 0 ? 'topk' : 'randomSubset';
  const [read] = await runBatch(kernels, label, [(c) => encodeTopk(c, data, n, k, keyMode, options)]);
  return read!.selection;
}

function firstNonFiniteOf(state: Uint32Array): number {
  const first = state[STATE.firstNonFinite]!;
  return first === NONE ? -1 : first;
}

/**
 * decide.wgsl's pattern: one thread proposes thresholds (`propose`), a pass over d counts them,
 * one thread chooses the selection from the counts (`choose`).
 */
function encodeThresholdDecision(
  kernels: WebGpuKernels,
  pass: GPUComputePassEncoder,
  buffers: { group: GPUBindGroup; blocking: { numBlocks: number } },
  propose: string,
  choose: string,
): void {
  pass.setBindGroup(0, buffers.group);
  pass.setPipeline(kernels.pipeline('select', propose));
  pass.dispatchWorkgroups(1);
  pass.setPipeline(kernels.pipeline('select', 'countThresholds'));
  kernels.dispatch(pass, buffers.blocking.numBlocks);
  pass.setPipeline(kernels.pipeline('select', choose));
  pass.dispatchWorkgroups(1);
}

/** Gaussian_k's selection (|u_i| > threshold) before the walk's last step may grow it this much. */
function thresholdCapacity(k: number, n: number): number {
  return Math.min(n, Math.max(2 * k, k + 1024));
}

function encodeGaussiank(
  { kernels, encoder, frame, timing }: Context,
  u: GpuVector,
  k: number,
): Encoded<DeviceSelection> {
  const n = u.length;
  const capacity = thresholdCapacity(k, n);
  const out = kernels.storage(frame, capacity * 8, 'selection');
  const moments = momentsResultBuffer(kernels, frame);
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
  encodeTail(kernels, encoder, frame, buffers, timing, (pass) => {
    encodeMoments(kernels, pass, frame, u, moments);
    encodeThresholdDecision(kernels, pass, buffers, 'gaussianStart', 'gaussianWalk');
  });
  return {
    copies: [
      { source: buffers.state, size: STATE_WORDS * 4 },
      { source: moments, size: momentsResultBytes(kernels) },
      { source: out, size: capacity * 8 },
    ],
    decode: ([stateWords, momentWords, words]) =>
      decideGaussiank(kernels, u, k, new Uint32Array(stateWords!), momentsFrom(kernels, momentWords!, n), (total) =>
        sparseFrom(words!, total, capacity),
      ),
  };
}

/**
 * Gaussian_k's result: the GPU's selection where the host's float64 walk, run on the GPU's
 * counts, reaches the same thresholds and the selection fit; else the operator on the host.
 */
async function decideGaussiank(
  kernels: WebGpuKernels,
  u: GpuVector,
  k: number,
  state: Uint32Array,
  moments: Moments,
  selected: (total: number) => SparseVector,
): Promise<DeviceSelection> {
  if (moments.firstNonFinite >= 0) return { firstNonFinite: moments.firstNonFinite, moments, selection: null };
  const gpuThresholds = [0, 1, 2, 3].map((i) => floatOfBits(state[STATE.thresholds + i]!));
  const start = gaussianThreshold(moments, k / moments.count);
  const counted = new Map<number, number>();
  gpuThresholds.slice(0, 3).forEach((t, i) => counted.set(t, state[STATE.thresholdCounts + i]!));
  if (!reachableThresholds(start).every((t) => counted.has(t))) {
    const selection = await gaussiank.select(kernels, u, { k, moments, seed: 0, sampleRatio: 0 });
    return { firstNonFinite: -1, moments, selection };
  }
  const threshold = walkCorrections(start, k, (t) => counted.get(t)!);
  const total = state[STATE.total]!;
  const fits = Object.is(threshold, gpuThresholds[3]) && total <= thresholdCapacity(k, moments.count);
  const sparse = fits ? selected(total) : await kernels.compactAbove(u, threshold);
  return { firstNonFinite: -1, moments, selection: { ...sparse, threshold } };
}

function encodeDgck(
  { kernels, encoder, frame, timing }: Context,
  u: GpuVector,
  k: number,
  seed: number,
  sampleRatio: number,
): Encoded<DeviceSelection> {
  const n = u.length;
  const sampleSize = Math.min(n, Math.max(1, Math.ceil(sampleRatio * n)));
  const rank = Math.max(1, Math.ceil((k * sampleSize) / n));
  // Above the threshold it selects when there are at most 4k/3; else exact Top_k.
  const capacity = Math.min(n, Math.max(k, Math.floor((4 * k) / 3) + 1));
  const out = kernels.storage(frame, capacity * 8, 'selection');
  // The sample, gathered into the candidate buffer, and its rank-th largest key.
  const cand = kernels.storage(frame, Math.max(sampleSize, candidateCapacityFor(n, k)) * 4, 'candidates');
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
  encodeTail(kernels, encoder, frame, main, timing, (pass) => {
    pass.setBindGroup(0, main.group);
    pass.setPipeline(kernels.pipeline('select', 'gatherSample'));
    kernels.dispatch(pass, kernels.blocking(sampleSize).numBlocks);
    encodeFullRadix(kernels, pass, sample);
    encodeThresholdDecision(kernels, pass, main, 'dgcThreshold', 'dgcBranch');
  });
  return {
    copies: [
      { source: main.state, size: STATE_WORDS * 4 },
      { source: out, size: capacity * 8 },
    ],
    decode([stateWords, words]) {
      const state = new Uint32Array(stateWords!);
      const firstNonFinite = firstNonFiniteOf(state);
      if (firstNonFinite >= 0) return { firstNonFinite, moments: null, selection: null };
      const bits = state[STATE.thresholds]!;
      // dgcThreshold writes -1 (admit all) where the sampled magnitude is 0.
      const threshold = floatOfBits(bits) < 0 ? -1 : floatOfBits(bits);
      const total = state[STATE.total]!;
      return { firstNonFinite: -1, moments: null, selection: { ...sparseFrom(words!, total, capacity), threshold } };
    },
  };
}

/** Trimmed_k's threshold: the first of its thresholds that the k-th magnitude exceeds (that k coordinates exceed). */
function trimmedThresholdOf(moments: Moments, kth: number | null): number | null {
  const thresholds = trimmedThresholds(moments);
  const first = thresholds.findIndex((t) => kth !== null && kth > t);
  return first >= 0 ? thresholds[first]! : null;
}

function encodeItem<V extends GpuVector>(
  c: Context,
  { u, method, request }: DeviceSelectionItem<V>,
): Encoded<DeviceSelection> {
  const n = u.length;
  const { k, seed, sampleRatio } = request;
  if (n === 0) return { copies: [], decode: () => selectOnHost(c.kernels, u, method, request) };
  switch (method) {
    case 'topk':
    case 'trimmedk': {
      // Trimmed_k selects exactly Top_k; its threshold follows from the moments and the k-th magnitude.
      const trimmed = method === 'trimmedk';
      const read = encodeTopk(c, u.binding(), n, k, 0, {
        writeValues: true,
        checkFinite: !trimmed,
        ...(trimmed && { moments: u }),
      });
      return {
        copies: read.copies,
        async decode(parts) {
          const { selection, state, moments: words } = await read.decode(parts);
          const moments = words ? momentsFrom(c.kernels, words, n) : null;
          const firstNonFinite = moments ? moments.firstNonFinite : firstNonFiniteOf(state);
          if (firstNonFinite >= 0) return { firstNonFinite, moments, selection: null };
          const kth = smallestMagnitude(selection.values);
          const threshold = moments ? trimmedThresholdOf(moments, kth) : kth;
          return { firstNonFinite: -1, moments, selection: { ...selection, threshold } };
        },
      };
    }
    case 'randk': {
      const read = encodeTopk(c, u.binding(), n, k, 1, {
        mixedSeed: mix32(seed >>> 0),
        writeValues: true,
        checkFinite: true,
      });
      return {
        copies: read.copies,
        async decode(parts) {
          const { selection, state } = await read.decode(parts);
          const firstNonFinite = firstNonFiniteOf(state);
          if (firstNonFinite >= 0) return { firstNonFinite, moments: null, selection: null };
          return { firstNonFinite: -1, moments: null, selection: { ...selection, threshold: null } };
        },
      };
    }
    case 'gaussiank':
      return encodeGaussiank(c, u, k);
    case 'dgck':
      return encodeDgck(c, u, k, seed, sampleRatio);
  }
}

/** WebGpuKernels.selectOnDevice: see Kernels.selectOnDevice. */
export function selectOnDevice(
  kernels: WebGpuKernels,
  items: DeviceSelectionItem<GpuVector>[],
): Promise<DeviceSelection[]> {
  return runBatch(
    kernels,
    'selections',
    items.map((item) => (c: Context) => encodeItem(c, item)),
  );
}
