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
