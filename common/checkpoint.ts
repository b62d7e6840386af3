/**
 * The checkpoint format: each rank contributes a part (rank 0 the model, its optimizer state and
 * its residuals; the others their residuals) and the orchestrator stores the parts of one
 * iteration together. A part is a small JSON header followed by float32 blocks, so it crosses the
 * wire untouched. Environment-free: the worker writes and reads parts, the orchestrator bundles them.
 */
import { decodeUtf8, encodeUtf8 } from './utf8';

export interface RankCheckpoint {
  rank: number;
  iteration: number;
  /** Every rank's fingerprint of its weights: replicas must agree bit for bit. */
  weightsChecksum: string;
  /** Rank 0 only: trainable weights, non-trainable state and momentum buffers. */
  weights?: Float32Array[];
  state?: Float32Array[];
  momentum?: Float32Array[];
  /** One residual per compressor; empty without error feedback. */
  residuals: Float32Array[];
}

const GROUPS = ['weights', 'state', 'momentum', 'residuals'] as const;

interface Header {
  rank: number;
  iteration: number;
  weightsChecksum: string;
  lengths: Partial<Record<(typeof GROUPS)[number], number[]>>;
}

export function encodeRankCheckpoint(part: RankCheckpoint): Uint8Array {
  const lengths: Header['lengths'] = {};
  for (const group of GROUPS) if (part[group]) lengths[group] = part[group].map((t) => t.length);
  const header = encodeUtf8(
    JSON.stringify({ rank: part.rank, iteration: part.iteration, weightsChecksum: part.weightsChecksum, lengths }),
  );
  const headerWords = Math.ceil(header.byteLength / 4);
  const floats = GROUPS.reduce((n, g) => n + (part[g]?.reduce((m, t) => m + t.length, 0) ?? 0), 0);
  const out = new Uint8Array(4 + headerWords * 4 + floats * 4);
  new DataView(out.buffer).setUint32(0, header.byteLength, true);
  out.set(header, 4);
  const body = new Float32Array(out.buffer, 4 + headerWords * 4, floats);
  let at = 0;
  for (const group of GROUPS) {
    for (const tensor of part[group] ?? []) {
      body.set(tensor, at);
      at += tensor.length;
    }
  }
  return out;
}

/** A part or bundle that is not what encodeRankCheckpoint / bundleCheckpoint write; says what is wrong. */
export class CheckpointFormatError extends Error {
  override name = 'CheckpointFormatError';
}

/** Largest part header read (its JSON holds a few numbers and the tensors' lengths). */
const MAX_HEADER_BYTES = 1 << 20;

/**
 * A part's rank, iteration and weights checksum, read without touching its float blocks; the whole part is
 * checked first (header, tensor lengths against the bytes that follow), since parts come from workers.
 */
export function readCheckpointHeader(
  bytes: Uint8Array,
): Pick<RankCheckpoint, 'rank' | 'iteration' | 'weightsChecksum'> {
  const { rank, iteration, weightsChecksum } = readHeader(bytes).header;
  return { rank, iteration, weightsChecksum };
}

function readHeader(bytes: Uint8Array): { header: Header; bodyOffset: number } {
  const bad = (problem: string) =>
    new CheckpointFormatError(`malformed checkpoint part (${bytes.byteLength} bytes): ${problem}`);
  if (bytes.byteLength < 4) throw bad('shorter than its 4-byte header length');
  const headerBytes = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
  const bodyOffset = 4 + Math.ceil(headerBytes / 4) * 4;
  if (headerBytes > MAX_HEADER_BYTES || bodyOffset > bytes.byteLength)
    throw bad(`a header of ${headerBytes} bytes does not fit`);
  const text = decodeUtf8(bytes.subarray(4, 4 + headerBytes));
  if (text === null) throw bad('the header is not valid UTF-8');
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch {
    throw bad('the header is not JSON');
  }
  const h = header as Partial<Header> | null;
  const count = (x: unknown) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  if (typeof h !== 'object' || h === null || !count(h.rank) || !count(h.iteration))
    throw bad('the header needs a non-negative integer rank and iteration');
  if (typeof h.weightsChecksum !== 'string' || !/^[0-9a-f]{8}$/.test(h.weightsChecksum))
    throw bad('the header needs an 8-digit hex weights checksum');
  if (typeof h.lengths !== 'object' || h.lengths === null) throw bad('the header has no tensor lengths');
  let floats = 0;
  for (const [group, lengths] of Object.entries(h.lengths as Record<string, unknown>)) {
    if (!(GROUPS as readonly string[]).includes(group)) throw bad(`unknown block '${group.slice(0, 40)}'`);
    if (!Array.isArray(lengths) || !lengths.every(count)) throw bad(`the ${group} lengths are not counts`);
    for (const length of lengths as number[]) floats += length;
  }
  if (floats * 4 !== bytes.byteLength - bodyOffset)
    throw bad(`the header's tensors need ${floats * 4} bytes of float32, ${bytes.byteLength - bodyOffset} follow`);
  return { header: h as Header, bodyOffset };
}

function decodeRankCheckpoint(bytes: Uint8Array): RankCheckpoint {
  const copy = new Uint8Array(bytes); // a copy, aligned (Buffer.slice would not copy)
  const { header, bodyOffset } = readHeader(copy);
  const body = new Float32Array(copy.buffer, bodyOffset, (copy.byteLength - bodyOffset) / 4);
  let at = 0;
  const part: RankCheckpoint = {
    rank: header.rank,
    iteration: header.iteration,
    weightsChecksum: header.weightsChecksum,
    residuals: [],
  };
  for (const group of GROUPS) {
    const lengths = header.lengths[group];
    if (!lengths) continue;
    part[group] = lengths.map((length) => {
      const tensor = body.subarray(at, at + length);
      at += length;
      return tensor;
    });
  }
  return part;
}

/**
 * The parts of every rank, in rank order, as the chunks of one file: an index (the count, then
 * each part's length), then the parts themselves, not copied (they are megabytes, and the hub's
 * thread, which every rank's exchange waits on, would spend tens of ms copying them).
 */
export function bundleCheckpoint(parts: readonly Uint8Array[]): Uint8Array[] {
  const index = new DataView(new ArrayBuffer(4 + 4 * parts.length));
  index.setUint32(0, parts.length, true);
  parts.forEach((part, i) => index.setUint32(4 + 4 * i, part.byteLength, true));
  return [new Uint8Array(index.buffer), ...parts];
}

export function unbundleCheckpoint(bytes: Uint8Array): RankCheckpoint[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = bytes.byteLength >= 4 ? view.getUint32(0, true) : -1;
  if (count < 0 || 4 + 4 * count > bytes.byteLength)
    throw new CheckpointFormatError(`malformed checkpoint (${bytes.byteLength} bytes): its index does not fit`);
  let at = 4 + 4 * count;
  let total = at;
  for (let i = 0; i < count; i++) total += view.getUint32(4 + 4 * i, true);
  if (total !== bytes.byteLength)
    throw new CheckpointFormatError(
      `malformed checkpoint: its index lists ${total} bytes, the file has ${bytes.byteLength}`,
    );
  return Array.from({ length: count }, (_, i) => {
    const length = view.getUint32(4 + 4 * i, true);
    const part = decodeRankCheckpoint(bytes.subarray(at, at + length));
    at += length;
    return part;
  });
}

/** FNV-1a over the weights' bits: equal exactly when the replicas are identical. */
export function weightsChecksum(weights: readonly Float32Array[]): string {
  let hash = 0x811c9dc5;
  for (const tensor of weights) {
    const words = new Uint32Array(tensor.buffer, tensor.byteOffset, tensor.length);
    for (let i = 0; i < words.length; i++) hash = Math.imul(hash ^ words[i]!, 0x01000193);
  }
  return (hash >>> 0).toString(16).padStart(8, '0');
}
