/**
 * Colours stable per arm, the same in every view (Compare, Gradients, Kernels): each method has its
 * own hue (Dense is always dark grey, Gaussian_k always orange...) and point marker, other names hash
 * into the palette; when two groups on screen would share a colour, the later one (by name) moves to
 * the next free one.
 */
export const PALETTE = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#17becf',
  '#bcbd22',
  '#7f7f7f',
  '#393b79',
  '#ad494a',
] as const;

const METHOD_SLOT: Record<string, number> = {
  topk: 0,
  gaussiank: 1,
  dgck: 2,
  trimmedk: 4,
  randk: 3,
  dense: 9,
};

/** A point marker (Chart.js point style). */
type Marker = 'circle' | 'triangle' | 'rect' | 'rectRot' | 'crossRot' | 'star';

/** Marker per method, so arms whose lines coincide (Top_k and Trimmed_k select the same) stay apart. */
const METHOD_MARKER: Record<string, Marker> = {
  dense: 'rect',
  topk: 'circle',
  gaussiank: 'triangle',
  dgck: 'rectRot',
  trimmedk: 'crossRot',
  randk: 'star',
};

/** A method's marker (every view's); other names get a circle. */
export function methodMarker(method: string | undefined): Marker {
  return METHOD_MARKER[method ?? ''] ?? 'circle';
}

/** The markers as text, for legends drawn by the page. */
export const MARKER_GLYPH: Record<Marker, string> = {
  circle: '●',
  triangle: '▲',
  rect: '■',
  rectRot: '◆',
  crossRot: '✕',
  star: '✳',
};

/** A method's own colour (the one every view draws it in). */
export function methodColor(method: string): string {
  return PALETTE[METHOD_SLOT[method] ?? hash(method) % PALETTE.length]!;
}

function hash(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** The palette slot an arm prefers: its method's, or its name's hash. */
export function preferredSlot(arm: string, method?: string): number {
  const slot = method !== undefined ? METHOD_SLOT[method] : undefined;
  if (slot !== undefined) return slot;
  return hash(arm) % PALETTE.length;
}

export interface ColorRequest {
  key: string;
  arm: string;
  method?: string;
}

/** One colour per key; keys are handled in sorted order so the result does not depend on input order. */
export function assignColors(requests: readonly ColorRequest[]): Map<string, string> {
  const sorted = [...requests].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const used = new Set<number>();
  const out = new Map<string, string>();
  for (const r of sorted) {
    if (out.has(r.key)) continue;
    let slot = preferredSlot(r.arm, r.method);
    for (let tries = 0; tries < PALETTE.length && used.has(slot); tries++) slot = (slot + 1) % PALETTE.length;
    used.add(slot);
    out.set(r.key, PALETTE[slot]!);
  }
  return out;
}

/** The colour with an alpha, for bands. */
export function withAlpha(hex: string, alpha: number): string {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

/** Dash patterns telling seeds (or experiments) of one colour apart. */
export const DASHES: readonly number[][] = [[], [6, 3], [2, 2], [8, 3, 2, 3], [1, 3]];
