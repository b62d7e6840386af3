import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { normalData } from '../../common/normalData';
import { encodeNpy, parseNpy } from '../../gpu/io/npy';

// Runs the bundled CLI as a user would (npm test builds it first).
function sparselab(...args: string[]) {
  return spawnSync(process.execPath, ['bin/sparselab.js', ...args], { encoding: 'utf8' });
}

describe('sparselab sparsify', () => {
  const folder = mkdtempSync(join(tmpdir(), 'sparselab-cli-'));
  const gradient = normalData(10_000, 5);
  const file = join(folder, 'grad.npy');
  writeFileSync(file, encodeNpy(gradient));

  it('prints the statistics as JSON and writes ascending indices with their values', () => {
    const prefix = join(folder, 'out');
    const run = sparselab('sparsify', file, '--method', 'topk', '--density', '0.01', '--out', prefix, '--json');
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.statistics.k).toBe(100);
    expect(report.statistics.selected).toBe(100);
    expect(report.statistics.rhoTopk).toBeLessThan(report.statistics.boundGaussian);
    const indexFile = readFileSync(`${prefix}.indices.npy`);
    expect(indexFile.toString('latin1', 0, 80)).toContain("'descr': '<u4'");
    const indexArray = new Uint32Array(
      indexFile.buffer.slice(indexFile.byteOffset + 128, indexFile.byteOffset + indexFile.byteLength),
    );
    const values = parseNpy('v', readFileSync(`${prefix}.values.npy`)).data;
    expect(indexArray.length).toBe(100);
    expect([...indexArray].every((x, i) => i === 0 || x > indexArray[i - 1]!)).toBe(true);
    expect(Array.from(values)).toEqual(Array.from(indexArray, (i) => gradient[i]));
  });

  it('prints a readable table by default', () => {
    const run = sparselab('sparsify', file, '--method', 'gaussiank', '--density', '0.01');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/Gaussian_k on cpu/);
    expect(run.stdout).toMatch(/bound \(1 - k\/d\)\^2\s+0\.9801/);
  });

  it('fails with a clear message on a bad file or bad arguments', () => {
    writeFileSync(join(folder, 'short.npy'), encodeNpy(Float32Array.of(1, 2, 3)).subarray(0, 128 + 6));
    const truncated = sparselab('sparsify', join(folder, 'short.npy'), '--method', 'topk', '--density', '0.5');
    expect(truncated.status).toBe(1);
    expect(truncated.stderr).toMatch(/short\.npy: truncated: shape \(3\) needs 12 bytes/);
    const badMethod = sparselab('sparsify', file, '--method', 'top1', '--density', '0.5');
    expect(badMethod.status).not.toBe(0);
    expect(badMethod.stderr).toMatch(/top1.*Allowed choices are dense, topk/s);
    writeFileSync(join(folder, 'nan.npy'), encodeNpy(Float32Array.of(1, 2, NaN, 4)));
    const nan = sparselab('sparsify', join(folder, 'nan.npy'), '--method', 'gaussiank', '--density', '0.5');
    expect(nan.status).toBe(1);
    expect(nan.stderr).toMatch(/gradient of tensor ".*nan\.npy" has NaN at index 2/);
    const both = sparselab('sparsify', file, '--method', 'topk', '--density', '0.5', '--k', '3');
    expect(both.stderr).toMatch(/exactly one of --density or --k/);
  });
});

describe('sparselab run, runs, show and export', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sparselab-cli-run-'));

  it('runs an experiment file on local workers and compares the arms, with projected speedups over Dense', () => {
    const run = sparselab(
      'run',
      'resources/experiments/quick-synthetic.yaml',
      '--set',
      'epochs=0.5',
      '--set',
      'arms=[{method: dense}, {method: gaussiank, density: 0.05}]',
      '--backend',
      'cpu',
      '--data-dir',
      dataDir,
      '--json',
    );
    expect(run.status).toBe(0);
    const rows = JSON.parse(run.stdout) as {
      summary: { arm: string; status: string; finalAccuracy: number; meanBytesSent: number };
      speedups: Record<string, number | null>;
    }[];
    expect(rows.map((r) => r.summary.arm).sort()).toEqual(['dense', 'gaussiank@0.05']);
    for (const row of rows) {
      expect(row.summary.status).toBe('finished');
      expect(row.summary.finalAccuracy).toBeGreaterThan(0.5);
      expect(row.speedups['16gpu-10gbe']).toBeGreaterThan(0);
    }
    const [dense, gaussian] = ['dense', 'gaussiank@0.05'].map((arm) => rows.find((r) => r.summary.arm === arm)!);
    expect(dense!.speedups['16gpu-1gbe']).toBeCloseTo(1, 12);
    expect(gaussian!.summary.meanBytesSent).toBeLessThan(dense!.summary.meanBytesSent / 5);
  });

  it('lists, shows and exports what was recorded', () => {
    const runs = JSON.parse(sparselab('runs', '--data-dir', dataDir, '--json').stdout) as { id: string; arm: string }[];
    expect(runs).toHaveLength(2);
    const id = runs.find((r) => r.arm === 'dense')!.id;
    expect(sparselab('show', id, '--data-dir', dataDir).stdout).toMatch(/status history:[\s\S]*queued -> running/);
    const csv = sparselab('export', id, '--format', 'csv', '--table', 'evaluations', '--data-dir', dataDir).stdout;
    expect(csv.split('\n')[0]).toBe('iteration,epoch,wallMs,testLoss,accuracy,perplexity');
    const json = JSON.parse(sparselab('export', id, '--format', 'json', '--data-dir', dataDir).stdout);
    expect(json.iterations.length).toBeGreaterThan(0);
    expect(sparselab('show', 'no-such-run', '--data-dir', dataDir).stderr).toMatch(/no-such-run/);
  });
});
