"""Image grids: one picture with a row per photo and a labelled column per method (gray
input, models, truth), for evaluation reports, training validation and the docs."""
import numpy as np
from PIL import Image, ImageDraw


def image_grid(columns, height=128, max_rows=None, header=22):
    """columns: list of (label, images), each image a PIL image or an (H, W, 3) uint8 array;
    row r shows image r of every column, scaled to `height` pixels high (aspect kept;
    each column as wide as its widest cell). A header row names the columns (header=0:
    none). Returns a PIL RGB image."""
    columns = [(str(label), [_pil(im) for im in ims]) for label, ims in columns]
    if not columns:
        raise ValueError("a grid needs at least one column")
    rows = min(len(ims) for _, ims in columns)
    if max_rows is not None:
        rows = min(rows, max_rows)
    scaled = [[im.resize((max(1, round(im.width * height / im.height)), height), Image.BICUBIC) for im in ims[:rows]]
              for _, ims in columns]
    widths = [max([im.width for im in col] + [8 * len(label)]) for col, (label, _) in zip(scaled, columns)]
    grid = Image.new("RGB", (sum(widths), header + height * rows), "white")
    draw = ImageDraw.Draw(grid)
    x = 0
    for (label, _), col, w in zip(columns, scaled, widths):
        if header:
            draw.text((x + 4, 4), label, fill=(0, 0, 0))
        for r, im in enumerate(col):
            grid.paste(im, (x + (w - im.width) // 2, header + r * height))
        x += w
    return grid


def _pil(im):
    if isinstance(im, Image.Image):
        return im.convert("RGB")
    a = np.asarray(im)
    if a.dtype != np.uint8:
        a = (np.clip(a, 0, 1) * 255).round().astype(np.uint8)
    if a.ndim == 2:
        a = np.stack([a] * 3, -1)
    return Image.fromarray(a, "RGB")
