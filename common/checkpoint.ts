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

/** A part's rank, iteration and weights checksum, read without touching its float blocks. */
export function readCheckpointHeader(
  bytes: Uint8Array,
): Pick<RankCheckpoint, 'rank' | 'iteration' | 'weightsChecksum'> {
  const { rank, iteration, weightsChecksum } = readHeader(bytes).header;
  return { rank, iteration, weightsChecksum };
}

function readHeader(bytes: Uint8Array): { header: Header; bodyOffset: number } {
  const headerBytes = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
  const text = decodeUtf8(bytes.subarray(4, 4 + headerBytes));
  if (text === null) throw new Error('checkpoint part header is not valid UTF-8');
  const header = JSON.parse(text) as Header;
  return { header, bodyOffset: 4 + Math.ceil(headerBytes / 4) * 4 };
}

export function decodeRankCheckpoint(bytes: Uint8Array): RankCheckpoint {
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
  if (at !== body.length) throw new Error(`checkpoint of rank ${header.rank}: ${body.length - at} values left over`);
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
  const count = view.getUint32(0, true);
  let at = 4 + 4 * count;
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
