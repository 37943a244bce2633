"""Evaluation: grayscale each photo, colorize it, compare with the truth.

Reports PSNR (8-bit RGB), SSIM, CIEDE2000, colourfulness (CF) of predictions and
truth, |dCF| (DDColor's: the difference of the mean CFs) and its stricter per-photo
variant (the mean of |CF(pred) - CF(truth)|), and FD-Lite0 (Frechet distance on EfficientNet-Lite0 pooled
features), for each model and for the gray baseline (a = b = 0)."""
import html
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from .color import lab_to_rgb, lightness_to_gray, rgb_to_lab
from .data import IMAGE_EXTS, find_images
from .metrics import ciede2000, colorfulness, delta_colorfulness, per_photo_delta_colorfulness, psnr, ssim

GRAY = "gray"


class Lite0Features(nn.Module):
    """RGB in [0, 1] (B, 3, H, W) -> EfficientNet-Lite0 pooled features (B, 1280), at 224 px."""
    num_features = 1280

    def __init__(self):
        super().__init__()
        from .models import lite0_backbone
        self.net = lite0_backbone(pretrained=True).eval()

    @torch.no_grad()
    def forward(self, rgb):
        x = F.interpolate(rgb.float(), size=(224, 224), mode="bilinear", align_corners=False, antialias=True)
        x = (x * 255.0 - 127.0) / 128.0
        return self.net.extract_features(x).mean(dim=(2, 3))


def load_photos(root, size, limit=0):
    """Colour photos centre-cropped to a square and resized to size x size: (names, uint8 (N, size, size, 3))."""
    from tqdm import tqdm
    paths = find_images(root, IMAGE_EXTS)
    if limit:
        paths = paths[:limit]
    names, arrs, bad = [], [], 0
    for p in tqdm(paths, desc="loading photos", unit="img", file=sys.stderr):
        try:
            with Image.open(p) as im:
                im = im.convert("RGB")
                w, h = im.size
                s = min(w, h)
                im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
                im = im.resize((size, size), Image.BICUBIC)
                arrs.append(np.asarray(im, dtype=np.uint8))
                names.append(os.path.relpath(p, root))
        except Exception as e:  # noqa: BLE001 - report and go on
            bad += 1
            print(f"{p}: skipped ({str(e).splitlines()[0][:100]})", file=sys.stderr)
    if not arrs:
        raise FileNotFoundError(f"{root}: no readable photos")
    return names, np.stack(arrs)


@torch.no_grad()
def predict_rgb(colorizer, L, vibrance=None):
    """L (B, 1, H, W) -> RGB (B, 3, H, W) in [0, 1], with a,b upsampled bilinearly as
    the full pipeline does. colorizer=None gives the gray baseline."""
    if colorizer is None:
        return lightness_to_gray(L).expand(-1, 3, -1, -1)
    ab = colorizer.predict_ab(L, vibrance=vibrance).float().cpu()
    if ab.shape[-2:] != L.shape[-2:]:
        ab = F.interpolate(ab, size=L.shape[-2:], mode="bilinear", align_corners=False)
    return lab_to_rgb(torch.cat([L, ab], 1))


def evaluate(models, photos, vibrances=(None,), batch=16, fd=True, grid=16, progress=True):
    """models: list of (label, Colorizer or None for gray). Returns (rows, grid images)."""
    from tqdm import tqdm
    names, arr = photos
    truth = torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 255.0
    L = rgb_to_lab(truth)[:, :1]
    truth_np = arr.astype(np.float32) / 255.0
    cf_true = np.array([colorfulness(t) for t in truth_np])
    feat = fd_real = None
    if fd:
        from torchmetrics.image.fid import FrechetInceptionDistance
        feat = Lite0Features()
    rows, grids = [], {}
    configs = []
    for label, col in models:
        vs = [None] if col is None or "logits" not in _outputs(col) else vibrances
        for v in vs:
            configs.append((label if v is None or len(vs) == 1 else f"{label} v={v}", label, col, v))
    for name, label, col, v in configs:
        t0 = time.time()
        per = {"psnr": [], "ssim": [], "ciede2000": [], "cf": []}
        if fd:
            fid = FrechetInceptionDistance(feature=feat, normalize=True, reset_real_features=False)
        bar = tqdm(range(0, len(arr), batch), desc=f"evaluating {name}", unit="batch", disable=not progress, file=sys.stderr)
        for s in bar:
            pred = predict_rgb(col, L[s:s + batch], vibrance=v).clamp(0, 1)
            pred_u8 = pred.mul(255).round().byte().permute(0, 2, 3, 1).numpy()
            for j, p in enumerate(pred_u8.astype(np.float32) / 255.0):
                t = truth_np[s + j]
                per["psnr"].append(psnr(p, t))
                per["ssim"].append(ssim(p, t))
                per["ciede2000"].append(ciede2000(p, t))
                per["cf"].append(colorfulness(p))
            if fd:
                fid.update(torch.from_numpy(pred_u8).permute(0, 3, 1, 2).float() / 255.0, real=False)
                fid.update(truth[s:s + batch], real=True)
            if s < grid:
                grids.setdefault(name, []).append(pred_u8[: max(0, grid - s)])
        cf = np.array(per["cf"])
        row = {"model": name, "vibrance": v, "photos": len(arr),
               "psnr": float(np.mean(per["psnr"])), "ssim": float(np.mean(per["ssim"])),
               "ciede2000": float(np.mean(per["ciede2000"])), "cf": float(cf.mean()), "cf_true": float(cf_true.mean()),
               "dcf": delta_colorfulness(cf, cf_true), "photo_dcf": per_photo_delta_colorfulness(cf, cf_true),
               "seconds": round(time.time() - t0, 1)}
        if fd:
            row["fd_lite0"] = float(fid.compute())
        rows.append(row)
    grids = {k: np.concatenate(v)[:grid] for k, v in grids.items()}
    grids["truth"] = arr[:grid]
    return rows, grids


def _outputs(col):
    """Which outputs a Colorizer's network gives (probe on a tiny input)."""
    with torch.no_grad():
        return set(col.model(torch.full((1, 1, 64, 64), 50.0, device=col.device)).keys())


def grid_image(grids, columns, names=None, max_rows=16, cell=128):
    """One PNG: a row per photo, a column per model (gray input first, truth last)."""
    cols = [c for c in columns if c in grids]
    n = min(max_rows, min(len(grids[c]) for c in cols))
    out = Image.new("RGB", (cell * len(cols), cell * n), "white")
    for r in range(n):
        for c, key in enumerate(cols):
            im = Image.fromarray(grids[key][r]).resize((cell, cell), Image.BICUBIC)
            out.paste(im, (c * cell, r * cell))
    return out


def markdown_table(rows):
    head = "| model | PSNR (dB) ↑ | SSIM ↑ | CIEDE2000 ↓ | CF | CF truth | abs dCF ↓ | per-photo abs dCF ↓ | FD-Lite0 ↓ |\n"
    head += "|---|---|---|---|---|---|---|---|---|\n"
    lines = []
    for r in rows:
        fd = f"{r['fd_lite0']:.2f}" if "fd_lite0" in r else "-"
        lines.append(f"| {r['model']} | {r['psnr']:.2f} | {r['ssim']:.4f} | {r['ciede2000']:.2f} | {r['cf']:.1f} | {r['cf_true']:.1f} | {r['dcf']:.1f} | {r['photo_dcf']:.1f} | {fd} |")
    return head + "\n".join(lines) + "\n"


def write_report(out, rows, grids, meta):
    from .checkpoint import atomic_write, atomic_write_text
    os.makedirs(out, exist_ok=True)
    atomic_write_text(os.path.join(out, "report.json"), json.dumps({"meta": meta, "results": rows}, indent=2))
    md = f"# Evaluation\n\n{meta['photos']} photos from `{meta['data']}` at {meta['size']}x{meta['size']}.\n\n" + markdown_table(rows)
    atomic_write_text(os.path.join(out, "report.md"), md)
    columns = [r["model"] for r in rows] + ["truth"]  # the gray baseline is the input
    gimg = grid_image(grids, columns)
    atomic_write(os.path.join(out, "grid.png"), lambda tmp: gimg.save(tmp, format="PNG"))
    cols_html = "".join(f"<th>{html.escape(c)}</th>" for c in columns if c in grids)
    table = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v if not isinstance(v, float) else round(v, 4)))}</td>" for v in r.values()) + "</tr>" for r in rows)
    head = "".join(f"<th>{html.escape(k)}</th>" for k in (rows[0].keys() if rows else []))
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>colorizer evaluation</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px}}</style></head>
<body><h1>Evaluation</h1><p>{meta['photos']} photos from <code>{html.escape(meta['data'])}</code> at {meta['size']}x{meta['size']}.</p>
<table><tr>{head}</tr>{table}</table>
<h2>Grid</h2><p>Columns: {cols_html and ', '.join(html.escape(c) for c in columns if c in grids)}</p>
<img src="grid.png" alt="image grid"></body></html>"""
    atomic_write_text(os.path.join(out, "report.html"), page)


def run_cli(a):
    from .checkpoint import WeightsError
    from .pipeline import DEFAULT_MODEL, Colorizer
    try:
        cols = []
        for m in a.model or [DEFAULT_MODEL]:
            c = Colorizer.load(m, device="cpu")
            if not getattr(a, "decoding", None) or "bins" not in c.extra:  # a regression model: one row
                cols.append((c.name, c))
                continue
            for i, rule in enumerate(a.decoding):
                ci = c if i == 0 else Colorizer.load(m, device="cpu")
                ci.set_decoding(rule)
                cols.append((f"{ci.name} {rule}", ci))
    except WeightsError as e:
        print(f"colorizer: error: {e}", file=sys.stderr)
        return 2
    try:
        photos = load_photos(a.data, a.size, a.limit)
    except FileNotFoundError as e:
        print(f"colorizer: error: {e}", file=sys.stderr)
        return 2
    rows, grids = evaluate([(GRAY, None)] + cols, photos, vibrances=a.vibrance or [None], batch=a.batch,
                           fd=not a.no_fd, grid=a.grid)
    print(markdown_table(rows))
    if a.out:
        meta = {"data": a.data, "size": a.size, "photos": len(photos[0]), "models": a.model or [DEFAULT_MODEL]}
        write_report(a.out, rows, grids, meta)
        print(f"report: {os.path.join(a.out, 'report.html')}", file=sys.stderr)
    return 0


def run_prior(a):
    from . import bins as B
    from .checkpoint import atomic_write_text
    from .data import PhotoSet
    from .train import class_counts
    photos = PhotoSet(a.data, a.size, workers=2, limit=a.limit or None)
    bins = B.default_bins()
    counts = class_counts(photos, bins)
    w, p = B.rebalance_weights(counts, bins, lam=a.lam)
    doc = {"lambda": a.lam, "photos": len(photos), "bins": bins.tolist(), "prior": p.tolist(), "weights": w.tolist(),
           "counts": counts.tolist()}
    atomic_write_text(a.out, json.dumps(doc))
    print(f"{len(photos)} photos, {len(bins)} bins; weights from {w.min():.3f} to {w.max():.3f} -> {a.out}")
    return 0
