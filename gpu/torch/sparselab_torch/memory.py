"""Error feedback (GRACE's "memory") and one tensor's compressor, as gpu/compression/*.ts.

Compressor.compress(gradient, step) checks the gradient, forms u = gradient + residual, selects
with the configured operator, measures the statistics if asked, and keeps the residual
e = u - C(u). A NaN or infinity raises NonFiniteGradientError naming the tensor and the first bad
index, and leaves the residual untouched.
"""
from dataclasses import dataclass
from typing import Optional

import torch

from .operators import OPERATORS, Selection, check_method, flat_float32, selection_size
from .random import step_seed
from .stats import measure_compression
from .stats_moments import first_non_finite, moments


class NonFiniteGradientError(ValueError):
    """A NaN or infinity reached the compressor: training must stop rather than select silently."""

    def __init__(self, tensor: str, index: int, value: float, source: str):
        self.tensor, self.index, self.value, self.source = tensor, index, value, source
        # Spelled as SparseLab's own message (JavaScript's NaN, Infinity).
        text = "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
        if source == "gradient":
            message = f'gradient of tensor "{tensor}" has {text} at index {index}'
        else:
            message = f'gradient + residual of tensor "{tensor}" overflowed to {text} at index {index}'
        super().__init__(message)


class ResidualMemory:
    """One residual e per tensor, starting at zero, on the gradient's device."""

    def __init__(self, length: int, device=None):
        self.length = length
        self.residual = torch.zeros(length, dtype=torch.float32, device=device)

    def compensated(self, gradient: torch.Tensor) -> torch.Tensor:
        """u = g + e as a new tensor; the residual is unchanged until update()."""
        if self.residual.device != gradient.device:
            self.residual = self.residual.to(gradient.device)
        return self.residual + gradient

    def update(self, u: torch.Tensor, sent_indices: torch.Tensor) -> None:
        """e = u - C(u): u with the sent coordinates zeroed."""
        u[sent_indices] = 0
        self.residual = u

    def restore(self, values: torch.Tensor) -> None:
        if values.numel() != self.length:
            raise ValueError(f"residual has {self.length} coordinates, checkpoint has {values.numel()}")
        self.residual = flat_float32(values).clone()


@dataclass
class CompressResult:
    #: Ascending int64 indices on the gradient's device (every index for Dense).
    indices: torch.Tensor
    values: torch.Tensor
    #: Target count (d for Dense).
    k: int
    threshold: Optional[float]
    #: CompressionStats (common/stats.ts) when asked for.
    statistics: Optional[dict] = None


class Compressor:
    """One tensor's compressor: a selection operator and its residual memory."""

    def __init__(
        self,
        method: str,
        *,
        density: Optional[float] = None,
        k: Optional[int] = None,
        error_feedback: bool = True,
        seed: int = 0,
        sample_ratio: float = 0.01,
        name: str = "tensor",
        length: Optional[int] = None,
    ):
        check_method(method, density, k)
        if density is not None and not 0 < density <= 1:
            raise ValueError(f"density must be in (0, 1], got {density}")
        if k is not None and (not isinstance(k, int) or k < 1):
            raise ValueError(f"k must be a positive integer, got {k}")
        self.method, self.density, self.k = method, density, k
        self.seed, self.sample_ratio, self.name = seed, sample_ratio, name
        self.error_feedback = error_feedback and method != "dense"
        self.memory: Optional[ResidualMemory] = None
        self.length = length

    def compress(
        self,
        gradient: torch.Tensor,
        step: int,
        *,
        density: Optional[float] = None,
        histogram_bins: Optional[int] = None,
    ) -> CompressResult:
        """Compresses one gradient (any shape; flattened). `density` overrides the configured one
        for this step (warm-up); `histogram_bins` not None asks for the statistics (0: no histogram)."""
        g = flat_float32(gradient)
        if self.length is None:
            self.length = g.numel()
        if g.numel() != self.length:
            raise ValueError(f'tensor "{self.name}" has {self.length} coordinates, gradient has {g.numel()}')
        self._check(g, "gradient")
        if self.error_feedback:
            if self.memory is None:
                self.memory = ResidualMemory(self.length, g.device)
            u = self.memory.compensated(g)
            self._check(u, "residual")
        else:
            u = g
        k = selection_size(self.length, density if density is not None else self.density, self.k)
        measure = histogram_bins is not None
        needs_moments = measure or self.method in ("gaussiank", "trimmedk")
        m = moments(u) if needs_moments else None

        if self.method == "dense":
            stats = measure_compression(u, m, k, None, histogram_bins=histogram_bins) if measure else None
            return CompressResult(torch.arange(self.length, device=u.device), u.clone(), self.length, None, stats)

        selection: Selection = OPERATORS[self.method](
            u, k, moments_of_u=m, seed=step_seed(self.seed, step), sample_ratio=self.sample_ratio
        )
        stats = None
        if measure:
            exact = selection if self.method in ("topk", "trimmedk") else None
            stats = measure_compression(u, m, k, selection, exact_topk_selection=exact, histogram_bins=histogram_bins)
        if self.memory is not None:
            self.memory.update(u, selection.indices)
        return CompressResult(selection.indices, selection.values, k, selection.threshold, stats)

    @property
    def residual(self) -> Optional[torch.Tensor]:
        """The residual e (flat float32), or None without error feedback or before the first call."""
        return self.memory.residual if self.memory is not None else None

    def _check(self, vector: torch.Tensor, source: str) -> None:
        index = first_non_finite(vector)
        if index >= 0:
            raise NonFiniteGradientError(self.name, index, float(vector[index]), source)
