"""Bundled models on full-size colour photos that ship with scikit-image (public domain /
CC0; 512x512 and larger, unlike the 160 px validation photos): each photo is converted to
grayscale, colorized at its own resolution by Colorizer.colorize (the default working
size), and compared with the original. Prints a Markdown table of CIEDE2000 and
colourfulness (CF) per photo and their means, with the gray input as a baseline.

    python benchmarks/sample_photos.py                    # all bundled models
    python benchmarks/sample_photos.py --model seed --model runs/x/model.safetensors
"""
import argparse

import numpy as np
from PIL import Image

from colorizer import Colorizer
from colorizer.bundled import available_models
from colorizer.grids import image_grid
from colorizer.metrics import Scores

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append", help="bundled name or .safetensors path; repeat (default: all bundled)")
    ap.add_argument("--size", type=int, default=None, help="working size (default: the pipeline's, 256)")
    ap.add_argument("--grid", help="also write an image grid here (a row per photo: gray input, each model, original)")
    a = ap.parse_args()
    from skimage import data
    cols = [Colorizer.load(m, device="cpu") for m in (a.model or available_models())]
    names = ["gray"] + [c.name for c in cols]
    scores = {n: Scores(metrics=("ciede2000", "cf")) for n in names}
    images = {n: [] for n in names + ["original"]}
    lines = []
    for photo in PHOTOS:
        rgb = getattr(data, photo)()
        gray = Image.fromarray(rgb).convert("L")
        outs = {"gray": gray.convert("RGB")}
        for c in cols:
            outs[c.name] = c.colorize(gray, size=a.size).image.convert("RGB")
        outs["original"] = Image.fromarray(rgb)
        cells = []
        for n in names:
            scores[n].add(np.asarray(outs[n]), rgb)
            cells.append(f"{scores[n].per_photo['ciede2000'][-1]:.2f} / {scores[n].per_photo['cf'][-1]:.1f}")
        cf_true = scores["gray"].cf_true[-1]
        lines.append(f"| {photo} ({rgb.shape[1]}x{rgb.shape[0]}) | {cf_true:.1f} | " + " | ".join(cells) + " |")
        for n, im in outs.items():
            images[n].append(im)
    means = {n: s.summary() for n, s in scores.items()}
    print(f"CIEDE2000 ↓ / CF per model at working size {a.size or 'default'}; CF truth is the original's colourfulness.\n")
    print("| photo | CF truth | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    print("\n".join(lines))
    if a.grid:
        image_grid(list(images.items()), height=200).save(a.grid, quality=88)
    print(f"| **mean** | {means['gray']['cf_true']:.1f} | "
          + " | ".join(f"**{means[n]['ciede2000']:.2f} / {means[n]['cf']:.1f}**" for n in names) + " |")


if __name__ == "__main__":
    main()
