"""Demo photos, made at run time from photos that ship inside scikit-image (no
copyright restrictions: NASA / SpaceX public domain, CC0 by their photographers),
converted to grayscale.

    python -m colorizer.samples DIR
"""
import os
import sys

from PIL import Image

SAMPLES = {
    "astronaut": "NASA portrait of astronaut Eileen Collins (public domain)",
    "chelsea": "Chelsea the cat, by Stefan van der Walt (CC0)",
    "coffee": "coffee cup, by Rachel Michetti (CC0)",
    "rocket": "DSCOVR launch on a Falcon 9, SpaceX (public domain)",
    "camera": "the cameraman (no copyright restrictions)",
}


def sample_image(name, gray=True):
    """One demo photo as a PIL image: grayscale (mode "L"), or as it ships (gray=False)."""
    from skimage import data
    if name not in SAMPLES:
        raise ValueError(f"unknown sample {name!r}: the samples are {', '.join(SAMPLES)}")
    img = Image.fromarray(getattr(data, name)())
    return img.convert("L") if gray else img


def write_samples(out_dir):
    """Write the grayscale demo photos as JPEGs into out_dir; returns their paths."""
    from .files import atomic_write
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for name in SAMPLES:
        img = sample_image(name)
        path = os.path.join(out_dir, f"{name}.jpg")
        atomic_write(path, lambda tmp, img=img: img.save(tmp, format="JPEG", quality=92))
        paths.append(path)
    return paths


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "samples"
    for p in write_samples(out):
        print(p)
