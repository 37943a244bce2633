"""colorizer train: train a model on a folder of colour photos. The options are the fields
of colorizer.training.TrainConfig (their defaults and help are listed there, once)."""
import argparse

from .common import error


def add_parser(sub):
    from ..training.config import cli_fields, flag, shown_default, value_type
    p = sub.add_parser("train", help="train a model on a folder of colour photos",
                       description="Train a colorization model on a folder tree of colour photos (jpg/png/webp, read "
                                   "recursively; near-grayscale photos are skipped). Ctrl-C or SIGTERM stops with a "
                                   "checkpoint (exit status 130); --resume continues from it.")
    for f in cli_fields():
        kind = value_type(f)
        kw = {"dest": f.name, "default": argparse.SUPPRESS}  # options not given stay out: see run()
        help = f.metadata["help"]
        if kind is bool:
            kw["action"] = "store_true"
        else:
            kw.update(type=kind, choices=f.metadata["choices"], metavar=f.metadata["metavar"])
            if f.name == "out":
                kw["required"] = True
            elif shown_default(f):
                help += f" (default: {shown_default(f)})"
        p.add_argument(flag(f), help=help, **kw)


def run(a):
    from ..training.config import cli_fields
    names = {f.name for f in cli_fields()}
    return run_options({k: v for k, v in vars(a).items() if k in names})


def run_options(options):
    """Train with the options the user gave ({name: value}; the others are TrainConfig's
    defaults, or a resumed run's own) and return the exit status: 0 done, 2 the run could
    not start (one line on stderr), 130 stopped by Ctrl-C or SIGTERM (with a checkpoint)."""
    if not options.get("data") and not options.get("resume"):
        return error("--data is required (except with --resume)")
    from ..model_files import WeightsError
    from ..training.loop import Interrupted, train
    try:
        train(options)
    except Interrupted:  # the checkpoint is written and the loop has said how to resume
        return 130
    except (WeightsError, FileNotFoundError, ValueError) as e:
        return error(e)
    return 0
