"""Outputs keep what the input had: the EXIF (date, camera, description; the orientation
dropped, as the pixels are turned upright), the ICC profile and the DPI, in PNG, JPEG,
WebP and TIFF; 16 bits per channel from a 16-bit input (PNG and TIFF), with L* kept to
16-bit precision; the JPEG/WebP quality; NumPy arrays as inputs."""
import functools
import io
import os

import numpy as np
import png
import pytest
import tifffile
import torch
from PIL import Image, ImageCms

from colorizer import ImageError
from colorizer import batch as B
from colorizer.image16 import write16
from colorizer.image_io import encode_image, full_lightness, read_image, read_lightness, save_image
from colorizer.lab import rgb_to_lab
from colorizer.merge import merge_full_res, merge_full_res16
from colorizer.metadata import Metadata
from colorizer.options import ColorizeOptions
from helpers import gradient_image

OPTS = ColorizeOptions(size=64)
DESCRIPTION, MAKE, MODEL, TAKEN = "grandmother's wedding, 1951", "Leica", "IIIf", "1951:06:02 14:30:00"
FORMATS = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP", "tif": "TIFF"}


@functools.cache
def srgb_icc():
    """An sRGB profile's bytes (made once: a profile made now holds the time)."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def exif(orientation=None):
    e = Image.Exif()
    e[0x010E], e[0x010F], e[0x0110], e[0x0132] = DESCRIPTION, MAKE, MODEL, TAKEN
    e.get_ifd(0x8769)[0x9003] = TAKEN  # DateTimeOriginal, in the Exif sub-IFD
    if orientation:
        e[0x0112] = orientation
    return e.tobytes()


def scan(path, fmt, size=(48, 32), orientation=None, dpi=(600, 300), icc=True, mode="L"):
    """A gray 'scan' with EXIF, an RGB ICC profile (an RGB scan's) and a DPI."""
    img = gradient_image(*size, mode="RGB").convert("L")
    if mode == "RGB":
        img = img.convert("RGB")
    kw = {"exif": exif(orientation), "dpi": dpi}
    if icc:
        kw["icc_profile"] = srgb_icc()
    img.save(path, fmt, **kw)
    return str(path)


def assert_kept(path, size, dpi, icc=True):
    """The output at `path` has the scan's EXIF (no orientation), ICC profile and DPI."""
    with Image.open(path) as out:
        assert out.size == size
        e = out.getexif()
        assert (e.get(0x010E), e.get(0x010F), e.get(0x0110), e.get(0x0132)) == (DESCRIPTION, MAKE, MODEL, TAKEN)
        assert e.get_ifd(0x8769).get(0x9003) == TAKEN
        assert e.get(0x0112) in (None, 1)
        assert (out.info.get("icc_profile") == srgb_icc()) if icc else "icc_profile" not in out.info
        if out.format == "WEBP":  # WebP has no resolution field: its EXIF carries the DPI
            got = (float(e[0x011A]), float(e[0x011B]))
        else:
            got = tuple(float(v) for v in out.info["dpi"])
        assert got == pytest.approx(dpi, abs=0.01)


@pytest.mark.parametrize("in_fmt", ["JPEG", "PNG", "TIFF"])
@pytest.mark.parametrize("out_ext", list(FORMATS))
def test_exif_icc_and_dpi_are_kept(tmp_path, tiny_colorizer, in_fmt, out_ext):
    src = scan(tmp_path / f"scan.{in_fmt.lower()}", in_fmt, mode="RGB" if in_fmt == "JPEG" else "L")
    s = B.run_batch(tiny_colorizer, [src], str(tmp_path / "out"), OPTS, fmt=out_ext)
    assert s.done == 1, s.events
    assert_kept(tmp_path / "out" / f"scan.{out_ext}", (48, 32), (600, 300))


@pytest.mark.parametrize("out_ext", ["png", "tif"])
def test_exif_icc_and_dpi_are_kept_at_16_bits(tmp_path, tiny_colorizer, out_ext):
    src = scan(tmp_path / "scan.png", "PNG")
    s = B.run_batch(tiny_colorizer, [src], str(tmp_path / "out"), OPTS, fmt=out_ext, depth=16)
    assert s.done == 1, s.events
    assert_kept(tmp_path / "out" / f"scan.{out_ext}", (48, 32), (600, 300))


def test_the_orientation_is_applied_once_and_the_dpi_turns_with_the_pixels(tmp_path, tiny_colorizer):
    for fmt in ("JPEG", "TIFF", "PNG"):
        src = scan(tmp_path / f"turned.{fmt.lower()}", fmt, size=(48, 32), orientation=6, mode="RGB" if fmt == "JPEG" else "L")
        out = tiny_colorizer.colorize(src, OPTS)
        assert out.image.size == (32, 48), fmt  # turned upright, once
        assert out.metadata.dpi == (300, 600), fmt
        written = tmp_path / f"turned-{fmt}.jpg"
        save_image(out.image, str(written), metadata=out.metadata)
        assert_kept(written, (32, 48), (300, 600))


def test_a_gray_icc_profile_is_not_put_in_a_colour_output_and_that_is_said(tmp_path, tiny_colorizer):
    gray_icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()  # a profile that is not RGB
    gray_icc = gray_icc[:16] + b"GRAY" + gray_icc[20:]
    path = tmp_path / "g.png"
    gradient_image(30, 20, "L").save(path, icc_profile=gray_icc)
    out = tiny_colorizer.colorize(str(path), OPTS)
    assert out.metadata.icc_profile is None
    assert out.notes == ["the input's gray ICC profile is not kept (a colour image cannot carry it)"]


def test_an_input_without_metadata_gives_an_output_without(tmp_path, tiny_colorizer):
    out = tiny_colorizer.colorize(gradient_image(30, 20, "L"), OPTS)
    assert (out.metadata.exif, out.metadata.icc_profile, out.metadata.dpi) == (None, None, None)
    for fmt in FORMATS.values():
        with Image.open(io.BytesIO(encode_image(out.image, fmt, metadata=out.metadata))) as im:
            assert "icc_profile" not in im.info and not im.getexif().get(0x010F)


# ---------------------------------------------------------------- 16 bits

def gray16(path, w=96, h=64):
    """A 16-bit gray PNG: a smooth ramp over 6,144 distinct 16-bit levels (20% to 80%)."""
    ramp = (np.linspace(0.2, 0.8, w * h).reshape(h, w) * 65535).round().astype(np.uint16)
    Image.fromarray(ramp).save(path)
    return str(path)


def lightness_of(rgb16):
    return rgb_to_lab(torch.from_numpy(rgb16.astype(np.float64) / 65535).permute(2, 0, 1))[0].numpy()


@pytest.mark.parametrize("out_ext", ["png", "tif"])
def test_a_16_bit_input_gives_a_16_bit_output_with_its_lightness(tmp_path, tiny_colorizer, out_ext):
    src = gray16(tmp_path / "scan16.png")
    s = B.run_batch(tiny_colorizer, [src], str(tmp_path / "out"), OPTS, fmt=out_ext, depth=16)
    assert s.done == 1, s.events
    path = str(tmp_path / "out" / f"scan16.{out_ext}")
    if out_ext == "png":
        w, h, rows, info = png.Reader(filename=path).asDirect()
        assert (info["bitdepth"], info["planes"], w, h) == (16, 3, 96, 64)
        rgb = np.vstack([np.asarray(r, dtype=np.uint16) for r in rows]).reshape(h, w, 3)
    else:
        rgb = tifffile.imread(path)
        assert rgb.dtype == np.uint16 and rgb.shape == (64, 96, 3)
    assert len(np.unique(rgb[..., 1])) > 1000  # far more levels than 8 bits hold
    L_in = read_lightness(src)[0]
    L_out = lightness_of(rgb)
    # the input's L* to 16-bit precision (one 16-bit step moves L* by at most ~0.002 here);
    # 8 bits would be ~0.2 off
    assert np.abs(L_out - L_in).max() < 0.005
    L8 = lightness_of(np.asarray(tiny_colorizer.colorize(src, OPTS).image, dtype=np.uint16) * 257)
    assert np.abs(L8 - L_in).max() > 0.05
    # and the same colours as the 8-bit result, to within its rounding
    rgb8 = np.asarray(tiny_colorizer.colorize(src, OPTS).image, dtype=np.float64)
    assert np.abs(rgb / 257.0 - rgb8).max() <= 0.51


def test_16_bit_merge_agrees_with_the_8_bit_merge_which_is_unchanged():
    rng = np.random.default_rng(0)
    L = rng.uniform(0, 100, (37, 53)).astype(np.float32)
    ab = torch.from_numpy(rng.uniform(-60, 60, (2, 10, 14)).astype(np.float32))
    m8, m16 = merge_full_res(L, ab), merge_full_res16(L, ab, strip=5)
    assert m16.dtype == np.uint16 and m16.shape == (37, 53, 3)
    assert np.abs(m16 / 257.0 - m8).max() <= 1.01  # the 8-bit table is within one level of the exact value
    assert np.array_equal(merge_full_res16(L, ab), m16)  # strips do not change the result


def test_16_bits_keep_the_alpha_channel(tmp_path, tiny_colorizer):
    img = gradient_image(30, 20, "RGBA")
    out = tiny_colorizer.colorize(img, OPTS)
    p = out.pixels16()
    assert p.shape == (20, 30, 4) and np.array_equal(p[..., 3], np.asarray(img.getchannel("A"), dtype=np.uint16) * 257)
    for fmt in ("PNG", "TIFF"):
        data = encode_image(p, fmt)
        back = tifffile.imread(io.BytesIO(data)) if fmt == "TIFF" else None
        if back is not None:
            assert back.shape == (20, 30, 4) and np.array_equal(back, p)


def test_16_bits_are_refused_for_jpeg_and_webp(tiny_colorizer, tmp_path):
    out = tiny_colorizer.colorize(gradient_image(20, 10, "L"), OPTS)
    for fmt in ("JPEG", "WEBP"):
        with pytest.raises(ValueError, match="PNG or TIFF"):
            encode_image(out.pixels16(), fmt)
    gradient_image(20, 10, "L").save(tmp_path / "a.png")
    with pytest.raises(ValueError, match="depth"):
        B.run_batch(tiny_colorizer, [str(tmp_path / "a.png")], str(tmp_path / "o"), OPTS, fmt="jpg", depth=16)


def test_the_8_bit_output_is_unchanged_by_the_metadata(tmp_path, tiny_colorizer):
    """The pixels of an 8-bit output are the merge's, whether or not metadata is written."""
    src = scan(tmp_path / "scan.png", "PNG")
    out = tiny_colorizer.colorize(src, OPTS)
    with Image.open(io.BytesIO(encode_image(out.image, "PNG", metadata=out.metadata))) as a, \
            Image.open(io.BytesIO(encode_image(out.image, "PNG"))) as b:
        assert np.array_equal(np.asarray(a), np.asarray(b)) and np.array_equal(np.asarray(a), np.asarray(out.image))


# ---------------------------------------------------------------- quality

def test_quality_changes_the_jpeg_and_webp_size(tmp_path, tiny_colorizer):
    src = str(tmp_path / "p.png")
    gradient_image(160, 120, "L").save(src)
    sizes = {}
    for ext in ("jpg", "webp"):
        for q in (30, 95):
            out = tmp_path / f"{ext}{q}"
            assert B.run_batch(tiny_colorizer, [src], str(out), OPTS, fmt=ext, quality=q).done == 1
            sizes[ext, q] = os.path.getsize(out / f"p.{ext}")
    assert sizes["jpg", 30] < 0.8 * sizes["jpg", 95] and sizes["webp", 30] < 0.8 * sizes["webp", 95]


# ---------------------------------------------------------------- NumPy arrays and errors

def test_numpy_arrays_are_images(tiny_colorizer):
    gray = np.asarray(gradient_image(40, 30, "L"))
    ref = np.asarray(tiny_colorizer.colorize(Image.fromarray(gray), OPTS).image)
    assert np.array_equal(np.asarray(tiny_colorizer.colorize(gray, OPTS).image), ref)            # (H, W) uint8
    assert np.array_equal(np.asarray(tiny_colorizer.colorize(np.stack([gray] * 3, -1), OPTS).image), ref)  # gray RGB
    out16 = tiny_colorizer.colorize(gray.astype(np.uint16) * 257, OPTS)                          # uint16
    assert np.abs(np.asarray(out16.image, dtype=int) - ref).max() <= 1
    outf = tiny_colorizer.colorize(gray / 255.0, OPTS)                                            # float in [0, 1]
    assert np.abs(np.asarray(outf.image, dtype=int) - ref).max() <= 1
    rgb = tiny_colorizer.colorize(np.asarray(gradient_image(40, 30, "RGB")), OPTS)
    assert rgb.notes == ["colour input: converted to grayscale first"] and rgb.image.size == (40, 30)
    L, _, _, _ = read_image(np.asarray(gradient_image(40, 30, "RGB")).astype(np.float32) / 255)
    assert np.abs(L - read_lightness(gradient_image(40, 30, "RGB"))[0]).max() < 0.01


@pytest.mark.parametrize("array,message", [
    (np.zeros((4, 5, 2), np.uint8), "shape (H, W) or (H, W, 3), not (4, 5, 2)"),
    (np.zeros((4, 5, 4), np.uint8), "shape (H, W) or (H, W, 3), not (4, 5, 4)"),
    (np.zeros((4,), np.uint8), "shape (H, W) or (H, W, 3), not (4,)"),
    (np.zeros((0, 5), np.uint8), "no pixels"),
    (np.zeros((4, 5), np.int32), "uint8, uint16 or float (0 to 1), not int32"),
    (np.zeros((4, 5), bool), "uint8, uint16 or float (0 to 1), not bool"),
    (np.full((4, 5), 2.0), "values between 0 and 1"),
    (np.full((4, 5), np.nan), "values between 0 and 1"),
])
def test_bad_arrays_are_one_line_errors(tiny_colorizer, array, message):
    with pytest.raises(ImageError) as e:
        tiny_colorizer.colorize(array, OPTS)
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("thing", [42, [1, 2, 3], None, {"a": 1}])
def test_what_is_not_an_image_source_is_a_one_line_error(tiny_colorizer, thing):
    with pytest.raises(ImageError) as e:
        tiny_colorizer.colorize(thing, OPTS)
    assert str(e.value) == (f"cannot read an image from a {type(thing).__name__}: give a path, bytes, a file object, "
                            "a PIL image or a NumPy array")


def test_errors_for_a_path_name_the_path(tiny_colorizer, tmp_path):
    missing = tmp_path / "nowhere" / "old.jpg"
    with pytest.raises(ImageError) as e:
        tiny_colorizer.colorize(str(missing), OPTS)
    assert str(e.value) == f"{missing}: no such file" and e.value.reason == "no such file"
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ImageError) as e:
        tiny_colorizer.colorize(str(tmp_path / "notes.txt"), OPTS)
    assert str(e.value) == f"{tmp_path / 'notes.txt'}: not an image, or an image format colorizer cannot read"
    assert "Pillow" not in str(e.value)


@pytest.mark.parametrize("fmt,pil", [("png", "PNG"), ("jpg", "JPEG"), ("webp", "WEBP"), ("tif", "TIFF")])
def test_the_http_api_writes_every_format_with_the_metadata(tmp_path, tiny_colorizer, fmt, pil):
    pytest.importorskip("fastapi")
    pytest.importorskip("multipart")
    from fastapi.testclient import TestClient

    from colorizer.server import create_app
    src = scan(tmp_path / "scan.png", "PNG")
    client = TestClient(create_app(colorizer=tiny_colorizer, concurrency=1, queue_size=1))
    with open(src, "rb") as f:
        r = client.post("/api/colorize", files={"image": ("scan.png", f, "image/png")}, data={"format": fmt, "size": "64"})
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"] == f'attachment; filename="scan-color.{fmt}"'
    path = tmp_path / f"got.{fmt}"
    path.write_bytes(r.content)
    assert Image.open(path).format == pil
    assert_kept(path, (48, 32), (600, 300))


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
@pytest.mark.parametrize("orientation", [1, 6, 3])
def test_a_16_bit_colour_scan_is_read_at_16_bits(tmp_path, tiny_colorizer, fmt, orientation):
    """Pillow decodes 16-bit colour PNG and TIFF at 8 bits: L* comes from the 16 bits instead
    (pypng, tifffile), turned upright as the EXIF says."""
    h, w = 40, 64
    ramp = np.linspace(0.2, 0.8, h * w).reshape(h, w)
    rgb = (np.stack([ramp, ramp * 0.9, ramp * 0.8], -1) * 65535).round().astype(np.uint16)  # a sepia-ish colour scan
    path = tmp_path / f"scan.{fmt.lower()}"
    if fmt == "TIFF":  # the orientation tag in the first IFD
        tifffile.imwrite(path, rgb, photometric="rgb", metadata=None, extratags=[(0x0112, "H", 1, orientation, True)])
    else:  # in the eXIf chunk
        e = Image.Exif()
        e[0x0112] = orientation
        with open(path, "wb") as f:
            write16(f, rgb, fmt, Metadata(exif=e.tobytes()))
    L8, _, notes, metadata = read_image(str(path))  # Pillow's 8 bits: for the network and an 8-bit output
    assert notes == ["colour input: converted to grayscale first"]
    upright = {1: rgb, 6: np.rot90(rgb, -1), 3: rgb[::-1, ::-1]}[orientation]
    expected = read_image(np.ascontiguousarray(upright))[0]
    L = full_lightness(L8, metadata)  # the 16 bits, read when a 16-bit output asks
    assert L.shape == expected.shape and np.abs(L - expected).max() < 1e-4
    assert np.abs(L8 - expected).max() > 0.01  # 8 bits are coarser
    # end to end: the 16-bit output keeps the scan's L*
    out = tiny_colorizer.colorize(str(path), OPTS)
    assert np.abs(lightness_of(out.pixels16()) - expected).max() < 0.005
