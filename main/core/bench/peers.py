"""Peers of SparseLab's kernels, timed on the same data in the same run.

Reads raw float32 from argv[1]; argv[2] is a JSON list of densities; prints one JSON object.
Each peer is timed only where its library is installed (Debian: python3-torch, python3-numpy).
The torch Gaussian_k follows the GaussianK-SGD reference code's structure.
"""
import json
import statistics
from statistics import NormalDist
import sys
import time


def reference_gaussian_k(x, k, density):
    """Gaussian_k as the GaussianK-SGD reference code: thr = mean + std * z, evaluated at most
    three times, halved below 2k/3 and multiplied by 1.5 above 4k/3. Returns (values, indexes)
    on x's device (also timed on CUDA by bench/gpu/torch_cuda_peers.py)."""
    indexes = reference_threshold_walk(x, k, float(x.mean()), float(x.std()), density)
    return x[indexes], indexes


def reference_threshold_walk(x, k, mean, std, density):
    """The reference's selection from given moments: |x_i| > mean + std * z, the threshold corrected
    at most three times; the indexes of the last selection evaluated."""
    thr = mean + std * NormalDist().inv_cdf(1 - density / 2)
    magnitudes = x.abs()
    for _ in range(3):
        indexes = (magnitudes > thr).nonzero().view(-1)
        if indexes.numel() < 2 * k / 3:
            thr *= 0.5
        elif indexes.numel() > 4 * k / 3:
            thr *= 1.5
        else:
            break
    return indexes


def timed(fn, repeats):
    fn()  # warm-up
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


def main():
    path, densities, repeats = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
    out = {"peers": [], "versions": {}}
    try:
        import numpy as np
    except ImportError:
        print(json.dumps(out))
        return
    out["versions"]["numpy"] = np.__version__
    data = np.fromfile(path, dtype=np.float32)
    d = data.size
    try:
        import torch
        
        out["versions"]["torch"] = torch.__version__
        out["versions"]["torch_threads"] = torch.get_num_threads()
        x = torch.from_numpy(data)
    except ImportError:
        torch = None

    def record(name, density, ms):
        out["peers"].append({"name": name, "density": density, "ms": ms})

    record("numpy.sum (read pass)", None, timed(lambda: data.sum(), repeats))
    if torch is not None:
        record("torch.sum (read pass)", None, timed(lambda: x.sum(), repeats))
    for density in densities:
        k = max(1, int(d * density))
        record("numpy.argpartition", density, timed(lambda: np.argpartition(np.abs(data), d - k)[d - k :], repeats))
        if torch is None:
            continue
        record("torch.topk", density, timed(lambda: torch.topk(x.abs(), k), repeats))

        record("torch Gaussian_k (reference)", density, timed(lambda: reference_gaussian_k(x, k, density), repeats))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
