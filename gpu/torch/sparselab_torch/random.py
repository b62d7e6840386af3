"""Counter-based randomness bit-identical with gpu/kernels/random/random.ts.

key(seed, i) = mix32(i + mix32(seed)) with Chris Wellons' "lowbias32" mixer, all arithmetic
modulo 2^32. Tensors hold the u32 values in int64, so products never overflow: a 32x32-bit
product is split into two 32x16-bit halves.
"""
from typing import Union

import numpy as np
import torch

from .operators_paths import numpy_path

MASK32 = 0xFFFFFFFF


def _mul32_int(x: int, c: int) -> int:
    return (x * c) & MASK32


def _lowbias32(x, mul32):
    """The lowbias32 rounds on a u32 held as an int or an int64 tensor; `mul32` multiplies modulo 2^32."""
    x = x & MASK32
    x ^= x >> 16
    x = mul32(x, 0x7FEB352D)
    x ^= x >> 15
    x = mul32(x, 0x846CA68B)
    x ^= x >> 16
    return x


def mix32(x: int) -> int:
    """lowbias32 of one u32, as the TypeScript mix32."""
    return _lowbias32(x, _mul32_int)


def step_seed(seed: int, step: int) -> int:
    """Seed of the draws made at `step` (random.ts stepSeed): every step samples afresh, reproducibly."""
    return mix32(mix32(seed & MASK32) ^ _mul32_int((step + 1) & MASK32, 0x9E3779B9))


def random_key(seed: int, index: int) -> int:
    return mix32((index + mix32(seed & MASK32)) & MASK32)


def _mul32(x: torch.Tensor, c: int) -> torch.Tensor:
    low = x * (c & 0xFFFF)
    high = ((x * (c >> 16)) & 0xFFFF) << 16
    return (low + high) & MASK32


def mix32_tensor(x: torch.Tensor) -> torch.Tensor:
    """mix32 over an int64 tensor of u32 values (in place on a fresh tensor)."""
    return _lowbias32(x, _mul32)


def mix32_numpy(x: np.ndarray) -> np.ndarray:
    """mix32 over a NumPy uint32 array, in place (uint32 arithmetic wraps modulo 2^32 by definition)."""
    shifted = np.empty_like(x)
    with np.errstate(over="ignore"):
        for shift, factor in ((16, 0x7FEB352D), (15, 0x846CA68B), (16, None)):
            np.bitwise_xor(x, np.right_shift(x, np.uint32(shift), out=shifted), out=x)
            if factor is not None:
                np.multiply(x, np.uint32(factor), out=x)
    return x


def _random_keys_numpy(seed: int, n: int) -> np.ndarray:
    """randomKey(seed, i) for i < n as NumPy uint32, computed in place: several times faster than
    int64 tensors on a CPU."""
    x = np.arange(n, dtype=np.uint32)
    with np.errstate(over="ignore"):
        x += np.uint32(mix32(seed))
    return mix32_numpy(x)


def random_keys(seed: int, indices: Union[torch.Tensor, int], device: Union[str, torch.device, None] = None) -> torch.Tensor:
    """randomKey(seed, i) for each i of `indices` (an int64 tensor, or n for 0..n-1), as int64."""
    if isinstance(indices, int):
        if numpy_path(device):
            return torch.from_numpy(_random_keys_numpy(seed, indices).astype(np.int64))
        indices = torch.arange(indices, dtype=torch.int64, device=device)
    return mix32_tensor(indices.to(torch.int64) + mix32(seed))


def random_order_keys(seed: int, n: int, device: Union[str, torch.device, None] = None) -> torch.Tensor:
    """Keys ordered as randomKey(seed, i) for i < n, for selecting the largest: on a CPU int32
    keys randomKey - 2^31 (the same order, a quarter of the memory), else random_keys' int64."""
    if numpy_path(device):
        keys = _random_keys_numpy(seed, n)
        np.bitwise_xor(keys, np.uint32(1 << 31), out=keys)
        return torch.from_numpy(keys.view(np.int32))
    return random_keys(seed, n, device)
