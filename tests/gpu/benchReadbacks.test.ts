/**
 * The engine benchmark on WebGPU, run as a user runs it (the built CLI): every operator case
 * records one host read-back per call and, where the adapter offers timestamp queries, its GPU
 * time.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import type { BenchResults } from '../../common/bench';
import { acquireGpuDevice } from '../../gpu/webgpuDevice/device';

const dir = mkdtempSync(join(tmpdir(), 'sparselab-bench-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('sparselab bench --backends webgpu records one read-back per operator call, and GPU time', async () => {
  const out = join(dir, 'bench.json');
  const run = spawnSync(
    process.execPath,
    ['bin/sparselab.js', 'bench', '--backends', 'webgpu', '--sizes', '3000', '--repeats', '1'].concat([
      '--no-peers',
      '--no-training',
      '--json',
      '-o',
      out,
    ]),
    { encoding: 'utf8' },
  );
  expect(run.status, run.stderr).toBe(0);
  const results = JSON.parse(readFileSync(out, 'utf8')) as BenchResults;
  expect(results.devices.webgpu).toBeTruthy();
  expect(results.operators).toHaveLength(10);
  for (const o of results.operators) {
    expect(o.readbacks, `${o.method} at density ${o.density}`).toBe(1);
    expect(o.gpuMs === null || o.gpuMs! > 0, `${o.method}: gpuMs ${o.gpuMs}`).toBe(true);
  }
  // GPU time wherever the adapter offers timestamp-query (SwiftShader does), null elsewhere.
  const { device } = await acquireGpuDevice({ optionalFeatures: ['timestamp-query'] });
  const timed = device.features.has('timestamp-query');
  device.destroy();
  expect(results.operators.every((o) => (typeof o.gpuMs === 'number') === timed)).toBe(true);
});
