"""The photos an evaluation measures on: colour photos read as centre-cropped squares
(the ground truth), and the 8-bit grayscale photo a user would have of each."""
import os
import sys
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image

from ..files import display, find_images
from ..lab import lightness_to_gray, rgb_to_lab

# the photo formats an evaluation folder is searched for (the training set's, plus BMP and TIFF)
PHOTO_EXTS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}


class Photos(NamedTuple):
    """Photos of one folder: their paths relative to it, and their pixels, uint8 (N, size, size, 3)."""
    names: list
    pixels: np.ndarray


def load_photos(root, size, limit=0, progress=True):
    """Colour photos below `root` (sorted; the first `limit` when limit > 0), each
    centre-cropped to a square and resized to size x size (bicubic). An unreadable file
    is reported on stderr and skipped; FileNotFoundError when none can be read."""
    from tqdm import tqdm
    paths = find_images(root, PHOTO_EXTS)
    if limit:
        paths = paths[:limit]
    names, arrays = [], []
    for p in tqdm(paths, desc="loading photos", unit="img", file=sys.stderr, disable=not progress):
        try:
            arrays.append(square_crop(p, size))
            names.append(os.path.relpath(p, root))
        except Exception as e:  # noqa: BLE001 - report and go on
            print(f"{display(p)}: skipped ({display(str(e).splitlines()[0][:100])})", file=sys.stderr)
    if not arrays:
        raise FileNotFoundError(f"{display(root)}: no readable photos")
    return Photos(names, np.stack(arrays))


def square_crop(path, size):
    """One photo as RGB uint8 (size, size, 3): the centred square, resized bicubically."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        s = min(w, h)
        left, top = (w - s) // 2, (h - s) // 2
        im = im.crop((left, top, left + s, top + s)).resize((size, size), Image.BICUBIC)
        return np.asarray(im, dtype=np.uint8)


def gray_photo(rgb_u8):
    """The 8-bit grayscale photo of a colour photo (H, W, 3) uint8: each pixel the sRGB
    gray of its own L* (R = G = B), as a PIL "L" image."""
    t = torch.from_numpy(np.array(rgb_u8, dtype=np.uint8)).permute(2, 0, 1).float() / 255.0  # a copy: writable
    L = rgb_to_lab(t)[:1]
    g = lightness_to_gray(L)[0].mul(255).round().clamp(0, 255).to(torch.uint8).numpy()
    return Image.fromarray(g, "L")
