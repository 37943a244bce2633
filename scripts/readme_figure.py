"""The before/after figure at the top of README.md: three of the demo photos
(colorizer.samples) in gray and as the bundled default model colorizes them, in one
labelled grid (colorizer.grids.image_grid), written as a JPEG.

    .venv/bin/python scripts/readme_figure.py [--out docs/images/before_after.jpg]
"""
import argparse
import os

from colorizer import Colorizer
from colorizer.files import atomic_write
from colorizer.grids import image_grid
from colorizer.samples import sample_image

PHOTOS = ("chelsea", "coffee", "astronaut")


def make_figure(model=None, photos=PHOTOS, height=220):
    """The figure as a PIL image: a row per photo, the gray input beside the colorized result."""
    colorizer = Colorizer.load(model, device="cpu")
    grays = [sample_image(name) for name in photos]
    colours = [colorizer.colorize(gray).image for gray in grays]
    return image_grid([("before (grayscale)", grays), (f"after (colorizer, model {colorizer.name})", colours)],
                      height=height)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=os.path.join("docs", "images", "before_after.jpg"))
    p.add_argument("--model", default=None, help="bundled model name or .safetensors path (default: the bundled default)")
    a = p.parse_args()
    figure = make_figure(a.model)
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    atomic_write(a.out, lambda tmp: figure.save(tmp, format="JPEG", quality=88))
    print(f"{a.out}: {figure.width}x{figure.height}")


if __name__ == "__main__":
    main()
