"""Decoding: each rule against its textbook formula, what min-risk is for (less wrong
than the annealed mean, undoing the class rebalancing), its chunked and pooled fast
paths, the registry, and the decoding settings a model file carries."""
import math

import pytest
import torch

from colorizer import bins as B
from colorizer import decoding
from colorizer.decoding import AnnealedMean, MinRisk, Regression
from colorizer.decoding import min_risk as min_risk_module
from colorizer.model_files import WeightsError, read_model_file, write_model_file
from colorizer.options import DECODING_NAMES


def textbook_annealed_mean(logits, bins, T):
    """Zhang et al.: softmax(log p / T) averaged over the bin centres."""
    q = torch.softmax(torch.log_softmax(logits.double(), dim=1) / max(T, 1e-4), dim=1)
    return torch.einsum("bqhw,qc->bchw", q, bins.double()).float()


def textbook_entropy(logits):
    """Entropy of softmax(logits) divided by log Q, in [0, 1]."""
    logp = torch.log_softmax(logits.double(), dim=1)
    return (-(logp.exp() * logp).sum(dim=1, keepdim=True) / math.log(logits.shape[1])).float()


def network_outputs(tiny_colorizer, seed=1, shape=(64, 96)):
    g = torch.Generator().manual_seed(seed)
    L = torch.rand(2, 1, *shape, generator=g) * 100
    out = tiny_colorizer.backend(L)
    return {"logits": (out["logits"] * 20).clone(), "ab": out["ab"].clone()}  # peaky, like a trained model's


# ---------------------------------------------------------------- annealed mean

@pytest.mark.parametrize("vibrance", [0.0, 0.5, 0.62, 0.99, 1.0])
@pytest.mark.parametrize("blend", [0.0, 0.5, 2.0])
def test_annealed_mean_matches_the_textbook_formulas(tiny_colorizer, vibrance, blend):
    """The few-pass decoding (consuming the scores or on a copy) equals the direct annealed
    mean at T = 1 - vibrance and, with blend, the entropy fallback to the regression."""
    out = network_outputs(tiny_colorizer)
    bins = tiny_colorizer.extra["bins"]
    ref = textbook_annealed_mean(out["logits"], bins, T=max(0.02, 1 - vibrance))
    if blend:
        conf = (1.0 - textbook_entropy(out["logits"])).clamp(0, 1) ** blend
        ref = out["ab"] + conf * (ref - out["ab"])
    dec = AnnealedMean(bins, blend=blend)
    logits = out["logits"].clone()
    copy = dec(out, vibrance)
    assert torch.equal(out["logits"], logits)  # not consumed: the scores are untouched
    consumed = dec({k: v.clone() for k, v in out.items()}, vibrance, consume=True)
    assert copy.shape == consumed.shape == ref.shape == (2, 2, 32, 48)
    assert (copy - ref).abs().max() < 1e-3
    assert (consumed - ref).abs().max() < 1e-3


def test_annealed_mean_limits_and_bin_centres():
    bins = B.default_bins()
    torch.manual_seed(0)
    logits = torch.randn(2, len(bins), 3, 3) * 3
    p = logits.softmax(1)
    mean = torch.einsum("bqhw,qc->bchw", p, bins)
    mode = bins[p.argmax(1)].permute(0, 3, 1, 2)
    dec = AnnealedMean(bins)
    assert torch.allclose(dec({"logits": logits}, vibrance=0.0), mean, atol=1e-4)       # T = 1: the mean
    assert torch.allclose(dec({"logits": logits * 1000}, vibrance=1.0), mode, atol=1e-2)  # T -> 0: the mode
    sat = lambda ab: ab.norm(dim=1).mean()
    assert sat(dec({"logits": logits}, 0.62)) > sat(dec({"logits": logits}, 0.0))  # vibrance saturates
    # a one-hot distribution at each centre decodes to that centre at any vibrance
    onehot = torch.full((1, len(bins), len(bins), 1), -1e4)
    onehot[0, torch.arange(len(bins)), torch.arange(len(bins)), 0] = 0
    for v in (0.0, 0.62, 0.9):
        assert torch.allclose(dec({"logits": onehot}, v), bins.T.reshape(1, 2, -1, 1), atol=1e-3)


def test_textbook_entropy_bounds():  # the reference the blend test relies on
    Q = 10
    assert torch.allclose(textbook_entropy(torch.zeros(1, Q, 1, 1)), torch.ones(1, 1, 1, 1))
    peaked = torch.full((1, Q, 1, 1), -1e4)
    peaked[0, 0] = 0
    assert textbook_entropy(peaked).item() < 1e-3


# ---------------------------------------------------------------- min-risk

def _two_colour_logits(bins, pa, ia, ib, h=2, w=3):
    """Logits (1, Q, h, w) of a distribution with mass pa on bin ia and 1 - pa on ib."""
    p = torch.full((len(bins),), 1e-9)
    p[ia], p[ib] = pa, 1 - pa
    return p.log()[None, :, None, None].expand(1, -1, h, w).clone()


def _bin(bins, a, b):
    return int(((bins - torch.tensor([a, b])).abs().sum(1)).argmin())


def test_min_risk_returns_the_colour_a_sure_model_predicts():
    bins = B.default_bins()
    k = _bin(bins, 30.0, 50.0)
    ab = MinRisk(bins, torch.ones(len(bins)))({"logits": _two_colour_logits(bins, 0.999, k, _bin(bins, 0.0, 0.0))}, 0.62)
    assert ab.shape == (1, 2, 2, 3)
    assert torch.allclose(ab[0, :, 0, 0], bins[k], atol=2.0)


@pytest.mark.parametrize("pa", [0.55, 0.65, 0.75, 0.9])
def test_min_risk_is_less_wrong_on_average_than_the_annealed_mean(pa):
    """Torn between orange and blue, the annealed mean lands on a muddy mix of the two
    that is far from both; min-risk picks the colour of least expected CIEDE2000, which
    is lower than the mix's."""
    bins = B.default_bins()
    orange, blue = _bin(bins, 30.0, 60.0), _bin(bins, -10.0, -40.0)
    out = {"logits": _two_colour_logits(bins, pa, orange, blue)}
    D = B.ciede2000_matrix(bins)

    def risk_of(ab):
        j = _bin(bins, *ab[0, :, 0, 0].tolist())
        return float(pa * D[orange, j] + (1 - pa) * D[blue, j])

    # with a hard minimum (tau -> 0) and T = 1 it is the bin of least expected CIEDE2000
    best = float((pa * D[orange] + (1 - pa) * D[blue]).min())
    assert risk_of(MinRisk(bins, torch.ones(len(bins)), tau=0.01)(out, 0.0)) == pytest.approx(best, abs=0.01)
    if pa < 0.9:
        assert risk_of(MinRisk(bins, torch.ones(len(bins)))(out, 0.62)) < risk_of(AnnealedMean(bins)(out, 0.62)) - 1.0


def test_min_risk_undoes_the_class_rebalancing_and_vibrance_sharpens():
    """The model was trained with weight w on each class, so its scores overstate rare
    (heavily weighted) colours: dividing by w moves the decision back to the common one;
    higher vibrance (lower T) lets the likelier colour dominate."""
    bins = B.default_bins()
    red, gray = _bin(bins, 60.0, 40.0), _bin(bins, 0.0, 0.0)
    out = {"logits": _two_colour_logits(bins, 0.7, red, gray)}
    w = torch.ones(len(bins))
    w[red] = 6.0  # red was rare in training: its score was boosted 6x
    C = lambda weights, v: float(MinRisk(bins, weights)(out, v)[0, :, 0, 0].norm())
    plain = torch.ones(len(bins))
    assert C(w, 0.62) < C(plain, 0.62) - 10
    assert C(plain, 0.0) < C(plain, 0.62) < C(plain, 1.0)
    assert C(None, 0.62) == pytest.approx(C(plain, 0.62), abs=1e-4)  # no weights in the file: as if all were 1
    assert MinRisk.temperature(0.62) == pytest.approx(1 - 0.75 * 0.62)


def test_min_risk_in_chunks_equals_all_at_once(tiny_colorizer, monkeypatch):
    out = network_outputs(tiny_colorizer, seed=5)
    dec = MinRisk(tiny_colorizer.extra["bins"], tiny_colorizer.extra["class_weights"])
    whole = dec(out, 0.62)
    monkeypatch.setattr(min_risk_module, "_CHUNK", 100)
    chunked = dec(out, 0.62)
    assert whole.shape == (2, 2, 32, 48)
    assert torch.allclose(whole, chunked, atol=1e-4)
    # and the Colorizer decodes with it by the model's default (tiny models have none: annealed mean)
    assert tiny_colorizer.default_decoding == "annealed-mean"
    L = torch.rand(1, 1, 64, 64) * 100
    a = tiny_colorizer.predict_ab(L, decoding="min-risk")
    b = MinRisk(tiny_colorizer.extra["bins"], tiny_colorizer.extra["class_weights"])(tiny_colorizer.backend(L), 0.62)
    assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("shape", [(32, 48), (31, 45)])
def test_min_risk_on_pixel_blocks_is_close_to_per_pixel(shape):
    """The risk computed on 2x2 blocks of the distribution and upsampled is near the
    per-pixel decoding where colours change smoothly, at any output size (odd ones too)."""
    bins = B.default_bins()
    h, w = shape
    yy, xx = torch.meshgrid(torch.linspace(-40, 40, h), torch.linspace(-30, 50, w), indexing="ij")
    centre = torch.stack([yy, xx])  # a smooth field of most likely colours
    d2 = ((bins.T[:, :, None, None] - centre[:, None]) ** 2).sum(0)
    logits = (-d2 / (2 * 15.0 ** 2))[None]
    per_pixel = MinRisk(bins, pool=1)({"logits": logits}, 0.62)
    blocks = MinRisk(bins, pool=2)({"logits": logits}, 0.62)
    assert blocks.shape == per_pixel.shape == (1, 2, h, w)
    inner = (blocks - per_pixel)[..., 2:-2, 2:-2].abs()
    assert inner.mean() < 1.0 and inner.max() < 4.0
    assert per_pixel.std() > 10  # the field is not flat: the comparison means something


def test_min_risk_never_changes_the_callers_scores():
    bins = B.default_bins()
    logits = torch.randn(1, len(bins), 8, 8)
    before = logits.clone()
    for pool in (1, 2):
        MinRisk(bins, pool=pool)({"logits": logits}, 0.62, consume=True)
        assert torch.equal(logits, before)


def test_min_risk_in_bfloat16_is_close_to_float32_and_auto_follows_the_cpu(tiny_colorizer, monkeypatch):
    """The risk product in bfloat16 (where the CPU has AMX) moves the colours by a small
    fraction of an a,b unit on average; "auto" picks it only on such a CPU; "float32"
    always gives float32's numbers; the choice is a setting a model file can carry."""
    bins, weights = tiny_colorizer.extra["bins"], tiny_colorizer.extra["class_weights"]
    yy, xx = torch.meshgrid(torch.linspace(-40, 40, 32), torch.linspace(-30, 50, 48), indexing="ij")
    centre = torch.stack([yy, xx])  # a smooth field of most likely colours, from near-sure to unsure
    spread = torch.linspace(5.0, 30.0, 48)
    d2 = ((bins.T[:, :, None, None] - centre[:, None]) ** 2).sum(0)
    columns = {"logits": (-d2 / (2 * spread ** 2))[None]}
    rows = {"logits_pool2": columns["logits"].contiguous(memory_format=torch.channels_last)}  # as ONNX Runtime gives
    out = rows
    f32 = MinRisk(bins, weights, precision="float32")(out, 0.62)
    b16 = MinRisk(bins, weights, precision="bfloat16")(out, 0.62)
    diff = (f32 - b16).abs()
    assert 0 < diff.mean() < 0.3 and diff.max() < 3.0  # it did run in bfloat16, and came close
    assert f32.std() > 10  # the colours vary: the comparison means something
    monkeypatch.setattr(min_risk_module, "_cpu_has_amx_bf16", lambda: False)
    auto = MinRisk(bins, weights)
    assert auto.product_dtype("cpu") == torch.float32 and torch.equal(auto(out, 0.62), f32)
    monkeypatch.setattr(min_risk_module, "_cpu_has_amx_bf16", lambda: True)
    assert auto.product_dtype("cpu") == torch.bfloat16 and torch.equal(auto(out, 0.62), b16)
    # scores a column per block (PyTorch's layout): float32 under "auto" (bfloat16 is slower there)
    assert torch.equal(auto(columns, 0.62), MinRisk(bins, weights, precision="float32")(columns, 0.62))
    low_columns = MinRisk(bins, weights, precision="bfloat16")(columns, 0.62)
    assert 0 < (low_columns - auto(columns, 0.62)).abs().mean() < 0.3
    assert MinRisk(bins, precision="float32").product_dtype("cpu") == torch.float32
    assert auto.product_dtype("meta") == torch.float32  # not a CPU: float32
    assert "precision" not in auto.settings()
    kept = decoding.create("min-risk", tiny_colorizer.extra, MinRisk(bins, precision="float32").settings())
    assert kept.precision == "float32"
    with pytest.raises(ValueError, match="precision must be one of auto, float32, bfloat16"):
        MinRisk(bins, precision="half")


# ---------------------------------------------------------------- regression, registry, settings

def test_regression_is_the_networks_own_ab_and_ignores_vibrance():
    ab = torch.randn(1, 2, 4, 4) * 30
    out = {"ab": ab}
    assert torch.equal(Regression()(out, 0.0), ab) and torch.equal(Regression()(out, 1.0), ab)
    got = Regression()(out, 0.62)
    got += 1
    assert not torch.equal(got, ab)  # a copy unless consumed
    assert not Regression.uses_vibrance and AnnealedMean.uses_vibrance and MinRisk.uses_vibrance


def test_registry_names_agree_with_the_options():
    assert decoding.NAMES == DECODING_NAMES
    assert all(decoding.DECODERS[n].name == n for n in decoding.NAMES)
    with pytest.raises(ValueError, match="decoding must be one of min-risk, annealed-mean, regression, not 'mode'"):
        decoding.create("mode", {"bins": B.default_bins()})


@pytest.mark.parametrize("name,settings,message", [
    ("annealed-mean", {"blend": "much"}, "annealed-mean.blend must be a number between 0 and 10"),
    ("annealed-mean", {"blend": -1}, "annealed-mean.blend must be a number"),
    ("annealed-mean", {"blnd": 0.5}, "annealed-mean: unknown setting"),
    ("min-risk", {"tau": 0}, "min-risk.tau must be"),
    ("min-risk", {"pool": 1.5}, "min-risk.pool must be a whole number"),
    ("regression", {"blend": 1}, "regression: unknown setting"),
])
def test_bad_decoder_settings_name_the_setting(name, settings, message):
    with pytest.raises(ValueError, match=message):
        decoding.create(name, {"bins": B.default_bins()}, settings)


def test_class_decoders_need_bins():
    with pytest.raises(ValueError, match="needs colour bins"):
        decoding.create("min-risk", {})


def test_decoders_from_a_model_file_round_trip():
    bins = B.default_bins()
    extra = {"bins": bins, "class_weights": torch.ones(len(bins))}
    info = {"decoding": {"default": "min-risk", "annealed-mean": {"blend": 0.5}}}
    default, decs = decoding.for_model(info, extra, ("logits", "ab"))
    assert default == "min-risk" and set(decs) == {"min-risk", "annealed-mean", "regression"}
    assert decs["annealed-mean"].blend == 0.5 and decs["min-risk"].pool == 2
    assert decoding.for_model({"decoding": decoding.settings_for_file(default, decs)}, extra, ("logits", "ab"))[0] == default
    # no settings: a class model decodes by annealed mean (as such files always did), a regression model by regression
    assert decoding.for_model({}, extra, ("logits",))[0] == "annealed-mean"
    assert set(decoding.for_model({}, {}, ("ab",))[1]) == {"regression"}
    # files written before the decoding package: "decode": rule, blend (vibrance was never read)
    default, decs = decoding.for_model({"decode": {"rule": "min-risk", "blend": 0.7, "vibrance": 0.62}}, extra, ("logits", "ab"))
    assert default == "min-risk" and decs["annealed-mean"].blend == 0.7


@pytest.mark.parametrize("info,message", [
    ({"decoding": {"default": "median"}}, "decoding must be one of"),
    ({"decoding": "min-risk"}, "decoding must be a JSON object"),
    ({"decoding": {"default": "min-risk", "annealed-mean": 0.5}}, "decoding.annealed-mean must be a JSON object"),
    ({"decoding": {"default": "annealed-mean", "annealed-mean": {"blend": "much"}}}, "annealed-mean.blend must be"),
    ({"decoding": {"default": "min-risk", "min-risk": {"tau": -1}}}, "min-risk.tau must be"),
    ({"decode": {"curve": [20.0, 1.0]}}, "decode.curve is no longer a decoding setting"),
    ({"decode": {"scales": [1.0, 0.5]}}, "decode.scales is no longer a decoding setting"),
    ({"decode": {"rule": "median"}}, "decoding must be one of"),
    ({"decode": {"blend": "much"}}, "annealed-mean.blend must be"),
])
def test_bad_decoding_settings_in_a_model_file_are_a_one_line_error(tiny_model_path, tmp_path, info, message):
    from colorizer import Colorizer
    arch, config, old_info, state, extra = read_model_file(tiny_model_path)
    path = tmp_path / "bad.safetensors"
    write_model_file(str(path), arch, config, state, extra, info=info)
    with pytest.raises(WeightsError, match="bad decoding settings in the model file") as e:
        Colorizer.load(str(path), device="cpu")
    assert message in str(e.value) and "\n" not in str(e.value)


def test_a_regression_model_cannot_default_to_a_class_rule(tmp_path):
    from colorizer import Colorizer
    from helpers import make_tiny_model_file
    path = make_tiny_model_file(tmp_path / "seed.safetensors", arch="seed", info={"decoding": {"default": "min-risk"}})
    with pytest.raises(WeightsError, match="min-risk decoding does not fit this model"):
        Colorizer.load(path, device="cpu")
