/**
 * The wire protocol between the hub (main/core/hub) and the workers (gpu/worker/hubClient.ts), defined once: its
 * messages, their schemas and the rules of their exchange. How a message travels as bytes is common/frame.ts.
 *
 * Environment-free: no Node, no DOM.
 */
import { z } from 'zod';
import { armSchema, experimentSchema, type RunSpec } from './experiment';
import { registerRunSchema, runRegisteredSchema } from './externalRun';
import { LOG_LEVELS } from './metrics';
import { RECORD_SCHEMAS as records, nonNegativeInt as nonNegInt, recordId as id } from './records';

/** A batch of records of one kind, as `metrics` carries it. */
export type { MetricsBatch } from './records';

/** Bumped on any incompatible change; a hello with another version is refused (close code 4426). */
export const PROTOCOL_VERSION = 2;

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

const int = z.number().int();

export const capabilitiesSchema = z.object({
  host: z.string().max(256),
  pid: nonNegInt,
  backend: z.enum(['cpu', 'webgpu']),
  /** The WebGPU adapter the worker's models and kernels run on. */
  adapter: z
    .object({
      name: z.string().max(256),
      vendor: z.string().max(256),
      architecture: z.string().max(256),
      /** The driver's own description (e.g. its version). */
      description: z.string().max(512).optional(),
      /** Dawn's backend: vulkan, metal, d3d12, ... */
      backend: z.string().max(64).optional(),
      /** The GPU the worker was placed on (common/gpus.ts): its number and stable id on its machine. */
      index: nonNegInt.optional(),
      id: z.string().max(256).optional(),
      pciBusId: z.string().max(64).nullable().optional(),
      software: z.boolean().optional(),
    })
    .optional(),
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
  z.object({ type: z.literal('metrics'), kind: z.literal('iteration'), records: z.array(records.iteration) }),
  z.object({ type: z.literal('metrics'), kind: z.literal('evaluation'), records: z.array(records.evaluation) }),
  z.object({ type: z.literal('metrics'), kind: z.literal('layerStats'), records: z.array(records.layerStats) }),
  z.object({ type: z.literal('metrics'), kind: z.literal('histogram'), records: z.array(records.histogram) }),
]);
const logSchema = z.object({
  type: z.literal('log'),
  level: z.enum(LOG_LEVELS),
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
export type AssignMessage = MessageOf<'assign'>;
export type CancelMessage = MessageOf<'cancel'>;
export type StatusMessage = MessageOf<'status'>;
export type CheckpointMessage = MessageOf<'checkpoint'>;
export type CollectiveMessage = MessageOf<'collective'>;
export type CollectiveResultMessage = MessageOf<'collectiveResult'>;
export type CollectiveFailedMessage = MessageOf<'collectiveFailed'>;
export type RegisterRunMessage = MessageOf<'registerRun'>;
export type RunRegisteredMessage = MessageOf<'runRegistered'>;

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** Compile-time proof that the type lists above name exactly the messages of each direction. */
export const MESSAGE_TYPE_LISTS_MATCH: Same<WorkerMessage['type'], (typeof WORKER_MESSAGE_TYPES)[number]> &
  Same<HubMessage['type'], (typeof HUB_MESSAGE_TYPES)[number]> = true;

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

/** A zod error's first issues, each with its path: for error messages. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => (i.path.length > 0 ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ');
}
