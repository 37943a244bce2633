"""Quantized a,b colour classes (Zhang et al. 2016): the in-gamut grid, soft
encoding of targets, class rebalancing from a prior, and the CIEDE2000 distances
between the classes. How scores over the classes become a colour is decoding's job
(colorizer.decoding)."""
import functools

import torch

from .lab import in_gamut

# the networks' scores over the classes averaged over 2x2 blocks of pixels: an output a
# network gives on request (colorizer.networks.UNet) for decoders that average anyway
# (min-risk decoding), a quarter of the work of the full-resolution "logits"
POOLED_LOGITS = "logits_pool2"
# the same scores (2x2 blocks, no hints) from a network's light quarter-resolution head,
# distilled from its full head (colorizer.networks.FastHead): the plain colorization's fast
# path, on a network that has one
FAST_LOGITS = "logits_fast"
BLOCK_SCORES = (FAST_LOGITS, POOLED_LOGITS)  # the scores over 2x2 blocks, in the order min-risk prefers them
# a hint-aware network's affinity keys (colorizer.networks.HintKeys), by which decoding
# spreads point hints (colorizer.decoding.hint_spread)
HINT_KEYS = "hint_keys"
GRID = 10.0        # bin size in a,b units
AB_RANGE = 110.0   # bin centres lie on multiples of GRID within +-AB_RANGE


def ab_gamut_bins(grid=GRID, ab_range=AB_RANGE, l_steps=101):
    """Centres (Q, 2) of the a,b bins that hold at least one sRGB colour.

    A bin is kept when some lightness makes a colour inside the bin's cell
    representable in sRGB. Derived from our own colour conversion."""
    n = int(round(2 * ab_range / grid)) + 1
    centres = torch.linspace(-ab_range, ab_range, n, dtype=torch.float64)
    # sample each cell densely (5x5 points) over many lightness values
    off = torch.linspace(-grid / 2, grid / 2, 5, dtype=torch.float64)
    a = (centres[:, None] + off[None, :]).reshape(-1)
    A, B = torch.meshgrid(a, a, indexing="ij")
    L = torch.linspace(0, 100, l_steps, dtype=torch.float64)
    lab = torch.stack(torch.broadcast_tensors(L[:, None, None], A[None], B[None]), dim=1)  # nL, 3, na, na
    ok = in_gamut(lab).any(dim=0)  # na, na
    ok = ok.view(n, 5, n, 5).any(dim=3).any(dim=1)
    ca, cb = torch.meshgrid(centres, centres, indexing="ij")
    return torch.stack([ca[ok], cb[ok]], dim=1).float()


@functools.cache
def default_bins():
    """The 262 in-gamut bins of the 10-unit grid (computed once)."""
    return ab_gamut_bins()


def grid_lookup(bins, grid=GRID, ab_range=AB_RANGE):
    """Table (n, n) from a grid cell (round((ab + ab_range) / grid)) to its bin index,
    with cells outside the gamut mapped to the nearest in-gamut bin."""
    n = int(round(2 * ab_range / grid)) + 1
    c = torch.linspace(-ab_range, ab_range, n)
    A, Bb = torch.meshgrid(c, c, indexing="ij")
    pts = torch.stack([A.flatten(), Bb.flatten()], 1)
    d = torch.cdist(pts, bins.float())
    table = d.argmin(1).view(n, n)
    exact = d.min(1).values.view(n, n) < 1e-3
    return table, exact


_TABLES = {}


def _tables(bins):
    key = (bins.data_ptr(), bins.shape[0], str(bins.device))
    if key not in _TABLES:
        t, e = grid_lookup(bins.cpu())
        _TABLES[key] = (t.to(bins.device), e.to(bins.device))
    return _TABLES[key]


def _cell(ab, grid=GRID, ab_range=AB_RANGE):
    n = int(round(2 * ab_range / grid)) + 1
    return ((ab.float() + ab_range) / grid).round().long().clamp(0, n - 1)


def nearest_bin(ab, bins):
    """ab (B, 2, H, W) -> index (B, H, W) of the nearest bin centre."""
    table, _ = _tables(bins)
    g = _cell(ab)
    return table[g[:, 0], g[:, 1]]


def soft_encode_sparse(ab, bins, sigma=5.0, grid=GRID, ab_range=AB_RANGE):
    """Soft targets in sparse form: the in-gamut bins of the 3x3 grid neighbourhood
    around each pixel's cell (its nearest 5-9 bins), Gaussian-weighted (sigma in a,b
    units) and normalised. Returns (index, weight), each (B, 9, H, W)."""
    table, exact = _tables(bins)
    n = table.shape[0]
    g = _cell(ab, grid, ab_range)
    idx, wts = [], []
    for da in (-1, 0, 1):
        for db in (-1, 0, 1):
            ga = (g[:, 0] + da).clamp(0, n - 1)
            gb = (g[:, 1] + db).clamp(0, n - 1)
            i = table[ga, gb]
            centre = bins[i]  # (B, H, W, 2)
            d2 = (centre.permute(0, 3, 1, 2) - ab.float()).pow(2).sum(1)
            valid = exact[ga, gb] & (g[:, 0] + da >= 0) & (g[:, 0] + da < n) & (g[:, 1] + db >= 0) & (g[:, 1] + db < n)
            idx.append(i)
            wts.append(torch.exp(-d2 / (2 * sigma ** 2)) * valid)
    idx, wts = torch.stack(idx, 1), torch.stack(wts, 1)
    # pixels whose whole neighbourhood is out of gamut (never for real photos): nearest bin
    empty = wts.sum(1, keepdim=True) <= 0
    wts = torch.where(empty, torch.zeros_like(wts).index_fill_(1, torch.tensor([4], device=wts.device), 1.0), wts)
    return idx, wts / wts.sum(1, keepdim=True)


def soft_encode(ab, bins, sigma=5.0):
    """Dense soft targets (B, Q, H, W) (see soft_encode_sparse)."""
    idx, w = soft_encode_sparse(ab, bins, sigma)
    out = torch.zeros(ab.shape[0], len(bins), ab.shape[2], ab.shape[3], dtype=w.dtype, device=w.device)
    return out.scatter_add_(1, idx, w)


def soft_cross_entropy(logits, ab, bins, class_weights=None, sigma=5.0):
    """Per-pixel cross-entropy (B, H, W) of logits against the soft-encoded a,b,
    weighted by the class weight of each pixel's nearest bin."""
    idx, w = soft_encode_sparse(ab, bins, sigma)
    logp = torch.log_softmax(logits.float(), dim=1)
    ce = -(w * logp.gather(1, idx)).sum(1)
    if class_weights is not None:
        ce = ce * class_weights[nearest_bin(ab, bins)]
    return ce


def _smooth_on_grid(p, bins, sigma):
    """Gaussian smoothing of a distribution over bins, in a,b units."""
    d2 = torch.cdist(bins.double(), bins.double()) ** 2
    k = torch.exp(-d2 / (2 * sigma ** 2))
    k = k / k.sum(dim=1, keepdim=True)
    return (p.double() @ k).float()


def rebalance_weights(counts, bins, lam=0.5, sigma=5.0):
    """Class weights w ~ ((1-lam) p + lam/Q)^-1 with p the smoothed empirical
    distribution, normalised so that E_p[w] = 1. Returns (weights, p)."""
    counts = counts.double()
    p = counts / counts.sum().clamp(min=1)
    p = _smooth_on_grid(p, bins, sigma).double()
    p = p / p.sum()
    Q = p.numel()
    w = 1.0 / ((1 - lam) * p + lam / Q)
    w = w / (p * w).sum()
    return w.float(), p.float()


def ciede2000_matrix(bins, L=50.0):
    """CIEDE2000 colour differences (Q, Q) between the bin centres (scikit-image's
    deltaE_ciede2000). Two colours of equal lightness differ by the same CIEDE2000 at
    any L (the formula's lightness terms vanish when dL = 0), so one L serves all
    pixels of a photo whose L is kept."""
    import numpy as np
    from skimage.color import deltaE_ciede2000

    b = bins.detach().double().cpu().numpy()
    lab = np.concatenate([np.full((len(b), 1), float(L)), b], axis=1)
    d = deltaE_ciede2000(lab[:, None, :], lab[None, :, :])
    return torch.from_numpy(np.ascontiguousarray(d)).float()
