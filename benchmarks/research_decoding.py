"""Decoding experiments that are not part of the product, for benchmarks/sweep.py: the
chroma curve and test-time multi-scale averaging. Both lived in the product's decoding
(colorizer.pipeline.decode_ab, model-file settings "curve" and "scales") until the sweeps
in docs/benchmarks.md showed they do not pay; the product's decoders are in
colorizer.decoding.

Multi-scale: the network also runs on L resized to other fractions of its size, and each
scale's outputs are decoded by the same decoder and their a,b averaged (at the first
scale's output size). The old product code averaged annealed-mean's class colours,
entropies and regression separately before blending; with blend > 0 that is not the same
as averaging decoded a,b, so multi-scale annealed-mean rows with a blend can differ
slightly from those in docs/benchmarks.md. Min-risk, blend-0 annealed-mean and
single-scale rows are the same as before.
"""
import torch
import torch.nn.functional as F

from colorizer.options import ColorizeOptions

CURVE_MAX_GAIN = 3.0
CURVE_VIBRANCE = ColorizeOptions().vibrance  # the vibrance at which the curve's exponent is gamma


def chroma_curve(ab, curve, vibrance=None):
    """Reshape the chroma C = |ab| of every pixel, in place on ab (B, 2, h, w):
        C' = C * min((C / c)**g, 3),  g = gamma * vibrance / CURVE_VIBRANCE,  curve = (c, gamma)
    which pushes low, unsure chroma (below c) towards gray and lets confident colours
    (above c) be as saturated as the truth tends to be. Vibrance 0 leaves the chroma as
    predicted."""
    c, gamma = float(curve[0]), float(curve[1])
    v = CURVE_VIBRANCE if vibrance is None else float(vibrance)
    g = gamma * v / CURVE_VIBRANCE
    if g == 0.0:
        return ab
    factor = torch.linalg.vector_norm(ab, dim=1, keepdim=True).div_(c).pow_(g).clamp_(max=CURVE_MAX_GAIN)
    return ab.mul_(factor)


def scaled_shape(h, w, scale, multiple=32):
    """The network input shape for an extra scale: (h, w) * scale, sides rounded to
    multiples of `multiple`."""
    return (max(multiple, int(round(h * scale / multiple)) * multiple),
            max(multiple, int(round(w * scale / multiple)) * multiple))


@torch.inference_mode()
def multi_scale_outputs(backend, L, scales=(1.0,)):
    """The network's outputs (colorizer.backends: L -> outputs dict) for L (B, 1, h, w) at
    each scale (fractions of its size; the first must be 1): a list of output dicts."""
    if not scales or float(scales[0]) != 1.0:
        raise ValueError(f"scales must start with 1, not {list(scales)}")
    outs = [backend(L)]
    for s in scales[1:]:
        Ls = F.interpolate(L, size=scaled_shape(L.shape[-2], L.shape[-1], s), mode="bilinear",
                           align_corners=False, antialias=s < 1)
        outs.append(backend(Ls))
    return outs


def _resized(x, shape):
    if tuple(x.shape[-2:]) == tuple(shape):
        return x
    return F.interpolate(x, size=tuple(shape), mode="bilinear", align_corners=False)


def decode(decoder, outs, vibrance, curve=None):
    """a,b (B, 2, h, w) at the first scale's output size: each output dict of `outs`
    decoded by `decoder` (colorizer.decoding) and the a,b averaged, then the chroma curve
    (c, gamma) applied when given. The outputs are left unchanged (they are decoded
    again with other settings)."""
    ab = None
    for o in outs:
        x = decoder(o, vibrance)
        ab = x if ab is None else ab.add_(_resized(x, ab.shape[-2:]))
    if len(outs) > 1:
        ab = ab.div_(len(outs))
    if curve:
        ab = chroma_curve(ab, curve, vibrance)
    return ab
