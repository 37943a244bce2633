"""Colorizer: a loaded model (backend + decoders) and the one call that colorizes.

    from colorizer import Colorizer
    c = Colorizer.load()                           # the bundled default model
    out = c.colorize("photo.jpg")                  # ColorizeOutput: .image (PIL), .notes
    out = c.colorize("photo.jpg", vibrance=0.8, decoding="annealed-mean")
"""
import torch

from . import decoding
from .backend import TorchBackend
from .bundled import resolve_model
from .model_files import WeightsError, read_model_file
from .options import ColorizeOptions
from .pipeline import colorize_image, predict_ab


class Colorizer:
    """A model ready to colorize. Safe to share between threads."""

    def __init__(self, backend, decoders, default_decoding, extra=None, info=None, name="model", arch=None):
        self.backend = backend
        self.decoders = dict(decoders)           # every rule this model can use, created once
        self.default_decoding = default_decoding  # the model file's own rule
        self.extra, self.info, self.name, self.arch = dict(extra or {}), dict(info or {}), name, arch

    @classmethod
    def load(cls, model=None, device=None):
        """A bundled model by name ("default", "seed", ...) or a .safetensors model file.
        WeightsError with a one-line reason when it cannot be used."""
        path, name = resolve_model(model)
        arch, config, info, state, extra = read_model_file(path)
        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        backend = TorchBackend.from_state(arch, config, state, device, source=path)
        if "logits" in backend.outputs and "bins" not in extra:
            raise WeightsError(f"{path}: model file has no colour bins")
        extra = {k: v.to(device) for k, v in extra.items()}
        try:
            default, decoders = decoding.for_model(info, extra, backend.outputs)
        except ValueError as e:
            raise WeightsError(f"{path}: bad decoding settings in the model file ({e})") from None
        return cls(backend, decoders, default, extra, info, name=name, arch=arch)

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
        """Colorize a path, bytes, file object or PIL image. `options` (ColorizeOptions)
        and/or keyword changes (vibrance=, size=, decoding=, max_pixels=) say how.
        Returns a ColorizeOutput (.image at the input's resolution, .notes). Raises
        ImageError for a bad image and ValueError for a bad option, each one line."""
        options = self.options(options, **changes)
        return colorize_image(image, self.backend, self.decoder(options), options)

    def predict_ab(self, L, options=None, **changes):
        """L (B, 1, h, w) in [0, 100], already at the working size -> a,b (B, 2, h', w') at
        the network's output size, on the CPU (evaluation and benchmarks use this)."""
        options = self.options(options, **changes)
        return predict_ab(self.backend, self.decoder(options), L, options.vibrance)

    def __repr__(self):
        return (f"Colorizer(model={self.name!r}, arch={self.arch!r}, decoding={self.default_decoding!r}, "
                f"backend={self.backend.name!r}, device={str(self.backend.device)!r})")
