"""The research decodings kept in benchmarks/research_decoding.py (used by
benchmarks/sweep.py): the chroma curve and test-time multi-scale averaging. They left the
product, their checks did not."""
import importlib.util
import os

import pytest
import torch
import torch.nn.functional as F

from colorizer.decoding import AnnealedMean, MinRisk


@pytest.fixture(scope="module")
def research():
    path = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "research_decoding.py")
    spec = importlib.util.spec_from_file_location("research_decoding", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_chroma_curve_pushes_low_chroma_down_high_up_and_follows_vibrance(research):
    ab = torch.tensor([[3.0, 4.0], [12.0, 16.0], [30.0, 40.0], [60.0, 80.0]]).T.reshape(1, 2, 2, 2)  # C = 5, 20, 50, 100
    C = lambda x: x.norm(dim=1).flatten().tolist()
    got = C(research.chroma_curve(ab.clone(), (20.0, 1.0)))  # default vibrance: gamma 1, C' = C * min(C / 20, 3)
    assert got == pytest.approx([1.25, 20.0, 125.0, 300.0], rel=1e-5)
    assert C(research.chroma_curve(ab.clone(), (20.0, 1.0), vibrance=0.0)) == pytest.approx(C(ab))  # vibrance 0: as is
    g = 1.0 / research.CURVE_VIBRANCE  # vibrance 1
    assert C(research.chroma_curve(ab.clone(), (20.0, 1.0), vibrance=1.0))[0] == pytest.approx(5 * 0.25 ** g, rel=1e-5)
    hue = lambda x: torch.atan2(x[:, 1], x[:, 0])
    assert torch.allclose(hue(research.chroma_curve(ab.clone(), (20.0, 1.0))), hue(ab))  # hue kept


def test_multi_scale_runs_each_scale_and_averages_the_decoded_ab(research, tiny_colorizer):
    seen = []
    backend = tiny_colorizer.backend

    def spy(x):
        seen.append(tuple(x.shape[-2:]))
        return backend(x)
    g = torch.Generator().manual_seed(3)
    L = torch.rand(1, 1, 128, 192, generator=g) * 100
    outs = research.multi_scale_outputs(spy, L, (1.0, 0.5))
    assert seen == [(128, 192), (64, 96)]
    bins = tiny_colorizer.extra["bins"]
    for dec in (MinRisk(bins, tiny_colorizer.extra["class_weights"]), AnnealedMean(bins, blend=2.0)):
        before = [o["logits"].clone() for o in outs]
        got = research.decode(dec, outs, 0.62)
        assert all(torch.equal(o["logits"], b) for o, b in zip(outs, before))  # decoded again with other settings
        up = F.interpolate(dec(outs[1], 0.62), size=(64, 96), mode="bilinear", align_corners=False)
        assert got.shape == (1, 2, 64, 96)
        assert torch.allclose(got, (dec(outs[0], 0.62) + up) / 2, atol=1e-4)
    with pytest.raises(ValueError, match="scales must start with 1"):
        research.multi_scale_outputs(spy, L, (0.5, 1.0))
