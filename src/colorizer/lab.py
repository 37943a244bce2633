"""sRGB <-> CIE L*a*b* (D65, 2 degree observer): the one place for the colour maths.

PyTorch functions (batched, differentiable; tensors (..., 3, H, W) with the channel
axis at -3) for training, evaluation and the bins, and NumPy functions for reading
lightness from images. Both use the public constants below, so they agree with each
other and with scikit-image's rgb2lab/lab2rgb. RGB is float in [0, 1]; L in [0, 100],
a and b roughly in [-128, 127].
"""
import numpy as np
import torch

# sRGB primaries -> XYZ (the matrix scikit-image uses)
XYZ_FROM_RGB = torch.tensor([
    [0.412453, 0.357580, 0.180423],
    [0.212671, 0.715160, 0.072169],
    [0.019334, 0.119193, 0.950227],
], dtype=torch.float64)
RGB_FROM_XYZ = torch.linalg.inv(XYZ_FROM_RGB)
WHITE_D65 = torch.tensor([0.95047, 1.0, 1.08883], dtype=torch.float64)
Y_FROM_RGB = tuple(float(x) for x in XYZ_FROM_RGB[1])  # luminance of linear sRGB

EPS = 0.008856       # (6/29)^3, as scikit-image rounds it
KAPPA = 7.787        # (29/6)^2 / 3, likewise
F_EPS = 0.2068966    # 6/29
SRGB_KNEE = 0.04045  # sRGB code value where the transfer curve turns from linear to power


# ---------------------------------------------------------------- PyTorch

def _mix(m, x):
    """Apply a 3x3 matrix over the channel axis (-3)."""
    m = m.to(device=x.device, dtype=x.dtype)
    return torch.einsum("ij,...jhw->...ihw", m, x)


def _white(x):
    return WHITE_D65.to(device=x.device, dtype=x.dtype).view(3, 1, 1)


def srgb_to_linear(rgb):
    return torch.where(rgb > SRGB_KNEE, ((rgb.clamp(min=SRGB_KNEE) + 0.055) / 1.055) ** 2.4, rgb / 12.92)


def linear_to_srgb(lin):
    return torch.where(lin > 0.0031308, 1.055 * lin.clamp(min=0.0031308) ** (1 / 2.4) - 0.055, lin * 12.92)


def rgb_to_lab(rgb):
    """sRGB in [0, 1] -> Lab. Shape (..., 3, H, W)."""
    xyz = _mix(XYZ_FROM_RGB, srgb_to_linear(rgb)) / _white(rgb)
    f = torch.where(xyz > EPS, xyz.clamp(min=EPS) ** (1 / 3), KAPPA * xyz + 16 / 116)
    fx, fy, fz = f.unbind(-3)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=-3)


def lab_to_rgb(lab, clip=True):
    """Lab -> sRGB. Out-of-gamut results are clipped to [0, 1] unless clip=False."""
    L, a, b = lab.unbind(-3)
    fy = (L + 16) / 116
    fx = fy + a / 500
    fz = (fy - b / 200).clamp(min=0)  # as scikit-image: negative Z is invalid, set to 0
    f = torch.stack([fx, fy, fz], dim=-3)
    xyz = torch.where(f > F_EPS, f ** 3, (f - 16 / 116) / KAPPA) * _white(lab)
    rgb = linear_to_srgb(_mix(RGB_FROM_XYZ, xyz).clamp(min=0) if clip else _mix(RGB_FROM_XYZ, xyz))
    return rgb.clamp(0, 1) if clip else rgb


def in_gamut(lab, tol=1e-6):
    """True where an Lab colour maps into the sRGB cube without clipping."""
    rgb = lab_to_rgb(lab, clip=False)
    return ((rgb >= -tol) & (rgb <= 1 + tol)).all(dim=-3)


def lightness_to_gray(L):
    """The sRGB gray (R = G = B, in [0, 1]) of lightness L: exactly neutral, unlike
    lab_to_rgb(L, 0, 0), whose D65 white is a hair off the sRGB matrix's white."""
    fy = (L + 16) / 116
    Y = torch.where(fy > F_EPS, fy ** 3, (fy - 16 / 116) / KAPPA)
    return linear_to_srgb(Y.clamp(0, 1)).clamp(0, 1)


# ---------------------------------------------------------------- NumPy (float32)

def srgb_to_linear_np(v):
    v = np.asarray(v, dtype=np.float32)
    return np.where(v > SRGB_KNEE, ((np.maximum(v, SRGB_KNEE) + 0.055) / 1.055) ** 2.4, v / 12.92).astype(np.float32)


def lightness_from_luminance(Y):
    """CIE L* from relative luminance Y (white = 1), float32."""
    Y = np.asarray(Y, dtype=np.float32)
    f = np.where(Y > EPS, np.cbrt(np.maximum(Y, EPS)), KAPPA * Y + 16.0 / 116.0)
    return (116.0 * f - 16.0).astype(np.float32)
