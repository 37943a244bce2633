"""The working size: the network sees the photo's lightness at about size x size pixels
(the photo's aspect ratio, sides multiples of 32), whatever the photo's own size."""
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def working_shape(h, w, size, multiple=32):
    """Network input shape with about size*size pixels, the photo's aspect ratio, and
    sides that are multiples of `multiple`."""
    s = size / np.sqrt(h * w)
    hh = max(multiple, int(round(h * s / multiple)) * multiple)
    ww = max(multiple, int(round(w * s / multiple)) * multiple)
    # very long, thin photos: keep the pixel budget by shortening the longer side (in
    # jumps: the same result as stepping it down one multiple at a time)
    budget = 4 * size * size
    while hh * ww > budget and max(hh, ww) > multiple:
        if hh >= ww:
            hh = max(budget // ww // multiple * multiple, ww - multiple, multiple)
        else:
            ww = max(budget // hh // multiple * multiple, hh, multiple)
    return hh, ww


_REDUCING_GAP = 3.0


def resize_lightness(L, shape):
    """Area-aware (antialiased) resize of an L* array to (h, w): Pillow's BILINEAR resize
    with reducing_gap=3 (a box reduction by an integer factor, then bilinear). The box
    reduction, the costly part on large photos, runs in torch on the array itself (no
    copy into a Pillow image); the small result goes through Pillow's resize with the
    same fractional box Pillow would use, so the output is Pillow's within float
    rounding."""
    L = np.asarray(L, dtype=np.float32)
    H, W = L.shape
    h, w = int(shape[0]), int(shape[1])
    fx = int(W / w / _REDUCING_GAP) or 1
    fy = int(H / h / _REDUCING_GAP) or 1
    box = None
    if fx > 1 or fy > 1:
        t = torch.from_numpy(np.ascontiguousarray(L) if L.flags.writeable else L.copy())
        # partial boxes at the right and bottom edges average the pixels they hold,
        # as Pillow's reduce() does
        L = F.avg_pool2d(t[None, None], (fy, fx), ceil_mode=True)[0, 0].numpy()
        box = (0.0, 0.0, W / fx, H / fy)
    img = Image.fromarray(np.ascontiguousarray(L, dtype=np.float32))  # mode "F"
    return np.array(img.resize((w, h), Image.BILINEAR, box=box), dtype=np.float32)
