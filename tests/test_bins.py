import math

import torch

from colorizer import bins as B


def test_gamut_bins_are_on_the_grid_and_plausible():
    bins = B.default_bins()
    assert 240 <= len(bins) <= 330  # Zhang et al. report 313 with their own gamut estimate
    assert torch.all(bins.remainder(10) == 0)
    # grays and the sRGB primaries' neighbourhoods are in gamut; far corners are not
    have = {tuple(b.tolist()) for b in bins}
    assert (0.0, 0.0) in have and (80.0, 70.0) in have  # red
    assert (-110.0, 110.0) not in have and (110.0, -110.0) not in have


def test_bin_centres_decode_to_themselves():
    bins = B.default_bins()
    ab = bins.T.reshape(1, 2, -1, 1)
    idx = B.nearest_bin(ab, bins).flatten()
    assert torch.equal(idx, torch.arange(len(bins)))
    # one-hot distribution at each centre -> annealed mean gives the centre back
    logits = torch.full((1, len(bins), len(bins), 1), -1e4)
    logits[0, torch.arange(len(bins)), torch.arange(len(bins)), 0] = 0
    for T in (0.1, 0.38, 1.0):
        assert torch.allclose(B.annealed_mean(logits, bins, T=T), ab, atol=1e-3)


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


def test_annealed_mean_limits():
    bins = B.default_bins()
    torch.manual_seed(0)
    logits = torch.randn(2, len(bins), 3, 3) * 3
    p = logits.softmax(1)
    mean = torch.einsum("bqhw,qc->bchw", p, bins)
    mode = bins[p.argmax(1)].permute(0, 3, 1, 2)
    assert torch.allclose(B.annealed_mean(logits, bins, T=1.0), mean, atol=1e-4)
    assert torch.allclose(B.annealed_mean(logits, bins, T=1e-3), mode, atol=1e-2)
    # lower temperature -> more saturated on average
    sat = lambda ab: ab.norm(dim=1).mean()
    assert sat(B.annealed_mean(logits, bins, T=0.38)) > sat(B.annealed_mean(logits, bins, T=1.0))


def test_entropy_bounds():
    Q = 10
    assert torch.allclose(B.normalized_entropy(torch.zeros(1, Q, 1, 1)), torch.ones(1, 1, 1, 1))
    peaked = torch.full((1, Q, 1, 1), -1e4)
    peaked[0, 0] = 0
    assert B.normalized_entropy(peaked).item() < 1e-3


def test_ciede2000_matrix_matches_scikit_image_at_any_lightness():
    import numpy as np
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
