"""Training photos: found in a folder tree, decoded once into RAM, served as Lab batches
of random crops and flips (or centre crops, for validation and the class prior)."""
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from PIL import Image, ImageOps

from ..files import find_images
from ..lab import rgb_to_lab

TRAIN_EXTS = {".jpg", ".jpeg", ".png", ".webp"}


def _decode(path, size):
    """Decode to RGB uint8 with the shorter side resized to at least `size`."""
    try:
        with Image.open(path) as im:
            im.draft("RGB", (size, size))
            im = ImageOps.exif_transpose(im)
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                im = im.convert("RGBA")
                bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
                im = Image.alpha_composite(bg, im)
            im = im.convert("RGB")
            w, h = im.size
            short = min(w, h)
            if short < size:  # too small for a crop: upscale
                scale = size / short
            elif short > 2 * size:  # large photo: keep a crop's content comparable, bound memory
                scale = 1.25 * size / short
            else:
                scale = 1.0
            if scale != 1.0:
                im = im.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BICUBIC)
            return np.asarray(im, dtype=np.uint8).copy()
    except Exception:  # noqa: BLE001 - any unreadable photo is counted and skipped
        return None


def mean_chroma(rgb_u8):
    """Mean Lab chroma sqrt(a^2 + b^2) of an RGB uint8 image (H, W, 3)."""
    t = torch.from_numpy(rgb_u8).permute(2, 0, 1).float() / 255.0
    lab = rgb_to_lab(t[None, :, ::2, ::2])[0]
    return float(lab[1:].pow(2).sum(0).sqrt().mean())


class PhotoSet:
    """Photos decoded once into RAM as uint8 RGB (about 2 GB for 25k 160-px photos).

    Near-grayscale photos (mean chroma < min_chroma) are skipped: they teach nothing
    about colour."""

    def __init__(self, root, size, min_chroma=3.0, workers=2, limit=None, progress=True):
        paths = find_images(root, TRAIN_EXTS)
        if limit:
            rng = np.random.default_rng(0)
            paths = sorted(rng.choice(paths, size=min(limit, len(paths)), replace=False).tolist())
        if not paths:
            raise FileNotFoundError(f"{root}: no photos (jpg/png/webp) found")
        self.size = size
        self.images, self.paths = [], []
        self.skipped_gray = self.skipped_bad = 0
        from tqdm import tqdm
        with ThreadPoolExecutor(max(1, workers)) as pool:
            it = pool.map(lambda p: (p, _decode(p, size)), paths)
            for p, arr in tqdm(it, total=len(paths), desc=f"loading {root}", unit="img", disable=not progress):
                if arr is None:
                    self.skipped_bad += 1
                elif min_chroma and mean_chroma(arr) < min_chroma:
                    self.skipped_gray += 1
                else:
                    self.images.append(arr)
                    self.paths.append(p)
        if not self.images:
            raise ValueError(f"{root}: no usable colour photos "
                             f"({self.skipped_gray} near-grayscale, {self.skipped_bad} unreadable)")

    def __len__(self):
        return len(self.images)

    def batch(self, indices, rng, augment=True):
        """Lab batch (B, 3, size, size): random crops and flips when augment, else centre crops."""
        s = self.size
        out = np.empty((len(indices), s, s, 3), dtype=np.uint8)
        for j, i in enumerate(indices):
            im = self.images[i]
            h, w = im.shape[:2]
            if augment:
                y, x = rng.integers(0, h - s + 1), rng.integers(0, w - s + 1)
            else:
                y, x = (h - s) // 2, (w - s) // 2
            crop = im[y:y + s, x:x + s]
            if augment and rng.random() < 0.5:
                crop = crop[:, ::-1]
            out[j] = crop
        rgb = torch.from_numpy(out).permute(0, 3, 1, 2).float().div_(255.0)
        return rgb_to_lab(rgb)
