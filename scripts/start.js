// `npm start`: builds and opens the desktop app, or explains how to get Electron where it is missing.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let electronBinary;
try {
  electronBinary = require('electron');
} catch {
  electronBinary = undefined;
}
if (typeof electronBinary !== 'string') {
  console.error(
    [
      'SparseLab: no Electron binary is installed here (npm skips it when ELECTRON_SKIP_BINARY_DOWNLOAD=1',
      'or when GitHub cannot be reached). On a machine with internet, get it with:',
      '  node node_modules/electron/install.js',
      'Meanwhile the engine works from the command line: npx sparselab --help',
    ].join('\n'),
  );
  process.exit(1);
}
const run = (cmd, args) => spawnSync(cmd, args, { stdio: 'inherit', shell: process.platform === 'win32' }).status ?? 1;
const status = run('npm', ['run', 'build']) || run('npx', ['electron-vite', 'preview']);
process.exit(status);
