/** `sparselab serve`: the app in a browser; an AppCore and the server in one process until SIGINT/SIGTERM. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { WorkerBackendChoice } from '../../../common/api';
import { AppCore } from '../app';
import { packageRoot } from '../packageRoot';
import { describeDataFolderOwner } from '../store/owner';
import { startServer, type AppServer } from './server';

export { startServer, CLOSE_UNAUTHORIZED, CONTENT_SECURITY_POLICY, type AppServer, type ServerOptions } from './server';

export interface ServeOptions {
  listen: string;
  port: number;
  dataDir?: string;
  workers: number;
  backend: WorkerBackendChoice;
  /** Place local workers on these GPUs (numbers from `sparselab gpus`); default every hardware GPU. */
  gpus?: number[];
  token?: string;
  hubListen: string;
  hubPort: number;
  open: boolean;
  /** When the port is taken, take any free one instead of failing. */
  portFallback?: boolean;
  /** The built renderer; default out/renderer under the package root. */
  staticDir?: string;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

/** Starts the core and the server, prints the address, and resolves once a signal has closed everything. */
export async function serve(options: ServeOptions): Promise<void> {
  const log = (level: 'info' | 'warn' | 'error', message: string) =>
    process.stderr.write(`${new Date().toISOString()} [${level}] ${message}\n`);
  const core = await AppCore.start({
    mode: 'browser',
    dataDir: options.dataDir,
    hub: { host: options.hubListen, port: options.hubPort },
    localWorkers: options.workers,
    workerBackend: options.backend,
    localGpus: options.gpus ?? null,
    log: (level, message) => level !== 'info' && log(level, message),
  });
  let server: AppServer;
  const listen = (port: number) =>
    startServer({
      core,
      staticDir: options.staticDir ?? join(packageRoot(), 'out', 'renderer'),
      host: options.listen,
      port,
      token: options.token,
      log,
    });
  try {
    try {
      server = await listen(options.port);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || !options.portFallback) throw error;
      log('warn', `port ${options.port} is in use; taking a free one`);
      server = await listen(0);
    }
  } catch (error) {
    await core.close();
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE')
      throw new Error(
        `port ${options.port} on ${options.listen} is in use; pick another with --port (0: any free one)`,
        { cause: error },
      );
    throw error;
  }

  // An unexpected exception is reported; the server goes on.
  const onUnexpected = (error: unknown) => log('error', `unexpected: ${(error as Error)?.stack ?? String(error)}`);
  process.on('uncaughtException', onUnexpected);
  process.on('unhandledRejection', onUnexpected);

  const info = await core.info();
  // Never the token: the lock file is readable by anyone who can list the folder.
  describeDataFolderOwner(info.dataDir, `page http://${options.listen}:${server.port}/, hub ${info.hub.url}`);
  const lines = [
    `SparseLab at ${server.url}`,
    `data folder ${info.dataDir}; ${options.workers} local worker(s); hub for workers at ${info.hub.url}`,
  ];
  if (LOOPBACK.has(options.listen)) {
    lines.push(
      `From another machine, tunnel it: ssh -N -L ${server.port}:127.0.0.1:${server.port} ${process.env.USER ?? 'you'}@THIS_HOST`,
      `then open http://127.0.0.1:${server.port}/?token=${server.token}`,
    );
  } else {
    lines.push(
      `Listening on ${options.listen}: the token travels in clear over http; prefer --listen 127.0.0.1 and an SSH tunnel.`,
    );
  }
  lines.push('Ctrl+C stops SparseLab and its workers.');
  console.log(lines.join('\n'));
  if (options.open) openBrowser(server.url);

  await new Promise<void>((resolveDone) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        log('warn', `${signal} again: exiting now`);
        process.exit(130);
      }
      stopping = true;
      log('info', `${signal}: closing the server, workers, hub and store`);
      // A close that hangs (a worker that will not exit, a socket that never drains) must not leave an
      // orphaned server behind: everything durable is already in the store's WAL.
      setTimeout(() => {
        log('error', 'closing took longer than 15 s: exiting now');
        process.exit(1);
      }, 15_000).unref();
      void (async () => {
        try {
          await server.close();
          await core.close();
        } catch (error) {
          log('error', `while closing: ${(error as Error).message}`);
          process.exitCode = 1;
        }
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        process.off('uncaughtException', onUnexpected);
        process.off('unhandledRejection', onUnexpected);
        resolveDone();
      })();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** The user's browser, where one can be opened; failures only mean the address must be opened by hand. */
function openBrowser(url: string): void {
  if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) return;
  const [command, args] =
    process.platform === 'darwin'
      ? ['open', [url]]
      : process.platform === 'win32'
        ? ['cmd', ['/c', 'start', '""', url]]
        : ['xdg-open', [url]];
  try {
    const child = spawn(command, args as string[], { stdio: 'ignore', detached: true });
    child.on('error', () => {});
    child.unref();
  } catch {
    // The address is printed; that is enough.
  }
}
