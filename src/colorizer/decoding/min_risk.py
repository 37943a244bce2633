"""Min-risk decoding of colour classes: per pixel, the colour of least expected CIEDE2000
under the model's calibrated class distribution (the default's decoding)."""
import functools

import torch
import torch.nn.functional as F

from ..bins import BLOCK_SCORES, FAST_LOGITS, ciede2000_matrix
from .base import Decoder, no_more, number

_CHUNK = 1 << 14  # pixels per chunk: bounds memory on large working sizes
PRECISIONS = ("auto", "float32", "bfloat16")


def bfloat16_is_fast(device):
    """Whether `device` multiplies bfloat16 matrices in hardware, several times faster than
    float32: a CPU with Intel AMX (AMX-BF16). Not a GPU (its float32 is fast enough) and
    not a CPU without AMX (where bfloat16 is emulated, slower than float32)."""
    return torch.device(device).type == "cpu" and _cpu_has_amx_bf16()


@functools.cache
def _cpu_has_amx_bf16():
    try:
        return bool(torch.cpu._is_amx_tile_supported()) and bool(torch.cpu._is_avx512_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch without these probes: assume not
        return False


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
    network its stride-2 stage.

    fast_head: whether to read the fast head's scores where the network offers them (True,
    the default); False reads the network's own pooled scores: the colours of the same
    network without a fast head (MODEL_CARD.md, stage 6: a mean CIEDE2000 of 0.44 apart
    on validation photos, as faithful), at the cost of the stride-2 stage.

    precision: the risk product's, the decoding's one big matrix product (per block, Q x Q
    multiply-adds). "auto" (the default) multiplies in bfloat16 where the CPU does that in
    hardware (bfloat16_is_fast: Intel AMX) and the scores come a row per block (channels-last,
    as the ONNX Runtime backend gives them), the decoding 1.4x faster, its outputs within a few hundredths
    of CIEDE2000 of float32's (benchmarks/decode_precision.py), and in float32 elsewhere;
    "float32" always (identical outputs on every machine), "bfloat16" always (slow without
    AMX). Everything else is float32 throughout."""

    name = "min-risk"
    needs = "logits"
    SLOPE = 0.75

    def __init__(self, bins, class_weights=None, tau=1.0, pool=2, precision="auto", fast_head=True, **unknown):
        self.bins = bins.float()
        self.tau = number({"tau": tau}, "tau", 1.0, 0.01, 100.0, self.name)
        pool_f = number({"pool": pool}, "pool", 2, 1, 8, self.name)
        if pool_f != int(pool_f):
            raise ValueError(f"{self.name}.pool must be a whole number between 1 and 8, not {pool!r}")
        self.pool = int(pool_f)
        if precision not in PRECISIONS:
            raise ValueError(f"{self.name}.precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        self.precision = precision
        if not isinstance(fast_head, bool):
            raise ValueError(f"{self.name}.fast_head must be true or false, not {fast_head!r}")
        self.fast_head = fast_head
        no_more(unknown, self.name)
        Q = len(self.bins)
        self.log_weights = (torch.zeros(Q, device=self.bins.device) if class_weights is None
                            else class_weights.float().clamp(min=1e-12).log())
        self.risk = ciede2000_matrix(self.bins).to(self.bins.device)
        self._risk_bf16 = None

    def settings(self):
        s = {"tau": self.tau, "pool": self.pool}
        if self.precision != "auto":
            s["precision"] = self.precision
        return s if self.fast_head else {**s, "fast_head": False}

    def product_dtype(self, device):
        """The dtype the risk product runs in on `device` (see the class's precision)."""
        if self.precision == "bfloat16" or (self.precision == "auto" and bfloat16_is_fast(device)):
            return torch.bfloat16
        return torch.float32

    def _risk_low(self, device):
        """The CIEDE2000 matrix in bfloat16 on `device` (made once)."""
        if self._risk_bf16 is None or self._risk_bf16.device != device:
            self._risk_bf16 = self.risk.to(device, torch.bfloat16)
        return self._risk_bf16

    @classmethod
    def temperature(cls, vibrance):
        return max(0.05, 1.0 - cls.SLOPE * float(vibrance))

    def _block_scores(self, available):
        """The first of BLOCK_SCORES among `available` that this decoder reads (not the fast
        head's with fast_head off), or None."""
        return next((n for n in BLOCK_SCORES if n in available and (self.fast_head or n != FAST_LOGITS)), None)

    def reads(self, available):
        block_scores = self._block_scores(available) if self.pool == 2 else None
        return (block_scores,) if block_scores else ("logits",)

    def __call__(self, outputs, vibrance, consume=False):
        T = self.temperature(vibrance)
        pool = self.pool
        block_scores = self._block_scores(outputs)
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
        """Mean scores x (B, Q, hp, wp) of pool x pool blocks -> a,b (B, 2, h, w). Scores in
        channels-last memory (a block's Q scores side by side: what the ONNX Runtime backend
        gives) are decoded a row per block, the fastest way; others (B, Q, hp, wp) a column
        per block, without ever copying them into rows (that transposing copy costs more
        than the risk product)."""
        B, Q, hp, wp = x.shape
        rows = x.permute(0, 2, 3, 1)
        if rows.is_contiguous():
            ab = torch.stack([self._decode_rows(r, T) for r in rows.reshape(B, hp * wp, Q)]).transpose(1, 2)
        else:
            ab = torch.stack([self._decode_columns(c, T) for c in x.reshape(B, Q, hp * wp)])
        ab = ab.reshape(B, 2, hp, wp)
        if pool > 1:
            ab = F.interpolate(ab, size=(hp * pool, wp * pool), mode="bilinear", align_corners=False)
        return ab[..., :h, :w].contiguous()

    def _decode_rows(self, scores, T):
        """scores (N, Q), a row per block -> a,b (N, 2)."""
        low = self.product_dtype(scores.device) == torch.bfloat16
        ab = torch.empty(scores.shape[0], 2, device=scores.device)
        for i in range(0, scores.shape[0], _CHUNK):
            p = torch.softmax(torch.sub(scores[i:i + _CHUNK], self.log_weights, alpha=T).mul_(1.0 / T), dim=1)
            risk = (p.bfloat16() @ self._risk_low(p.device)).float() if low else p @ self.risk
            ab[i:i + _CHUNK] = torch.softmax(risk.mul_(-1.0 / self.tau), dim=1) @ self.bins
        return ab

    def _decode_columns(self, scores, T):
        """scores (Q, N), a column per block (a class's scores over the blocks, a contiguous
        row) -> a,b (2, N). The softmaxes over the classes run down the columns (reductions
        along rows of N); in float32 the risk product reads p transposed. bfloat16 only when
        asked for by name: in this layout it is slower than float32 even with AMX
        (benchmarks/decode_precision.py), so "auto" keeps float32 here."""
        low = self.precision == "bfloat16"
        p = scores.div(T).sub_(self.log_weights[:, None])
        p = p.sub_(p.amax(0)).exp_()
        p = p.div_(p.sum(0))
        ab = torch.empty(2, p.shape[1], device=p.device)
        for i in range(0, p.shape[1], _CHUNK):
            if low:  # (Q, n): the classes' risks down the columns, softmax there too
                risk = (self._risk_low(p.device).T @ p[:, i:i + _CHUNK].bfloat16()).float()
                e = risk.sub_(risk.amin(0)).mul_(-1.0 / self.tau).exp_()
                ab[:, i:i + _CHUNK] = (self.bins.T @ e).div_(e.sum(0))
            else:  # (n, Q): contiguous rows again for the softmax
                risk = p[:, i:i + _CHUNK].T @ self.risk
                ab[:, i:i + _CHUNK] = (torch.softmax(risk.mul_(-1.0 / self.tau), dim=1) @ self.bins).T
        return ab
