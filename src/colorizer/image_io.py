"""Reading any image a user may have into full-resolution lightness, and writing
results atomically. Every failure is an ImageError with a one-line reason."""
import functools
import io
import os
import stat
import warnings

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from .files import atomic_write
from .lab import Y_FROM_RGB, lightness_from_luminance, srgb_to_linear_np
from .options import DEFAULT_MAX_PIXELS

Image.MAX_IMAGE_PIXELS = None      # we check sizes ourselves, before decoding
ImageFile.LOAD_TRUNCATED_IMAGES = False

# what `colorizer colorize` picks up in folders
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".jp2", ".pgm", ".ppm", ".pbm", ".pnm",
              ".tga", ".ico", ".psd"}
OUTPUT_FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP", "tif": "TIFF", "tiff": "TIFF"}


class ImageError(Exception):
    """An input that cannot be colorized; str() is a one-line reason."""


class ImageTooLarge(ImageError):
    """An image over the pixel limit (refused from its header, before decoding)."""


def open_image(source, max_pixels=DEFAULT_MAX_PIXELS):
    """Open and fully decode an image from a path, bytes, a file object or a PIL image.

    Applies the EXIF orientation and takes the first frame of animations.
    Returns (PIL image, notes) where notes is a list of remarks for the user."""
    notes = []
    if isinstance(source, Image.Image):
        return _decode(source, notes, max_pixels)
    opened = None
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise ImageError("empty file")
        fp = io.BytesIO(bytes(source))
    elif isinstance(source, (str, os.PathLike)):
        fp = opened = _open_regular_file(os.fspath(source))
    else:
        fp = source
    try:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                img = Image.open(fp)
        except UnidentifiedImageError:
            raise ImageError("not an image, or a format Pillow cannot read") from None
        except Exception as e:  # noqa: BLE001 - Pillow raises many kinds
            raise ImageError(f"cannot read image ({_short(e)})") from None
        return _decode(img, notes, max_pixels)
    finally:
        if opened is not None:
            opened.close()  # the decoded image no longer needs it (exif_transpose copies)


def _open_regular_file(path):
    """Open a path for reading, refusing what is not a regular, non-empty file (a folder,
    a pipe that would block, a device) with a one-line reason."""
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            raise ImageError("is a directory")
        if not stat.S_ISREG(st.st_mode):
            raise ImageError("not a regular file (a pipe, socket or device)")
        if st.st_size == 0:
            raise ImageError("empty file")
        return open(path, "rb")
    except PermissionError:
        raise ImageError("permission denied") from None
    except FileNotFoundError:
        raise ImageError("no such file") from None
    except OSError as e:
        raise ImageError(f"cannot open ({e.strerror or e})") from None


def _decode(img, notes, max_pixels):
    w, h = img.size
    if w < 1 or h < 1:
        raise ImageError("image has no pixels")
    if max_pixels and w * h > max_pixels:
        raise ImageTooLarge(f"image too large: {w}x{h} = {w * h / 1e6:.0f} megapixels (limit {max_pixels / 1e6:.0f})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if getattr(img, "is_animated", False) and getattr(img, "n_frames", 1) > 1:
                notes.append(f"animated image: only the first of {img.n_frames} frames was colorized")
                img.seek(0)
            img.load()
            img = ImageOps.exif_transpose(img)
    except Exception as e:  # noqa: BLE001 - truncated data, bad CRC, decoder errors
        raise ImageError(f"corrupt or truncated image data ({_short(e)})") from None
    return img, notes


def _short(e):
    msg = str(e).splitlines()[0] if str(e) else type(e).__name__
    return msg[:160]


def split_alpha(img):
    """Returns (image without alpha, alpha channel or None)."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA") if img.mode != "LA" else img
        alpha = rgba.getchannel("A")
        return (rgba.convert("L") if img.mode == "LA" else rgba.convert("RGB")), alpha
    return img, None


_STRIP_ROWS_PIXELS = 1 << 18


@functools.cache
def _lut_8bit():
    """Linear sRGB of each 8-bit code."""
    return srgb_to_linear_np(np.arange(256, dtype=np.float32) / 255.0)


@functools.cache
def _lightness_lut():
    """L* of each of the 256 8-bit sRGB grays, computed exactly as for any other input."""
    return lightness_from_luminance(_lut_8bit())


@functools.cache
def _luminance_luts():
    """Per channel, that channel's share of Y, for each 8-bit code."""
    lut = _lut_8bit()
    return tuple((np.float32(c) * lut).astype(np.float32) for c in Y_FROM_RGB)


def _gray8_lightness(a):
    """8-bit sRGB grays (H, W) uint8 -> L* float32: one table lookup per pixel."""
    return _lightness_lut()[a]


def _is_gray(a):
    """True when every pixel of an (H, W, 3) uint8 array has R = G = B."""
    return bool(np.array_equal(a[..., 0], a[..., 1]) and np.array_equal(a[..., 1], a[..., 2]))


def _rgb8_lightness(a):
    """8-bit sRGB colours (H, W, 3) -> L* float32, in strips (memory stays small)."""
    lr, lg, lb = _luminance_luts()
    H, W = a.shape[:2]
    out = np.empty((H, W), dtype=np.float32)
    rows = max(1, _STRIP_ROWS_PIXELS // max(1, W))
    for y0 in range(0, H, rows):
        s = a[y0:y0 + rows]
        Y = lr[s[..., 0]]
        Y += lg[s[..., 1]]
        Y += lb[s[..., 2]]
        out[y0:y0 + rows] = lightness_from_luminance(Y)
    return out


def lightness(img):
    """Full-resolution CIE L* (float32, H x W, 0..100) of any PIL image, and whether
    the input had colour. Gray values are taken as sRGB grays (R = G = B), so a
    gray input round-trips exactly. Modes 1, L, I;16*, I, F, P, RGB, CMYK, YCbCr...

    8-bit grays (modes 1 and L, e.g. a grayscale JPEG, and RGB images whose pixels are
    all gray) take a table lookup per pixel; colour inputs go through Y in strips."""
    mode = img.mode
    if mode in ("1", "L"):
        a = np.asarray(img if mode == "L" else img.convert("L"), dtype=np.uint8)
        return _gray8_lightness(a), False
    if mode.startswith("I;16") or mode in ("I", "F"):
        arr = np.asarray(img.convert("F") if mode not in ("F",) else img, dtype=np.float32)
        if mode.startswith("I;16"):
            scale = 65535.0
        elif mode == "I":
            scale = 65535.0 if arr.max(initial=0) > 255 else 255.0
        else:
            scale = 1.0 if arr.max(initial=0) <= 1.0 else (255.0 if arr.max(initial=0) <= 255 else 65535.0)
        v = np.nan_to_num(arr / scale, nan=0.0, posinf=1.0, neginf=0.0).clip(0, 1)
        return lightness_from_luminance(srgb_to_linear_np(v)), False
    a = np.asarray(img if mode == "RGB" else img.convert("RGB"), dtype=np.uint8)
    if _is_gray(a):
        return _gray8_lightness(a[..., 0]), False
    return _rgb8_lightness(a), True


def _prepared(img, fmt, quality):
    """The image and save options for a format (JPEG has no alpha: flatten on white)."""
    if fmt == "JPEG" and img.mode not in ("RGB", "L"):
        bg = Image.new("RGB", img.size, (255, 255, 255))
        bg.paste(img, mask=img.getchannel("A") if "A" in img.mode else None)
        img = bg
    if fmt in ("JPEG", "WEBP"):
        return img, {"quality": quality}
    if fmt == "PNG":
        return img, {"compress_level": 1}
    return img, {}


def save_image(img, path, fmt=None, quality=95):
    """Write atomically (temp file + rename): an interrupted write leaves no partial file."""
    fmt = fmt or OUTPUT_FORMATS.get(os.path.splitext(path)[1].lstrip(".").lower(), "PNG")
    img, kwargs = _prepared(img, fmt, quality)
    atomic_write(path, lambda tmp: img.save(tmp, format=fmt, **kwargs))


def encode_image(img, fmt="PNG", quality=95):
    img, kwargs = _prepared(img, fmt, quality)
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def read_lightness(source, max_pixels=DEFAULT_MAX_PIXELS):
    """Any image (path, bytes, file object or PIL image; modes 1, L, I;16, I, F, LA, P,
    RGB, RGBA, CMYK...; EXIF orientation applied) -> full-resolution CIE L* (H, W)
    float32, its alpha channel (PIL "L" image or None) and notes for the user."""
    img, notes = open_image(source, max_pixels=max_pixels)
    img, alpha = split_alpha(img)
    L, had_colour = lightness(img)
    if had_colour:
        notes.append("colour input: converted to grayscale first")
    return L, alpha, notes
