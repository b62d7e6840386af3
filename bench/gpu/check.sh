#!/usr/bin/env bash
# Every GPU check in one go, on a GPU machine with CUDA and PyTorch but no Node: run from the
# repository root as `bash bench/gpu/check.sh KIT_DIR DEST_DIR [STEP...]` with a kit made by
# bench/gpu/pack.sh. Each step has its own time limit and log, so one failure does not stop the
# others; the last lines printed are a table of the steps and their exit codes.
set -uo pipefail
kit=$(realpath "$1")
dest=$(realpath "$2")
shift 2
# The results go back as one archive (a GPU machine may return only a few files).
out=$(mktemp -d /tmp/sparselab-gpu-check.XXXX)
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(machine kernels torch-peers training-step gpu-worker torch-ops torch-nccl cli-run)

# Node, dawn.node and (where the image lacks it) the Vulkan loader, from the kit.
mkdir -p /tmp/sparselab-node
[ -x /tmp/sparselab-node/node ] || { xz -dc "$kit/node.xz" > /tmp/sparselab-node/node && chmod +x /tmp/sparselab-node/node; }
export PATH=/tmp/sparselab-node:$PATH
dawn="$kit/node_modules/webgpu/dist/linux-x64/dawn.node"
[ -s "$dawn" ] || xz -dc "$dawn.xz" > "$dawn"
if ! ldconfig -p | grep -q 'libvulkan.so.1'; then
  for deb in "$kit"/libvulkan1_*.deb; do dpkg -x "$deb" /; done
  ldconfig
fi
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$nvidia_icd" ] && [ -z "${VK_ICD_FILENAMES:-}" ] && export VK_DRIVER_FILES=$nvidia_icd
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
# The repository's own entry points (bin/sparselab.js) load the bundled CLI and the kit's packages.
if [ -e node_modules ] && [ ! -e node_modules/.sparselab-kit ]; then
  echo "check.sh: this checkout has its own node_modules; run it on the GPU machine's copy" >&2
  exit 2
fi
rm -rf node_modules out/cli && cp -r "$kit/node_modules" node_modules && mkdir -p out && cp -r "$kit/out/cli" out/cli
python=${SPARSELAB_PYTHON:-python3}

run_step() {
  case "$1" in
    machine) nvidia-smi --query-gpu=name,driver_version,memory.total,pci.bus_id --format=csv; node --version
      "$python" -c 'import torch; print("torch", torch.__version__, torch.cuda.is_available())' ;;
    kernels) SIZES=${SIZES:-1000000,4000000,16000000,25000000,64000000} RESULTS="$out/webgpu.json" \
      node "$kit/bundles/webgpuBench.mjs" ;;
    torch-peers) "$python" bench/gpu/torch_cuda_peers.py "${SIZES:-1000000,4000000,16000000,25000000,64000000}" \
      0.001,0.01 > "$out/torch-cuda.jsonl" && tail -4 "$out/torch-cuda.jsonl" ;;
    training-step) RESULTS="$out/training-step.json" node "$kit/bundles/trainingStep.mjs" ;;
    gpu-worker) RESULTS="$out/gpu-worker.json" node "$kit/bundles/gpuWorkerCheck.mjs" ;;
    torch-ops) "$python" gpu/torch/device_check.py "$out" ;;
    torch-nccl) bash gpu/torch/examples/nccl_check.sh "$out" ;;
    cli-run) SPARSELAB_HOME=/tmp/sparselab-home node bin/sparselab.js run resources/experiments/quick-synthetic.yaml \
      --workers 1 --backend webgpu && SPARSELAB_HOME=/tmp/sparselab-home node bin/sparselab.js runs ;;
    *) echo "unknown step $1"; return 2 ;;
  esac
}

declare -A codes
for step in "${steps[@]}"; do
  echo "=== $step"
  start=$(date +%s)
  timeout "${STEP_SECONDS:-150}" bash -c "$(declare -f run_step); kit='$kit' out='$out' python='$python' run_step $step" \
    > "$out/$step.log" 2>&1
  codes[$step]="$? in $(( $(date +%s) - start )) s"
  tail -n 15 "$out/$step.log"
done
echo "=== summary"
for step in "${steps[@]}"; do echo "$step: exit ${codes[$step]}"; done | tee "$out/summary.txt"
tar czf "$dest/gpu-check.tgz" -C "$out" .
