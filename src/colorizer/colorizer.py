"""Colorizer: a loaded model (backend + decoders) and the one call that colorizes.

    from colorizer import Colorizer
    c = Colorizer.load()                           # the bundled default model
    out = c.colorize("photo.jpg")                  # ColorizeOutput: .image (PIL), .notes
    out = c.colorize("photo.jpg", vibrance=0.8, decoding="annealed-mean")
"""
import torch

from . import decoding
from .backends import load_backend
from .bins import BLOCK_SCORES
from .decoding import hint_spread
from .image_io import read_lightness
from .model_files import WeightsError
from .options import ColorizeOptions
from .pipeline import check_hints, colorize_image, network_input, predict_ab
from .suggest import top_colours


class Colorizer:
    """A model ready to colorize. Safe to share between threads."""

    def __init__(self, backend, decoders, default_decoding, extra=None, info=None, name="model", arch=None, path=""):
        self.backend = backend
        self.path = str(path)                    # the file the backend runs (.safetensors or .onnx)
        self.decoders = dict(decoders)           # every rule this model can use, created once
        self.default_decoding = default_decoding  # the model file's own rule
        self.extra, self.info, self.name, self.arch = dict(extra or {}), dict(info or {}), name, arch

    @classmethod
    def load(cls, model=None, device=None, backend=None):
        """A bundled model by name ("default", "seed", ...), a .safetensors model file or a
        .onnx file from `colorizer export`, run by `backend`: "auto" (None: the default;
        ONNX Runtime on the CPU for the bundled default and .onnx files, PyTorch otherwise,
        see colorizer.backends.choose), "torch" or "onnxruntime" (which exports a model
        without a shipped export on first use into a cache, see colorizer.export).
        WeightsError with a one-line reason when the model cannot be used; BackendError when
        the backend cannot run here (the message says how to install what is missing)."""
        loaded = load_backend(model, backend, device)
        backend, path, name, arch, info, extra = loaded.backend, loaded.path, loaded.name, loaded.arch, loaded.info, loaded.extra
        if "logits" in backend.outputs and "bins" not in extra:
            raise WeightsError(f"{path}: model file has no colour bins")
        extra = {k: v.to(backend.device) for k, v in extra.items()}
        try:
            default, decoders = decoding.for_model(info, extra, backend.outputs)
        except ValueError as e:
            raise WeightsError(f"{path}: bad decoding settings in the model file ({e})") from None
        backend.prepare(decoders[default].reads(backend.outputs))
        return cls(backend, decoders, default, extra, info, name=name, arch=arch, path=path)

    @property
    def predicts_classes(self):
        """Whether the network predicts colour classes (a class model) or only a,b."""
        return "logits" in self.backend.outputs

    def options(self, options=None, **changes):
        """ColorizeOptions from an options object and/or keyword changes, checked."""
        return (options or ColorizeOptions()).replace(**changes)

    def decoder(self, options):
        """The decoder `options` ask for (the model's own when options.decoding is None).
        ValueError when this model cannot decode that way."""
        name = options.decoding or self.default_decoding
        if name not in self.decoders:
            raise ValueError(f"{self.name} cannot use {name} decoding (it can use {', '.join(self.decoders)})")
        return self.decoders[name]

    def ignored(self, options, given=("vibrance", "decoding")):
        """The options among `given` (names the user set) that do not apply to this model,
        with why: for a one-time remark (a regression model has no vibrance)."""
        out = []
        if "decoding" in given and options.decoding and options.decoding not in self.decoders:
            out.append(f"{self.name} cannot use {options.decoding} decoding (it can use {', '.join(self.decoders)}): "
                       f"decoded by {self.default_decoding}")
        dec = self.decoders.get(options.decoding or self.default_decoding, self.decoders[self.default_decoding])
        if "vibrance" in given and not dec.uses_vibrance:
            out.append(f"vibrance does not apply to {dec.name} decoding ({self.name})")
        return out

    def colorize(self, image, options=None, **changes):
        """Colorize a path, bytes, file object, PIL image or NumPy array ((H, W) or (H, W, 3):
        uint8, uint16, or float in [0, 1]). `options` (ColorizeOptions) and/or keyword
        changes (vibrance=, size=, decoding=, max_pixels=) say how. Returns a ColorizeOutput
        (.image at the input's resolution, .notes, .metadata, .pixels16()). Raises ImageError
        for a bad image (naming the file when given a path) and ValueError for a bad option,
        each one line."""
        options = self.options(options, **changes)
        return colorize_image(image, self.backend, self.decoder(options), options, self.extra)

    def suggest(self, image, x, y, k=6, options=None, **changes):
        """The model's k likeliest colours at pixel (x, y) of the photo (with the options'
        hints, if any): [{"color": "#rrggbb", "probability": p, "ab": [a, b]}], likeliest
        first (suggest.top_colours). ValueError for a point outside the photo or a model
        without colour classes."""
        options = self.options(options, **changes)
        if not self.predicts_classes:
            raise ValueError(f"{self.name} predicts no colour classes: it has no suggestions")
        check_hints(self.backend, options)
        L, _, _ = read_lightness(image, max_pixels=options.max_pixels)
        H, W = L.shape
        if not (0 <= x < W and 0 <= y < H):
            raise ValueError(f"point ({x:g},{y:g}) is outside the {W}x{H} photo")
        small, hints = network_input(L, self.backend, options)
        with torch.inference_mode():
            logits = self.backend(small, hints, outputs=("logits",))["logits"].cpu()
        h, w = logits.shape[-2:]
        weights = self.extra.get("class_weights")
        return top_colours(logits, None if weights is None else weights.cpu(), self.extra["bins"].cpu(),
                           min(h - 1, int(y * h / H)), min(w - 1, int(x * w / W)), L[int(y), int(x)], k)

    def predict_ab(self, L, options=None, **changes):
        """L (B, 1, h, w) in [0, 100], already at the working size -> a,b (B, 2, h', w') at
        the network's output size, on the CPU (evaluation and benchmarks use this)."""
        options = self.options(options, **changes)
        return predict_ab(self.backend, self.decoder(options), L, options.vibrance)

    def network_outputs(self, L, hints=None, options=None):
        """The network alone, for callers that work on its outputs before decoding them (the
        steady colour of videos): L (B, 1, h, w) in [0, 100] at the working size (and hints
        (B, 3, h, w) for a hint-aware model) -> {"logits": (B, Q, h', w'), "ab": (B, 2, h',
        w')}: those the decoding that `options` choose reads, at full resolution (the class
        scores for min-risk), and with hints the keys that spread them ("hint_keys"),
        float32 on the CPU. decode() finishes the job."""
        reads = self.decoder(self.options(options)).reads(self.backend.outputs) + hint_spread.reads(self.backend.outputs,
                                                                                                     hints)
        names = tuple(dict.fromkeys("logits" if n in BLOCK_SCORES else n for n in reads))
        with torch.inference_mode():
            return {k: v.float().cpu() for k, v in self.backend(L, hints, outputs=names).items()}

    def decode(self, outputs, options=None, hints=None, **changes):
        """network_outputs() (or an average of them) -> a,b (B, 2, h', w') on the CPU, by the
        decoding and vibrance the options say, and the hint image `hints` (B, 3, h, w) spread
        by the outputs' keys. The outputs are left unchanged."""
        options = self.options(options, **changes)
        with torch.inference_mode():
            outputs = {k: v.to(self.backend.device) for k, v in outputs.items()}
            return hint_spread.apply(self.decoder(options)(outputs, options.vibrance), outputs, hints).cpu()

    def __repr__(self):
        return (f"Colorizer(model={self.name!r}, arch={self.arch!r}, decoding={self.default_decoding!r}, "
                f"backend={self.backend.name!r}, device={str(self.backend.device)!r})")
