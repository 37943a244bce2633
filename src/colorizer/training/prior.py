"""The class-rebalancing prior: how often each colour class occurs in the training photos,
smoothed, and the weights w ~ ((1 - lambda) p + lambda / Q)^-1 that make rare colours
count in the class loss. Training computes it at the start of a run; `colorizer prior`
writes it to a JSON file."""
import json

import numpy as np
import torch

from .. import bins as B
from ..files import atomic_write_text
from .data import PhotoSet


def class_counts(photos, bins, stride=4):
    """Histogram of the photos' a,b (centre crops, every `stride`-th pixel) over the colour bins."""
    counts = torch.zeros(len(bins), dtype=torch.float64)
    rng = np.random.default_rng(0)
    for start in range(0, len(photos), 256):
        lab = photos.batch(range(start, min(start + 256, len(photos))), rng, augment=False)
        ab = lab[:, 1:, ::stride, ::stride]
        idx = B.nearest_bin(ab, bins).flatten()
        counts += torch.bincount(idx, minlength=len(bins)).double()
    return counts


def rebalancing(photos, bins, lam=0.5):
    """The extra tensors a class model is trained (and decoded) with: {"bins", "prior",
    "class_weights"} for these photos."""
    return rebalancing_from_counts(class_counts(photos, bins), bins, lam)


def rebalancing_from_counts(counts, bins, lam=0.5):
    """rebalancing() from class counts (those of several processes' photos, summed)."""
    w, p = B.rebalance_weights(counts, bins, lam=lam)
    return {"bins": bins, "prior": p, "class_weights": w}


def write_prior(data, out, lam=0.5, size=128, limit=0, workers=2):
    """`colorizer prior`: the prior and weights of the photos in folder `data`, over the
    default bins, as JSON in `out` (lambda, photos, bins, prior, weights, counts).
    Returns the document."""
    photos = PhotoSet(data, size, workers=workers, limit=limit or None)
    bins = B.default_bins()
    counts = class_counts(photos, bins)
    w, p = B.rebalance_weights(counts, bins, lam=lam)
    doc = {"lambda": lam, "photos": len(photos), "bins": bins.tolist(), "prior": p.tolist(), "weights": w.tolist(),
           "counts": counts.tolist()}
    atomic_write_text(out, json.dumps(doc))
    return doc
