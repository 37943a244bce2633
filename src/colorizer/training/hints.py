"""Simulated point hints for training a hint-aware network, as Zhang et al. (2017) train
theirs: per photo, the number of hints is geometric (p = 1/8), or none at all for a share
of the photos (so that automatic colorization stays as good); each hint is a square patch
of 1 to 9 pixels placed around the centre (a Gaussian, sigma a quarter of the side),
carrying the patch's mean a,b from the truth."""
import numpy as np
import torch

from ..networks import AB_SCALE, HINT_CHANNELS

P_NONE = 0.2       # photos trained with no hint
P_GEOMETRIC = 1 / 8
MAX_PATCH = 9


def simulate_hints(lab, rng, p_none=P_NONE, p=P_GEOMETRIC, max_patch=MAX_PATCH, centres=False):
    """lab (B, 3, H, W) -> hints (B, 3, H, W) on the same device: a/AB_SCALE, b/AB_SCALE and
    the mask, as colorizer.networks.UNet takes them. Deterministic for a given rng. With
    centres=True also the same hints as single pixels, each at its patch's centre with the
    patch's colour: what a user's click is, for the loss on the spread colours (a 9x9
    patch would count as 81 hints there)."""
    B, _, H, W = lab.shape
    ab = lab[:, 1:].detach().float().cpu()
    hints = torch.zeros(B, HINT_CHANNELS, H, W)
    points = torch.zeros(B, HINT_CHANNELS, H, W)
    for i in range(B):
        if rng.random() < p_none:
            continue
        for _ in range(int(rng.geometric(p))):
            s = int(rng.integers(1, min(max_patch, H, W) + 1))
            y = int(np.clip(round(rng.normal(H / 2, H / 4)) - s // 2, 0, H - s))
            x = int(np.clip(round(rng.normal(W / 2, W / 4)) - s // 2, 0, W - s))
            mean = ab[i, :, y:y + s, x:x + s].mean(dim=(1, 2))
            hints[i, :2, y:y + s, x:x + s] = (mean / AB_SCALE)[:, None, None]
            hints[i, 2, y:y + s, x:x + s] = 1.0
            points[i, :2, y + s // 2, x + s // 2] = mean / AB_SCALE
            points[i, 2, y + s // 2, x + s // 2] = 1.0
    return (hints.to(lab.device), points.to(lab.device)) if centres else hints.to(lab.device)


def pixel_hints(lab, n, rng):
    """n single-pixel hints per photo at uniformly random positions, with the truth's a,b
    there: the protocol of the hint benchmark (and of validation's hint metric)."""
    B, _, H, W = lab.shape
    hints = torch.zeros(B, HINT_CHANNELS, H, W, device=lab.device)
    for i in range(B):
        ys, xs = rng.integers(0, H, n), rng.integers(0, W, n)
        hints[i, :2, ys, xs] = lab[i, 1:, ys, xs].float() / AB_SCALE
        hints[i, 2, ys, xs] = 1.0
    return hints
