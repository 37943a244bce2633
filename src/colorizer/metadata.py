"""What an output keeps of its input: the EXIF (date, camera, description, the Exif and GPS
sub-IFDs), the ICC profile and the resolution (DPI). They are read before the pixels are
turned upright, so the orientation tag is dropped (the pixels already have it) and the
resolution and EXIF pixel sizes follow the turn. image_io writes them into PNG, JPEG, WebP
and TIFF outputs (8 bits, Pillow), image16 into 16-bit PNG and TIFF.

Only descriptive EXIF tags are kept: the tags that describe the input file's own layout
(strips, compression, bits, thumbnails, maker notes whose offsets point into the input)
would be false in another file."""
from dataclasses import dataclass, field

from PIL import Image

ORIENTATION = 0x0112
EXIF_IFD, GPS_IFD, INTEROP_IFD = 0x8769, 0x8825, 0xA005
X_RESOLUTION, Y_RESOLUTION, RESOLUTION_UNIT = 0x011A, 0x011B, 0x0128
PIXEL_X, PIXEL_Y, MAKER_NOTE = 0xA002, 0xA003, 0x927C

# IFD0 tags that describe the photo rather than the file: kept
DESCRIPTIVE = {
    0x010D: "DocumentName", 0x010E: "ImageDescription", 0x010F: "Make", 0x0110: "Model", 0x011D: "PageName",
    0x0131: "Software", 0x0132: "DateTime", 0x013B: "Artist", 0x013C: "HostComputer", 0x8298: "Copyright",
    0x4746: "Rating", 0x4749: "RatingPercent", 0x9C9B: "XPTitle", 0x9C9C: "XPComment", 0x9C9D: "XPAuthor",
    0x9C9E: "XPKeywords", 0x9C9F: "XPSubject",
}
# IFD0 tags that are plain text: what a 16-bit TIFF (tifffile) can carry in its first IFD
ASCII_TAGS = (0x010D, 0x010E, 0x010F, 0x0110, 0x011D, 0x0131, 0x0132, 0x013B, 0x013C, 0x8298)
TURNED = (5, 6, 7, 8)  # orientations that swap width and height


@dataclass(frozen=True)
class Metadata:
    """The input's metadata an output keeps: `exif` (bytes as Pillow writes them, orientation
    removed, resolution as `dpi`), `icc_profile` (an RGB profile's bytes) and `dpi` (x, y).
    `deep`: for a 16-bit colour PNG or TIFF, which Pillow decodes at 8 bits, (format, the
    file's bytes, its EXIF orientation), from which image_io.full_lightness reads its L* at
    16 bits when a 16-bit output asks for it."""
    exif: bytes | None = None
    icc_profile: bytes | None = None
    dpi: tuple | None = None
    deep: tuple | None = field(default=None, repr=False, compare=False)

    def exif_tags(self):
        """The EXIF as a Pillow Exif object (empty when there is none)."""
        exif = Image.Exif()
        if self.exif:
            exif.load(self.exif)
        return exif


def exif_orientation(img):
    """The EXIF orientation of an opened image (1, upright, when it has none or it is unreadable)."""
    try:
        return img.getexif().get(ORIENTATION, 1)
    except Exception:  # noqa: BLE001 - unreadable EXIF: the photo is still usable
        return 1


def read_metadata(img, notes, orientation, size):
    """The Metadata of a loaded PIL image not yet turned upright (its EXIF `orientation`,
    read before loading; `size`: the upright size), and a remark in `notes` for what
    cannot be kept (a gray ICC profile: a colour output cannot carry it)."""
    try:
        source = img.getexif()
    except Exception:  # noqa: BLE001 - unreadable EXIF: the photo is still usable
        source = Image.Exif()
    dpi = _dpi(img.info.get("dpi"), orientation in TURNED)
    icc = img.info.get("icc_profile") or None
    if icc is not None and icc[16:20] != b"RGB ":
        if icc[16:20] == b"GRAY":
            notes.append("the input's gray ICC profile is not kept (a colour image cannot carry it)")
        icc = None
    return Metadata(exif=_clean_exif(source, size, dpi), icc_profile=icc, dpi=dpi)


def _dpi(dpi, turned):
    """(x, y) dots per inch, rounded to 0.01 (a PNG's 300 dpi reads back as 299.9994)."""
    try:
        x, y = (float(v) for v in dpi)
    except (TypeError, ValueError):
        return None
    if not (x > 0 and y > 0):
        return None
    x, y = round(x, 2), round(y, 2)
    return (y, x) if turned else (x, y)


def _clean_exif(source, size, dpi):
    """The descriptive tags of `source` (a Pillow Exif) as bytes, None when there are none."""
    out = Image.Exif()
    try:
        for tag, value in source.items():
            if tag in DESCRIPTIVE:
                out[tag] = value
        exif_ifd = {k: v for k, v in source.get_ifd(EXIF_IFD).items() if k not in (INTEROP_IFD, MAKER_NOTE)}
        gps_ifd = dict(source.get_ifd(GPS_IFD))
    except Exception:  # noqa: BLE001 - a broken sub-IFD: keep what was read
        exif_ifd, gps_ifd = {}, {}
    if not out and not exif_ifd and not gps_ifd:
        return None
    if exif_ifd:
        if PIXEL_X in exif_ifd or PIXEL_Y in exif_ifd:
            exif_ifd[PIXEL_X], exif_ifd[PIXEL_Y] = size
        out.get_ifd(EXIF_IFD).update(exif_ifd)
    if gps_ifd:
        out.get_ifd(GPS_IFD).update(gps_ifd)
    if dpi:
        out[X_RESOLUTION], out[Y_RESOLUTION], out[RESOLUTION_UNIT] = dpi[0], dpi[1], 2
    try:
        return out.tobytes()
    except Exception:  # noqa: BLE001 - a value Pillow cannot write back: keep the main tags only
        plain = Image.Exif()
        for tag, value in out.items():
            if tag in ASCII_TAGS and isinstance(value, str):
                plain[tag] = value
        return plain.tobytes() if plain else None
