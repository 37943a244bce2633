"""Reading any image into full-resolution CIE L*: every Pillow mode, EXIF orientation,
the 8-bit table lookups against the formula and scikit-image, notes and one-line errors.
(Hostile and broken files: tests/test_bad_inputs.py.)"""
import io

import numpy as np
import pytest
from PIL import Image
from skimage.color import rgb2lab

from colorizer import image_io as IO
from colorizer.image_io import ImageError, lightness, read_lightness
from helpers import gradient_image


def _expected_L(rgb_u8):
    return rgb2lab(rgb_u8.astype(np.float64) / 255.0)[..., 0]


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB", "RGBA", "LA", "CMYK", "I;16", "I", "F"])
def test_every_mode_gives_full_resolution_lightness(mode):
    base = gradient_image(37, 23, "RGB")
    if mode == "I;16":
        img = Image.fromarray(np.asarray(base.convert("L"), dtype=np.uint16) * 257)
        assert img.mode == "I;16"
        ref = np.asarray(base.convert("L").convert("RGB"))
    elif mode == "I":
        img = base.convert("L").convert("I")
        ref = np.asarray(base.convert("L").convert("RGB"))
    elif mode == "F":
        img = Image.fromarray(np.asarray(base.convert("L"), dtype=np.float32) / 255.0)
        ref = np.asarray(base.convert("L").convert("RGB"))
    else:
        img = base.convert(mode)
        ref = np.asarray(img.convert("RGB"))
    L, alpha, notes = read_lightness(img)
    assert L.shape == (23, 37) and L.dtype == np.float32
    assert np.abs(L - _expected_L(ref)).max() < 0.05
    assert (alpha is not None) == (mode in ("RGBA", "LA"))


def test_exif_orientation_is_applied():
    img = gradient_image(40, 20, "L")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    L, _, _ = read_lightness(buf.getvalue())
    assert L.shape == (40, 20)


def test_colour_input_gets_a_note_and_gray_does_not():
    _, _, notes = read_lightness(gradient_image(20, 20, "RGB"))
    assert any("converted to grayscale" in n for n in notes)
    _, _, notes = read_lightness(gradient_image(20, 20, "L"))
    assert notes == []


@pytest.mark.parametrize("data,reason", [(b"", "empty"), (b"GIF89a-garbage", "not an image"), (b"hello world", "not an image")])
def test_bad_bytes_give_one_line_errors(data, reason):
    with pytest.raises(ImageError) as e:
        read_lightness(data)
    assert reason in str(e.value) and "\n" not in str(e.value)


def test_pixel_limit_is_checked_before_decoding():
    big = Image.new("L", (3000, 3000))
    buf = io.BytesIO()
    big.save(buf, format="PNG")
    with pytest.raises(ImageError, match="too large"):
        read_lightness(buf.getvalue(), max_pixels=1_000_000)


# --- the fast paths of lightness() ---------------------------------------------------

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
    assert np.abs(fast - _expected_L(a)).max() < 0.05
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
    assert np.abs(L - _expected_L(rgb)).max() < 0.5


@pytest.mark.parametrize("mode", ["RGB", "P", "CMYK", "YCbCr"])
def test_colour_inputs_match_skimage(mode):
    img = gradient_image(97, 61, "RGB").convert(mode)
    L, had_colour = lightness(img)
    assert had_colour and L.shape == (61, 97) and L.dtype == np.float32
    assert np.abs(L - _expected_L(np.asarray(img.convert("RGB")))).max() < 0.05


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
