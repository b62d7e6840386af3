import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../packageRoot';

/** How to get a Python that can run sparselab_torch (gpu/torch). */
const TORCH_INSTALL_HINT = 'apt-get install python3-torch python3-numpy';

/** Debian's own python3 carries python3-torch; a pyenv python3 earlier on PATH may not. */
const CANDIDATES = ['/usr/bin/python3', 'python3'];

export class TorchPythonMissingError extends Error {
  constructor(tried: string[]) {
    super(
      `no Python with torch and numpy found (tried ${tried.join('; ')}); install them with \`${TORCH_INSTALL_HINT}\`, ` +
        'or name a Python with --python or SPARSELAB_PYTHON',
    );
    this.name = 'TorchPythonMissingError';
  }
}

/**
 * The Python that runs sparselab_torch: `explicit` (--python), else SPARSELAB_PYTHON, else the
 * first of /usr/bin/python3 and python3 that imports torch and numpy. An explicit choice that
 * cannot import them is an error, not a silent fallback.
 */
export function findTorchPython(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  const chosen = explicit ?? env.SPARSELAB_PYTHON;
  const tried: string[] = [];
  for (const python of chosen ? [chosen] : CANDIDATES) {
    const probe = spawnSync(python, ['-c', 'import torch, numpy'], { encoding: 'utf8' });
    if (probe.status === 0) return python;
    tried.push(`${python}: ${probe.error?.message ?? probe.stderr.trim().split('\n').at(-1)}`);
  }
  throw new TorchPythonMissingError(tried);
}

/** The folder that holds the sparselab_torch package (what PYTHONPATH needs). */
export function torchPackagePath(): string {
  return join(packageRoot(), 'gpu', 'torch');
}

/** The environment under which `python -m sparselab_torch...` finds the package in this repository. */
export function torchPythonEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const path = torchPackagePath();
  return { ...env, PYTHONPATH: env.PYTHONPATH ? `${path}:${env.PYTHONPATH}` : path };
}
