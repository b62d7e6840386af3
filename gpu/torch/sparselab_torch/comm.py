"""Sparse allgather of (indices, values) over torch.distributed, with the ranks' variable counts handled.

Each rank contributes one message: its selected coordinates of a flat buffer. Two strategies:

- "sizes": the counts first (an allgather of one int32 each), then every rank's message padded to the
  largest count. Two collectives; nothing is ever cut; a rank sends 4 + 8 * max_count bytes.
- "capacity": a fixed capacity per buffer (capacity_factor * k, at least 1), one collective of
  [count, indices..., value bits...] padded to the capacity. Where a rank selected more than the capacity,
  the largest magnitudes are sent and the rest is handed back (error feedback returns it to the residual).

Indices (int32, offsets into the buffer) and float32 value bits travel in one int32 tensor. Every rank
receives the same messages and adds them into a zero buffer in rank order, then divides by the world size,
so the result is bit-identical on every rank.
"""

import time

import torch
import torch.distributed as dist

STRATEGIES = ("sizes", "capacity")


def _group_size(group):
    return dist.get_world_size(group) if dist.is_initialized() else 1


def _distributed():
    """Collectives run whenever a process group exists, one rank included (an NCCL check on one GPU)."""
    return dist.is_available() and dist.is_initialized()


def sync(device):
    """Waits for the device's queued work, so a host clock measures it (nothing to wait for on a CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class ExchangeTimes:
    """What one exchange cost this rank: seconds and bytes."""

    __slots__ = ("exchange_s", "update_s", "bytes_sent", "bytes_received", "payload_bytes")

    def __init__(self):
        self.exchange_s = 0.0
        self.update_s = 0.0
        self.bytes_sent = 0
        self.bytes_received = 0
        self.payload_bytes = 0


def limit_to_capacity(indices, values, capacity):
    """At most `capacity` of the selection: the largest magnitudes (ties to the lower index), in index order.

    Returns (indices, values, dropped_indices, dropped_values).
    """
    n = indices.numel()
    if n <= capacity:
        empty = indices[:0]
        return indices, values, empty, values[:0]
    # Stable sort by magnitude, descending: equal magnitudes keep index order, so the lower index wins.
    order = torch.sort(values.abs(), descending=True, stable=True).indices
    keep = torch.sort(order[:capacity]).values
    drop = torch.sort(order[capacity:]).values
    return indices[keep], values[keep], indices[drop], values[drop]


def sparse_allgather_mean(indices, values, numel, group=None, strategy="sizes", capacity=None, out_dtype=None):
    """Gathers every rank's (indices, values) of a buffer of `numel` and returns their mean as a dense tensor.

    indices: int64 or int32 1-D, unique, in [0, numel); values: the same length. For strategy "capacity",
    `capacity` is the message size and the selection must already fit (limit_to_capacity).
    Returns (dense, ExchangeTimes).
    """
    if strategy not in STRATEGIES:
        raise ValueError("strategy must be one of %s, got %r" % (", ".join(STRATEGIES), strategy))
    if numel >= 2**31:
        raise ValueError("a buffer of %d values is too large for int32 offsets; use smaller buckets" % numel)
    device = values.device
    out_dtype = out_dtype or values.dtype
    world = _group_size(group)
    times = ExchangeTimes()
    count = indices.numel()
    times.payload_bytes = 8 * count
    started = time.perf_counter()
    if strategy == "sizes":
        counts = _allgather_counts(count, device, group, world)
        width = max(counts)
        message = _message(indices, values, width, device)
        times.bytes_sent = 4 + 4 * message.numel()
        # No rank selected anything (Gaussian_k's threshold can exclude a whole small tensor): every rank knows it
        # from the counts, and gloo's allgather of empty tensors dies with SIGFPE.
        gathered = _allgather(message, group, world) if width > 0 else [message] * world
    else:
        if capacity is None or capacity < 1:
            raise ValueError("strategy 'capacity' needs a capacity of at least 1, got %r" % (capacity,))
        if count > capacity:
            raise ValueError("%d selected values exceed the capacity %d (use limit_to_capacity)" % (count, capacity))
        body = _message(indices, values, capacity, device)
        message = torch.cat([torch.tensor([count], dtype=torch.int32, device=device), body])
        times.bytes_sent = 4 * message.numel()
        rows = _allgather(message, group, world)
        counts = [int(c) for c in torch.stack([r[0] for r in rows]).tolist()]
        gathered = [r[1:] for r in rows]
        width = capacity
    sync(device)
    times.exchange_s = time.perf_counter() - started
    times.bytes_received = times.bytes_sent * (world - 1)
    started = time.perf_counter()
    dense = torch.zeros(numel, dtype=torch.float32, device=device)
    for n, row in zip(counts, gathered):
        if n:
            dense.index_add_(0, row[:n].long(), row[width : width + n].view(torch.float32))
    dense.div_(world)
    dense = dense.to(out_dtype)
    sync(device)
    times.update_s = time.perf_counter() - started
    return dense, times


def _message(indices, values, width, device):
    """[indices padded to width, float32 bits of values padded to width] as one int32 tensor."""
    message = torch.zeros(2 * width, dtype=torch.int32, device=device)
    n = indices.numel()
    message[:n] = indices.to(torch.int32)
    message[width : width + n] = values.to(torch.float32).contiguous().view(torch.int32)
    return message


def _allgather_counts(count, device, group, world):
    mine = torch.tensor([count], dtype=torch.int32, device=device)
    if not _distributed():
        return [count]
    out = [torch.empty_like(mine) for _ in range(world)]
    dist.all_gather(out, mine, group=group)
    return [int(c) for c in torch.cat(out).tolist()]


def _allgather(message, group, world):
    if not _distributed():
        return [message]
    out = [torch.empty_like(message) for _ in range(world)]
    dist.all_gather(out, message, group=group)
    return out


def dense_allreduce_mean(tensor, group=None):
    """The plain baseline: allreduce (sum) and divide. Returns (mean, ExchangeTimes)."""
    times = ExchangeTimes()
    world = _group_size(group)
    started = time.perf_counter()
    out = tensor.clone()
    if _distributed():
        dist.all_reduce(out, group=group)
    sync(tensor.device)
    times.exchange_s = time.perf_counter() - started
    out.div_(world)
    nbytes = tensor.numel() * tensor.element_size()
    times.bytes_sent = nbytes
    times.bytes_received = nbytes * (world - 1)
    times.payload_bytes = nbytes
    return out, times
