"""Writes the golden fixtures sparselab_torch produces (tests/fixtures/py-*), which SparseLab's
CPU kernels must reproduce (tests/unit/torch.parity.test.ts) and these tests re-check.

    /usr/bin/python3 gpu/torch/tests/make_fixtures.py
"""
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from sparselab_torch.operators import METHODS  # noqa: E402
from sparselab_torch.operators_cli import encode_npy, run_case  # noqa: E402

FIXTURES = os.path.join(HERE, "fixtures")


def subnormals(rng, n):
    bits = rng.integers(0, 1 << 23, size=n, dtype=np.uint32) | (rng.integers(0, 2, size=n, dtype=np.uint32) << 31)
    return bits.view(np.float32)


def cases():
    rng = np.random.default_rng(20261204)
    ties = (rng.integers(-3, 4, size=500) * 0.5).astype(np.float32)
    ties[ties == 0] = np.float32(-0.0) * (rng.random((ties == 0).sum()) < 0.5)
    tiny = subnormals(rng, 700)
    tiny[[5, 300]] = [1.5, -1.5]
    zeros = np.zeros(2049, dtype=np.float32)
    zeros[::3] = -0.0
    return [
        ("py-ties", ties, False),
        ("py-subnormals", tiny, False),
        ("py-student-t", (rng.standard_t(1.5, size=1100) * 1e-3).astype(np.float32), False),
        ("py-zeros", zeros, False),
        ("py-constant", np.full(1500, 7.0, dtype=np.float32), False),
        ("py-tiny-blocks", (rng.standard_normal(2100) * 1e-20).astype(np.float32), False),
        ("py-huge-blocks", (rng.standard_normal(1100) * 1e30).astype(np.float32), False),
        ("py-two", np.array([0.5, -0.5], dtype=np.float32), False),
        ("py-lognormal-big", (rng.lognormal(0, 2, size=50000) * np.sign(rng.standard_normal(50000))).astype(np.float32), True),
        ("py-ties-big", (rng.integers(-4, 5, size=30000) * 1e-3).astype(np.float32), True),
    ]


def runs_for(d, big):
    """Every method at every density edge (big inputs: two small densities and no Dense, which
    would only store the input again), as the TypeScript side."""
    if big:
        targets = [{"density": 0.001}, {"density": 0.01}]
    else:
        targets = [{"k": 1}, {"density": 0.5 / d}, {"density": 1 / d}, {"density": 0.1}, {"density": 0.5},
                   {"k": max(1, d - 1)}, {"density": 1}, {"k": d + 5}]
    return [
        {"method": m, **t, "seed": 11, "step": 0, "sampleRatio": 0.01 if big else 0.3, "bins": 16}
        for m in METHODS
        if not (big and m == "dense")
        for t in targets
    ]


def main():
    os.makedirs(FIXTURES, exist_ok=True)
    for name, data, big in cases():
        runs = runs_for(data.size, big)
        results = run_case(torch.from_numpy(data.copy()), runs)
        fixture = {"name": name, "writer": "py", "input": f"{name}.npy",
                   "runs": [{**run, **result} for run, result in zip(runs, results)]}
        with open(os.path.join(FIXTURES, f"{name}.npy"), "wb") as f:
            f.write(encode_npy(data))
        with open(os.path.join(FIXTURES, f"{name}.json"), "w") as f:
            f.write(json.dumps(fixture, separators=(",", ":")) + "\n")
        print(f"wrote {name}: d = {data.size}, {len(runs)} runs")


if __name__ == "__main__":
    main()
