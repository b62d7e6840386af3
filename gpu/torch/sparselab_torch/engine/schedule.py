"""common/schedule.ts learningRateAt and common/experiment.ts densityAt, for the experiment's JSON (validated by the
core, so common/experiment.ts's defaults are filled in)."""
import math


def learning_rate_at(experiment, epoch):
    optimizer = experiment["optimizer"]
    rate, schedule, warmup = optimizer["lr"], optimizer["schedule"], optimizer["warmupEpochs"]
    if schedule["type"] == "step":
        rate *= schedule["gamma"] ** sum(1 for m in schedule["milestones"] if epoch >= m)
    elif schedule["type"] == "cosine":
        progress = min(1, epoch / experiment["epochs"])
        rate = schedule["minLr"] + (optimizer["lr"] - schedule["minLr"]) * (1 + math.cos(math.pi * progress)) / 2
    return rate * min(1, epoch / warmup) if warmup > 0 else rate


def density_at(experiment, arm, epoch):
    warmup = experiment["densityWarmup"]
    index = math.floor(epoch)
    density = arm.get("density")
    if index < len(warmup) and density is not None:
        return max(warmup[index], density)
    return density
