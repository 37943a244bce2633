"""Quality against time for the working size (`colorizer colorize --size`): each
validation photo is turned into the 8-bit grayscale photo a user would have (its own L*,
R = G = B), colorized through Colorizer.colorize at working sizes 128, 256, 384 and 512,
and compared with the original colours: PSNR, CIEDE2000, colourfulness (CF) and |dCF| (of the means, and per photo),
and the mean wall seconds per photo (PIL image in, PIL image out), on this machine.

    python benchmarks/size_tradeoff.py --data ../shared/data/val --limit 200                 # the default model
    python benchmarks/size_tradeoff.py --data ../shared/data/val --model seed --model unet --limit 200

Prints a Markdown table; the gray row is the input itself (a = b = 0).
"""
import argparse
import os
import sys
import time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from colorizer.checkpoint import WeightsError  # noqa: E402
from colorizer.color import lightness_to_gray, rgb_to_lab  # noqa: E402
from colorizer.evaluate import load_photos  # noqa: E402
from colorizer.metrics import ciede2000, colorfulness, delta_colorfulness, per_photo_delta_colorfulness, psnr  # noqa: E402
from colorizer.pipeline import Colorizer, working_shape  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="folder of colour validation photos, e.g. ../shared/data/val")
    p.add_argument("--model", action="append", default=None,
                   help="bundled model name or .safetensors path; repeat for several (default: the bundled default)")
    p.add_argument("--sizes", default="128,256,384,512", help="working sizes, comma-separated (default 128,256,384,512)")
    p.add_argument("--limit", type=int, default=200, help="photos used, at most (default 200; 0: all)")
    p.add_argument("--photo-size", type=int, default=160,
                   help="photos are centre-cropped and resized to this square first (default 160, the validation set's own size)")
    p.add_argument("--vibrance", type=float, default=None, help="as colorize --vibrance (default: the model's default)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's default)")
    return p.parse_args(argv)


def gray_photo(rgb_u8):
    """The 8-bit grayscale photo of a colour photo: each pixel the sRGB gray of its L*."""
    t = torch.from_numpy(rgb_u8).permute(2, 0, 1).float() / 255.0
    L = rgb_to_lab(t)[:1]
    g = lightness_to_gray(L)[0].mul(255).round().clamp(0, 255).to(torch.uint8).numpy()
    return Image.fromarray(g, "L")


def evaluate_size(col, grays, truth, size, vibrance):
    col.colorize(grays[0], vibrance=vibrance, size=size)  # warm-up at this input shape
    scores = {"psnr": [], "ciede2000": [], "cf": []}
    seconds = []
    for g, t in zip(grays, truth):
        t0 = time.perf_counter()
        out = col.colorize(g, vibrance=vibrance, size=size)
        seconds.append(time.perf_counter() - t0)
        p = np.asarray(out.convert("RGB"), dtype=np.float32) / 255.0
        scores["psnr"].append(psnr(p, t))
        scores["ciede2000"].append(ciede2000(p, t))
        scores["cf"].append(colorfulness(p))
    return scores, seconds


def main(argv=None):
    a = parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    try:
        cols = [Colorizer.load(m, device="cpu") for m in (a.model or [None])]
    except WeightsError as e:
        print(f"size_tradeoff: error: {e}", file=sys.stderr)
        return 2
    sizes = [int(s) for s in a.sizes.split(",") if s.strip()]
    names, arr = load_photos(a.data, a.photo_size, a.limit)
    truth = [x.astype(np.float32) / 255.0 for x in arr]
    grays = [gray_photo(x) for x in arr]
    cf_t = np.array([colorfulness(t) for t in truth])
    base = {"psnr": [], "ciede2000": [], "cf": []}
    for g, t in zip(grays, truth):
        p = np.asarray(g.convert("RGB"), dtype=np.float32) / 255.0
        base["psnr"].append(psnr(p, t))
        base["ciede2000"].append(ciede2000(p, t))
        base["cf"].append(colorfulness(p))
    rows = []
    for col in cols:
        for size in sizes:
            scores, seconds = evaluate_size(col, grays, truth, size, a.vibrance)
            rows.append((col, size, scores, seconds))
            print(f"{col.name} size {size}: {np.mean(scores['psnr']):.2f} dB, {np.mean(seconds) * 1000:.1f} ms/photo",
                  file=sys.stderr, flush=True)

    side = a.photo_size
    print(f"# Working size: quality against time\n\n{len(arr)} photos from `{a.data}` at {side}x{side}; "
          f"{torch.get_num_threads()} torch threads; colourfulness of the originals {cf_t.mean():.1f}. Time: mean wall "
          "seconds per Colorizer.colorize call (8-bit gray PIL image in, PIL image out), after one warm-up call per size.\n")
    print("| model | working size | network input | PSNR (dB) ↑ | CIEDE2000 ↓ | CF | abs dCF ↓ | per-photo abs dCF ↓ | s / photo | photos / s |")
    print("|---|---|---|---|---|---|---|---|---|---|")

    def line(model, label, net, s, secs):
        cf = np.array(s["cf"])
        t = f"{np.mean(secs):.4f} | {1 / np.mean(secs):.1f}" if secs else "- | -"
        print(f"| {model} | {label} | {net} | {np.mean(s['psnr']):.2f} | {np.mean(s['ciede2000']):.2f} | {cf.mean():.1f} | "
              f"{delta_colorfulness(cf, cf_t):.1f} | {per_photo_delta_colorfulness(cf, cf_t):.1f} | {t} |")

    line("gray input", "-", "-", base, [])
    for col, size, scores, seconds in rows:
        h, w = working_shape(side, side, size)
        line(f"{col.name} ({col.arch})", str(size), f"{w}x{h}", scores, seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
