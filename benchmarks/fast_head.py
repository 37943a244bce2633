"""A model's fast head against its full stride-2 head (colorizer.networks.FastHead), in
the same run on the same photos: each photo is turned into the 8-bit grayscale photo a
user would have and colorized twice by Colorizer.colorize, once as the product does (the
fast head's scores, no hints) and once with min-risk's fast_head setting off (the
network's own pooled scores: the colours of the same model without a fast head, i.e. of
the default before it had one). Prints, for both: PSNR, CIEDE2000 and colourfulness
against the colour originals and the mean seconds per photo; and the mean CIEDE2000
between the two outputs.

    python benchmarks/fast_head.py --data ../shared/data/val                  # 256x256 squares
    python benchmarks/fast_head.py --data ../shared/data/val_full --full      # photos at their own size

--model: a bundled name or a model file with a fast head (default: the bundled default).
Nothing is asserted: it prints numbers.
"""
import argparse
import sys
import time

import numpy as np
from tqdm import tqdm

from colorizer import Colorizer
from colorizer.bins import FAST_LOGITS
from colorizer.evaluation import gray_photo, load_photos
from colorizer.metrics import Scores
from hints import full_photos


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="folder of colour photos (the truth)")
    ap.add_argument("--model", default="default", help="bundled name or model file with a fast head (default: default)")
    ap.add_argument("--full", action="store_true", help="photos at their own size (default: centre-cropped squares)")
    ap.add_argument("--square", type=int, default=256, help="side of the squares without --full (default 256)")
    ap.add_argument("--limit", type=int, default=0, help="use at most this many photos")
    ap.add_argument("--backend", default=None, help="auto (default), torch or onnxruntime")
    a = ap.parse_args(argv)
    fast = Colorizer.load(a.model, backend=a.backend)
    if FAST_LOGITS not in fast.backend.outputs:
        sys.exit(f"{a.model}: this model has no fast head (scripts/distill_fast_head.py gives it one)")
    full = Colorizer.load(a.model, backend=a.backend)
    full.decoders["min-risk"].fast_head = False
    if a.full:
        photos = list(full_photos(a.data, a.limit))
    else:
        p = load_photos(a.data, a.square, a.limit)
        photos = list(zip(p.names, p.pixels))
    metrics = ("psnr", "ciede2000", "cf")
    scores = {"fast head": Scores(metrics), "full head": Scores(metrics)}
    between = Scores(("ciede2000",))
    seconds = {k: [] for k in scores}
    for _, rgb in tqdm(photos, desc="photos", file=sys.stderr):
        gray = gray_photo(rgb)
        out = {}
        for name, c in (("fast head", fast), ("full head", full)):
            t0 = time.perf_counter()
            out[name] = np.asarray(c.colorize(gray).image)
            seconds[name].append(time.perf_counter() - t0)
            scores[name].add(out[name], rgb)
        between.add(out["fast head"], out["full head"])
    where = f"{len(photos)} photos of {a.data}" + (" at their own size" if a.full else f", {a.square}x{a.square} squares")
    print(f"\n{where}; model {fast.name}, backend {fast.backend.name}\n")
    print("| scores | PSNR (dB) | CIEDE2000 | colourfulness (truth {:.1f}) | s / photo |".format(
        scores["fast head"].summary()["cf_true"]))
    print("|---|---|---|---|---|")
    for name, s in scores.items():
        m = s.summary()
        print(f"| {name} | {m['psnr']:.2f} | {m['ciede2000']:.3f} | {m['cf']:.1f} | {np.median(seconds[name]):.4f} |")
    print(f"\nmean CIEDE2000 between the two outputs: {between.summary()['ciede2000']:.3f} "
          f"(photo by photo: worst {max(between.per_photo['ciede2000']):.3f})")


if __name__ == "__main__":
    main()
