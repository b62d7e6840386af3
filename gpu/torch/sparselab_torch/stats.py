"""The per-call report of paper.md, computed as the native statistics are
(gpu/compression/statistics.ts, common/stats.ts): rho of the operator and of exact Top_k on the
same u, the bounds 1 - k/d and (1 - k/d)^2, the overlap with Top_k, u's mean, std, skewness,
excess kurtosis and, if asked, a histogram. Keys are CompressionStats' (common/stats.ts), so the
dict serialises to the same JSON as SparseLab's."""
import math
from typing import Optional

import numpy as np
import torch

from .operators import Selection
from .operators_select import exact_topk
from .stats_moments import Moments, central_moments, histogram, sequential_sum

#: JavaScript's Number.MIN_VALUE: the histogram's extent when u is all zeros.
MIN_VALUE = 5e-324


def contraction_bounds(d: int, k: int) -> dict:
    kept = k / d
    general = 1 - kept
    return {"boundGeneral": general, "boundGaussian": general * general, "delta": (2 * k * d - k * k) / (d * d)}


def contraction_ratio(norm_squared: float, sent_values: torch.Tensor) -> float:
    """||u - C(u)||^2 / ||u||^2 = (||u||^2 - ||sent||^2) / ||u||^2, the sent squares summed in order."""
    if norm_squared <= 0:
        return 0.0
    v = sent_values.detach().cpu().numpy().astype(np.float64)
    sent = sequential_sum(v * v)
    return min(1.0, max(0.0, (norm_squared - sent) / norm_squared))


def intersection_size(a: torch.Tensor, b: torch.Tensor) -> int:
    """|a AND b| of two ascending index tensors."""
    return int(np.intersect1d(a.cpu().numpy(), b.cpu().numpy(), assume_unique=True).size)


def measure_compression(
    u: torch.Tensor,
    m: Moments,
    k: int,
    selection: Optional[Selection],
    *,
    exact_topk_selection: Optional[Selection] = None,
    histogram_bins: int = 0,
) -> dict:
    """CompressionStats of one call; `selection` None stands for Dense (every coordinate sent)."""
    d = m.count
    mean = m.sum / d
    m2, m3, m4 = central_moments(u, mean)
    variance = m2 / d
    std = math.sqrt(variance)
    if exact_topk_selection is not None:
        exact_indices, exact_values = exact_topk_selection.indices, exact_topk_selection.values
    else:
        exact_indices, exact_values = exact_topk(u, k)
    selected = selection.indices.numel() if selection is not None else d
    stats = {
        "d": d,
        "k": k,
        "selected": selected,
        "threshold": selection.threshold if selection is not None else None,
        "rho": contraction_ratio(m.sum_squares, selection.values) if selection is not None and selected < d else 0.0,
        # Everything sent leaves nothing behind: exactly 0, not the rounding of ||u||^2 - ||u||^2.
        "rhoTopk": contraction_ratio(m.sum_squares, exact_values) if exact_indices.numel() < d else 0.0,
        **contraction_bounds(d, k),
        "overlap": intersection_size(selection.indices, exact_indices) / k if selection is not None else min(1, d / k),
        "mean": mean,
        "std": std,
        "skewness": m3 / d / (variance * std) if variance > 0 else 0.0,
        "excessKurtosis": m4 / d / (variance * variance) - 3 if variance > 0 else 0.0,
    }
    if histogram_bins > 0:
        extent = max(m.max_abs, MIN_VALUE)
        stats["histogram"] = {"min": -extent, "max": extent, "counts": histogram(u, -extent, extent, histogram_bins)}
    return stats
