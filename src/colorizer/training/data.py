"""Training photos: found in a folder tree, decoded once into RAM, served as Lab batches
of random crops and flips (or centre crops, for validation and the class prior). With
several processes (torchrun), each loads and serves only its own share of the photos."""
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from PIL import Image, ImageOps

from ..files import find_images
from ..lab import rgb_to_lab
from .distributed import World, epoch_order, part, step_rng

CROP_STREAM = 1_000_003  # the step generator's stream for crops and flips (distributed.step_rng)
TRAIN_EXTS = {".jpg", ".jpeg", ".png", ".webp"}


def _decode(path, size):
    """Decode to RGB uint8 with the shorter side resized to at least `size` (`path`: a
    file name or a file object); None when it cannot be read."""
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
    about colour. With a `world` of several processes, only this rank's share of the
    photos (distributed.part) is loaded: the ranks see disjoint photos."""

    def __init__(self, root, size, min_chroma=3.0, workers=2, limit=None, progress=True, world=None):
        world = world or World()
        paths = find_images(root, TRAIN_EXTS)
        if limit:
            rng = np.random.default_rng(0)
            paths = sorted(rng.choice(paths, size=min(limit, len(paths)), replace=False).tolist())
        if not paths:
            raise FileNotFoundError(f"{root}: no photos (jpg/png/webp) found")
        paths = part(paths, world)
        if not paths:
            raise FileNotFoundError(f"{root}: too few photos for {world.size} processes")
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

    @classmethod
    def from_arrays(cls, images, size, paths):
        """A PhotoSet of photos decoded already (RGB uint8, each at least size x size)."""
        photos = cls.__new__(cls)
        photos.size, photos.images, photos.paths = size, list(images), list(paths)
        photos.skipped_gray = photos.skipped_bad = 0
        return photos

    def __len__(self):
        return len(self.images)

    def batch(self, indices, rng, augment=True):
        """Lab batch (B, 3, size, size): random crops and flips when augment, else centre crops."""
        return lab_crops([self.images[i] for i in indices], self.size, rng, augment)

    def batches(self, steps_per_epoch, batch, seed, world=None, start=0, position=None):
        """The training batches from step `start` on, for ever: (photo paths, Lab batch of
        random crops) per step. Each epoch goes through the photos in a new order
        (distributed.epoch_order); the crops of a step come from its own generator, so
        step s gives the same batch whether the run got there in one go or resumed."""
        world = world or World()
        step = start
        while True:
            epoch, k = divmod(step, steps_per_epoch)
            idx = epoch_order(len(self), seed, epoch, world)[k * batch:(k + 1) * batch]
            yield [self.paths[i] for i in idx], self.batch(idx, step_rng(seed, CROP_STREAM, step, world))
            step += 1

    def position(self):
        """What a checkpoint needs to find this rank's place again besides the step: nothing
        (the order of a step is worked out from the step)."""
        return 0


def lab_crops(images, size, rng, augment=True):
    """Lab batch (B, 3, size, size) of RGB uint8 images (each at least size x size): random
    crops and flips drawn from `rng` when augment, else centre crops."""
    s = size
    out = np.empty((len(images), s, s, 3), dtype=np.uint8)
    for j, im in enumerate(images):
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
