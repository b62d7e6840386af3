import { describe, expect, it } from 'vitest';
import { FRAGMENT_BYTES, FrameSender, type MessageSocket } from '../../common/frameSender';
import { Liveness } from '../../common/liveness';
import { decodeFrame } from '../../common/frame';

/** A socket that holds what it is sent until drain() is called, as a slow peer's would. */
class SlowSocket implements MessageSocket {
  bufferedAmount = 0;
  open = true;
  corked = 0;
  readonly messages: Uint8Array[][] = [];
  private current: Uint8Array[] = [];
  private readonly callbacks: (() => void)[] = [];
  send(data: Uint8Array, options: { binary: boolean; fin: boolean }, cb?: (err?: Error) => void): void {
    expect(this.corked).toBe(1); // every fragment of a frame goes out while corked
    this.bufferedAmount += data.byteLength;
    this.current.push(data);
    if (options.fin) {
      this.messages.push(this.current);
      this.current = [];
    }
    if (cb) this.callbacks.push(() => cb());
  }
  drain(): void {
    this.bufferedAmount = 0;
    this.callbacks.splice(0).forEach((cb) => cb());
  }
}

function sender(ws: SlowSocket, extra: { maxFrameBytes?: number; backlog?: boolean[] } = {}): FrameSender {
  let close!: () => void;
  const closed = new Promise<void>((resolve) => (close = resolve));
  return new FrameSender(ws, {
    highWaterMark: 1000,
    isOpen: () => ws.open,
    closed: closed.then(() => undefined),
    closedError: () => (close(), new Error('gone')),
    socket: () => ({ cork: () => ws.corked++, uncork: () => ws.corked-- }),
    maxFrameBytes: () => extra.maxFrameBytes ?? 0,
    receiver: 'the test',
    onBacklog: (b) => extra.backlog?.push(b),
  });
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

describe('FrameSender (the hub and the worker send through it)', () => {
  it('sends frames in order and waits while the socket holds more than the high-water mark', async () => {
    const ws = new SlowSocket();
    const backlog: boolean[] = [];
    const s = sender(ws, { backlog });
    const first = s.send({ type: 'checkpoint', runId: 'r', rank: 0, iteration: 1 }, new Uint8Array(1500));
    const second = s.send({ type: 'heartbeat', time: 1 });
    expect(backlog).toEqual([true, true]);
    await tick();
    // The first is with ws and over the mark: the second waits for it to be written.
    expect(ws.messages.length).toBe(1);
    expect(s.queuedBytes).toBeGreaterThan(0);
    ws.drain();
    await first;
    await tick();
    expect(ws.messages.length).toBe(2);
    ws.drain();
    await second;
    expect(s.queuedBytes).toBe(0);
    expect(backlog.at(-1)).toBe(false);
    const types = ws.messages.map((m) => decodeFrame(m).header.type);
    expect(types).toEqual(['checkpoint', 'heartbeat']);
  });

  it('splits payloads into fragments of at most FRAGMENT_BYTES, one WebSocket message per frame', async () => {
    const ws = new SlowSocket();
    const s = sender(ws);
    const payload = new Uint8Array(FRAGMENT_BYTES + 10);
    const sent = s.send({ type: 'checkpoint', runId: 'r', rank: 0, iteration: 1 }, payload);
    await tick();
    ws.drain();
    await sent;
    expect(ws.messages[0]!.map((f) => f.byteLength).slice(1)).toEqual([FRAGMENT_BYTES, 10]);
    expect(decodeFrame(ws.messages[0]!).payloadBytes).toBe(payload.byteLength);
  });

  it('refuses a frame too large for the receiver before it is queued, and any frame once closed', async () => {
    const ws = new SlowSocket();
    const s = sender(ws, { maxFrameBytes: 100 });
    await expect(
      s.send({ type: 'checkpoint', runId: 'r', rank: 0, iteration: 1 }, new Uint8Array(200)),
    ).rejects.toThrow(/a \d+-byte 'checkpoint' frame exceeds the 100 bytes the test accepts/);
    expect(s.queuedBytes).toBe(0);
    await expect(s.send({ type: 'heartbeat', time: 1 }, new Uint8Array(3))).rejects.toThrow(/carries no payload/);
    ws.open = false;
    await expect(s.send({ type: 'heartbeat', time: 1 })).rejects.toThrow('gone');
    expect(ws.messages.length).toBe(0);
  });
});

describe('Liveness', () => {
  it('counts bytes arriving as life, and while not reading, bytes taken or an excuse', () => {
    const l = new Liveness(0);
    expect(l.silentFor(100, { bytesRead: 0 })).toBe(100);
    expect(l.silentFor(200, { bytesRead: 10 })).toBe(0);
    expect(l.silentFor(300, { bytesRead: 10, bytesFlushed: 5 })).toBe(100);
    expect(l.silentFor(400, { bytesRead: 10, bytesFlushed: 9 }, { countFlushed: true })).toBe(0);
    expect(l.silentFor(500, { bytesRead: 10, bytesFlushed: 9 }, { countFlushed: true })).toBe(100);
    expect(l.silentFor(600, { bytesRead: 10, bytesFlushed: 9 }, { excused: true })).toBe(0);
  });
});
