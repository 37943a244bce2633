"""Saving and loading model files (safetensors only) and training state, atomically."""
import json
import os
import re
import stat
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


_TEMP_NAME = re.compile(r"^\.(?P<final>.+)\.[a-z0-9_]{8}\.tmp$")


def remove_stale_temps(folder, before, names):
    """Delete the temporary files that atomic_write left in folder when its process was killed
    (SIGKILL, power loss) while writing one of the files `names`: hidden '.NAME.XXXXXXXX.tmp'
    files, for NAME in names, last written before the time `before` (so a concurrent writer's
    files are left alone). Not recursive. Returns the removed paths."""
    removed = []
    try:
        entries = os.listdir(folder)
    except OSError:
        return removed
    for f in entries:
        m = _TEMP_NAME.match(f)
        if not m or m.group("final") not in names:
            continue
        p = os.path.join(folder, f)
        try:
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode) and st.st_mtime < before:
                os.unlink(p)
                removed.append(p)
        except OSError:
            pass
    return removed


TRAIN_STATE_FORMAT = "colorizer-train/2"


def save_train_state(run_dir, optimizer, state, model=None, extra=None):
    """Optimizer tensors via torch.save (read back with weights_only=True) and a JSON of the rest.

    With `model` (and its `extra` tensors), optimizer.pt also holds the model's weights and a
    copy of `state`: a whole training checkpoint in ONE file, replaced by ONE atomic rename, so
    a kill at any moment leaves a consistent checkpoint to resume from (last.safetensors and
    state.json, written separately, may then be one checkpoint ahead or behind)."""
    if model is None:
        payload = optimizer.state_dict()
    else:
        payload = {"format": TRAIN_STATE_FORMAT, "state": json.dumps(state), "optimizer": optimizer.state_dict(),
                   "model": {k: v.detach().cpu() for k, v in model.state_dict().items() if not k.startswith("embedder.")},
                   "extra": {k: v.detach().cpu() for k, v in (extra or {}).items()}}
    atomic_write(os.path.join(run_dir, "optimizer.pt"), lambda tmp: torch.save(payload, tmp))
    atomic_write_text(os.path.join(run_dir, "state.json"), json.dumps(state, indent=2))


def load_train_checkpoint(run_dir):
    """{"state", "optimizer", "model", "extra"} of a run folder. "model" and "extra" (tensor
    dicts) are None for checkpoints saved without a model (the weights are then in
    last.safetensors). optimizer.pt is read with weights_only=True, so a tampered file cannot
    run code. Raises WeightsError with a one-line reason."""
    try:
        opt = torch.load(os.path.join(run_dir, "optimizer.pt"), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - UnpicklingError, RuntimeError, EOFError, OSError...
        msg = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
        raise WeightsError(f"{run_dir}: unreadable optimizer state optimizer.pt ({msg})") from None
    if isinstance(opt, dict) and opt.get("format") == TRAIN_STATE_FORMAT:
        try:
            state = json.loads(opt["state"])
            ck = {"state": state, "optimizer": opt["optimizer"], "model": dict(opt["model"]), "extra": dict(opt["extra"])}
        except (KeyError, TypeError, ValueError):
            raise WeightsError(f"{run_dir}: corrupt training state optimizer.pt") from None
    else:
        try:
            with open(os.path.join(run_dir, "state.json"), encoding="utf-8") as f:
                state = json.load(f)
        except (OSError, ValueError) as e:
            raise WeightsError(f"{run_dir}: unreadable training state state.json ({str(e).splitlines()[0][:120]})") from None
        ck = {"state": state, "optimizer": opt, "model": None, "extra": None}
    if not isinstance(state, dict) or not isinstance(state.get("step"), int) or not isinstance(state.get("config"), dict):
        raise WeightsError(f"{run_dir}: corrupt training state")
    if not isinstance(ck["optimizer"], dict) or "state" not in ck["optimizer"] or "param_groups" not in ck["optimizer"]:
        raise WeightsError(f"{run_dir}: corrupt optimizer state optimizer.pt")
    return ck


def load_train_state(run_dir):
    """(state dict, optimizer state dict); see load_train_checkpoint."""
    ck = load_train_checkpoint(run_dir)
    return ck["state"], ck["optimizer"]
