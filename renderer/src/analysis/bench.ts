/**
 * The engine benchmark's results as log-log lines (time against d) per operator and backend, with the
 * peers (torch.topk and the like) and the read pass, the lower limit every operator pays, and the
 * parsing of the benchmark form's number lists.
 */
import type { BenchRecord } from '../../../common/api';
import type { BackendName, BenchResults, SparseMethod } from '../../../common/bench';
import { SPARSIFIER_LABELS } from '../../../common/sparsifier';

export type LineKind = 'operator' | 'peer' | 'readPass';

export interface BenchLine {
  /** Stable across redraws: kind, source, name. */
  id: string;
  label: string;
  kind: LineKind;
  source: string;
  method: SparseMethod | null;
  backend: BackendName | null;
  /** Sorted by d; only positive times (a log axis has no room for 0). */
  points: { x: number; y: number }[];
}

export interface LineFilter {
  density: number;
  backends?: readonly BackendName[];
  methods?: readonly SparseMethod[];
  peers?: boolean;
  readPass?: boolean;
}

/** Sizes the form offers: 2^16 .. 2^24. */
export const SIZE_PRESETS = [16, 17, 18, 19, 20, 21, 22, 23, 24].map((e) => 2 ** e);

/** "2^20" for powers of two, "4M" / "25M" / "1.5k" otherwise. */
export function formatSize(d: number): string {
  if (d > 0 && Number.isInteger(Math.log2(d))) return `2^${Math.log2(d)}`;
  if (d >= 1e9) return `${+(d / 1e9).toPrecision(3)}G`;
  if (d >= 1e6) return `${+(d / 1e6).toPrecision(3)}M`;
  if (d >= 1e3) return `${+(d / 1e3).toPrecision(3)}k`;
  return String(d);
}

function sortedPoints(pairs: [number, number][]): { x: number; y: number }[] {
  // Several repeats of one d (merged files) keep the fastest, as the median of each run already is one.
  const best = new Map<number, number>();
  for (const [x, y] of pairs) {
    if (!(x > 0) || !(y > 0) || !Number.isFinite(y)) continue;
    const prev = best.get(x);
    if (prev === undefined || y < prev) best.set(x, y);
  }
  return [...best.entries()].sort((a, b) => a[0] - b[0]).map(([x, y]) => ({ x, y }));
}

/** Lines of one record at one density; labels carry the source when `withSource`. */
export function benchLines(record: BenchRecord, filter: LineFilter, withSource = false): BenchLine[] {
  const r = record.results;
  const suffix = withSource ? ` — ${shortSource(record.source).replace(/^\d{4}-\d{2}-\d{2}-/, '')}` : '';
  const lines: BenchLine[] = [];
  const backends = filter.backends ?? (['cpu', 'webgpu'] as const);
  const methods = filter.methods;
  const groups = new Map<string, { method: SparseMethod; backend: BackendName; pairs: [number, number][] }>();
  for (const t of r.operators) {
    if (t.density !== filter.density || !backends.includes(t.backend)) continue;
    if (methods && !methods.includes(t.method)) continue;
    const key = `${t.method}/${t.backend}`;
    const g = groups.get(key) ?? { method: t.method, backend: t.backend, pairs: [] };
    g.pairs.push([t.d, t.ms]);
    groups.set(key, g);
  }
  for (const [key, g] of groups) {
    lines.push({
      id: `operator:${record.source}:${key}`,
      label: `${SPARSIFIER_LABELS[g.method]} (${g.backend})${suffix}`,
      kind: 'operator',
      source: record.source,
      method: g.method,
      backend: g.backend,
      points: sortedPoints(g.pairs),
    });
  }
  if (filter.readPass !== false) {
    for (const backend of backends) {
      const pairs = r.readPass.filter((p) => p.backend === backend).map((p): [number, number] => [p.d, p.ms]);
      if (pairs.length === 0) continue;
      lines.push({
        id: `readPass:${record.source}:${backend}`,
        label: `read pass (${backend}), lower limit${suffix}`,
        kind: 'readPass',
        source: record.source,
        method: null,
        backend,
        points: sortedPoints(pairs),
      });
    }
  }
  if (filter.peers !== false) {
    const peers = new Map<string, [number, number][]>();
    for (const p of r.peers) {
      if (p.density !== null && p.density !== filter.density) continue;
      const pairs = peers.get(p.name) ?? [];
      pairs.push([p.d, p.ms]);
      peers.set(p.name, pairs);
    }
    for (const [name, pairs] of peers) {
      lines.push({
        id: `peer:${record.source}:${name}`,
        label: `${name}${suffix}`,
        kind: 'peer',
        source: record.source,
        method: null,
        backend: null,
        points: sortedPoints(pairs),
      });
    }
  }
  return lines.filter((l) => l.points.length > 0);
}

/** Every selected record's lines; sources appear in labels once more than one record is shown. */
export function linesOf(records: BenchRecord[], filter: LineFilter): BenchLine[] {
  return records.flatMap((rec) => benchLines(rec, filter, records.length > 1));
}

/** Densities a set of results measured (operators and peers), ascending. */
export function densitiesOf(results: BenchResults[]): number[] {
  const set = new Set<number>();
  for (const r of results) {
    for (const t of r.operators) set.add(t.density);
    for (const p of r.peers) if (p.density !== null) set.add(p.density);
  }
  return [...set].sort((a, b) => a - b);
}

/** "bench/results/2026-11-28-cpu-2core.json" -> "2026-11-28-cpu-2core". */
export function shortSource(source: string): string {
  return source.replace(/^.*\//, '').replace(/\.jsonl?$/, '');
}

/** The machine a record ran on, in one line. */
export function describeMachine(r: BenchResults): string {
  const m = r.machine;
  const devices = Object.entries(r.devices)
    .map(([b, name]) => `${b}: ${name}`)
    .join('; ');
  const parts = [m.cpu, m.cores ? `${m.cores} cores` : '', m.memoryGiB ? `${Math.round(m.memoryGiB)} GiB` : ''];
  return [parts.filter(Boolean).join(', '), devices].filter(Boolean).join(' · ');
}

export interface ParsedList {
  values: number[];
  error: string | null;
}

/**
 * A list typed by hand ("1e6, 2^20, 4000000"): numbers separated by commas or spaces, 2^n allowed.
 * Every value must lie in [min, max] (and be an integer when asked); duplicates go, order ascends.
 */
export function parseNumberList(
  text: string,
  options: { min: number; max: number; integer?: boolean; name?: string },
): ParsedList {
  const name = options.name ?? 'value';
  const tokens = text
    .split(/[\s,;]+/)
    .map((t) => t.trim())
    .filter(Boolean);
  const values: number[] = [];
  for (const token of tokens) {
    const power = /^2\^(\d{1,2})$/.exec(token);
    const v = power ? 2 ** Number(power[1]) : Number(token);
    if (!Number.isFinite(v)) return { values: [], error: `"${token}" is not a number` };
    if (options.integer && !Number.isInteger(v))
      return { values: [], error: `${name} ${token} must be a whole number` };
    if (v < options.min || v > options.max)
      return { values: [], error: `${name} ${token} must be between ${options.min} and ${options.max}` };
    values.push(v);
  }
  return { values: [...new Set(values)].sort((a, b) => a - b), error: null };
}

export interface TimingRow {
  source: string;
  kind: LineKind;
  name: string;
  backend: BackendName | null;
  d: number;
  density: number | null;
  ms: number;
  readPasses: number | null;
  selected: number | null;
}

/** A flat table of one record: operators, then peers, then read passes; by d within each. */
export function timingRows(record: BenchRecord): TimingRow[] {
  const r = record.results;
  const ops: TimingRow[] = r.operators.map((t) => ({
    source: record.source,
    kind: 'operator',
    name: SPARSIFIER_LABELS[t.method],
    backend: t.backend,
    d: t.d,
    density: t.density,
    ms: t.ms,
    readPasses: t.readPasses,
    selected: t.selected,
  }));
  const peers: TimingRow[] = r.peers.map((p) => ({
    source: record.source,
    kind: 'peer',
    name: p.name,
    backend: null,
    d: p.d,
    density: p.density,
    ms: p.ms,
    readPasses: null,
    selected: null,
  }));
  const reads: TimingRow[] = r.readPass.map((p) => ({
    source: record.source,
    kind: 'readPass',
    name: 'read pass',
    backend: p.backend,
    d: p.d,
    density: null,
    ms: p.ms,
    readPasses: 1,
    selected: null,
  }));
  const byD = (a: TimingRow, b: TimingRow) => a.d - b.d || (a.density ?? 0) - (b.density ?? 0);
  return [...ops.sort(byD), ...peers.sort(byD), ...reads.sort(byD)];
}
