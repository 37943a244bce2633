"""Image-quality and colourfulness metrics. Images are float RGB in [0, 1], (H, W, 3)
numpy arrays unless stated otherwise."""
import numpy as np


def psnr(pred, truth):
    """PSNR in dB on 8-bit RGB (identical images: capped at 100 dB so means stay finite)."""
    p = np.round(np.clip(pred, 0, 1) * 255).astype(np.float64)
    t = np.round(np.clip(truth, 0, 1) * 255).astype(np.float64)
    mse = np.mean((p - t) ** 2)
    return 100.0 if mse == 0 else min(100.0, float(10 * np.log10(255.0 ** 2 / mse)))


def ssim(pred, truth):
    from skimage.metrics import structural_similarity
    return float(structural_similarity(pred, truth, channel_axis=2, data_range=1.0))


def ciede2000(pred, truth):
    """Mean CIEDE2000 colour difference."""
    from skimage.color import deltaE_ciede2000, rgb2lab
    return float(np.mean(deltaE_ciede2000(rgb2lab(truth), rgb2lab(pred))))


def colorfulness(rgb):
    """Hasler & Suesstrunk (2003) colourfulness on 8-bit RGB values, as DDColor and CT2
    compute it: rg = |R - G|, yb = |(R + G)/2 - B|,
    CF = sqrt(std_rg^2 + std_yb^2) + 0.3 sqrt(mean_rg^2 + mean_yb^2)."""
    x = np.clip(rgb, 0, 1).astype(np.float64) * 255.0
    R, G, B = x[..., 0], x[..., 1], x[..., 2]
    rg = np.abs(R - G)
    yb = np.abs(0.5 * (R + G) - B)
    return float(np.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2))


def delta_colorfulness(cf_pred, cf_true):
    """|dCF| as DDColor (Kang et al. 2023) defines it: the absolute difference between
    the mean colourfulness of the colorized photos and that of the originals, over a
    set. A set that is as colourful as the truth on average scores 0."""
    return float(abs(np.mean(cf_pred) - np.mean(cf_true)))


def per_photo_delta_colorfulness(cf_pred, cf_true):
    """The stricter per-photo variant: mean over photos of |CF(pred) - CF(truth)|.
    It also counts a model that colours dull photos and under-colours vivid ones."""
    return float(np.mean(np.abs(np.asarray(cf_pred, dtype=np.float64) - np.asarray(cf_true, dtype=np.float64))))


METRICS = ("psnr", "ssim", "ciede2000", "cf")


class Scores:
    """The one metrics loop: add colorized photos beside their truth, one or a batch at a
    time, then summary(). Used by `colorizer evaluate`, training validation and the
    benchmarks. Photos are float RGB in [0, 1] (H, W, 3) or uint8; `metrics` picks which
    per-photo metrics are computed (SSIM and CIEDE2000 are the slow ones)."""

    def __init__(self, metrics=METRICS):
        unknown = set(metrics) - set(METRICS)
        if unknown:
            raise ValueError(f"unknown metric(s) {', '.join(sorted(unknown))}")
        self.metrics = tuple(metrics)
        self.per_photo = {m: [] for m in self.metrics}
        self.cf_true = []

    def add(self, pred, truth):
        """One photo (H, W, 3) or a batch (N, H, W, 3) of predictions and their truth."""
        pred, truth = _float_rgb(pred), _float_rgb(truth)
        if pred.ndim == 3:
            pred, truth = pred[None], truth[None]
        for p, t in zip(pred, truth):
            for m in self.metrics:
                self.per_photo[m].append(_METRIC_FN[m](p, t))
            self.cf_true.append(colorfulness(t))

    def __len__(self):
        return len(self.cf_true)

    def summary(self):
        """Means over the photos: each metric, cf_true, and |dCF| in both variants (when cf
        is among the metrics)."""
        out = {"photos": len(self)}
        for m in self.metrics:
            out[m] = float(np.mean(self.per_photo[m])) if self.per_photo[m] else float("nan")
        out["cf_true"] = float(np.mean(self.cf_true)) if self.cf_true else float("nan")
        if "cf" in self.metrics and self.cf_true:
            out["dcf"] = delta_colorfulness(self.per_photo["cf"], self.cf_true)
            out["photo_dcf"] = per_photo_delta_colorfulness(self.per_photo["cf"], self.cf_true)
        return out


def _float_rgb(x):
    x = np.asarray(x)
    return x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32, copy=False)


_METRIC_FN = {"psnr": psnr, "ssim": ssim, "ciede2000": ciede2000, "cf": lambda p, t: colorfulness(p)}
