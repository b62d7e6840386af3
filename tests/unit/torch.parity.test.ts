/**
 * sparselab_torch (gpu/torch) against SparseLab's CPU kernels, both directions: the golden
 * fixtures SparseLab writes (ts-*, also checked by the Python tests) and those sparselab_torch
 * writes (py-*, `python3 gpu/torch/tests/make_fixtures.py`) must be reproduced here, and on
 * property-based random inputs both sides must select the same indices, values and statistics.
 * SPARSELAB_WRITE_FIXTURES=1 rewrites the ts-* fixtures.
 */
import fc from 'fast-check';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SPARSIFIER_METHODS } from '../../common/sparsifier';
import { createCpuKernels, type CpuKernels } from '../../gpu/kernels/cpu';
import { encodeNpy } from '../../gpu/io/npy';
import {
  FIXTURES,
  readFixtureInput,
  runNative,
  runTorchBatch,
  torchPythonOrSkip,
  type ParityFixture,
  type ParityRun,
} from '../torchParity';
import { runsFor, TS_CASES } from '../torchParityCases';

const WRITE = process.env.SPARSELAB_WRITE_FIXTURES === '1';

function fixtures(writer: 'ts' | 'py'): ParityFixture[] {
  return readdirSync(FIXTURES)
    .filter((f) => f.startsWith(`${writer}-`) && f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(FIXTURES, f), 'utf8')) as ParityFixture);
}

function describeRun(name: string, run: ParityRun): string {
  return `${name}: ${run.method} ${run.k === undefined ? `density ${run.density}` : `k ${run.k}`}`;
}

const torchPython = torchPythonOrSkip('the sparselab_torch property test');

describe('sparselab_torch parity with the CPU kernels', () => {
  let kernels: CpuKernels;
  let folder: string;
  beforeAll(async () => {
    kernels = await createCpuKernels();
    folder = mkdtempSync(join(tmpdir(), 'sparselab-torch-parity-'));
  });
  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  it.runIf(WRITE)('writes the ts-* golden fixtures', async () => {
    for (const c of TS_CASES) {
      const runs = [];
      for (const run of runsFor(c)) runs.push({ ...run, ...(await runNative(kernels, c.data, run)) });
      const fixture: ParityFixture = { name: c.name, writer: 'ts', input: `${c.name}.npy`, runs };
      writeFileSync(join(FIXTURES, `${c.name}.npy`), encodeNpy(c.data));
      writeFileSync(join(FIXTURES, `${c.name}.json`), `${JSON.stringify(fixture)}\n`);
    }
  });

  for (const writer of ['ts', 'py'] as const) {
    it(`reproduces every ${writer}-* golden fixture`, async () => {
      const all = fixtures(writer);
      expect(all.length).toBeGreaterThanOrEqual(writer === 'ts' ? TS_CASES.length : 6);
      const methods = new Set<string>();
      for (const fixture of all) {
        const data = readFixtureInput(fixture);
        for (const { indices, valuesBits, thresholdBits, statistics, ...run } of fixture.runs) {
          methods.add(run.method);
          const native = await runNative(kernels, data, run);
          expect(native, describeRun(fixture.name, run)).toEqual({ indices, valuesBits, thresholdBits, statistics });
        }
      }
      expect([...methods].sort()).toEqual([...SPARSIFIER_METHODS].sort());
    });
  }

  // Random float32 arrays rich in the hard cases: ties, -0, subnormals, huge and tiny magnitudes.
  const special = fc.constantFrom(0, -0, 1, -1, 1.4e-45, -1.4e-45, 1.1754942e-38, 3.4e38, -3.4e38, 0.5);
  const element = fc.oneof(
    {
      weight: 3,
      arbitrary: fc.float({ noNaN: true, noDefaultInfinity: true, min: Math.fround(-1e30), max: Math.fround(1e30) }),
    },
    { weight: 1, arbitrary: special },
  );
  const input = fc.record({
    data: fc.oneof(
      fc.array(element, { minLength: 1, maxLength: 300 }),
      // Few distinct magnitudes: the k-th often falls inside a group of ties.
      fc.array(fc.constantFrom(2, -2, 1, -1, 0, -0, 1.4e-45, -2.8e-45), { minLength: 1, maxLength: 300 }),
      // Several of the moments' 1024-coordinate blocks, some summed in float64 (tiny or huge magnitudes).
      fc
        .tuple(
          fc.float32Array({ minLength: 1000, maxLength: 5000, noNaN: true, noDefaultInfinity: true }),
          fc.constantFrom(1, 1e-30, 1e-12, 1e-3),
        )
        .map(([values, scale]) => Array.from(values, (v) => Math.fround(v * scale))),
    ),
    method: fc.constantFrom(...SPARSIFIER_METHODS),
    target: fc.oneof(
      fc.record({ density: fc.double({ min: 1e-4, max: 1, noNaN: true }) }),
      fc.record({ k: fc.integer({ min: 1, max: 400 }) }),
    ),
    seed: fc.nat(1000),
    step: fc.nat(50),
    sampleRatio: fc.double({ min: 0.01, max: 1, noNaN: true }),
  });

  it.runIf(torchPython !== null)(
    'selects what sparselab_torch selects on random inputs (fast-check)',
    { timeout: 300_000 },
    async () => {
      const seed = Number(process.env.SPARSELAB_PARITY_SEED ?? Date.now() % 2 ** 31);
      const samples = fc.sample(input, { seed, numRuns: 150 });
      const cases = samples.map((s, i) => {
        const file = join(folder, `random-${i}.npy`);
        writeFileSync(file, encodeNpy(Float32Array.from(s.data)));
        const run: ParityRun = {
          method: s.method,
          ...s.target,
          seed: s.seed,
          step: s.step,
          sampleRatio: s.sampleRatio,
          bins: 8,
        };
        return { file, runs: [run] };
      });
      const torch = runTorchBatch(torchPython!, cases, folder);
      for (const [i, c] of cases.entries()) {
        const native = await runNative(kernels, Float32Array.from(samples[i]!.data), c.runs[0]!);
        expect(torch[i]![0], `fast-check seed ${seed}, sample ${i}: ${JSON.stringify(samples[i])}`).toEqual(native);
      }
    },
  );
});
