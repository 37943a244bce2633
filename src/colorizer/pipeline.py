"""The image pipeline: any image -> L at full resolution -> the network at a working
size -> a,b upsampled (bilinear) to full size -> merged with the input's own L."""
import math
import os
from importlib import resources

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .checkpoint import WeightsError, read_model_file
from .color import _F_EPS, _KAPPA, RGB_FROM_XYZ, WHITE_D65, linear_to_srgb
from .imageio import ImageError, read_lightness
from .models import build_model

DEFAULT_MODEL = "unet"
DEFAULT_SIZE = 256
DEFAULT_VIBRANCE = 0.62  # annealed-mean temperature T = 1 - vibrance = 0.38


def weights_dir():
    return resources.files("colorizer") / "weights"


def available_models():
    return sorted(p.name[: -len(".safetensors")] for p in weights_dir().iterdir() if p.name.endswith(".safetensors"))


def resolve_model(name_or_path=None):
    """A bundled model's name (see available_models(); "default" is the default one) or
    a path to a .safetensors file. Returns (path, name)."""
    name = name_or_path or DEFAULT_MODEL
    if name == "default":
        name = DEFAULT_MODEL
    if os.path.sep in str(name) or str(name).endswith(".safetensors") or os.path.exists(str(name)):
        return str(name), os.path.splitext(os.path.basename(str(name)))[0]
    path = weights_dir() / f"{name}.safetensors"
    if not path.is_file():
        raise WeightsError(f"unknown model {name!r}: bundled models are {', '.join(available_models()) or 'none'}, or pass a .safetensors path")
    return str(path), name


def working_shape(h, w, size, multiple=32):
    """Network input shape with about size*size pixels, the photo's aspect ratio, and
    sides that are multiples of `multiple`."""
    s = size / np.sqrt(h * w)
    hh = max(multiple, int(round(h * s / multiple)) * multiple)
    ww = max(multiple, int(round(w * s / multiple)) * multiple)
    # very long, thin photos: keep the pixel budget by shortening the longer side (in
    # jumps: the same result as stepping it down one multiple at a time)
    budget = 4 * size * size
    while hh * ww > budget and max(hh, ww) > multiple:
        if hh >= ww:
            hh = max(budget // ww // multiple * multiple, ww - multiple, multiple)
        else:
            ww = max(budget // hh // multiple * multiple, hh, multiple)
    return hh, ww


RULES = ("annealed-mean", "min-risk")
MIN_RISK_SLOPE = 0.75    # min-risk decoding: T = 1 - 0.75 * vibrance (default 0.62: T = 0.535)
MIN_RISK_TAU = 1.0       # softness of the minimum over candidate colours (CIEDE2000 units)
MIN_RISK_POOL = 2        # min-risk decoding: the risk is computed per 2 x 2 block of pixels
_RISK_CHUNK = 1 << 14    # pixels per chunk in min-risk decoding


def check_rule(rule):
    """Raise ValueError unless `rule` is one of RULES."""
    if rule not in RULES:
        raise ValueError(f"decoding rule must be one of {', '.join(RULES)}, not {rule!r}")


def vibrance_to_temperature(v, rule="annealed-mean"):
    if rule == "min-risk":
        return max(0.05, 1.0 - MIN_RISK_SLOPE * float(v))
    return max(0.02, 1.0 - float(v))


def decode_ab(out, extra, vibrance=None, size=None, blend=None, curve=None, inplace=False, rule="annealed-mean",
              risk_pool=None):
    """Network outputs -> a,b. `out` is one output dict, or a list of them for the same
    photo at several scales (the first sets the output size; the others are upsampled
    to it and averaged).

    Colour classes are decoded by `rule`:
      "annealed-mean": the mean of softmax(logits / T), T = 1 - vibrance (Zhang et al.);
      "min-risk": the colour of least expected CIEDE2000 under the model's calibrated
        distribution (see _decode_min_risk; `risk_pool`: its block size, default 2),
        T = 1 - 0.75 * vibrance.
    Where the model also regresses a,b and `blend` > 0 (annealed-mean only: min-risk
    ignores it), pixels whose class distribution is
    uncertain lean on the regression:
        ab = reg + conf**blend * (cls - reg),  conf = 1 - normalised entropy.
    `curve` = (c, gamma) then reshapes the chroma C = |ab| of every pixel:
        C' = C * min((C / c)**g, 3),  g = gamma * vibrance / DEFAULT_VIBRANCE,
    which pushes low, unsure chroma (below c) towards gray and lets confident colours
    (above c) be as saturated as the truth tends to be. Vibrance 0 leaves the chroma as
    predicted. `inplace=True` lets the decoding overwrite out["logits"] (no copy of the
    class scores: for callers that do not reuse them)."""
    check_rule(rule)
    outs = out if isinstance(out, (list, tuple)) else [out]
    shape = _out_shape(outs[0])
    cls = ent = reg = None
    for o in outs:
        if "logits" in o and rule == "min-risk":
            cls = _add(cls, _resized(_decode_min_risk(o, extra, vibrance=vibrance, pool=risk_pool), shape))
        elif "logits" in o:
            c, e = _decode_classes(o, extra["bins"], vibrance=vibrance, entropy=bool(blend) and "ab" in o, inplace=inplace)
            cls = _add(cls, _resized(c, shape))
            ent = _add(ent, _resized(e, shape))
        if "ab" in o:
            reg = _add(reg, _resized(o["ab"], shape).to(torch.float32, copy=True))
    n = len(outs)
    if cls is not None:
        ab = cls.div_(n)
        if ent is not None:
            conf = (1.0 - ent.div_(n)).clamp_(0, 1) ** blend
            reg = reg.div_(n)
            ab = reg.add_(ab.sub_(reg).mul_(conf))
    else:
        ab = reg.div_(n)
    if curve:
        ab = chroma_curve(ab, curve, vibrance)
    if size is not None and tuple(ab.shape[-2:]) != tuple(size):
        ab = F.interpolate(ab, size=tuple(size), mode="bilinear", align_corners=False)
    return ab


CURVE_MAX_GAIN = 3.0


def chroma_curve(ab, curve, vibrance=None):
    """C' = C * min((C / c)**g, 3) per pixel, g = gamma * vibrance / DEFAULT_VIBRANCE
    (see decode_ab), in place on ab (B, 2, h, w)."""
    c, gamma = float(curve[0]), float(curve[1])
    v = DEFAULT_VIBRANCE if vibrance is None else float(vibrance)
    g = gamma * v / DEFAULT_VIBRANCE
    if g == 0.0:
        return ab
    factor = torch.linalg.vector_norm(ab, dim=1, keepdim=True).div_(c).pow_(g).clamp_(max=CURVE_MAX_GAIN)
    return ab.mul_(factor)


def _out_shape(o):
    return tuple((o["logits"] if "logits" in o else o["ab"]).shape[-2:])


def _resized(x, shape):
    if x is None or tuple(x.shape[-2:]) == tuple(shape):
        return x
    return F.interpolate(x, size=tuple(shape), mode="bilinear", align_corners=False)


def _add(acc, x):
    """acc + x, in place in acc (a tensor of decode_ab's own, never the caller's)."""
    if x is None:
        return acc
    return x if acc is None else acc.add_(x)


def _decode_classes(out, bins, vibrance=None, entropy=False, inplace=False):
    """The class part of decode_ab: (annealed-mean a,b, normalised entropy or None), in
    few passes over the (B, Q, h, w) scores and with no temporaries of their size beyond
    one: with x = logits - max,
      annealed mean:  softmax(log_softmax(x) / T) = softmax(x / T)
      entropy:        -sum p log p = log s - sum(e x) / s,  e = exp(x), s = sum e
    Equal to bins.annealed_mean and bins.normalized_entropy within float rounding
    (tests/test_pipeline_speedups.py)."""
    logits = out["logits"]
    x = logits.float() if inplace else logits.to(torch.float32, copy=True)
    v = DEFAULT_VIBRANCE if vibrance is None else vibrance
    T = max(vibrance_to_temperature(v), 1e-4)  # as bins.annealed_mean
    x.sub_(x.amax(dim=1, keepdim=True))
    e = torch.exp(x)
    ent = None
    if entropy:
        s = e.sum(dim=1, keepdim=True)
        t = e.mul_(x).sum(dim=1, keepdim=True)
        ent = (s.log() - t / s) / math.log(x.shape[1])
        torch.exp(x.mul_(1.0 / T), out=e)
    elif T != 1.0:
        torch.exp(x.mul_(1.0 / T), out=e)
    ab = torch.einsum("bqhw,qc->bchw", e, bins.to(e)).div_(e.sum(dim=1, keepdim=True))
    return ab, ent


def risk_matrix(extra):
    """The CIEDE2000 distances between the bins (Q, Q), computed once per extra dict."""
    D = extra.get("ciede2000")
    if D is None:
        from .bins import ciede2000_matrix
        D = extra["ciede2000"] = ciede2000_matrix(extra["bins"]).to(extra["bins"].device)
    return D


def _decode_min_risk(out, extra, vibrance=None, tau=MIN_RISK_TAU, pool=None):
    """Minimum-expected-CIEDE2000 decoding of colour classes, per pixel:
      p    = softmax(logits / T) / w, normalised   (w: the class-rebalancing weights
             the model was trained with; dividing by them undoes the rebalancing's
             pull towards rare colours, so p is the model's actual belief)
      risk = p @ D,  D[q, k] = CIEDE2000 between bins q and k
      ab   = sum_k softmax(-risk / tau)_k * bin_k
    i.e. the colour that would be least wrong on average, softened (tau) over near-equal
    candidates so that neighbouring pixels do not jump between bins. Where the model is
    sure this is its mode; where it hesitates (a sky that may be blue or grey) it is
    the colour that is never far wrong rather than a blotch of one guess. T below 1
    sharpens p and with it the colours (vibrance).

    The decoding runs on `pool` x `pool` blocks of pixels (their mean logits), and the
    resulting a,b is upsampled back (bilinear): a quarter of the work at pool 2 (the
    risk is a Q x Q product per pixel), and as faithful on validation photos
    (benchmarks/sweep.py --risk-pool). Runs in chunks of pixels to bound memory."""
    logits = out["logits"]
    B, Q, h, w = logits.shape
    bins = extra["bins"].float()
    D = risk_matrix(extra).float()
    cw = extra.get("class_weights")
    logw = torch.zeros(Q, device=logits.device) if cw is None else cw.float().clamp(min=1e-12).log()
    v = DEFAULT_VIBRANCE if vibrance is None else vibrance
    T = vibrance_to_temperature(v, "min-risk")
    pool = MIN_RISK_POOL if pool is None else int(pool)
    x = logits.float()
    if pool > 1 and min(h, w) >= 2 * pool:
        # pad (edge pixels repeated) to whole blocks so that the upsampled blocks line
        # up with the pixels; the padding is cropped off at the end
        ph, pw = -h % pool, -w % pool
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        x = F.avg_pool2d(x, pool)
    else:
        pool = 1
    x = x.div(T) if x is logits else x.div_(T)  # never in place on the caller's scores
    p = torch.softmax(x.sub_(logw[:, None, None]), dim=1)
    hp, wp = p.shape[-2:]
    x = p.permute(0, 2, 3, 1).reshape(-1, Q)
    ab = torch.empty(x.shape[0], 2, device=logits.device)
    for i in range(0, x.shape[0], _RISK_CHUNK):
        risk = x[i:i + _RISK_CHUNK] @ D
        ab[i:i + _RISK_CHUNK] = torch.softmax(risk.mul_(-1.0 / tau), dim=1) @ bins
    ab = ab.view(B, hp, wp, 2).permute(0, 3, 1, 2).contiguous()
    return _resized(ab, (hp * pool, wp * pool))[..., :h, :w].contiguous()


def scaled_shape(h, w, scale, multiple=32):
    """The network input shape for an extra scale: (h, w) * scale, sides rounded to
    multiples of `multiple`."""
    return (max(multiple, int(round(h * scale / multiple)) * multiple),
            max(multiple, int(round(w * scale / multiple)) * multiple))


def network_outputs(model, L, scales=(1.0,)):
    """The network's outputs for L (B, 1, h, w) at each scale (fractions of its size, the
    first 1): the list decode_ab averages."""
    outs = [model(L)]
    for s in scales[1:]:
        Ls = F.interpolate(L, size=scaled_shape(L.shape[-2], L.shape[-1], s), mode="bilinear",
                           align_corners=False, antialias=s < 1)
        outs.append(model(Ls))
    return outs


def decode_settings(decode):
    """A model file's "decode" metadata -> (blend, curve or None, scales, rule), checked.
    Raises ValueError naming the bad setting."""
    rule = decode.get("rule", "annealed-mean")
    check_rule(rule)
    try:
        blend = float(decode.get("blend", 0.0))
    except (TypeError, ValueError):
        raise ValueError(f"blend must be a number, not {decode.get('blend')!r}") from None
    try:
        curve = decode.get("curve")
        if curve is not None:
            if len(curve) != 2:
                raise ValueError("two numbers")
            curve = (float(curve[0]), float(curve[1]))
            if not (curve[0] > 0 and 0 <= curve[1] <= 4):
                raise ValueError("out of range")
    except (TypeError, ValueError) as e:
        raise ValueError(f"curve must be [c > 0, gamma in 0..4] ({e})") from None
    try:
        scales = tuple(float(x) for x in decode.get("scales", [1.0]))
        if not scales or scales[0] != 1.0 or not all(0 < x <= 4 for x in scales):
            raise ValueError("out of range")
    except (TypeError, ValueError) as e:
        raise ValueError(f"scales must start with 1 and lie in (0, 4] ({e})") from None
    return blend, curve, scales, rule


def _bilinear_weights(n_out, n_in):
    """Source indices and weights for align_corners=False bilinear resampling."""
    x = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    x = np.clip(x, 0, n_in - 1)
    i0 = np.floor(x).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    w1 = (x - i0).astype(np.float32)
    return torch.from_numpy(i0), torch.from_numpy(i1), torch.from_numpy(w1)


# --- a,b upsampling and Lab -> RGB at full resolution, in strips --------------------
#
# Per pixel this is lab_to_rgb (colour.py) reorganised so that one strip of rows goes
# through ~15 vectorised torch ops with preallocated out= buffers (no full-size float
# temporaries):
#   f = (fx, fz, fy) = (fy + a/500, max(fy - b/200, 0), (L + 16)/116)
#   kappa * finv(f) = kappa * max(f, eps)^3 + (f - max(f, eps))      (the f^3 / linear
#       split of lab_to_rgb: its linear piece is the tangent of f^3 at eps)
#   linear RGB * N = M @ (kappa * finv(f)),  M = RGB_FROM_XYZ * white / kappa * N
#   sRGB code = LUT[trunc(clamp(linear * N, 0, N))]                   (no pow per pixel)
# The LUT holds the 8-bit sRGB code of each bin's centre: a pixel differs from the
# direct computation by at most one level, and only within 1/N of a rounding threshold.
_LUT_N = 1 << 16
_SRGB8 = None
_STRIP_PIXELS = 1 << 16   # pixels per strip: the buffers stay in cache


def _srgb8_lut():
    global _SRGB8
    if _SRGB8 is None:
        x = ((torch.arange(_LUT_N + 1, dtype=torch.float64) + 0.5) / _LUT_N).clamp_(max=1.0)
        _SRGB8 = linear_to_srgb(x).mul_(255).round_().clamp_(0, 255).to(torch.uint8)
    return _SRGB8


def _merge_matrix():
    m = RGB_FROM_XYZ * WHITE_D65[None, :] * (_LUT_N / _KAPPA)  # columns X, Y, Z
    return m[:, [0, 2, 1]].float().contiguous()               # in the buffer's order X, Z, Y


def merge_full_res(L, ab_small, strip=None):
    """Upsample a,b (2, h, w) bilinearly (align_corners=False) to L's size (H, W) and
    convert Lab to RGB uint8 (H, W, 3), in strips of `strip` rows (default: about
    64k pixels) so that memory stays small on large photos. Equal, within one level,
    to F.interpolate + color.lab_to_rgb + round."""
    L = np.ascontiguousarray(L, dtype=np.float32)
    if not np.isfinite(L).all():  # keep NaN/inf out of the table lookup
        L = np.nan_to_num(L, nan=0.0, posinf=100.0, neginf=0.0)
    H, W = L.shape
    out = np.empty((H, W, 3), dtype=np.uint8)
    if H == 0 or W == 0:
        return out
    ab_small = torch.nan_to_num(ab_small.detach().float().cpu(), posinf=0.0, neginf=0.0).contiguous()
    c0, c1, cw = _bilinear_weights(W, ab_small.shape[2])
    r0, r1, rw = _bilinear_weights(H, ab_small.shape[1])
    cols = torch.lerp(ab_small[:, :, c0], ab_small[:, :, c1], cw)  # (2, h, W)
    cols[0].mul_(1 / 500)    # a/500 and -b/200: added to fy they give fx and fz
    cols[1].mul_(-1 / 200)
    rw = rw[:, None]
    rows = max(1, min(H, int(strip) if strip else _STRIP_PIXELS // W))
    Lt, lut, M = torch.from_numpy(L), _srgb8_lut(), _merge_matrix()
    c16 = torch.tensor(16 / 116)
    n = rows * W

    def buf(dtype=torch.float32):
        return torch.empty(3 * n, dtype=dtype)

    P0, P1, Fb, Hb, Qb, Db, Lb, Ib, Ob = buf(), buf(), buf(), buf(), buf(), buf(), buf(), buf(torch.int32), buf(torch.uint8)
    for y0 in range(0, H, rows):
        y1 = min(H, y0 + rows)
        k, m = y1 - y0, (y1 - y0) * W
        p0, p1 = P0[: 2 * m].view(2, k, W), P1[: 2 * m].view(2, k, W)
        f = Fb[: 3 * m].view(3, m)
        torch.index_select(cols, 1, r0[y0:y1], out=p0)
        torch.index_select(cols, 1, r1[y0:y1], out=p1)
        torch.lerp(p0, p1, rw[y0:y1], out=f[:2].view(2, k, W))          # a/500, -b/200
        torch.add(c16, Lt[y0:y1].reshape(m), alpha=1 / 116, out=f[2])   # fy
        f[:2].add_(f[2])                                                # fx, fz
        f[1].clamp_(min=0)     # as lab_to_rgb (and scikit-image): negative z is invalid
        h, q, d = Hb[: 3 * m].view(3, m), Qb[: 3 * m].view(3, m), Db[: 3 * m].view(3, m)
        torch.clamp(f, min=_F_EPS, out=h)
        torch.mul(h, h, out=q)
        torch.sub(f, h, out=d)
        torch.addcmul(d, q, h, value=_KAPPA, out=d)                     # kappa * finv(f)
        lin = Lb[: 3 * m].view(3, m)
        torch.mm(M, d, out=lin)                                          # linear RGB * N
        lin.clamp_(0, _LUT_N)
        idx = Ib[: 3 * m]
        idx.copy_(lin.view(-1))                                          # truncation
        o = Ob[: 3 * m]
        torch.index_select(lut, 0, idx, out=o)
        o = o.numpy().reshape(3, m)
        np.stack((o[0], o[1], o[2]), axis=-1, out=out[y0:y1].reshape(m, 3))
    return out


_REDUCING_GAP = 3.0


def resize_lightness(L, shape):
    """Area-aware (antialiased) resize of an L* array to (h, w): Pillow's BILINEAR resize
    with reducing_gap=3 (a box reduction by an integer factor, then bilinear). The box
    reduction, the costly part on large photos, runs in torch on the array itself (no
    copy into a Pillow image); the small result goes through Pillow's resize with the
    same fractional box Pillow would use, so the output is Pillow's within float
    rounding."""
    L = np.asarray(L, dtype=np.float32)
    H, W = L.shape
    h, w = int(shape[0]), int(shape[1])
    fx = int(W / w / _REDUCING_GAP) or 1
    fy = int(H / h / _REDUCING_GAP) or 1
    box = None
    if fx > 1 or fy > 1:
        t = torch.from_numpy(np.ascontiguousarray(L) if L.flags.writeable else L.copy())
        # partial boxes at the right and bottom edges average the pixels they hold,
        # as Pillow's reduce() does
        L = F.avg_pool2d(t[None, None], (fy, fx), ceil_mode=True)[0, 0].numpy()
        box = (0.0, 0.0, W / fx, H / fy)
    img = Image.fromarray(np.ascontiguousarray(L, dtype=np.float32))  # mode "F"
    return np.array(img.resize((w, h), Image.BILINEAR, box=box), dtype=np.float32)


class Colorizer:
    """Colorize grayscale photos.

        from colorizer import Colorizer
        c = Colorizer.load()              # the bundled default model
        color = c.colorize("photo.jpg")   # a PIL image at the input's resolution
    """

    def __init__(self, model, arch, extra, info, name="model", device="cpu", blend=0.0, curve=None, scales=(1.0,),
                 rule="annealed-mean"):
        self.model, self.arch, self.extra, self.info, self.name = model, arch, extra, info, name
        self.device = torch.device(device)
        # decoding (defaults from the model file's "decode" metadata, see decode_ab):
        # blend: regression fallback where classes are uncertain; curve: (c, gamma) of
        # the chroma curve; scales: the network also runs at these fractions of the
        # working size and the outputs are averaged (test-time multi-scale)
        # rule: how colour classes become a,b ("annealed-mean" or "min-risk")
        self.blend, self.curve, self.scales, self.rule = blend, curve, tuple(scales), rule
        self.last_notes = []

    @classmethod
    def load(cls, name_or_path=None, device=None):
        """Load a bundled model by name ("seed", ...) or a .safetensors file."""
        path, name = resolve_model(name_or_path)
        arch, config, info, state, extra = read_model_file(path)
        try:
            model = build_model(arch, pretrained=False, **config)
            missing, unexpected = model.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
        except (ValueError, TypeError, RuntimeError) as e:
            raise WeightsError(f"{path}: weights do not fit the {arch!r} architecture ({str(e).splitlines()[0][:120]})") from None
        missing = [k for k in missing if not k.startswith("embedder.")]
        if missing or unexpected:
            raise WeightsError(f"{path}: weights do not fit the {arch!r} architecture "
                               f"({len(missing)} missing, {len(unexpected)} unexpected tensors)")
        if arch == "seed":  # its frozen classifier comes from the efficientnet-lite0 package
            from .models import Lite0Embedder
            model.embedder = Lite0Embedder(pretrained=True)
        if arch == "unet" and "bins" not in extra:
            raise WeightsError(f"{path}: model file has no colour bins")
        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        model = model.to(device).eval()
        extra = {k: v.to(device) for k, v in extra.items()}
        try:
            blend, curve, scales, rule = decode_settings(info.get("decode", {}))
        except ValueError as e:
            raise WeightsError(f"{path}: bad decoding settings in the model file ({e})") from None
        if rule == "min-risk":
            if "bins" not in extra:
                raise WeightsError(f"{path}: min-risk decoding needs colour bins in the model file")
            risk_matrix(extra)  # now, not lazily from the server's threads
        return cls(model, arch, extra, info, name=name, device=device, blend=blend, curve=curve, scales=scales, rule=rule)

    def set_decoding(self, rule):
        """Decode colour classes by `rule` ("min-risk" or "annealed-mean") instead of the
        model file's default (the regression fallback, blend, applies to annealed-mean
        only). A regression model has no classes: this changes nothing for it."""
        check_rule(rule)
        self.rule = rule
        if rule == "min-risk" and "bins" in self.extra:
            risk_matrix(self.extra)

    @torch.inference_mode()
    def predict_ab(self, L, vibrance=None, decoding=None):
        """L (B, 1, h, w) in [0, 100] -> a,b (B, 2, h', w') at the network's output size
        (for the working size; extra scales are averaged in). `decoding`: a rule for
        this call only (default: self.rule)."""
        rule = self.rule if decoding is None else decoding
        check_rule(rule)  # before the network runs
        outs = network_outputs(self.model, L.to(self.device), self.scales)
        return decode_ab(outs, self.extra, vibrance=vibrance, blend=self.blend, curve=self.curve, inplace=True, rule=rule)

    def colorize(self, image, vibrance=None, size=DEFAULT_SIZE, max_pixels=None, decoding=None):
        """Colorize a path, bytes, file object or PIL image. Returns a PIL image of the
        input's size (RGB, or RGBA when the input had transparency). Remarks for the
        user (a colour input, an animation) are left in self.last_notes. `decoding`
        ("min-risk" or "annealed-mean") overrides the model's rule for this call."""
        out, self.last_notes = self.colorize_with_notes(image, vibrance=vibrance, size=size, max_pixels=max_pixels,
                                                        decoding=decoding)
        return out

    def colorize_with_notes(self, image, vibrance=None, size=DEFAULT_SIZE, max_pixels=None, decoding=None):
        """As colorize(), returning (image, notes); safe to call from several threads."""
        kw = {} if max_pixels is None else {"max_pixels": max_pixels}
        L, alpha, notes = read_lightness(image, **kw)
        rgb = self.colorize_lightness(L, vibrance=vibrance, size=size, decoding=decoding)
        out = Image.fromarray(rgb, "RGB")
        if alpha is not None:
            out.putalpha(alpha)
        return out, notes

    def colorize_lightness(self, L, vibrance=None, size=DEFAULT_SIZE, decoding=None):
        """Full-resolution L* (H, W) float32 -> RGB uint8 (H, W, 3)."""
        H, W = L.shape
        hh, ww = working_shape(H, W, int(size))
        small = resize_lightness(L, (hh, ww))
        ab = self.predict_ab(torch.from_numpy(small)[None, None], vibrance=vibrance, decoding=decoding)[0].cpu()
        return merge_full_res(L, ab)
