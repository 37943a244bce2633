"""Copy a trained model file into the package's bundled weights, in fp16, with the
decoding defaults and a training note recorded in its metadata.

    python scripts/ship_model.py runs/unet128ft2/model.safetensors unet --blend 2 --curve 20 1 --scales 1 0.5 --vibrance 0.62 \
        --trained-on "shared/data/train (24,613 colour photos), 128 px crops, 105 + 90 min on 1 CPU core"
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from colorizer.checkpoint import read_model_file, write_model_file  # noqa: E402
from colorizer.pipeline import weights_dir  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="a model file written by `colorizer train`")
    ap.add_argument("name", help="bundled name, e.g. unet (writes src/colorizer/weights/NAME.safetensors)")
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
    if a.blend is not None:
        decode["blend"] = a.blend
    if a.vibrance is not None:
        decode["vibrance"] = a.vibrance
    if a.curve is not None:
        if not (a.curve[0] > 0 and 0 <= a.curve[1] <= 4):
            ap.error("--curve needs c > 0 and gamma in 0..4")
        decode["curve"] = a.curve
    if a.scales is not None:
        if a.scales[0] != 1.0 or not all(0 < x <= 4 for x in a.scales):
            ap.error("--scales must start with 1 and lie in (0, 4]")
        decode["scales"] = a.scales
    if decode:
        info["decode"] = decode
    if a.trained_on:
        info["trained_on"] = a.trained_on
    out = a.out or os.path.join(str(weights_dir()), f"{a.name}.safetensors")
    write_model_file(out, arch, config, state, extra, dtype=torch.float16, info=info)
    print(f"{out}: {arch}, {os.path.getsize(out) / 1e6:.1f} MB, info {json.dumps({k: v for k, v in info.items() if k != 'history'})}")


if __name__ == "__main__":
    main()
