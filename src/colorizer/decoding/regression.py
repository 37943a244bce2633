"""Regression "decoding": the network's own a,b output (the seed baseline's only output;
the U-Net's optional a,b head). Vibrance does not apply."""
import torch

from .base import Decoder, no_more


class Regression(Decoder):
    name = "regression"
    needs = "ab"
    uses_vibrance = False

    def __init__(self, **unknown):
        no_more(unknown, self.name)

    def __call__(self, outputs, vibrance=None, consume=False):
        ab = outputs["ab"]
        return ab.float() if consume else ab.to(torch.float32, copy=True)
