"""Sparsified gradient exchange for torch.distributed: a DDP communication hook and a per-tensor API.

Each gradient tensor is compressed on its own (SparseLab's "layer" granularity) by a Compressor: error
feedback (u = g + e), the operator, e = u - C(u). The selections of a DDP bucket travel as one message;
every rank gathers all messages (comm.py: sizes first, or a fixed capacity) and averages them in rank
order, so the replicas stay bit-identical. Dense allreduces and divides.

    state = sparselab_torch.register_comm_hook(ddp_model, "topk", density=0.01)   # DDP
    exchange = sparselab_torch.SparseExchange("topk", density=0.01)               # no DDP:
    exchange.average_gradients(model)                                             #   after backward()

After each step, state.last_step holds what the step cost (compressMs, exchangeMs, updateMs, bytes,
k, selected) and, on the iterations asked for, the statistics: the fields of SparseLab's iteration,
layer-statistics and histogram records (the metrics client sends them).
"""

import math
import time

import torch
import torch.distributed as dist

from .comm import STRATEGIES, dense_allreduce_mean, limit_to_capacity, sparse_allgather_mean, sync
from .memory import Compressor
from .operators import check_method

#: Methods whose operator selects exactly k: a capacity of k never cuts them.
EXACT_K = ("topk", "trimmedk", "randk")


class SparseExchange:
    """Compressors per tensor, the exchange, and what the last step cost.

    method, density or k, error_feedback, seed, sample_ratio: as SparseLab's arms (k per tensor).
    strategy: "sizes" or "capacity" (comm.py); capacity_factor: capacity = ceil(factor * k) per message,
    default 1 for the exact-k operators and 2 for the others.
    statistics_every: measure rho, bounds, overlap and moments every N steps (0: never);
    histogram_iterations, histogram_bins: which steps also record histograms of u per tensor.
    measure_rank: the rank that measures (the one that reports; None: every rank).
    """

    def __init__(
        self,
        method,
        density=None,
        k=None,
        *,
        group=None,
        strategy="sizes",
        capacity_factor=None,
        error_feedback=True,
        seed=0,
        sample_ratio=0.01,
        statistics_every=0,
        histogram_iterations=(),
        histogram_bins=64,
        measure_rank=0,
    ):
        check_method(method, density, k)
        if strategy not in STRATEGIES:
            raise ValueError("strategy must be one of %s, got %r" % (", ".join(STRATEGIES), strategy))
        if capacity_factor is not None and capacity_factor < 1:
            raise ValueError("capacity_factor must be at least 1, got %r" % capacity_factor)
        self.method, self.density, self.k = method, density, k
        self.group, self.strategy = group, strategy
        self.capacity_factor = capacity_factor or (1.0 if method in EXACT_K else 2.0)
        self.error_feedback, self.seed, self.sample_ratio = error_feedback, seed, sample_ratio
        self.statistics_every = statistics_every
        self.histogram_iterations = set(histogram_iterations)
        self.histogram_bins = histogram_bins
        self.measure_rank = measure_rank
        self.compressors = {}
        #: Steps completed (the next step's number).
        self.step = 0
        self.last_step = None
        self._current = None

    # -- the arm, as SparseLab's experiment schema spells it
    @property
    def arm(self):
        arm = {"method": self.method, "errorFeedback": self.error_feedback, "sampleRatio": self.sample_ratio}
        if self.density is not None:
            arm["density"] = self.density
        if self.k is not None:
            arm["k"] = self.k
        if self.strategy == "capacity" and self.method != "dense":
            # A legend of its own, so Compare tells the strategies apart (SparseLab's default name otherwise).
            arm["name"] = "%s@%s capacity" % (self.method, self.density if self.density is not None else "k=%d" % self.k)
        return arm

    @property
    def rank(self):
        return dist.get_rank(self.group) if dist.is_initialized() else 0

    def _measuring(self):
        return self.measure_rank is None or self.rank == self.measure_rank

    def _begin(self):
        if self._current is None:
            self._current = {
                "k": 0, "selected": 0, "d": 0, "bytesSent": 0, "bytesReceived": 0, "payloadBytes": 0,
                "dropped": 0, "compressMs": 0.0, "exchangeMs": 0.0, "updateMs": 0.0, "layers": [],
            }
        return self._current

    def end_step(self):
        """Closes the step: last_step gets its totals (the DDP hook calls this after the last bucket)."""
        current = self._begin()
        layers = current.pop("layers")
        d = current.pop("d")
        current["density"] = self.density if self.density is not None else (current["k"] / d if d else 1.0)
        current["iteration"] = self.step
        if layers:
            current.update(model_statistics(layers))
            current["layerStats"] = [
                {key: value for key, value in s.items() if key not in ("histogram", "delta")} for s in layers
            ]
            current["histograms"] = [
                dict(s["histogram"], layer=s["layer"], mean=s["mean"], std=s["std"], skewness=s["skewness"],
                     excessKurtosis=s["excessKurtosis"])
                for s in layers
                if "histogram" in s
            ]
        self.last_step = current
        self._current = None
        self.step += 1
        return current

    def _compressor(self, name, numel):
        compressor = self.compressors.get(name)
        if compressor is None:
            compressor = Compressor(
                self.method, density=self.density, k=self.k, error_feedback=self.error_feedback,
                seed=self.seed, sample_ratio=self.sample_ratio, name=name, length=numel,
            )
            self.compressors[name] = compressor
        return compressor

    def _histogram_bins(self):
        """What this step measures: None (nothing), 0 (statistics) or the histogram's bins (both)."""
        if not self._measuring():
            return None
        if self.step in self.histogram_iterations:
            return self.histogram_bins
        return 0 if self.statistics_every > 0 and self.step % self.statistics_every == 0 else None

    def _compress(self, named, offsets):
        """Compresses each (name, gradient); returns the selections as offsets into one buffer, and their k."""
        current = self._begin()
        bins = self._histogram_bins()
        indices, values, k_total = [], [], 0
        for (name, grad), offset in zip(named, offsets):
            compressor = self._compressor(name, grad.numel())
            out = compressor.compress(grad, self.step, density=self.density, histogram_bins=bins)
            indices.append(out.indices + offset)
            values.append(out.values)
            k_total += out.k
            current["k"] += out.k
            current["selected"] += out.indices.numel()
            current["d"] += grad.numel()
            if out.statistics is not None:
                current["layers"].append(dict(out.statistics, layer=name))
        return torch.cat(indices), torch.cat(values), k_total

    def exchange(self, named, numel, device, out_dtype):
        """Compresses the named flat gradients (laid out one after another in a buffer of `numel`) and
        returns the buffer averaged over the ranks."""
        current = self._begin()
        if self.method == "dense":
            flat = torch.cat([g.reshape(-1) for _, g in named]) if len(named) > 1 else named[0][1].reshape(-1)
            current["k"] += flat.numel()
            current["selected"] += flat.numel()
            current["d"] += flat.numel()
            bins = self._histogram_bins()
            if bins is not None:  # Dense sends everything; its statistics describe u (rho 0), as native Dense's
                for name, grad in named:
                    out = self._compressor(name, grad.numel()).compress(grad, self.step, histogram_bins=bins)
                    current["layers"].append(dict(out.statistics, layer=name))
            mean, times = dense_allreduce_mean(flat, self.group)
        else:
            started = time.perf_counter()
            offsets, at = [], 0
            for _, grad in named:
                offsets.append(at)
                at += grad.numel()
            indices, values, k_total = self._compress(named, offsets)
            capacity = None
            if self.strategy == "capacity":
                capacity = max(1, int(-(-self.capacity_factor * k_total // 1)))
                indices, values, dropped_i, dropped_v = limit_to_capacity(indices, values, capacity)
                if dropped_i.numel():
                    self._give_back(named, offsets, dropped_i, dropped_v)
                current["dropped"] += dropped_i.numel()
            sync(device)
            current["compressMs"] += 1000 * (time.perf_counter() - started)
            mean, times = sparse_allgather_mean(
                indices, values, numel, self.group, self.strategy, capacity, out_dtype=out_dtype
            )
        current["exchangeMs"] += 1000 * times.exchange_s
        current["updateMs"] += 1000 * times.update_s
        current["bytesSent"] += times.bytes_sent
        current["bytesReceived"] += times.bytes_received
        current["payloadBytes"] += times.payload_bytes
        return mean

    def _give_back(self, named, offsets, indices, values):
        """Coordinates a full capacity could not carry go back to their tensors' residuals (error feedback)."""
        for (name, grad), offset in zip(named, offsets):
            inside = (indices >= offset) & (indices < offset + grad.numel())
            memory = self.compressors[name].memory
            if memory is not None and bool(inside.any()):
                memory.residual[indices[inside] - offset] = values[inside].to(memory.residual.dtype)

    # -- the per-tensor API
    def average_gradients(self, model_or_named):
        """After backward(), without DDP: replaces every gradient by the ranks' sparsified mean, one tensor
        at a time, and closes the step. Takes a module or (name, parameter) pairs."""
        named = model_or_named.named_parameters() if hasattr(model_or_named, "named_parameters") else model_or_named
        for name, param in named:
            if param.grad is not None:
                self.average_tensor_(name, param.grad)
        return self.end_step()

    def average_tensor_(self, name, tensor):
        """One tensor, in place: the ranks' sparsified mean (error feedback under `name`)."""
        mean = self.exchange([(name, tensor.detach())], tensor.numel(), tensor.device, tensor.dtype)
        tensor.copy_(mean.view_as(tensor))
        return tensor


def model_statistics(layers):
    """Whole-model ratios from per-tensor statistics, as the native trainer computes them."""
    energy = [s["d"] * (s["std"] * s["std"] + s["mean"] * s["mean"]) for s in layers]
    total = sum(energy) or 1.0
    d = sum(s["d"] for s in layers)
    k = sum(s["k"] for s in layers)
    return {
        "rho": sum(s["rho"] * e for s, e in zip(layers, energy)) / total,
        "rhoTopk": sum(s["rhoTopk"] * e for s, e in zip(layers, energy)) / total,
        "boundGeneral": 1 - k / d,
        "boundGaussian": (1 - k / d) ** 2,
        "overlap": sum(s["overlap"] * s["k"] for s in layers) / k,
        "uNorm": math.sqrt(sum(energy)),
    }


def _hook(state, bucket):
    exchange, names = state
    grads = bucket.gradients()
    params = bucket.parameters()
    named = [(names.get(p, "param%d" % i), g.detach().reshape(-1)) for i, (p, g) in enumerate(zip(params, grads))]
    buffer = bucket.buffer()
    mean = exchange.exchange(named, buffer.numel(), buffer.device, buffer.dtype)
    if bucket.is_last():
        exchange.end_step()
    future = torch.futures.Future(devices=[buffer.device] if buffer.device.type == "cuda" else None)
    future.set_result(mean)
    return future


def register_comm_hook(model, method, density=None, k=None, **options):
    """Registers the sparsified exchange on a DistributedDataParallel model; returns its SparseExchange.

    options: those of SparseExchange (strategy, capacity_factor, error_feedback, seed, statistics_every, ...).
    """
    exchange = SparseExchange(method, density, k, group=getattr(model, "process_group", None), **options)
    module = getattr(model, "module", model)
    names = {p: name for name, p in module.named_parameters()}
    model.register_comm_hook((exchange, names), _hook)
    return exchange
