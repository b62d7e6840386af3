"""sparselab_torch: SparseLab's gradient sparsifiers for PyTorch, with exactly SparseLab's semantics.

Operators (CPU and CUDA tensors, vectorised; indices ascending, ties to the lower index,
magnitudes compared as float32 bits with the sign cleared)::

    import sparselab_torch as sl

    # One call on one tensor: method is one of sl.METHODS
    # ("dense", "topk", "gaussiank", "dgck", "trimmedk", "randk"); k = max(1, floor(density * d)).
    sel = sl.select("topk", grad, density=0.001)          # or k=..., seed=..., step=...
    sel.indices, sel.values, sel.threshold                 # int64 (ascending), float32, float | None

    # Per tensor, with error feedback (residual memory) and SparseLab's statistics:
    comp = sl.Compressor("gaussiank", density=0.001, name="fc1.weight")   # error_feedback=True
    out = comp.compress(grad, step)                        # out.indices, out.values, out.k, out.threshold
    out = comp.compress(grad, step, histogram_bins=64)     # out.statistics: CompressionStats dict
    comp.residual                                          # e = u - C(u), flat float32

A NaN or infinity raises sl.NonFiniteGradientError (tensor name, first bad index; the residual is
left untouched). Rand_k and DGC_k draw from sl.step_seed(seed, step), bit-identical with
SparseLab's counter-based generator, so a run reproduces across backends and ranks.

With torch.distributed (hook.py, client.py; README "Adding SparseLab to a PyTorch training script")::

    exchange = sl.register_comm_hook(ddp_model, "topk", density=0.01)   # or strategy="capacity"
    run = sl.connect(experiment="mnist-ddp", arm=exchange, model="MLP", dataset="MNIST",
                     epochs=2, batch_size=64, lr=0.1)   # hub from $SPARSELAB_HUB/$SPARSELAB_TOKEN, or jsonl=
    run.iteration(step, epoch, loss.item(), lr)         # after each optimizer step; run.finish() at the end
    sl.SparseExchange("topk", density=0.01).average_gradients(model)   # without DDP, after backward()
"""
from .memory import CompressResult, Compressor, NonFiniteGradientError, ResidualMemory
from .operators import METHODS, OPERATORS, Selection, select, selection_size
from .operators_select import exact_topk
from .random import random_key, step_seed
from .stats import measure_compression
from .stats_moments import Moments, moments
from .hook import SparseExchange, register_comm_hook
from .client import connect

__all__ = [
    "METHODS",
    "OPERATORS",
    "CompressResult",
    "Compressor",
    "Moments",
    "NonFiniteGradientError",
    "ResidualMemory",
    "Selection",
    "SparseExchange",
    "connect",
    "exact_topk",
    "measure_compression",
    "moments",
    "random_key",
    "register_comm_hook",
    "select",
    "selection_size",
    "step_seed",
]
