import type { PeerTiming } from '../../../common/bench';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findTorchPython, torchPythonEnv } from '../cli/torchPython';
import { packageRoot } from '../packageRoot';
import type { PeerRun } from './peers';

/**
 * sparselab_torch's operators (gpu/torch) against torch.topk on the same data in one Python
 * process (torch_operators.py): Top_k at one thread, torch's default and every core, the others
 * at the default.
 */
export function runTorchOperatorPeers(data: Float32Array, densities: number[], repeats: number): PeerRun {
  let python: string;
  try {
    python = findTorchPython();
  } catch (error) {
    return { peers: [], versions: {}, missing: `sparselab_torch: ${(error as Error).message}` };
  }
  const folder = mkdtempSync(join(tmpdir(), 'sparselab-bench-torch-'));
  try {
    const file = join(folder, 'u.f32');
    writeFileSync(file, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    const script = join(packageRoot(), 'main', 'core', 'bench', 'torch_operators.py');
    const run = spawnSync(python, [script, file, JSON.stringify(densities), String(repeats)], {
      encoding: 'utf8',
      env: torchPythonEnv(),
      maxBuffer: 1 << 20,
    });
    if (run.status !== 0) {
      return {
        peers: [],
        versions: {},
        missing: `sparselab_torch bench failed: ${run.stderr.trim().split('\n').at(-1)}`,
      };
    }
    const parsed = JSON.parse(run.stdout) as { peers: PeerTiming[]; versions: Record<string, string | number> };
    return {
      peers: parsed.peers,
      versions: Object.fromEntries(Object.entries(parsed.versions).map(([k, v]) => [`sparselab_torch ${k}`, v])),
    };
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}
