"""Min-risk decoding of colour classes: per pixel, the colour of least expected CIEDE2000
under the model's calibrated class distribution (the default's decoding)."""
import torch
import torch.nn.functional as F

from ..bins import BLOCK_SCORES, ciede2000_matrix
from .base import Decoder, no_more, number

_CHUNK = 1 << 14  # pixels per chunk: bounds memory on large working sizes


def _mean_pool(x, pool):
    """F.avg_pool2d(x, pool) for (B, C, H, W) with H, W multiples of `pool`, added up a whole
    row at a time: several times faster on the CPU for the logits' many channels."""
    B, C, H, W = x.shape
    v = x.reshape(B, C, H // pool, pool, W)
    rows = v[:, :, :, 0] + v[:, :, :, 1]
    for i in range(2, pool):
        rows += v[:, :, :, i]
    cols = rows.view(B, C, H // pool, W // pool, pool)
    out = cols[..., 0] + cols[..., 1]
    for i in range(2, pool):
        out += cols[..., i]
    return out.div_(pool * pool)


class MinRisk(Decoder):
    """Per pixel (on `pool` x `pool` blocks of pixels, their mean scores):
      p    = softmax(logits / T) / w, normalised   (w: the class-rebalancing weights
             the model was trained with; dividing by them undoes the rebalancing's
             pull towards rare colours, so p is the model's actual belief)
      risk = p @ D,  D[q, k] = CIEDE2000 between bins q and k
      ab   = sum_k softmax(-risk / tau)_k * bin_k
    i.e. the colour that would be least wrong on average, softened (tau, in CIEDE2000
    units) over near-equal candidates so that neighbouring pixels do not jump between
    bins. Where the model is sure this is its mode; where it hesitates (a sky that may be
    blue or gray) it is the colour that is never far wrong rather than a blotch of one
    guess. T = 1 - 0.75 vibrance (at least 0.05) sharpens p and with it the colours.

    pool 2 does a quarter of the work (the risk is a Q x Q product per pixel) and is as
    faithful on validation photos (benchmarks/sweep.py --risk-pool); the a,b of the
    blocks is upsampled back (bilinear). With pool 2 it reads the network's scores
    already averaged over 2x2 blocks (bins.POOLED_LOGITS) where the backend gives them,
    the same numbers for a quarter of the network's last layer and no pooling here; or,
    where the network has a fast head and it is offered (no hints: see
    pipeline.offered), that head's copy of them (bins.FAST_LOGITS), which spares the
    network its stride-2 stage."""

    name = "min-risk"
    needs = "logits"
    SLOPE = 0.75

    def __init__(self, bins, class_weights=None, tau=1.0, pool=2, **unknown):
        self.bins = bins.float()
        self.tau = number({"tau": tau}, "tau", 1.0, 0.01, 100.0, self.name)
        pool_f = number({"pool": pool}, "pool", 2, 1, 8, self.name)
        if pool_f != int(pool_f):
            raise ValueError(f"{self.name}.pool must be a whole number between 1 and 8, not {pool!r}")
        self.pool = int(pool_f)
        no_more(unknown, self.name)
        Q = len(self.bins)
        self.log_weights = (torch.zeros(Q, device=self.bins.device) if class_weights is None
                            else class_weights.float().clamp(min=1e-12).log())
        self.risk = ciede2000_matrix(self.bins).to(self.bins.device)

    def settings(self):
        return {"tau": self.tau, "pool": self.pool}

    @classmethod
    def temperature(cls, vibrance):
        return max(0.05, 1.0 - cls.SLOPE * float(vibrance))

    def reads(self, available):
        if self.pool == 2:
            for name in BLOCK_SCORES:
                if name in available:
                    return (name,)
        return ("logits",)

    def __call__(self, outputs, vibrance, consume=False):
        T = self.temperature(vibrance)
        pool = self.pool
        block_scores = next((n for n in BLOCK_SCORES if n in outputs), None)
        if block_scores and pool == 2 and "logits" not in outputs:
            x = outputs[block_scores].float()  # the blocks' mean scores, from the network
            return self._decode(x, T, 2 * x.shape[-2], 2 * x.shape[-1], pool)
        logits = outputs["logits"]  # never changed: the pooled or divided copy is ours
        h, w = logits.shape[-2:]
        x = logits.float()
        if pool > 1 and min(h, w) >= 2 * pool:
            # pad (edge pixels repeated) to whole blocks so that the upsampled blocks line
            # up with the pixels; the padding is cropped off at the end
            ph, pw = -h % pool, -w % pool
            if ph or pw:
                x = F.pad(x, (0, pw, 0, ph), mode="replicate")
            x = _mean_pool(x, pool)
        else:
            pool = 1
        return self._decode(x, T, h, w, pool)

    def _decode(self, x, T, h, w, pool):
        """Mean scores x (B, Q, hp, wp) of pool x pool blocks -> a,b (B, 2, h, w)."""
        B, Q, hp, wp = x.shape
        out = []
        for scores in x.reshape(B, Q, hp * wp):
            # (Q, N): a class's scores over the blocks, a contiguous row. The softmax over
            # the classes runs down the columns (reductions along rows of N), and the risk
            # product reads p transposed: no (N, Q) copy of the scores is ever made (that
            # transposing copy cost more than the risk product itself)
            p = scores.div(T).sub_(self.log_weights[:, None])
            p = p.sub_(p.amax(0)).exp_()
            p = p.div_(p.sum(0))
            ab = torch.empty(2, p.shape[1], device=p.device)
            for i in range(0, p.shape[1], _CHUNK):
                risk = p[:, i:i + _CHUNK].T @ self.risk  # (n, Q), contiguous rows again for the softmax
                ab[:, i:i + _CHUNK] = (torch.softmax(risk.mul_(-1.0 / self.tau), dim=1) @ self.bins).T
            out.append(ab)
        ab = torch.stack(out).view(B, 2, hp, wp)
        if pool > 1:
            ab = F.interpolate(ab, size=(hp * pool, wp * pool), mode="bilinear", align_corners=False)
        return ab[..., :h, :w].contiguous()
