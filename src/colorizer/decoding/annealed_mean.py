"""Annealed-mean decoding of colour classes (Zhang et al. 2016): the mean colour of the
class distribution sharpened at temperature T = 1 - vibrance, optionally leaning on the
network's a,b regression where the distribution is uncertain (blend)."""
import math

import torch

from .base import Decoder, no_more, number


class AnnealedMean(Decoder):
    """ab = sum_q softmax(logits / T)_q * bin_q,  T = max(0.02, 1 - vibrance).

    With blend > 0 and a regression head, pixels whose class distribution is uncertain
    lean on the regression:  ab = reg + conf**blend * (cls - reg),
    conf = 1 - normalised entropy of softmax(logits)."""

    name = "annealed-mean"
    needs = "logits"

    def __init__(self, bins, blend=0.0, **unknown):
        self.bins = bins
        self.blend = number({"blend": blend}, "blend", 0.0, 0.0, 10.0, self.name)
        no_more(unknown, self.name)

    def settings(self):
        return {"blend": self.blend}

    def reads(self, available):
        return ("logits", "ab") if self.blend and "ab" in available else ("logits",)

    @staticmethod
    def temperature(vibrance):
        return max(0.02, 1.0 - float(vibrance))

    def __call__(self, outputs, vibrance, consume=False):
        """In few passes over the (B, Q, h, w) scores and with no temporaries of their
        size beyond one: with x = logits - max,
          annealed mean:  softmax(log_softmax(x) / T) = softmax(x / T)
          entropy:        -sum p log p = log s - sum(e x) / s,  e = exp(x), s = sum e"""
        logits = outputs["logits"]
        x = logits.float() if consume else logits.to(torch.float32, copy=True)
        T = max(self.temperature(vibrance), 1e-4)
        x.sub_(x.amax(dim=1, keepdim=True))
        e = torch.exp(x)
        ent = None
        if self.blend and "ab" in outputs:
            s = e.sum(dim=1, keepdim=True)
            t = e.mul_(x).sum(dim=1, keepdim=True)
            ent = (s.log() - t / s) / math.log(x.shape[1])
            torch.exp(x.mul_(1.0 / T), out=e)
        elif T != 1.0:
            torch.exp(x.mul_(1.0 / T), out=e)
        ab = torch.einsum("bqhw,qc->bchw", e, self.bins.to(e)).div_(e.sum(dim=1, keepdim=True))
        if ent is None:
            return ab
        conf = (1.0 - ent).clamp_(0, 1) ** self.blend
        reg = outputs["ab"].to(torch.float32, copy=True)
        return reg.add_(ab.sub_(reg).mul_(conf))
