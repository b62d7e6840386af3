import { writeFileSync } from 'node:fs';
import { SPARSIFIER_LABELS, sparsifierConfigSchema, type SparsifierMethod } from '../../../common/sparsifier';
import type { CompressionStats } from '../../../common/stats';
import { Compressor } from '../../../gpu/compression';
import { createKernels } from '../../../gpu/engine';
import type { BackendName } from '../../../gpu/kernels/kernels';
import { encodeNpy, readGradientFile } from '../../../gpu/io/npy';
import { formatCount, formatMs, formatNumber, table } from './format';

export interface SparsifyOptions {
  method: SparsifierMethod;
  density?: number;
  k?: number;
  backend: BackendName;
  seed: number;
  out?: string;
  json: boolean;
  bins: number;
}

export interface SparsifyReport {
  file: string;
  shape: number[];
  method: SparsifierMethod;
  backend: BackendName;
  device: string;
  /** Wall time of the compression call (finiteness check and selection), without statistics. */
  milliseconds: number;
  statistics: CompressionStats;
  written?: { indices: string; values: string };
}

export async function sparsify(file: string, options: SparsifyOptions): Promise<SparsifyReport> {
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

export function formatSparsifyReport(r: SparsifyReport): string {
  const s = r.statistics;
  const lines = [
    `${r.file}: d = ${formatCount(s.d)} (shape ${r.shape.join('x') || 'scalar'}), ${SPARSIFIER_LABELS[r.method]} on ${r.backend} (${r.device})`,
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
