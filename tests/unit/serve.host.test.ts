/**
 * Browser mode against DNS rebinding: a page of another site whose name was rebound to 127.0.0.1
 * sends its own name as Host. The server answers only to loopback names and its listen address.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startServer, type AppServer } from '../../main/core/serve/server';

let server: AppServer;
const logged: string[] = [];

beforeAll(async () => {
  const staticDir = mkdtempSync(join(tmpdir(), 'sparselab-host-'));
  writeFileSync(join(staticDir, 'index.html'), '<!doctype html><title>SparseLab</title>');
  server = await startServer({
    core: { call: async () => ({ ok: true, result: 'pong' }), onEvent: () => () => {} },
    staticDir,
    log: (level, message) => logged.push(`[${level}] ${message}`),
  });
});

afterAll(() => server.close());

function getWithHost(host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path: '/', headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function upgradeWithHost(host: string): Promise<number | 'open'> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/api?token=${server.token}`, { headers: { host } });
    ws.once('open', () => {
      ws.close();
      resolve('open');
    });
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode!));
    ws.once('error', () => {});
  });
}

describe('browser mode and DNS rebinding', () => {
  it('serves pages and the API to loopback names on any port (an SSH tunnel may map it)', async () => {
    for (const host of [`127.0.0.1:${server.port}`, 'localhost:8000', '[::1]:7340', 'LOCALHOST', 'app.localhost:1']) {
      expect((await getWithHost(host)).status, host).toBe(200);
    }
    expect(await upgradeWithHost(`localhost:${server.port}`)).toBe('open');
  });

  it('refuses any other Host with 421 for pages and the WebSocket, and logs it', async () => {
    for (const host of ['attacker.example:7340', 'attacker.example', 'evil@127.0.0.1', '127.0.0.1.nip.io']) {
      const res = await getWithHost(host);
      expect(res.status, host).toBe(421);
      expect(res.body).toMatch(/Host header refused/);
    }
    expect(await upgradeWithHost(`rebound.example:${server.port}`)).toBe(421);
    expect(logged.join('\n')).toMatch(
      /refused GET \/ from 127\.0\.0\.1:\d+: Host "attacker\.example:7340" is not this server/,
    );
    expect(logged.join('\n')).toMatch(/refused GET \/api\?token=\S+ from .*Host "rebound\.example:\d+"/);
  });
});
