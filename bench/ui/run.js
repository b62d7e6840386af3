// The Compare chart benchmark: bundles bench/ui/page.ts with esbuild, opens it in headless
// Chromium (playwright-core) and prints the milliseconds from data arrival to chart drawn for our
// path (renderer/src/compare) and for plain Chart.js given every point; writes a results JSON.
/* global window */
// Usage: npm run bench:ui [-- --runs 10 --points 50000 --repeats 5 --out FILE]
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { format, resolveConfig } from 'prettier';

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback;
};
const runs = Number(arg('runs', 10));
const points = Number(arg('points', 50_000));
const repeats = Number(arg('repeats', 5));
const chromiumPath = arg('chromium', process.env.CHROMIUM ?? '/usr/bin/chromium');

const dir = mkdtempSync(join(tmpdir(), 'sparselab-bench-ui-'));
try {
  const bundle = (entry, outfile, options) =>
    build({
      entryPoints: [resolve(entry)],
      outfile: join(dir, outfile),
      bundle: true,
      logLevel: 'warning',
      ...options,
    });
  await bundle('bench/ui/page.ts', 'page.js', {
    format: 'iife',
    platform: 'browser',
    target: 'chrome120',
    minify: true,
  });
  // The machine description is TypeScript in main/core: bundle it for Node too.
  await bundle('main/core/bench/machine.ts', 'machine.mjs', { format: 'esm', platform: 'node' });
  writeFileSync(
    join(dir, 'index.html'),
    `<!doctype html><html><head><meta charset="utf-8"><style>body{margin:0}#box{position:relative;width:1000px;height:420px}</style></head>
<body><div id="box"></div><script src="page.js"></script></body></html>`,
  );
  const { describeMachine } = await import(pathToFileURL(join(dir, 'machine.mjs')).href);

  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless=new', '--no-sandbox', '--disable-gpu'],
  });
  let result;
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 800 }, deviceScaleFactor: 1 });
    page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
    const url = `${pathToFileURL(join(dir, 'index.html')).href}?runs=${runs}&points=${points}&repeats=${repeats}`;
    await page.goto(url);
    await page.waitForFunction(() => window.__benchResult || window.__benchError, null, { timeout: 600_000 });
    const error = await page.evaluate(() => window.__benchError);
    if (error) throw new Error(error);
    result = await page.evaluate(() => window.__benchResult);
    result.chromium = browser.version();
  } finally {
    await browser.close();
  }

  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  const rows = result.timing.map((t) => ({
    name: t.name,
    medianDrawnMs: median(t.drawnMs),
    medianFrameMs: median(t.frameMs),
    drawnPoints: t.drawnPoints,
    ...(t.buildMs
      ? { medianBuildMs: median(t.buildMs), medianDecimateMs: median(t.decimateMs), medianChartMs: median(t.chartMs) }
      : {}),
  }));
  const ours = rows[0];
  const peer = rows.find((r) => r.name.startsWith('plain'));
  const plugin = rows.find((r) => r.name.startsWith('Chart.js decimation'));
  const ratio = peer.medianDrawnMs / ours.medianDrawnMs;
  console.log(`Compare chart, ${runs} runs x ${points.toLocaleString('en-US')} points, ${repeats} repeats (median):`);
  for (const r of rows) {
    console.log(
      `  ${r.name.padEnd(66)} ${r.medianDrawnMs.toFixed(1).padStart(8)} ms drawn ${r.medianFrameMs.toFixed(1).padStart(8)} ms to next frame  (${r.drawnPoints.toLocaleString('en-US')} points drawn)`,
    );
    if (r.medianBuildMs !== undefined) {
      console.log(
        `      of which: series to curves ${r.medianBuildMs.toFixed(1)} ms, decimation ${r.medianDecimateMs.toFixed(1)} ms, Chart.js ${r.medianChartMs.toFixed(1)} ms`,
      );
    }
  }
  const pluginRatio = plugin.medianDrawnMs / ours.medianDrawnMs;
  const dashboard = rows.find((r) => r.name.includes('dashboard'));
  console.log(
    `  plain Chart.js / ours: ${ratio.toFixed(1)}x; Chart.js decimation plugin / ours: ${pluginRatio.toFixed(1)}x; target (ours under 300 ms): ${ours.medianDrawnMs < 300 ? 'met' : 'MISSED'}; the whole dashboard under 300 ms: ${dashboard.medianDrawnMs < 300 ? 'met' : 'MISSED'}`,
  );

  // The development machine is shared: the load average says how busy it was during the run.
  const machine = { ...describeMachine(), loadAverage: loadavg().map((v) => Number(v.toFixed(2))) };
  console.log(`  load average (1, 5, 15 min): ${machine.loadAverage.join(', ')} on ${machine.cores} cores`);
  const out = arg('out', `bench/ui/results/${machine.date.slice(0, 10)}-${machine.cores}core.json`);
  mkdirSync(resolve(out, '..'), { recursive: true });
  // Formatted as the repository's prettier check wants it.
  const json = JSON.stringify({ machine, ...result, summary: { rows, ratio, pluginRatio } });
  writeFileSync(out, await format(json, { ...(await resolveConfig(resolve(out))), filepath: resolve(out) }));
  console.log(`  results: ${out}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
