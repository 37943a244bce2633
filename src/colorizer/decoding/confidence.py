"""How sure the model is of each pixel's colour: the expected CIEDE2000 error of the
least risky colour under the model's calibrated class distribution (what min-risk
decoding minimises), and its 8-bit gray map (white = sure). Tensors in, tensors out.

    risk   = min_k sum_q p(q) D(q, k)      p: softmax(scores) / class weights, normalised (T = 1)
    gray   = 255 * (1 - risk / SCALE), clipped to 0..255

The scale is fixed (SCALE CIEDE2000 units is black), so the maps of two photos compare:
a pixel as gray as another is expected to be as wrong. The temperature is 1 whatever the
vibrance: the map says what the model believes, not how boldly it is painted."""
import torch

from ..bins import ciede2000_matrix
from .reference import calibrated

SCALE = 20.0        # expected CIEDE2000 that maps to black (0); 0 maps to white (255)
_CHUNK = 1 << 14    # pixels per chunk: bounds memory on large working sizes


def expected_error(logits, risk_matrix, class_weights=None):
    """Scores (B, Q, h, w) -> (B, h, w): the least expected CIEDE2000, over the colour
    classes, under the calibrated distribution (`risk_matrix` (Q, Q): CIEDE2000 between
    the classes, bins.ciede2000_matrix)."""
    B, Q, h, w = logits.shape
    p = calibrated(logits, class_weights).permute(0, 2, 3, 1).reshape(-1, Q)
    D = risk_matrix.to(p)
    out = torch.empty(p.shape[0], device=p.device)
    for i in range(0, p.shape[0], _CHUNK):
        out[i:i + _CHUNK] = (p[i:i + _CHUNK] @ D).amin(dim=1)
    return out.view(B, h, w)


def to_gray(expected, scale=SCALE):
    """Expected CIEDE2000 (any shape) -> uint8 confidence: 255 for 0, 0 for `scale` or more."""
    return (255.0 * (1.0 - expected.float() / scale)).clamp_(0, 255).round_().to(torch.uint8)


_RISK = {}


def risk_matrix(bins):
    """The CIEDE2000 distances (Q, Q) between the colour classes `bins`, computed once per
    set of bins (bins.ciede2000_matrix)."""
    key = (bins.data_ptr(), bins.shape[0], str(bins.device))
    if key not in _RISK:
        _RISK[key] = ciede2000_matrix(bins).to(bins.device)
    return _RISK[key]
