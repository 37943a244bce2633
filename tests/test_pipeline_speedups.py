"""The fast paths of the pipeline give what the straightforward computation gives:
the strip-wise a,b upsampling + Lab -> RGB merge (vs F.interpolate + lab_to_rgb), the
box reduction of resize_lightness (vs Pillow's resize), the table lookups of
lightness() (vs the Y -> L* formula and scikit-image), working_shape's jumps (vs
stepping). No timing assertions here: benchmarks/inference.py measures speed."""
import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from skimage.color import rgb2lab

from colorizer import imageio as IO
from colorizer.color import lab_to_rgb
from colorizer.imageio import lightness, read_lightness
from colorizer.pipeline import merge_full_res, resize_lightness, working_shape
from conftest import gradient_image


def reference_merge(L, ab_small):
    """The straightforward computation: bilinear upsampling (align_corners=False) of
    a,b to L's size, Lab -> sRGB with color.lab_to_rgb, rounding to 8 bits."""
    H, W = L.shape
    ab = F.interpolate(ab_small[None].float(), size=(H, W), mode="bilinear", align_corners=False)[0]
    rgb = lab_to_rgb(torch.cat([torch.from_numpy(np.asarray(L, dtype=np.float32))[None], ab], 0))
    return rgb.mul(255).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


def random_lab(H, W, h, w, seed=0, spread=60.0):
    rng = np.random.default_rng(seed)
    L = (rng.random((H, W), dtype=np.float32) * 100).astype(np.float32)
    L[0, 0] = 0.0      # the ends of the range
    L[-1, -1] = 100.0
    ab = torch.from_numpy(rng.normal(0, spread, (2, h, w)).astype(np.float32))  # much out of gamut
    return L, ab


def assert_close_u8(got, ref, max_frac=0.01):
    assert got.shape == ref.shape and got.dtype == np.uint8
    d = np.abs(got.astype(np.int16) - ref.astype(np.int16))
    assert d.max() <= 1, f"max abs diff {d.max()}"
    n = int((d > 0).sum())  # off by one only near a rounding threshold: rare
    assert n <= max(2, max_frac * d.size), f"{n} of {d.size} values differ"


# --- merge_full_res -------------------------------------------------------------------

@pytest.mark.parametrize("H,W,h,w", [
    (1, 1, 1, 1), (1, 20000, 1, 64), (20000, 1, 64, 1), (3, 5, 2, 3), (5, 3, 16, 16),
    (301, 411, 112, 144), (64, 64, 64, 64), (2000, 33, 40, 3), (37, 1000, 16, 128),
])
def test_merge_equals_interpolate_and_lab_to_rgb(H, W, h, w):
    L, ab = random_lab(H, W, h, w, seed=H * 7 + W)
    assert_close_u8(merge_full_res(L, ab), reference_merge(L, ab))


def test_merge_on_smooth_photo_like_input():
    # a gradient L and gentle a,b, as real outputs are: the fast path matches closely
    y, x = np.mgrid[0:480, 0:640].astype(np.float32)
    L = (100 * (0.6 * x / 639 + 0.4 * y / 479)).astype(np.float32)
    rng = np.random.default_rng(3)
    ab = torch.from_numpy(rng.normal(0, 20, (2, 60, 80)).astype(np.float32))
    assert_close_u8(merge_full_res(L, ab), reference_merge(L, ab), max_frac=0.005)


def test_merge_strip_size_does_not_change_the_result():
    L, ab = random_lab(123, 77, 20, 30, seed=5)
    full = merge_full_res(L, ab)
    for strip in (1, 2, 7, 122, 123, 1000):
        assert np.array_equal(merge_full_res(L, ab, strip=strip), full)


def test_merge_accepts_other_dtypes_and_layouts():
    L, ab = random_lab(40, 50, 10, 12, seed=2)
    ref = merge_full_res(L, ab)
    assert np.array_equal(merge_full_res(L.astype(np.float64), ab.double()), ref)
    assert np.array_equal(merge_full_res(np.asfortranarray(L), ab.transpose(1, 2).contiguous().transpose(1, 2)), ref)
    assert_close_u8(merge_full_res(L, ab.half()), reference_merge(L, ab.half().float()))


def test_merge_gray_ab_gives_near_neutral_grays():
    L = np.linspace(0, 100, 256, dtype=np.float32)[None].repeat(3, 0)
    rgb = merge_full_res(L, torch.zeros(2, 1, 1)).astype(int)
    assert (np.abs(rgb[..., 0] - rgb[..., 1]) <= 1).all() and (np.abs(rgb[..., 1] - rgb[..., 2]) <= 1).all()
    assert rgb[0, 0].max() == 0 and rgb[0, -1].min() >= 254


# --- resize_lightness -----------------------------------------------------------------

def pillow_resize(L, shape):
    img = Image.fromarray(np.ascontiguousarray(L, dtype=np.float32))
    return np.array(img.resize((shape[1], shape[0]), Image.BILINEAR, reducing_gap=3.0), dtype=np.float32)


@pytest.mark.parametrize("H,W,shape", [
    (3000, 4000, (224, 288)), (1000, 1003, (96, 64)), (1, 20000, (32, 8192)), (20000, 1, (8192, 32)),
    (1, 1, (32, 32)), (3, 5, (192, 320)), (97, 1001, (32, 100)), (777, 333, (7, 5)),
])
def test_resize_lightness_equals_pillows_reducing_resize(H, W, shape):
    rng = np.random.default_rng(H + W)
    L = (rng.random((H, W), dtype=np.float32) * 100).astype(np.float32)
    got = resize_lightness(L, shape)
    assert got.shape == shape and got.dtype == np.float32
    assert np.abs(got - pillow_resize(L, shape)).max() < 1e-3


def test_working_shape_jumps_equal_stepping():
    def stepping(h, w, size, multiple=32):
        s = size / np.sqrt(h * w)
        hh = max(multiple, int(round(h * s / multiple)) * multiple)
        ww = max(multiple, int(round(w * s / multiple)) * multiple)
        while hh * ww > 4 * size * size and max(hh, ww) > multiple:
            if hh >= ww:
                hh -= multiple
            else:
                ww -= multiple
        return hh, ww

    rng = np.random.default_rng(0)
    cases = [(1, 1), (1, 20000), (20000, 1), (3, 5), (4000, 3000), (1, 200_000_000)]
    cases += [(int(np.exp(rng.uniform(0, 11))), int(np.exp(rng.uniform(0, 11)))) for _ in range(500)]
    for h, w in cases:
        for size in (32, 128, 256, 512):
            assert working_shape(h, w, size) == stepping(h, w, size), (h, w, size)


# --- lightness ------------------------------------------------------------------------

def skimage_L(rgb_u8):
    return rgb2lab(rgb_u8.astype(np.float64) / 255.0)[..., 0]


def photo_like_gray(w=211, h=157, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = 30 + 170 * (x / w) * (0.5 + 0.5 * y / h) + rng.normal(0, 12, (h, w))
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "L")


def test_gray_fast_path_equals_generic_path():
    gray = photo_like_gray()
    fast, had_colour = lightness(gray)
    assert not had_colour and fast.dtype == np.float32
    a = np.asarray(gray.convert("RGB"))
    generic = IO._rgb8_lightness(a)  # the per-pixel Y -> L* path that colour inputs take
    assert np.abs(fast - generic).max() < 1e-3
    assert np.abs(fast - skimage_L(a)).max() < 0.05
    # the same photo stored as RGB (all pixels gray) is recognised as gray
    L_rgb, had_colour = lightness(gray.convert("RGB"))
    assert not had_colour and np.abs(L_rgb - fast).max() < 1e-3


def test_gray_jpeg_read_as_mode_L_gives_the_L_of_its_full_rgb_decode():
    buf = io.BytesIO()
    photo_like_gray(640, 480).save(buf, format="JPEG", quality=90)
    data = buf.getvalue()
    assert Image.open(io.BytesIO(data)).mode == "L"  # a grayscale JPEG decodes as one channel
    L, alpha, notes = read_lightness(data)
    rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert alpha is None and notes == []
    assert np.abs(L - IO._rgb8_lightness(rgb)).max() < 0.5
    assert np.abs(L - skimage_L(rgb)).max() < 0.5


@pytest.mark.parametrize("mode", ["RGB", "P", "CMYK", "YCbCr"])
def test_colour_inputs_match_skimage(mode):
    img = gradient_image(97, 61, "RGB").convert(mode)
    L, had_colour = lightness(img)
    assert had_colour and L.shape == (61, 97) and L.dtype == np.float32
    assert np.abs(L - skimage_L(np.asarray(img.convert("RGB")))).max() < 0.05


def test_colour_strips_cover_the_whole_image(monkeypatch):
    img = gradient_image(50, 41, "RGB")
    whole = lightness(img)[0]
    monkeypatch.setattr(IO, "_STRIP_ROWS_PIXELS", 7 * 50)  # 7-row strips, the last one partial
    assert np.array_equal(lightness(img)[0], whole)


@pytest.mark.parametrize("size", [(1, 1), (20000, 1), (1, 20000), (5, 3)])
def test_lightness_of_odd_sizes(size):
    for mode in ("L", "RGB", "1"):
        img = Image.new(mode, size, 128 if mode != "RGB" else (10, 200, 30))
        L, _ = lightness(img)
        assert L.shape == (size[1], size[0])


# --- the whole pipeline -------------------------------------------------------------------

def straightforward_colorize(col, img, size=256):
    """What colorize does, computed the plain way (Pillow resize, F.interpolate, lab_to_rgb)."""
    L = lightness(img.convert("L") if img.mode in ("RGBA", "LA") else img)[0]
    hh, ww = working_shape(*L.shape, size)
    small = pillow_resize(L, (hh, ww))
    ab = col.predict_ab(torch.from_numpy(small)[None, None])[0].cpu()
    return reference_merge(L, ab)


@pytest.mark.parametrize("wh", [(1, 1), (3, 5), (5, 3), (1, 20000), (20000, 1), (641, 479)])
def test_colorize_odd_sizes_match_the_straightforward_pipeline(tiny_colorizer, wh):
    img = photo_like_gray(*wh, seed=wh[0])
    out = tiny_colorizer.colorize(img)
    assert out.size == img.size and out.mode == "RGB"
    assert_close_u8(np.asarray(out), straightforward_colorize(tiny_colorizer, img), max_frac=0.02)


def test_colorize_keeps_alpha(tiny_colorizer):
    gray = photo_like_gray(67, 45)
    alpha = Image.fromarray((np.arange(67 * 45) % 256).astype(np.uint8).reshape(45, 67), "L")
    rgba = gray.convert("RGBA")
    rgba.putalpha(alpha)
    out = tiny_colorizer.colorize(rgba)
    assert out.mode == "RGBA" and out.size == (67, 45)
    assert np.array_equal(np.asarray(out.getchannel("A")), np.asarray(alpha))
    assert_close_u8(np.asarray(out.convert("RGB")), straightforward_colorize(tiny_colorizer, gray), max_frac=0.02)


def test_colorize_jpeg_file_to_jpeg_file(tiny_colorizer, tmp_path):
    from colorizer.imageio import save_image
    src = tmp_path / "in.jpg"
    photo_like_gray(400, 300).save(src, quality=90)
    out = tiny_colorizer.colorize(str(src))
    save_image(out, str(tmp_path / "out.jpg"))
    back = Image.open(tmp_path / "out.jpg")
    assert back.size == (400, 300) and back.mode == "RGB"


def test_merge_survives_non_finite_values():
    L, ab = random_lab(20, 30, 4, 5, seed=9)
    L[3, 4], L[5, 6], L[7, 8] = np.nan, np.inf, -np.inf
    ab[0, 1, 1], ab[1, 2, 2] = float("nan"), float("inf")
    rgb = merge_full_res(L, ab)
    assert rgb.shape == (20, 30, 3) and rgb.dtype == np.uint8


# --- predict_ab's decoding --------------------------------------------------------------

@pytest.mark.parametrize("vibrance", [None, 0.0, 0.5, 0.99, 1.0])
@pytest.mark.parametrize("blend", [0.0, 0.5, 2.0])
def test_class_decoding_matches_the_textbook_formulas(tiny_colorizer, vibrance, blend, monkeypatch):
    """decode_ab's few-pass decoding (in place in predict_ab, on a copy otherwise) equals
    the direct annealed mean and entropy fallback of bins.py."""
    from colorizer import bins as B
    from colorizer.pipeline import DEFAULT_VIBRANCE, decode_ab, vibrance_to_temperature
    monkeypatch.setattr(tiny_colorizer, "blend", blend)
    g = torch.Generator().manual_seed(1)
    L = torch.rand(2, 1, 64, 96, generator=g) * 100
    extra = tiny_colorizer.extra
    with torch.inference_mode():
        out = tiny_colorizer.model(L)
        out["logits"] = out["logits"] * 20  # peaky distributions, like a trained model's
        T = vibrance_to_temperature(DEFAULT_VIBRANCE if vibrance is None else vibrance)
        ref = B.annealed_mean(out["logits"], extra["bins"], T=T)
        if blend:
            conf = (1.0 - B.normalized_entropy(out["logits"])).clamp(0, 1) ** blend
            ref = out["ab"] + conf * (ref - out["ab"])
        logits = out["logits"].clone()
        copy = decode_ab(out, extra, vibrance=vibrance, blend=blend)
        assert torch.equal(out["logits"], logits)  # not in place: the scores are untouched
    monkeypatch.setattr(tiny_colorizer, "model", lambda x: {k: v.clone() for k, v in out.items()})
    got = tiny_colorizer.predict_ab(L, vibrance=vibrance)
    assert got.shape == ref.shape == copy.shape == (2, 2, 32, 48)
    assert (got - ref).abs().max() < 1e-3
    assert (copy - ref).abs().max() < 1e-3


@pytest.mark.parametrize("curve", [None, (20.0, 1.0)])
def test_multi_scale_decoding_averages_the_scales_then_blends(tiny_colorizer, curve, monkeypatch):
    """With scales (1, 0.5) predict_ab runs the network on the working-size input and on
    a half-size one, upsamples the second's class a,b, entropy and regression to the
    first's output size, averages them, blends (reg + conf**b (cls - reg)) and applies
    the chroma curve."""
    import torch.nn.functional as F
    from colorizer import bins as B
    monkeypatch.setattr(tiny_colorizer, "blend", 2.0)
    monkeypatch.setattr(tiny_colorizer, "curve", curve)
    monkeypatch.setattr(tiny_colorizer, "scales", (1.0, 0.5))
    g = torch.Generator().manual_seed(3)
    L = torch.rand(1, 1, 128, 192, generator=g) * 100
    seen = []
    model = tiny_colorizer.model

    def spy(x):
        seen.append(tuple(x.shape[-2:]))
        out = model(x)
        out["logits"] = out["logits"] * 20
        out["ab"] = out["ab"] * 30
        return out
    with torch.inference_mode():
        full = spy(L)
        half = spy(F.interpolate(L, size=(64, 96), mode="bilinear", align_corners=False, antialias=True))
        T = 1 - 0.62
        up = lambda x: F.interpolate(x, size=(64, 96), mode="bilinear", align_corners=False)
        cls = (B.annealed_mean(full["logits"], tiny_colorizer.extra["bins"], T=T)
               + up(B.annealed_mean(half["logits"], tiny_colorizer.extra["bins"], T=T))) / 2
        ent = (B.normalized_entropy(full["logits"]) + up(B.normalized_entropy(half["logits"]))) / 2
        reg = (full["ab"] + up(half["ab"])) / 2
        ref = reg + (1 - ent).clamp(0, 1) ** 2 * (cls - reg)
        if curve:
            C = ref.norm(dim=1, keepdim=True)
            ref = ref * torch.clamp((C / curve[0]) ** curve[1], max=3.0)
    seen.clear()
    monkeypatch.setattr(tiny_colorizer, "model", spy)
    got = tiny_colorizer.predict_ab(L, vibrance=0.62)
    assert seen == [(128, 192), (64, 96)]
    assert got.shape == (1, 2, 64, 96)
    assert (got - ref).abs().max() < 1e-3


def test_chroma_curve_pushes_low_chroma_down_high_up_and_follows_vibrance():
    from colorizer.pipeline import DEFAULT_VIBRANCE, decode_ab
    ab = torch.tensor([[3.0, 4.0], [12.0, 16.0], [30.0, 40.0], [60.0, 80.0]]).T.reshape(1, 2, 2, 2)  # C = 5, 20, 50, 100
    out = {"ab": ab.clone()}
    C = lambda x: x.norm(dim=1).flatten().tolist()
    got = C(decode_ab(out, {}, curve=(20.0, 1.0)))  # default vibrance: gamma 1, C' = C * min(C / 20, 3)
    assert got == pytest.approx([1.25, 20.0, 125.0, 300.0], rel=1e-5)
    assert torch.equal(out["ab"], ab)  # the caller's outputs are not touched
    assert C(decode_ab(out, {}, curve=(20.0, 1.0), vibrance=0.0)) == pytest.approx(C(ab))  # vibrance 0: as predicted
    g = 1.0 / DEFAULT_VIBRANCE  # vibrance 1
    assert C(decode_ab(out, {}, curve=(20.0, 1.0), vibrance=1.0))[0] == pytest.approx(5 * 0.25 ** g, rel=1e-5)
    hue = lambda x: torch.atan2(x[:, 1], x[:, 0])
    assert torch.allclose(hue(decode_ab(out, {}, curve=(20.0, 1.0))), hue(ab))  # hue kept
    assert torch.equal(decode_ab(out, {}), ab)  # no curve: the regression as is


@pytest.mark.parametrize("decode", [{"scales": [0.5, 1.0]}, {"scales": []}, {"scales": [1.0, 0.0]}, {"scales": "x"},
                                    {"curve": [20.0]}, {"curve": [0.0, 1.0]}, {"curve": [20.0, -1.0]}, {"curve": "ab"},
                                    {"blend": "much"}, {"rule": "median"}, {"rule": ["min-risk"]}])
def test_bad_decoding_settings_in_a_model_file_are_a_one_line_error(tiny_model_path, tmp_path, decode):
    from colorizer.checkpoint import WeightsError, read_model_file, write_model_file
    from colorizer.pipeline import Colorizer
    arch, config, info, state, extra = read_model_file(tiny_model_path)
    info["decode"] = decode
    path = tmp_path / "bad.safetensors"
    write_model_file(str(path), arch, config, state, extra, info=info)
    with pytest.raises(WeightsError, match=f"bad decoding settings.*{next(iter(decode))} must"):  # names the setting
        Colorizer.load(str(path), device="cpu")


# --- min-risk decoding ------------------------------------------------------------------

def _two_colour_logits(bins, pa, ia, ib, h=2, w=3):
    """Logits (1, Q, h, w) of a distribution with mass pa on bin ia and 1 - pa on ib."""
    p = torch.full((len(bins),), 1e-9)
    p[ia], p[ib] = pa, 1 - pa
    return p.log()[None, :, None, None].expand(1, -1, h, w).clone()


def _bin(bins, a, b):
    return int(((bins - torch.tensor([a, b])).abs().sum(1)).argmin())


def test_min_risk_returns_the_colour_a_sure_model_predicts():
    from colorizer import bins as B
    from colorizer.pipeline import decode_ab
    bins = B.default_bins()
    extra = {"bins": bins, "class_weights": torch.ones(len(bins))}
    k = _bin(bins, 30.0, 50.0)
    ab = decode_ab({"logits": _two_colour_logits(bins, 0.999, k, _bin(bins, 0.0, 0.0))}, extra, rule="min-risk")
    assert ab.shape == (1, 2, 2, 3)
    assert torch.allclose(ab[0, :, 0, 0], bins[k], atol=2.0)


@pytest.mark.parametrize("pa", [0.55, 0.65, 0.75, 0.9])
def test_min_risk_is_less_wrong_on_average_than_the_annealed_mean(pa):
    """Torn between orange and blue, the annealed mean lands on a muddy mix of the two
    that is far from both; min-risk picks the colour of least expected CIEDE2000, which
    is lower than the mix's."""
    from colorizer import bins as B
    from colorizer.pipeline import _decode_min_risk, decode_ab
    bins = B.default_bins()
    extra = {"bins": bins, "class_weights": torch.ones(len(bins))}
    orange, blue = _bin(bins, 30.0, 60.0), _bin(bins, -10.0, -40.0)
    out = {"logits": _two_colour_logits(bins, pa, orange, blue)}
    D = B.ciede2000_matrix(bins)

    def risk_of(ab):
        j = _bin(bins, *ab[0, :, 0, 0].tolist())
        return float(pa * D[orange, j] + (1 - pa) * D[blue, j])

    def risk(rule):
        return risk_of(decode_ab(out, extra, vibrance=0.62, rule=rule))
    # with a hard minimum (tau -> 0) and T = 1 it is the bin of least expected CIEDE2000
    best = float((pa * D[orange] + (1 - pa) * D[blue]).min())
    assert risk_of(_decode_min_risk(out, extra, vibrance=0.0, tau=0.01)) == pytest.approx(best, abs=0.01)
    if pa < 0.9:
        assert risk("min-risk") < risk("annealed-mean") - 1.0


def test_min_risk_undoes_the_class_rebalancing_and_vibrance_sharpens():
    """The model was trained with weight w on each class, so its scores overstate rare
    (heavily weighted) colours: dividing by w moves the decision back to the common one;
    higher vibrance (lower T) lets the likelier colour dominate."""
    from colorizer import bins as B
    from colorizer.pipeline import decode_ab
    bins = B.default_bins()
    red, gray = _bin(bins, 60.0, 40.0), _bin(bins, 0.0, 0.0)
    out = {"logits": _two_colour_logits(bins, 0.7, red, gray)}
    plain = {"bins": bins, "class_weights": torch.ones(len(bins))}
    w = torch.ones(len(bins))
    w[red] = 6.0  # red was rare in training: its score was boosted 6x
    weighted = {"bins": bins, "class_weights": w}
    C = lambda extra, v: float(decode_ab(out, extra, vibrance=v, rule="min-risk")[0, :, 0, 0].norm())
    assert C(weighted, 0.62) < C(plain, 0.62) - 10
    assert C(plain, 0.0) < C(plain, 0.62) < C(plain, 1.0)
    # no weights in the file: as if all were 1
    assert C({"bins": bins}, 0.62) == pytest.approx(C(plain, 0.62), abs=1e-4)


def test_min_risk_in_chunks_equals_all_at_once(tiny_colorizer, monkeypatch):
    import colorizer.pipeline as P
    g = torch.Generator().manual_seed(5)
    L = torch.rand(2, 1, 64, 96, generator=g) * 100
    with torch.inference_mode():
        out = tiny_colorizer.model(L)
        out["logits"] = out["logits"] * 20
        whole = P.decode_ab(out, tiny_colorizer.extra, rule="min-risk")
        monkeypatch.setattr(P, "_RISK_CHUNK", 100)
        chunked = P.decode_ab(out, tiny_colorizer.extra, rule="min-risk")
    assert whole.shape == (2, 2, 32, 48)
    assert torch.allclose(whole, chunked, atol=1e-4)
    monkeypatch.setattr(tiny_colorizer, "rule", "min-risk")
    monkeypatch.setattr(tiny_colorizer, "blend", 0.0)
    monkeypatch.setattr(tiny_colorizer, "model", lambda x: {k: v.clone() for k, v in out.items()})
    assert torch.allclose(tiny_colorizer.predict_ab(L), whole, atol=1e-4)


@pytest.mark.parametrize("shape", [(32, 48), (31, 45)])
def test_min_risk_on_pixel_blocks_is_close_to_per_pixel(tiny_colorizer, shape):
    """The risk computed on 2x2 blocks of the distribution and upsampled is near the
    per-pixel decoding where colours change smoothly, at any output size (odd ones too)."""
    from colorizer.pipeline import _decode_min_risk
    bins = tiny_colorizer.extra["bins"]
    h, w = shape
    yy, xx = torch.meshgrid(torch.linspace(-40, 40, h), torch.linspace(-30, 50, w), indexing="ij")
    centre = torch.stack([yy, xx])  # a smooth field of most likely colours
    d2 = ((bins.T[:, :, None, None] - centre[:, None]) ** 2).sum(0)
    logits = (-d2 / (2 * 15.0 ** 2))[None]
    extra = {"bins": bins}
    per_pixel = _decode_min_risk({"logits": logits}, extra, pool=1)
    blocks = _decode_min_risk({"logits": logits}, extra, pool=2)
    assert blocks.shape == per_pixel.shape == (1, 2, h, w)
    inner = (blocks - per_pixel)[..., 2:-2, 2:-2].abs()
    assert inner.mean() < 1.0 and inner.max() < 4.0
    assert per_pixel.std() > 10  # the field is not flat: the comparison means something


def test_an_unknown_decoding_rule_is_refused_not_decoded_as_another():
    from colorizer import bins as B
    from colorizer.pipeline import decode_ab
    bins = B.default_bins()
    with pytest.raises(ValueError, match="decoding rule must be one of annealed-mean, min-risk, not 'mode'"):
        decode_ab({"logits": torch.zeros(1, len(bins), 4, 4)}, {"bins": bins}, rule="mode")
