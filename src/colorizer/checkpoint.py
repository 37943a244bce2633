"""Saving and loading model files (safetensors only) and training state, atomically."""
import json
import os
import tempfile

import torch
from safetensors import SafetensorError as SafetensorsError
from safetensors.torch import load_file, save_file

FORMAT = "colorizer/1"


def _umask():
    m = os.umask(0)
    os.umask(m)
    return m


_FILE_MODE = 0o666 & ~_umask()


class WeightsError(Exception):
    """A model file that cannot be used (missing, truncated, tampered, wrong format)."""


def atomic_write(path, write_fn, suffix=".tmp"):
    """Write through write_fn(tmp_path) then rename over path: readers never see a partial file."""
    d = os.path.dirname(os.path.abspath(path)) or "."
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix="." + os.path.basename(path) + ".", suffix=suffix)
    os.close(fd)
    try:
        write_fn(tmp)
        os.chmod(tmp, _FILE_MODE)  # mkstemp makes 0600; give the file the usual permissions
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_text(path, text):
    def w(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
    atomic_write(path, w)


def save_model(path, model, arch, config, extra=None, dtype=None, info=None):
    """Save a model's weights (plus extra tensors such as colour bins) as safetensors.

    Frozen sub-networks loaded from a package (the seed's classifier) are not stored."""
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("embedder.")}
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
        from safetensors import safe_open
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
    state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    extra = {k[6:]: v for k, v in tensors.items() if k.startswith("extra.")}
    return meta.get("arch"), config, info, state, extra


def save_train_state(run_dir, optimizer, state):
    """Optimizer tensors via torch.save (read back with weights_only=True) and a JSON of the rest."""
    atomic_write(os.path.join(run_dir, "optimizer.pt"), lambda tmp: torch.save(optimizer.state_dict(), tmp))
    atomic_write_text(os.path.join(run_dir, "state.json"), json.dumps(state, indent=2))


def load_train_state(run_dir):
    with open(os.path.join(run_dir, "state.json"), encoding="utf-8") as f:
        state = json.load(f)
    opt = torch.load(os.path.join(run_dir, "optimizer.pt"), map_location="cpu", weights_only=True)
    return state, opt
