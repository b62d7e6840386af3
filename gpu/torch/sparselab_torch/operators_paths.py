"""Which implementation a pass takes. On a CPU the heavy passes run in NumPy, several times faster
than torch's CPU kernels for these access patterns; on CUDA they run in torch. Both give the same
bits; tests set NUMPY_ON_CPU = False to run the torch (CUDA) code on CPU tensors against the
golden fixtures."""
import torch

NUMPY_ON_CPU = True


def numpy_path(device) -> bool:
    """Whether a tensor on `device` (a torch.device, a name or None for CPU) takes the NumPy path."""
    return NUMPY_ON_CPU and torch.device(device if device is not None else "cpu").type == "cpu"
