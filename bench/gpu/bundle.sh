#!/bin/sh
# Bundles the GPU machine's entry points for a machine with Node but without node_modules
# (run the bundles with the `webgpu` package beside them):
#   SIZES=25000000 RESULTS=webgpu-bench.json node webgpuBench.mjs
#   MODELS=vgg16,resnet20 RESULTS=training-step.json node trainingStep.mjs
# WGSL shaders are imported as text; TensorFlow.js needs require() inside the ES module.
set -e
out=${1:-bench/gpu/dist}
mkdir -p "$out"
for entry in webgpuBench trainingStep; do
  npx esbuild "bench/gpu/$entry.ts" --bundle --platform=node --format=esm --external:webgpu \
    --loader:.wgsl=text \
    "--banner:js=import { createRequire as sparselabCreateRequire } from 'node:module'; const require = sparselabCreateRequire(import.meta.url);" \
    --outfile="$out/$entry.mjs" --log-level=warning
done
cp bench/gpu/torch_cuda_peers.py "$out/"
echo "bundled into $out"
