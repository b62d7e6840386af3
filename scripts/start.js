// `npm start`: the desktop app where Electron's binary is installed; elsewhere the same default
// experiment (local store, local workers, MNIST) in the terminal, saying how to get the app.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let electronBinary;
try {
  electronBinary = require('electron');
} catch {
  electronBinary = undefined;
}
const run = (cmd, args) => spawnSync(cmd, args, { stdio: 'inherit', shell: process.platform === 'win32' }).status ?? 1;

if (typeof electronBinary === 'string') {
  process.exit(run('npm', ['run', 'build']) || run('npx', ['electron-vite', 'preview']));
}
console.error(
  [
    'SparseLab: no Electron binary is installed here (npm skips it with ELECTRON_SKIP_BINARY_DOWNLOAD=1 or',
    'when GitHub cannot be reached); on a machine with internet, `node node_modules/electron/install.js` gets it.',
    'Running the default experiment in the terminal instead: MNIST FNN, Dense vs the five sparsifiers, 4 local workers.',
    '',
  ].join('\n'),
);
process.exit(
  run('npm', ['run', 'build:wasm']) ||
    run('npm', ['run', 'build:cli']) ||
    run(process.execPath, ['bin/sparselab.js', 'run', 'resources/experiments/mnist-fnn-topk-vs-gaussiank.yaml']),
);
