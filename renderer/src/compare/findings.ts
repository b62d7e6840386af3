/**
 * The comparison in a sentence per arm, above Compare's dashboard: each arm's final accuracy (or
 * perplexity) and bytes sent per iteration against exact Top_k of the same experiment, the operator
 * the others approximate. The MNIST finding (same accuracy, Gaussian_k sending about twice Top_k's
 * bytes) reads off it without touching a control.
 */
import type { RunComparison } from '../../../common/api';
import { armLabel } from './names';
import { usesPerplexity } from './summary';

export interface Finding {
  key: string;
  arm: string;
  method: string;
  text: string;
}

interface ArmMeans {
  key: string;
  arm: string;
  method: string;
  metric: number | null;
  bytes: number | null;
  runs: number;
}

function mean(values: (number | null)[]): number | null {
  const finite = values.filter((v): v is number => v !== null && Number.isFinite(v));
  return finite.length ? finite.reduce((a, b) => a + b, 0) / finite.length : null;
}

function ratioText(r: number): string {
  return r >= 10 ? `${r.toFixed(0)}×` : `${r.toFixed(2)}×`;
}

/** One sentence per arm that is not the reference, per experiment that has a finished Top_k arm. */
export function findings(rows: readonly RunComparison[]): Finding[] {
  const perplexity = usesPerplexity(rows);
  const groups = new Map<string, RunComparison[]>();
  for (const r of rows) {
    const key = `${r.experimentId}/${r.arm}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const arms: ArmMeans[] = [...groups.entries()].map(([key, runs]) => ({
    key,
    arm: runs[0]!.arm,
    method: runs[0]!.armConfig.method,
    metric: mean(runs.map((r) => (perplexity ? r.finalPerplexity : r.finalAccuracy))),
    bytes: mean(runs.map((r) => r.meanBytesSent)),
    runs: runs.length,
  }));
  const fmtMetric = (v: number | null) =>
    v === null ? '–' : perplexity ? `perplexity ${v.toFixed(1)}` : `${(v * 100).toFixed(2)}%`;
  const out: Finding[] = [];
  for (const experimentId of new Set(rows.map((r) => r.experimentId))) {
    const mine = arms.filter((a) => a.key.startsWith(`${experimentId}/`));
    const reference = mine.find((a) => a.method === 'topk' && a.bytes !== null && a.bytes > 0);
    if (!reference) continue;
    // "Top_k" where the experiment has one Top_k arm; its full arm name where there are several.
    const refName =
      mine.filter((a) => a.method === 'topk').length === 1
        ? armLabel('topk', 'topk')
        : armLabel(reference.arm, reference.method);
    const order = ['gaussiank', 'dgck', 'trimmedk', 'randk', 'topk', 'dense'];
    mine.sort(
      (a, b) => (order.indexOf(a.method) + 1 || 99) - (order.indexOf(b.method) + 1 || 99) || a.arm.localeCompare(b.arm),
    );
    for (const a of mine) {
      if (a === reference || a.bytes === null) continue;
      const seeds = a.runs > 1 ? ` (mean of ${a.runs} seeds)` : '';
      const bytes = `${ratioText(a.bytes / reference.bytes!)} ${refName}'s bytes per iteration`;
      out.push({
        key: a.key,
        arm: a.arm,
        method: a.method,
        text: `${armLabel(a.arm, a.method)}${seeds}: ${fmtMetric(a.metric)} against ${refName}'s ${fmtMetric(reference.metric)}, sending ${bytes}.`,
      });
    }
  }
  return out;
}
