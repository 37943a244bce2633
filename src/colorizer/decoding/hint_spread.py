"""Point hints spread over the regions they belong to. A hint-aware network gives an
affinity key for each pixel ("hint_keys", networks.HintKeys); a pixel takes each hint's
colour in proportion to its affinity with the hint,
w = exp(r(pixel) - |key(pixel) - key(hint)|^2 / 2) (the keys' last channel r is the pixel's
readiness to take hints, a log-weight), against the network's own colour, which keeps a
fixed weight PRIOR:

    ab' = (PRIOR * ab + sum_i w_i * hint_ab_i) / (PRIOR + sum_i w_i)

so a pixel like a hinted one (near it, of similar lightness, seen alike by the network)
takes that hint's colour, a pixel like none keeps its own, and at the hinted pixel itself
(w = 1) the hint wins. Tensors in, tensors out; used by the pipeline, validation and
training alike."""
import torch
import torch.nn.functional as F

from ..bins import AB_RANGE, HINT_KEYS

PRIOR = 0.1
_CHUNK = 16384


def reads(available, hints):
    """The extra network outputs spreading hints needs: the keys, when there are hints and
    the network gives them."""
    return (HINT_KEYS,) if hints is not None and HINT_KEYS in available else ()


def hints_at(hints, shape):
    """The hint image (B, 3, H, W) at the working size (a/AB_RANGE, b/AB_RANGE, mask) -> the
    hinted points at the network's output shape (h, w) (h = ceil(H / 2)): for each 2x2
    block with a hint, the mean a,b of its hinted pixels (in a,b units) and a mask of 1.
    Returns (ab (B, 2, h, w), mask (B, 1, h, w))."""
    h, w = shape
    H, W = hints.shape[-2:]
    hints = F.pad(hints.float(), (0, 2 * w - W, 0, 2 * h - H))
    mask = hints[:, 2:3]
    count = F.avg_pool2d(mask, 2)
    ab = F.avg_pool2d(hints[:, :2] * mask, 2) / count.clamp(min=1e-6) * AB_RANGE  # the networks' AB_SCALE
    return ab, (count > 0).to(ab.dtype)


def spread(ab, keys, hint_ab, mask, prior=PRIOR):
    """ab (B, 2, h, w) the decoded colours, keys (B, K, h, w), hint_ab (B, 2, h, w) and mask
    (B, 1, h, w) the hinted points (hints_at) -> a,b with the hints spread (module docstring).
    Differentiable in keys (training learns them); photos without hints are returned as they
    are."""
    out = []
    for i in range(ab.shape[0]):
        points = mask[i, 0].flatten().nonzero().squeeze(1)
        if points.numel() == 0:
            out.append(ab[i])
            continue
        k = keys[i].flatten(1).float().t()                      # (hw, K + 1)
        k, ready = k[:, :-1], k[:, -1:]
        kp = k[points]                                           # (n, K)
        colours = hint_ab[i].flatten(1)[:, points].float().t()  # (n, 2)
        own = ab[i].flatten(1).float().t()                       # (hw, 2)
        mixed = []
        for s in range(0, k.shape[0], _CHUNK):  # pixels in chunks: memory stays small with many hints
            kc = k[s:s + _CHUNK]
            d2 = (kc * kc).sum(1, keepdim=True) + (kp * kp).sum(1)[None] - 2 * kc @ kp.t()   # (chunk, n)
            wgt = torch.exp(ready[s:s + _CHUNK] - 0.5 * d2.clamp(min=0))
            mixed.append((prior * own[s:s + _CHUNK] + wgt @ colours) / (prior + wgt.sum(1, keepdim=True)))
        out.append(torch.cat(mixed).t().reshape(ab[i].shape).to(ab.dtype))
    return torch.stack(out)


def apply(ab, outputs, hints):
    """The decoded ab (B, 2, h, w) with the working-size hint image `hints` spread by the
    network's keys in `outputs`; ab unchanged when there are no hints or no keys."""
    if hints is None or HINT_KEYS not in outputs:
        return ab
    hint_ab, mask = hints_at(hints.to(ab.device), ab.shape[-2:])
    return spread(ab, outputs[HINT_KEYS].to(ab.device), hint_ab, mask)
