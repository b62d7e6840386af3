import { SPARSIFIER_LABELS } from '../../../common/sparsifier';
import { formatCount, formatMs, table } from '../cli/format';
import type { BenchResults } from '../../../common/bench';

/** The targets of the engine issue, checked on whatever ran: ratios, never absolute times. */
export interface TargetCheck {
  description: string;
  ratio: number | null;
  required: number;
  met: boolean | null;
}

const TARGET_D = 25_000_000;
const TARGET_DENSITY = 0.001;

function scaled(ms: number | undefined, factor: number): number | undefined {
  return ms === undefined ? undefined : ms * factor;
}

export function checkTargets(results: BenchResults, backend: 'cpu' | 'webgpu' = 'cpu'): TargetCheck[] {
  const op = (method: string) =>
    results.operators.find(
      (o) => o.d === TARGET_D && o.density === TARGET_DENSITY && o.backend === backend && o.method === method,
    )?.ms;
  const peer = (name: string) =>
    results.peers.find((p) => p.d === TARGET_D && p.density === TARGET_DENSITY && p.name === name)?.ms;
  const check = (
    description: string,
    peerMs: number | undefined,
    ourMs: number | undefined,
    required: number,
  ): TargetCheck => {
    const ratio = peerMs !== undefined && ourMs !== undefined ? peerMs / ourMs : null;
    return { description, ratio, required, met: ratio === null ? null : ratio >= required };
  };
  return [
    check(`${backend} Gaussian_k vs torch.topk`, peer('torch.topk'), op('gaussiank'), backend === 'cpu' ? 10 : 3),
    check(`${backend} Top_k vs torch.topk`, peer('torch.topk'), op('topk'), backend === 'cpu' ? 3 : 2),
    check(`${backend} Top_k vs numpy.argpartition`, peer('numpy.argpartition'), op('topk'), 1),
    // The exact selection at (nearly) the approximation's cost: Top_k at most 1.2x Gaussian_k.
    check(`${backend} Top_k vs 1.2x Gaussian_k`, scaled(op('gaussiank'), 1.2), op('topk'), 1),
  ];
}

/** sparselab_torch's Top_k against torch.topk at each thread count timed in the same process (torchPeer.ts). */
function checkTorchTargets(results: BenchResults): TargetCheck[] {
  const at25M = results.peers.filter((p) => p.d === TARGET_D && p.density === TARGET_DENSITY);
  return at25M.flatMap((ours) => {
    const threads = /^sparselab_torch topk \((.*)\)$/.exec(ours.name)?.[1];
    const peer = threads === undefined ? undefined : at25M.find((p) => p.name === `torch.topk (${threads})`);
    if (!peer) return [];
    const ratio = peer.ms / ours.ms;
    return [{ description: `sparselab_torch Top_k vs torch.topk (${threads})`, ratio, required: 3, met: ratio >= 3 }];
  });
}

export function formatBench(results: BenchResults): string {
  const m = results.machine;
  const out = [
    `machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.platform}, node ${m.node}`,
    ...Object.entries(results.devices).map(([backend, device]) => `${backend}: ${device}`),
    `peers: ${
      Object.entries(results.peerVersions)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || 'none'
    }`,
    ...results.notes.map((n) => `note: ${n}`),
  ];
  const sizes = [...new Set(results.operators.map((o) => o.d).concat(results.peers.map((p) => p.d)))];
  for (const d of sizes) {
    for (const density of results.options.densities) {
      const torchTopk = results.peers.find((p) => p.d === d && p.density === density && p.name === 'torch.topk')?.ms;
      const rows = [
        [
          'd = ' + formatCount(d) + `, density ${density}`,
          'ms',
          'GPU ms',
          'read-backs',
          'x read pass',
          'speedup vs torch.topk',
          'selected',
        ],
      ];
      for (const o of results.operators.filter((o) => o.d === d && o.density === density)) {
        rows.push([
          `${SPARSIFIER_LABELS[o.method]} (${o.backend})`,
          formatMs(o.ms),
          o.gpuMs ? formatMs(o.gpuMs) : '-',
          o.readbacks === undefined ? '-' : String(o.readbacks),
          o.readPasses.toFixed(1),
          torchTopk ? (torchTopk / o.ms).toFixed(1) + 'x' : '-',
          formatCount(o.selected),
        ]);
      }
      for (const r of results.readPass.filter((r) => r.d === d))
        rows.push([`read pass (${r.backend})`, formatMs(r.ms), '', '', '1.0', '', '']);
      for (const p of results.peers.filter((p) => p.d === d && (p.density === density || p.density === null))) {
        rows.push([p.name, formatMs(p.ms), '', '', '', torchTopk ? (torchTopk / p.ms).toFixed(1) + 'x' : '-', '']);
      }
      out.push('', table(rows));
    }
  }
  if (results.training) out.push('', formatTraining(results.training));
  const checks = [
    ...Object.keys(results.devices).flatMap((b) => checkTargets(results, b as 'cpu' | 'webgpu')),
    ...checkTorchTargets(results),
  ];
  const measured = checks.filter((c) => c.ratio !== null);
  if (measured.length > 0) {
    out.push('', 'targets at d = 25M, density 0.001:');
    for (const c of measured) {
      out.push(`  ${c.met ? 'met    ' : 'MISSED '} ${c.description}: ${c.ratio!.toFixed(1)}x (target ${c.required}x)`);
    }
  }
  return out.join('\n');
}

function formatTraining(t: NonNullable<BenchResults['training']>): string {
  const ms = (x: number | null) => (x === null ? '-' : formatMs(x));
  return [
    `training ${t.experiment}, ${t.workers} workers, ${t.epochs} epochs: mean ms per iteration and rank`,
    table([
      [
        'arm',
        'iteration',
        'compute',
        'compress',
        'exchange',
        'update',
        'overhead',
        'of it waiting for a CPU',
        'overhead without waits',
      ],
      ...t.arms.map((a) => [
        a.arm,
        ms(a.iterationMs),
        ms(a.computeMs),
        ms(a.compressMs),
        ms(a.exchangeMs),
        ms(a.updateMs),
        a.overhead === null ? '-' : `${(100 * a.overhead).toFixed(0)}%`,
        a.cpuWaitMs === null || a.iterationMs === null ? '-' : `${((100 * a.cpuWaitMs) / a.iterationMs).toFixed(0)}%`,
        a.activeOverhead === null ? '-' : `${(100 * a.activeOverhead).toFixed(0)}%`,
      ]),
    ]),
  ].join('\n');
}
