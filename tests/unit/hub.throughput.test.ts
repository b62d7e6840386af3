/**
 * Allgather throughput through the hub on loopback: P = 4 ranks, 4 MiB each per round. Hub and clients share
 * this process (one event loop), so this is a floor, not what separate worker processes reach.
 */
import { afterAll, expect, it } from 'vitest';
import { connectToHub, type HubClient } from '../../gpu/worker/hubClient';
import { startHub, type Hub } from '../../main/core/hub';

const P = 4;
const BYTES = 4 * 1024 * 1024;
const WARMUP = 1;
const ROUNDS = 6;

let hub: Hub | undefined;
let clients: HubClient[] = [];

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await hub?.close();
});

it(`allgather throughput, P = ${P}, ${BYTES / 2 ** 20} MiB per rank`, async () => {
  hub = await startHub({ log: () => undefined });
  clients = await Promise.all(
    Array.from({ length: P }, (_, i) =>
      connectToHub(hub!.url, hub!.token, { host: 'bench', pid: i, backend: 'cpu', cores: 1 }),
    ),
  );
  const assigned = clients.map((c) => new Promise<void>((resolve) => c.onAssign(() => resolve())));
  hub.createGroup(
    'bench',
    clients.map((c) => c.workerId),
  );
  await hub.assign('bench', {});
  await Promise.all(assigned);
  const payloads = clients.map((_, rank) => new Uint8Array(BYTES).fill(rank + 1));

  const round = () => Promise.all(clients.map((c, rank) => c.allgather('bench', payloads[rank]!)));
  for (let i = 0; i < WARMUP; i++) await round();
  const start = performance.now();
  let last: Awaited<ReturnType<typeof round>> = [];
  for (let i = 0; i < ROUNDS; i++) last = await round();
  const seconds = (performance.now() - start) / 1000;

  for (const result of last) {
    result.parts.forEach((part, r) => {
      expect(part.byteLength).toBe(BYTES);
      expect(part[0]).toBe(r + 1);
      expect(part[BYTES - 1]).toBe(r + 1);
    });
  }
  const mib = 2 ** 20;
  const perRound = (seconds / ROUNDS) * 1000;
  const ingress = (ROUNDS * P * BYTES) / mib / seconds;
  const egress = (ROUNDS * P * (P - 1) * BYTES) / mib / seconds;
  const perRank = (ROUNDS * (P - 1) * BYTES) / mib / seconds;
  console.log(
    `allgather P=${P}, ${BYTES / mib} MiB/rank: ${perRound.toFixed(1)} ms/round, ` +
      `hub in ${ingress.toFixed(0)} MiB/s, hub out ${egress.toFixed(0)} MiB/s, ` +
      `each rank receives ${perRank.toFixed(0)} MiB/s (${ROUNDS} rounds, one process)`,
  );
  for (const c of clients) expect(c.bytes('bench')!.rounds).toBe(WARMUP + ROUNDS);
});
