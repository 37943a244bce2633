"""Bundled models on full-size colour photos that ship with scikit-image (public domain /
CC0; 512x512 and larger, unlike the 160 px validation photos): each photo is converted to
grayscale, colorized at its own resolution by Colorizer.colorize (the default working
size), and compared with the original. Prints a Markdown table of CIEDE2000 and
colourfulness (CF) per photo and their means, with the gray input as a baseline.

    python benchmarks/sample_photos.py                    # all bundled models
    python benchmarks/sample_photos.py --model seed --model runs/x/model.safetensors
"""
import argparse
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from colorizer.metrics import ciede2000, colorfulness  # noqa: E402
from colorizer.pipeline import Colorizer, available_models  # noqa: E402

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


def write_grid(path, rows, labels, height=200):
    from PIL import ImageDraw
    cells = [[Image.fromarray((np.clip(x, 0, 1) * 255).round().astype(np.uint8)) for x in row] for row in rows]
    cells = [[c.resize((round(c.width * height / c.height), height), Image.LANCZOS) for c in row] for row in cells]
    widths = [max(row[i].width for row in cells) for i in range(len(labels))]
    top = 18
    grid = Image.new("RGB", (sum(widths), top + height * len(cells)), "white")
    draw = ImageDraw.Draw(grid)
    x = 0
    for i, label in enumerate(labels):
        draw.text((x + 4, 3), label, fill="black")
        for j, row in enumerate(cells):
            grid.paste(row[i], (x, top + j * height))
        x += widths[i]
    grid.save(path, quality=88)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append", help="bundled name or .safetensors path; repeat (default: all bundled)")
    ap.add_argument("--size", type=int, default=None, help="working size (default: the pipeline's, 256)")
    ap.add_argument("--grid", help="also write an image grid here (a row per photo: gray input, each model, original)")
    a = ap.parse_args()
    from skimage import data
    cols = [Colorizer.load(m, device="cpu") for m in (a.model or available_models())]
    names = ["gray"] + [c.name for c in cols]
    rows, de, cf = [], {n: [] for n in names}, {n: [] for n in names}
    cf_true, grid_rows = [], []
    for photo in PHOTOS:
        rgb = getattr(data, photo)()
        truth = rgb.astype(np.float32) / 255.0
        gray = Image.fromarray(rgb).convert("L")
        cf_true.append(colorfulness(truth))
        outs = {"gray": np.asarray(gray.convert("RGB"), np.float32) / 255.0}
        for c in cols:
            kw = {"size": a.size} if a.size else {}
            outs[c.name] = np.asarray(c.colorize(gray, **kw).convert("RGB"), np.float32) / 255.0
        if a.grid:
            grid_rows.append([outs[n] for n in names] + [truth])
        cells = []
        for n in names:
            de[n].append(ciede2000(outs[n], truth))
            cf[n].append(colorfulness(outs[n]))
            cells.append(f"{de[n][-1]:.2f} / {cf[n][-1]:.1f}")
        rows.append(f"| {photo} ({rgb.shape[1]}x{rgb.shape[0]}) | {cf_true[-1]:.1f} | " + " | ".join(cells) + " |")
    print(f"CIEDE2000 ↓ / CF per model at working size {a.size or 'default'}; CF truth is the original's colourfulness.\n")
    print("| photo | CF truth | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    print("\n".join(rows))
    if a.grid:
        write_grid(a.grid, grid_rows, names + ["original"])
    print(f"| **mean** | {np.mean(cf_true):.1f} | " + " | ".join(f"**{np.mean(de[n]):.2f} / {np.mean(cf[n]):.1f}**" for n in names) + " |")


if __name__ == "__main__":
    main()
