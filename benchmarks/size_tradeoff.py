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
import sys
import time

import numpy as np
import torch

from colorizer import Colorizer, WeightsError
from colorizer.evaluation import gray_photo, load_photos
from colorizer.metrics import Scores
from colorizer.working_size import working_shape

METRICS = ("psnr", "ciede2000", "cf")


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


def evaluate_size(col, grays, truth, size, vibrance):
    """Scores and wall seconds per photo of col.colorize at working size `size`."""
    col.colorize(grays[0], vibrance=vibrance, size=size)  # warm-up at this input shape
    scores, seconds = Scores(METRICS), []
    for g, t in zip(grays, truth):
        t0 = time.perf_counter()
        out = col.colorize(g, vibrance=vibrance, size=size).image
        seconds.append(time.perf_counter() - t0)
        scores.add(np.asarray(out.convert("RGB")), t)
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
    _, truth = load_photos(a.data, a.photo_size, a.limit)
    grays = [gray_photo(x) for x in truth]
    base = Scores(METRICS)
    for g, t in zip(grays, truth):
        base.add(np.asarray(g.convert("RGB")), t)
    rows = []
    for col in cols:
        for size in sizes:
            scores, seconds = evaluate_size(col, grays, truth, size, a.vibrance)
            rows.append((col, size, scores.summary(), seconds))
            print(f"{col.name} size {size}: {rows[-1][2]['psnr']:.2f} dB, {np.mean(seconds) * 1000:.1f} ms/photo",
                  file=sys.stderr, flush=True)

    side = a.photo_size
    print(f"# Working size: quality against time\n\n{len(truth)} photos from `{a.data}` at {side}x{side}; "
          f"{torch.get_num_threads()} torch threads; colourfulness of the originals {base.summary()['cf_true']:.1f}. Time: mean "
          "wall seconds per Colorizer.colorize call (8-bit gray PIL image in, PIL image out), after one warm-up call per size.\n")
    print("| model | working size | network input | PSNR (dB) ↑ | CIEDE2000 ↓ | CF | abs dCF ↓ | per-photo abs dCF ↓ "
          "| s / photo | photos / s |")
    print("|---|---|---|---|---|---|---|---|---|---|")

    def line(model, label, net, s, secs):
        t = f"{np.mean(secs):.4f} | {1 / np.mean(secs):.1f}" if secs else "- | -"
        print(f"| {model} | {label} | {net} | {s['psnr']:.2f} | {s['ciede2000']:.2f} | {s['cf']:.1f} | "
              f"{s['dcf']:.1f} | {s['photo_dcf']:.1f} | {t} |")

    line("gray input", "-", "-", base.summary(), [])
    for col, size, summary, seconds in rows:
        h, w = working_shape(side, side, size)
        line(f"{col.name} ({col.arch})", str(size), f"{w}x{h}", summary, seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
