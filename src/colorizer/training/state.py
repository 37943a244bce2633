"""The training-state checkpoint of a run folder: optimizer.pt (weights, extra tensors,
optimizer state and the run's state in ONE file, replaced by ONE atomic rename) and a
readable copy of the state in state.json. Read back by torch.load with weights_only=True,
so a tampered file cannot run code."""
import json
import os

import torch

from ..files import atomic_write, atomic_write_text
from ..model_files import WeightsError

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
