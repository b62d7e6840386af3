"""One rank of a torch-engine run: the native trainer's loop (gpu/worker/trainer.ts) on torch.distributed.

Each iteration: forward/backward, then each tensor compressed on its own (error feedback) and the whole model's
selections exchanged at once (one allgather; Dense: one allreduce) through sparselab_torch.SparseExchange, then
momentum SGD. Density warm-up,
the learning-rate schedule, evaluation, statistics, histograms and checkpoints fall on the native iterations.
Phases are timed with CUDA events on GPUs (host clocks on CPUs); bytes are the collectives' sizes.
"""
import math
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F

from ..hook import SparseExchange
from ..random import random_key
from . import checkpoint
from .data import batches_per_epoch, load_dataset, rank_batches
from .models import build_model
from .schedule import density_at, learning_rate_at


class Clock:
    """Phase boundaries: CUDA events on a GPU (read once per iteration), perf_counter on the CPU."""

    def __init__(self, device):
        self.cuda = device.type == "cuda"
        self.marks = []

    def mark(self):
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self.marks.append(event)
        else:
            self.marks.append(time.perf_counter())

    def phases_ms(self):
        """Milliseconds between successive marks; clears them."""
        marks, self.marks = self.marks, []
        if self.cuda:
            marks[-1].synchronize()
            return [a.elapsed_time(b) for a, b in zip(marks, marks[1:])]
        return [1000 * (b - a) for a, b in zip(marks, marks[1:])]


def exchange_all(exchange, tensors, device):
    """Every gradient in one exchange, as the native trainer sends the whole model at once: each tensor compressed
    on its own (its residual, its statistics), the selections in one allgather (Dense: one allreduce); each
    gradient then holds the ranks' mean. Returns the step's statistics."""
    named = [(name, p.grad.detach().reshape(-1)) for name, p in tensors]
    mean = exchange.exchange(named, sum(g.numel() for _, g in named), device, torch.float32)
    at = 0
    for _, p in tensors:
        p.grad.copy_(mean[at : at + p.numel()].view_as(p.grad))
        at += p.numel()
    return exchange.end_step()


def build(config, rank, world, device):
    experiment, arm, seed = config["experiment"], config["arm"], config["seed"]
    dataset = load_dataset(experiment["dataset"])
    model = build_model(experiment["model"], dataset, seed).to(device)
    statistics = experiment["statistics"]
    exchange = SparseExchange(
        arm["method"],
        density=arm.get("density") if arm["method"] != "dense" else None,
        k=arm.get("k") if arm["method"] != "dense" else None,
        error_feedback=arm["errorFeedback"],
        seed=random_key(seed, rank),  # each rank draws its own selections, as native ranks do
        sample_ratio=arm["sampleRatio"],
        statistics_every=statistics["everyIterations"],
        histogram_iterations=statistics["histogramIterations"],
        histogram_bins=statistics["histogramBins"],
        measure_rank=0,
    )
    optimizer = torch.optim.SGD(
        [p for _, p in model.named_tensors()],
        lr=experiment["optimizer"]["lr"],
        momentum=experiment["optimizer"]["momentum"],
        weight_decay=experiment["optimizer"]["weightDecay"],
    )
    return dataset, model, exchange, optimizer


def loss_of(model, inputs, targets, state, device):
    if state is not False:  # language model: (logits, states) with the states carried across batches
        logits, new_state = model(inputs.to(device), state)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.to(device).reshape(-1))
        return loss, [(h.detach(), c.detach()) for h, c in new_state]
    return F.cross_entropy(model(inputs.to(device)), targets.to(device)), False


def evaluate(model, dataset, rank, world, device):
    """Every rank its slice of the test set; an allreduce adds the sums (trainer.ts evaluate)."""
    split = dataset.test
    start, end = split.size * rank // world, split.size * (rank + 1) // world
    model.eval()
    loss_sum, correct, count = 0.0, 0.0, 0
    with torch.no_grad():
        if split.is_tokens:
            tokens = torch.from_numpy(split.tokens[start:end])
            steps = (tokens.numel() - 1) // 35
            state = None
            for t in range(steps):
                x = tokens[t * 35 : (t + 1) * 35].reshape(1, -1).to(device)
                y = tokens[t * 35 + 1 : (t + 1) * 35 + 1].to(device)
                logits, state = model(x, state)
                loss_sum += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y, reduction="sum"))
                count += y.numel()
        else:
            for b in range(start, end, model.eval_batch_size):
                x = torch.from_numpy(split.inputs[b : min(end, b + model.eval_batch_size)]).to(device)
                y = torch.from_numpy(split.labels[b : min(end, b + model.eval_batch_size)]).to(device)
                logits = model(x)
                loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
                correct += float((logits.argmax(1) == y).sum())
                count += y.numel()
    model.train()
    sums = torch.tensor([loss_sum, correct, float(count)], dtype=torch.float64, device=device)
    dist.all_reduce(sums)
    loss, correct, count = (float(v) for v in sums)
    test_loss = loss / count
    if split.is_tokens:
        return {"testLoss": test_loss, "perplexity": float(torch.tensor(test_loss).exp())}
    return {"testLoss": test_loss, "accuracy": correct / count}


def train(config, run, rank, world, device, log):
    """Trains this rank; `run` records (a sparselab_torch client Run on rank 0, silent elsewhere)."""
    experiment, arm = config["experiment"], config["arm"]
    dataset, model, exchange, optimizer = build(config, rank, world, device)
    run._exchange = exchange
    per_epoch = batches_per_epoch(dataset.train, world, experiment["batchSize"])
    total = math.ceil(experiment["epochs"] * per_epoch)  # in doubles, as the native Math.ceil
    evaluate_every = max(1, round(experiment["evaluation"]["everyEpochs"] * per_epoch))
    checkpoint_every = experiment["faults"]["checkpointEveryIterations"]
    folder = config["checkpointDir"]
    iteration = 0
    if config["resumeFrom"] is not None:
        iteration = checkpoint.restore(folder, config["resumeFrom"], rank, world, model, optimizer, exchange)
        log("resumed from iteration %d" % iteration)
    else:
        for _, p in model.named_tensors():  # seeded init agrees; rank 0's broadcast makes it a fact
            dist.broadcast(p.data, 0)
    augment = dataset.name == "cifar10"
    language = dataset.train.is_tokens
    tensors = model.named_tensors()
    clock = Clock(device)
    epoch = iteration // per_epoch
    while iteration < total:
        skip = iteration - epoch * per_epoch
        state = None if language else False
        for position, (inputs, targets, reset) in enumerate(
            rank_batches(dataset.train, rank, world, config["seed"], epoch, experiment["batchSize"], augment)
        ):
            if position < skip:
                continue
            if iteration >= total or run.cancelled:
                break
            if language and reset:
                state = None
            epoch_now = (iteration + 1) / per_epoch
            density = density_at(experiment, arm, iteration / per_epoch)
            if density is not None:  # the warm-up's density for this step (the exchange hands it to each compressor)
                exchange.density = density
            clock.mark()
            loss, state = loss_of(model, torch.from_numpy(inputs), torch.from_numpy(targets), state, device)
            optimizer.zero_grad(set_to_none=False)
            loss.backward()
            clock.mark()
            # The time until every rank is ready is the wait for slower ranks (native: waitMs at the hub), which
            # the overhead leaves out; the collectives after it are the exchange proper.
            dist.barrier()
            clock.mark()
            stats = exchange_all(exchange, tensors, device)
            clock.mark()
            lr = learning_rate_at(experiment, iteration / per_epoch)
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.step()
            clock.mark()
            compute_ms, wait_ms, exchange_total_ms, step_ms = clock.phases_ms()
            # The exchange's own clock splits its phase into compress, collectives and the scatter of the mean.
            split = stats["compressMs"] + stats["exchangeMs"] + stats["updateMs"]
            other = max(0.0, exchange_total_ms - split)  # per-tensor bookkeeping between them: part of compress
            run.iteration(
                iteration, epoch_now, float(loss), lr, compute_ms=compute_ms,
                compressMs=stats["compressMs"] + other, updateMs=stats["updateMs"] + step_ms,
                exchangeMs=stats["exchangeMs"] + wait_ms, waitMs=wait_ms,
                density=density or 1,
            )
            iteration += 1
            if iteration % evaluate_every == 0 or iteration == total:
                result = evaluate(model, dataset, rank, world, device)
                run.evaluation(iteration, epoch_now, result["testLoss"], accuracy=result.get("accuracy"),
                               perplexity=result.get("perplexity"))
                log("evaluation at epoch %.2f: %s" % (epoch_now, result))
            if iteration % checkpoint_every == 0 and iteration < total:
                run.flush()
                checkpoint.save(folder, iteration, rank, world, model, optimizer, exchange)
        epoch += 1
        if run.cancelled:
            break
    return iteration
