import type { PeerTiming } from '../../../common/bench';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../packageRoot';

export interface PeerRun {
  peers: PeerTiming[];
  versions: Record<string, string | number>;
  /** Why no Python peers ran, if none did. */
  missing?: string;
}

/** Debian's own python3 carries python3-torch; a pyenv python3 earlier on PATH may not. */
const PYTHONS = ['/usr/bin/python3', 'python3'];

export function runPythonPeers(data: Float32Array, densities: number[], repeats: number): PeerRun {
  const folder = mkdtempSync(join(tmpdir(), 'sparselab-bench-'));
  try {
    const file = join(folder, 'u.f32');
    writeFileSync(file, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    const script = join(packageRoot(), 'main', 'core', 'bench', 'peers.py');
    const problems: string[] = [];
    let best: PeerRun | undefined;
    for (const python of PYTHONS) {
      const run = spawnSync(python, [script, file, JSON.stringify(densities), String(repeats)], {
        encoding: 'utf8',
        maxBuffer: 1 << 20,
      });
      if (run.status !== 0) {
        problems.push(`${python}: ${run.error?.message ?? run.stderr.trim().split('\n').at(-1)}`);
        continue;
      }
      const parsed = JSON.parse(run.stdout) as PeerRun;
      if (parsed.versions.torch !== undefined) return parsed;
      problems.push(`${python} has no torch`);
      if (!best || parsed.peers.length > best.peers.length) best = parsed;
    }
    const missing = `${problems.join('; ')} (apt-get install python3-torch python3-numpy)`;
    return { ...(best ?? { peers: [], versions: {} }), missing };
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}
