#!/usr/bin/env bash
# The DDP example with SparseLab's hook on NCCL (one GPU, one rank), each allgather strategy and Dense,
# its metrics written as JSON Lines (for `sparselab import`) to OUTDIR, then a short summary.
#
#   gpu/torch/examples/nccl_check.sh OUTDIR            # on the GPU machine: torchrun, 1 rank, NCCL
#   gpu/torch/examples/nccl_check.sh OUTDIR --gloo     # here: 2 ranks on gloo (CPU)
#
# Environment: PYTHON (default: the first of python3, /usr/bin/python3 that imports torch),
# EPOCHS (default 1), METHOD (topk), DENSITY (0.01).
set -euo pipefail
out=${1:?usage: nccl_check.sh OUTDIR [--gloo]}
mode=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"

python=${PYTHON:-}
if [ -z "$python" ]; then
  for candidate in python3 /usr/bin/python3; do
    if "$candidate" -c 'import torch' 2>/dev/null; then python=$candidate; break; fi
  done
fi
[ -n "$python" ] || { echo "nccl_check: no python with torch (set PYTHON)" >&2; exit 1; }

if [ "$mode" = "--gloo" ]; then
  backend=gloo; ranks=2
else
  backend=nccl; ranks=1
  "$python" -c 'import sys, torch, torch.distributed as d; sys.exit(0 if torch.cuda.is_available() and d.is_nccl_available() else 1)' ||
    { echo "nccl_check: this torch has no CUDA device or no NCCL; use --gloo on a CPU machine" >&2; exit 1; }
fi
"$python" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name() if torch.cuda.is_available() else "")'

method=${METHOD:-topk}
density=${DENSITY:-0.01}
# Debian 12's torch 1.13 under Python 3.11 fails with torchrun's default --redirects/--tee of 0.
launch=("$python" -m torch.distributed.run --standalone --nproc_per_node "$ranks" --redirects 1 --tee 1)
for arm in "$method:sizes" "$method:capacity" "dense:sizes"; do
  name=${arm%%:*}-${arm##*:}
  echo "== $name ($backend, $ranks rank(s))"
  if ! SPARSELAB_HUB= "${launch[@]}" "$here/ddp_mnist.py" --backend "$backend" --method "${arm%%:*}" \
    --density "$density" --strategy "${arm##*:}" --epochs "${EPOCHS:-1}" --experiment "nccl-check-$backend" \
    --jsonl "$out/$name.jsonl" --summary "$out/$name.summary.json" >"$out/$name.log" 2>&1; then
    echo "nccl_check: $name failed; the end of $out/$name.log:" >&2
    tail -n 40 "$out/$name.log" >&2
    exit 1
  fi
  grep -E 'step [0-9]+ epoch' "$out/$name.log" | tail -n 1
done

"$python" - "$out" <<'PY'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
print("\n%-16s %6s %8s %9s %9s %9s %9s %9s %11s %9s" % (
    "arm", "steps", "loss", "ms/step", "compress", "exchange", "update", "compute", "bytes/step", "identical"))
for summary_file in sorted(out.glob("*.summary.json")):
    s = json.loads(summary_file.read_text())
    records = []
    for line in (out / summary_file.name.replace(".summary.json", ".jsonl")).read_text().splitlines():
        m = json.loads(line)
        if m.get("kind") == "iteration":
            records += m["records"]
    steady = records[1:] or records
    mean = lambda key: sum(r[key] for r in steady) / len(steady)
    print("%-16s %6d %8.4f %9.3f %9.3f %9.3f %9.3f %9.3f %11.0f %9s" % (
        summary_file.name.replace(".summary.json", ""), s["steps"], s["finalLoss"], s["msPerStep"],
        mean("compressMs"), mean("exchangeMs"), mean("updateMs"), mean("computeMs"), mean("bytesSent"),
        s["replicasIdentical"]))
print("\n(ms per rank and step; the first step left out. %s, %d rank(s), %s)" % (s["device"], s["worldSize"], s["dataset"]))
PY
