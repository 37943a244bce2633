import io

import numpy as np
import pytest
from PIL import Image
from skimage.color import rgb2lab

from colorizer.imageio import ImageError, read_lightness
from conftest import gradient_image


def _expected_L(rgb_u8):
    return rgb2lab(rgb_u8.astype(np.float64) / 255.0)[..., 0]


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB", "RGBA", "LA", "CMYK", "I;16", "I", "F"])
def test_every_mode_gives_full_resolution_lightness(mode):
    base = gradient_image(37, 23, "RGB")
    if mode == "I;16":
        img = Image.fromarray((np.asarray(base.convert("L"), dtype=np.uint16) * 257))
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
