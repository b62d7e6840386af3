// `npm start`: the desktop app where Electron's binary is installed; elsewhere the same app in the browser
// (`sparselab serve`), saying how to get the binary. Arguments after `npm start --` go to either.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const run = (cmd, cmdArgs, options = {}) =>
  spawnSync(cmd, cmdArgs, { stdio: 'inherit', cwd: root, shell: process.platform === 'win32', ...options }).status ?? 1;

/**
 * Electron's binary where it is installed, else undefined. Read the way node_modules/electron/index.js does,
 * but without require('electron'), which tries to download a missing binary (slow, or a stack trace offline).
 */
function findElectron() {
  let folder;
  try {
    folder = dirname(require.resolve('electron/package.json'));
  } catch {
    return undefined;
  }
  const pathFile = join(folder, 'path.txt');
  const executable = existsSync(pathFile) ? readFileSync(pathFile, 'utf8').trim() : '';
  const override = process.env.ELECTRON_OVERRIDE_DIST_PATH;
  if (override) return join(override, executable || 'electron');
  const binary = executable && join(folder, 'dist', executable);
  return binary && existsSync(binary) ? binary : undefined;
}
const electronBinary = findElectron();

/** Runs a child to its end, passing SIGINT/SIGTERM on, and exits with its status. */
function runToEnd(cmd, cmdArgs, env = process.env) {
  const child = spawn(cmd, cmdArgs, { stdio: 'inherit', cwd: root, env });
  // Ctrl+C reaches the child from the terminal itself (same process group); a second one would make it
  // skip its clean shutdown, so SIGINT is only kept from ending this script early.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => child.exitCode === null && child.kill('SIGTERM'));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 130 : 1)));
}

/**
 * better-sqlite3 is a native module built for Node's ABI; Electron's main process needs one built for
 * Electron's. That copy is built once into node_modules/.cache/sparselab-electron and copied after each build
 * into out/main/node_modules, which only the bundled main process resolves: the CLI, the workers and the
 * tests keep Node's build in node_modules.
 */
function electronSqlite() {
  const electronVersion = JSON.parse(readFileSync(join(root, 'node_modules/electron/package.json'), 'utf8')).version;
  const source = join(root, 'node_modules/better-sqlite3');
  const sqliteVersion = JSON.parse(readFileSync(join(source, 'package.json'), 'utf8')).version;
  const cache = join(root, 'node_modules/.cache/sparselab-electron/better-sqlite3');
  const stamp = join(cache, '.sparselab-electron');
  const wanted = `${sqliteVersion} electron ${electronVersion} ${process.platform}-${process.arch}`;
  if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== wanted) {
    console.error(`SparseLab: building better-sqlite3 ${sqliteVersion} for Electron ${electronVersion} (once)`);
    rmSync(cache, { recursive: true, force: true });
    mkdirSync(dirname(cache), { recursive: true });
    cpSync(source, cache, { recursive: true, filter: (path) => !path.startsWith(join(source, 'build')) });
    // A prebuilt binary for Electron where one is published, else a build from source against Electron's headers.
    const prebuilt = run(
      process.execPath,
      [
        join(root, 'node_modules/prebuild-install/bin.js'),
        '--runtime',
        'electron',
        '--target',
        electronVersion,
        '--arch',
        process.arch,
      ],
      { cwd: cache },
    );
    const status =
      prebuilt === 0
        ? 0
        : run(
            'npx',
            [
              '--yes',
              'node-gyp',
              'rebuild',
              '--release',
              `--target=${electronVersion}`,
              '--dist-url=https://electronjs.org/headers',
            ],
            { cwd: cache },
          );
    if (status !== 0) {
      console.error(
        [
          'SparseLab: could not build better-sqlite3 for Electron (it needs the internet once, or a C++ toolchain).',
          'By hand: npx @electron/rebuild -f -w better-sqlite3, then `npm rebuild better-sqlite3` before using the CLI.',
        ].join('\n'),
      );
      return status;
    }
    writeFileSync(stamp, wanted);
  }
  const target = join(root, 'out/main/node_modules/better-sqlite3');
  rmSync(target, { recursive: true, force: true });
  cpSync(cache, target, { recursive: true });
  return 0;
}

if (electronBinary && existsSync(electronBinary)) {
  const built = run(npm, ['run', 'build']) || electronSqlite();
  if (built !== 0) process.exit(built);
  runToEnd(electronBinary, ['.', ...args]);
} else {
  console.error(
    [
      'SparseLab: no Electron binary is installed here (npm skips it with ELECTRON_SKIP_BINARY_DOWNLOAD=1 or when',
      'GitHub cannot be reached). To get the desktop app, on a machine with internet: `npm install electron`',
      '(without ELECTRON_SKIP_BINARY_DOWNLOAD) or `node node_modules/electron/install.js`; `npx electron --version`',
      'then prints its version.',
      'Starting the same app in your browser instead (sparselab serve): open the address below.',
      '',
    ].join('\n'),
  );
  const built = run(npm, ['run', 'build:wasm']) || run(npm, ['run', 'build:cli']) || run(npm, ['run', 'build:app']);
  if (built !== 0) process.exit(built);
  runToEnd(process.execPath, [join(root, 'bin/sparselab.js'), 'serve', ...args]);
}
