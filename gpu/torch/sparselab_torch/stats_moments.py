"""Moments of a float32 vector computed bit for bit as the native CPU kernel computes them
(gpu/kernels/moments/moments.as.ts, gpu/kernels/histogram/histogram.as.ts), so Gaussian_k's
threshold, Trimmed_k's levels and the statistics agree exactly with SparseLab's.

The kernel's moments pass works in blocks of 1024 coordinates: 8 float32 lanes accumulate
sequentially (coordinate 8j + l into lane l), lanes l and l + 4 are added in float32, the four
results summed in float64 as (l0 + l1) + (l2 + l3), and the block sums accumulated sequentially
in float64 (the last block's few trailing coordinates first). A block whose largest magnitude is
above 2^56 or below 2^-40 (but not 0) is summed coordinate by coordinate in float64 instead.
Sequential float64 sums run in NumPy's add.accumulate, which adds strictly in order.
"""
from dataclasses import dataclass

import numpy as np
import torch

from .operators_paths import numpy_path

BLOCK = 1024
LANES = 8
_BIG = 2.0**56
_SMALL = 2.0**-40
#: Coordinates per chunk of the central moments' sequential float64 sums.
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Moments:
    count: int
    sum: float
    sum_squares: float
    sum_abs: float
    max_abs: float


def first_non_finite(u: torch.Tensor) -> int:
    """Index of the first NaN or +-Inf of a flat tensor, or -1."""
    # One reduction first: a NaN or infinity anywhere makes the sum non-finite. Only then (or when
    # finite values overflow the sum) find the index.
    if numpy_path(u.device):  # NumPy's sum runs on the calling thread, whatever torch's thread count
        with np.errstate(over="ignore", invalid="ignore"):
            if np.isfinite(u.numpy().sum()):
                return -1
    elif bool(torch.isfinite(u.sum())):
        return -1
    bad = ~torch.isfinite(u)
    if not bool(bad.any()):
        return -1
    return int(torch.nonzero(bad)[0, 0])


def _combine(lanes):
    """Lanes l and l + 4 added in float32, then (l0 + l1) + (l2 + l3) in float64."""
    paired = lanes[:, :4] + lanes[:, 4:]
    paired = paired.to(torch.float64) if isinstance(paired, torch.Tensor) else paired.astype(np.float64)
    return (paired[:, 0] + paired[:, 1]) + (paired[:, 2] + paired[:, 3])


def _lane_sums_torch(x: torch.Tensor, groups: int):
    """Per block (rows of `groups` x 8 coordinates): the lane sums of x, x^2 and |x| (host float64)."""
    steps = x.view(-1, groups, LANES).transpose(0, 1).contiguous()
    s = torch.zeros(steps.shape[1:], dtype=torch.float32, device=x.device)
    q = torch.zeros_like(s)
    a = torch.zeros_like(s)
    for v in steps:  # a loop over the steps of a block, each over every block at once
        s += v
        q += v * v
        a += v.abs()
    return [_combine(lanes).cpu().numpy() for lanes in (s, q, a)]


def _lane_sums_numpy(x: np.ndarray, groups: int):
    """_lane_sums_torch in NumPy, in place on strided views (no transposed copy)."""
    steps = x.reshape(-1, groups, LANES)
    s = np.zeros((steps.shape[0], LANES), dtype=np.float32)
    q, a, scratch = np.zeros_like(s), np.zeros_like(s), np.empty_like(s)
    for step in range(groups):
        v = steps[:, step, :]
        np.add(s, v, out=s)
        np.add(q, np.multiply(v, v, out=scratch), out=q)
        np.add(a, np.abs(v, out=scratch), out=a)
    return [_combine(lanes) for lanes in (s, q, a)]


def _block_sums(u: torch.Tensor, full: int, lanes_rest: int):
    """Per block: the three lane sums (float64) and the largest magnitude, as NumPy arrays."""
    n = u.numel()
    head, rest = u[: full * BLOCK], u[full * BLOCK :]
    if numpy_path(u.device):
        head_np, rest_np = head.numpy(), rest.numpy()
        lane_sums = _lane_sums_numpy
        block_max = [np.maximum(head_np.reshape(full, BLOCK).max(1), -head_np.reshape(full, BLOCK).min(1))] if full else []
        if rest.numel():
            block_max.append(np.abs(rest_np).max(keepdims=True))
        head, rest = head_np, rest_np
    else:
        lane_sums = _lane_sums_torch
        block_max = [head.view(full, BLOCK).abs().amax(1).cpu().numpy()] if full else []
        if rest.numel():
            block_max.append(rest.abs().amax().reshape(1).cpu().numpy())
    blocks = full + (1 if n > full * BLOCK else 0)
    sums = [np.zeros(blocks) for _ in range(3)]
    if full:
        for total, part in zip(sums, lane_sums(head, BLOCK // LANES)):
            total[:full] = part
    if lanes_rest:
        for total, part in zip(sums, lane_sums(rest[:lanes_rest], lanes_rest // LANES)):
            total[full] = part[0]
    return sums, np.concatenate(block_max).astype(np.float64)


def sequential_sum(addends: np.ndarray) -> float:
    """addends summed strictly in order, from 0, in float64."""
    if addends.size == 0:
        return 0.0
    return float(np.add.accumulate(addends.reshape(-1))[-1])


def moments(u: torch.Tensor) -> Moments:
    """The native moments of a flat, finite float32 tensor (CPU: NumPy; CUDA: torch, then the
    few per-block sums on the host)."""
    n = u.numel()
    full = n // BLOCK
    rest = n - full * BLOCK
    lanes_rest = rest & ~(LANES - 1)
    tail = rest - lanes_rest
    sums, block_max = _block_sums(u, full, lanes_rest)
    blocks = block_max.size
    special = (block_max > _BIG) | ((block_max < _SMALL) & (block_max != 0))
    width = BLOCK if special.any() else LANES

    transforms = (lambda v: v, lambda v: v * v, np.abs)
    tail_values = u[n - tail :].cpu().numpy().astype(np.float64)
    if width == BLOCK:
        rows = np.flatnonzero(special)
        padded = torch.zeros(blocks * BLOCK, dtype=torch.float32, device=u.device)
        padded[:n] = u
        special_values = padded.view(blocks, BLOCK)[torch.from_numpy(rows).to(u.device)].cpu().numpy().astype(np.float64)
    results = []
    for total, transform in zip(sums, transforms):
        # Addends in the kernel's order, one row per block, padded with +0 (a neutral addend:
        # the running sum starts at +0 and is never -0).
        addends = np.zeros((blocks, width))
        addends[:, 0] = total
        if tail:
            addends[blocks - 1, :tail] = transform(tail_values)
            addends[blocks - 1, tail] = total[blocks - 1]
        if width == BLOCK:
            addends[rows] = transform(special_values)
        results.append(sequential_sum(addends))
    max_abs = float(block_max.max()) if n else 0.0
    return Moments(count=n, sum=results[0], sum_squares=results[1], sum_abs=results[2], max_abs=max_abs)


def central_moments(u: torch.Tensor, mean: float):
    """Sums of (u_i - mean)^2, ^3, ^4 in float64, in the kernel's order: four lanes (coordinate
    4j + l into lane l) accumulated sequentially, combined as (l0 + l2) + (l1 + l3), then the
    trailing coordinates one by one. Computed on the host (exact sequential sums)."""
    a = u.detach().cpu().numpy()
    n = a.size
    n4 = n & ~3
    carry = np.zeros((3, 4), dtype=np.float64)
    for start in range(0, n4, _CHUNK):  # chunks bound memory; each is vectorised
        c = a[start : min(n4, start + _CHUNK)].astype(np.float64) - mean
        c2 = c * c
        c3 = c2 * c
        c4 = c3 * c
        for row, power in enumerate((c2, c3, c4)):
            stacked = np.concatenate([carry[row : row + 1], power.reshape(-1, 4)])
            carry[row] = np.add.accumulate(stacked, axis=0)[-1]
    out = []
    for row in range(3):
        lanes = carry[row]
        total = (lanes[0] + lanes[2]) + (lanes[1] + lanes[3])
        for value in a[n4:].astype(np.float64):
            c = value - mean
            total += [c * c, c * c * c, c * c * c * c][row]
        out.append(float(total))
    return tuple(out)


def histogram(u: torch.Tensor, lo: float, hi: float, bins: int) -> list:
    """Equal-width bins over [lo, hi], the kernel's float64 arithmetic: floor((x - lo) / width)
    clamped to [0, bins - 1]; width <= 0 puts everything in bin 0."""
    if bins <= 0:
        return []
    width = (hi - lo) / bins
    if not width > 0:
        return [u.numel()] + [0] * (bins - 1)
    if numpy_path(u.device):  # NumPy in place: a third of torch's time on a CPU, same float64 operations
        x = u.numpy().astype(np.float64)
        x -= lo
        x /= width
        np.floor(x, out=x)
        np.clip(x, 0, bins - 1, out=x)
        return np.bincount(x.astype(np.int64), minlength=bins).tolist()
    x = u.to(torch.float64) - lo
    # Divide by a full tensor, never a scalar: CUDA turns division by a scalar into a
    # multiplication by its reciprocal, which rounds differently.
    positions = torch.floor(x / torch.full((1,), width, dtype=torch.float64, device=u.device).expand_as(x))
    positions = positions.clamp(0, bins - 1).to(torch.int64)
    return torch.bincount(positions, minlength=bins).cpu().tolist()
