"""Quality of the bundled models on validation photos, beside the gray baseline:
PSNR, SSIM, CIEDE2000, colourfulness, |dCF| and FD-Lite0 at 256x256, plus image grids
(the first 16 validation photos, and every photo of a folder of real B&W photos).

    python benchmarks/quality.py --val ../shared/data/val --bw ../shared/data/bw --out docs/images

Prints a Markdown table; writes report.json and the grids into --out.
"""
import argparse
import json
import os
import sys

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from colorizer.data import IMAGE_EXTS, find_images  # noqa: E402
from colorizer.evaluate import GRAY, evaluate, grid_image, load_photos, markdown_table  # noqa: E402
from colorizer.pipeline import Colorizer  # noqa: E402


def label_row(labels, cell):
    bar = Image.new("RGB", (cell * len(labels), 22), "white")
    d = ImageDraw.Draw(bar)
    for i, t in enumerate(labels):
        d.text((i * cell + 4, 5), t, fill="black")
    return bar


def with_header(img, labels, cell):
    head = label_row(labels, cell)
    out = Image.new("RGB", (img.width, img.height + head.height), "white")
    out.paste(head, (0, 0))
    out.paste(img, (0, head.height))
    return out


def bw_sheets(folder, colorizers, out_dir, per_sheet=10, width=240):
    """Contact sheets: each row a B&W photo, then each model's colorization."""
    paths = find_images(folder, IMAGE_EXTS)
    files = []
    for k in range(0, len(paths), per_sheet):
        rows = []
        for p in paths[k:k + per_sheet]:
            src = Image.open(p).convert("RGB")
            h = round(src.height * width / src.width)
            cells = [src.resize((width, h), Image.LANCZOS)]
            for _, c in colorizers:
                cells.append(c.colorize(p).convert("RGB").resize((width, h), Image.LANCZOS))
            row = Image.new("RGB", (width * len(cells), h), "white")
            for i, im in enumerate(cells):
                row.paste(im, (i * width, 0))
            rows.append(row)
        sheet = Image.new("RGB", (rows[0].width, sum(r.height for r in rows)), "white")
        y = 0
        for r in rows:
            sheet.paste(r, (0, y))
            y += r.height
        sheet = with_header(sheet, ["B&W input"] + [n for n, _ in colorizers], width)
        path = os.path.join(out_dir, f"bw_{k // per_sheet + 1}.jpg")
        sheet.save(path, quality=85)
        files.append(path)
        print(f"wrote {path}", file=sys.stderr)
    return files


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--val", required=True)
    ap.add_argument("--bw", default=None)
    ap.add_argument("--model", nargs="+", default=["seed", "unet"], help="models to compare (names or paths)")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--out", default="docs/images")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    cols = [Colorizer.load(m, device="cpu") for m in a.model]
    cols = [(c.name, c) for c in cols]
    photos = load_photos(a.val, a.size, a.limit)
    rows, grids = evaluate([(GRAY, None)] + cols, photos, grid=16)
    print(markdown_table(rows))
    with open(os.path.join(a.out, "quality.json"), "w") as f:
        json.dump({"val": a.val, "size": a.size, "photos": len(photos[0]), "results": rows}, f, indent=2)
    columns = [r["model"] for r in rows] + ["truth"]
    g = with_header(grid_image(grids, columns, cell=128), ["input (gray)"] + columns[1:], 128)
    g.save(os.path.join(a.out, "val_grid.jpg"), quality=88)
    if a.bw:
        bw_sheets(a.bw, cols, a.out)


if __name__ == "__main__":
    main()
