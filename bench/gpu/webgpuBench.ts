/**
 * The engine benchmark on the WebGPU backend alone, for a GPU machine that has Node but not
 * this repository's node_modules: bundled by bench/gpu/pack.sh with esbuild.
 */
import { writeFileSync } from 'node:fs';
import { formatBench } from '../../main/core/bench/report';
import { SPARSE_METHODS } from '../../common/bench';
import { runBench } from '../../main/core/bench/run';

const sizes = (process.env.SIZES ?? '1000000,4000000,16000000,25000000,64000000').split(',').map(Number);
const results = await runBench({
  sizes,
  densities: [0.001, 0.01],
  backends: ['webgpu'],
  methods: [...SPARSE_METHODS],
  repeats: 10,
  peers: false,
  tfjsMaxSize: 0,
  onProgress: (line) => process.stderr.write(`${line}\n`),
});
writeFileSync(process.env.RESULTS ?? 'webgpu-bench.json', JSON.stringify(results, null, 2));
console.log(formatBench(results));
