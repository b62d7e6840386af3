/**
 * The wire protocol between the hub (main/core/hub) and the workers (gpu/worker/hubClient.ts), defined once.
 *
 * Every WebSocket message is one binary frame:
 *
 *     [u32 LE header length][header: UTF-8 JSON][payload bytes]
 *
 * The header is one of the messages below plus `payloadBytes`, the payload's length, which must equal what
 * follows the header. A frame may be sent as several WebSocket fragments of one message (the header in the
 * first, large payload parts in their own, so neither side copies them); the receiver reads them as one frame. Headers are validated with zod on receipt (a discriminated union on `type`); only the
 * message types in PAYLOAD_TYPES may carry a payload. Non-finite numbers (a diverged loss) travel as the
 * strings "NaN", "Infinity" and "-Infinity" and are read back as numbers where a record field expects one.
 *
 * Environment-free: no Node, no DOM (UTF-8 is encoded here, not with TextEncoder).
 */
import { z } from 'zod';
import { armSchema, experimentSchema, type RunSpec } from './experiment';
import { registerRunSchema, runRegisteredSchema } from './externalRun';
import type { EvaluationRecord, HistogramRecord, IterationRecord, LayerStatsRecord } from './metrics';

/** Bumped on any incompatible change; a hello with another version is refused (close code 4426). */
export const PROTOCOL_VERSION = 1;

/** Largest header accepted, in bytes (headers are small JSON; payloads carry the bulk). */
export const MAX_HEADER_BYTES = 16 * 1024 * 1024;

/** WebSocket close codes the hub uses (4xxx are application codes, after HTTP statuses). */
export const CLOSE_CODES = {
  /** Orderly close by either side. */
  normal: 1000,
  /** The hub (or the worker) is shutting down. */
  goingAway: 1001,
  /** A frame larger than the hub's maxPayload (set by the ws library). */
  messageTooBig: 1009,
  /** A frame the codec or the schema rejects, or a message out of place. */
  protocolError: 4400,
  /** hello with a wrong token. */
  wrongToken: 4401,
  /** No hello within the hub's helloTimeoutMs. */
  helloTimeout: 4408,
  /** Silent for longer than the hub's silenceMs: declared lost. */
  silent: 4410,
  /** hello with another PROTOCOL_VERSION. */
  protocolVersion: 4426,
} as const;

// ---------------------------------------------------------------------------------------------------------------
// Errors

export type ProtocolErrorCode =
  | 'frame-too-short'
  | 'header-too-large'
  | 'header-length'
  | 'header-utf8'
  | 'header-json'
  | 'header-schema'
  | 'payload-length'
  | 'unexpected-payload'
  | 'run-config';

/** A frame or header that breaks the protocol; `message` says what is wrong, `code` says which rule. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Schemas

/** A record number: finite, or one of the tokens non-finite numbers travel as. */
const num = z.union([
  z.number(),
  z
    .enum(['NaN', 'Infinity', '-Infinity'])
    .transform((s) => (s === 'NaN' ? NaN : s === 'Infinity' ? Infinity : -Infinity)),
]);
const int = z.number().int();
const nonNegInt = z.number().int().nonnegative();
const id = z.string().min(1).max(256);

export const iterationRecordSchema = z.object({
  runId: id,
  rank: nonNegInt,
  iteration: nonNegInt,
  epoch: num,
  loss: num,
  lr: num,
  density: num,
  k: num,
  selected: num,
  bytesSent: num,
  bytesReceived: num,
  wallMs: num,
  computeMs: num,
  compressMs: num,
  communicateMs: num,
  waitMs: num,
  updateMs: num,
  cpuWaitMs: num.optional(),
  computeCpuWaitMs: num.optional(),
  compressCpuWaitMs: num.optional(),
  updateCpuWaitMs: num.optional(),
  rho: num.optional(),
  rhoTopk: num.optional(),
  boundGeneral: num.optional(),
  boundGaussian: num.optional(),
  overlap: num.optional(),
});

export const layerStatsRecordSchema = z.object({
  runId: id,
  iteration: nonNegInt,
  layer: z.string(),
  d: num,
  k: num,
  selected: num,
  threshold: num.nullable(),
  rho: num,
  rhoTopk: num,
  boundGeneral: num,
  boundGaussian: num,
  overlap: num,
  mean: num,
  std: num,
  skewness: num,
  excessKurtosis: num,
});

export const histogramRecordSchema = z.object({
  runId: id,
  iteration: nonNegInt,
  layer: z.string(),
  min: num,
  max: num,
  counts: z.array(num),
  mean: num,
  std: num,
  skewness: num,
  excessKurtosis: num,
});

export const evaluationRecordSchema = z.object({
  runId: id,
  iteration: nonNegInt,
  epoch: num,
  wallMs: num,
  testLoss: num,
  accuracy: num.optional(),
  perplexity: num.optional(),
});

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** Compile-time proof that the record schemas read exactly common/metrics.ts's records (fails to type-check if not). */
export const RECORD_SCHEMAS_MATCH_METRICS: Same<z.output<typeof iterationRecordSchema>, IterationRecord> &
  Same<z.output<typeof layerStatsRecordSchema>, LayerStatsRecord> &
  Same<z.output<typeof histogramRecordSchema>, HistogramRecord> &
  Same<z.output<typeof evaluationRecordSchema>, EvaluationRecord> = true;

export const capabilitiesSchema = z.object({
  host: z.string().max(256),
  pid: nonNegInt,
  backend: z.enum(['cpu', 'webgpu']),
  adapter: z.object({ name: z.string(), vendor: z.string(), architecture: z.string() }).optional(),
  limits: z.record(z.string(), z.number()).optional(),
  cores: z.number().int().positive(),
});
export type WorkerCapabilities = z.output<typeof capabilitiesSchema>;

export const COLLECTIVE_OPS = ['allgather', 'allreduce', 'broadcast'] as const;
export type CollectiveOp = (typeof COLLECTIVE_OPS)[number];

const helloSchema = z.object({
  type: z.literal('hello'),
  token: z.string().max(1024),
  protocolVersion: int,
  capabilities: capabilitiesSchema,
});
const welcomeSchema = z.object({
  type: z.literal('welcome'),
  workerId: id,
  heartbeatMs: z.number().int().positive(),
  /** The hub declares a worker lost after this long without hearing from it. */
  silenceMs: z.number().int().positive(),
  /** Largest frame the hub accepts (its ws maxPayload). */
  maxFrameBytes: z.number().int().positive(),
});
const refusedSchema = z.object({
  type: z.literal('refused'),
  reason: z.string(),
  /** The close code that follows (CLOSE_CODES). */
  code: int,
});
const heartbeatSchema = z.object({ type: z.literal('heartbeat'), time: z.number() });
const assignSchema = z.object({
  type: z.literal('assign'),
  runId: id,
  rank: nonNegInt,
  worldSize: z.number().int().positive(),
  /** A RunSpec as JSON; opaque to the hub, read by the worker with parseRunConfig. */
  config: z.unknown(),
  /** Resume from a checkpoint (the frame's payload) taken after this iteration. */
  resume: z.object({ iteration: nonNegInt }).optional(),
});
const cancelSchema = z.object({ type: z.literal('cancel'), runId: id, reason: z.string() });

const metricsSchema = z.discriminatedUnion('kind', [
  z.object({ type: z.literal('metrics'), kind: z.literal('iteration'), records: z.array(iterationRecordSchema) }),
  z.object({ type: z.literal('metrics'), kind: z.literal('evaluation'), records: z.array(evaluationRecordSchema) }),
  z.object({ type: z.literal('metrics'), kind: z.literal('layerStats'), records: z.array(layerStatsRecordSchema) }),
  z.object({ type: z.literal('metrics'), kind: z.literal('histogram'), records: z.array(histogramRecordSchema) }),
]);
const logSchema = z.object({
  type: z.literal('log'),
  level: z.enum(['debug', 'info', 'warn', 'error']),
  message: z.string(),
  runId: id.nullable().optional(),
  /** Epoch milliseconds on the worker; the hub stamps its own when absent. */
  time: z.number().optional(),
});
const statusSchema = z.object({
  type: z.literal('status'),
  runId: id,
  state: z.enum(['started', 'finished', 'failed']),
  reason: z.string().optional(),
});
const checkpointSchema = z.object({
  type: z.literal('checkpoint'),
  runId: id,
  rank: nonNegInt,
  iteration: nonNegInt,
});
const collectiveSchema = z.object({
  type: z.literal('collective'),
  runId: id,
  op: z.enum(COLLECTIVE_OPS),
  /** Per run, counted by the worker from 0 on each assign; each rank sends its rounds in increasing order. */
  round: nonNegInt,
  rank: nonNegInt,
});
/**
 * A completed round, to one rank. Payload: allgather, the other ranks' contributions in rank order (the receiver
 * has its own; `sizes` says where each starts); allreduce, the float32 (little-endian) sum, summed in rank order;
 * broadcast, rank 0's bytes (nothing to rank 0 itself).
 */
const collectiveResultSchema = z.object({
  type: z.literal('collectiveResult'),
  runId: id,
  round: nonNegInt,
  op: z.enum(COLLECTIVE_OPS),
  /** Payload bytes each rank contributed, in rank order. */
  sizes: z.array(nonNegInt),
  /** Payload bytes the receiving rank sent to the hub this round. */
  bytesSent: nonNegInt,
  /** Payload bytes the receiving rank gets from the hub this round (this frame's payload). */
  bytesReceived: nonNegInt,
  /** Milliseconds the receiving rank's contribution waited at the hub for the round's last one. */
  waitMs: z.number().nonnegative(),
});
const collectiveFailedSchema = z.object({
  type: z.literal('collectiveFailed'),
  runId: id,
  round: nonNegInt,
  op: z.enum(COLLECTIVE_OPS).optional(),
  reason: z.string(),
});

const workerOnly = [
  helloSchema,
  registerRunSchema,
  metricsSchema,
  logSchema,
  statusSchema,
  checkpointSchema,
  collectiveSchema,
] as const;
const hubOnly = [
  welcomeSchema,
  refusedSchema,
  assignSchema,
  cancelSchema,
  collectiveResultSchema,
  collectiveFailedSchema,
  runRegisteredSchema,
] as const;

/** Message types by sender (heartbeat goes both ways). */
export const WORKER_MESSAGE_TYPES = [
  'heartbeat',
  'hello',
  'registerRun',
  'metrics',
  'log',
  'status',
  'checkpoint',
  'collective',
] as const;
export const HUB_MESSAGE_TYPES = [
  'heartbeat',
  'welcome',
  'refused',
  'assign',
  'cancel',
  'collectiveResult',
  'collectiveFailed',
  'runRegistered',
] as const;
const WORKER_TYPES: ReadonlySet<string> = new Set(WORKER_MESSAGE_TYPES);
const HUB_TYPES: ReadonlySet<string> = new Set(HUB_MESSAGE_TYPES);

/** Every message, either direction. */
export const messageSchema = z.discriminatedUnion('type', [heartbeatSchema, ...workerOnly, ...hubOnly]);
/** Messages a worker sends to the hub. */
export const workerMessageSchema = z.discriminatedUnion('type', [heartbeatSchema, ...workerOnly]);
/** Messages the hub sends to a worker. */
export const hubMessageSchema = z.discriminatedUnion('type', [heartbeatSchema, ...hubOnly]);

export type Message = z.output<typeof messageSchema>;
export type WorkerMessage = z.output<typeof workerMessageSchema>;
export type HubMessage = z.output<typeof hubMessageSchema>;
export type MessageType = Message['type'];
export type MessageOf<T extends MessageType> = Extract<Message, { type: T }>;

export type HelloMessage = MessageOf<'hello'>;
export type WelcomeMessage = MessageOf<'welcome'>;
export type RefusedMessage = MessageOf<'refused'>;
export type HeartbeatMessage = MessageOf<'heartbeat'>;
export type AssignMessage = MessageOf<'assign'>;
export type CancelMessage = MessageOf<'cancel'>;
export type MetricsMessage = MessageOf<'metrics'>;
export type MetricsKind = MetricsMessage['kind'];
export type LogMessage = MessageOf<'log'>;
export type StatusMessage = MessageOf<'status'>;
export type CheckpointMessage = MessageOf<'checkpoint'>;
export type CollectiveMessage = MessageOf<'collective'>;
export type CollectiveResultMessage = MessageOf<'collectiveResult'>;
export type CollectiveFailedMessage = MessageOf<'collectiveFailed'>;
export type RegisterRunMessage = MessageOf<'registerRun'>;
export type RunRegisteredMessage = MessageOf<'runRegistered'>;

/** Compile-time proof that the type lists above name exactly the messages of each direction. */
export const MESSAGE_TYPE_LISTS_MATCH: Same<WorkerMessage['type'], (typeof WORKER_MESSAGE_TYPES)[number]> &
  Same<HubMessage['type'], (typeof HUB_MESSAGE_TYPES)[number]> = true;

/** A batch of records of one kind, as `metrics` carries it. */
export type MetricsBatch =
  | { kind: 'iteration'; records: IterationRecord[] }
  | { kind: 'evaluation'; records: EvaluationRecord[] }
  | { kind: 'layerStats'; records: LayerStatsRecord[] }
  | { kind: 'histogram'; records: HistogramRecord[] };

/** The message types that may carry a payload (all others must declare payloadBytes 0). */
export const PAYLOAD_TYPES: ReadonlySet<MessageType> = new Set<MessageType>([
  'assign',
  'checkpoint',
  'collective',
  'collectiveResult',
]);

/** What an assign's config holds: a RunSpec (an arm of an experiment with one seed). */
export const runConfigSchema = z.object({
  experiment: experimentSchema,
  arm: armSchema,
  seed: z.number().int().nonnegative(),
});

/** Reads an assign's config as a RunSpec, validated against common/experiment.ts's schemas. */
export function parseRunConfig(config: unknown): RunSpec {
  const result = runConfigSchema.safeParse(config);
  if (!result.success) throw new ProtocolError('run-config', `invalid run config: ${describeIssues(result.error)}`);
  return result.data;
}

// ---------------------------------------------------------------------------------------------------------------
// Frame codec

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
  const out = new Uint8Array(n);
  let filled = 0;
  let at = 0;
  for (const p of parts) {
    const end = at + p.byteLength;
    if (end > start + filled && filled < n) {
      const from = start + filled - at;
      const take = Math.min(p.byteLength - from, n - filled);
      if (filled === 0 && take === n) return p.subarray(from, from + n);
      out.set(p.subarray(from, from + take), filled);
      filled += take;
    }
    at = end;
  }
  return out;
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

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => (i.path.length > 0 ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ');
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
    const { runId, round, op, sizes, bytesSent, bytesReceived, waitMs } = rest;
    if (
      isId(runId) &&
      isCount(round) &&
      isOp(op) &&
      Array.isArray(sizes) &&
      sizes.every(isCount) &&
      isCount(bytesSent) &&
      isCount(bytesReceived) &&
      typeof waitMs === 'number' &&
      Number.isFinite(waitMs) &&
      waitMs >= 0
    ) {
      return { type: 'collectiveResult', runId, round, op, sizes: sizes as number[], bytesSent, bytesReceived, waitMs };
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

// ---------------------------------------------------------------------------------------------------------------
// UTF-8 (common/ has no TextEncoder in its lib)

/** UTF-8 bytes of a string; lone surrogates become U+FFFD (JSON.stringify escapes them anyway). */
export function encodeUtf8(s: string): Uint8Array {
  const out = new Uint8Array(s.length * 3);
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      out[n++] = c;
    } else if (c < 0x800) {
      out[n++] = 0xc0 | (c >> 6);
      out[n++] = 0x80 | (c & 0x3f);
    } else {
      if (c >= 0xd800 && c <= 0xdfff) {
        const next = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          const cp = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
          i++;
          out[n++] = 0xf0 | (cp >> 18);
          out[n++] = 0x80 | ((cp >> 12) & 0x3f);
          out[n++] = 0x80 | ((cp >> 6) & 0x3f);
          out[n++] = 0x80 | (cp & 0x3f);
          continue;
        }
        c = 0xfffd;
      }
      out[n++] = 0xe0 | (c >> 12);
      out[n++] = 0x80 | ((c >> 6) & 0x3f);
      out[n++] = 0x80 | (c & 0x3f);
    }
  }
  return out.slice(0, n);
}

/** The string UTF-8 bytes encode, or null where they are not well-formed UTF-8 (overlongs, surrogates, truncation). */
export function decodeUtf8(bytes: Uint8Array): string | null {
  const chunks: string[] = [];
  const units: number[] = [];
  const flush = () => {
    chunks.push(String.fromCharCode(...units));
    units.length = 0;
  };
  const cont = (i: number) => {
    const b = bytes[i];
    return b !== undefined && (b & 0xc0) === 0x80 ? b & 0x3f : -1;
  };
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i]!;
    let cp: number;
    if (b < 0x80) {
      cp = b;
      i += 1;
    } else if (b >= 0xc2 && b <= 0xdf) {
      const c1 = cont(i + 1);
      if (c1 < 0) return null;
      cp = ((b & 0x1f) << 6) | c1;
      i += 2;
    } else if (b >= 0xe0 && b <= 0xef) {
      const c1 = cont(i + 1);
      const c2 = cont(i + 2);
      if (c1 < 0 || c2 < 0) return null;
      cp = ((b & 0x0f) << 12) | (c1 << 6) | c2;
      if (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)) return null;
      i += 3;
    } else if (b >= 0xf0 && b <= 0xf4) {
      const c1 = cont(i + 1);
      const c2 = cont(i + 2);
      const c3 = cont(i + 3);
      if (c1 < 0 || c2 < 0 || c3 < 0) return null;
      cp = ((b & 0x07) << 18) | (c1 << 12) | (c2 << 6) | c3;
      if (cp < 0x10000 || cp > 0x10ffff) return null;
      i += 4;
    } else {
      return null;
    }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      units.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
    } else {
      units.push(cp);
    }
    if (units.length >= 8192) flush();
  }
  flush();
  return chunks.join('');
}
