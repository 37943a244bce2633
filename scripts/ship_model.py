"""Copy a trained model file into the package's bundled weights, in fp16, with the
decoding defaults and a training note recorded in its metadata.

    python scripts/ship_model.py runs/unet128ft2/model.safetensors unet --blend 0.5 --vibrance 0.62 \
        --trained-on "shared/data/train (24,613 colour photos), 128 px crops, 105 + 90 + 95 min on 1 CPU core"

Optional decoding settings (see colorizer.pipeline.decode_ab): --rule min-risk (blend
then applies only when a user switches to annealed-mean), --curve C GAMMA, --scales 1 0.5.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from colorizer.checkpoint import read_model_file, write_model_file  # noqa: E402
from colorizer.pipeline import RULES, decode_settings, weights_dir  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="a model file written by `colorizer train`")
    ap.add_argument("name", help="bundled name, e.g. unet (writes src/colorizer/weights/NAME.safetensors)")
    ap.add_argument("--rule", choices=RULES, help="default decoding rule of a class model")
    ap.add_argument("--blend", type=float, help="default regression fallback for a class model")
    ap.add_argument("--vibrance", type=float, help="default vibrance for a class model")
    ap.add_argument("--curve", type=float, nargs=2, metavar=("C", "GAMMA"),
                    help="chroma curve C' = C min((C/c)^gamma, 3) at the default vibrance (colorizer.pipeline.decode_ab)")
    ap.add_argument("--scales", type=float, nargs="+", help="input scales averaged at inference (first 1), e.g. 1 0.5")
    ap.add_argument("--trained-on", help="one line: data and budget")
    ap.add_argument("--out", help="write here instead of src/colorizer/weights/NAME.safetensors")
    a = ap.parse_args()
    arch, config, info, state, extra = read_model_file(a.model)
    decode = dict(info.get("decode", {}))
    if a.rule is not None:
        decode["rule"] = a.rule
    if a.blend is not None:
        decode["blend"] = a.blend
    if a.vibrance is not None:
        decode["vibrance"] = a.vibrance
    if a.curve is not None:
        decode["curve"] = a.curve
    if a.scales is not None:
        decode["scales"] = a.scales
    try:
        decode_settings(decode)  # the checks Colorizer.load makes
    except ValueError as e:
        ap.error(f"--{e}")
    if decode:
        info["decode"] = decode
    if a.trained_on:
        info["trained_on"] = a.trained_on
    out = a.out or os.path.join(str(weights_dir()), f"{a.name}.safetensors")
    write_model_file(out, arch, config, state, extra, dtype=torch.float16, info=info)
    print(f"{out}: {arch}, {os.path.getsize(out) / 1e6:.1f} MB, info {json.dumps({k: v for k, v in info.items() if k != 'history'})}")


if __name__ == "__main__":
    main()
