"""The regions of a photo: superpixels of its working-size lightness (scikit-image's
SLIC), for alternatives that are coherent per region (colorizer.decoding.variants)."""
import numpy as np
import torch
import torch.nn.functional as F

REGIONS = 24        # about how many regions a photo is cut into
COMPACTNESS = 2.0   # SLIC: higher gives squarer regions, lower follows the lightness more


def segment(L, shape, regions=REGIONS, compactness=COMPACTNESS):
    """Working-size L* (h, w) in [0, 100] -> region labels (int64 tensor of `shape`, the
    network's output size) numbered 0..n-1, and n."""
    from skimage.segmentation import slic
    L = np.asarray(L, dtype=np.float64)
    labels = slic(L, n_segments=int(regions), compactness=float(compactness), channel_axis=None, start_label=0,
                  enforce_connectivity=True)
    _, labels = np.unique(labels, return_inverse=True)  # numbered 0..n-1 without gaps
    t = torch.from_numpy(labels.reshape(L.shape).astype(np.int64))[None, None].float()
    small = F.interpolate(t, size=tuple(shape), mode="nearest")[0, 0].long()
    _, small = torch.unique(small, return_inverse=True)
    return small, int(small.max()) + 1
