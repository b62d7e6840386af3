/**
 * Parity between SparseLab's CPU kernels and sparselab_torch (gpu/torch): the fixture format
 * both sides write and check, the native side of a run, and the Python side in one batch.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sparsifierConfigSchema, type SparsifierMethod } from '../common/sparsifier';
import type { CompressionStats } from '../common/stats';
import { Compressor } from '../gpu/compression';
import type { Kernels } from '../gpu/kernels/kernels';
import { parseNpy } from '../gpu/io/npy';
import { findTorchPython, torchPythonEnv } from '../main/core/cli/torchPython';

export const FIXTURES = join(__dirname, '..', 'gpu', 'torch', 'tests', 'fixtures');

/** One operator call: what to run. */
export interface ParityRun {
  method: SparsifierMethod;
  density?: number;
  k?: number;
  seed: number;
  step: number;
  sampleRatio: number;
  bins: number;
}

/** What a call selected, in a form JSON keeps exactly (float32 as bits, -0 included). */
export interface ParityResult {
  indices: number[];
  valuesBits: number[];
  thresholdBits: number | null;
  statistics: CompressionStats;
}

export interface ParityFixture {
  name: string;
  /** Which side wrote it: 'ts' (SparseLab's CPU kernels) or 'py' (sparselab_torch). */
  writer: 'ts' | 'py';
  /** The input, a float32 .npy beside the fixture. */
  input: string;
  runs: (ParityRun & ParityResult)[];
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function float32Bits(value: number): number {
  f32[0] = value;
  return u32[0]!;
}

function bitsOf(values: Float32Array): number[] {
  return Array.from(new Uint32Array(values.buffer, values.byteOffset, values.length));
}

/** JSON.parse(JSON.stringify(x)): what crosses the process boundary (Infinity becomes null). */
function asJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** The native side: SparseLab's Compressor (no error feedback) on `data`. */
export async function runNative(kernels: Kernels, data: Float32Array, run: ParityRun): Promise<ParityResult> {
  const config = sparsifierConfigSchema.parse({
    method: run.method,
    density: run.density,
    k: run.k,
    seed: run.seed,
    sampleRatio: run.sampleRatio,
    errorFeedback: false,
  });
  const u = kernels.upload(data);
  try {
    const compressor = new Compressor(kernels, config, 'parity', data.length);
    const result = await compressor.compress(u, { step: run.step, statistics: { histogramBins: run.bins } });
    const { compressed } = result;
    const indices =
      compressed.kind === 'sparse' ? Array.from(compressed.indices) : Array.from(compressed.values, (_, i) => i);
    return asJson({
      indices,
      valuesBits: bitsOf(compressed.values),
      thresholdBits: result.threshold === null ? null : float32Bits(result.threshold),
      statistics: result.statistics!,
    });
  } finally {
    kernels.release(u);
  }
}

export function readFixtureInput(fixture: ParityFixture): Float32Array {
  const file = join(FIXTURES, fixture.input);
  return parseNpy(file, readFileSync(file)).data;
}

/** The Python side: every case's runs in one process (torch's import costs a second or two). */
export function runTorchBatch(
  python: string,
  cases: { file: string; runs: ParityRun[] }[],
  folder: string,
): ParityResult[][] {
  const request = join(folder, 'request.json');
  writeFileSync(request, JSON.stringify({ cases }));
  const run = spawnSync(python, ['-m', 'sparselab_torch.operators_cli', '--batch', request], {
    encoding: 'utf8',
    env: torchPythonEnv(),
    maxBuffer: 1 << 28,
  });
  if (run.status !== 0) throw new Error(`sparselab_torch batch failed (${run.status}): ${run.stderr}`);
  return (JSON.parse(run.stdout) as { cases: { results: ParityResult[] }[] }).cases.map((c) => c.results);
}

/**
 * The Python that runs sparselab_torch, or null (with the reason printed) where none exists. CI
 * (.ci/run) sets SPARSELAB_REQUIRE_TORCH=1, so there a missing torch fails instead of skipping.
 */
export function torchPythonOrSkip(what: string): string | null {
  try {
    return findTorchPython();
  } catch (error) {
    if (process.env.SPARSELAB_REQUIRE_TORCH === '1') throw error;
    console.warn(`skipping ${what}: ${(error as Error).message}`);
    return null;
  }
}
