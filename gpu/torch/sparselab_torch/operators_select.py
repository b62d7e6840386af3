"""Exact selection primitives on float32 bit patterns, vectorised for CPU and CUDA tensors.

Magnitudes are compared as the float32 bits of |u| with the sign cleared (int32 keys), so -0
equals 0 and subnormals are ordered even where a device flushes them. Exact top-k orders by key
descending and breaks ties by the lower index; results list indices ascending.

Top-k is exact and never depends on sampling luck, only its speed does (as the native CPU
kernel, gpu/kernels/select/cpu.ts): a stratified sample of the keys estimates a threshold that a
few more than k coordinates reach, one pass keeps those candidates, and the exact selection runs
on the candidates only. When the estimate misses (too few or too many candidates, heavy ties,
k close to d) the exact selection runs over the whole vector.
"""
import math
import struct

import numpy as np
import torch

from .operators_paths import numpy_path

from .random import mix32_numpy, mix32_tensor

MAGNITUDE_MASK = 0x7FFFFFFF
#: Keys sampled to estimate a candidate threshold.
SAMPLE = 65536
#: Below this length the sample costs more than it saves.
WHOLE_SELECT_MAX_LENGTH = 1 << 14
#: Above this fraction of candidates the whole-vector selection is used.
MAX_CANDIDATE_FRACTION = 0.25
_SAMPLE_SALT = 0x2545F491
_INDEX_BITS = 31


def float32_bits(value: float) -> int:
    """The IEEE float32 bit pattern of `value` (which must be float32-representable or is rounded)."""
    return struct.unpack("<I", struct.pack("<f", value))[0]


def bits_to_float32(bits: int) -> float:
    return struct.unpack("<f", struct.pack("<I", bits & 0xFFFFFFFF))[0]


def threshold_bits(t: float) -> int:
    """|t| as float32 bits; -1 (admits every coordinate) for t < 0."""
    if t < 0:
        return -1
    return float32_bits(t) & MAGNITUDE_MASK


def magnitude_keys(u: torch.Tensor) -> torch.Tensor:
    """The int32 keys |u_i| as float32 bits (u is a flat float32 tensor)."""
    return u.view(torch.int32) & MAGNITUDE_MASK


def _beyond(a: np.ndarray, t: np.float32, inclusive: bool) -> np.ndarray:
    """|a| > t (or >= t) for t >= 0 without materialising |a|: x > t or x < -t. NumPy's float
    compares equal the bit compare for finite values (-0 == 0, subnormals ordered, no flushing)."""
    compare, mirror = (np.greater_equal, np.less_equal) if inclusive else (np.greater, np.less)
    passing = compare(a, t)
    np.logical_or(passing, mirror(a, -t), out=passing)
    return passing


def count_above(u: torch.Tensor, threshold: float) -> int:
    """Number of coordinates with |u_i| > threshold."""
    if threshold < 0:
        return u.numel()
    if numpy_path(u.device):
        a, t = u.numpy(), np.float32(threshold)
        return int(np.count_nonzero(np.greater(a, t))) + int(np.count_nonzero(np.less(a, -t)))
    return int((magnitude_keys(u) > threshold_bits(threshold)).sum())


def compact_above(u: torch.Tensor, threshold: float):
    """Every coordinate with |u_i| > threshold: (ascending int64 indices, values)."""
    if threshold < 0:
        indices = torch.arange(u.numel(), device=u.device)
    elif numpy_path(u.device):
        indices = torch.from_numpy(np.flatnonzero(_beyond(u.numpy(), np.float32(threshold), False)).astype(np.int64))
    else:
        indices = torch.nonzero(magnitude_keys(u) > threshold_bits(threshold)).view(-1)
    return indices, u[indices]


def _composite(keys: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """One int64 per coordinate ordering by key descending, then index ascending. int32 keys
    order as signed integers; int64 keys hold u32 values, shifted by -2^31 so the product fits."""
    wide = keys.to(torch.int64)
    if keys.dtype == torch.int64:
        wide = wide - (1 << 31)
    return (wide << _INDEX_BITS) + ((1 << _INDEX_BITS) - 1 - indices)


def _top_of(keys: torch.Tensor, indices: torch.Tensor, k: int) -> torch.Tensor:
    chosen = torch.topk(_composite(keys, indices), k, sorted=False).indices
    return torch.sort(indices[chosen]).values


def _stratified_sample(keys: torch.Tensor, n: int, s: int) -> torch.Tensor:
    """One key from each of s equal strata, at a hashed offset, so periodic structure cannot bias it."""
    j = torch.arange(s, dtype=torch.int64, device=keys.device)
    lo = (j * n) // s
    hi = ((j + 1) * n) // s
    return keys[lo + mix32_tensor(j ^ _SAMPLE_SALT) % (hi - lo)]


def top_keys(keys: torch.Tensor, k: int, whole_select_max_length: int = WHOLE_SELECT_MAX_LENGTH) -> torch.Tensor:
    """Ascending indices of the k largest keys (ties to the lower index); keys are int32 (signed
    order) or int64 holding u32 values."""
    n = keys.numel()
    device = keys.device
    if k <= 0 or n == 0:
        return torch.zeros(0, dtype=torch.int64, device=device)
    if k >= n:
        return torch.arange(n, dtype=torch.int64, device=device)
    plan = _sample_size_and_rank(n, k) if n > whole_select_max_length else None
    if plan is not None:
        s, rank = plan
        sampled = torch.topk(_stratified_sample(keys, n, s), rank, sorted=True).values[-1]
        if numpy_path(device):
            candidates = torch.from_numpy(np.flatnonzero(keys.numpy() >= int(sampled)).astype(np.int64))
        else:
            candidates = torch.nonzero(keys >= sampled).view(-1)
        if k <= candidates.numel() <= n * MAX_CANDIDATE_FRACTION:
            return _top_of(keys[candidates], candidates, k)
    return _top_of(keys, torch.arange(n, dtype=torch.int64, device=device), k)


def _sample_size_and_rank(n: int, k: int):
    """The sample size and the rank in it whose key a few more than k coordinates reach (a 4-sigma
    margin), or None where the candidates would be too many to save work."""
    s = min(SAMPLE, n)
    expected = k * s / n
    rank = min(s, math.ceil(expected + 4 * math.sqrt(expected) + 4))
    return (s, rank) if rank * n / s <= n * MAX_CANDIDATE_FRACTION else None


def _exact_topk_numpy(a: np.ndarray, k: int) -> np.ndarray:
    """exact_topk's indices on a CPU, all in NumPy on the calling thread (torch's small parallel ops
    cost more in thread wake-ups than they compute)."""
    n = a.size
    bits = a.view(np.int32)
    plan = _sample_size_and_rank(n, k)
    if plan is not None:
        s, rank = plan
        j = np.arange(s, dtype=np.int64)
        lo = (j * n) // s
        offsets = mix32_numpy((j ^ _SAMPLE_SALT).astype(np.uint32)).astype(np.int64) % (((j + 1) * n) // s - lo)
        sample = bits[lo + offsets] & MAGNITUDE_MASK
        sampled = int(np.partition(sample, s - rank)[s - rank])
        if sampled > 0:
            candidates = np.flatnonzero(_beyond(a, np.int32(sampled).view(np.float32), True))
            if k <= candidates.size <= n * MAX_CANDIDATE_FRACTION:
                return _top_of_numpy(bits[candidates] & MAGNITUDE_MASK, candidates, k)
    return _top_of_numpy(bits & MAGNITUDE_MASK, np.arange(n, dtype=np.int64), k)


def _top_of_numpy(keys: np.ndarray, indices: np.ndarray, k: int) -> np.ndarray:
    composite = (keys.astype(np.int64) << _INDEX_BITS) + ((1 << _INDEX_BITS) - 1 - indices)
    return np.sort(indices[np.argpartition(composite, composite.size - k)[composite.size - k :]])


def exact_topk(u: torch.Tensor, k: int, whole_select_max_length: int = WHOLE_SELECT_MAX_LENGTH):
    """Exact Top_k of a flat float32 tensor: (ascending int64 indices, values).

    Faster than torch.topk at large d and small k: the exact selection runs on candidates only."""
    u = u.detach().reshape(-1)
    if u.dtype != torch.float32:
        raise TypeError(f"exact_topk needs float32, got {u.dtype}")
    n = u.numel()
    if not 0 < k < n or n <= whole_select_max_length:
        indices = top_keys(magnitude_keys(u), k, whole_select_max_length=n)
    elif numpy_path(u.device):
        indices = torch.from_numpy(_exact_topk_numpy(u.numpy(), k))
    else:
        indices = top_keys(magnitude_keys(u), k)
    return indices, u[indices]
