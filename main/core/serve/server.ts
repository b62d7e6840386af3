/**
 * Browser mode's server: the built renderer over HTTP and the core's API over a token-checked
 * WebSocket at /api (JSON frames, common/api.ts BridgeRequest / BridgeMessage). Plain node:http and ws.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { AppEvent, BridgeMessage } from '../../../common/api';

/** The bridge's half of the core: what AppCore offers (the tests may stand in for it). */
export interface BridgeCore {
  call(method: unknown, args: unknown): Promise<{ ok: true; result: unknown } | { ok: false; error: string }>;
  onEvent(listener: (event: AppEvent) => void): () => void;
}

export interface ServerOptions {
  core: BridgeCore;
  /** Folder of the built renderer (index.html and assets/). */
  staticDir: string;
  /** Interface; default 127.0.0.1. */
  host?: string;
  /** Port; default 0 (any free one). */
  port?: number;
  /** The token browsers present; default 32 random bytes as hex. */
  token?: string;
  /** Largest WebSocket frame accepted, bytes; default 16 MiB (a 1 MB draft, JSON-escaped, fits). */
  maxFrameBytes?: number;
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
}

export interface AppServer {
  readonly host: string;
  readonly port: number;
  readonly token: string;
  /** http://host:port/?token=... */
  readonly url: string;
  close(): Promise<void>;
}

/** Close code of a refused token (the renderer's client does not retry it). */
export const CLOSE_UNAUTHORIZED = 4401;
export const CLOSE_FORBIDDEN_ORIGIN = 4403;

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
};

/** Events queued for a client that reads too slowly are dropped beyond this many bytes. */
const MAX_BUFFERED_EVENTS = 8 * 1024 * 1024;

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function securityHeaders(): Record<string, string> {
  return {
    'content-security-policy': CONTENT_SECURITY_POLICY,
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    // The page's URL carries the token: never send it elsewhere.
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
  };
}

export async function startServer(options: ServerOptions): Promise<AppServer> {
  const host = options.host ?? '127.0.0.1';
  const token = options.token ?? randomBytes(32).toString('hex');
  if (token.length === 0) throw new Error('the server token must not be empty');
  const tokenDigest = digest(token);
  const log = options.log ?? ((level, message) => level !== 'info' && console.error(`[serve] ${message}`));
  const root = resolve(options.staticDir);
  const maxFrameBytes = options.maxFrameBytes ?? 16 * 1024 * 1024;

  const hostAllowed = hostChecker(host);
  const server = createServer((req, res) => {
    if (!hostAllowed(req.headers.host)) {
      refuseHost(req);
      send(res, 421, 'this server answers only to its own address (Host header refused)\n');
      return;
    }
    try {
      serveStatic(root, req, res);
    } catch (error) {
      log('error', `${req.method} ${req.url}: ${(error as Error).message}`);
      if (!res.headersSent) send(res, 500, 'internal error\n');
      else res.destroy();
    }
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: maxFrameBytes, perMessageDeflate: false });
  const clients = new Set<WebSocket>();

  /** DNS rebinding: a page of another site, resolved to this address, names its own host. */
  function refuseHost(req: IncomingMessage): void {
    const who = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    log(
      'warn',
      `refused ${req.method} ${req.url} from ${who}: Host ${JSON.stringify(req.headers.host ?? '')} is not this server`,
    );
  }

  server.on('upgrade', (req, socket, head) => {
    if (!hostAllowed(req.headers.host)) {
      refuseHost(req);
      socket.end('HTTP/1.1 421 Misdirected Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/api') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, req, url));
  });

  function onConnection(ws: WebSocket, req: IncomingMessage, url: URL): void {
    const who = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    ws.on('error', (error) => log('warn', `connection ${who}: ${error.message}`));
    const presented = url.searchParams.get('token') ?? '';
    if (!timingSafeEqual(digest(presented), tokenDigest)) {
      log('warn', `refused a connection from ${who}: ${presented ? 'wrong token' : 'no token'}`);
      ws.close(CLOSE_UNAUTHORIZED, presented ? 'wrong token: open the address SparseLab printed' : 'token missing');
      return;
    }
    // A page from another site must not drive the API even if it learnt the token.
    const origin = req.headers.origin;
    if (origin !== undefined && !sameOrigin(origin, req.headers.host)) {
      log('warn', `refused a connection from ${who}: origin ${origin} is not this server`);
      ws.close(CLOSE_FORBIDDEN_ORIGIN, 'cross-origin connection refused');
      return;
    }
    log('info', `browser connected from ${who}`);
    clients.add(ws);
    ws.on('close', (code) => {
      clients.delete(ws);
      if (code === 1009) log('warn', `closed ${who}: a frame was larger than ${maxFrameBytes} bytes`);
      else log('info', `browser ${who} disconnected`);
    });
    ws.on('message', (data, isBinary) => void onFrame(ws, who, data, isBinary));
  }

  async function onFrame(ws: WebSocket, who: string, data: RawData, isBinary: boolean): Promise<void> {
    let id = 0;
    try {
      if (isBinary) throw new Error('binary frames are not understood; send JSON text');
      let request: unknown;
      try {
        request = JSON.parse(rawText(data));
      } catch {
        throw new Error('the frame is not JSON');
      }
      if (typeof request !== 'object' || request === null || Array.isArray(request))
        throw new Error('the frame is not a request object { id, method, args }');
      const { id: rawId, method, args } = request as Record<string, unknown>;
      if (typeof rawId !== 'number' || !Number.isSafeInteger(rawId)) throw new Error('the request has no integer id');
      id = rawId;
      if (typeof method !== 'string') throw new Error('the request has no method name');
      const reply = await options.core.call(method, args === undefined ? [] : args);
      reply_(ws, reply.ok ? { id, ok: true, result: reply.result } : { id, ok: false, error: reply.error });
    } catch (error) {
      const message = (error as Error).message;
      log('warn', `bad frame from ${who}: ${message}`);
      reply_(ws, { id, ok: false, error: `bad request: ${message}` });
    }
  }

  function reply_(ws: WebSocket, message: BridgeMessage): void {
    if (ws.readyState !== WebSocket.OPEN) return;
    let text: string;
    try {
      text = JSON.stringify(message);
    } catch (error) {
      text = JSON.stringify({
        id: 'id' in message ? message.id : 0,
        ok: false,
        error: `the result could not be sent: ${(error as Error).message}`,
      });
    }
    ws.send(text);
  }

  const unsubscribe = options.core.onEvent((event) => {
    const text = JSON.stringify({ event } satisfies BridgeMessage);
    for (const ws of clients) {
      if (ws.readyState !== WebSocket.OPEN) continue;
      if (ws.bufferedAmount > MAX_BUFFERED_EVENTS) continue;
      ws.send(text);
    }
  });

  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  server.on('error', (error) => log('error', `server: ${error.message}`));
  wss.on('error', (error) => log('error', `WebSocket server: ${error.message}`));
  const port = (server.address() as AddressInfo).port;
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;

  let closing: Promise<void> | null = null;
  return {
    host,
    port,
    token,
    url: `http://${shownHost}:${port}/?token=${token}`,
    close() {
      closing ??= (async () => {
        unsubscribe();
        for (const ws of clients) ws.close(1001, 'SparseLab is shutting down');
        await new Promise<void>((r) => wss.close(() => r()));
        for (const ws of clients) ws.terminate();
        await new Promise<void>((r) => {
          server.close(() => r());
          server.closeAllConnections();
        });
      })();
      return closing;
    },
  };
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1'];

/**
 * Accepts a Host header naming loopback or the listen address (any port: a tunnel may map it).
 * Listening on every interface, the machine's own addresses and host name are its names too.
 */
function hostChecker(listen: string): (header: string | undefined) => boolean {
  const names = new Set([...LOOPBACK_NAMES, listen.toLowerCase()]);
  if (listen === '0.0.0.0' || listen === '::') {
    names.add(hostname().toLowerCase());
    for (const addresses of Object.values(networkInterfaces())) {
      for (const address of addresses ?? []) names.add(address.address.toLowerCase());
    }
  }
  return (header) => {
    const match = /^(?:\[([0-9a-f:.]+)\]|([a-z0-9.-]+))(?::\d{1,5})?$/i.exec(header ?? '');
    if (!match) return false;
    const name = (match[1] ?? match[2]!).toLowerCase();
    return names.has(name) || name.endsWith('.localhost') || /^127(\.\d{1,3}){3}$/.test(name);
  };
}

function sameOrigin(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}

function send(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    ...securityHeaders(),
    'content-type': 'text/plain; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(body);
}

/** GET/HEAD of a file under root; "/" is index.html. No dot files, nothing outside root. */
function serveStatic(root: string, req: IncomingMessage, res: ServerResponse): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    send(res, 405, 'method not allowed\n', { allow: 'GET, HEAD' });
    return;
  }
  let pathname: string;
  try {
    pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
  } catch {
    send(res, 400, 'bad request\n');
    return;
  }
  if (pathname.includes('\0') || pathname.includes('\\')) {
    send(res, 400, 'bad request\n');
    return;
  }
  const segments = pathname.split('/').filter(Boolean);
  if (segments.some((s) => s === '..' || s.startsWith('.'))) {
    send(res, 404, 'not found\n');
    return;
  }
  const relative = segments.length === 0 ? 'index.html' : normalize(segments.join(sep));
  const file = join(root, relative);
  if (file !== root && !file.startsWith(root + sep)) {
    send(res, 404, 'not found\n');
    return;
  }
  let size: number;
  try {
    const stat = statSync(file);
    if (!stat.isFile()) throw new Error('not a file');
    size = stat.size;
  } catch {
    if (relative === 'favicon.ico') {
      res.writeHead(204, securityHeaders());
      res.end();
      return;
    }
    send(res, 404, relative === 'index.html' ? 'the app is not built: run `npm run build:app`\n' : 'not found\n');
    return;
  }
  const type = CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
  res.writeHead(200, {
    ...securityHeaders(),
    'content-type': type,
    'content-length': String(size),
    // Vite's assets carry a content hash in their names; index.html does not.
    'cache-control': segments[0] === 'assets' ? 'public, max-age=31536000, immutable' : 'no-store',
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  createReadStream(file)
    .on('error', () => res.destroy())
    .pipe(res);
}
