"""Point hints: how much a few colours from the truth help, for a hint-aware model and for a
training-free baseline run beside it, on the protocol of Zhang et al. (2017): each photo
is converted to grayscale and colorized with 0, 1, 2, 5, 10, 20, 50 single-pixel hints
taken from the truth at random positions (fixed seed; the hint sets are nested, each the
first n of one random draw), then compared with the truth (PSNR, CIEDE2000).

The baseline: the model's own colours with no hints, corrected by each hint's residual
(the hint's a,b minus the predicted a,b there) spread by a Gaussian in space and in L*
(sigma_xy a fraction of the photo's longer side, sigma_L in L* units), weights normalised
where hints overlap. It fixes global colour casts well; the learned network has to get
regions and edges right as well to beat it.

    python benchmarks/hints.py --data ../shared/data/val --model runs/unet_hints/model.safetensors --limit 200
    python benchmarks/hints.py --data ../shared/data/val_full --full --model runs/unet_hints/model.safetensors
    python benchmarks/hints.py --speed --model runs/unet_hints/model.safetensors    # 1 MP, 0 vs 10 hints
    python benchmarks/hints.py --data ../shared/data/val_full --full --model default --grid docs/images/hints.jpg

--grid PATH also draws the first --grid-rows photos: the gray input with the hints marked,
no hints, the baseline and the model with GRID_HINTS hints, and the truth.
"""
import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from tqdm import tqdm

from colorizer import Colorizer
from colorizer.evaluation import gray_photo, load_photos
from colorizer.files import find_images
from colorizer.grids import image_grid
from colorizer.hints import Hint
from colorizer.lab import lab_to_rgb, rgb_to_lab
from colorizer.metrics import Scores

# Zhang et al. 2017, Fig. 4 (ImageNet, 1000 photos, 256 px): PSNR with n random hints
ZHANG_2017 = {0: 24.43, 1: 25.37, 2: 26.20, 5: 27.39, 10: 28.42, 20: 29.34, 50: 30.42}
COUNTS = (0, 1, 2, 5, 10, 20, 50)
GRID_HINTS = 10


def full_photos(root, limit=0):
    """(name, RGB uint8 at its own size) of every photo below root."""
    paths = find_images(root, {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp"})
    for p in paths[:limit or None]:
        with Image.open(p) as im:
            yield os.path.relpath(p, root), np.asarray(im.convert("RGB"))


def hints_from_truth(rgb, n, rng):
    """n single-pixel hints at uniformly random positions, with the truth's colour there."""
    H, W = rgb.shape[:2]
    ys, xs = rng.integers(0, H, n), rng.integers(0, W, n)
    return [Hint(int(x), int(y), "#" + "".join(f"{int(v):02x}" for v in rgb[y, x])) for y, x in zip(ys, xs)]


def to_lab(rgb_u8):
    return rgb_to_lab(torch.from_numpy(np.ascontiguousarray(rgb_u8)).permute(2, 0, 1).float() / 255.0)


def gaussian_baseline(pred_u8, hints, truth_u8, sigma_xy=0.25, sigma_L=12.0, max_side=512):
    """The training-free baseline (module docstring): pred (H, W, 3) uint8 corrected by the
    hints' residuals; the correction is computed at most max_side pixels wide and upsampled."""
    if not hints:
        return pred_u8
    H, W = pred_u8.shape[:2]
    lab = to_lab(pred_u8)
    s = min(1.0, max_side / max(H, W))
    h, w = max(1, round(H * s)), max(1, round(W * s))
    L_small = F.interpolate(lab[None, :1], size=(h, w), mode="bilinear", align_corners=False, antialias=True)[0, 0]
    ys = torch.tensor([min(H - 1, int(p.y)) for p in hints])
    xs = torch.tensor([min(W - 1, int(p.x)) for p in hints])
    truth_ab = to_lab(truth_u8)[1:, ys, xs]                       # (2, n): the hint's a,b (its truth)
    resid = truth_ab - lab[1:, ys, xs]                              # (2, n)
    L_hint = lab[0, ys, xs]                                         # (n,)
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32) / s, torch.arange(w, dtype=torch.float32) / s, indexing="ij")
    sxy = sigma_xy * max(H, W)
    d2 = (yy[None] - ys[:, None, None]) ** 2 + (xx[None] - xs[:, None, None]) ** 2     # (n, h, w)
    wgt = torch.exp(-d2 / (2 * sxy ** 2) - (L_small[None] - L_hint[:, None, None]) ** 2 / (2 * sigma_L ** 2))
    corr = torch.einsum("nhw,cn->chw", wgt, resid) / wgt.sum(0).clamp(min=1.0)
    corr = F.interpolate(corr[None], size=(H, W), mode="bilinear", align_corners=False)[0]
    out = lab_to_rgb(torch.cat([lab[:1], lab[1:] + corr], 0))
    return out.permute(1, 2, 0).mul(255).round().clamp(0, 255).byte().numpy()


def marked(gray, hints):
    """The gray photo (RGB) with each hint drawn as a dot of its colour in a black and white ring."""
    img = gray.convert("RGB")
    draw = ImageDraw.Draw(img)
    r = max(3, round(max(img.size) / 80))
    for h in hints:
        draw.ellipse((h.x - r - 2, h.y - r - 2, h.x + r + 2, h.y + r + 2), fill="white")
        draw.ellipse((h.x - r - 1, h.y - r - 1, h.x + r + 1, h.y + r + 1), fill="black")
        draw.ellipse((h.x - r, h.y - r, h.x + r, h.y + r), fill=h.color)
    return img


def speed(c, size, runs=7):
    """Median seconds to colorize a 1 MP photo (1155 x 866, in memory, model loaded) with 0
    and with 10 hints: what the web page's live re-colorizing costs."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:866, 0:1155]
    pattern = (np.sin(x / 50) * np.cos(y / 37) + 1) * 100 + rng.normal(0, 5, x.shape)
    gray = Image.fromarray(pattern.clip(0, 255).astype(np.uint8))
    hints = [Hint(int(rng.integers(0, 1155)), int(rng.integers(0, 866)), "#3366cc") for _ in range(10)]
    out = {}
    for n in (0, 10):
        c.colorize(gray, size=size, hints=hints[:n])  # warm up
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            c.colorize(gray, size=size, hints=hints[:n])
            times.append(time.perf_counter() - t)
        out[n] = float(np.median(times))
    print(f"1 MP photo, working size {size}, {torch.get_num_threads()} threads: no hints {out[0] * 1000:.0f} ms, "
          f"10 hints {out[10] * 1000:.0f} ms (ratio {out[10] / out[0]:.2f})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="folder of colour photos (the truth)")
    ap.add_argument("--speed", action="store_true", help="time re-colorizing a 1 MP photo with 0 and 10 hints instead")
    ap.add_argument("--model", required=True, help="a hint-aware model file (bundled name or .safetensors)")
    ap.add_argument("--full", action="store_true", help="photos at their own size (default: centre-cropped squares)")
    ap.add_argument("--square", type=int, default=256, help="side of the squares without --full (default 256)")
    ap.add_argument("--size", type=int, default=256, help="working size of the network (default 256)")
    ap.add_argument("--counts", type=int, nargs="+", default=list(COUNTS), help="numbers of hints (default 0 1 2 5 10 20 50)")
    ap.add_argument("--limit", type=int, default=0, help="use at most this many photos")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sigma-xy", type=float, default=0.25, help="baseline: spatial sigma, a fraction of the longer side")
    ap.add_argument("--sigma-l", type=float, default=12.0, help="baseline: sigma in L* units")
    ap.add_argument("--grid", help=f"also write a picture of the first photos with {GRID_HINTS} hints here (.jpg)")
    ap.add_argument("--grid-rows", type=int, default=6)
    a = ap.parse_args()
    c = Colorizer.load(a.model, device="cpu")
    if not c.backend.takes_hints and (a.speed or a.counts != [0]):
        sys.exit(f"{a.model}: not a hint-aware model (train one with colorizer train --hints; --counts 0 measures any model)")
    if a.speed:
        return speed(c, a.size)
    if not a.data:
        ap.error("--data is required (except with --speed)")
    counts = sorted(set(a.counts))
    learned = {n: Scores(("psnr", "ciede2000", "cf")) for n in counts}
    baseline = {n: Scores(("psnr", "ciede2000", "cf")) for n in counts}
    if a.full:
        photos = list(full_photos(a.data, a.limit))
    else:
        p = load_photos(a.data, a.square, a.limit)
        photos = list(zip(p.names, p.pixels))
    grid = {k: [] for k in ("hints", "none", "baseline", "learned", "truth")}
    for i, (_, rgb) in enumerate(tqdm(photos, desc="photos", file=sys.stderr)):
        gray = gray_photo(rgb)
        all_hints = hints_from_truth(rgb, max(counts), np.random.default_rng([a.seed, i]))
        auto = None
        for n in counts:
            out = np.asarray(c.colorize(gray, size=a.size, hints=all_hints[:n]).image)
            learned[n].add(out, rgb)
            if n == 0:
                auto = out
            if auto is None:
                auto = np.asarray(c.colorize(gray, size=a.size).image)
            base = gaussian_baseline(auto, all_hints[:n], rgb, a.sigma_xy, a.sigma_l)
            baseline[n].add(base, rgb)
            if a.grid and i < a.grid_rows and n == GRID_HINTS:
                for k, v in zip(grid, (marked(gray, all_hints[:n]), auto, base, out, rgb)):
                    grid[k].append(v)
    if a.grid and grid["learned"]:
        labels = ("gray + hints", "no hints", f"baseline, {GRID_HINTS} hints", f"model, {GRID_HINTS} hints", "truth")
        image_grid(list(zip(labels, grid.values())), height=192).save(a.grid, quality=90)
        print(f"wrote {a.grid}", file=sys.stderr)
    where = f"{len(photos)} photos of {a.data}" + (" at full size" if a.full else f", {a.square}x{a.square} squares")
    print(f"\n{where}, model {c.name}, working size {a.size}\n")
    print("| hints | PSNR (dB) learned | PSNR baseline | Zhang et al. 2017 | CIEDE2000 learned | CIEDE2000 baseline "
          "| CF learned | CF baseline |")
    print("|---|---|---|---|---|---|---|---|")
    for n in counts:
        sl, sb = learned[n].summary(), baseline[n].summary()
        z = f"{ZHANG_2017[n]:.2f}" if n in ZHANG_2017 else "-"
        print(f"| {n} | {sl['psnr']:.2f} | {sb['psnr']:.2f} | {z} | {sl['ciede2000']:.2f} | {sb['ciede2000']:.2f} "
              f"| {sl['cf']:.1f} | {sb['cf']:.1f} |")
    print(f"\ntruth colourfulness {learned[counts[0]].summary()['cf_true']:.1f}")
    if 0 in counts and 10 in counts:
        s0, s10, b10 = learned[0].summary(), learned[10].summary(), baseline[10].summary()
        print(f"\n10 hints: learned +{s10['psnr'] - s0['psnr']:.2f} dB over none, "
              f"{s10['psnr'] - b10['psnr']:+.2f} dB against the baseline")


if __name__ == "__main__":
    main()
