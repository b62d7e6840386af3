import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { app, BrowserWindow, dialog, ipcMain, session, shell, type IpcMainInvokeEvent } from 'electron';
import { IPC_CALL, IPC_EVENT, type WorkerBackendChoice } from '../../common/api';
import { AppCore } from '../core/app';
import { CONTENT_SECURITY_POLICY } from '../core/serve/server';

/**
 * The desktop shell: one window with secure defaults hosting the renderer; an AppCore (main/core/app) does
 * the work. The renderer reaches it only through the preload's typed API: one IPC invoke per call, checked
 * here for its sender, and events sent back to the window.
 *
 * Options on the command line (`electron . --data-dir DIR --workers N --backend cpu`) or in the environment
 * (SPARSELAB_HOME, SPARSELAB_WORKERS).
 */

const rendererIndex = join(import.meta.dirname, '../renderer/index.html');
const devServer = process.env.ELECTRON_RENDERER_URL;

function argument(name: string): string | undefined {
  const argv = process.argv;
  const at = argv.indexOf(`--${name}`);
  if (at >= 0) return argv[at + 1];
  return argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

/** Calls come only from our own page: the built index.html, or the dev server under `electron-vite dev`. */
function trustedSender(event: IpcMainInvokeEvent, window: BrowserWindow | null): boolean {
  const frame = event.senderFrame;
  if (!frame || !window || event.sender !== window.webContents || frame.parent !== null) return false;
  let url: URL;
  try {
    url = new URL(frame.url);
  } catch {
    return false;
  }
  if (devServer) {
    try {
      return url.origin === new URL(devServer).origin;
    } catch {
      return false;
    }
  }
  // A file: URL's origin is "null": compare the path (query and hash do not matter).
  return url.protocol === 'file:' && url.host === '' && url.pathname === pathToFileURL(rendererIndex).pathname;
}

function createWindow(): BrowserWindow {
  const window = new BrowserWindow({
    width: 1280,
    height: 820,
    title: 'SparseLab',
    show: false,
    webPreferences: {
      preload: join(import.meta.dirname, '../preload/index.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
    },
  });
  window.once('ready-to-show', () => window.show());
  // No navigation away from the app in any frame, no redirects, no webviews and no new windows;
  // links open in the user's browser.
  const refuse = (event: { preventDefault(): void }) => event.preventDefault();
  window.webContents.on('will-navigate', refuse);
  window.webContents.on('will-frame-navigate', refuse);
  window.webContents.on('will-redirect', refuse);
  window.webContents.on('will-attach-webview', refuse);
  window.webContents.setWindowOpenHandler(({ url }) => {
    if (url.startsWith('https://')) void shell.openExternal(url);
    return { action: 'deny' };
  });
  if (devServer) void window.loadURL(devServer);
  else void window.loadFile(rendererIndex);
  return window;
}

let core: AppCore | null = null;
let mainWindow: BrowserWindow | null = null;

async function startCore(): Promise<AppCore> {
  const workers = Number(argument('workers') ?? process.env.SPARSELAB_WORKERS ?? 2);
  const backend = (argument('backend') ?? 'auto') as WorkerBackendChoice;
  return AppCore.start({
    mode: 'electron',
    dataDir: argument('data-dir'),
    localWorkers: Number.isInteger(workers) && workers >= 0 && workers <= 64 ? workers : 2,
    workerBackend: ['auto', 'cpu', 'webgpu'].includes(backend) ? backend : 'auto',
    log: (level, message) => level !== 'info' && console.error(`[${level}] ${message}`),
  });
}

void app.whenReady().then(async () => {
  // A strict policy on whatever the window loads over http (the dev server); the built page has it in a meta tag.
  session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
    const headers = { ...details.responseHeaders };
    if (details.resourceType === 'mainFrame' || details.resourceType === 'subFrame')
      headers['Content-Security-Policy'] = [devServer ? devPolicy(devServer) : CONTENT_SECURITY_POLICY];
    callback({ responseHeaders: headers });
  });
  session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));

  try {
    core = await startCore();
  } catch (error) {
    dialog.showErrorBox('SparseLab cannot start', (error as Error).message);
    app.exit(1);
    return;
  }
  const started = core;
  ipcMain.handle(IPC_CALL, async (event, method: unknown, args: unknown) => {
    if (!trustedSender(event, mainWindow)) {
      console.error(`[warn] refused an API call from ${event.senderFrame?.url ?? 'an unknown frame'}`);
      return { ok: false, error: 'refused: the call did not come from the SparseLab window' };
    }
    return started.call(method, args);
  });
  started.onEvent((appEvent) => {
    if (mainWindow && !mainWindow.isDestroyed()) mainWindow.webContents.send(IPC_EVENT, appEvent);
  });

  mainWindow = createWindow();
  mainWindow.on('closed', () => (mainWindow = null));
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) {
      mainWindow = createWindow();
      mainWindow.on('closed', () => (mainWindow = null));
    }
  });
});

process.on('uncaughtException', (error) => console.error(`[error] unexpected: ${error.stack ?? error.message}`));
process.on('unhandledRejection', (error) => console.error(`[error] unexpected: ${String(error)}`));

let quitting = false;
app.on('before-quit', (event) => {
  if (!core || quitting) return;
  // Stop the workers, the hub and the store before leaving.
  event.preventDefault();
  quitting = true;
  void core
    .close()
    .catch((error: Error) => console.error(`[error] while closing: ${error.message}`))
    .finally(() => app.quit());
});

app.on('window-all-closed', () => {
  if (process.platform !== 'darwin') app.quit();
});

/** The dev server needs its own origin for scripts and its HMR socket. */
function devPolicy(url: string): string {
  const origin = new URL(url).origin;
  const socket = origin.replace(/^http/, 'ws');
  return CONTENT_SECURITY_POLICY.replace("connect-src 'self'", `connect-src 'self' ${origin} ${socket}`);
}
