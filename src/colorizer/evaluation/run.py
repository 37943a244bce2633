"""Evaluating models on photos: each photo's lightness goes through each model (as the
product predicts a,b: Colorizer.predict_ab with its options), the colours are compared
with the truth by colorizer.metrics.Scores, and FD-Lite0 (the Frechet distance of
EfficientNet-Lite0 pooled features, torchmetrics) compares the sets. The gray baseline
(a = b = 0) is the model None."""
import sys
import time

import torch

from ..lab import lab_to_rgb, lightness_to_gray, rgb_to_lab
from ..merge import upsample_ab
from ..metrics import Scores
from ..options import ColorizeOptions

GRAY = "gray"


def rows_to_run(models, vibrances=(None,)):
    """What evaluate() measures, a row each: (row name, colorizer or None, options, vibrance).
    `models`: (label, colorizer) or (label, colorizer, ColorizeOptions) items; colorizer
    None is the gray baseline. A model whose decoding has a vibrance gives a row per
    vibrance ("label v=0.5" when there are several; vibrance None: the options' own); any
    other model gives one row (vibrance None)."""
    out = []
    for label, colorizer, *rest in models:
        options = rest[0] if rest and rest[0] is not None else ColorizeOptions()
        sweeps = colorizer is not None and colorizer.predicts_classes and colorizer.decoder(options).uses_vibrance
        vs = list(vibrances) if sweeps else [None]
        for v in vs:
            name = label if v is None or len(vs) == 1 else f"{label} v={v}"
            out.append((name, colorizer, options.replace(vibrance=v), v))
    return out


@torch.inference_mode()
def predict_rgb(colorizer, L, options=None):
    """L (B, 1, H, W) -> RGB (B, 3, H, W) in [0, 1]: the model's a,b, upsampled
    bilinearly to L's size as the product does, with L. colorizer=None: the gray baseline."""
    if colorizer is None:
        return lightness_to_gray(L).expand(-1, 3, -1, -1)
    ab = upsample_ab(colorizer.predict_ab(L, options).float().cpu(), L.shape[-2:])
    return lab_to_rgb(torch.cat([L, ab], 1))


def fd_lite0_metric():
    """A torchmetrics FrechetInceptionDistance on EfficientNet-Lite0 RGB features that
    keeps the truth's features across reset() (they are the same for every model)."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    from ..networks import Lite0Features
    return FrechetInceptionDistance(feature=Lite0Features("rgb"), normalize=True, reset_real_features=False)


def evaluate(models, photos, vibrances=(None,), batch=16, fd=True, grid=16, progress=True):
    """Measure `models` (see rows_to_run) on `photos` ((names, uint8 (N, H, W, 3)), as
    load_photos gives). Returns (rows, grids): a dict per row (model, vibrance, photos,
    psnr, ssim, ciede2000, cf, cf_true, dcf, photo_dcf, seconds, and fd_lite0 when fd),
    and the first `grid` colorized photos of each row (uint8 arrays by row name; the
    originals under "truth")."""
    from tqdm import tqdm
    _, arr = photos
    truth = torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 255.0
    L = rgb_to_lab(truth)[:, :1]
    fid = fd_lite0_metric() if fd else None
    rows, grids = [], {}
    for i, (name, colorizer, options, v) in enumerate(rows_to_run(models, vibrances)):
        t0 = time.time()
        scores = Scores()
        if fid is not None:
            fid.reset()  # the truth's features are kept
        shown = []
        bar = tqdm(range(0, len(arr), batch), desc=f"evaluating {name}", unit="batch", disable=not progress, file=sys.stderr)
        for s in bar:
            pred = predict_rgb(colorizer, L[s:s + batch], options).clamp(0, 1)
            pred_u8 = pred.mul(255).round().byte().permute(0, 2, 3, 1).numpy()
            scores.add(pred_u8, arr[s:s + batch])
            if fid is not None:
                fid.update(torch.from_numpy(pred_u8).permute(0, 3, 1, 2).float() / 255.0, real=False)
                if i == 0:
                    fid.update(truth[s:s + batch], real=True)
            if s < grid:
                shown.extend(pred_u8[: grid - s])
        rows.append({"model": name, "vibrance": v, **scores.summary(), "seconds": round(time.time() - t0, 1)})
        if fid is not None:
            rows[-1]["fd_lite0"] = float(fid.compute())
        grids[name] = shown
    grids["truth"] = list(arr[:grid])
    return rows, grids
