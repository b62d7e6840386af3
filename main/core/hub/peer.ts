/** One worker's socket as the hub sees it: ordered frame sends that wait for the socket to drain, pausing, liveness. */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { encodeFrameParts, type HubMessage, type WorkerCapabilities } from '../../../common/protocol';

/**
 * Payload parts go out in WebSocket fragments of at most this much, so a slow socket's progress shows at this
 * grain (a write completes as a whole). Large, because a receiver that needs a part whole copies split ones.
 */
export const FRAGMENT_BYTES = 64 * 1024 * 1024;

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
  /** Last time the worker showed signs of life (a message, bytes arriving, bytes it took). */
  lastSeen = Date.now();
  /** Bytes waiting in this peer's send queue (not yet handed to ws). */
  queuedBytes = 0;
  framesSent = 0;
  framesReceived = 0;
  private readonly pauses = new Set<PauseReason>();
  private chain: Promise<void> = Promise.resolve();
  /** Settles when everything handed to ws so far has been written to the socket (or the socket failed). */
  private lastWrite: Promise<void> = Promise.resolve();
  private readonly closedPromise: Promise<void>;
  private markClosed!: () => void;
  private seenBytesRead = 0;
  private seenFlushed = 0;

  constructor(
    readonly ws: WebSocket,
    readonly socket: Socket,
    readonly remoteAddress: string,
    /** Bytes ws may hold for this socket before a send waits for it to drain. */
    private readonly highWaterMark: number,
  ) {
    this.closedPromise = new Promise((resolve) => (this.markClosed = resolve));
    ws.once('close', () => this.markClosed());
  }

  get label(): string {
    return this.workerId ? `worker ${this.workerId} (${this.remoteAddress})` : `connection from ${this.remoteAddress}`;
  }

  get open(): boolean {
    return this.ws.readyState === this.ws.OPEN;
  }

  /**
   * Sends one frame, after every frame sent before it; waits first while the socket holds more than the
   * high-water mark. Resolves once ws has the frame; rejects if the socket is gone.
   */
  send(header: HubMessage, payload?: Uint8Array | readonly Uint8Array[] | null): Promise<void> {
    const parts = encodeFrameParts(header, payload);
    let size = 0;
    for (const p of parts) size += p.byteLength;
    this.queuedBytes += size;
    if (this.queuedBytes > this.highWaterMark) this.pause('outbound');
    const sent = this.chain.then(async () => {
      while (this.open && this.ws.bufferedAmount > this.highWaterMark) {
        await Promise.race([this.lastWrite, this.closedPromise]);
      }
      if (!this.open) throw new Error(`${this.label} is closed`);
      this.writeNow(parts);
    });
    const done = () => {
      this.queuedBytes -= size;
      if (this.queuedBytes <= this.highWaterMark / 2) this.resume('outbound');
    };
    sent.then(done, done);
    this.chain = sent.catch(() => undefined);
    return sent;
  }

  /** Sends one frame now, ahead of the queue (refusals before a close); never splits another frame. */
  sendNow(header: HubMessage): void {
    if (this.open) this.writeNow(encodeFrameParts(header));
  }

  private writeNow(parts: readonly Uint8Array[]): void {
    this.framesSent++;
    const fragments: Uint8Array[] = [];
    for (const part of parts) {
      for (let at = 0; at < part.byteLength; at += FRAGMENT_BYTES) {
        fragments.push(part.subarray(at, Math.min(part.byteLength, at + FRAGMENT_BYTES)));
      }
    }
    this.lastWrite = new Promise<void>((resolve) => {
      // Corked, the fragments (header, then each rank's contribution, uncopied) leave in one writev:
      // one segment and one wake-up of the worker instead of one per fragment.
      this.socket.cork();
      try {
        fragments.forEach((fragment, i) => {
          const fin = i === fragments.length - 1;
          // The fragments of one message go out synchronously, one after another, so nothing interleaves.
          this.ws.send(fragment, { binary: true, fin }, fin ? () => resolve() : undefined);
        });
      } finally {
        this.socket.uncork();
      }
    });
  }

  pause(reason: PauseReason): void {
    if (this.pauses.size === 0 && this.state !== 'closed') this.ws.pause();
    this.pauses.add(reason);
  }

  resume(reason: PauseReason): void {
    if (!this.pauses.delete(reason) || this.pauses.size > 0) return;
    // While paused the hub did not read the socket; silence counts from now.
    this.lastSeen = Date.now();
    if (this.state !== 'closed') this.ws.resume();
  }

  isPausedFor(reason: PauseReason): boolean {
    return this.pauses.has(reason);
  }

  /**
   * Milliseconds since the worker last showed signs of life: a message or bytes arriving (a large frame in
   * transit counts). While the hub is not reading the socket it cannot hear the worker, so then: paused because
   * the worker does not take what the hub sends, the worker must be taking some of it; paused for its group's
   * sake, the time does not count.
   */
  silentFor(now: number): number {
    const bytesRead = this.socket.bytesRead;
    const flushed = this.socket.bytesWritten - this.socket.writableLength;
    let alive = bytesRead !== this.seenBytesRead;
    if (!alive && this.pauses.has('outbound')) alive = flushed !== this.seenFlushed;
    else if (!alive && this.pauses.has('group')) alive = true;
    this.seenBytesRead = bytesRead;
    this.seenFlushed = flushed;
    if (alive) this.lastSeen = Math.max(this.lastSeen, now);
    return now - this.lastSeen;
  }

  closed(): Promise<void> {
    return this.closedPromise;
  }
}
