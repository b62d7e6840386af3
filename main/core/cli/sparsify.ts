import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { SPARSIFIER_LABELS, sparsifierConfigSchema, type SparsifierMethod } from '../../../common/sparsifier';
import type { CompressionStats } from '../../../common/stats';
import { Compressor } from '../../../gpu/compression';
import { createKernels } from '../../../gpu/engine';
import type { BackendName } from '../../../gpu/kernels/kernels';
import { encodeNpy, readGradientFile } from '../../../gpu/io/npy';
import { formatCount, formatMs, formatNumber, table } from './format';
import { findTorchPython, torchPythonEnv } from './torchPython';

/** Who runs the operators: SparseLab's own kernels, or sparselab_torch (gpu/torch) in a Python with torch. */
export const SPARSIFY_ENGINES = ['native', 'torch'] as const;
export type SparsifyEngine = (typeof SPARSIFY_ENGINES)[number];

export interface SparsifyOptions {
  method: SparsifierMethod;
  density?: number;
  k?: number;
  backend: BackendName;
  seed: number;
  out?: string;
  json: boolean;
  bins: number;
  /** Default 'native'. */
  engine?: SparsifyEngine;
  /** The torch engine's Python (else SPARSELAB_PYTHON, else a python3 that imports torch). */
  python?: string;
}

export interface SparsifyReport {
  file: string;
  shape: number[];
  method: SparsifierMethod;
  engine: SparsifyEngine;
  backend: BackendName;
  device: string;
  /** Wall time of the compression call (finiteness check and selection), without statistics. */
  milliseconds: number;
  statistics: CompressionStats;
  written?: { indices: string; values: string };
}

export async function sparsify(file: string, options: SparsifyOptions): Promise<SparsifyReport> {
  if (options.engine === 'torch') return sparsifyWithTorch(file, options);
  const config = sparsifierConfigSchema.parse({
    method: options.method,
    density: options.density,
    k: options.k,
    seed: options.seed,
    errorFeedback: false,
  });
  const { data, shape } = readGradientFile(file);
  const kernels = await createKernels(options.backend);
  const u = kernels.upload(data);
  const compressor = new Compressor(kernels, config, file, data.length);
  // The first call also warms up (shader compilation, JIT); the second is the one timed.
  const result = await compressor.compress(u, { step: 0, statistics: { histogramBins: options.bins } });
  const started = performance.now();
  await compressor.compress(u, { step: 0 });
  const milliseconds = performance.now() - started;
  const report: SparsifyReport = {
    file,
    shape,
    method: config.method,
    engine: 'native',
    backend: kernels.backend,
    device: kernels.deviceName,
    milliseconds,
    statistics: result.statistics!,
  };
  if (options.out) {
    const { compressed } = result;
    const indices =
      compressed.kind === 'sparse' ? compressed.indices : Uint32Array.from(compressed.values, (_, i) => i);
    const paths = { indices: `${options.out}.indices.npy`, values: `${options.out}.values.npy` };
    writeFileSync(paths.indices, encodeNpy(indices));
    writeFileSync(paths.values, encodeNpy(compressed.values));
    report.written = paths;
  }
  kernels.release(u);
  return report;
}

/**
 * The same call on sparselab_torch's operators (same semantics, same statistics, same .npy
 * output), in the Python found by findTorchPython; it runs on torch's CPU.
 */
function sparsifyWithTorch(file: string, options: SparsifyOptions): SparsifyReport {
  if (options.backend !== 'cpu')
    throw new Error(`the torch engine runs on torch's CPU, not --backend ${options.backend}`);
  // The schema's checks (one of density or k, ranges) apply to both engines alike.
  sparsifierConfigSchema.parse({ method: options.method, density: options.density, k: options.k, seed: options.seed });
  const python = findTorchPython(options.python);
  const args = ['-m', 'sparselab_torch.operators_cli', file, '--method', options.method];
  if (options.density !== undefined) args.push('--density', String(options.density));
  if (options.k !== undefined) args.push('--k', String(options.k));
  args.push('--seed', String(options.seed), '--bins', String(options.bins));
  if (options.out) args.push('--out', options.out);
  const run = spawnSync(python, args, { encoding: 'utf8', env: torchPythonEnv(), maxBuffer: 1 << 26 });
  if (run.status !== 0) {
    const reason = run.error?.message ?? (run.stderr.trim() || `exit status ${run.status}`);
    throw new Error(`sparsify --engine torch (${python}): ${reason}`);
  }
  return JSON.parse(run.stdout) as SparsifyReport;
}

export function formatSparsifyReport(r: SparsifyReport): string {
  const s = r.statistics;
  const lines = [
    `${r.file}: d = ${formatCount(s.d)} (shape ${r.shape.join('x') || 'scalar'}), ${SPARSIFIER_LABELS[r.method]} on ${r.engine === 'torch' ? 'sparselab_torch' : r.backend} (${r.device})`,
    '',
    table([
      ['k', formatCount(s.k)],
      ['selected', formatCount(s.selected)],
      ['threshold', formatNumber(s.threshold)],
      ['rho = |u - C(u)|^2 / |u|^2', formatNumber(s.rho, 6)],
      ['rho of exact Top_k', formatNumber(s.rhoTopk, 6)],
      ['bound 1 - k/d', formatNumber(s.boundGeneral, 6)],
      ['bound (1 - k/d)^2', formatNumber(s.boundGaussian, 6)],
      ['delta = (2kd - k^2)/d^2', formatNumber(s.delta, 6)],
      ['overlap with Top_k', formatNumber(s.overlap)],
      ['mean', formatNumber(s.mean)],
      ['std', formatNumber(s.std)],
      ['skewness', formatNumber(s.skewness)],
      ['excess kurtosis', formatNumber(s.excessKurtosis)],
      ['time (check + select)', `${formatMs(r.milliseconds)} ms`],
    ]),
  ];
  if (s.histogram) lines.push('', histogramSketch(s.histogram.counts, s.histogram.min, s.histogram.max));
  if (r.written) lines.push('', `wrote ${r.written.indices} and ${r.written.values}`);
  return lines.join('\n');
}

const BAR = ' ▁▂▃▄▅▆▇█';

/** One line of block characters, log-scaled so the tails stay visible. */
function histogramSketch(counts: number[], min: number, max: number): string {
  const top = Math.log1p(Math.max(...counts));
  const bars = counts.map((c) => BAR[Math.round((Math.log1p(c) / (top || 1)) * (BAR.length - 1))]).join('');
  return `histogram of u (log scale) ${formatNumber(min)} |${bars}| ${formatNumber(max)}`;
}
