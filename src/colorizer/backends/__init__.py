"""Backends run the network. Whatever runs it, a backend is called the same way:

    backend(L)          L (B, 1, h, w) float32 in [0, 100], the working size
    backend(L, hints)   and hints (B, 3, h, w) for a hint-aware network (see networks.UNet)
    -> {"logits": (B, Q, h', w'), "ab": (B, 2, h', w')}   torch tensors (see colorizer.networks)

and says `outputs` (the names of the network's outputs), `takes_hints`, `name` and
`device`, so that colorizer.decoding decodes either backend's outputs the same way.

    torch         pytorch.TorchBackend     the network in PyTorch, on any device (the default)
    onnxruntime   onnxruntime.OrtBackend   the network exported to ONNX (colorizer.export), in ONNX Runtime on the CPU

load_backend() makes one from a model's name or file. ONNX Runtime is optional (the
`onnx` extra); without it, asking for it is a BackendError that says how to install it."""
import os
from dataclasses import dataclass, field

import torch

from ..bundled import resolve_model
from ..model_files import WeightsError, read_model_file

NAMES = ("torch", "onnxruntime")
DEFAULT = "torch"
INSTALL_HINT = "pip install onnxruntime onnx (the `onnx` extra of photo-colorizer)"


class BackendError(Exception):
    """A backend that cannot run here: its library is not installed, or it cannot use the device."""


class Backend:
    """What every backend is (see the module docstring)."""

    name = ""
    device = torch.device("cpu")
    outputs = ()           # the names of the network's outputs: "logits" and/or "ab"
    takes_hints = False    # whether the network takes point hints

    def __call__(self, L, hints=None):
        """L (B, 1, h, w) (and hints (B, 3, h, w)) -> a dict of output tensors."""
        raise NotImplementedError


@dataclass
class LoadedModel:
    """A backend and what the model file says beside the network (for the decoders)."""
    backend: Backend
    arch: str
    config: dict
    info: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)   # bins, class_weights, prior (CPU tensors)
    path: str = ""
    name: str = "model"


def check_name(name):
    """The backend's name (None: the default), or ValueError naming the choices."""
    name = DEFAULT if name is None else name
    if name not in NAMES:
        raise ValueError(f"backend must be one of {', '.join(NAMES)}, not {name!r}")
    return name


def is_onnx_file(model):
    return isinstance(model, (str, os.PathLike)) and str(model).lower().endswith(".onnx")


def load_backend(model=None, backend=None, device=None, notify=None):
    """A LoadedModel from a bundled model's name ("default", None: the default one), a
    .safetensors model file or, with backend="onnxruntime", a .onnx file (colorizer export).
    With onnxruntime, a bundled or .safetensors model is exported on first use into a cache
    (colorizer.export.cache_dir()); `notify(line)` says where, once (default: stderr).
    WeightsError (a model that cannot be used) or BackendError (a backend that cannot run
    here), each one line."""
    backend = check_name(backend)
    if backend == "torch":
        if is_onnx_file(model):
            raise WeightsError(f"{model}: an ONNX file runs with the onnxruntime backend (--backend onnxruntime)")
        path, name = resolve_model(model)
        arch, config, info, state, extra = read_model_file(path)
        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        from .pytorch import TorchBackend
        return LoadedModel(TorchBackend.from_state(arch, config, state, device, source=path),
                           arch, config, info, extra, path, name)
    from .onnxruntime import OrtBackend, require_onnxruntime
    require_onnxruntime()
    if device is not None and torch.device(device).type != "cpu":
        raise BackendError(f"the onnxruntime backend runs on the CPU here, not on {device}")
    if is_onnx_file(model):
        path, name = str(model), os.path.splitext(os.path.basename(str(model)))[0]
        return OrtBackend.load(path, name)
    source, name = resolve_model(model)
    from ..export import cached_export
    path = cached_export(source, name, notify=notify)
    try:
        return OrtBackend.load(path, name)
    except WeightsError:  # a cache file that was damaged since: export it again
        path = cached_export(source, name, notify=notify, replace=True)
        return OrtBackend.load(path, name)


def __getattr__(name):  # the backends' classes, imported on first use (onnxruntime is optional)
    if name == "TorchBackend":
        from .pytorch import TorchBackend
        return TorchBackend
    if name == "OrtBackend":
        from .onnxruntime import OrtBackend
        return OrtBackend
    raise AttributeError(f"module 'colorizer.backends' has no attribute {name!r}")


__all__ = ["DEFAULT", "NAMES", "Backend", "BackendError", "LoadedModel", "OrtBackend", "TorchBackend", "check_name",
           "load_backend"]
