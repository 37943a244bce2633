"""Data-parallel training across processes, as torchrun starts them (PyTorch DDP), in the
manner of nanoGPT: a rank check and a data partition, nothing more.

    torchrun --nproc_per_node 2 -m colorizer train --data photos/ --out runs/a ...

torchrun sets RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT for each process;
`setup()` reads them and joins the process group: gloo on the CPU, NCCL on CUDA (one GPU
per process, cuda:LOCAL_RANK). Without them (plain `colorizer train`) it returns a world of
one process and joins nothing, so single-process training is unchanged.

The batch size is the global one (`--batch 32` on 4 processes: 8 photos each per step);
gradients are averaged over the processes, so a step is the same step as in one process
and the learning rate needs no scaling. Rank 0 alone writes (checkpoints, grids, the model
file, the progress bar); every rank reads the checkpoint on resume."""
import os
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class World:
    """Where this process stands: its rank among `size` processes, and its device."""
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self):
        """Rank 0: the one process that writes files and prints progress."""
        return self.rank == 0

    @property
    def distributed(self):
        return self.size > 1


def launched():
    """True inside a process that torchrun started for more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup():
    """The World of this process; joins the process group when torchrun started several
    (gloo on the CPU, NCCL when CUDA is there). ValueError with a one-line reason when
    torchrun's environment is incomplete."""
    cuda = torch.cuda.is_available()
    if not launched():
        return World(device=torch.device("cuda" if cuda else "cpu"))
    try:
        rank, size, local = (int(os.environ[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    except (KeyError, ValueError):
        raise ValueError("WORLD_SIZE is set but RANK or LOCAL_RANK is not: start distributed training with torchrun") from None
    import torch.distributed as dist
    if cuda:
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo", device_id=device if cuda else None)
    return World(rank=rank, size=size, local_rank=local, device=device)


def teardown(world, wait=False):
    """Leave the process group. wait=True (every rank ends at the same point): first wait
    for the others, so that no rank tears its connections down while rank 0 is still
    writing the model or a checkpoint (gloo then aborted the other process, exit -6)."""
    if world.distributed:
        import torch.distributed as dist
        if dist.is_initialized():
            if wait:
                dist.barrier()
            dist.destroy_process_group()


def part(items, world):
    """This rank's share of `items` (a list, in a fixed order): every size-th from the rank's
    own position. The shares of the ranks are disjoint and cover every item; their lengths
    differ by at most one."""
    return items[world.rank::world.size]


def epoch_order(n, seed, epoch, world):
    """The order in which this rank goes through its n photos in `epoch`: a permutation
    seeded by the run's seed, the epoch and (with several processes) the rank, so every
    epoch is shuffled anew and a resumed run finds the same order again. One process: the
    order plain training has always used."""
    key = [seed, epoch] + ([1_000_000_007, world.rank] if world.distributed else [])
    return np.random.default_rng(key).permutation(n)


def step_rng(seed, stream, step, world):
    """A generator for the randomness of one step (crops and flips, simulated hints):
    seeded by the run's seed, the stream, the step and (with several processes) the rank.
    Nothing random carries over from one step to the next, so a resumed run draws exactly
    what the uninterrupted one drew, and needs no saved generator state."""
    key = [seed, stream, step] + ([world.rank] if world.distributed else [])
    return np.random.default_rng(key)


def all_sum(values, world):
    """The element-wise sum over the ranks of a list of numbers (a float64 tensor) - one
    collective; the values themselves in a world of one."""
    t = torch.tensor(values, dtype=torch.float64)
    if world.distributed:
        import torch.distributed as dist
        if dist.get_backend() == "nccl":
            t = t.to(world.device)
        dist.all_reduce(t)
    return t.cpu()


def all_min(value, world):
    """The smallest of an integer over the ranks."""
    if not world.distributed:
        return int(value)
    import torch.distributed as dist
    t = torch.tensor([int(value)], dtype=torch.int64, device=world.device if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return int(t.item())


def all_gather_ints(value, world):
    """[value of rank 0, value of rank 1, ...]."""
    if not world.distributed:
        return [int(value)]
    import torch.distributed as dist
    out = [None] * world.size
    dist.all_gather_object(out, int(value))
    return [int(v) for v in out]


def wrap(model, world):
    """The model as the steps call it: in DistributedDataParallel with several processes
    (gradients averaged across them at each backward), the model itself otherwise."""
    if not world.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel
    ids = [world.device.index] if world.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)
