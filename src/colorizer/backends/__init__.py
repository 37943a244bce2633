"""Backends run the network. Whatever runs it, a backend is called the same way:

    backend(L)          L (B, 1, h, w) float32 in [0, 100], the working size
    backend(L, hints)   and hints (B, 3, h, w) for a hint-aware network (see networks.UNet)
    -> {"logits": (B, Q, h', w'), "ab": (B, 2, h', w')}   torch tensors (see colorizer.networks)
    backend(L, outputs=decoder.reads(backend.outputs))
    -> only those outputs: a decoder's, so that nothing else is computed; "logits_pool2"
       (bins.POOLED_LOGITS: the scores averaged over 2x2 blocks, for min-risk decoding;
       bins.FAST_LOGITS: the same from a network's fast head, used without hints) comes as
       "logits" where it would not be exact (see networks.UNet.forward)

and says `outputs` (the names of the outputs it can give), `takes_hints`, `name` and
`device`, so that colorizer.decoding decodes either backend's outputs the same way.

    auto          the default: onnxruntime for a bundled model that ships its .onnx export
                  (the default model) and for .onnx files, on the CPU; torch otherwise (a
                  GPU, a model file of your own, the seed baseline, no ONNX Runtime)
    torch         pytorch.TorchBackend     the network in PyTorch, on any device
    onnxruntime   onnxruntime.OrtBackend   the network exported to ONNX (colorizer.export), in ONNX Runtime on the CPU

Why ONNX Runtime by default: on a plain CPU it runs the same network about twice as fast
as PyTorch, with the same colours (mean CIEDE2000 between the two 0.00002;
benchmarks/onnx_parity.py, docs/performance.md). load_backend() makes one from a model's
name or file. ONNX Runtime is a dependency; if it cannot be imported, auto falls back to
PyTorch and asking for onnxruntime is a BackendError that says how to install it."""
import os
from dataclasses import dataclass, field

import torch

from ..bundled import resolve_model, shipped_onnx
from ..model_files import WeightsError, read_model_file

# ONNX Runtime's official builds collect telemetry on Linux and macOS too (since 2026): on
# loading they write a device id under ~/.cache/Microsoft/DeveloperTools and send events,
# unless ORT_DISABLE_TELEMETRY=1 is set before it loads. colorizer opts out for its users,
# before any of its modules imports onnxruntime (set ORT_DISABLE_TELEMETRY=0 to opt in).
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

NAMES = ("auto", "torch", "onnxruntime")
DEFAULT = "auto"
INSTALL_HINT = "pip install onnxruntime (a dependency of photo-colorizer: reinstall it)"
EXPORT_HINT = "pip install onnx (a dependency of photo-colorizer: reinstall it)"


class BackendError(Exception):
    """A backend that cannot run here: its library is not installed, or it cannot use the device."""


class Backend:
    """What every backend is (see the module docstring)."""

    name = ""
    device = torch.device("cpu")
    outputs = ()           # the names of the network's outputs: "logits" and/or "ab"
    takes_hints = False    # whether the network takes point hints

    def prepare(self, outputs):
        """Get ready to compute `outputs` (a decoder's reads), so that the first call is not
        slower than the others."""

    def __call__(self, L, hints=None, outputs=None):
        """L (B, 1, h, w) (and hints (B, 3, h, w)) -> a dict of output tensors (those named
        in `outputs`; default: the network's own, without the pooled scores)."""
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


def onnxruntime_installed():
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def choose(model=None, backend=None, device=None):
    """The backend that runs `model`: `backend` itself unless it is "auto" (or None), which
    is onnxruntime for a .onnx file and, on the CPU, for a bundled model that ships its
    export (bundled.shipped_onnx), and torch otherwise."""
    backend = check_name(backend)
    if backend != "auto":
        return backend
    if is_onnx_file(model):
        return "onnxruntime"
    on_cpu = torch.device(device).type == "cpu" if device is not None else not torch.cuda.is_available()
    if not on_cpu or not onnxruntime_installed():
        return "torch"
    try:
        path, name = resolve_model(model)
    except WeightsError:
        return "torch"  # load_backend says why
    return "onnxruntime" if shipped_onnx(path) else "torch"


def load_backend(model=None, backend=None, device=None, notify=None):
    """A LoadedModel from a bundled model's name ("default", None: the default one), a
    .safetensors model file or a .onnx file (colorizer export), run by `backend` ("auto",
    None: see choose()). With onnxruntime, a bundled model runs its shipped export, and one
    without (or a .safetensors file) is exported on first use into a cache
    (colorizer.export.cache_dir()); `notify(line)` says where, once (default: stderr).
    WeightsError (a model that cannot be used) or BackendError (a backend that cannot run
    here), each one line."""
    backend = choose(model, backend, device)
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
    shipped = shipped_onnx(source)
    if shipped:  # the export that ships beside the bundled weights
        return OrtBackend.load(shipped, name)
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
           "choose", "load_backend"]
