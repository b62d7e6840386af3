/**
 * Frames out over one WebSocket, for both ends of the hub protocol (the hub's Peer, the worker's
 * HubClient): one after another in the order sent, each frame's fragments corked into one write,
 * waiting while the socket holds more than a high-water mark. Environment-free: it sees the ws
 * WebSocket and the TCP socket under it only through the few members it uses.
 */
import { encodeFrameParts } from './frame';
import type { Message } from './protocol';

/**
 * Payload parts go out in WebSocket fragments of at most this much, so a slow socket's progress shows at this
 * grain (a write completes as a whole). Large, because a receiver that needs a part whole copies split ones.
 */
export const FRAGMENT_BYTES = 64 * 1024 * 1024;

/** What the sender uses of a ws WebSocket. */
export interface MessageSocket {
  readonly bufferedAmount: number;
  send(data: Uint8Array, options: { binary: boolean; fin: boolean }, cb?: (err?: Error) => void): void;
}

/** What it uses of the TCP socket under it: corked, a frame's fragments leave in one writev. */
export interface CorkableSocket {
  cork(): void;
  uncork(): void;
}

export interface FrameSenderOptions {
  /** Bytes the socket may hold unsent before a send waits for it to drain. */
  highWaterMark: number;
  /** Whether frames can still be written. */
  isOpen(): boolean;
  /** Settles once the socket has closed. */
  closed: Promise<void>;
  /** Why a send fails once the socket is not open. */
  closedError(): Error;
  /** The TCP socket, once known (a client learns it at the upgrade). */
  socket(): CorkableSocket | null;
  /** Largest frame the other end (named `receiver` in errors) accepts, 0 for none; a larger one is refused unsent. */
  maxFrameBytes?(): number;
  receiver?: string;
  /**
   * Told after each change of the queue: true when more than the high-water mark waits, false
   * when at most half of it does (the hub stops reading a worker that does not take what it sends).
   */
  onBacklog?(backlogged: boolean): void;
}

export class FrameSender {
  /** Bytes of frames sent and not yet handed to ws. */
  queuedBytes = 0;
  private chain: Promise<void> = Promise.resolve();
  /** Settles when everything handed to ws so far has been written to the socket (or the write failed). */
  private lastWrite: Promise<void> = Promise.resolve();

  constructor(
    private readonly ws: MessageSocket,
    private readonly options: FrameSenderOptions,
  ) {}

  /**
   * Sends one frame after every frame sent before it, waiting first while the socket holds more than
   * the high-water mark. Resolves once the frame is written to the socket: its payload, sent without
   * a copy, may be reused then. Rejects if the frame is invalid or too large, or the socket is gone.
   */
  send(header: Message, payload?: Uint8Array | readonly Uint8Array[] | null): Promise<void> {
    let parts: Uint8Array[];
    try {
      parts = encodeFrameParts(header, payload);
    } catch (e) {
      return Promise.reject(e);
    }
    let size = 0;
    for (const p of parts) size += p.byteLength;
    const max = this.options.maxFrameBytes?.() ?? 0;
    if (max > 0 && size > max) {
      return Promise.reject(
        new Error(
          `a ${size}-byte '${header.type}' frame exceeds the ${max} bytes ${this.options.receiver ?? 'the other end'} accepts`,
        ),
      );
    }
    const { highWaterMark, onBacklog } = this.options;
    this.queuedBytes += size;
    if (this.queuedBytes > highWaterMark) onBacklog?.(true);
    let written: Promise<void> = Promise.resolve();
    const handed = this.chain.then(async () => {
      while (this.options.isOpen() && this.ws.bufferedAmount > highWaterMark) {
        await Promise.race([this.lastWrite, this.options.closed]);
      }
      if (!this.options.isOpen()) throw this.options.closedError();
      written = this.write(parts);
    });
    const done = () => {
      this.queuedBytes -= size;
      if (this.queuedBytes <= highWaterMark / 2) onBacklog?.(false);
    };
    handed.then(done, done);
    // The next frame goes to ws as soon as this one has; the caller hears once this one is written out.
    this.chain = handed.catch(() => undefined);
    return handed.then(() => written);
  }

  /** Writes one frame now, ahead of the queue (a refusal before a close); never splits another frame. */
  sendNow(header: Message): void {
    if (this.options.isOpen()) this.write(encodeFrameParts(header)).catch(() => undefined);
  }

  private write(parts: readonly Uint8Array[]): Promise<void> {
    const fragments: Uint8Array[] = [];
    for (const part of parts) {
      for (let at = 0; at < part.byteLength; at += FRAGMENT_BYTES) {
        fragments.push(part.subarray(at, Math.min(part.byteLength, at + FRAGMENT_BYTES)));
      }
    }
    const written = new Promise<void>((resolve, reject) => {
      const socket = this.options.socket();
      socket?.cork();
      try {
        fragments.forEach((fragment, i) => {
          const fin = i === fragments.length - 1;
          // The fragments of one message go out synchronously, one after another, so nothing interleaves.
          this.ws.send(fragment, { binary: true, fin }, fin ? (err) => (err ? reject(err) : resolve()) : undefined);
        });
      } finally {
        socket?.uncork();
      }
    });
    this.lastWrite = written.catch(() => undefined);
    return written;
  }
}
