"""What --depth 16 costs: the 8-bit merge (a table) against the 16-bit merge (lab_to_rgb
in float32), and writing the result as 8-bit PNG/TIFF (Pillow) against 16-bit PNG
(pypng) and TIFF (tifffile), on one photo of --megapixels (random L* and a,b: the time
does not depend on the content). Prints the median of --runs runs, in seconds.

    .venv/bin/python benchmarks/depth16.py [--megapixels 12] [--runs 3]
"""
import argparse
import statistics
import time

import numpy as np
import torch
from PIL import Image

from colorizer.image_io import encode_image
from colorizer.merge import merge_full_res, merge_full_res16


def median_time(fn, runs):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--megapixels", type=float, default=12)
    p.add_argument("--runs", type=int, default=3)
    a = p.parse_args()
    W = int(round((a.megapixels * 1e6 * 4 / 3) ** 0.5))
    H = int(round(W * 3 / 4))
    rng = np.random.default_rng(0)
    L = rng.uniform(0, 100, (H, W)).astype(np.float32)
    ab = torch.from_numpy(rng.uniform(-40, 40, (2, H // 32, W // 32)).astype(np.float32))
    print(f"{W}x{H} ({W * H / 1e6:.1f} MP), torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"median of {a.runs}")
    rgb8 = merge_full_res(L, ab)
    rgb16 = merge_full_res16(L, ab)
    print(f"  merge  8 bits  {median_time(lambda: merge_full_res(L, ab), a.runs):6.2f} s")
    print(f"  merge 16 bits  {median_time(lambda: merge_full_res16(L, ab), a.runs):6.2f} s")
    img = Image.fromarray(rgb8, "RGB")
    for fmt in ("PNG", "TIFF"):
        for name, pixels in (("8", img), ("16", rgb16)):
            size = len(encode_image(pixels, fmt))
            print(f"  {fmt:4} {name:>2} bits  {median_time(lambda p=pixels, f=fmt: encode_image(p, f), a.runs):6.2f} s, "
                  f"{size / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
