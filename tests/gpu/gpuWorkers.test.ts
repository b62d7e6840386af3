/**
 * WebGPU workers placed on this machine's GPUs, through the built CLI (npm test builds it), on
 * SwiftShader: the GPUs listed, a GPU that does not exist refused with the list, and a run of two
 * WebGPU workers that records each rank's adapter.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

function sparselab(...args: string[]) {
  return spawnSync(process.execPath, ['bin/sparselab.js', ...args], { encoding: 'utf8' });
}

/** The CLI run asynchronously, so the test's thread stays free. */
function sparselabAsync(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/sparselab.js', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('WebGPU workers on the GPUs of this machine (SwiftShader)', () => {
  it('lists the GPUs, and refuses a GPU that does not exist naming those found', () => {
    const listed = sparselab('gpus', '--json');
    expect(listed.status, listed.stderr).toBe(0);
    const gpus = JSON.parse(listed.stdout) as { index: number; name: string; software: boolean }[];
    expect(gpus.length).toBeGreaterThan(0);
    const missing = String(gpus.length + 2);
    const dataDir = mkdtempSync(join(tmpdir(), 'sparselab-gpus-'));
    const run = sparselab(
      'run',
      'resources/experiments/quick-synthetic.yaml',
      '--gpus',
      missing,
      '--backend',
      'webgpu',
      '--data-dir',
      dataDir,
    );
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`there is no GPU ${missing} on this machine; the GPUs found:\n  0: ${gpus[0]!.name}`);
    const worker = sparselab(
      'worker',
      '--hub',
      'ws://127.0.0.1:9',
      '--token',
      't',
      '--backend',
      'webgpu',
      '--gpu',
      missing,
    );
    expect(worker.status).toBe(1);
    expect(worker.stderr).toContain(
      `there is no GPU ${missing} on this machine; the GPUs found:\n  0: ${gpus[0]!.name}`,
    );
    expect(sparselab('run', 'resources/experiments/quick-synthetic.yaml', '--gpus', '0,x').stderr).toContain(
      '"x" is not a GPU number',
    );
  });

  it("a run of two WebGPU workers records each rank's adapter in its environment and export", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sparselab-gpus-'));
    // One arm, a few iterations: TensorFlow.js on SwiftShader is slow, and only the adapters matter here.
    const experiment = join(dataDir, 'one-arm.json');
    writeFileSync(
      experiment,
      JSON.stringify({
        name: 'adapters',
        model: 'synthetic',
        dataset: { name: 'synthetic', trainLimit: 256, testLimit: 64 },
        workers: 2,
        epochs: 1,
        batchSize: 32,
        optimizer: { lr: 0.05 },
        arms: [{ method: 'topk', density: 0.05 }],
      }),
    );
    const run = await sparselabAsync('run', experiment, '--backend', 'webgpu', '--data-dir', dataDir, '--json');
    expect(run.status, run.stderr).toBe(0);
    const [row] = JSON.parse(run.stdout) as { summary: { runId: string } }[];
    const exported = JSON.parse(
      sparselab('export', row!.summary.runId, '--format', 'json', '--data-dir', dataDir).stdout,
    );
    const adapters = exported.run.environment.adapters as {
      name: string;
      index: number;
      id: string;
      backend: string;
    }[];
    expect(adapters).toHaveLength(2);
    for (const adapter of adapters) {
      expect(adapter).toMatchObject({ index: 0, backend: 'vulkan', id: expect.stringMatching(/^(pci:|vulkan:)/) });
      expect(adapter.name.length).toBeGreaterThan(0);
    }
    const shown = sparselab('show', row!.summary.runId, '--data-dir', dataDir).stdout;
    expect(shown).toContain(adapters[0]!.id);
  });
});
