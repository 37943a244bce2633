"""Colour science: sRGB <-> CIE Lab (torch and numpy agree with each other and with
scikit-image) and the a,b colour classes (gamut, soft encoding, rebalancing, CIEDE2000)."""
import math

import numpy as np
import pytest
import torch
from skimage.color import deltaE_cie76, lab2rgb, rgb2lab

from colorizer import bins as B
from colorizer.lab import (
    in_gamut,
    lab_to_rgb,
    lightness_from_luminance,
    lightness_to_gray,
    rgb_to_lab,
    srgb_to_linear,
    srgb_to_linear_np,
)


def _corners():
    c = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], dtype=np.float64)
    return np.concatenate([c, np.full((1, 3), 0.5)])


def _as_img(x):  # (N, 3) -> torch (3, N, 1)
    return torch.from_numpy(x.T[:, :, None].copy())


def test_rgb_to_lab_matches_skimage():
    rng = np.random.default_rng(0)
    rgb = np.concatenate([rng.random((5000, 3)), _corners()])
    ours = rgb_to_lab(_as_img(rgb)).numpy()[:, :, 0].T
    ref = rgb2lab(rgb[None])[0]
    assert deltaE_cie76(ours, ref).max() < 0.01


def test_lab_to_rgb_matches_skimage_and_round_trips():
    rng = np.random.default_rng(1)
    rgb = np.concatenate([rng.random((5000, 3)), _corners()])
    lab = rgb2lab(rgb[None])[0]
    ours = lab_to_rgb(_as_img(lab)).numpy()[:, :, 0].T
    ref = lab2rgb(lab[None])[0]
    assert deltaE_cie76(rgb2lab(ours[None])[0], rgb2lab(ref[None])[0]).max() < 0.01
    assert np.abs(ours - rgb).max() < 1e-4


def test_out_of_gamut_is_clipped_like_skimage():
    lab = np.array([[50, 120, -120], [90, -100, 100], [10, 80, 80], [100, 0, 0]], dtype=np.float64)
    ours = lab_to_rgb(_as_img(lab)).numpy()[:, :, 0].T
    assert ours.min() >= 0 and ours.max() <= 1
    with pytest.warns(UserWarning):
        ref = lab2rgb(lab[None])[0]
    assert np.abs(ours - ref).max() < 1e-3
    assert not in_gamut(_as_img(lab)).all()


def test_batched_and_differentiable():
    x = torch.rand(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    lab = rgb_to_lab(x)
    assert lab.shape == (2, 3, 4, 5)
    lab.sum().backward()
    assert torch.isfinite(x.grad).all()
    assert torch.allclose(lab_to_rgb(lab), x, atol=1e-6)


def test_gray_is_exactly_neutral_and_matches_lightness():
    L = torch.linspace(0, 100, 101, dtype=torch.float64).view(1, 1, 101)
    g = lightness_to_gray(L)
    lab = rgb_to_lab(g.expand(3, 1, 101))
    assert torch.allclose(lab[0], L[0], atol=1e-3)


def test_gamut_bins_are_on_the_grid_and_plausible():
    bins = B.default_bins()
    assert 240 <= len(bins) <= 330  # Zhang et al. report 313 with their own gamut estimate
    assert torch.all(bins.remainder(10) == 0)
    # grays and the sRGB primaries' neighbourhoods are in gamut; far corners are not
    have = {tuple(b.tolist()) for b in bins}
    assert (0.0, 0.0) in have and (80.0, 70.0) in have  # red
    assert (-110.0, 110.0) not in have and (110.0, -110.0) not in have


def test_bin_centres_are_their_own_nearest_bins():
    bins = B.default_bins()
    ab = bins.T.reshape(1, 2, -1, 1)
    idx = B.nearest_bin(ab, bins).flatten()
    assert torch.equal(idx, torch.arange(len(bins)))


def test_soft_encoding_is_a_local_gaussian():
    bins = B.default_bins()
    ab = torch.tensor([[3.0, -4.0], [0.0, 0.0], [47.0, 12.0]]).T.reshape(1, 2, 3, 1)
    t = B.soft_encode(ab, bins, sigma=5.0)
    assert torch.allclose(t.sum(1), torch.ones(1, 3, 1))
    nz = (t > 0).sum(1)
    assert nz.min() >= 5 and nz.max() <= 9
    # heaviest bin is the nearest one, and weights follow exp(-d^2 / 2 sigma^2)
    assert torch.equal(t.argmax(1), B.nearest_bin(ab, bins))
    w = t[0, :, 1, 0]  # pixel exactly at (0, 0)
    i0 = B.nearest_bin(torch.zeros(1, 2, 1, 1), bins).item()
    i1 = B.nearest_bin(torch.tensor([10.0, 0.0]).view(1, 2, 1, 1), bins).item()
    assert math.isclose(w[i1].item() / w[i0].item(), math.exp(-100 / 50), rel_tol=1e-4)


def test_rebalancing_on_a_known_distribution():
    bins = B.default_bins()
    Q = len(bins)
    # uniform empirical distribution -> all weights 1
    w, p = B.rebalance_weights(torch.ones(Q), bins, lam=0.5)
    assert torch.allclose(w, torch.ones(Q), atol=0.05)
    # two-bin distribution, no smoothing: w ~ 1 / ((1-lam) p + lam/Q), normalised to E_p[w] = 1
    counts = torch.zeros(Q)
    counts[0], counts[1] = 3.0, 1.0
    w, p = B.rebalance_weights(counts, bins, lam=0.5, sigma=1e-3)
    assert torch.allclose(p[:2], torch.tensor([0.75, 0.25]), atol=1e-4)
    raw = 1 / (0.5 * p.double() + 0.5 / Q)
    expect = raw / (p.double() * raw).sum()
    assert torch.allclose(w.double(), expect, rtol=1e-4)
    assert abs((p * w).sum().item() - 1) < 1e-4
    assert w[1] > w[0]  # the rarer colour weighs more
    # lambda = 1: no rebalancing
    w1, _ = B.rebalance_weights(counts, bins, lam=1.0)
    assert torch.allclose(w1, torch.ones(Q), atol=1e-5)


def test_ciede2000_matrix_matches_scikit_image_at_any_lightness():
    from skimage.color import deltaE_ciede2000
    bins = B.default_bins()
    D = B.ciede2000_matrix(bins)
    assert D.shape == (len(bins), len(bins))
    assert torch.all(D.diagonal() == 0) and torch.allclose(D, D.T, atol=1e-4)
    g = torch.Generator().manual_seed(0)
    i, j = torch.randint(len(bins), (2, 50), generator=g)
    for L in (20.0, 50.0, 85.0):  # equal lightness: the distance does not depend on it
        lab1 = np.array([[L, *bins[k].tolist()] for k in i])
        lab2 = np.array([[L, *bins[k].tolist()] for k in j])
        assert np.allclose(D[i, j].numpy(), deltaE_ciede2000(lab1, lab2), atol=1e-3)
    assert D[i, j].max() > 20  # far-apart bins are far apart


def test_numpy_and_torch_lightness_agree():
    # image reading (numpy) and training/evaluation (torch) compute the same L* of a gray
    v = np.linspace(0, 1, 1001, dtype=np.float32)
    Y = srgb_to_linear_np(v)
    assert np.allclose(Y, srgb_to_linear(torch.from_numpy(v)).numpy(), atol=1e-6)
    L_np = lightness_from_luminance(Y)
    L_t = rgb_to_lab(torch.from_numpy(np.stack([v, v, v])[:, :, None]))[0, :, 0].numpy()
    assert np.abs(L_np - L_t).max() < 1e-3
