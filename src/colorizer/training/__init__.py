"""Training, beside the product pipeline (not on top of it):

    config.py      TrainConfig: every option, its default and help, listed once
    data.py        PhotoSet: photos decoded once into RAM, served as Lab crops
    shards.py      ShardSet: photos streamed from WebDataset tar shards; write_shards (`colorizer shards`)
    distributed.py torchrun: the process group, each rank's share of the photos, per-rank seeds
    prior.py       the class-rebalancing prior and weights (also `colorizer prior`)
    losses.py      the loss: class cross-entropy and/or a,b regression
    validation.py  metrics and a grid, decoded as the model files will be
    state.py       the resumable checkpoint of a run folder (one file, atomic)
    loop.py        train(): the loop, read top to bottom

    from colorizer.training import TrainConfig, train
    train(TrainConfig(data="photos/", val="val/", out="runs/mine", epochs=10))

`train` is imported on first use, so that reading the options needs no torch."""
from .config import TrainConfig


def __getattr__(name):
    if name == "train":
        from .loop import train
        return train
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["TrainConfig", "train"]
