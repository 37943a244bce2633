"""Quality of the bundled models on validation photos, beside the gray baseline:
PSNR, SSIM, CIEDE2000, colourfulness, |dCF| and FD-Lite0 at 256x256, plus image grids
(the first 16 validation photos, and every photo of a folder of real B&W photos).

    python benchmarks/quality.py --val ../shared/data/val --bw ../shared/data/bw --out docs/images

Prints a Markdown table; writes quality.json and the grids into --out.
"""
import argparse
import json
import os
import sys

from PIL import Image

from colorizer import Colorizer
from colorizer.evaluation import GRAY, PHOTO_EXTS, evaluate, grid_image, load_photos, markdown_table
from colorizer.files import find_images
from colorizer.grids import image_grid


def bw_sheets(folder, colorizers, out_dir, per_sheet=10, height=180):
    """Contact sheets of `per_sheet` rows: each row a B&W photo, then each model's colorization."""
    paths = find_images(folder, PHOTO_EXTS)
    files = []
    for k in range(0, len(paths), per_sheet):
        inputs, outputs = [], {name: [] for name, _ in colorizers}
        for p in paths[k:k + per_sheet]:
            with Image.open(p) as im:
                inputs.append(im.convert("RGB"))
            for name, c in colorizers:
                outputs[name].append(c.colorize(p).image.convert("RGB"))
        sheet = image_grid([("B&W input", inputs)] + list(outputs.items()), height=height)
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
        json.dump({"val": a.val, "size": a.size, "photos": len(photos.names), "results": rows}, f, indent=2)
    grid_image(rows, grids, height=128, max_rows=16).save(os.path.join(a.out, "val_grid.jpg"), quality=88)
    if a.bw:
        bw_sheets(a.bw, cols, a.out)


if __name__ == "__main__":
    main()
