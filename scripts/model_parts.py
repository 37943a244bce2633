"""Model-file surgery for the model card's recipe: the steps between training runs that
are not training. Each reads and writes model files (safetensors, as `colorizer train`
writes them) and never touches its inputs.

    python scripts/model_parts.py plain unet runs/plain.safetensors
        a hint-aware U-Net without its hint parts (hint_in, hint_out, hint_keys): a plain
        U-Net with the same colour network, so that `colorizer train --init` trains it
        without simulated hints (a hint-aware --init always trains with them)
    python scripts/model_parts.py average runs/mean.safetensors runs/a/epoch2.safetensors runs/a/model.safetensors
        the mean of the weights (and batch-norm statistics) of files of one architecture;
        the metadata of the last one
    python scripts/model_parts.py hint-keys runs/mean.safetensors unet runs/combined.safetensors
        the first file's colour network with the second's hint parts: a hint-aware model
        whose outputs without hints are the first file's (its fast head too, where it has
        one; the second file's fast head, if any, is not taken)

Model arguments are files or bundled names (`unet`, `default`). Then
`python scripts/ship_model.py runs/combined.safetensors unet --trained-on "..."` bundles one.
"""
import argparse
import sys

import torch

from colorizer.bundled import resolve_model
from colorizer.model_files import WeightsError, read_model_file, write_model_file
from colorizer.networks import is_hint_parameter


def read(model):
    """(arch, config, info, state, extra) of a model file or bundled name."""
    return read_model_file(resolve_model(model)[0])


def plain(model, out):
    arch, config, info, state, extra = read(model)
    if not config.get("hints"):
        raise ValueError(f"{model}: not a hint-aware model (nothing to take out)")
    state = {k: v.float() for k, v in state.items() if not is_hint_parameter(k)}
    write_model_file(out, arch, {**config, "hints": False}, state, extra, info=info)


def average(out, models):
    files = [read(m) for m in models]
    arch, config, info, last, extra = files[-1]
    for m, (a, c, _, s, _) in zip(models, files):
        if a != arch or c != config or s.keys() != last.keys():
            raise ValueError(f"{m}: not the same architecture as {models[-1]}")
    state = {}
    for k, v in last.items():
        # counters (num_batches_tracked) are integers: the last file's
        state[k] = v if not v.is_floating_point() else torch.stack([f[3][k].float() for f in files]).mean(0)
    write_model_file(out, arch, config, state, extra, info={**info, "averaged": [str(m) for m in models]})


def with_hint_keys(colour, keys, out):
    arch, config, info, state, extra = read(colour)
    karch, kconfig, _, kstate, _ = read(keys)
    if not kconfig.get("hints"):
        raise ValueError(f"{keys}: not a hint-aware model (it has no hint parts)")
    network = {"hints": False, "fast_head": False}  # the parts that may differ: the hint parts and a fast head
    if karch != arch or {**kconfig, **network} != {**config, **network}:
        raise ValueError(f"{keys}: not the same architecture as {colour}")
    state = {k: v.float() for k, v in state.items() if not is_hint_parameter(k)}
    state.update({k: v.float() for k, v in kstate.items() if is_hint_parameter(k)})
    write_model_file(out, arch, {**config, "hints": True}, state, extra, info=info)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("plain", help="a hint-aware model without its hint parts")
    p.add_argument("model")
    p.add_argument("out")
    p = sub.add_parser("average", help="the mean of the weights of model files")
    p.add_argument("out")
    p.add_argument("models", nargs="+")
    p = sub.add_parser("hint-keys", help="one model's colour network with another's hint parts")
    p.add_argument("colour")
    p.add_argument("keys")
    p.add_argument("out")
    a = ap.parse_args(argv)
    try:
        if a.command == "plain":
            plain(a.model, a.out)
        elif a.command == "average":
            average(a.out, a.models)
        else:
            with_hint_keys(a.colour, a.keys, a.out)
    except (WeightsError, ValueError) as e:
        ap.exit(1, f"{ap.prog}: error: {e}\n")
    print(f"wrote {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
