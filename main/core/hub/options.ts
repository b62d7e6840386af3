/** The hub's options, their defaults and their checks. */
import { randomBytes } from 'node:crypto';

export type HubLogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface HubOptions {
  /** Interface to listen on; default 127.0.0.1 (this machine only). Use '0.0.0.0' for workers on other machines. */
  host?: string;
  /** Port; default 0 (an ephemeral one: read hub.port). */
  port?: number;
  /** Shared secret workers present in hello; default 32 random bytes as hex. */
  token?: string;
  /** Largest frame accepted from a worker (ws maxPayload), bytes; default 512 MiB, at most 2^31 - 1. */
  maxPayload?: number;
  /** How often hub and workers send heartbeats; default 2000 ms. */
  heartbeatMs?: number;
  /** A worker not heard from for longer than this is declared lost; default 10000 ms. */
  silenceMs?: number;
  /** A connection must say hello within this; default 5000 ms. */
  helloTimeoutMs?: number;
  /** Connections allowed to be waiting for their hello at once; default 64. */
  maxPendingConnections?: number;
  /** Bytes a connection may send before its hello is accepted (the hello is ~2 KiB); default 8 KiB. */
  maxHelloBytes?: number;
  /** Bytes a socket may hold unsent before the hub waits for it to drain; default 16 MiB. */
  highWaterMark?: number;
  /** Contribution bytes a group may hold before the hub stops reading ranks that are ahead; default 1 GiB. */
  maxGroupBufferBytes?: number;
  /** Rounds a group may have open before the same; default 64. */
  maxPendingRounds?: number;
  /** Where the hub's own log lines go (refusals, losses, failures); default: warnings and errors to stderr. */
  log?: (level: HubLogLevel, message: string) => void;
}

/** Every option set: the given value or its default. */
export type ResolvedHubOptions = Required<HubOptions>;

function defaultLog(level: HubLogLevel, message: string): void {
  if (level === 'warn' || level === 'error') console.error(`[hub] ${message}`);
}

export function resolveOptions(o: HubOptions): ResolvedHubOptions {
  const r: ResolvedHubOptions = {
    host: o.host ?? '127.0.0.1',
    port: o.port ?? 0,
    token: o.token ?? randomBytes(32).toString('hex'),
    maxPayload: o.maxPayload ?? 512 * 1024 * 1024,
    heartbeatMs: o.heartbeatMs ?? 2000,
    silenceMs: o.silenceMs ?? 10_000,
    helloTimeoutMs: o.helloTimeoutMs ?? 5000,
    maxPendingConnections: o.maxPendingConnections ?? 64,
    maxHelloBytes: o.maxHelloBytes ?? 8192,
    highWaterMark: o.highWaterMark ?? 16 * 1024 * 1024,
    maxGroupBufferBytes: o.maxGroupBufferBytes ?? 1024 * 1024 * 1024,
    maxPendingRounds: o.maxPendingRounds ?? 64,
    log: o.log ?? defaultLog,
  };
  const positiveInts: (keyof ResolvedHubOptions)[] = [
    'maxPayload',
    'heartbeatMs',
    'silenceMs',
    'helloTimeoutMs',
    'maxPendingConnections',
    'maxHelloBytes',
    'highWaterMark',
    'maxGroupBufferBytes',
    'maxPendingRounds',
  ];
  for (const key of positiveInts) {
    const v = r[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
      throw new RangeError(`hub option ${key} must be a positive integer, got ${String(v)}`);
    }
  }
  if (r.maxPayload > 2 ** 31 - 1) throw new RangeError(`hub option maxPayload must be at most 2^31 - 1 bytes`);
  if (r.heartbeatMs >= r.silenceMs) {
    throw new RangeError(`hub option heartbeatMs (${r.heartbeatMs}) must be less than silenceMs (${r.silenceMs})`);
  }
  if (r.token.length === 0) throw new RangeError('hub option token must not be empty');
  return r;
}
