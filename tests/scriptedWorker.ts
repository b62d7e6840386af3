/**
 * Scripted workers for hub and core tests: a HubClient that joins like a real worker but does only what a
 * test tells it (report records for a run, stall, lie), honest or rogue.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import WebSocket from 'ws';
import type { IterationRecord } from '../common/metrics';
import { decodeFrame, encodeFrame } from '../common/frame';
import {
  PROTOCOL_VERSION,
  type AssignMessage,
  type HubMessage,
  type WorkerCapabilities,
  type WorkerMessage,
} from '../common/protocol';
import { connectToHub, type HubClient } from '../gpu/worker/hubClient';
import type { Hub } from '../main/core/hub';

export interface Assignment {
  message: AssignMessage;
  checkpoint: Uint8Array | null;
}

export interface ScriptedWorker {
  client: HubClient;
  assignments: Assignment[];
  /** Resolves with the next assignment (or one already received and not yet taken). */
  nextAssignment(timeoutMs?: number): Promise<Assignment>;
}

export function capabilities(host: string): WorkerCapabilities {
  return { host, pid: 4242, backend: 'cpu', cores: 1 };
}

export async function scriptedWorker(hub: Hub, host = 'scripted'): Promise<ScriptedWorker> {
  const client = await connectToHub(hub.url, hub.token, capabilities(host));
  const assignments: Assignment[] = [];
  let taken = 0;
  const waiters: (() => void)[] = [];
  client.onAssign((message, checkpoint) => {
    assignments.push({ message, checkpoint });
    waiters.splice(0).forEach((w) => w());
  });
  return {
    client,
    assignments,
    async nextAssignment(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (assignments.length <= taken) {
        if (Date.now() > deadline) throw new Error(`${host}: no assignment within ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
      }
      return assignments[taken++]!;
    },
  };
}

/** A well-formed iteration record of a run. */
export function iterationRecord(runId: string, rank: number, iteration: number, loss = 1): IterationRecord {
  return {
    runId,
    rank,
    iteration,
    epoch: iteration / 100,
    loss,
    lr: 0.05,
    density: 0.05,
    k: 10,
    selected: 10,
    bytesSent: 80,
    bytesReceived: 80,
    wallMs: iteration * 10,
    computeMs: 1,
    compressMs: 1,
    exchangeMs: 1,
    waitMs: 0,
    updateMs: 1,
  };
}

export async function until(condition: () => boolean, timeoutMs = 10_000, what = 'a condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * A worker that speaks the protocol by hand: it joins with the token and heartbeats like any worker, and sends
 * whatever a test gives it (messages a HubClient would refuse to send, raw bytes).
 */
export class RogueWorker {
  readonly received: HubMessage[] = [];
  workerId = '';
  private heartbeat: NodeJS.Timeout | null = null;

  private constructor(readonly ws: WebSocket) {
    ws.on('error', () => undefined);
    ws.on('message', (data) => {
      try {
        this.received.push(decodeFrame(data as Buffer, 'hub').header as HubMessage);
      } catch {
        // not ours to judge
      }
    });
    ws.on('close', () => this.heartbeat && clearInterval(this.heartbeat));
  }

  static async join(hub: Hub, host = 'rogue-host', token = hub.token): Promise<RogueWorker> {
    const ws = new WebSocket(hub.url, { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const rogue = new RogueWorker(ws);
    rogue.send({ type: 'hello', token, protocolVersion: PROTOCOL_VERSION, capabilities: capabilities(host) });
    await until(() => rogue.received.length > 0, 5000, 'the hub to answer hello');
    const welcome = rogue.received[0]!;
    if (welcome.type !== 'welcome') throw new Error(`not welcomed: ${JSON.stringify(welcome)}`);
    rogue.workerId = welcome.workerId;
    rogue.heartbeat = setInterval(() => rogue.send({ type: 'heartbeat', time: Date.now() }), welcome.heartbeatMs);
    return rogue;
  }

  get assignments(): AssignMessage[] {
    return this.received.filter((m): m is AssignMessage => m.type === 'assign');
  }

  send(message: WorkerMessage, payload?: Uint8Array): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(encodeFrame(message, payload));
  }

  sendRaw(bytes: Uint8Array | string): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(bytes);
  }

  close(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.ws.terminate();
  }
}

/**
 * Opens a WebSocket to a hub by hand and streams a frame of `bytes` zeros without a hello, from one reused
 * buffer (the rogue's own memory stays flat); resolves with the bytes written before the hub closed it.
 */
export function floodBeforeHello(port: number, bytes: number): Promise<number> {
  return new Promise((resolve) => {
    const socket: Socket = connect(port, '127.0.0.1');
    let written = 0;
    let upgraded = false;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve(written);
    };
    socket.on('error', finish);
    socket.on('close', finish);
    socket.setTimeout(20_000, finish);
    socket.on('connect', () => {
      socket.write(
        `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    const chunk = Buffer.alloc(64 * 1024);
    const pump = () => {
      while (!done && written < bytes) {
        written += chunk.length;
        if (!socket.write(chunk)) {
          socket.once('drain', pump);
          return;
        }
      }
      if (written >= bytes) finish();
    };
    socket.on('data', (data) => {
      if (upgraded || !data.toString('latin1').startsWith('HTTP/1.1 101')) return;
      upgraded = true;
      // FIN + binary, masked, 64-bit length, a zero mask: the payload goes as it is.
      const header = Buffer.alloc(14);
      header[0] = 0x82;
      header[1] = 0x80 | 127;
      header.writeBigUInt64BE(BigInt(bytes), 2);
      socket.write(header);
      pump();
    });
  });
}
