import { afterEach, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { encodeFrame } from '../../common/frame';
import { CLOSE_CODES } from '../../common/protocol';
import { CollectiveError, connectToHub, HubConnectionError, HubRefusedError } from '../../gpu/worker/hubClient';
import { type WorkerInfo } from '../../main/core/hub';
import { caps, cleanUpHubs, connect, expectBytes, group, hubWithLog, pattern, Raw, until } from '../hubHarness';

afterEach(cleanUpHubs);

describe('hub: joining', () => {
  it('refuses a wrong token (close 4401, logged) while the right one joins', async () => {
    const { hub, logs } = await hubWithLog();
    const joined: WorkerInfo[] = [];
    hub.on('workerJoined', (w) => joined.push(w));

    const refused = connectToHub(hub.url, 'not-the-token', caps(0));
    await expect(refused).rejects.toThrow('hub refused the connection: wrong token');
    await expect(refused).rejects.toMatchObject({ code: CLOSE_CODES.wrongToken });
    await expect(refused).rejects.toBeInstanceOf(HubRefusedError);
    expect(
      logs.some((l) => l.level === 'warn' && /refused connection from 127\.0\.0\.1:\d+: wrong token/.test(l.message)),
    ).toBe(true);

    const [client] = await connect(hub, 1, 5);
    expect(client!.workerId).toMatch(/^w\d+$/);
    expect(joined.map((w) => w.id)).toEqual([client!.workerId]);
    expect(hub.workers()).toEqual([
      expect.objectContaining({ id: client!.workerId, state: 'idle', runId: null, capabilities: caps(5) }),
    ]);
    // The raw socket sees the same: a refused message, then close code 4401.
    const raw = await Raw.joined(hub, 'wrong');
    expect(raw.received[0]).toEqual({ type: 'refused', reason: 'wrong token', code: 4401 });
    expect((await raw.closed).code).toBe(4401);
  });

  it('closes a connection that says nothing (4408) and refuses another protocol version (4426)', async () => {
    const { hub, logs } = await hubWithLog({ helloTimeoutMs: 150 });
    const quiet = new Raw(hub.url);
    expect((await quiet.closed).code).toBe(CLOSE_CODES.helloTimeout);
    expect(logs.some((l) => /no hello within 150 ms/.test(l.message))).toBe(true);

    const old = new Raw(hub.url);
    await old.opened;
    old.send(encodeFrame({ type: 'hello', token: hub.token, protocolVersion: 999, capabilities: caps(1) }));
    expect((await old.closed).code).toBe(CLOSE_CODES.protocolVersion);
    expect(old.received[0]).toMatchObject({ type: 'refused', reason: expect.stringMatching(/protocol version 999/) });
  });

  it('cannot connect to a hub that is not there', async () => {
    const { hub } = await hubWithLog();
    const url = hub.url;
    await hub.close();
    await expect(connectToHub(url, 'x', caps(0))).rejects.toThrow(HubConnectionError);
  });
});

describe('hub: collectives', () => {
  it.each([1, 2, 4])('allgather, allreduce and broadcast are right with P = %i', async (P) => {
    const { hub } = await hubWithLog();
    const members = await connect(hub, P);
    await group(hub, members, 'run-a');

    // Allgather, three rounds in flight at once, sizes differing by rank and round (some empty).
    const size = (rank: number, round: number) => (rank * 1000 + round * 333) % 2500;
    const gathers = members.map((c, rank) =>
      Promise.all([0, 1, 2].map((round) => c.allgather('run-a', pattern(rank, round, size(rank, round))))),
    );
    const results = await Promise.all(gathers);
    results.forEach((perRound, rank) =>
      perRound.forEach((result, round) => {
        expect(result.round).toBe(round);
        expect(result.parts).toHaveLength(P);
        result.parts.forEach((part, r) =>
          expectBytes(part, pattern(r, round, size(r, round)), `rank ${rank} part ${r}`),
        );
        const total = Array.from({ length: P }, (_, r) => size(r, round)).reduce((a, b) => a + b, 0);
        // A world of one keeps its collectives to itself: nothing is sent.
        expect(result.bytesSent).toBe(P === 1 ? 0 : size(rank, round));
        expect(result.bytesReceived).toBe(total - size(rank, round));
      }),
    );

    // Allreduce: the float32 sum in rank order, the same bits everywhere.
    const n = 10_001;
    const inputs = Array.from({ length: P }, (_, rank) =>
      Float32Array.from({ length: n }, (_, i) => Math.sin(i * (rank + 1)) * 10 ** ((i % 7) - 3)),
    );
    const expected = new Float32Array(n);
    for (const x of inputs) for (let i = 0; i < n; i++) expected[i]! += x[i]!;
    const sums = await Promise.all(members.map((c, rank) => c.allreduce('run-a', inputs[rank]!)));
    for (const sum of sums)
      expectBytes(new Uint8Array(sum.buffer, sum.byteOffset, sum.byteLength), new Uint8Array(expected.buffer));

    // Broadcast: rank 0's bytes on every rank.
    const root = pattern(5, 5, 4096);
    const got = await Promise.all(members.map((c, rank) => c.broadcast('run-a', rank === 0 ? root : null)));
    for (const g of got) expectBytes(g, root);
    for (const c of members) expect(c.bytes('run-a')!.rounds).toBe(5);
  });

  it('counts the payload bytes each rank sends and receives, where they are sent and received', async () => {
    const { hub } = await hubWithLog();
    const members = await connect(hub, 3);
    await group(hub, members, 'run-b');
    const sizes = [100, 0, 250];
    await Promise.all(members.map((c, rank) => c.allgather('run-b', new Uint8Array(sizes[rank]!))));
    await Promise.all(members.map((c) => c.allreduce('run-b', new Float32Array(64))));
    await Promise.all(members.map((c, rank) => c.broadcast('run-b', rank === 0 ? new Uint8Array(40) : null)));
    members.forEach((c, rank) =>
      expect(c.bytes('run-b')).toEqual({
        bytesSent: sizes[rank]! + 256 + (rank === 0 ? 40 : 0),
        bytesReceived: 350 - sizes[rank]! + 256 + (rank === 0 ? 0 : 40),
        // Time this rank's contributions waited at the hub for the others'.
        waitMs: expect.any(Number),
        rounds: 3,
      }),
    );
    hub.endGroup('run-b');
    expect(hub.workers().every((w) => w.state === 'idle')).toBe(true);
  });

  it('fails the round for the others when a rank dies mid-round, and keeps serving another group', async () => {
    const { hub, logs } = await hubWithLog();
    const [a, b, c, d, e] = await connect(hub, 5);
    await group(hub, [a!, b!, c!], 'run-doomed');
    await group(hub, [d!, e!], 'run-ok');
    const lost: [WorkerInfo, string][] = [];
    const failed: [string, string][] = [];
    hub.on('workerLost', (w, reason) => lost.push([w, reason]));
    hub.on('groupFailed', (runId, reason) => failed.push([runId, reason]));

    const pa = a!.allgather('run-doomed', new Uint8Array(10));
    const pb = b!.allgather('run-doomed', new Uint8Array(10));
    await until(() => hub.group('run-doomed')!.bufferedBytes === 20);
    (Reflect.get(c!, 'ws') as WebSocket).terminate(); // rank 2 dies

    const reason = new RegExp(`rank 2 \\(worker ${c!.workerId}\\) was lost: socket closed \\(code 1006\\)`);
    await expect(pa).rejects.toThrow(reason);
    await expect(pb).rejects.toBeInstanceOf(CollectiveError);
    await expect(pb).rejects.toThrow(/allgather round 0 of run run-doomed failed: rank 2/);
    expect(lost).toEqual([
      [expect.objectContaining({ id: c!.workerId, runId: 'run-doomed', rank: 2 }), expect.any(String)],
    ]);
    expect(failed).toEqual([['run-doomed', expect.stringMatching(reason)]]);
    expect(logs.some((l) => l.level === 'warn' && l.message.includes(`worker ${c!.workerId} lost`))).toBe(true);
    // Later collectives of the failed run fail at once, with the same reason.
    await expect(a!.allgather('run-doomed', new Uint8Array(1))).rejects.toThrow(reason);

    // The other group goes on.
    const [rd, re] = await Promise.all([
      d!.allgather('run-ok', pattern(0, 0, 64)),
      e!.allgather('run-ok', pattern(1, 0, 32)),
    ]);
    expectBytes(rd.parts[1], pattern(1, 0, 32));
    expectBytes(re.parts[0], pattern(0, 0, 64));

    // Ending the failed group frees its survivors for a new one.
    hub.endGroup('run-doomed');
    await group(hub, [a!, b!], 'run-doomed');
    const [ra] = await Promise.all([
      a!.allreduce('run-doomed', Float32Array.of(1, 2)),
      b!.allreduce('run-doomed', Float32Array.of(3, 4)),
    ]);
    expect(Array.from(ra)).toEqual([4, 6]);
  });

  it('refuses a payload the hub would not accept before it takes a round number', async () => {
    const { hub } = await hubWithLog({ maxPayload: 64 * 1024 });
    const [a, b] = await connect(hub, 2);
    await group(hub, [a!, b!], 'run-big');
    await expect(a!.allgather('run-big', new Uint8Array(64 * 1024))).rejects.toThrow(
      /allgather in run run-big: 65536 bytes exceed the 65536-byte frames the hub accepts/,
    );
    const [ra, rb] = await Promise.all([
      a!.allgather('run-big', Uint8Array.of(1)),
      b!.allgather('run-big', Uint8Array.of(2)),
    ]);
    expect([ra.round, rb.round]).toEqual([0, 0]);
    expectBytes(ra.parts[1], Uint8Array.of(2));
    expect(hub.workers()).toHaveLength(2);
  });

  it('fails the group when ranks break the rules, naming the rank', async () => {
    const { hub } = await hubWithLog();
    const [a, b] = await connect(hub, 2);
    await group(hub, [a!, b!], 'run-x');
    const ra = a!.allreduce('run-x', new Float32Array(4));
    const rb = b!.allreduce('run-x', new Float32Array(5));
    await expect(rb).rejects.toThrow(
      new RegExp(
        `allreduce round 0: rank 1 \\(worker ${b!.workerId}\\) sent 5 floats \\(20 bytes\\), rank 0 \\(worker ${a!.workerId}\\) sent 4`,
      ),
    );
    await expect(ra).rejects.toThrow(/rank 1/);
    expect(hub.group('run-x')!.failure).toMatch(/rank 1/);
    // Not in the group at all:
    const [c] = await connect(hub, 1, 9);
    await expect(c!.allgather('run-x', new Uint8Array(1))).rejects.toThrow(/not assigned to run run-x/);
  });

  it('fails an allreduce whose rank sent a NaN or an infinity, or whose sum overflows, naming the rank', async () => {
    const { hub } = await hubWithLog();
    const [a, b] = await connect(hub, 2);
    const cases: [string, Float32Array, Float32Array, RegExp][] = [
      ['nan', Float32Array.of(1, 2), Float32Array.of(3, NaN), /rank 1 \(worker w\d+\) sent NaN at index 1/],
      ['inf', Float32Array.of(-Infinity, 2), Float32Array.of(3, 4), /rank 0 \(worker w\d+\) sent -Infinity at index 0/],
      ['overflow', Float32Array.of(3e38, 0), Float32Array.of(3e38, 0), /the float32 sum overflowed at index 0/],
    ];
    for (const [runId, fromA, fromB, reason] of cases) {
      await group(hub, [a!, b!], runId);
      const results = await Promise.allSettled([a!.allreduce(runId, fromA), b!.allreduce(runId, fromB)]);
      for (const result of results) {
        expect(result.status).toBe('rejected');
        expect(String((result as PromiseRejectedResult).reason)).toMatch(reason);
      }
      expect(hub.group(runId)!.failure).toMatch(reason);
      hub.endGroup(runId);
    }
  });

  it('validates groups, and cancel reaches the workers and frees them', async () => {
    const { hub } = await hubWithLog();
    const [a, b] = await connect(hub, 2);
    expect(() => hub.createGroup('r', [])).toThrow(/at least one worker/);
    expect(() => hub.createGroup('r', ['nobody'])).toThrow(/no worker nobody/);
    expect(() => hub.createGroup('r', [a!.workerId, a!.workerId])).toThrow(/appears twice/);
    await group(hub, [a!, b!], 'r');
    expect(() => hub.createGroup('r', [a!.workerId])).toThrow(/already has a group/);
    expect(() => hub.createGroup('s', [a!.workerId])).toThrow(/busy with run r/);
    expect(hub.worker(b!.workerId)).toMatchObject({ state: 'busy', runId: 'r', rank: 1 });

    const cancelled = new Promise<string>((resolve) => b!.onCancel((m) => resolve(m.reason)));
    const pending = a!.allgather('r', new Uint8Array(3));
    await until(() => hub.group('r')?.openRounds === 1);
    await hub.cancel('r', 'stopped by the user');
    await expect(pending).rejects.toThrow(/stopped by the user/);
    expect(await cancelled).toBe('stopped by the user');
    expect(b!.run('r')).toBeUndefined();
    expect(hub.workers().map((w) => w.state)).toEqual(['idle', 'idle']);
  });

  it('delivers assignments with their checkpoint, and worker records as events', async () => {
    const { hub } = await hubWithLog();
    const [a] = await connect(hub, 1);
    hub.createGroup('r', [a!.workerId]);
    await hub.assign('r', { seed: 1 }, { resume: { iteration: 200 }, checkpoint: (rank) => Uint8Array.of(rank, 9) });
    await until(() => a!.run('r') !== undefined);
    // No handler yet when it came: it is kept for the first one.
    const got = new Promise<[unknown, number[] | null]>((resolve) =>
      a!.onAssign((m, ckpt) => resolve([m, ckpt ? Array.from(ckpt) : null])),
    );
    expect(await got).toEqual([
      { type: 'assign', runId: 'r', rank: 0, worldSize: 1, config: { seed: 1 }, resume: { iteration: 200 } },
      [0, 9],
    ]);
    const events: unknown[] = [];
    hub.on('metrics', (batch, w) => events.push(['metrics', batch.kind, batch.records, w.id]));
    hub.on('log', (record) => events.push(['log', record]));
    hub.on('status', (m) => events.push(['status', m.state]));
    hub.on('checkpoint', (m, payload) => events.push(['checkpoint', m.iteration, payload.byteLength]));
    await a!.sendMetrics({
      kind: 'evaluation',
      records: [{ runId: 'r', iteration: 1, epoch: 1, wallMs: 1, testLoss: NaN }],
    });
    await a!.log('info', 'hello from rank 0', 'r');
    await a!.status('r', 'started');
    await a!.checkpoint('r', 200, new Uint8Array(1234));
    await until(() => events.length === 4);
    expect(events).toEqual([
      ['metrics', 'evaluation', [{ runId: 'r', iteration: 1, epoch: 1, wallMs: 1, testLoss: NaN }], a!.workerId],
      [
        'log',
        {
          runId: 'r',
          workerId: a!.workerId,
          rank: 0,
          level: 'info',
          message: 'hello from rank 0',
          time: expect.any(Number),
        },
      ],
      ['status', 'started'],
      ['checkpoint', 200, 1234],
    ]);
  });

  it('holds back ranks that run ahead when a group holds too much, without deadlock', async () => {
    const bound = 64 * 1024;
    const { hub } = await hubWithLog({ maxGroupBufferBytes: bound });
    const [a, b] = await connect(hub, 2);
    await group(hub, [a!, b!], 'run-bp');
    const size = 32 * 1024;
    const rounds = 24;
    const fast = Array.from({ length: rounds }, (_, r) => a!.allgather('run-bp', pattern(0, r, size)));
    let peak = 0;
    const sample = setInterval(() => (peak = Math.max(peak, hub.group('run-bp')?.bufferedBytes ?? 0)), 1);
    await new Promise((r) => setTimeout(r, 150));
    const heldWhileAlone = hub.group('run-bp')!.bufferedBytes;
    const slow = Array.from({ length: rounds }, (_, r) => b!.allgather('run-bp', pattern(1, r, size)));
    const [ra, rb] = await Promise.all([Promise.all(fast), Promise.all(slow)]);
    clearInterval(sample);
    // Rank 0 alone sent 24 x 32 KiB; the hub stopped reading it near the bound (a few frames in flight pass).
    expect(heldWhileAlone).toBeLessThanOrEqual(bound + 4 * size);
    expect(peak).toBeLessThanOrEqual(bound + 4 * size);
    for (let r = 0; r < rounds; r++) {
      expectBytes(ra[r]!.parts[1], pattern(1, r, size));
      expectBytes(rb[r]!.parts[0], pattern(0, r, size));
    }
  });
  it('waits for a slow socket to drain instead of buffering without bound', async () => {
    const { hub } = await hubWithLog({ highWaterMark: 256 * 1024 });
    const slow = await Raw.joined(hub);
    slow.ws.pause(); // reads nothing: the kernel's buffers fill, then ws's, then the hub must wait
    const id = slow.welcome.workerId;
    const n = 24;
    const payload = new Uint8Array(1024 * 1024);
    let done = 0;
    // In order, each send waiting its turn: 24 MiB cannot all sit in the sockets' buffers.
    const sends = Array.from({ length: n }, (_, i) =>
      hub.send(id, { type: 'assign', runId: `r${i}`, rank: 0, worldSize: 1, config: {} }, payload).then(() => done++),
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(done).toBeLessThan(n);
    slow.ws.resume();
    await Promise.all(sends);
    await until(() => slow.received.filter((m) => m.type === 'assign').length === n);
    expect(slow.received.filter((m) => m.type === 'assign').map((m) => m.type === 'assign' && m.runId)).toEqual(
      Array.from({ length: n }, (_, i) => `r${i}`),
    );
  });
});
