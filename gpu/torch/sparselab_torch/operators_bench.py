"""sparselab_torch's operators against torch.topk on the same data, in the same process, for
`npm run bench` (main/core/bench/torchPeer.ts).

    python3 -m sparselab_torch.operators_bench FILE DENSITIES_JSON REPEATS

FILE is raw float32. Each operator is timed as its compressor runs it (finiteness check,
moments where it needs them, selection; no error feedback), Top_k and torch.topk at one thread,
torch's default and every core; the other operators at torch's default. Prints one JSON object:
{"peers": [{"name", "density", "ms"}], "versions": {...}}; ms are medians.
"""
import json
import os
import statistics
import sys
import time

import numpy as np
import torch

from .memory import Compressor
from .operators import METHODS, selection_size


def timed(fn, repeats):
    fn()  # warm-up
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1e3)
    return statistics.median(samples)


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
