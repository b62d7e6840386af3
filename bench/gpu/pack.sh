#!/usr/bin/env bash
# Packs what the GPU checks need for a GPU machine that has CUDA, PyTorch and Python but no Node
# and no network: a compressed Node binary, dawn.node (the `webgpu` package's Linux build), the
# Vulkan loader, better-sqlite3's native build, and esbuild bundles of the TypeScript checks.
# Usage: bench/gpu/pack.sh [KIT_DIR]   (default .devkit; run after `npm ci`, on x86-64 Linux)
# On the GPU machine, bench/gpu/check.sh KIT_DIR OUT_DIR unpacks it and runs every check.
set -euo pipefail
cd "$(dirname "$0")/../.."
kit=${1:-.devkit}
mkdir -p "$kit/bundles" "$kit/node_modules/webgpu/dist/linux-x64"
touch "$kit/node_modules/.sparselab-kit" # check.sh replaces only a node_modules it made

[ -s "$kit/node.xz" ] || xz -T2 -6 -c "$(command -v node)" > "$kit/node.xz"
cp node_modules/webgpu/package.json node_modules/webgpu/index.js "$kit/node_modules/webgpu/"
[ -s "$kit/node_modules/webgpu/dist/linux-x64/dawn.node.xz" ] ||
  xz -T2 -6 -c node_modules/webgpu/dist/linux-x64/dawn.node > "$kit/node_modules/webgpu/dist/linux-x64/dawn.node.xz"
for pkg in better-sqlite3 bindings file-uri-to-path; do
  mkdir -p "$kit/node_modules/$pkg"
  cp -r "node_modules/$pkg/package.json" "node_modules/$pkg/lib" "$kit/node_modules/$pkg/" 2>/dev/null ||
    cp node_modules/$pkg/*.js node_modules/$pkg/package.json "$kit/node_modules/$pkg/"
done
mkdir -p "$kit/node_modules/better-sqlite3/build/Release"
cp node_modules/better-sqlite3/build/Release/better_sqlite3.node "$kit/node_modules/better-sqlite3/build/Release/"

# Debian's Vulkan loader: Dawn opens libvulkan.so.1, which the GPU machine's image may lack.
if ! ls "$kit"/libvulkan1_*.deb >/dev/null 2>&1; then
  lists=$(mktemp -d)
  mkdir -p "$lists/partial"
  o="-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=$lists"
  apt-get $o update -qq && (cd "$kit" && apt-get $o download libvulkan1)
fi

# Every TypeScript check, and the CLI as out/cli/sparselab.js (what bin/sparselab.js loads, so runs
# spawn real worker processes), one self-contained ES module each: only `webgpu` and
# better-sqlite3 stay external, as they carry native code.
bundle() {
  npx esbuild "$1" --bundle --platform=node --format=esm --target=node20 \
    --external:webgpu --external:better-sqlite3 --loader:.wgsl=text \
    --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" \
    --outfile="$2" --log-level=warning
}
for check in webgpuBench trainingStep gpuWorkerCheck; do bundle "bench/gpu/$check.ts" "$kit/bundles/$check.mjs"; done
bundle main/core/cli/index.ts "$kit/out/cli/sparselab.js"
du -sh "$kit"
