/** Number formatting shared by the CLI's tables. */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

export function formatNumber(x: number | null, digits = 4): string {
  if (x === null) return '-';
  if (x === 0 || !Number.isFinite(x)) return String(x);
  const magnitude = Math.abs(x);
  return magnitude >= 1e-3 && magnitude < 1e6 ? x.toPrecision(digits) : x.toExponential(digits - 1);
}

export function formatMs(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}

/** Left-aligned first column, right-aligned others, columns padded to their widest cell. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows
    .map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '))
    .join('\n');
}
