"""Model files: a network's weights, its extra tensors (colour bins, class weights) and
metadata (architecture, config, training and decoding notes) in one safetensors file,
written atomically. Never pickle: a model file a user downloads cannot run code."""
import json
import os

from safetensors import SafetensorError as SafetensorsError
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from .files import atomic_write

FORMAT = "colorizer/1"


class WeightsError(Exception):
    """A model file that cannot be used (missing, truncated, tampered, wrong format)."""


def save_model(path, model, arch, config, extra=None, dtype=None, info=None):
    """Save a model's weights (plus extra tensors such as colour bins) as safetensors.

    Frozen sub-networks loaded from a package (the seed's classifier) are not stored."""
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("embedder.")}
    write_model_file(path, arch, config, state, extra, dtype=dtype, info=info)


def write_model_file(path, arch, config, state, extra=None, dtype=None, info=None):
    """The file save_model writes, from a state dict (what read_model_file returns):
    floating-point weights cast to `dtype` when given, extra tensors as float32."""
    tensors = {}
    for k, v in state.items():
        v = v.detach().cpu()
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        tensors["model." + k] = v.contiguous()
    for k, v in (extra or {}).items():
        tensors["extra." + k] = v.detach().cpu().float().contiguous()
    meta = {"format": FORMAT, "arch": arch, "config": json.dumps(config), "info": json.dumps(info or {})}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=meta))


def read_model_file(path):
    """Returns (arch, config, info, model_state, extra) or raises WeightsError."""
    if not os.path.isfile(path):
        raise WeightsError(f"{path}: no such model file")
    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(path)
    except (SafetensorsError, OSError, ValueError, RuntimeError) as e:
        raise WeightsError(f"{path}: not a readable safetensors file ({str(e).splitlines()[0][:120]})") from None
    if meta.get("format") != FORMAT:
        raise WeightsError(f"{path}: not a colorizer model file (metadata format={meta.get('format')!r})")
    try:
        config = json.loads(meta.get("config", "{}"))
        info = json.loads(meta.get("info", "{}"))
    except json.JSONDecodeError:
        raise WeightsError(f"{path}: corrupt metadata") from None
    arch = meta.get("arch")
    if not isinstance(arch, str) or not arch:
        raise WeightsError(f"{path}: corrupt metadata (no architecture name)")
    if not isinstance(config, dict) or not isinstance(info, dict):
        raise WeightsError(f"{path}: corrupt metadata (config and info must be JSON objects)")
    state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    extra = {k[6:]: v for k, v in tensors.items() if k.startswith("extra.")}
    if not state:
        raise WeightsError(f"{path}: the file holds no model weights")
    bins = extra.get("bins")
    if bins is not None and (bins.ndim != 2 or bins.shape[1] != 2 or bins.shape[0] < 2
                             or bins.shape[0] != config.get("num_bins", bins.shape[0])):
        raise WeightsError(f"{path}: colour bins of shape {tuple(bins.shape)} do not fit the model "
                           f"(expected ({config.get('num_bins', 'Q')}, 2))")
    return arch, config, info, state, extra
