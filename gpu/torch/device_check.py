"""sparselab_torch on a CUDA device: parity with the CPU path and the Top_k speed ratio.

    python3 gpu/torch/device_check.py OUTDIR [--require-cuda] [--d 25000000]

Checks, on CUDA tensors against the CPU path (bit for bit: indices, value bits, threshold and
the statistics): all six operators on several sizes and edge cases, error feedback over a few
steps, the refusal of a NaN, and every golden fixture (tests/fixtures). Then times exact Top_k
of sparselab_torch against torch.topk at d = 25M, density 0.001, with CUDA events, both including
the copy of the selection to the host. Writes OUTDIR/device_check.json and prints a summary.
Without CUDA it says so and runs every check on the CPU, the "device" side taking the torch code
that CUDA tensors take (the script's own smoke test, with a smaller d unless --d is given);
--require-cuda makes that an error instead.
"""
import argparse
import glob
import json
import os
import platform
import sys
import time
import traceback

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import sparselab_torch as sl  # noqa: E402
from sparselab_torch import operators_paths  # noqa: E402
from sparselab_torch.operators_cli import json_safe, read_gradient, run_case  # noqa: E402

FIXTURES = os.path.join(HERE, "tests", "fixtures")
DENSITIES = (0.001, 0.01, 0.1)


def on_device(device, fn, *args):
    """fn on the device side: CUDA, or without it the torch code path on the CPU."""
    operators_paths.NUMPY_ON_CPU = device.type != "cpu"
    try:
        return fn(*args)
    finally:
        operators_paths.NUMPY_ON_CPU = True


def inputs():
    rng = np.random.default_rng(2026)
    ties = rng.integers(-3, 4, size=70_000).astype(np.float32) * 0.25
    ties[::5] = -0.0
    subnormal_bits = rng.integers(0, 1 << 23, size=5000, dtype=np.uint32) | (rng.integers(0, 2, size=5000, dtype=np.uint32) << 31)
    return {
        "one": np.array([-1.5], dtype=np.float32),
        "normal-1023": rng.standard_normal(1023).astype(np.float32),
        "normal-1025": rng.standard_normal(1025).astype(np.float32),
        "ties-70k": ties,
        "subnormals-5k": subnormal_bits.view(np.float32),
        "zeros-4097": np.zeros(4097, dtype=np.float32),
        "constant-20k": np.full(20_000, -3.0, dtype=np.float32),
        "tiny-65537": (rng.standard_normal(65_537) * 1e-20).astype(np.float32),
        "student-t-1M": (rng.standard_t(2.5, size=1_000_000) * 1e-3).astype(np.float32),
        "normal-2M": rng.standard_normal(2_000_000).astype(np.float32),
    }


def compare(cpu, dev):
    """The first field where the two result lists differ, or None."""
    for a, b in zip(cpu, dev):
        for key in ("indices", "valuesBits", "thresholdBits", "statistics"):
            if a[key] != b[key]:
                if key == "statistics":
                    fields = [f for f in a[key] if a[key][f] != b[key].get(f)]
                    return f"statistics differ in {fields}: cpu {[a[key][f] for f in fields]} vs device {[b[key].get(f) for f in fields]}"
                return f"{key} differ"
    return None


def check_operators(device, report):
    for name, data in inputs().items():
        runs = [
            {"method": m, "density": density, "seed": 5, "step": 2, "sampleRatio": 0.01, "bins": 33}
            for m in sl.METHODS
            for density in DENSITIES
        ]
        u = torch.from_numpy(data.copy())
        started = time.perf_counter()
        cpu = run_case(u, runs)
        dev = on_device(device, run_case, u.to(device), runs)
        for run, a, b in zip(runs, cpu, dev):
            problem = compare([a], [b])
            report["cases"].append({"input": name, "d": int(data.size), "method": run["method"], "density": run["density"],
                                    "ok": problem is None, **({"problem": problem} if problem else {})})
        print(f"  {name}: {len(runs)} runs, {time.perf_counter() - started:.1f} s", flush=True)


def check_error_feedback(device, report):
    rng = np.random.default_rng(7)
    grads = [torch.from_numpy(rng.standard_t(3, size=300_000).astype(np.float32)) for _ in range(4)]
    for method in sl.METHODS:
        cpu = sl.Compressor(method, density=0.01, seed=3, name="w")
        dev = sl.Compressor(method, density=0.01, seed=3, name="w")
        ok = True
        for step, g in enumerate(grads):
            a = cpu.compress(g, step)
            b = on_device(device, dev.compress, g.to(device), step)
            ok &= torch.equal(a.indices, b.indices.cpu()) and torch.equal(a.values, b.values.cpu())
            if cpu.residual is not None:
                ok &= torch.equal(cpu.residual, dev.residual.cpu())
        report["error_feedback"].append({"method": method, "steps": len(grads), "ok": bool(ok)})
    bad = torch.ones(1000, device=device)
    bad[613] = float("nan")
    try:
        sl.Compressor("topk", density=0.01, name="fc.weight").compress(bad, 0)
        report["nan_refused"] = {"ok": False, "problem": "no error raised"}
    except sl.NonFiniteGradientError as error:
        report["nan_refused"] = {"ok": error.index == 613 and error.tensor == "fc.weight", "message": str(error)}


def check_fixtures(device, report):
    for path in sorted(glob.glob(os.path.join(FIXTURES, "*.json"))):
        with open(path) as f:
            fixture = json.load(f)
        u = torch.from_numpy(read_gradient(os.path.join(FIXTURES, fixture["input"])).copy()).to(device)
        runs = [{k: v for k, v in run.items() if k not in ("indices", "valuesBits", "thresholdBits", "statistics")} for run in fixture["runs"]]
        problem = compare(fixture["runs"], on_device(device, run_case, u, runs))
        report["fixtures"].append({"name": fixture["name"], "runs": len(runs), "ok": problem is None, **({"problem": problem} if problem else {})})


def time_topk(device, d, density, repeats):
    """Median ms of sparselab_torch's exact Top_k and of torch.topk(|u|), selection copied to host."""
    k = sl.selection_size(d, density)
    u = torch.from_numpy(np.random.default_rng(1).standard_normal(d).astype(np.float32)).to(device)
    cuda = u.is_cuda

    def ours():
        indices, values = sl.exact_topk(u, k)
        return indices.cpu(), values.cpu()

    def reference():
        values, indices = torch.topk(u.abs(), k)
        return indices.cpu(), values.cpu()

    def timed(fn):
        fn()  # warm-up
        samples = []
        for _ in range(repeats):
            if cuda:
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                torch.cuda.synchronize()
                start.record()
                fn()
                end.record()
                torch.cuda.synchronize()
                samples.append(start.elapsed_time(end))
            else:
                began = time.perf_counter()
                fn()
                samples.append((time.perf_counter() - began) * 1e3)
        return float(np.median(samples))

    ours_ms, torch_ms = timed(ours), timed(reference)
    same = torch.equal(ours()[0], torch.sort(reference()[0]).values)
    return {"d": d, "density": density, "k": k, "device": str(u.device), "repeats": repeats,
            "sparselab_torch_ms": ours_ms, "torch_topk_ms": torch_ms, "ratio": torch_ms / ours_ms,
            "same_selection": bool(same), "timing": "CUDA events" if cuda else "perf_counter"}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("outdir")
    parser.add_argument("--require-cuda", action="store_true")
    parser.add_argument("--d", type=int)
    args = parser.parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    cuda = torch.cuda.is_available()
    if not cuda:
        message = "CUDA absent: running every check on the CPU only (a smoke test of this script)"
        if args.require_cuda:
            print(message.split(":")[0], file=sys.stderr)
            return 2
        print(message, flush=True)
    device = torch.device("cuda" if cuda else "cpu")
    report = {
        "cuda": cuda,
        "device": torch.cuda.get_device_name() if cuda else platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "cuda_version": torch.version.cuda,
        "python": platform.python_version(),
        "cpu_threads": torch.get_num_threads(),
        "cases": [],
        "error_feedback": [],
        "fixtures": [],
        "timing": [],
    }
    began = time.perf_counter()
    steps = [("operators", check_operators), ("error feedback", check_error_feedback), ("fixtures", check_fixtures)]
    for title, step in steps:
        print(f"{title} on {device} against the CPU path", flush=True)
        try:
            step(device, report)
        except Exception:  # record and go on: the timing below is still worth having
            report.setdefault("crashes", []).append({"step": title, "traceback": traceback.format_exc()})
            print(traceback.format_exc(), file=sys.stderr)
    d = args.d or (25_000_000 if cuda else 2_000_000)
    print(f"timing exact Top_k at d = {d}", flush=True)
    report["timing"].append(time_topk(device, d, 0.001, repeats=20 if cuda else 3))
    if cuda:  # the CPU of the same machine, for the record
        report["timing"].append(time_topk(torch.device("cpu"), d, 0.001, repeats=3))
    failed = [c for c in report["cases"] + report["error_feedback"] + report["fixtures"] if not c["ok"]]
    nan_ok = report.get("nan_refused", {}).get("ok", False)
    report["all_ok"] = not failed and nan_ok and "crashes" not in report
    report["elapsed_s"] = time.perf_counter() - began
    with open(os.path.join(args.outdir, "device_check.json"), "w") as f:
        json.dump(json_safe(report), f, indent=1)
    print(f"parity: {len(report['cases'])} operator runs, {len(report['error_feedback'])} error-feedback sequences, "
          f"{len(report['fixtures'])} fixtures on {device}; {len(failed)} failed; NaN refused: {nan_ok}")
    for c in failed[:10]:
        print(f"  FAILED {c}")
    for t in report["timing"]:
        print(f"Top_k d={t['d']} k={t['k']} on {t['device']}: sparselab_torch {t['sparselab_torch_ms']:.2f} ms, "
              f"torch.topk {t['torch_topk_ms']:.2f} ms, ratio {t['ratio']:.2f}x, same selection: {t['same_selection']}")
    print(f"wrote {os.path.join(args.outdir, 'device_check.json')} in {report['elapsed_s']:.0f} s; all ok: {report['all_ok']}")
    return 0 if report["all_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
