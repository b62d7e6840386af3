"""The six selection operators with exactly SparseLab's semantics (gpu/operators/*.ts).

Every operator takes a flat, finite float32 tensor u (CPU or CUDA) and returns a Selection:
ascending int64 indices on u's device, u's values there, and the magnitude threshold of the kept
selection (|u_i| > threshold) or None. u is never modified.
"""
import math
from dataclasses import dataclass
from typing import Callable, Dict, Optional

import torch

from .operators_select import bits_to_float32, compact_above, count_above, exact_topk, float32_bits, top_keys
from .random import random_keys, random_order_keys, step_seed
from .stats_moments import Moments, moments

METHODS = ("dense", "topk", "gaussiank", "dgck", "trimmedk", "randk")
#: Gaussian_k evaluates the selection at most this many times, as the GaussianK-SGD reference.
MAX_EVALUATIONS = 3
#: Trimmed_k (RedSync) tries mean + r (max - mean) of |u| for these r.
TRIM_RATIOS = (0.8, 0.6, 0.4, 0.2, 0)


@dataclass
class Selection:
    indices: torch.Tensor
    values: torch.Tensor
    threshold: Optional[float]


def fround(x: float) -> float:
    """Math.fround: the nearest float32 (ties to even), as a Python float."""
    if math.isnan(x) or math.isinf(x):
        return x
    try:
        return bits_to_float32(float32_bits(x))
    except OverflowError:  # beyond float32's range: rounds to infinity
        return math.copysign(math.inf, x)


def selection_size(d: int, density: Optional[float] = None, k: Optional[int] = None) -> int:
    """k = max(1, floor(density * d)), never more than d (common/sparsifier.ts selectionSize)."""
    if not isinstance(d, int) or d < 1:
        raise ValueError(f"d must be a positive integer, got {d}")
    target = k if k is not None else math.floor((1 if density is None else density) * d)
    return min(d, max(1, target))


# Acklam's rational approximation of the normal quantile (gpu/operators/normalQuantile.ts).
_A = (-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239)
_B = (-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1)
_C = (-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783)
_D = (7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416)
_LOW = 0.02425


def _polynomial(coefficients, x: float) -> float:
    acc = 0.0
    for c in coefficients:
        acc = acc * x + c
    return acc


def normal_quantile(p: float) -> float:
    if not (0 < p < 1):
        if p == 0:
            return -math.inf
        if p == 1:
            return math.inf
        raise ValueError(f"normal quantile needs p in [0, 1], got {p}")
    if p < _LOW:
        q = math.sqrt(-2 * math.log(p))
        return _polynomial(_C, q) / (_polynomial(_D, q) * q + 1)
    if p > 1 - _LOW:
        return -normal_quantile(1 - p)
    q = p - 0.5
    r = q * q
    return (_polynomial(_A, r) * q) / (_polynomial(_B, r) * r + 1)


def gaussian_threshold(m: Moments, density: float) -> float:
    """mu + sigma * Phi^-1(1 - density / 2) from the mean and unbiased std, as float32."""
    mean = m.sum / m.count
    variance = max(0.0, (m.sum_squares - m.sum * mean) / (m.count - 1)) if m.count > 1 else 0.0
    return fround(mean + math.sqrt(variance) * normal_quantile(1 - density / 2))


def walk_corrections(start: float, k: int, count_above_fn: Callable[[float], int]) -> float:
    """The reference's correction loop: below 2k/3 halve, above 4k/3 multiply by 1.5; returns the
    threshold of the selection kept (the last evaluated)."""
    threshold = start
    for _ in range(1, MAX_EVALUATIONS):
        count = count_above_fn(threshold)
        if 3 * count < 2 * k:
            threshold = fround(threshold * 0.5)
        elif 3 * count > 4 * k:
            threshold = fround(threshold * 1.5)
        else:
            break
    return threshold


def topk(u: torch.Tensor, k: int, **_) -> Selection:
    """Exact Top_k: the k largest |u_i|, ties to the lower index; threshold = the k-th magnitude."""
    indices, values = exact_topk(u, k)
    threshold = float(values.abs().min()) if values.numel() else None
    return Selection(indices, values, threshold)


def gaussiank(u: torch.Tensor, k: int, *, moments_of_u: Optional[Moments] = None, **_) -> Selection:
    """Gaussian_k as the GaussianK-SGD reference, threshold in float32 from the native moments."""
    m = moments_of_u or moments(u)
    threshold = walk_corrections(gaussian_threshold(m, k / m.count), k, lambda t: count_above(u, t))
    indices, values = compact_above(u, threshold)
    return Selection(indices, values, threshold)


def _kth_largest(values: torch.Tensor, rank: int) -> float:
    return float(torch.sort(values, descending=True).values[rank - 1])


def _next_below(magnitude: float) -> float:
    """The float32 just below a magnitude (|x| > it <=> |x| >= magnitude); -1 for zero."""
    if magnitude <= 0:
        return -1.0
    return bits_to_float32(float32_bits(magnitude) - 1)


def dgck(u: torch.Tensor, k: int, *, seed: int = 0, sample_ratio: float = 0.01, **_) -> Selection:
    """DGC_k: the threshold ranks like the k-th in a seeded sample (with replacement) of u; every
    |u_i| >= it is a candidate, and above 4k/3 candidates exact Top_k decides."""
    d = u.numel()
    sample_size = min(d, max(1, math.ceil(sample_ratio * d)))
    positions = random_keys(seed, sample_size, device=u.device) % d
    rank = max(1, math.ceil(k * sample_size / d))
    threshold = _next_below(_kth_largest(u[positions].abs(), rank))
    if 3 * count_above(u, threshold) > 4 * k:
        indices, values = exact_topk(u, k)
    else:
        indices, values = compact_above(u, threshold)
    return Selection(indices, values, threshold)


def trimmedk(u: torch.Tensor, k: int, *, moments_of_u: Optional[Moments] = None, **_) -> Selection:
    """Trimmed_k (RedSync): the first m + r (M - m) of |u| that at least k coordinates exceed bounds
    the candidates of an exact Top_k; the selection equals Top_k's."""
    m = moments_of_u or moments(u)
    mean = m.sum_abs / m.count
    threshold = None
    for r in TRIM_RATIOS:
        level = fround(mean + r * (m.max_abs - mean))
        if count_above(u, level) >= k:
            threshold = level
            break
    indices, values = exact_topk(u, k)
    return Selection(indices, values, threshold)


def randk(u: torch.Tensor, k: int, *, seed: int = 0, **_) -> Selection:
    """Rand_k: the k coordinates with the largest randomKey(seed, i), ties to the lower index."""
    indices = top_keys(random_order_keys(seed, u.numel(), device=u.device), k)
    return Selection(indices, u[indices], None)


def dense(u: torch.Tensor, k: int = 0, **_) -> Selection:
    """Dense: every coordinate."""
    return Selection(torch.arange(u.numel(), device=u.device), u.clone(), None)


OPERATORS: Dict[str, Callable[..., Selection]] = {
    "dense": dense,
    "topk": topk,
    "gaussiank": gaussiank,
    "dgck": dgck,
    "trimmedk": trimmedk,
    "randk": randk,
}


def check_method(method: str, density: Optional[float], k: Optional[int]) -> None:
    """A known method, given exactly one of density or k (Dense needs neither): what every entry point checks."""
    if method not in OPERATORS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    if method != "dense" and (density is None) == (k is None):
        raise ValueError(f"{method}: give exactly one of density or k")


def flat_float32(u: torch.Tensor) -> torch.Tensor:
    """u as a flat contiguous float32 tensor without autograd history (a view where possible)."""
    return u.detach().reshape(-1).to(torch.float32).contiguous()


def select(
    method: str,
    u: torch.Tensor,
    *,
    density: Optional[float] = None,
    k: Optional[int] = None,
    seed: int = 0,
    step: int = 0,
    sample_ratio: float = 0.01,
) -> Selection:
    """One operator on one tensor, by name. k = max(1, floor(density * d)) unless k is given; the
    draws of Rand_k and DGC_k come from step_seed(seed, step). u must be finite (see Compressor
    for the checked path with error feedback)."""
    check_method(method, density, k)
    flat = flat_float32(u)
    size = selection_size(flat.numel(), density, k)
    return OPERATORS[method](flat, size, seed=step_seed(seed, step), sample_ratio=sample_ratio)
