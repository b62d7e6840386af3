/** What the hub tests share: hubs with a log, clients joined as ranks, a hand-driven raw socket. */
import { expect } from 'vitest';
import WebSocket from 'ws';
import { decodeFrame, encodeFrame } from '../common/frame';
import { PROTOCOL_VERSION, type HubMessage, type Message, type WorkerCapabilities } from '../common/protocol';
import { connectToHub, type HubClient } from '../gpu/worker/hubClient';
import { startHub, type Hub, type HubOptions } from '../main/core/hub';
import { until } from './scriptedWorker';

export { until };

export const caps = (i: number): WorkerCapabilities => ({ host: `host-${i}`, pid: 1000 + i, backend: 'cpu', cores: 2 });

let hubs: Hub[] = [];
let clients: HubClient[] = [];
let raws: WebSocket[] = [];

/** Closes `client` with the others after the test. */
export function tracked(client: HubClient): HubClient {
  clients.push(client);
  return client;
}

/** Closes every hub, client and raw socket the helpers below made: each hub test file's afterEach. */
export async function cleanUpHubs(): Promise<void> {
  for (const r of raws) r.terminate();
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(hubs.map((h) => h.close()));
  hubs = [];
  clients = [];
  raws = [];
}

export interface Logged {
  level: string;
  message: string;
}

export async function hubWithLog(options: HubOptions = {}): Promise<{ hub: Hub; logs: Logged[] }> {
  const logs: Logged[] = [];
  const hub = await startHub({ log: (level, message) => logs.push({ level, message }), ...options });
  hubs.push(hub);
  return { hub, logs };
}

export async function connect(hub: Hub, n: number, from = 0): Promise<HubClient[]> {
  const out = await Promise.all(Array.from({ length: n }, (_, i) => connectToHub(hub.url, hub.token, caps(from + i))));
  clients.push(...out);
  return out;
}

/** Makes the clients the ranks of a run, in order, and waits until each has its assignment. */
export async function group(hub: Hub, members: HubClient[], runId: string): Promise<void> {
  const assigned = members.map(
    (c) => new Promise<void>((resolve) => c.onAssign((a) => a.runId === runId && resolve())),
  );
  hub.createGroup(
    runId,
    members.map((c) => c.workerId),
  );
  await hub.assign(runId, { note: 'opaque' });
  await Promise.all(assigned);
}

/** A hand-driven WebSocket to the hub, to send what a real client would not. */
export class Raw {
  readonly ws: WebSocket;
  readonly received: Message[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly opened: Promise<void>;

  constructor(url: string) {
    this.ws = new WebSocket(url, { perMessageDeflate: false });
    raws.push(this.ws);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.closed = new Promise((resolve) =>
      this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    this.ws.on('error', () => undefined);
    this.ws.on('message', (data) => this.received.push(decodeFrame(data as Buffer, 'hub').header));
  }

  static async joined(hub: Hub, token = hub.token): Promise<Raw> {
    const raw = new Raw(hub.url);
    await raw.opened;
    raw.send(encodeFrame({ type: 'hello', token, protocolVersion: PROTOCOL_VERSION, capabilities: caps(99) }));
    await until(() => raw.received.length > 0);
    return raw;
  }

  send(data: Uint8Array | string): void {
    this.ws.send(data);
  }

  get welcome(): Extract<HubMessage, { type: 'welcome' }> {
    const w = this.received.find((m) => m.type === 'welcome');
    if (!w || w.type !== 'welcome') throw new Error('not welcomed');
    return w;
  }
}

/** Byte-for-byte equality, fast on large arrays (toEqual on Array.from is slow). */
export function expectBytes(actual: Uint8Array | undefined, expected: Uint8Array, what = ''): void {
  expect(actual, what).toBeDefined();
  const a = Buffer.from(actual!.buffer, actual!.byteOffset, actual!.byteLength);
  if (!a.equals(Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength))) {
    expect(Array.from(a.subarray(0, 64)), `${what} (${a.length} vs ${expected.length} bytes)`).toEqual(
      Array.from(expected.subarray(0, 64)),
    );
    throw new Error(`${what}: bytes differ (${a.length} vs ${expected.length} bytes)`);
  }
}

/** Bytes with a recognisable pattern per rank and round. */
export function pattern(rank: number, round: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (rank * 31 + round * 7 + i) & 0xff;
  return out;
}
