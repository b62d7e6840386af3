/**
 * Runs sparselab_torch's Python tests (gpu/torch/tests, stdlib unittest) as part of `npm test`.
 * Skipped, with the reason printed, only where no Python with torch and numpy exists.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../main/core/packageRoot';
import { torchPythonOrSkip } from '../torchParity';

const python = torchPythonOrSkip("sparselab_torch's Python tests");

describe('sparselab_torch Python tests', () => {
  it.runIf(python !== null)('pass under python -m unittest', { timeout: 300_000 }, () => {
    const root = packageRoot();
    const run = spawnSync(python!, ['-m', 'unittest', 'discover', '-s', join(root, 'gpu', 'torch', 'tests')], {
      cwd: root,
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    });
    const ran = /^Ran (\d+) tests? in/m.exec(run.stderr);
    const skipped = /skipped=(\d+)/.exec(run.stderr);
    console.log(
      `sparselab_torch (${python}): ${ran?.[1] ?? 0} Python tests ran, ${skipped?.[1] ?? 0} skipped; ${run.status === 0 ? 'OK' : 'FAILED'}`,
    );
    expect(run.status, run.stderr.slice(-4000)).toBe(0);
    expect(Number(ran?.[1])).toBeGreaterThan(10);
  });
});
