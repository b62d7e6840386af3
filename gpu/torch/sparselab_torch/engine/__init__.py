"""SparseLab's torch engine: trains an experiment's run on torch.distributed (started by torchrun), recording it
in SparseLab over the hub protocol. The core launches it (main/core/runtime/torchEngine.ts):

    python -m sparselab_torch.engine.launch -- torchrun --standalone --nproc-per-node P \\
        -m sparselab_torch.engine --config RUN.json

gloo on CPUs; NCCL with one GPU per rank (LOCAL_RANK) where CUDA is available.
"""
