"""Colours the user steers (issue 19), measured through the real pipeline (Colorizer.colorize):

- reference: each photo colorized with its own truth as the reference photo, against no
  reference (CIEDE2000 to the truth); and with an unrelated reference (the photo half the
  folder away): the Hellinger distance between the result's a,b histogram and the
  reference's, with and without it;
- alternatives: 4 alternatives per photo; best-of-4 CIEDE2000 (per photo the alternative
  nearest the truth) against the single default result, and the mean pairwise CIEDE2000
  between the alternatives (how much they differ);
- confidence (on --val): every pixel's 8-bit confidence against its CIEDE2000 error; the
  mean error of the least confident quarter of all pixels against the most confident.

Each photo is read at most --max-side pixels on its longer side (default 512), converted to
grayscale (each pixel the gray of its own L*), colorized at the default working size and
vibrance, and compared with the colour photo at that size. Grids go to --out.

    python benchmarks/user_control.py --val-full ../shared/data/val_full --val ../shared/data/val
"""
import argparse
import itertools
import os
import sys
import time

import numpy as np
import torch
from PIL import Image
from skimage.color import deltaE_ciede2000, rgb2lab
from tqdm import tqdm

from colorizer import Colorizer
from colorizer.bins import default_bins
from colorizer.decoding.reference import ab_histogram, histogram_distance
from colorizer.evaluation import PHOTO_EXTS, gray_photo
from colorizer.files import find_images
from colorizer.grids import image_grid


def photos(root, max_side, limit=0):
    """(name, RGB PIL image at most max_side on its longer side) of the photos below root."""
    for p in find_images(root, PHOTO_EXTS)[:limit or None]:
        with Image.open(p) as im:
            im = im.convert("RGB")
            im.thumbnail((max_side, max_side), Image.BICUBIC)
            yield os.path.relpath(p, root), im


def error_map(pred, truth_lab):
    """Per-pixel CIEDE2000 (H, W) of a PIL result against the truth's Lab."""
    return deltaE_ciede2000(truth_lab, rgb2lab(np.asarray(pred.convert("RGB"))))


def palette(image):
    """The colour-class histogram of a PIL image's a,b."""
    lab = rgb2lab(np.asarray(image.convert("RGB")))
    return ab_histogram(torch.from_numpy(lab[..., 1:].transpose(2, 0, 1).astype(np.float32)), default_bins())


def error_image(err, scale=20.0):
    """A CIEDE2000 map as 8-bit gray, white = 0, black = `scale` or more (the confidence map's scale)."""
    return Image.fromarray((255 * (1 - np.clip(err / scale, 0, 1))).round().astype(np.uint8), "L")


def measure_full(c, root, max_side, limit, K, out_dir, grid_rows):
    items = list(photos(root, max_side, limit))
    rows = {"single": [], "own": [], "unrelated_de": [], "best": [], "mean_variant": [], "pairwise": [],
            "hd_without": [], "hd_with": []}
    grid = {k: [] for k in ("gray", "default", "reference", "with_ref", "truth", "variants", "confidence", "error")}
    show = set(np.linspace(0, len(items) - 1, grid_rows).round().astype(int).tolist())
    t = time.time()
    for i, (_, truth) in enumerate(tqdm(items, desc="val_full", unit="img", file=sys.stderr)):
        gray = gray_photo(np.asarray(truth))
        truth_lab = rgb2lab(np.asarray(truth))
        unrelated = items[(i + len(items) // 2) % len(items)][1]
        out = c.colorize(gray, variants=K, confidence=True)
        own = c.colorize(gray, reference=truth)
        other = c.colorize(gray, reference=unrelated)
        single_err = error_map(out.image, truth_lab)
        rows["single"].append(single_err.mean())
        rows["own"].append(error_map(own.image, truth_lab).mean())
        rows["unrelated_de"].append(error_map(other.image, truth_lab).mean())
        v_err = [error_map(v, truth_lab).mean() for v in out.variants]
        rows["best"].append(min(v_err))
        rows["mean_variant"].append(np.mean(v_err))
        labs = [rgb2lab(np.asarray(v)) for v in out.variants]
        rows["pairwise"].append(np.mean([deltaE_ciede2000(a, b).mean() for a, b in itertools.combinations(labs, 2)]))
        h_ref = palette(unrelated)
        rows["hd_without"].append(histogram_distance(palette(out.image), h_ref))
        rows["hd_with"].append(histogram_distance(palette(other.image), h_ref))
        if i in show:
            grid["gray"].append(gray)
            grid["default"].append(out.image)
            grid["reference"].append(unrelated)
            grid["with_ref"].append(other.image)
            grid["truth"].append(truth)
            grid["variants"].append(out.variants)
            grid["confidence"].append(out.confidence)
            grid["error"].append(error_image(single_err))
    seconds = time.time() - t
    m = {k: float(np.mean(v)) for k, v in rows.items()}
    print(f"\nval_full: {len(items)} photos (longer side <= {max_side}), {seconds:.0f} s")
    print(f"reference = own truth: CIEDE2000 {m['own']:.2f} vs {m['single']:.2f} without "
          f"({100 * (m['own'] / m['single'] - 1):+.1f}%)")
    print(f"unrelated reference: a,b histogram distance to it (Hellinger) {m['hd_with']:.3f} vs {m['hd_without']:.3f} "
          f"without ({100 * (m['hd_with'] / m['hd_without'] - 1):+.1f}%); CIEDE2000 to the truth {m['unrelated_de']:.2f}")
    print(f"alternatives (K={K}): best-of-{K} CIEDE2000 {m['best']:.2f} = {m['best'] / m['single']:.3f}x the single "
          f"{m['single']:.2f}; mean alternative {m['mean_variant']:.2f}; mean pairwise CIEDE2000 {m['pairwise']:.2f}")
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        h = 96
        save(image_grid([("gray", grid["gray"]), ("no reference", grid["default"]), ("reference", grid["reference"]),
                         ("with the reference", grid["with_ref"]), ("truth", grid["truth"])], height=h),
             os.path.join(out_dir, "user_control_reference.jpg"))
        cols = [("gray", grid["gray"]), ("result", grid["default"])]
        cols += [(f"alternative {k + 1}", [v[k] for v in grid["variants"]]) for k in range(K)]
        save(image_grid(cols + [("truth", grid["truth"])], height=h), os.path.join(out_dir, "user_control_variants.jpg"))
        save(image_grid([("gray", grid["gray"]), ("result", grid["default"]), ("confidence", grid["confidence"]),
                         ("actual error", grid["error"]), ("truth", grid["truth"])], height=h),
             os.path.join(out_dir, "user_control_confidence.jpg"))
    return m


def measure_calibration(c, root, max_side, limit):
    conf, err = [], []
    for _, truth in tqdm(list(photos(root, max_side, limit)), desc="val", unit="img", file=sys.stderr):
        out = c.colorize(gray_photo(np.asarray(truth)), confidence=True)
        err.append(error_map(out.image, rgb2lab(np.asarray(truth))).ravel())
        conf.append(np.asarray(out.confidence).ravel())
    err, conf = np.concatenate(err), np.concatenate(conf)
    order = np.lexsort((np.random.default_rng(0).random(len(conf)), conf))  # by confidence, ties in random order
    q = len(order) // 4
    low, high = err[order[:q]].mean(), err[order[-q:]].mean()
    print(f"\nconfidence on {root}: {len(err)} pixels; mean CIEDE2000 of the least confident quarter {low:.2f}, of the most "
          f"confident quarter {high:.2f}: {low / high:.2f}x; correlation of confidence and error "
          f"{np.corrcoef(conf, err)[0, 1]:.3f}")
    return low / high


def save(grid, path):
    grid.save(path, quality=78, optimize=True)
    print(f"wrote {path} ({os.path.getsize(path) // 1024} KB)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--val-full", default=None, help="full-size colour photos (reference and alternatives)")
    ap.add_argument("--val", default=None, help="colour photos (confidence calibration)")
    ap.add_argument("--model", default=None)
    ap.add_argument("--max-side", type=int, default=512)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--variants", type=int, default=4)
    ap.add_argument("--grid-rows", type=int, default=5)
    ap.add_argument("--out", default="docs/images")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    c = Colorizer.load(a.model)
    if a.val_full:
        measure_full(c, a.val_full, a.max_side, a.limit, a.variants, a.out, a.grid_rows)
    if a.val:
        measure_calibration(c, a.val, a.max_side, a.limit)


if __name__ == "__main__":
    main()
