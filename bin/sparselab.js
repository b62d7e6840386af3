#!/usr/bin/env node
// The CLI is bundled to out/cli by `npm run build:cli` (run by `npm test`, `npm run bench` and `npm run build`).
import { existsSync } from 'node:fs';

const bundle = new URL('../out/cli/sparselab.js', import.meta.url);
if (!existsSync(bundle)) {
  console.error('sparselab: the CLI is not built yet; run `npm run build:cli` in the SparseLab folder first.');
  process.exit(1);
}
const { main } = await import(bundle.href);
await main(process.argv);
