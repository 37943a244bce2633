"""The stages of one photo (colorizer.pipeline): the working size (working_shape, the
box-reducing resize of L), the strip-wise a,b upsampling + Lab -> RGB merge, and the whole
chain, each against the straightforward computation (Pillow's resize, F.interpolate,
lab_to_rgb). No timing assertions here: benchmarks/inference.py measures speed."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from colorizer.image_io import lightness, save_image
from colorizer.lab import lab_to_rgb
from colorizer.merge import merge_full_res, upsample_ab
from colorizer.options import ColorizeOptions
from colorizer.pipeline import ColorizeOutput, colorize_image, to_working_size
from colorizer.working_size import resize_lightness, working_shape


def photo_like_gray(w=211, h=157, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = 30 + 170 * (x / w) * (0.5 + 0.5 * y / h) + rng.normal(0, 12, (h, w))
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "L")


# --- merge_full_res -------------------------------------------------------------------

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


def test_upsample_ab_is_bilinear_and_a_no_op_at_size():
    ab = torch.randn(1, 2, 5, 7)
    assert upsample_ab(ab, (5, 7)) is ab
    assert torch.equal(upsample_ab(ab, (10, 14)), F.interpolate(ab, size=(10, 14), mode="bilinear", align_corners=False))


# --- the whole chain ------------------------------------------------------------------

def straightforward_colorize(col, img, size=256):
    """What colorize does, computed the plain way (Pillow resize, F.interpolate, lab_to_rgb)."""
    L = lightness(img.convert("L") if img.mode in ("RGBA", "LA") else img)[0]
    hh, ww = working_shape(*L.shape, size)
    small = pillow_resize(L, (hh, ww))
    ab = col.predict_ab(torch.from_numpy(small)[None, None])[0]
    return reference_merge(L, ab)


@pytest.mark.parametrize("wh", [(1, 1), (3, 5), (5, 3), (1, 20000), (20000, 1), (641, 479)])
def test_colorize_odd_sizes_match_the_straightforward_pipeline(tiny_colorizer, wh):
    img = photo_like_gray(*wh, seed=wh[0])
    out = tiny_colorizer.colorize(img).image
    assert out.size == img.size and out.mode == "RGB"
    assert_close_u8(np.asarray(out), straightforward_colorize(tiny_colorizer, img), max_frac=0.02)


def test_colorize_keeps_alpha(tiny_colorizer):
    gray = photo_like_gray(67, 45)
    alpha = Image.fromarray((np.arange(67 * 45) % 256).astype(np.uint8).reshape(45, 67), "L")
    rgba = gray.convert("RGBA")
    rgba.putalpha(alpha)
    out = tiny_colorizer.colorize(rgba).image
    assert out.mode == "RGBA" and out.size == (67, 45)
    assert np.array_equal(np.asarray(out.getchannel("A")), np.asarray(alpha))
    assert_close_u8(np.asarray(out.convert("RGB")), straightforward_colorize(tiny_colorizer, gray), max_frac=0.02)


def test_colorize_jpeg_file_to_jpeg_file(tiny_colorizer, tmp_path):
    src = tmp_path / "in.jpg"
    photo_like_gray(400, 300).save(src, quality=90)
    out = tiny_colorizer.colorize(str(src)).image
    save_image(out, str(tmp_path / "out.jpg"))
    back = Image.open(tmp_path / "out.jpg")
    assert back.size == (400, 300) and back.mode == "RGB"


def test_merge_survives_non_finite_values():
    L, ab = random_lab(20, 30, 4, 5, seed=9)
    L[3, 4], L[5, 6], L[7, 8] = np.nan, np.inf, -np.inf
    ab[0, 1, 1], ab[1, 2, 2] = float("nan"), float("inf")
    rgb = merge_full_res(L, ab)
    assert rgb.shape == (20, 30, 3) and rgb.dtype == np.uint8


def test_colorize_image_runs_the_stages_in_order(tiny_colorizer):
    """colorize_image = read -> working size -> network -> decode -> merge: equal to calling
    the stages by hand, and the Colorizer's one entry point returns the same output."""
    img = photo_like_gray(150, 100, seed=4)
    options = ColorizeOptions(size=96, vibrance=0.3)
    got = colorize_image(img, tiny_colorizer.backend, tiny_colorizer.decoder(options), options)
    assert isinstance(got, ColorizeOutput) and got.notes == []
    L = lightness(img)[0]
    small = to_working_size(L, 96)
    assert tuple(small.shape) == (1, 1, *working_shape(100, 150, 96))
    with torch.inference_mode():
        ab = tiny_colorizer.decoder(options)(tiny_colorizer.backend(small), 0.3)[0]
    assert np.array_equal(np.asarray(got.image), merge_full_res(L, ab))
    again = tiny_colorizer.colorize(img, options)
    assert np.array_equal(np.asarray(again.image), np.asarray(got.image))
    assert np.array_equal(np.asarray(tiny_colorizer.colorize(img, size=96, vibrance=0.3).image), np.asarray(got.image))
