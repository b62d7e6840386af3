/**
 * Electron's main process (main/electron/index.ts) with the electron module stood in for: the IPC handler
 * answers only our own page, replies { ok, result | error } as the preload expects, pushes the core's events
 * to the window, keeps the window's secure settings, and closes the core before quitting.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { IPC_CALL, IPC_EVENT } from '../../common/api';
import { CONTENT_SECURITY_POLICY } from '../../main/core/serve/server';

interface FakeWindow {
  options: { webPreferences: Record<string, unknown> };
  loaded: string | null;
  webContents: { send: (channel: string, payload: unknown) => void; handlers: Record<string, unknown> };
}

const fake = vi.hoisted(() => ({
  handlers: new Map<string, (...args: unknown[]) => unknown>(),
  appHandlers: new Map<string, (...args: unknown[]) => unknown>(),
  windows: [] as unknown[],
  sent: [] as [string, unknown][],
  errors: [] as string[],
  headers: null as null | ((details: unknown, callback: (r: unknown) => void) => void),
  quit: 0,
}));

vi.mock('electron', () => {
  class BrowserWindow {
    loaded: string | null = null;
    webContents = {
      handlers: {} as Record<string, unknown>,
      on(event: string, handler: unknown) {
        this.handlers[event] = handler;
      },
      setWindowOpenHandler(handler: unknown) {
        this.handlers.windowOpen = handler;
      },
      send: (channel: string, payload: unknown) => fake.sent.push([channel, payload]),
    };
    constructor(readonly options: unknown) {
      fake.windows.push(this);
    }
    once() {}
    on() {}
    isDestroyed() {
      return false;
    }
    loadFile(file: string) {
      this.loaded = file;
      return Promise.resolve();
    }
    loadURL(url: string) {
      this.loaded = url;
      return Promise.resolve();
    }
    static getAllWindows() {
      return fake.windows;
    }
  }
  const app = {
    whenReady: () => Promise.resolve(),
    on: (event: string, handler: (...args: unknown[]) => unknown) => fake.appHandlers.set(event, handler),
    quit: () => fake.quit++,
    exit: () => fake.quit++,
  };
  return {
    app,
    BrowserWindow,
    ipcMain: {
      handle: (channel: string, handler: (...args: unknown[]) => unknown) => fake.handlers.set(channel, handler),
    },
    session: {
      defaultSession: {
        webRequest: { onHeadersReceived: (handler: typeof fake.headers) => (fake.headers = handler) },
        setPermissionRequestHandler: () => {},
      },
    },
    dialog: { showErrorBox: (_title: string, message: string) => fake.errors.push(message) },
    shell: { openExternal: () => Promise.resolve() },
  };
});

process.env.SPARSELAB_HOME = mkdtempSync(join(tmpdir(), 'sparselab-electron-'));
process.env.SPARSELAB_WORKERS = '0';
delete process.env.ELECTRON_RENDERER_URL;

async function handler(): Promise<(...args: unknown[]) => Promise<{ ok: boolean; result?: unknown; error?: string }>> {
  for (let i = 0; i < 200 && !fake.handlers.has(IPC_CALL); i++) await new Promise((r) => setTimeout(r, 25));
  if (fake.errors.length > 0) throw new Error(fake.errors.join('\n'));
  return fake.handlers.get(IPC_CALL) as never;
}

afterAll(async () => {
  const beforeQuit = fake.appHandlers.get('before-quit');
  if (!beforeQuit) return;
  beforeQuit({ preventDefault: () => {} });
  for (let i = 0; i < 200 && fake.quit === 0; i++) await new Promise((r) => setTimeout(r, 25));
});

describe('Electron main process', () => {
  it('answers calls from its own page only, as the preload expects, and pushes events to the window', async () => {
    await import('../../main/electron/index');
    const call = await handler();
    const window = fake.windows[0] as FakeWindow;
    expect(window.options.webPreferences).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
    });
    const page = resolve('main/renderer/index.html');
    expect(window.loaded).toBe(page);
    const own = { sender: window.webContents, senderFrame: { url: pathToFileURL(page).href, parent: null } };

    expect(await call(own, 'info', [])).toMatchObject({ ok: true, result: { mode: 'electron' } });
    expect(await call(own, 'run', [5])).toEqual({ ok: false, error: expect.stringMatching(/^run: argument 0 /) });
    expect(await call(own, 'deleteRun', ['r-none'])).toEqual({ ok: false, error: 'unknown run "r-none"' });

    for (const stranger of [
      { ...own, senderFrame: { url: 'https://example.com/', parent: null } },
      { ...own, senderFrame: { url: pathToFileURL('/tmp/index.html').href, parent: null } },
      { ...own, senderFrame: { ...own.senderFrame, parent: {} } },
      { ...own, sender: {} },
      { ...own, senderFrame: null },
    ]) {
      expect(await call(stranger, 'info', [])).toMatchObject({ ok: false, error: expect.stringMatching(/^refused/) });
    }

    await call(own, 'setLocalWorkers', [0]);
    expect(
      fake.sent.some(([channel, event]) => channel === IPC_EVENT && (event as { type: string }).type === 'log'),
    ).toBe(true);
    // Navigation away from the app, in any frame, redirects and webviews are refused.
    for (const event of ['will-navigate', 'will-frame-navigate', 'will-redirect', 'will-attach-webview']) {
      let prevented = false;
      const guard = window.webContents.handlers[event] as ((e: unknown) => void) | undefined;
      expect(guard, event).toBeDefined();
      guard!({ preventDefault: () => (prevented = true), url: 'https://attacker.example/' });
      expect(prevented, event).toBe(true);
    }
    const headers = await new Promise<{ responseHeaders: Record<string, string[]> }>((r) =>
      fake.headers!({ resourceType: 'mainFrame', responseHeaders: {} }, r as never),
    );
    expect(headers.responseHeaders['Content-Security-Policy']![0]).toContain("script-src 'self'");
  });

  it("builds the page's own policy into index.html: every directive of the served one but frame-ancestors", () => {
    const html = readFileSync('renderer/index.html', 'utf8');
    const meta = /http-equiv="Content-Security-Policy"\s+content="([^"]+)"/.exec(html)?.[1];
    const directives = (policy: string) => policy.split(';').map((d) => d.trim());
    expect(directives(meta ?? '').sort()).toEqual(
      directives(CONTENT_SECURITY_POLICY)
        .filter((d) => !d.startsWith('frame-ancestors'))
        .sort(),
    );
    expect(meta).toContain("object-src 'none'");
    expect(meta).toContain("base-uri 'none'");
  });
});
