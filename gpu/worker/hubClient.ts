/**
 * A worker's connection to the hub (main/core/hub): hello/welcome, heartbeats, assignments, collectives and the
 * records a run produces. Node only (the `ws` package); the wire format is common/protocol.ts.
 *
 * Collectives are numbered per run by this client (round 0, 1, ... from each assign) and may be issued without
 * waiting for the previous one (they complete in order). Payloads go out without being copied: one handed to a
 * collective or a send must not be modified until the returned promise settles.
 */
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { cutParts, decodeFrame, joinParts, messageParts } from '../../common/frame';
import { FrameSender } from '../../common/frameSender';
import { Liveness } from '../../common/liveness';
import { HubConnectionError, HubRefusedError } from './hubErrors';
import { RunRounds, type ClientRunBytes, type RoundResult } from './runRounds';
import {
  CLOSE_CODES,
  PROTOCOL_VERSION,
  ProtocolError,
  type AssignMessage,
  type CancelMessage,
  type CollectiveOp,
  type HubMessage,
  type MetricsBatch,
  type WelcomeMessage,
  type WorkerCapabilities,
  type WorkerMessage,
} from '../../common/protocol';

export { CollectiveError, HubConnectionError, HubRefusedError } from './hubErrors';

/** Room left for a collective's header (the run id is at most 256 characters) when checking a frame's size. */
const MAX_COLLECTIVE_HEADER_BYTES = 2048;

export interface HubClientOptions {
  /** Give up connecting (upgrade and hello/welcome) after this long; default 10000 ms. */
  connectTimeoutMs?: number;
  /** Largest frame accepted from the hub; default 0, no limit (allgather results are P contributions). */
  maxPayload?: number;
  /** Bytes the socket may hold unsent before a send waits for it to drain; default 16 MiB. */
  highWaterMark?: number;
  /** Declare the hub gone after this long without hearing from it; default the hub's silenceMs (from welcome). */
  silenceMs?: number;
  /**
   * Mask frames with random keys as RFC 6455 asks of browsers; default false: an all-zero key, which the
   * protocol allows and which spares a copy and an XOR pass over every payload sent (and its unmasking at the
   * hub). Masking defends HTTP intermediaries against scripts in browsers; a worker is not one.
   */
  maskFrames?: boolean;
}

export interface AllgatherResult {
  /** Every rank's contribution in rank order; parts[myRank] is the payload passed in, the others views of one buffer. */
  parts: Uint8Array[];
  round: number;
  /** Payload bytes this rank sent and received in this round. */
  bytesSent: number;
  bytesReceived: number;
}

export type AssignHandler = (assign: AssignMessage, checkpoint: Uint8Array | null) => void;
export type CancelHandler = (cancel: CancelMessage) => void;
/** Called once when the connection ends: null after close(), else why it ended. */
export type CloseHandler = (error: Error | null) => void;

export class HubClient {
  private welcome: WelcomeMessage | null = null;
  private socket: Socket | null = null;
  private readonly runs = new Map<string, RunRounds>();
  private readonly assignHandlers = new Set<AssignHandler>();
  private readonly cancelHandlers = new Set<CancelHandler>();
  private readonly closeHandlers = new Set<CloseHandler>();
  /** Assignments and cancellations that arrived before a handler was registered. */
  private readonly early: (
    { kind: 'assign'; msg: AssignMessage; checkpoint: Uint8Array | null } | { kind: 'cancel'; msg: CancelMessage }
  )[] = [];
  private readonly sender: FrameSender;
  private readonly liveness = new Liveness();
  private error: Error | null = null;
  private ended = false;
  private refusal: HubRefusedError | null = null;
  private readonly closedPromise: Promise<void>;
  private timers: NodeJS.Timeout[] = [];
  /** Settles on welcome (or the failure to get one). */
  readonly ready: Promise<void>;

  /** Use connectToHub(). */
  constructor(
    private readonly ws: WebSocket,
    token: string,
    capabilities: WorkerCapabilities,
    private readonly options: HubClientOptions,
  ) {
    let welcomed!: () => void;
    let failed!: (e: Error) => void;
    this.ready = new Promise<void>((resolve, reject) => {
      welcomed = resolve;
      failed = reject;
    });
    this.ready.catch(() => undefined);
    this.closedPromise = new Promise((resolve) => ws.once('close', () => resolve()));
    this.sender = new FrameSender(ws, {
      highWaterMark: options.highWaterMark ?? 16 * 1024 * 1024,
      isOpen: () => ws.readyState === WebSocket.OPEN && !this.ended,
      closed: this.closedPromise,
      closedError: () => this.error ?? new HubConnectionError('the hub connection is closed'),
      socket: () => this.socket,
      maxFrameBytes: () => this.maxFrameBytes,
      receiver: 'the hub',
    });
    const timeoutMs = options.connectTimeoutMs ?? 10_000;
    const timeout = setTimeout(() => {
      this.fail(new HubConnectionError(`no welcome from the hub at ${ws.url} within ${timeoutMs} ms`));
      ws.terminate();
    }, timeoutMs);
    this.onEnd = (error) => {
      clearTimeout(timeout);
      if (!this.welcome) failed(error ?? new HubConnectionError('closed before the hub welcomed this worker'));
    };
    this.onWelcome = () => {
      clearTimeout(timeout);
      welcomed();
    };
    ws.on('upgrade', (res) => (this.socket = res.socket as Socket));
    ws.on('open', () => {
      this.sendFrame({ type: 'hello', token, protocolVersion: PROTOCOL_VERSION, capabilities }).catch(() => undefined);
    });
    ws.on('message', (data, isBinary) => this.onMessage(messageParts(data), isBinary));
    ws.on('error', (err) => {
      const what = this.welcome
        ? `hub connection error: ${err.message}`
        : `cannot connect to the hub at ${ws.url}: ${err.message}`;
      this.fail(this.refusal ?? new HubConnectionError(what));
    });
    ws.on('close', (code, reason) => {
      const text = reason.toString();
      // A refusal's close code, should its `refused` message not have come through.
      const refusalCodes: number[] = [
        CLOSE_CODES.protocolError,
        CLOSE_CODES.wrongToken,
        CLOSE_CODES.helloTimeout,
        CLOSE_CODES.silent,
        CLOSE_CODES.protocolVersion,
      ];
      const refused = refusalCodes.includes(code) ? new HubRefusedError(text || `close code ${code}`, code) : null;
      this.fail(
        this.refusal ??
          refused ??
          new HubConnectionError(
            this.welcome
              ? `hub connection lost (code ${code}${text ? `: ${text}` : ''})`
              : `the hub at ${ws.url} closed the connection before welcome (code ${code}${text ? `: ${text}` : ''})`,
          ),
      );
    });
  }

  private onEnd: (error: Error | null) => void;
  private onWelcome: () => void;

  get workerId(): string {
    return this.welcome?.workerId ?? '';
  }

  get heartbeatMs(): number {
    return this.welcome?.heartbeatMs ?? 0;
  }

  /** Largest frame the hub accepts. */
  get maxFrameBytes(): number {
    return this.welcome?.maxFrameBytes ?? 0;
  }

  /** Whether the connection has ended (closed, refused or lost). */
  get closed(): boolean {
    return this.ended;
  }

  /** This worker's rank and world size in a run it is assigned to. */
  run(runId: string): { rank: number; worldSize: number } | undefined {
    const run = this.runs.get(runId);
    return run ? { rank: run.rank, worldSize: run.worldSize } : undefined;
  }

  /** Payload bytes moved through collectives in a run so far, counted here from what was sent and received. */
  bytes(runId: string): ClientRunBytes | undefined {
    const run = this.runs.get(runId);
    return run ? { ...run.bytes } : undefined;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Handlers

  /** Called for each assignment (after this worker's state for the run is set up); returns an unsubscribe. */
  onAssign(handler: AssignHandler): () => void {
    this.assignHandlers.add(handler);
    this.flushEarly();
    return () => this.assignHandlers.delete(handler);
  }

  /** Called when the hub cancels a run (its pending collectives have been rejected); returns an unsubscribe. */
  onCancel(handler: CancelHandler): () => void {
    this.cancelHandlers.add(handler);
    this.flushEarly();
    return () => this.cancelHandlers.delete(handler);
  }

  /** Called once when the connection ends; returns an unsubscribe. */
  onClose(handler: CloseHandler): () => void {
    this.closeHandlers.add(handler);
    return () => this.closeHandlers.delete(handler);
  }

  private flushEarly(): void {
    const keep: typeof this.early = [];
    for (const e of this.early.splice(0)) {
      if (e.kind === 'assign' && this.assignHandlers.size > 0) {
        for (const h of this.assignHandlers) h(e.msg, e.checkpoint);
      } else if (e.kind === 'cancel' && this.cancelHandlers.size > 0) {
        for (const h of this.cancelHandlers) h(e.msg);
      } else {
        keep.push(e);
      }
    }
    this.early.push(...keep);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Collectives

  /** Every rank's bytes, in rank order (sparse gradients: each rank's indices and values). */
  async allgather(runId: string, payload: Uint8Array): Promise<AllgatherResult> {
    const {
      header,
      payload: others,
      payloadBytes,
      bytesSent,
      rank,
      round,
    } = await this.collective(runId, 'allgather', payload);
    const { sizes } = header;
    const expected = sizes.reduce((a, b) => a + b, 0) - payload.byteLength;
    if (sizes[rank] !== payload.byteLength || payloadBytes !== expected) {
      throw new ProtocolError(
        'payload-length',
        `allgather round ${round} of run ${runId}: the result's sizes ${JSON.stringify(sizes)} do not match ` +
          `its ${payloadBytes}-byte payload and this rank's ${payload.byteLength} bytes`,
      );
    }
    const pieces = cutParts(
      others,
      sizes.filter((_, r) => r !== rank),
    );
    const parts = sizes.map((_, r) => (r === rank ? payload : r < rank ? pieces[r]! : pieces[r - 1]!));
    return { parts, round, bytesSent, bytesReceived: payloadBytes };
  }

  /** The element-wise float32 sum over ranks (in rank order: every rank gets the same bits). */
  async allreduce(runId: string, data: Float32Array): Promise<Float32Array> {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const { payload: parts, round } = await this.collective(runId, 'allreduce', bytes);
    const payload = joinParts(parts);
    if (payload.byteLength !== data.byteLength) {
      throw new ProtocolError(
        'payload-length',
        `allreduce round ${round} of run ${runId}: sent ${data.byteLength} bytes, got ${payload.byteLength} back`,
      );
    }
    if (payload.byteOffset % 4 === 0) return new Float32Array(payload.buffer, payload.byteOffset, data.length);
    return new Float32Array(new Uint8Array(payload).buffer);
  }

  /** Rank 0's bytes on every rank: rank 0 passes them (and gets them back), the others pass null. */
  async broadcast(runId: string, payload: Uint8Array | null): Promise<Uint8Array> {
    const run = this.runs.get(runId);
    if (run && run.rank === 0 && payload === null) throw new Error(`broadcast in run ${runId}: rank 0 must send bytes`);
    if (run && run.rank !== 0 && payload !== null && payload.byteLength > 0) {
      throw new Error(`broadcast in run ${runId}: only rank 0 sends bytes (this is rank ${run.rank})`);
    }
    const sent = payload ?? new Uint8Array(0);
    const { payload: received, rank } = await this.collective(runId, 'broadcast', sent);
    return rank === 0 ? sent : joinParts(received);
  }

  private collective(runId: string, op: CollectiveOp, payload: Uint8Array): Promise<RoundResult> {
    if (this.error) return Promise.reject(this.error);
    const run = this.runs.get(runId);
    if (!run) return Promise.reject(new Error(`${op}: this worker is not assigned to run ${runId}`));
    // Refused here, before it takes a round number, a payload too large for the hub leaves the ranks in step.
    const max = this.maxFrameBytes;
    if (max > 0 && payload.byteLength + MAX_COLLECTIVE_HEADER_BYTES > max) {
      return Promise.reject(
        new Error(`${op} in run ${runId}: ${payload.byteLength} bytes exceed the ${max}-byte frames the hub accepts`),
      );
    }
    return run.start(op, payload, (round) =>
      this.sendFrame({ type: 'collective', runId, op, round, rank: run.rank }, payload),
    );
  }

  // -------------------------------------------------------------------------------------------------------------
  // Records

  sendMetrics(batch: MetricsBatch): Promise<void> {
    return this.sendFrame({ type: 'metrics', ...batch } as WorkerMessage);
  }

  log(level: 'debug' | 'info' | 'warn' | 'error', message: string, runId: string | null = null): Promise<void> {
    return this.sendFrame({ type: 'log', level, message, runId, time: Date.now() });
  }

  status(runId: string, state: 'started' | 'finished' | 'failed', reason?: string): Promise<void> {
    return this.sendFrame({ type: 'status', runId, state, ...(reason !== undefined ? { reason } : {}) });
  }

  /** Sends this rank's checkpoint (weights, optimizer state, residuals) taken after `iteration`. */
  checkpoint(runId: string, iteration: number, payload: Uint8Array): Promise<void> {
    const run = this.runs.get(runId);
    if (!run) return Promise.reject(new Error(`checkpoint: this worker is not assigned to run ${runId}`));
    return this.sendFrame({ type: 'checkpoint', runId, rank: run.rank, iteration }, payload);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Transport

  /** Sends one frame after those before it (common/frameSender.ts); resolves once it is written to the socket. */
  private sendFrame(header: WorkerMessage, payload?: Uint8Array | null): Promise<void> {
    if (this.error && header.type !== 'hello') return Promise.reject(this.error);
    return this.sender.send(header, payload);
  }

  private onMessage(bytes: readonly Uint8Array[], isBinary: boolean): void {
    if (this.ended) return;
    this.liveness.lastSeen = Date.now();
    let message: HubMessage;
    let payload: Uint8Array[];
    try {
      if (!isBinary) throw new ProtocolError('header-schema', 'a text frame; the protocol is binary frames only');
      ({ header: message, payload } = decodeFrame(bytes, 'hub'));
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      this.fail(new HubConnectionError(`the hub sent a bad frame: ${e.message}`));
      this.ws.close(CLOSE_CODES.protocolError, 'bad frame');
      return;
    }
    if (!this.welcome) {
      if (message.type === 'welcome') this.onWelcomeMessage(message);
      else if (message.type === 'refused') this.refusal = new HubRefusedError(message.reason, message.code);
      return;
    }
    switch (message.type) {
      case 'heartbeat':
      case 'welcome':
        return;
      case 'refused':
        this.refusal = new HubRefusedError(message.reason, message.code);
        return;
      case 'assign':
        this.onAssignMessage(message, payload.length > 0 ? joinParts(payload) : null);
        return;
      case 'cancel':
        this.onCancelMessage(message);
        return;
      case 'collectiveResult':
      case 'collectiveFailed':
        this.runs.get(message.runId)?.settle(message, payload);
        return;
    }
  }

  private onWelcomeMessage(welcome: WelcomeMessage): void {
    this.welcome = welcome;
    this.liveness.lastSeen = Date.now();
    const silenceMs = this.options.silenceMs ?? welcome.silenceMs;
    this.timers.push(
      setInterval(() => {
        if (this.sender.queuedBytes === 0)
          this.sendFrame({ type: 'heartbeat', time: Date.now() }).catch(() => undefined);
      }, welcome.heartbeatMs),
      setInterval(() => this.checkSilence(silenceMs), Math.max(10, Math.min(welcome.heartbeatMs, silenceMs / 4))),
    );
    this.onWelcome();
  }

  /** The hub is alive while bytes arrive from it (its heartbeats, or a large frame in transit). */
  private checkSilence(silenceMs: number): void {
    const silent = this.liveness.silentFor(Date.now(), { bytesRead: this.socket?.bytesRead ?? 0 });
    if (silent > silenceMs) {
      this.fail(new HubConnectionError(`the hub has been silent for ${silent} ms (limit ${silenceMs} ms)`));
      this.ws.terminate();
    }
  }

  private onAssignMessage(msg: AssignMessage, checkpoint: Uint8Array | null): void {
    this.runs.get(msg.runId)?.failAll(`run ${msg.runId} was assigned again`);
    this.runs.set(msg.runId, new RunRounds(msg.runId, msg.rank, msg.worldSize));
    if (this.assignHandlers.size === 0) this.early.push({ kind: 'assign', msg, checkpoint });
    else for (const h of this.assignHandlers) h(msg, checkpoint);
  }

  private onCancelMessage(msg: CancelMessage): void {
    const run = this.runs.get(msg.runId);
    if (run) {
      run.failAll(`run ${msg.runId} was cancelled: ${msg.reason}`);
      this.runs.delete(msg.runId);
    }
    if (this.cancelHandlers.size === 0) this.early.push({ kind: 'cancel', msg });
    else for (const h of this.cancelHandlers) h(msg);
  }

  /** Ends the client's life once: rejects everything pending with `error`, stops timers, tells the handlers. */
  private fail(error: Error | null): void {
    if (this.ended) return;
    this.ended = true;
    this.error = error ?? new HubConnectionError('the hub connection was closed by this worker');
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    for (const run of this.runs.values()) run.failAll(this.error.message);
    this.onEnd(error);
    for (const h of this.closeHandlers) {
      try {
        h(error);
      } catch {
        // A handler's failure must not keep the others from hearing.
      }
    }
  }

  /** Closes the connection (pending collectives are rejected); resolves when the socket is closed. */
  async close(): Promise<void> {
    this.fail(null);
    if (this.ws.readyState === WebSocket.CLOSED) return;
    if (this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
    else this.ws.close(CLOSE_CODES.normal, 'worker closing');
    const cut = setTimeout(() => this.ws.terminate(), 1000);
    await Promise.race([this.closedPromise, new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
    clearTimeout(cut);
  }
}

/**
 * Connects to the hub, says hello and resolves once welcomed. Rejects with HubRefusedError when the hub refuses
 * ("hub refused the connection: wrong token"), with HubConnectionError when it cannot be reached.
 */
export async function connectToHub(
  url: string,
  token: string,
  capabilities: WorkerCapabilities,
  options: HubClientOptions = {},
): Promise<HubClient> {
  const ws = new WebSocket(url, {
    perMessageDeflate: false,
    maxPayload: options.maxPayload ?? 0,
    handshakeTimeout: options.connectTimeoutMs ?? 10_000,
    ...(options.maskFrames ? {} : { generateMask: (mask: Buffer) => void mask.fill(0) }),
  });
  // Fragments as they come: a result's parts are used where they lie, without ws concatenating them first.
  ws.binaryType = 'fragments';
  const client = new HubClient(ws, token, capabilities, options);
  try {
    await client.ready;
  } catch (e) {
    await client.close();
    throw e;
  }
  return client;
}
