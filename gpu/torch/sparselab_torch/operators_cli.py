"""Command line behind `sparselab sparsify --engine torch` (main/core/cli/sparsify.ts) and the
TypeScript parity tests: runs sparselab_torch's operators on a gradient dump and prints JSON.

    python3 -m sparselab_torch.operators_cli FILE --method topk --density 0.001 [--k K] [--seed S]
        [--bins B] [--out PREFIX] [--device cpu|cuda]
    python3 -m sparselab_torch.operators_cli --batch REQUEST.json

FILE is a .npy (float32, any shape) or raw little-endian float32. A single run prints the
sparsify report (statistics as CompressionStats); --out writes PREFIX.indices.npy (uint32,
ascending) and PREFIX.values.npy (float32) byte for byte as SparseLab's encodeNpy. A batch
request {"cases": [{"file": F, "runs": [{"method", "density" | "k", "seed", "step",
"sampleRatio", "bins"}]}]} prints every run's indices, value bits, threshold bits and statistics.
"""
import argparse
import json
import sys
import time

import numpy as np
import torch

from .memory import Compressor, NonFiniteGradientError
from .operators import METHODS
from .operators_select import float32_bits


def read_gradient(path: str) -> np.ndarray:
    if path.endswith(".npy"):
        array = np.load(path, allow_pickle=False)
        if array.dtype != np.float32:
            raise ValueError(f"{path}: expected float32, found {array.dtype}; convert with a.astype(np.float32)")
        return array
    raw = np.fromfile(path, dtype="<f4")
    return raw


def encode_npy(data: np.ndarray) -> bytes:
    """1-D .npy version 1.0 exactly as gpu/io/npy.ts encodeNpy writes it."""
    descr = {np.dtype("<f4"): "<f4", np.dtype("<u4"): "<u4", np.dtype("<i4"): "<i4"}[data.dtype]
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': ({data.size},), }}"
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + data.tobytes()


def _compressor(run: dict, d: int) -> Compressor:
    return Compressor(
        run["method"],
        density=run.get("density"),
        k=run.get("k"),
        error_feedback=False,
        seed=run.get("seed", 0),
        sample_ratio=run.get("sampleRatio", 0.01),
        length=d,
    )


def json_safe(value):
    """JSON as JavaScript's JSON.stringify writes it: non-finite numbers become null, -0 is 0."""
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        return value + 0.0  # -0.0 + 0.0 == +0.0
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_safe(item) for item in value]
    return value


def _bits(value):
    return None if value is None else float32_bits(value)


def run_case(u: torch.Tensor, runs: list) -> list:
    """Each run on the flat float32 tensor u, in the parity fixtures' form (float32 as bits)."""
    results = []
    for run in runs:
        out = _compressor(run, u.numel()).compress(u, run.get("step", 0), histogram_bins=run.get("bins", 0))
        results.append(
            json_safe(
                {
                    "indices": out.indices.cpu().tolist(),
                    "valuesBits": out.values.cpu().numpy().view(np.uint32).tolist(),
                    "thresholdBits": _bits(out.threshold),
                    "statistics": out.statistics,
                }
            )
        )
    return results


def run_batch(request: dict, device: str) -> dict:
    cases = []
    for case in request["cases"]:
        u = torch.from_numpy(read_gradient(case["file"]).reshape(-1).copy()).to(device)
        cases.append({"results": run_case(u, case["runs"])})
    return {"cases": cases}


def run_one(args) -> dict:
    array = read_gradient(args.file)
    u = torch.from_numpy(array.reshape(-1).copy()).to(args.device)
    run = {"method": args.method, "density": args.density, "k": args.k, "seed": args.seed}
    compressor = _compressor(run, u.numel())
    # The first call also warms up; the second is the one timed (as the native engine's sparsify).
    result = compressor.compress(u, 0, histogram_bins=args.bins)
    if u.is_cuda:
        torch.cuda.synchronize()
    started = time.perf_counter()
    compressor.compress(u, 0)
    if u.is_cuda:
        torch.cuda.synchronize()
    milliseconds = (time.perf_counter() - started) * 1e3
    report = {
        "file": args.file,
        "shape": list(array.shape),
        "method": args.method,
        "engine": "torch",
        "backend": "cpu" if args.device == "cpu" else "cuda",
        "device": torch.cuda.get_device_name() if u.is_cuda else f"torch {torch.__version__} CPU ({torch.get_num_threads()} threads)",
        "milliseconds": milliseconds,
        "statistics": result.statistics,
    }
    if args.out:
        paths = {"indices": f"{args.out}.indices.npy", "values": f"{args.out}.values.npy"}
        with open(paths["indices"], "wb") as f:
            f.write(encode_npy(result.indices.cpu().numpy().astype("<u4")))
        with open(paths["values"], "wb") as f:
            f.write(encode_npy(result.values.cpu().numpy().astype("<f4")))
        report["written"] = paths
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m sparselab_torch.operators_cli")
    parser.add_argument("file", nargs="?")
    parser.add_argument("--batch")
    parser.add_argument("--method", choices=METHODS)
    parser.add_argument("--density", type=float)
    parser.add_argument("--k", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bins", type=int, default=41)
    parser.add_argument("--out")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    try:
        if args.batch:
            with open(args.batch) as f:
                print(json.dumps(json_safe(run_batch(json.load(f), args.device))))
            return 0
        if not args.file or not args.method:
            parser.error("give FILE and --method, or --batch REQUEST.json")
        print(json.dumps(json_safe(run_one(args))))
        return 0
    except (NonFiniteGradientError, ValueError, OSError) as error:
        print(f"sparselab_torch: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
