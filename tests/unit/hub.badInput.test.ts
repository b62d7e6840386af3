import { afterEach, describe, expect, it } from 'vitest';
import { encodeFrame } from '../../common/frame';
import { CLOSE_CODES } from '../../common/protocol';
import { connectToHub, HubConnectionError } from '../../gpu/worker/hubClient';
import { type WorkerInfo } from '../../main/core/hub';
import { caps, cleanUpHubs, connect, group, hubWithLog, pattern, Raw, tracked, until } from '../hubHarness';
import { floodBeforeHello } from '../scriptedWorker';

afterEach(cleanUpHubs);

describe('hub: bad input and lost workers', () => {
  it('refuses garbage and oversized frames without disturbing other connections', async () => {
    const maxPayload = 1024 * 1024;
    const { hub, logs } = await hubWithLog({ maxPayload });
    const [a, b] = await connect(hub, 2);
    await group(hub, [a!, b!], 'run-busy');
    // Traffic on a healthy group the whole time.
    let stop = false;
    let rounds = 0;
    const traffic = (async () => {
      while (!stop) {
        await Promise.all([
          a!.allgather('run-busy', pattern(0, rounds, 5000)),
          b!.allgather('run-busy', pattern(1, rounds, 7000)),
        ]);
        rounds++;
      }
    })();

    const heartbeatHeader = new TextEncoder().encode('{"type":"heartbeat","time":1,"payloadBytes":0}');
    const withLength = (n: number, body: Uint8Array) => {
      const out = new Uint8Array(4 + body.length);
      new DataView(out.buffer).setUint32(0, n, true);
      out.set(body, 4);
      return out;
    };
    const json = (header: unknown) => {
      const body = new TextEncoder().encode(JSON.stringify(header));
      return withLength(body.length, body);
    };
    const garbage: [string, Uint8Array | string, RegExp][] = [
      ['text frame', 'hello?', /text frame/],
      ['short frame', Uint8Array.of(1, 2), /shorter than its 4-byte header length/],
      ['bad header length', withLength(999, heartbeatHeader), /runs past the end/],
      ['bad UTF-8', withLength(3, Uint8Array.of(0xff, 0xfe, 0xfd)), /not valid UTF-8/],
      ['bad JSON', withLength(5, new TextEncoder().encode('{"a":')), /not valid JSON/],
      [
        'schema violation',
        json({ type: 'collective', runId: 'r', op: 'allgather', round: -1, rank: 0, payloadBytes: 0 }),
        /'collective' header fails the schema: round/,
      ],
      ['unknown type', json({ type: 'gossip', payloadBytes: 0 }), /unknown message type 'gossip'/],
      [
        'wrong payload length',
        encodeFrame({ type: 'checkpoint', runId: 'r', rank: 0, iteration: 1 }, new Uint8Array(10)).subarray(0, -3),
        /declares a 10-byte payload but the frame carries 7 bytes/,
      ],
      [
        'a hub message',
        encodeFrame({ type: 'cancel', runId: 'r', reason: 'x' }),
        /'cancel' is not a message a worker sends/,
      ],
    ];
    for (const [what, data, reason] of garbage) {
      const raw = await Raw.joined(hub);
      raw.send(data);
      const closed = await raw.closed;
      expect(closed.code, what).toBe(CLOSE_CODES.protocolError);
      expect(raw.received.at(-1), what).toMatchObject({ type: 'refused', reason: expect.stringMatching(reason) });
      expect(
        logs.some(
          (l) => l.level === 'warn' && l.message.includes(`worker ${raw.welcome.workerId}`) && reason.test(l.message),
        ),
        what,
      ).toBe(true);
    }
    // Before hello, anything but hello is refused too.
    const early = new Raw(hub.url);
    await early.opened;
    early.send(encodeFrame({ type: 'heartbeat', time: 0 }));
    expect((await early.closed).code).toBe(CLOSE_CODES.protocolError);
    expect(logs.some((l) => /expected hello first, got 'heartbeat'/.test(l.message))).toBe(true);

    // Oversized: ws cuts it off (1009) before reading it all; the log says why.
    const big = await Raw.joined(hub);
    big.send(encodeFrame({ type: 'checkpoint', runId: 'r', rank: 0, iteration: 1 }, new Uint8Array(maxPayload + 1)));
    expect((await big.closed).code).toBe(CLOSE_CODES.messageTooBig);
    await until(() => logs.some((l) => l.message.includes(`larger than the hub's maxPayload of ${maxPayload} bytes`)));
    // A real client will not send one: it knows the hub's limit.
    await expect(a!.checkpoint('run-busy', 1, new Uint8Array(maxPayload))).rejects.toThrow(
      /exceeds the 1048576 bytes the hub accepts/,
    );

    const before = rounds;
    await until(() => rounds >= before + 3);
    stop = true;
    await traffic;
    expect(hub.workers().map((w) => w.id)).toEqual([a!.workerId, b!.workerId]);
    expect(hub.group('run-busy')!.failure).toBeNull();
  });

  it('lets a stranger send a few KiB before hello, whatever frame it announces, and bounds waiting connections', async () => {
    const MiB = 1024 * 1024;
    const { hub, logs } = await hubWithLog({ maxPendingConnections: 4 });
    const rss = process.memoryUsage().rss;
    // Three 200 MiB frames before hello (ws's frame limit is the workers' 512 MiB): each is cut off at its start.
    const written = await Promise.all([0, 1, 2].map(() => floodBeforeHello(hub.port, 200 * MiB)));
    for (const bytes of written) expect(bytes).toBeLessThan(32 * MiB);
    expect(process.memoryUsage().rss - rss).toBeLessThan(64 * MiB);
    expect(logs.filter((l) => /sent more than 8192 bytes before its hello/.test(l.message))).toHaveLength(3);
    // At most maxPendingConnections wait for their hello; the others are turned away at once.
    const waiting = Array.from({ length: 6 }, () => new Raw(hub.url));
    await Promise.all(waiting.map((w) => w.opened.catch(() => undefined)));
    const turnedAway = await Promise.all(
      waiting.map((w) =>
        Promise.race([w.closed.then((c) => c.code), new Promise((r) => setTimeout(() => r(null), 500))]),
      ),
    );
    expect(turnedAway.filter((code) => code === 1013)).toHaveLength(2);
    expect(logs.some((l) => /4 connections already waiting for hello/.test(l.message))).toBe(true);
    for (const w of waiting) w.ws.terminate();
    // A worker still joins.
    const [worker] = await connect(hub, 1);
    expect(hub.workers().map((w) => w.id)).toEqual([worker!.workerId]);
  });

  it('declares a silent worker lost, fails its group, and keeps one that heartbeats', async () => {
    const { hub, logs } = await hubWithLog({ heartbeatMs: 50, silenceMs: 400 });
    const [alive] = await connect(hub, 1);
    const silent = await Raw.joined(hub); // says hello, then nothing
    const silentId = silent.welcome.workerId;
    const assigned = new Promise<void>((resolve) => alive!.onAssign(() => resolve()));
    hub.createGroup('run-s', [alive!.workerId, silentId]);
    await hub.assign('run-s', {});
    await assigned;
    const lost = new Promise<[WorkerInfo, string]>((resolve) => hub.on('workerLost', (w, r) => resolve([w, r])));
    const pending = alive!.allgather('run-s', new Uint8Array(8));
    pending.catch(() => undefined); // checked below, after the loss
    const [info, reason] = await lost;
    expect(info.id).toBe(silentId);
    expect(reason).toMatch(/silent for \d+ ms \(limit 400 ms\)/);
    expect((await silent.closed).code).toBe(CLOSE_CODES.silent);
    await expect(pending).rejects.toThrow(new RegExp(`rank 1 \\(worker ${silentId}\\) was lost: silent for`));
    expect(logs.some((l) => l.message.includes(`worker ${silentId} lost: silent`))).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    expect(hub.workers().map((w) => w.id)).toEqual([alive!.workerId]);
    expect(hub.worker(alive!.workerId)!.lastHeartbeat).toBeGreaterThan(Date.now() - 400);
  });

  it('a client notices a hub that goes silent or goes away', async () => {
    const { hub } = await hubWithLog({ heartbeatMs: 5000, silenceMs: 10_000 });
    const ends: (Error | null)[] = [];
    const quick = await connectToHub(hub.url, hub.token, caps(0), { silenceMs: 150 });
    tracked(quick);
    quick.onClose((e) => ends.push(e));
    await until(() => quick.closed);
    expect(ends[0]?.message).toMatch(/the hub has been silent for \d+ ms \(limit 150 ms\)/);

    const [a, b] = await connect(hub, 2, 1);
    await group(hub, [a!, b!], 'run-h');
    const pending = a!.allgather('run-h', new Uint8Array(4));
    await until(() => hub.group('run-h')?.openRounds === 1);
    const failed = expect(pending).rejects.toThrow(
      /allgather round 0 of run run-h failed: .*(hub connection lost \(code 1001: hub closing\)|the hub is closing)/,
    );
    await hub.close();
    await failed;
    await expect(b!.allgather('run-h', new Uint8Array(1))).rejects.toThrow(HubConnectionError);
  });
});
