"""The image pipeline: any image -> L at full resolution -> the network at a working
size -> a,b upsampled (bilinear) to full size -> merged with the input's own L."""
import os
from importlib import resources

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from . import bins as B
from .checkpoint import WeightsError, read_model_file
from .color import lab_to_rgb
from .imageio import ImageError, read_lightness
from .models import build_model

DEFAULT_MODEL = "seed"
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
    # very long, thin photos: keep the pixel budget
    while hh * ww > 4 * size * size and max(hh, ww) > multiple:
        if hh >= ww:
            hh -= multiple
        else:
            ww -= multiple
    return hh, ww


def vibrance_to_temperature(v):
    return max(0.02, 1.0 - float(v))


def decode_ab(out, extra, vibrance=None, size=None, blend=None):
    """Network outputs -> a,b. Colour classes are decoded with the annealed mean at
    T = 1 - vibrance; where the model also regresses a,b and `blend` > 0, pixels whose
    class distribution is uncertain lean on the regression: weight conf**blend for the
    classes, conf = 1 - normalised entropy."""
    if "logits" in out:
        v = DEFAULT_VIBRANCE if vibrance is None else vibrance
        ab = B.annealed_mean(out["logits"], extra["bins"], T=vibrance_to_temperature(v))
        if blend and "ab" in out:
            conf = (1.0 - B.normalized_entropy(out["logits"])).clamp(0, 1) ** blend
            ab = out["ab"] + conf * (ab - out["ab"])
    else:
        ab = out["ab"]
    if size is not None and tuple(ab.shape[-2:]) != tuple(size):
        ab = F.interpolate(ab, size=tuple(size), mode="bilinear", align_corners=False)
    return ab


def _bilinear_weights(n_out, n_in):
    """Source indices and weights for align_corners=False bilinear resampling."""
    x = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    x = np.clip(x, 0, n_in - 1)
    i0 = np.floor(x).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    w1 = (x - i0).astype(np.float32)
    return torch.from_numpy(i0), torch.from_numpy(i1), torch.from_numpy(w1)


def merge_full_res(L, ab_small, strip=512):
    """Upsample a,b (2, h, w) to L's size (H, W) and convert to RGB uint8 (H, W, 3),
    in strips of rows so memory stays small on large photos."""
    H, W = L.shape
    out = np.empty((H, W, 3), dtype=np.uint8)
    ab_small = ab_small.float()
    c0, c1, cw = _bilinear_weights(W, ab_small.shape[2])
    r0, r1, rw = _bilinear_weights(H, ab_small.shape[1])
    cols = ab_small[:, :, c0] * (1 - cw) + ab_small[:, :, c1] * cw  # (2, h, W)
    for y0 in range(0, H, strip):
        y1 = min(H, y0 + strip)
        w = rw[y0:y1, None]
        ab = cols[:, r0[y0:y1]] * (1 - w) + cols[:, r1[y0:y1]] * w  # (2, rows, W)
        lab = torch.cat([torch.from_numpy(L[y0:y1])[None], ab], 0)
        rgb = lab_to_rgb(lab)
        out[y0:y1] = rgb.mul_(255).round_().clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    return out


def resize_lightness(L, shape):
    """Area-aware (antialiased) resize of an L* array to (h, w)."""
    img = Image.fromarray(np.ascontiguousarray(L, dtype=np.float32))  # mode "F"
    return np.array(img.resize((shape[1], shape[0]), Image.BILINEAR, reducing_gap=3.0), dtype=np.float32)


class Colorizer:
    """Colorize grayscale photos.

        from colorizer import Colorizer
        c = Colorizer.load()              # the bundled default model
        color = c.colorize("photo.jpg")   # a PIL image at the input's resolution
    """

    def __init__(self, model, arch, extra, info, name="model", device="cpu", blend=0.0):
        self.model, self.arch, self.extra, self.info, self.name = model, arch, extra, info, name
        self.device = torch.device(device)
        self.blend = blend
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
        blend = float(info.get("decode", {}).get("blend", 0.0))
        return cls(model, arch, extra, info, name=name, device=device, blend=blend)

    @torch.inference_mode()
    def predict_ab(self, L, vibrance=None):
        """L (B, 1, h, w) in [0, 100] -> a,b (B, 2, h', w') at the network's output size."""
        return decode_ab(self.model(L.to(self.device)), self.extra, vibrance=vibrance, blend=self.blend)

    def colorize(self, image, vibrance=None, size=DEFAULT_SIZE, max_pixels=None):
        """Colorize a path, bytes, file object or PIL image. Returns a PIL image of the
        input's size (RGB, or RGBA when the input had transparency). Remarks for the
        user (a colour input, an animation) are left in self.last_notes."""
        out, self.last_notes = self.colorize_with_notes(image, vibrance=vibrance, size=size, max_pixels=max_pixels)
        return out

    def colorize_with_notes(self, image, vibrance=None, size=DEFAULT_SIZE, max_pixels=None):
        """As colorize(), returning (image, notes); safe to call from several threads."""
        kw = {} if max_pixels is None else {"max_pixels": max_pixels}
        L, alpha, notes = read_lightness(image, **kw)
        rgb = self.colorize_lightness(L, vibrance=vibrance, size=size)
        out = Image.fromarray(rgb, "RGB")
        if alpha is not None:
            out.putalpha(alpha)
        return out, notes

    def colorize_lightness(self, L, vibrance=None, size=DEFAULT_SIZE):
        """Full-resolution L* (H, W) float32 -> RGB uint8 (H, W, 3)."""
        H, W = L.shape
        hh, ww = working_shape(H, W, int(size))
        small = resize_lightness(L, (hh, ww))
        ab = self.predict_ab(torch.from_numpy(small)[None, None], vibrance=vibrance)[0].cpu()
        return merge_full_res(L, ab)
