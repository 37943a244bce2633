import numpy as np
import pytest
import torch
from skimage.color import deltaE_cie76, lab2rgb, rgb2lab

from colorizer.color import in_gamut, lab_to_rgb, lightness_to_gray, rgb_to_lab


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
