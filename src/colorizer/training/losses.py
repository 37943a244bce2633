"""The training loss: soft-encoded cross-entropy over the colour classes (class-rebalanced)
and/or an a,b regression (MSE or L1), each at the network's output size."""
import torch.nn.functional as F

from .. import bins as B
from ..networks import AB_SCALE
from .config import REG_LOSSES


def compute_loss(arch, out, ab, extra, reg_weight, reg_loss="mse"):
    """ab: true a,b at full training size. Returns (loss, parts). The a,b regression is
    MSE (the baseline's loss: the mean of the plausible colours, dull) or L1 (their
    per-channel median: less dull, and closer to what CIEDE2000 measures); beside the
    class loss it is weighted by reg_weight."""
    h, w = out["ab"].shape[-2:] if "ab" in out else out["logits"].shape[-2:]
    ab_t = F.adaptive_avg_pool2d(ab, (h, w))
    parts = {}
    if "logits" in out:
        parts["ce"] = B.soft_cross_entropy(out["logits"], ab_t, extra["bins"], extra["class_weights"]).mean()
    if "ab" in out:
        if reg_loss not in REG_LOSSES:
            raise ValueError(f"unknown regression loss {reg_loss!r} (choose from {', '.join(REG_LOSSES)})")
        err = (F.mse_loss if reg_loss == "mse" else F.l1_loss)(out["ab"] / AB_SCALE, ab_t / AB_SCALE)
        parts[reg_loss] = err * (reg_weight if "logits" in out else 1.0)
    return sum(parts.values()), parts


def spread_loss(spread_ab, ab, mask):
    """How far the decoded colours with the hints spread (decoding.hint_spread.spread) are from
    the truth: L1 in a,b / AB_SCALE, at the output size, over the photos that have hints
    (`mask`, the hinted points (B, 1, h, w)); None when no photo has any."""
    has = mask.flatten(1).amax(1) > 0
    if not bool(has.any()):
        return None
    ab_t = F.adaptive_avg_pool2d(ab, spread_ab.shape[-2:])
    return F.l1_loss(spread_ab[has] / AB_SCALE, ab_t[has] / AB_SCALE)
