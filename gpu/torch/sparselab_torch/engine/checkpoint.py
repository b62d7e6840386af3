"""Checkpoints of a torch-engine run: a folder per iteration with one file per rank (rank 0 adds the weights,
batch-norm state, momentum and the iteration), and LATEST naming the last complete one. A replica whose weights
differ from rank 0's fails the run rather than being saved."""
import json
import os
from pathlib import Path

import torch
import torch.distributed as dist

from ..memory import ResidualMemory

LATEST = "LATEST"


class ReplicasDiverged(RuntimeError):
    pass


def _checksum(model):
    return sum(float(p.detach().double().sum()) for p in model.state_dict().values() if p.is_floating_point())


def save(folder, iteration, rank, world, model, optimizer, exchange):
    folder = Path(folder)
    device = next(model.parameters()).device  # NCCL gathers CUDA tensors only
    sums = [torch.zeros(1, dtype=torch.float64, device=device) for _ in range(world)]
    dist.all_gather(sums, torch.tensor([_checksum(model)], dtype=torch.float64, device=device))
    diverged = next((r for r, s in enumerate(sums) if float(s) != float(sums[0])), None)
    if diverged is not None:
        raise ReplicasDiverged("replicas diverged: rank %d's weights differ from rank 0's at iteration %d" % (diverged, iteration))
    target = folder / ("iteration-%d" % iteration)
    target.mkdir(parents=True, exist_ok=True)
    part = {"iteration": iteration, "residuals": {n: c.residual for n, c in exchange.compressors.items() if c.residual is not None}}
    if rank == 0:
        part.update(model=model.state_dict(), optimizer=optimizer.state_dict())
    temporary = target / ("rank%d.pt.tmp" % rank)
    torch.save(part, temporary)
    os.replace(temporary, target / ("rank%d.pt" % rank))
    dist.barrier()
    if rank == 0:
        (folder / (LATEST + ".tmp")).write_text(json.dumps({"iteration": iteration, "worldSize": world}))
        os.replace(folder / (LATEST + ".tmp"), folder / LATEST)


def latest(folder):
    """(iteration, world size) of the last complete checkpoint in folder, or None."""
    path = Path(folder) / LATEST
    if not path.exists():
        return None
    info = json.loads(path.read_text())
    return info["iteration"], info["worldSize"]


def restore(folder, iteration, rank, world, model, optimizer, exchange):
    target = Path(folder) / ("iteration-%d" % iteration)
    saved = latest(folder)
    if saved is None or saved[1] != world:
        raise ValueError("the checkpoint in %s was written by %s ranks, this run has %d" % (folder, saved and saved[1], world))
    device = next(model.parameters()).device
    leader = torch.load(target / "rank0.pt", map_location=device)
    mine = leader if rank == 0 else torch.load(target / ("rank%d.pt" % rank), map_location=device)
    model.load_state_dict(leader["model"])
    optimizer.load_state_dict(leader["optimizer"])
    for name, residual in mine["residuals"].items():
        compressor = exchange._compressor(name, residual.numel())
        compressor.error_feedback = True
        compressor.memory = ResidualMemory(residual.numel(), residual.device)
        compressor.memory.restore(residual)
    exchange.step = iteration
    return iteration
