"""Copy a trained model file into the package's bundled weights, in fp16, with its
decoding and a training note recorded in its metadata.

    python scripts/ship_model.py runs/unet128ft2/model.safetensors unet --decoding min-risk --blend 0.5 \\
        --trained-on "shared/data/train (24,613 colour photos), 128 px crops, 105 + 90 + 95 min on 1 CPU core"

The model file keeps its decoding as colorizer.decoding reads it:
    "decoding": {"default": "min-risk", "annealed-mean": {"blend": 0.5}}
--decoding sets the default rule (min-risk, annealed-mean or regression; --rule is an
alias), --blend annealed-mean's regression fallback (it applies when a user switches to
annealed-mean). Settings the file already has are kept unless changed here; files with the
older "decode" metadata are converted. The settings are checked by creating the decoders,
as Colorizer.load does, before anything is written. NAME.onnx, the network exported for
ONNX Runtime (the default backend on the CPU), is written beside the weights from them
(--no-onnx: not), so that the two always hold the same network.
To export it again alone: colorizer export unet -o src/colorizer/weights/unet.onnx
"""
import argparse
import json
import os
import sys

import torch

from colorizer import decoding
from colorizer.bundled import weights_dir
from colorizer.model_files import WeightsError, read_model_file, write_model_file
from colorizer.networks import build_model


def decoding_metadata(info, extra, outputs, default=None, blend=None):
    """The "decoding" metadata for a model file: the file's own settings (`info`), with
    the default rule and annealed-mean's blend replaced where given, checked by creating
    the decoders for a network with these `outputs`. ValueError names a bad setting."""
    old_default, configs = decoding.model_settings(info)
    configs = {name: dict(settings) for name, settings in configs.items()}
    if blend is not None:
        configs.setdefault("annealed-mean", {})["blend"] = blend
    info = {"decoding": {"default": default or old_default, **configs}}
    default, decoders = decoding.for_model(info, extra, outputs)
    for name in configs:
        if name not in decoders:
            raise ValueError(f"{name} decoding does not fit this model (it can use {', '.join(decoders)})")
    return decoding.settings_for_file(default, {name: decoders[name] for name in configs})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="a model file written by `colorizer train`")
    ap.add_argument("name", help="bundled name, e.g. unet (writes src/colorizer/weights/NAME.safetensors)")
    ap.add_argument("--decoding", "--rule", dest="decoding", choices=decoding.NAMES,
                    help="the model's default decoding (users can pick another)")
    ap.add_argument("--blend", type=float, help="annealed-mean: regression fallback where the colour classes are uncertain")
    ap.add_argument("--trained-on", help="one line: data and budget")
    ap.add_argument("--out", help="write here instead of src/colorizer/weights/NAME.safetensors")
    ap.add_argument("--no-onnx", dest="onnx", action="store_false",
                    help="do not export NAME.onnx beside the weights (by default it is, for ONNX Runtime, the default "
                         "backend on the CPU; needs the onnx package)")
    a = ap.parse_args(argv)
    try:
        arch, config, info, state, extra = read_model_file(a.model)
    except WeightsError as e:  # names the file
        ap.exit(1, f"{ap.prog}: error: {e}\n")
    try:
        outputs = build_model(arch, pretrained=False, **config).output_names
    except (ValueError, TypeError) as e:
        ap.exit(1, f"{ap.prog}: error: {a.model}: {str(e).splitlines()[0]}\n")
    try:
        info["decoding"] = decoding_metadata(info, extra, outputs, default=a.decoding, blend=a.blend)
    except ValueError as e:
        ap.error(str(e))
    info.pop("decode", None)  # the older form, converted above
    if a.trained_on:
        info["trained_on"] = a.trained_on
    out = a.out or os.path.join(str(weights_dir()), f"{a.name}.safetensors")
    write_model_file(out, arch, config, state, extra, dtype=torch.float16, info=info)
    shown = {k: v for k, v in info.items() if k != "history"}
    print(f"{out}: {arch}, {os.path.getsize(out) / 1e6:.1f} MB, info {json.dumps(shown)}")
    if a.onnx:
        ship_onnx(out)
    return 0


def ship_onnx(weights):
    """Export the shipped weights beside them (NAME.onnx, what the default `auto` backend
    runs in ONNX Runtime), checked against PyTorch; a stale export of older weights is
    removed when the network does not export (colorizer.export.UNSUPPORTED)."""
    from colorizer.export import UNSUPPORTED, export_model
    arch = read_model_file(weights)[0]
    onnx = os.path.splitext(weights)[0] + ".onnx"
    if arch in UNSUPPORTED:
        if os.path.exists(onnx):
            os.unlink(onnx)
        print(f"{weights}: no ONNX export ({arch}: {UNSUPPORTED[arch]})")
        return
    result = export_model(weights, onnx)
    print(f"{onnx}: {result.bytes / 1e6:.1f} MB, max |ONNX Runtime - PyTorch| "
          f"{max(result.max_difference.values(), default=float('nan')):.2g}")


if __name__ == "__main__":
    sys.exit(main())
