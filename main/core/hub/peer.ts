/** One worker's socket as the hub sees it: its state, ordered frame sends (common/frameSender.ts), pausing, liveness. */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { FrameSender } from '../../../common/frameSender';
import { Liveness } from '../../../common/liveness';
import { CLOSE_CODES, type HubMessage, type WorkerCapabilities } from '../../../common/protocol';

/** 'ready': a worker that said hello; 'external': a connection that registered an external run (hub/external.ts). */
export type PeerState = 'pending' | 'ready' | 'external' | 'closed';
/** Why the hub stopped reading a socket: its group holds too much, or the socket does not take what the hub sends. */
export type PauseReason = 'group' | 'outbound';

export class Peer {
  state: PeerState = 'pending';
  workerId: string | null = null;
  capabilities: WorkerCapabilities | null = null;
  runId: string | null = null;
  readonly connectedAt = Date.now();
  lastHeartbeat = 0;
  private readonly liveness = new Liveness();
  private readonly sender: FrameSender;
  private readonly pauses = new Set<PauseReason>();
  private readonly closedPromise: Promise<void>;

  constructor(
    readonly ws: WebSocket,
    readonly socket: Socket,
    readonly remoteAddress: string,
    /** Bytes ws may hold for this socket before a send waits for it to drain. */
    highWaterMark: number,
  ) {
    this.closedPromise = new Promise((resolve) => ws.once('close', () => resolve()));
    this.sender = new FrameSender(ws, {
      highWaterMark,
      isOpen: () => this.open,
      closed: this.closedPromise,
      closedError: () => new Error(`${this.label} is closed`),
      socket: () => socket,
      // A worker that does not take what the hub sends is not read either, until it catches up.
      onBacklog: (backlogged) => (backlogged ? this.pause('outbound') : this.resume('outbound')),
    });
  }

  get label(): string {
    return this.workerId ? `worker ${this.workerId} (${this.remoteAddress})` : `connection from ${this.remoteAddress}`;
  }

  get open(): boolean {
    return this.ws.readyState === this.ws.OPEN;
  }

  /** Last time the worker showed signs of life (a message, bytes arriving, bytes it took). */
  get lastSeen(): number {
    return this.liveness.lastSeen;
  }

  /** Bytes waiting in this peer's send queue (not yet handed to ws). */
  get queuedBytes(): number {
    return this.sender.queuedBytes;
  }

  /** A message arrived from the worker. */
  heard(): void {
    this.liveness.lastSeen = Date.now();
  }

  /** Sends one frame after every frame sent before; resolves once written, rejects if the socket is gone. */
  send(header: HubMessage, payload?: Uint8Array | readonly Uint8Array[] | null): Promise<void> {
    return this.sender.send(header, payload);
  }

  /** Sends one frame now, ahead of the queue (refusals before a close). */
  sendNow(header: HubMessage): void {
    this.sender.sendNow(header);
  }

  pause(reason: PauseReason): void {
    if (this.pauses.size === 0 && this.state !== 'closed') this.ws.pause();
    this.pauses.add(reason);
  }

  resume(reason: PauseReason): void {
    if (!this.pauses.delete(reason) || this.pauses.size > 0) return;
    // While paused the hub did not read the socket; silence counts from now.
    this.liveness.lastSeen = Date.now();
    if (this.state !== 'closed') this.ws.resume();
  }

  isPausedFor(reason: PauseReason): boolean {
    return this.pauses.has(reason);
  }

  /**
   * Milliseconds since the worker last showed signs of life. While the hub is not reading the socket it cannot
   * hear the worker, so then: paused because the worker does not take what the hub sends, the worker must be
   * taking some of it; paused for its group's sake, the time does not count.
   */
  silentFor(now: number): number {
    const { bytesRead, bytesWritten, writableLength } = this.socket;
    return this.liveness.silentFor(
      now,
      { bytesRead, bytesFlushed: bytesWritten - writableLength },
      { countFlushed: this.pauses.has('outbound'), excused: this.pauses.has('group') },
    );
  }

  closed(): Promise<void> {
    return this.closedPromise;
  }
}

/**
 * Keeps a set of peers alive both ways: a heartbeat to each one with nothing queued, every `heartbeatMs`, and a
 * disconnect for each one silent past `silenceMs`. Returns the two timers, for the owner to clear.
 */
export function watchLiveness(
  peers: () => Iterable<Peer>,
  o: { heartbeatMs: number; silenceMs: number },
  disconnect: (peer: Peer, code: number, reason: string) => void,
): NodeJS.Timeout[] {
  const heartbeat = (): void => {
    const time = Date.now();
    for (const peer of peers()) {
      if (peer.queuedBytes === 0) peer.send({ type: 'heartbeat', time }).catch(() => undefined);
    }
  };
  const checkSilence = (): void => {
    const now = Date.now();
    for (const peer of [...peers()]) {
      const silent = peer.silentFor(now);
      if (silent > o.silenceMs)
        disconnect(peer, CLOSE_CODES.silent, `silent for ${silent} ms (limit ${o.silenceMs} ms)`);
    }
  };
  return [
    setInterval(heartbeat, o.heartbeatMs),
    setInterval(checkSilence, Math.max(10, Math.min(o.heartbeatMs, o.silenceMs / 4))),
  ];
}
