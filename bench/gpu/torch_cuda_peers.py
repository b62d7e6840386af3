"""torch.topk and the reference Gaussian_k on a CUDA GPU, timed like SparseLab's WebGPU bench:
from data on the device to the selection's indices and values on the host. Prints JSON lines."""
import json
from pathlib import Path
import sys

import torch

# The reference Gaussian_k and the timer, shared with the CPU peers (run from the repository root or anywhere).
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "main" / "core" / "bench"))
import peers  # noqa: E402
from peers import reference_gaussian_k  # noqa: E402


def timed(fn, repeats=10):
    """The CPU peers' timer (median ms after a warm-up), each call waiting for the GPU to finish."""
    return peers.timed(lambda: (fn(), torch.cuda.synchronize()), repeats)


def main():
    sizes = [int(s) for s in sys.argv[1].split(",")]
    densities = [float(s) for s in sys.argv[2].split(",")]
    device = torch.device("cuda")
    print(json.dumps({"device": torch.cuda.get_device_name(0), "torch": torch.__version__}))
    for d in sizes:
        x = torch.randn(d, device=device)
        print(json.dumps({"d": d, "name": "torch.sum (read pass)", "ms": timed(lambda: x.sum().item())}))
        for density in densities:
            k = max(1, int(d * density))

            def topk():
                values, indices = torch.topk(x.abs(), k)
                return values.cpu(), indices.cpu()

            def gaussian_k():
                values, indexes = reference_gaussian_k(x, k, density)
                return values.cpu(), indexes.cpu()

            print(json.dumps({"d": d, "density": density, "name": "torch.topk (cuda)", "ms": timed(topk)}))
            print(json.dumps({"d": d, "density": density, "name": "torch Gaussian_k (cuda, reference)", "ms": timed(gaussian_k)}))


if __name__ == "__main__":
    main()
