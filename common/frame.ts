/**
 * The frame codec of the hub protocol (common/protocol.ts): every WebSocket message is one binary frame:
 *
 *     [u32 LE header length][header: UTF-8 JSON][payload bytes]
 *
 * The header is one of the messages of common/protocol.ts plus `payloadBytes`, the payload's length, which must equal what
 * follows the header. A frame may be sent as several WebSocket fragments of one message (the header in the
 * first, large payload parts in their own, so neither side copies them); the receiver reads them as one frame.
 * Headers are validated with zod on receipt (a discriminated union on `type`); only the
 * message types in PAYLOAD_TYPES may carry a payload. Non-finite numbers (a diverged loss) travel as the
 * strings "NaN", "Infinity" and "-Infinity" and are read back as numbers where a record field expects one.
 *
 * Environment-free: no Node, no DOM (UTF-8 goes through common/utf8.ts).
 */
import {
  COLLECTIVE_OPS,
  describeIssues,
  HUB_MESSAGE_TYPES,
  hubMessageSchema,
  MAX_HEADER_BYTES,
  messageSchema,
  PAYLOAD_TYPES,
  ProtocolError,
  WORKER_MESSAGE_TYPES,
  workerMessageSchema,
  type CollectiveOp,
  type HubMessage,
  type Message,
  type WorkerMessage,
} from './protocol';
import { encodeUtf8, decodeUtf8 } from './utf8';

const WORKER_TYPES: ReadonlySet<string> = new Set(WORKER_MESSAGE_TYPES);
const HUB_TYPES: ReadonlySet<string> = new Set(HUB_MESSAGE_TYPES);

export interface DecodedFrame<M extends Message = Message> {
  header: M;
  /**
   * The payload as views into the frame (no copy), in order, empty ones left out: one part for a frame read
   * from one buffer, possibly several for one read from WebSocket fragments. joinParts makes it one buffer.
   */
  payload: Uint8Array[];
  payloadBytes: number;
}

/** A frame as received: one buffer, or the fragments of one WebSocket message. */
export type FrameBytes = Uint8Array | readonly Uint8Array[];

/** The parts as one buffer: the part itself where there is one (no copy), else a concatenation. */
export function joinParts(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  let total = 0;
  for (const p of parts) total += p.byteLength;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.byteLength;
  }
  return out;
}

/** Bytes [start, start + n) of the parts: a view where they lie in one part, else a copy. */
function bytesAt(parts: readonly Uint8Array[], start: number, n: number): Uint8Array {
  let out: Uint8Array | null = null;
  let filled = 0;
  let at = 0;
  for (const p of parts) {
    const end = at + p.byteLength;
    if (end > start + filled && filled < n) {
      const from = start + filled - at;
      const take = Math.min(p.byteLength - from, n - filled);
      if (filled === 0 && take === n) return p.subarray(from, from + n);
      out ??= new Uint8Array(n);
      out.set(p.subarray(from, from + take), filled);
      filled += take;
    }
    at = end;
  }
  return out ?? new Uint8Array(n);
}

/** Views of everything from `start` on, empty ones left out. */
function partsFrom(parts: readonly Uint8Array[], start: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  for (const p of parts) {
    const end = at + p.byteLength;
    if (end > start) out.push(at >= start ? p : p.subarray(start - at));
    at = end;
  }
  return out.filter((p) => p.byteLength > 0);
}

function payloadParts(payload: Uint8Array | readonly Uint8Array[] | null | undefined): Uint8Array[] {
  if (!payload) return [];
  if (payload instanceof Uint8Array) return payload.byteLength > 0 ? [payload] : [];
  return payload.filter((p) => p.byteLength > 0);
}

function nonFiniteToToken(_key: string, value: unknown): unknown {
  if (typeof value === 'number' && !Number.isFinite(value)) {
    return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
  }
  return value;
}

/**
 * A frame as a list of buffers: the length prefix and header in the first, the payload's parts (not copied)
 * after it. Send them as the fragments of one WebSocket message, or concatenate them (encodeFrame).
 */
export function encodeFrameParts(
  header: Message,
  payload?: Uint8Array | readonly Uint8Array[] | null,
): [Uint8Array, ...Uint8Array[]] {
  const parts = payloadParts(payload);
  let payloadBytes = 0;
  for (const p of parts) payloadBytes += p.byteLength;
  if (payloadBytes > 0 && !PAYLOAD_TYPES.has(header.type)) {
    throw new ProtocolError(
      'unexpected-payload',
      `a '${header.type}' message carries no payload (got ${payloadBytes} bytes)`,
    );
  }
  const json = JSON.stringify({ ...header, payloadBytes }, nonFiniteToToken);
  const headerBytes = encodeUtf8(json);
  if (headerBytes.byteLength > MAX_HEADER_BYTES) {
    throw new ProtocolError(
      'header-too-large',
      `a '${header.type}' header of ${headerBytes.byteLength} bytes exceeds the ${MAX_HEADER_BYTES}-byte limit`,
    );
  }
  const head = new Uint8Array(4 + headerBytes.byteLength);
  new DataView(head.buffer).setUint32(0, headerBytes.byteLength, true);
  head.set(headerBytes, 4);
  return [head, ...parts];
}

/** A frame as one contiguous buffer (copies the payload). */
export function encodeFrame(header: Message, payload?: Uint8Array | readonly Uint8Array[] | null): Uint8Array {
  return joinParts(encodeFrameParts(header, payload));
}

/** Direction-specific schemas: a hub reads with 'worker' (messages from workers), a worker with 'hub'. */
const SCHEMAS = { any: messageSchema, worker: workerMessageSchema, hub: hubMessageSchema } as const;
type FromOf<F extends keyof typeof SCHEMAS> = F extends 'worker'
  ? WorkerMessage
  : F extends 'hub'
    ? HubMessage
    : Message;

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isId = (v: unknown): v is string => typeof v === 'string' && v.length >= 1 && v.length <= 256;
const isOp = (v: unknown): v is CollectiveOp => (COLLECTIVE_OPS as readonly unknown[]).includes(v);

/**
 * The messages of every collective round (a contribution per rank, a result per rank), checked by
 * hand against the same rules as their schemas, at a fraction of zod's cost on this hot path. Null
 * for anything else, or anything that fails a rule: the schemas then decide and word the error.
 */
function fastCollective(rest: Record<string, unknown>, from: keyof typeof SCHEMAS): Message | null {
  if (rest.type === 'collective' && from !== 'hub') {
    const { runId, op, round, rank } = rest;
    if (isId(runId) && isOp(op) && isCount(round) && isCount(rank)) {
      return { type: 'collective', runId, op, round, rank };
    }
  } else if (rest.type === 'collectiveResult' && from !== 'worker') {
    const { runId, round, op, sizes, waitMs } = rest;
    if (
      isId(runId) &&
      isCount(round) &&
      isOp(op) &&
      Array.isArray(sizes) &&
      sizes.every(isCount) &&
      typeof waitMs === 'number' &&
      Number.isFinite(waitMs) &&
      waitMs >= 0
    ) {
      return { type: 'collectiveResult', runId, round, op, sizes: sizes as number[], waitMs };
    }
  }
  return null;
}

/** Reads and validates one frame (one buffer or a message's fragments); throws a ProtocolError saying what is wrong. */
export function decodeFrame<F extends keyof typeof SCHEMAS = 'any'>(
  bytes: FrameBytes,
  from?: F,
): DecodedFrame<FromOf<F>> {
  const parts: readonly Uint8Array[] = bytes instanceof Uint8Array ? [bytes] : bytes;
  let frameLength = 0;
  for (const p of parts) frameLength += p.byteLength;
  if (frameLength < 4) {
    throw new ProtocolError(
      'frame-too-short',
      `frame of ${frameLength} bytes is shorter than its 4-byte header length`,
    );
  }
  const prefix = bytesAt(parts, 0, 4);
  const headerLength = new DataView(prefix.buffer, prefix.byteOffset, 4).getUint32(0, true);
  if (headerLength > MAX_HEADER_BYTES) {
    throw new ProtocolError(
      'header-too-large',
      `header length ${headerLength} exceeds the ${MAX_HEADER_BYTES}-byte limit`,
    );
  }
  if (headerLength > frameLength - 4) {
    throw new ProtocolError(
      'header-length',
      `header length ${headerLength} runs past the end of a ${frameLength}-byte frame`,
    );
  }
  const text = decodeUtf8(bytesAt(parts, 4, headerLength));
  if (text === null) throw new ProtocolError('header-utf8', 'header is not valid UTF-8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ProtocolError('header-json', `header is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ProtocolError('header-schema', 'header is not a JSON object');
  }
  const { payloadBytes, ...rest } = json as Record<string, unknown>;
  const type = typeof rest.type === 'string' ? rest.type : '(no type)';
  if (typeof payloadBytes !== 'number' || !Number.isSafeInteger(payloadBytes) || payloadBytes < 0) {
    throw new ProtocolError('header-schema', `'${type}' header: payloadBytes must be a non-negative integer`);
  }
  const actual = frameLength - 4 - headerLength;
  if (payloadBytes !== actual) {
    throw new ProtocolError(
      'payload-length',
      `'${type}' header declares a ${payloadBytes}-byte payload but the frame carries ${actual} bytes`,
    );
  }
  const fast = fastCollective(rest, from ?? 'any');
  if (fast) return { header: fast as FromOf<F>, payload: partsFrom(parts, 4 + headerLength), payloadBytes };
  const schema = SCHEMAS[from ?? 'any'];
  const parsed = schema.safeParse(rest);
  if (!parsed.success) {
    const wrongWay =
      (from === 'worker' && !WORKER_TYPES.has(type) && HUB_TYPES.has(type)) ||
      (from === 'hub' && !HUB_TYPES.has(type) && WORKER_TYPES.has(type));
    throw new ProtocolError(
      'header-schema',
      wrongWay
        ? `'${type}' is not a message a ${from} sends`
        : !WORKER_TYPES.has(type) && !HUB_TYPES.has(type)
          ? `unknown message type '${type}'`
          : `'${type}' header fails the schema: ${describeIssues(parsed.error)}`,
    );
  }
  const header = parsed.data as FromOf<F>;
  if (payloadBytes > 0 && !PAYLOAD_TYPES.has(header.type)) {
    throw new ProtocolError(
      'unexpected-payload',
      `a '${header.type}' message carries no payload (got ${payloadBytes} bytes)`,
    );
  }
  return { header, payload: partsFrom(parts, 4 + headerLength), payloadBytes };
}

/** A message's bytes as ws hands them over (binaryType 'fragments': one buffer per WebSocket fragment). */
export function messageParts(data: Uint8Array | ArrayBuffer | readonly Uint8Array[]): readonly Uint8Array[] {
  if (Array.isArray(data)) return data;
  if (data instanceof ArrayBuffer) return [new Uint8Array(data)];
  return [data as Uint8Array];
}

/** Cuts consecutive pieces of the given sizes out of a list of parts: views where a piece lies in one part. */
export function cutParts(parts: readonly Uint8Array[], sizes: readonly number[]): Uint8Array[] {
  let index = 0;
  let offset = 0;
  return sizes.map((size) => {
    while (index < parts.length && offset === parts[index]!.byteLength) {
      index++;
      offset = 0;
    }
    const part = parts[index];
    if (size === 0 || (part && part.byteLength - offset >= size)) {
      const view = part ? part.subarray(offset, offset + size) : new Uint8Array(0);
      offset += size;
      return view;
    }
    const out = new Uint8Array(size);
    let filled = 0;
    while (filled < size) {
      const p = parts[index]!;
      const take = Math.min(p.byteLength - offset, size - filled);
      out.set(p.subarray(offset, offset + take), filled);
      filled += take;
      offset += take;
      if (offset === p.byteLength) {
        index++;
        offset = 0;
      }
    }
    return out;
  });
}
