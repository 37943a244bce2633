"""16-bit RGB(A) PNG and TIFF writing, with the input's metadata (metadata.Metadata).

Pillow holds no 16-bit colour image, so: PNG through pypng (pure Python, the reference
PNG codec for Python; rows handed over already packed, so only zlib does work), with
the iCCP and eXIf chunks added beside its pHYs; TIFF through tifffile (the scientific
TIFF library, already needed by scikit-image), with the ICC profile, the resolution, the
EXIF's text tags in the first IFD and its Exif sub-IFD (date taken, exposure...) linked
from there."""
import io
import struct
import zlib

import numpy as np
from PIL import TiffImagePlugin

from .metadata import ASCII_TAGS, EXIF_IFD

INCH_PER_METRE = 39.3700787
# tifffile writes no ExifIFD tag itself: a private tag that sorts where ExifIFD (34665) does
# stands in for it, and is renamed once the sub-IFD is appended
PLACEHOLDER = EXIF_IFD + 1


def write16(fp, pixels, fmt, metadata=None):
    """Write `pixels` (H, W, 3 or 4) uint16 to the binary file `fp` as "PNG" or "TIFF"."""
    if pixels.dtype != np.uint16 or pixels.ndim != 3 or pixels.shape[2] not in (3, 4):
        raise ValueError("16-bit pixels must be a (H, W, 3 or 4) uint16 array")
    if fmt == "PNG":
        _png16(fp, pixels, metadata)
    elif fmt == "TIFF":
        _tiff16(fp, pixels, metadata)
    else:
        raise ValueError(f"16 bits per channel are written as PNG or TIFF, not {fmt}")


def _png16(fp, pixels, metadata):
    import png
    H, W, C = pixels.shape
    ppm = [round(d * INCH_PER_METRE) for d in metadata.dpi] if metadata and metadata.dpi else [None, None]
    writer = png.Writer(W, H, greyscale=False, alpha=C == 4, bitdepth=16, compression=1,
                        x_pixels_per_unit=ppm[0], y_pixels_per_unit=ppm[1], unit_is_meter=ppm[0] is not None)
    big_endian = pixels.astype(">u2", copy=False).reshape(H, W * C).view(np.uint8)
    buf = io.BytesIO()
    writer.write_packed(buf, big_endian)
    chunks = list(png.Reader(bytes=buf.getvalue()).chunks())
    extra = []
    if metadata and metadata.icc_profile:
        extra.append((b"iCCP", b"ICC profile\x00\x00" + zlib.compress(metadata.icc_profile)))
    if metadata and metadata.exif:
        exif = metadata.exif[6:] if metadata.exif.startswith(b"Exif\x00\x00") else metadata.exif
        extra.append((b"eXIf", exif))
    # after IHDR: iCCP must come before IDAT, and so must eXIf
    png.write_chunks(fp, chunks[:1] + extra + chunks[1:])


def _tiff16(fp, pixels, metadata):
    import tifffile
    C = pixels.shape[2]
    kwargs = {"photometric": "rgb", "metadata": None}
    if C == 4:
        kwargs["extrasamples"] = ["unassalpha"]
    exif = metadata.exif_tags() if metadata else None
    extratags = []
    sub_ifd = {}
    if metadata:
        if metadata.icc_profile:
            kwargs["iccprofile"] = metadata.icc_profile
        if metadata.dpi:
            kwargs["resolution"], kwargs["resolutionunit"] = tuple(metadata.dpi), "INCH"
        for tag in ASCII_TAGS:
            value = exif.get(tag)
            if isinstance(value, str) and value.isascii():
                if tag == 0x010E:
                    kwargs["description"] = value
                elif tag == 0x0131:
                    kwargs["software"] = value
                elif tag == 0x0132:
                    kwargs["datetime"] = value
                else:
                    extratags.append((tag, "s", 0, value, True))
        sub_ifd = dict(exif.get_ifd(EXIF_IFD))
        if sub_ifd:
            extratags.append((PLACEHOLDER, "I", 1, 0, True))  # becomes the ExifIFD tag, below
    kwargs.setdefault("software", False)
    kwargs.setdefault("datetime", False)
    buf = io.BytesIO()
    tifffile.imwrite(buf, pixels, byteorder="<", bigtiff=False, extratags=extratags, **kwargs)
    data = bytearray(buf.getvalue())
    if sub_ifd:
        data = _link_exif_ifd(data, sub_ifd)
    fp.write(bytes(data))


def _link_exif_ifd(data, tags):
    """Append the Exif sub-IFD `tags` to the little-endian classic TIFF `data` and turn
    the PLACEHOLDER entry of its first IFD into the ExifIFD tag pointing at it."""
    ifd0 = struct.unpack_from("<I", data, 4)[0]
    count = struct.unpack_from("<H", data, ifd0)[0]
    entries = [ifd0 + 2 + 12 * i for i in range(count)]
    entry = next(e for e in entries if struct.unpack_from("<H", data, e)[0] == PLACEHOLDER)
    offset = len(data) + (len(data) & 1)  # IFDs begin on a word boundary
    ifd = TiffImagePlugin.ImageFileDirectory_v2(ifh=b"II*\x00\x08\x00\x00\x00")
    for tag, value in tags.items():
        ifd[tag] = value
    block = ifd.tobytes(offset)
    data += b"\x00" * (offset - len(data)) + block
    struct.pack_into("<HHII", data, entry, EXIF_IFD, 4, 1, offset)  # LONG, one value
    return data
