// Bundles the command line (main/core/cli) into out/cli/sparselab.js; packages stay external.
import { build } from 'esbuild';

await build({
  entryPoints: { sparselab: 'main/core/cli/index.ts' },
  outdir: 'out/cli',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  // The worker's TensorFlow.js loads only in `sparselab worker`, not in every command.
  splitting: true,
  loader: { '.wgsl': 'text' },
  sourcemap: true,
  logLevel: 'warning',
});
