"""One rank of a torch-engine run, under torchrun: `python -m sparselab_torch.engine --config RUN.json`.

RUN.json (written by the core): runId, experiment (the validated experiment, defaults filled), arm, seed,
checkpointDir, resumeFrom (an iteration or null), backend ("auto", "gloo" or "nccl"). The hub's address and
token and the run's key come in the environment (SPARSELAB_HUB, SPARSELAB_TOKEN, SPARSELAB_RUN_KEY), never on the
command line. Rank 0 records the run; every rank writes its pid to checkpointDir/rank-R.pid for the supervisor.
"""
import argparse
import json
import os
import signal
import sys
import traceback
from pathlib import Path

import torch
import torch.distributed as dist

from ..client import Run, _FileSink, _HubSink, _Silent, run_spec
from ..metrics import RecordChecker
from .parent import die_with_parent
from .train import train


def device_for(backend):
    if backend == "nccl":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
        return device
    return torch.device("cpu")


def backend_for(choice):
    if choice == "auto":
        return "nccl" if torch.cuda.is_available() else "gloo"
    return choice


def describe(device):
    return "cuda:%d (%s)" % (device.index, torch.cuda.get_device_name(device)) if device.type == "cuda" else "cpu"


def open_run(config, world, backend, device):
    """Rank 0's recorder: registers with the hub as the run the core launched (its id and key)."""
    experiment = config["experiment"]
    devices = [None] * world
    dist.all_gather_object(devices, describe(device))
    if dist.get_rank() != 0:
        return _Silent()
    spec = run_spec(
        experiment=experiment["name"], arm=config["arm"], seed=config["seed"], world_size=world,
        epochs=experiment["epochs"], batch_size=experiment["batchSize"], lr=experiment["optimizer"]["lr"],
        momentum=experiment["optimizer"]["momentum"], model=experiment["model"],
        dataset=experiment["dataset"]["name"], statistics_every=experiment["statistics"]["everyIterations"],
        backend=backend, devices=devices,
    )
    if not os.environ.get("SPARSELAB_HUB"):  # by hand, without a core: the records go to a file to import
        return Run(_FileSink(config.get("jsonl") or "run.jsonl", spec), RecordChecker())
    spec["launch"] = {"runId": config["runId"], "key": os.environ.get("SPARSELAB_RUN_KEY", "")}
    sink = _HubSink(os.environ["SPARSELAB_HUB"], os.environ["SPARSELAB_TOKEN"], spec, timeout=30)
    return Run(sink, RecordChecker())


def main(argv):
    die_with_parent(signal.SIGKILL)  # torchrun's agent gone: this rank goes too
    parser = argparse.ArgumentParser(prog="python -m sparselab_torch.engine")
    parser.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    config = json.loads(Path(args.config).read_text(encoding="utf-8"))
    backend = backend_for(config["backend"])
    dist.init_process_group(backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    Path(config["checkpointDir"]).mkdir(parents=True, exist_ok=True)
    (Path(config["checkpointDir"]) / ("rank-%d.pid" % rank)).write_text(str(os.getpid()))
    torch.manual_seed(config["seed"])
    device = device_for(backend)
    run = open_run(config, world, backend, device)

    def log(message):
        if rank == 0:
            print("sparselab-engine: " + message, file=sys.stderr, flush=True)
            run.log(message)

    log("rank 0 of %d on %s (%s), torch %s" % (world, describe(device), backend, torch.__version__))
    try:
        train(config, run, rank, world, device, log)
    except BaseException as error:  # noqa: B902 (the run must say why it stopped, whatever stopped it)
        print("rank %d failed: %s" % (rank, traceback.format_exc()), file=sys.stderr, flush=True)
        run.fail("rank %d: %s: %s" % (rank, type(error).__name__, error))
        sys.exit(1)
    if run.cancelled:
        run.fail("cancelled: %s" % run.cancelled)
    else:
        run.finish()
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1:])
