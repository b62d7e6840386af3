"""sparselab_torch's operators against torch.topk on the same data, in the same process, for
`npm run bench` (main/core/bench/torchPeer.ts, which puts gpu/torch on PYTHONPATH).

    python3 main/core/bench/torch_operators.py FILE DENSITIES_JSON REPEATS

FILE is raw float32. Each operator is timed as its compressor runs it (finiteness check,
moments where it needs them, selection; no error feedback), Top_k and torch.topk at one thread,
torch's default and every core; the other operators at torch's default. Prints one JSON object:
{"peers": [{"name", "density", "ms"}], "versions": {...}}; ms are medians.
"""
import json
import os
import sys

import numpy as np
import torch
from sparselab_torch.memory import Compressor
from sparselab_torch.operators import METHODS, selection_size

from peers import timed  # the other peers' timer: this script's folder is on sys.path


def main():
    path, densities, repeats = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
    u = torch.from_numpy(np.fromfile(path, dtype="<f4"))
    d = u.numel()
    default_threads = torch.get_num_threads()
    thread_counts = sorted({1, default_threads, os.cpu_count() or 1})
    out = {"peers": [], "versions": {"torch": torch.__version__, "numpy": np.__version__,
                                      "torch_default_threads": default_threads}}

    def label(threads):
        return f"{threads} thread{'s' if threads > 1 else ''}{', default' if threads == default_threads else ''}"

    for threads in thread_counts:
        torch.set_num_threads(threads)
        for density in densities:
            k = selection_size(d, density)
            methods = METHODS[1:] if threads == default_threads else ("topk",)
            for method in methods:
                compressor = Compressor(method, density=density, error_feedback=False, seed=1)
                ms = timed(lambda: compressor.compress(u, 0), repeats)
                out["peers"].append({"name": f"sparselab_torch {method} ({label(threads)})", "density": density, "ms": ms})
            ms = timed(lambda: torch.topk(u.abs(), k), repeats)
            out["peers"].append({"name": f"torch.topk ({label(threads)})", "density": density, "ms": ms})
    torch.set_num_threads(default_threads)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
