/**
 * The hub of SparseLab's distributed runtime: a WebSocket server in the core process that workers join, and the
 * centre of the star their collectives run through (it gathers each round's contributions and sends the results).
 *
 * Authentication: the token travels in the worker's first message (`hello`), not in the HTTP upgrade. The upgrade
 * is accepted without it so that a wrong token gets a `refused` message and close code 4401 the worker can
 * report, and so that browsers (which cannot set upgrade headers) could join the same way. What an
 * unauthenticated socket can cost is bounded: it must say hello within helloTimeoutMs, at most
 * maxPendingConnections may be waiting to, and each may send maxHelloBytes (a few KiB) before its hello is
 * accepted; maxPayload bounds the frames of workers. The hub listens on 127.0.0.1 unless told otherwise.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { decodeFrame, joinParts, messageParts } from '../../../common/frame';
import type { LogRecord } from '../../../common/metrics';
import {
  CLOSE_CODES,
  PROTOCOL_VERSION,
  ProtocolError,
  type CollectiveMessage,
  type HelloMessage,
  type HubMessage,
  type MetricsBatch,
  type WorkerMessage,
} from '../../../common/protocol';
import { ExternalLink } from './external';
import { Group, type ContributeOutcome, type RoundFailure } from './group';
import { resolveOptions, type HubOptions, type ResolvedHubOptions } from './options';
import { limitBeforeHello } from './helloLimit';
import { Peer, watchLiveness } from './peer';
import type { AssignOptions, GroupInfo, HubEvents, WorkerInfo } from './types';

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** A close reason fits in 123 bytes of UTF-8. */
function closeReason(reason: string): string {
  let s = reason;
  while (Buffer.byteLength(s) > 123) s = s.slice(0, -1);
  return s;
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class Hub extends EventEmitter<HubEvents> {
  readonly host: string;
  readonly port: number;
  readonly token: string;
  /** ws://host:port/ to give workers. */
  readonly url: string;
  private readonly peers = new Set<Peer>();
  private readonly byId = new Map<string, Peer>();
  private readonly groups = new Map<string, Group>();
  private readonly tokenDigest: Buffer;
  /** Connections of external runs (training scripts outside SparseLab's workers). */
  readonly external: ExternalLink;
  private readonly timers: NodeJS.Timeout[] = [];
  private nextWorker = 1;
  private closing: Promise<void> | null = null;

  /** Use startHub(). */
  constructor(
    private readonly server: Server,
    private readonly wss: WebSocketServer,
    private readonly o: ResolvedHubOptions,
  ) {
    super();
    const address = server.address() as AddressInfo;
    this.host = o.host;
    this.port = address.port;
    this.token = o.token;
    this.url = `ws://${o.host.includes(':') ? `[${o.host}]` : o.host}:${address.port}/`;
    this.tokenDigest = digest(o.token);
    this.external = new ExternalLink(o, (peer, code, reason) => this.disconnect(peer, code, reason));
    wss.on('connection', (ws, req) => this.onConnection(ws, req));
    wss.on('wsClientError', (err, _socket, req) =>
      o.log('warn', `rejected an upgrade from ${req.socket.remoteAddress}: ${err.message}`),
    );
    this.timers.push(
      ...watchLiveness(
        () => this.byId.values(),
        o,
        (peer, code, reason) => this.disconnect(peer, code, reason),
      ),
    );
  }

  // -------------------------------------------------------------------------------------------------------------
  // Registry

  workers(): WorkerInfo[] {
    return [...this.byId.values()].map((p) => this.info(p));
  }

  worker(id: string): WorkerInfo | undefined {
    const peer = this.byId.get(id);
    return peer ? this.info(peer) : undefined;
  }

  private info(peer: Peer): WorkerInfo {
    const group = peer.runId !== null ? this.groups.get(peer.runId) : undefined;
    const rank = group && peer.workerId ? group.rankOf(peer.workerId) : -1;
    return {
      id: peer.workerId!,
      capabilities: peer.capabilities!,
      state: peer.runId !== null ? 'busy' : 'idle',
      runId: peer.runId,
      rank: rank >= 0 ? rank : null,
      remoteAddress: peer.remoteAddress,
      connectedAt: peer.connectedAt,
      lastHeartbeat: peer.lastHeartbeat,
      lastSeen: peer.lastSeen,
    };
  }

  /** Sends a message (and payload) to a worker, after what was sent to it before; waits while its socket is full. */
  send(workerId: string, message: HubMessage, payload?: Uint8Array | readonly Uint8Array[] | null): Promise<void> {
    const peer = this.byId.get(workerId);
    if (!peer) return Promise.reject(new Error(`no worker ${workerId}`));
    return peer.send(message, payload);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Groups

  /** Makes the workers ranks 0..P-1 of a run (in the order given); they become busy. */
  createGroup(runId: string, workerIds: readonly string[]): GroupInfo {
    if (this.closing) throw new Error('the hub is closing');
    if (runId.length === 0) throw new Error('a run id must not be empty');
    if (this.groups.has(runId)) throw new Error(`run ${runId} already has a group; end it first`);
    if (workerIds.length === 0) throw new Error(`a group needs at least one worker (run ${runId})`);
    const seen = new Set<string>();
    for (const id of workerIds) {
      if (seen.has(id)) throw new Error(`worker ${id} appears twice in the group for run ${runId}`);
      seen.add(id);
      const peer = this.byId.get(id);
      if (!peer) throw new Error(`no worker ${id} (for run ${runId})`);
      if (peer.runId !== null) throw new Error(`worker ${id} is busy with run ${peer.runId}`);
    }
    const group = new Group(runId, [...workerIds], {
      maxBufferBytes: this.o.maxGroupBufferBytes,
      maxPendingRounds: this.o.maxPendingRounds,
    });
    this.groups.set(runId, group);
    for (const id of workerIds) this.byId.get(id)!.runId = runId;
    this.o.log('info', `run ${runId}: group of ${workerIds.length} (${workerIds.join(', ')})`);
    return this.groupInfo(group);
  }

  group(runId: string): GroupInfo | undefined {
    const group = this.groups.get(runId);
    return group ? this.groupInfo(group) : undefined;
  }

  private groupInfo(g: Group): GroupInfo {
    return {
      runId: g.runId,
      workerIds: [...g.workerIds],
      worldSize: g.worldSize,
      failure: g.failure,
      openRounds: g.openRounds,
      awaitedRanks: g.awaitedRanks(),
      bufferedBytes: g.buffered,
    };
  }

  /** Sends `assign` to every rank of the run's group (with the checkpoint as payload when resuming). */
  async assign(runId: string, config: unknown, options: AssignOptions = {}): Promise<void> {
    const group = this.groups.get(runId);
    if (!group) throw new Error(`run ${runId} has no group`);
    await Promise.all(
      group.workerIds.map((workerId, rank) => {
        const checkpoint =
          typeof options.checkpoint === 'function' ? options.checkpoint(rank) : (options.checkpoint ?? null);
        return this.send(
          workerId,
          {
            type: 'assign',
            runId,
            rank,
            worldSize: group.worldSize,
            config,
            ...(options.resume ? { resume: options.resume } : {}),
          },
          checkpoint,
        );
      }),
    );
  }

  /** Sends `cancel` to the run's ranks that are still connected and ends the group. */
  async cancel(runId: string, reason: string): Promise<void> {
    const group = this.groups.get(runId);
    if (!group) return;
    const sends = group.workerIds.map((id) => this.send(id, { type: 'cancel', runId, reason }).catch(() => undefined));
    this.endGroup(runId, `run ${runId} cancelled: ${reason}`);
    await Promise.all(sends);
  }

  /**
   * Ends a run's group: its workers become idle, open rounds fail with `reason`, later collectives for the run
   * fail.
   */
  endGroup(runId: string, reason = `the group for run ${runId} ended`): void {
    const group = this.groups.get(runId);
    if (!group) return;
    this.notifyFailures(group, group.fail(reason).notify, reason);
    this.groups.delete(runId);
    for (const id of group.workerIds) {
      const peer = this.byId.get(id);
      if (peer && peer.runId === runId) {
        peer.runId = null;
        peer.resume('group');
      }
    }
  }

  private failGroup(group: Group, reason: string): void {
    if (group.failure !== null) return;
    this.announceFailure(group, group.fail(reason));
  }

  /** Tells the ranks whose open rounds died, logs it, and emits groupFailed (once per group). */
  private announceFailure(group: Group, outcome: { reason: string; notify: readonly RoundFailure[] }): void {
    this.notifyFailures(group, outcome.notify, outcome.reason);
    this.o.log('warn', `run ${group.runId}: collectives failed: ${outcome.reason}`);
    this.emitSafely('groupFailed', group.runId, outcome.reason);
  }

  private notifyFailures(group: Group, notify: readonly RoundFailure[], reason: string): void {
    for (const { rank, round, op } of notify) {
      const peer = this.byId.get(group.workerIds[rank]!);
      peer?.send({ type: 'collectiveFailed', runId: group.runId, round, op, reason }).catch(() => undefined);
    }
    this.rebalance(group);
  }

  /** Resumes reading the ranks the group no longer needs held back. */
  private rebalance(group: Group): void {
    group.workerIds.forEach((id, rank) => {
      const peer = this.byId.get(id);
      if (peer && peer.isPausedFor('group') && !group.shouldPause(rank)) peer.resume('group');
    });
  }

  private onCollective(peer: Peer, msg: CollectiveMessage, payload: readonly Uint8Array[]): void {
    const workerId = peer.workerId!;
    const group = this.groups.get(msg.runId);
    const rank = group ? group.rankOf(workerId) : -1;
    const failed = (reason: string) =>
      peer
        .send({ type: 'collectiveFailed', runId: msg.runId, round: msg.round, op: msg.op, reason })
        .catch(() => undefined);
    if (!group || rank < 0) {
      failed(`worker ${workerId} is not in a group for run ${msg.runId}`);
      this.emitSafely('collectiveRefused', msg.runId, this.info(peer));
      return;
    }
    const outcome: ContributeOutcome = group.contribute(rank, msg.rank, msg.op, msg.round, payload);
    switch (outcome.kind) {
      case 'pending':
        if (group.shouldPause(rank)) peer.pause('group');
        break;
      case 'complete':
        for (const result of outcome.results) {
          const target = this.byId.get(group.workerIds[result.rank]!);
          target?.send(result.header, result.payload).catch(() => undefined);
        }
        if (group.shouldPause(rank)) peer.pause('group');
        this.rebalance(group);
        break;
      case 'failed':
        // The offending contribution was not kept: its sender hears of its round here.
        failed(outcome.reason);
        this.announceFailure(group, outcome);
        break;
      case 'rejected':
        failed(outcome.reason);
        break;
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // Connections

  private onConnection(ws: WebSocket, req: IncomingMessage): void {
    const socket = req.socket;
    const address = `${socket.remoteAddress}:${socket.remotePort}`;
    ws.on('error', () => undefined); // errors are reported below, or do not matter for a socket turned away
    if (this.closing) {
      ws.close(CLOSE_CODES.goingAway, 'hub closing');
      return;
    }
    let pending = 0;
    for (const p of this.peers) if (p.state === 'pending') pending++;
    if (pending >= this.o.maxPendingConnections) {
      this.o.log('warn', `refused connection from ${address}: ${pending} connections already waiting for hello`);
      ws.close(1013, 'too many connections waiting for hello');
      return;
    }
    // Fragments as they come: payloads are forwarded without ws concatenating them first.
    ws.binaryType = 'fragments';
    const peer = new Peer(ws, socket, address, this.o.highWaterMark);
    this.peers.add(peer);
    this.o.log('debug', `connection from ${address}`);
    const helloTimer = setTimeout(() => {
      if (peer.state === 'pending') {
        this.disconnect(peer, CLOSE_CODES.helloTimeout, `no hello within ${this.o.helloTimeoutMs} ms`);
      }
    }, this.o.helloTimeoutMs);
    limitBeforeHello(socket, this.o.maxHelloBytes, peer, () => this.cutOff(peer));
    let errorReason: string | null = null;
    ws.on('message', (data, isBinary) => {
      try {
        this.onMessage(peer, messageParts(data), isBinary);
      } catch (e) {
        this.o.log('error', `while handling a message from ${peer.label}: ${(e as Error).stack ?? errorMessage(e)}`);
      }
    });
    ws.on('error', (err: Error & { code?: string }) => {
      errorReason =
        err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'
          ? `sent a frame larger than the hub's maxPayload of ${this.o.maxPayload} bytes`
          : `WebSocket error: ${err.message}`;
      if (peer.state !== 'closed') this.o.log('warn', `refused ${peer.label}: ${errorReason}`);
    });
    ws.on('close', (code, reason) => {
      clearTimeout(helloTimer);
      const why = errorReason ?? `socket closed (code ${code}${reason.length > 0 ? `: ${reason.toString()}` : ''})`;
      this.drop(peer, why);
    });
  }

  private onMessage(peer: Peer, bytes: readonly Uint8Array[], isBinary: boolean): void {
    if (peer.state === 'closed') return;
    peer.heard();
    if (!isBinary) {
      this.disconnect(peer, CLOSE_CODES.protocolError, 'sent a text frame; the protocol is binary frames only');
      return;
    }
    let message: WorkerMessage;
    let payload: Uint8Array[];
    try {
      ({ header: message, payload } = decodeFrame(bytes, 'worker'));
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      this.disconnect(peer, CLOSE_CODES.protocolError, `bad frame: ${e.message}`);
      return;
    }
    if (peer.state === 'pending') {
      if (message.type === 'hello') {
        this.onHello(peer, message);
      } else if (message.type === 'registerRun') {
        if (this.admit(peer, message.protocolVersion, message.token)) this.external.register(peer, message);
      } else {
        this.disconnect(peer, CLOSE_CODES.protocolError, `expected hello first, got '${message.type}'`);
      }
      return;
    }
    if (peer.state === 'external') {
      this.external.onMessage(peer, message);
      return;
    }
    switch (message.type) {
      case 'hello':
      case 'registerRun':
        this.disconnect(peer, CLOSE_CODES.protocolError, `sent ${message.type} after hello`);
        return;
      case 'heartbeat':
        peer.lastHeartbeat = Date.now();
        return;
      case 'collective':
        this.onCollective(peer, message, payload);
        return;
      case 'metrics': {
        const batch = { kind: message.kind, records: message.records } as MetricsBatch;
        this.emitSafely('metrics', batch, this.info(peer));
        return;
      }
      case 'log': {
        const info = this.info(peer);
        const runId = message.runId ?? info.runId;
        const record: LogRecord = {
          runId,
          workerId: info.id,
          rank: runId !== null && runId === info.runId ? info.rank : null,
          level: message.level,
          message: message.message,
          time: message.time ?? Date.now(),
        };
        this.emitSafely('log', record, info);
        return;
      }
      case 'status':
        this.emitSafely('status', message, this.info(peer));
        return;
      case 'checkpoint':
        this.emitSafely('checkpoint', message, joinParts(payload), this.info(peer));
        return;
    }
  }

  /** Checks a first message's protocol version and token; refuses the connection and returns false if wrong. */
  private admit(peer: Peer, protocolVersion: number, token: string): boolean {
    const versionMatches = protocolVersion === PROTOCOL_VERSION;
    const tokenMatches = timingSafeEqual(digest(token), this.tokenDigest);
    const version = `protocol version ${protocolVersion}; this hub speaks ${PROTOCOL_VERSION}`;
    if (!versionMatches) this.disconnect(peer, CLOSE_CODES.protocolVersion, version);
    else if (!tokenMatches) this.disconnect(peer, CLOSE_CODES.wrongToken, 'wrong token');
    return versionMatches && tokenMatches;
  }

  private onHello(peer: Peer, hello: HelloMessage): void {
    if (!this.admit(peer, hello.protocolVersion, hello.token)) return;
    const id = `w${this.nextWorker++}`;
    peer.workerId = id;
    peer.capabilities = hello.capabilities;
    peer.state = 'ready';
    peer.lastHeartbeat = Date.now();
    this.byId.set(id, peer);
    peer
      .send({
        type: 'welcome',
        workerId: id,
        heartbeatMs: this.o.heartbeatMs,
        silenceMs: this.o.silenceMs,
        maxFrameBytes: this.o.maxPayload,
      })
      .catch(() => undefined);
    const c = hello.capabilities;
    this.o.log(
      'info',
      `worker ${id} joined from ${peer.remoteAddress}: ${c.host} pid ${c.pid}, ${c.backend}` +
        `${c.adapter ? ` (${c.adapter.name})` : ''}, ${c.cores} cores`,
    );
    this.emitSafely('workerJoined', this.info(peer));
  }

  /** Refuses a connection: tells it why (a `refused` message), logs it, closes it with `code`. */
  private disconnect(peer: Peer, code: number, reason: string): void {
    if (peer.state === 'closed') return;
    this.o.log('warn', `refused ${peer.label}: ${reason}`);
    peer.sendNow({ type: 'refused', reason, code });
    peer.resume('group');
    peer.resume('outbound');
    this.drop(peer, reason);
    peer.ws.close(code, closeReason(reason));
    // A peer that does not answer the close handshake is cut off.
    const cut = setTimeout(() => peer.ws.terminate(), 1000);
    cut.unref();
    void peer.closed().then(() => clearTimeout(cut));
  }

  /** A stranger that sent more than its hello may take: cut off at once, not read to the end of its frame. */
  private cutOff(peer: Peer): void {
    this.o.log('warn', `refused ${peer.label}: sent more than ${this.o.maxHelloBytes} bytes before its hello`);
    this.drop(peer, 'too many bytes before hello');
    peer.ws.terminate();
  }

  /** Forgets a connection; a worker's loss fails its group's collectives and is announced. */
  private drop(peer: Peer, reason: string): void {
    if (peer.state === 'closed') return;
    if (peer.state === 'external') this.external.dropped(peer, reason);
    const wasWorker = peer.state === 'ready';
    const info = wasWorker ? this.info(peer) : null;
    peer.state = 'closed';
    this.peers.delete(peer);
    if (!wasWorker || !info) {
      this.o.log('debug', `${peer.label} went away before hello: ${reason}`);
      return;
    }
    this.byId.delete(info.id);
    if (!this.closing) this.o.log('warn', `worker ${info.id} lost: ${reason}`);
    const group = info.runId !== null ? this.groups.get(info.runId) : undefined;
    if (group && info.rank !== null) {
      this.failGroup(group, `rank ${info.rank} (worker ${info.id}) was lost: ${reason}`);
    }
    this.emitSafely('workerLost', info, reason);
  }

  private emitSafely<E extends keyof HubEvents>(event: E, ...args: HubEvents[E]): void {
    try {
      (this.emit as (e: E, ...a: HubEvents[E]) => boolean)(event, ...args);
    } catch (e) {
      this.o.log('error', `a ${String(event)} listener threw: ${(e as Error).stack ?? errorMessage(e)}`);
    }
  }

  // -------------------------------------------------------------------------------------------------------------

  /** Closes every connection (code 1001) and the server; resolves when all are closed. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const t of this.timers) clearInterval(t);
      this.external.close();
      for (const runId of [...this.groups.keys()]) this.endGroup(runId, 'the hub is closing');
      // Let the failures just queued reach ws before the close frames.
      await new Promise((resolve) => setImmediate(resolve));
      await Promise.all(
        [...this.peers].map(async (peer) => {
          peer.resume('group');
          peer.resume('outbound');
          peer.ws.close(CLOSE_CODES.goingAway, 'hub closing');
          const cut = setTimeout(() => peer.ws.terminate(), 1000);
          await peer.closed();
          clearTimeout(cut);
        }),
      );
      await new Promise<void>((resolve) => this.wss.close(() => resolve()));
      await new Promise<void>((resolve) => {
        this.server.close(() => resolve());
        this.server.closeAllConnections();
      });
    })();
    return this.closing;
  }
}

/** Starts a hub listening on options.host:options.port (127.0.0.1, an ephemeral port by default). */
export async function startHub(options: HubOptions = {}): Promise<Hub> {
  const o = resolveOptions(options);
  const server = createServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
    res.end('SparseLab hub: connect with a WebSocket\n');
  });
  const wss = new WebSocketServer({
    server,
    maxPayload: o.maxPayload,
    perMessageDeflate: false,
    clientTracking: false,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => o.log('error', `server: ${err.message}`));
  wss.on('error', (err) => o.log('error', `WebSocket server: ${err.message}`));
  return new Hub(server, wss, o);
}
