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
