/**
 * `sparselab sparsify --engine torch`: sparselab_torch's operators on a dump give the native
 * engine's outputs, byte for byte (.npy files) and number for number (statistics).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SPARSIFIER_METHODS } from '../../common/sparsifier';
import { encodeNpy } from '../../gpu/io/npy';
import { normalData } from '../../common/normalData';
import { sparsify, type SparsifyOptions } from '../../main/core/cli/sparsify';
import { torchPythonOrSkip } from '../torchParity';

const python = torchPythonOrSkip('sparsify --engine torch');

describe('sparselab sparsify --engine torch', () => {
  const folder = mkdtempSync(join(tmpdir(), 'sparselab-torch-cli-'));
  afterAll(() => rmSync(folder, { recursive: true, force: true }));
  const gradient = normalData(30_000, 9);
  gradient.fill(0.125, 100, 400); // ties
  gradient[7] = -0;
  const file = join(folder, 'grad.npy');
  writeFileSync(file, encodeNpy(gradient));

  it.runIf(python !== null)(
    'writes the same .npy files and statistics as the native engine',
    async () => {
      for (const method of SPARSIFIER_METHODS) {
        const options = (engine: 'native' | 'torch'): SparsifyOptions => ({
          method,
          density: 0.01,
          backend: 'cpu',
          seed: 4,
          bins: 21,
          json: true,
          engine,
          out: join(folder, `${method}-${engine}`),
        });
        const native = await sparsify(file, options('native'));
        const torch = await sparsify(file, options('torch'));
        expect(torch.engine).toBe('torch');
        expect(torch.shape).toEqual(native.shape);
        expect(torch.statistics, method).toEqual(JSON.parse(JSON.stringify(native.statistics)));
        for (const part of ['indices', 'values'] as const) {
          expect(
            readFileSync(torch.written![part]).equals(readFileSync(native.written![part])),
            `${method} ${part}`,
          ).toBe(true);
        }
      }
      // Six Python processes, each importing torch: minutes on a loaded 2-core machine.
    },
    600_000,
  );

  it('says how to install torch when no Python has it', async () => {
    const options: SparsifyOptions = { method: 'topk', density: 0.01, backend: 'cpu', seed: 0, bins: 0, json: true };
    await expect(sparsify(file, { ...options, engine: 'torch', python: '/nonexistent/python3' })).rejects.toThrow(
      /apt-get install python3-torch/,
    );
  });

  it.runIf(python !== null)(
    'runs from the command line and refuses a NaN naming its index',
    { timeout: 300_000 },
    () => {
      const bad = Float32Array.from(gradient);
      bad[1234] = NaN;
      const badFile = join(folder, 'nan.npy');
      writeFileSync(badFile, encodeNpy(bad));
      const cli = (...args: string[]) =>
        spawnSync(process.execPath, ['bin/sparselab.js', 'sparsify', ...args, '--engine', 'torch'], {
          encoding: 'utf8',
        });
      const ok = cli(file, '--method', 'gaussiank', '--density', '0.001', '--json');
      expect(ok.stderr).toBe('');
      expect(JSON.parse(ok.stdout).statistics.k).toBe(30);
      const refused = cli(badFile, '--method', 'topk', '--density', '0.01');
      expect(refused.status).not.toBe(0);
      expect(refused.stderr).toMatch(/has NaN at index 1234/);
    },
  );
});

describe('sparselab bench', () => {
  it.runIf(python !== null)(
    "times sparselab_torch's operators and torch.topk in the same run as the kernels",
    { timeout: 300_000 },
    () => {
      const folder = mkdtempSync(join(tmpdir(), 'sparselab-torch-bench-'));
      try {
        const out = join(folder, 'bench.json');
        const args = ['bench', '--sizes', '20000', '--densities', '0.01', '--methods', 'topk', '--repeats', '1'];
        const bench = spawnSync(
          process.execPath,
          ['bin/sparselab.js', ...args, '--backends', 'cpu', '--tfjs-max-size', '0', '--no-training', '-o', out],
          { encoding: 'utf8' },
        );
        expect(bench.status, bench.stderr).toBe(0);
        const results = JSON.parse(readFileSync(out, 'utf8')) as { peers: { name: string; ms: number }[] };
        const peer = (name: string) => results.peers.find((p) => p.name.startsWith(name));
        expect(peer('sparselab_torch topk (1 thread')?.ms).toBeGreaterThan(0);
        expect(peer('torch.topk (1 thread')?.ms).toBeGreaterThan(0);
        expect(peer('torch Gaussian_k (reference)')?.ms).toBeGreaterThan(0);
      } finally {
        rmSync(folder, { recursive: true, force: true });
      }
    },
  );
});
