"""Reading any image a user may have into full-resolution lightness, and writing
results atomically. Every failure is an ImageError with a one-line reason."""
import dataclasses
import functools
import io
import os
import stat
import warnings

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from .files import atomic_write, display
from .lab import Y_FROM_RGB, lightness_from_luminance, srgb_to_linear_np
from .metadata import Metadata, exif_orientation, read_metadata
from .options import DEFAULT_MAX_PIXELS

Image.MAX_IMAGE_PIXELS = None      # we check sizes ourselves, before decoding
ImageFile.LOAD_TRUNCATED_IMAGES = False

# what `colorizer colorize` picks up in folders
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".jp2", ".pgm", ".ppm", ".pbm", ".pnm",
              ".tga", ".ico", ".psd"}
OUTPUT_FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP", "tif": "TIFF", "tiff": "TIFF"}
DEPTH16_FORMATS = ("PNG", "TIFF")  # the formats that hold 16 bits per channel


class ImageError(Exception):
    """An input that cannot be colorized; str() is a one-line reason, with the file's path
    first when it was read from a path ("old.tif: no such file"); .reason is without it."""

    def __init__(self, reason, path=None):
        super().__init__(reason if path is None else f"{display(path)}: {reason}")
        self.reason, self.path = reason, path


class ImageTooLarge(ImageError):
    """An image over the pixel limit (refused from its header, before decoding)."""


def open_image(source, max_pixels=DEFAULT_MAX_PIXELS):
    """Open and fully decode an image from a path, bytes, a file object or a PIL image.

    Applies the EXIF orientation and takes the first frame of animations.
    Returns (PIL image, notes) where notes is a list of remarks for the user."""
    img, notes, _, _ = _open(source, max_pixels)
    return img, notes


def _open(source, max_pixels):
    """open_image, the input's Metadata (read before the pixels are turned upright), and
    for a 16-bit colour PNG or TIFF (which Pillow decodes at 8 bits) what _deep_rgb needs
    to read its 16 bits: (format, the file's bytes, the EXIF orientation), else None."""
    if isinstance(source, (str, os.PathLike)):
        try:
            return _open_source(source, max_pixels)
        except ImageError as e:
            raise type(e)(e.reason, os.fspath(source)) from None
    return _open_source(source, max_pixels)


def _open_source(source, max_pixels):
    notes = []
    if isinstance(source, Image.Image):
        return (*_decode(source, notes, max_pixels)[:3], None)
    opened = None
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise ImageError("empty file")
        fp = io.BytesIO(bytes(source))
    elif isinstance(source, (str, os.PathLike)):
        fp = opened = _open_regular_file(os.fspath(source))
    elif callable(getattr(source, "read", None)):
        fp = source
    else:
        raise ImageError(f"cannot read an image from a {type(source).__name__}: give a path, bytes, a file object, a PIL "
                         "image or a NumPy array")
    try:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                img = Image.open(fp)
        except UnidentifiedImageError:
            raise ImageError("not an image, or an image format colorizer cannot read") from None
        except Exception as e:  # noqa: BLE001 - Pillow raises many kinds
            raise ImageError(f"cannot read image ({_short(e)})") from None
        deep = _is_deep_rgb(img)
        img, notes, metadata, orientation = _decode(img, notes, max_pixels)
        if deep:
            try:
                fp.seek(0)
                deep = (deep, fp.read(), orientation)
            except (OSError, ValueError, AttributeError):  # a file object that cannot seek: its 8 bits will do
                deep = None
        return img, notes, metadata, deep or None
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
            # a TIFF's before load(), as Pillow turns it upright while loading (the others' EXIF may
            # follow the pixels: PNG's eXIf chunk)
            orientation = exif_orientation(img) if img.format == "TIFF" else None
            img.load()
            if orientation is None:
                orientation = exif_orientation(img)
            upright = ImageOps.exif_transpose(img)
            metadata = read_metadata(img, notes, orientation, upright.size)
            img = upright
    except Exception as e:  # noqa: BLE001 - truncated data, bad CRC, decoder errors
        raise ImageError(f"corrupt or truncated image data ({_short(e)})") from None
    return img, notes, metadata, orientation


def _is_deep_rgb(img):
    """"PNG" or "TIFF" for an opened (not yet loaded) 16-bit colour PNG or TIFF, else None."""
    if img.format not in ("PNG", "TIFF") or img.mode not in ("RGB", "RGBA") or not getattr(img, "tile", None):
        return None
    args = img.tile[0].args
    rawmode = args if isinstance(args, str) else args[0] if args else ""
    return img.format if isinstance(rawmode, str) and rawmode.split(";")[-1].startswith("16") else None


# EXIF orientation -> the NumPy turn that sets the pixels upright (as ImageOps.exif_transpose)
_UPRIGHT = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
            5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1), 7: lambda a: np.rot90(a, 2).transpose(1, 0, 2),
            8: lambda a: np.rot90(a, 1)}


def full_lightness(L, metadata):
    """L* at the input's full precision: `L` itself, except for a 16-bit colour PNG or TIFF
    (metadata.deep), whose 16 bits are decoded now (pypng, tifffile: slower than Pillow,
    which reads them at 8 bits) -- when they agree with `L`, else `L`."""
    if metadata is None or not metadata.deep:
        return L
    rgb16 = _deep_rgb(metadata.deep, L.shape)
    if rgb16 is None:
        return L
    L16 = _array_lightness(rgb16, None)[0]
    # the same picture as Pillow's 8 bits (one 8-bit level moves L* by less than 0.5)
    step = max(1, int((L.size / 4096) ** 0.5))
    return L16 if np.abs(L16[::step, ::step] - L[::step, ::step]).max() < 1.0 else L


def _deep_rgb(deep, shape):
    """The 16-bit RGB pixels (H, W, 3) uint16, upright, of a 16-bit colour PNG or TIFF, or
    None when they cannot be had or are not of the upright `shape` (H, W)."""
    fmt, data, orientation = deep
    try:
        if fmt == "PNG":
            import png
            width, height, rows, info = png.Reader(bytes=data).asDirect()
            if info["bitdepth"] != 16:
                return None
            a = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows]).reshape(height, width, info["planes"])
        else:
            import tifffile
            with tifffile.TiffFile(io.BytesIO(data)) as tif:
                a = tif.pages[0].asarray()
        if a.dtype != np.uint16 or a.ndim != 3 or a.shape[2] < 3:
            return None
        a = _UPRIGHT.get(orientation, lambda x: x)(a[..., :3])
        return np.ascontiguousarray(a) if a.shape[:2] == tuple(shape) else None
    except Exception:  # noqa: BLE001 - a codec's error: Pillow's 8 bits will do
        return None


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


def _prepared(img, fmt, quality, metadata):
    """The image and save options for a format (JPEG has no alpha: flatten on white), with
    the input's metadata (EXIF, ICC profile, DPI; WebP has no DPI field: its EXIF has it)."""
    if fmt == "JPEG" and img.mode not in ("RGB", "L"):
        bg = Image.new("RGB", img.size, (255, 255, 255))
        bg.paste(img, mask=img.getchannel("A") if "A" in img.mode else None)
        img = bg
    if fmt in ("JPEG", "WEBP"):
        kwargs = {"quality": quality}
    elif fmt == "PNG":
        kwargs = {"compress_level": 1}
    else:
        kwargs = {}
    if metadata is not None:
        if metadata.exif:
            kwargs["exif"] = metadata.exif
        if metadata.icc_profile:
            kwargs["icc_profile"] = metadata.icc_profile
        if metadata.dpi and fmt != "WEBP":
            kwargs["dpi"] = metadata.dpi
    return img, kwargs


def _writer(img, fmt, quality, metadata):
    """A function writing `img` (a PIL image, or 16-bit pixels: (H, W, 3 or 4) uint16) to
    a binary file object in `fmt` ("PNG", "JPEG", "WEBP", "TIFF")."""
    if isinstance(img, np.ndarray):
        if fmt not in DEPTH16_FORMATS:
            raise ValueError(f"16 bits per channel are written as PNG or TIFF, not {fmt}")
        from .image16 import write16
        return lambda fp: write16(fp, img, fmt, metadata)
    img, kwargs = _prepared(img, fmt, quality, metadata)
    return lambda fp: img.save(fp, format=fmt, **kwargs)


def save_image(img, path, fmt=None, quality=95, metadata=None):
    """Write `img` (a PIL image, or 16-bit pixels (H, W, 3 or 4) uint16 for PNG and TIFF)
    atomically (temp file + rename: an interrupted write leaves no partial file), with
    `metadata` (metadata.Metadata: the input's EXIF, ICC profile and DPI) when given."""
    fmt = fmt or OUTPUT_FORMATS.get(os.path.splitext(path)[1].lstrip(".").lower(), "PNG")
    write = _writer(img, fmt, quality, metadata)

    def write_file(tmp):
        with open(tmp, "wb") as fp:
            write(fp)
    atomic_write(path, write_file)


def encode_image(img, fmt="PNG", quality=95, metadata=None):
    """save_image into bytes."""
    buf = io.BytesIO()
    _writer(img, fmt, quality, metadata)(buf)
    return buf.getvalue()


def read_lightness(source, max_pixels=DEFAULT_MAX_PIXELS):
    """Any image (path, bytes, file object or PIL image; modes 1, L, I;16, I, F, LA, P,
    RGB, RGBA, CMYK...; EXIF orientation applied) -> full-resolution CIE L* (H, W)
    float32, its alpha channel (PIL "L" image or None) and notes for the user."""
    return read_image(source, max_pixels)[:3]


def read_image(source, max_pixels=DEFAULT_MAX_PIXELS):
    """read_lightness, and the input's Metadata (EXIF, ICC profile, DPI) for the output.
    `source` may also be a NumPy array: (H, W) or (H, W, 3), uint8, uint16, or float in [0, 1]."""
    if isinstance(source, np.ndarray):
        L, had_colour = _array_lightness(source, max_pixels)
        alpha, notes, metadata = None, [], Metadata()
    else:
        img, notes, metadata, deep = _open(source, max_pixels)
        img, alpha = split_alpha(img)
        L, had_colour = lightness(img)
        if deep:  # a 16-bit colour scan: its 16 bits are read when a 16-bit output asks (full_lightness)
            metadata = dataclasses.replace(metadata, deep=deep)
    if had_colour:
        notes.append("colour input: converted to grayscale first")
    return L, alpha, notes, metadata


def _array_lightness(a, max_pixels):
    """L* (H, W) float32 of a NumPy image, and whether it had colour; ImageError for an
    array that is not an image (its shape, type or values), one line."""
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3):
        raise ImageError(f"an image array must have the shape (H, W) or (H, W, 3), not {a.shape}")
    H, W = a.shape[:2]
    if H < 1 or W < 1:
        raise ImageError("image has no pixels")
    if max_pixels and H * W > max_pixels:
        raise ImageTooLarge(f"image too large: {W}x{H} = {W * H / 1e6:.0f} megapixels (limit {max_pixels / 1e6:.0f})")
    if a.dtype == np.uint8:
        if a.ndim == 2:
            return _gray8_lightness(a), False
        if _is_gray(a):
            return _gray8_lightness(np.ascontiguousarray(a[..., 0])), False
        return _rgb8_lightness(np.ascontiguousarray(a)), True
    if a.dtype == np.uint16:
        v = a.astype(np.float32) / np.float32(65535)
    elif a.dtype.kind == "f":
        v = a.astype(np.float32)
        if not (np.isfinite(v).all() and v.min() >= 0 and v.max() <= 1):
            raise ImageError("a float image array must hold values between 0 and 1")
    else:
        raise ImageError(f"an image array must be uint8, uint16 or float (0 to 1), not {a.dtype}")
    if v.ndim == 3 and not (np.array_equal(v[..., 0], v[..., 1]) and np.array_equal(v[..., 1], v[..., 2])):
        lin = srgb_to_linear_np(v)
        Y = sum(np.float32(c) * lin[..., i] for i, c in enumerate(Y_FROM_RGB))
        return lightness_from_luminance(Y), True
    gray = v if v.ndim == 2 else v[..., 0]
    return lightness_from_luminance(srgb_to_linear_np(gray)), False
