/**
 * Browser mode end to end: the real `sparselab serve` process (bin/sparselab.js, built by `npm test`) with
 * two local CPU workers, driven over HTTP and the /api WebSocket as the renderer's client does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { parse } from 'yaml';
import type { AppEvent, BridgeMessage, RunComparison, RunSeries } from '../../common/api';
import type { HistogramRecord } from '../../common/metrics';
import type { RunRow } from '../../common/runs';

let child: ChildProcess;
let output = '';
let base: URL;
let token: string;

beforeAll(async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sparselab-serve-'));
  child = spawn(
    process.execPath,
    ['bin/sparselab.js', 'serve', '--no-open', '--port', '0', '--data-dir', dataDir, '--workers', '2'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL within 30 s:\n${output}`)), 30_000);
    child.stdout!.on('data', () => {
      const match = /SparseLab at (http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{64})\n/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}:\n${output}`)));
  });
  base = new URL(url);
  token = base.searchParams.get('token')!;
  expect(output).toContain(`ssh -N -L ${base.port}:127.0.0.1:${base.port}`);
});

afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
  }
});

/** GET a path exactly as written (no normalisation of "..", as a hostile client would send it). */
function get(path: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: Number(base.port), path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

interface Client {
  ws: WebSocket;
  events: AppEvent[];
  call<T = unknown>(method: string, ...args: unknown[]): Promise<T>;
  raw(text: string): Promise<BridgeMessage>;
}

function connect(withToken = token): Promise<Client> {
  const ws = new WebSocket(`ws://127.0.0.1:${base.port}/api?token=${encodeURIComponent(withToken)}`);
  const events: AppEvent[] = [];
  const pending = new Map<number, (m: BridgeMessage) => void>();
  let next = 1;
  ws.on('message', (data) => {
    const message = JSON.parse(String(data)) as BridgeMessage;
    if ('event' in message) events.push(message.event);
    else pending.get(message.id)?.(message);
  });
  const client: Client = {
    ws,
    events,
    call: async <T>(method: string, ...args: unknown[]) => {
      const id = next++;
      const reply = await new Promise<BridgeMessage>((resolve) => {
        pending.set(id, resolve);
        ws.send(JSON.stringify({ id, method, args }));
      });
      if ('event' in reply) throw new Error('unexpected event');
      if (!reply.ok) throw new Error(reply.error);
      return reply.result as T;
    },
    raw: (text) =>
      new Promise((resolve) => {
        pending.set(0, resolve);
        ws.send(text);
      }),
  };
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(client));
    ws.once('error', reject);
  });
}

function closeOf(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
}

describe('sparselab serve', () => {
  it('serves the built renderer with a strict CSP and content types, and nothing outside it', async () => {
    const index = await get('/?token=whatever');
    expect(index.status).toBe(200);
    expect(index.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(index.headers['content-security-policy']).toContain("script-src 'self'");
    expect(index.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(index.headers['referrer-policy']).toBe('no-referrer');
    const script = /src="(?:\.?\/)?(assets\/[^"]+\.js)"/.exec(index.body)?.[1];
    expect(script).toBeDefined();
    const asset = await get(`/${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect((await get('/no-such-file.js')).status).toBe(404);
    const secret = readFileSync('package.json', 'utf8').slice(0, 40);
    for (const path of [
      '/../package.json',
      '/assets/../../package.json',
      '/%2e%2e/package.json',
      '/assets/..%2f..%2fpackage.json',
      '/..%5c..%5cpackage.json',
      '/.%2e/.%2e/package.json',
      '//etc/passwd',
      '/%00',
    ]) {
      const res = await get(path);
      expect([400, 404], path).toContain(res.status);
      expect(res.body).not.toContain(secret);
      expect(res.body).not.toContain('root:');
    }
  });

  it('refuses a wrong or missing token with close code 4401 and logs it', async () => {
    for (const wrong of ['nope', '', token.slice(0, -1)]) {
      const ws = new WebSocket(`ws://127.0.0.1:${base.port}/api?token=${wrong}`);
      const { code, reason } = await closeOf(ws);
      expect(code).toBe(4401);
      expect(reason).toMatch(/token/);
    }
    expect(output).toMatch(/refused a connection from 127\.0\.0\.1:\d+: wrong token/);
    expect(output).toMatch(/refused a connection from 127\.0\.0\.1:\d+: no token/);
  });

  it('answers garbage frames with an error and keeps serving', async () => {
    const client = await connect();
    expect(await client.raw('{not json')).toEqual({ id: 0, ok: false, error: 'bad request: the frame is not JSON' });
    expect(await client.raw('[1,2]')).toMatchObject({ id: 0, ok: false });
    expect(await client.raw(JSON.stringify({ id: 0, method: 42 }))).toMatchObject({ ok: false });
    await expect(client.call('nope')).rejects.toThrow('unknown method "nope"');
    expect(await client.raw(JSON.stringify({ id: 0, method: 'run', args: { runId: 'x' } }))).toMatchObject({
      id: 0,
      ok: false,
      error: expect.stringMatching(/^run: arguments /),
    });
    // A frame over the limit closes that connection (1009), not the server.
    const big = await connect();
    const closed = closeOf(big.ws);
    big.ws.send('x'.repeat(17 * 1024 * 1024));
    expect((await closed).code).toBe(1009);
    const info = await client.call<{ mode: string; hub: { listen: string } }>('info');
    expect(info.mode).toBe('browser');
    expect(info.hub.listen).toBe('127.0.0.1');
    expect(output).toContain('bad frame from 127.0.0.1');
    client.ws.close();
  });

  it('launches a small experiment over the WebSocket, pushes progress and status, then compares it', async () => {
    const client = await connect();
    const other = await connect();
    const experiment = parse(readFileSync('resources/experiments/quick-synthetic.yaml', 'utf8')) as Record<
      string,
      unknown
    >;
    Object.assign(experiment, {
      name: 'serve-test',
      backend: 'cpu',
      epochs: 1,
      dataset: { name: 'synthetic', trainLimit: 1280, testLimit: 200 },
      statistics: { everyIterations: 5, histogramIterations: [0, 10], histogramBins: 16 },
      arms: [{ method: 'dense' }, { method: 'gaussiank', density: 0.05 }],
    });
    const runs = await client.call<RunRow[]>('launch', experiment, 'quick-synthetic.yaml');
    expect(runs.map((r) => r.arm).sort()).toEqual(['dense', 'gaussiank@0.05']);
    const ids = runs.map((r) => r.id);
    const sparseId = runs.find((r) => r.armConfig.method === 'gaussiank')!.id;
    const denseId = runs.find((r) => r.armConfig.method === 'dense')!.id;
    await expect(client.call('deleteRun', ids[0])).rejects.toThrow(/cancel it before deleting it/);

    const ended = (id: string) =>
      client.events.some((e) => e.type === 'runStatus' && e.runId === id && e.status === 'finished');
    const deadline = Date.now() + 45_000;
    while (!ids.every(ended)) {
      const failed = client.events.find((e) => e.type === 'runStatus' && e.status === 'failed');
      if (failed) throw new Error(`a run failed: ${JSON.stringify(failed)}\n${output}`);
      if (Date.now() > deadline) throw new Error(`runs did not finish in time:\n${output}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    for (const events of [client.events, other.events]) {
      expect(events.some((e) => e.type === 'runsChanged')).toBe(true);
      expect(events.some((e) => e.type === 'progress' && e.runId === sparseId && e.epochs === 1)).toBe(true);
      expect(events.some((e) => e.type === 'runStatus' && e.runId === denseId && e.status === 'running')).toBe(true);
      expect(events.some((e) => e.type === 'workers')).toBe(true);
    }

    const comparison = await client.call<RunComparison[]>('compare', ids);
    expect(comparison.map((c) => c.status)).toEqual(['finished', 'finished']);
    const sparse = comparison.find((c) => c.armConfig.method === 'gaussiank')!;
    expect(sparse.d).toBeGreaterThan(0);
    expect(sparse.k).toBeGreaterThan(0);
    expect(sparse.measured?.dense).toBe(false);
    expect(sparse.speedups['16gpu-1gbe']).toBeGreaterThan(0);
    expect(comparison.find((c) => c.armConfig.method === 'dense')!.speedups['16gpu-1gbe']).toBeCloseTo(1, 6);

    const series = await client.call<RunSeries[]>('series', [denseId, sparseId], {
      columns: ['loss', 'bytesSentTotal'],
      points: 5,
    });
    expect(series).toHaveLength(2);
    expect(series[1]!.iteration.length).toBeLessThanOrEqual(5);
    expect(series[1]!.iteration.at(-1)).toBe(19);
    expect(series[1]!.columns.loss!.every((x) => typeof x === 'number')).toBe(true);
    expect(series[1]!.evaluations.length).toBeGreaterThan(0);

    const layers = await client.call<string[]>('layerNames', sparseId);
    expect(layers.length).toBeGreaterThan(0);
    const histograms = await client.call<HistogramRecord[]>('histograms', sparseId, layers[0]);
    expect(histograms.map((h) => h.iteration)).toEqual([0, 10]);
    expect(histograms[0]!.counts.length).toBe(16);
    const csv = await client.call<string>('exportRun', sparseId, 'csv', 'evaluations');
    expect(csv.split('\n')[0]).toContain('accuracy');
    const estimate = await client.call<{ iterationMs: number | null; basis: string }>('estimate', experiment);
    expect(estimate.iterationMs).toBeGreaterThan(0);
    expect(estimate.basis).toContain('finished synthetic/synthetic runs');
    // Each rank logs its start and end into the run's log; rank 0 logs every evaluation.
    const logs = await client.call<{ message: string; rank: number | null }[]>('logs', sparseId, { tail: 200 });
    for (const rank of [0, 1]) {
      const lines = logs.filter((l) => l.rank === rank).map((l) => l.message);
      expect(lines.some((m) => m.startsWith(`rank ${rank} of 2 on `))).toBe(true);
      expect(lines).toContain('finished');
    }
    expect(logs.some((l) => l.rank === 0 && /^evaluation at epoch .*accuracy/.test(l.message))).toBe(true);
    const exported = JSON.parse(await client.call<string>('exportRun', sparseId, 'json'));
    expect(exported.format).toBe('sparselab-run');
    const workers = await client.call<{ local: boolean }[]>('workers');
    expect(workers.filter((w) => w.local)).toHaveLength(2);
    client.ws.close();
    other.ws.close();
  });

  it('closes the workers, the hub and the store on SIGTERM', async () => {
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).toContain('SIGTERM: closing the server, workers, hub and store');
    expect(output).not.toMatch(/unexpected/);
  });
});
