import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from colorizer.checkpoint import read_model_file
from colorizer.train import train

TINY = {"dec": [16, 16, 16, 16, 16]}


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory):
    """24 small colour photos: smooth gradients in varied hues, plus 2 grays to skip."""
    d = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:40, 0:48] / 40.0
    for i in range(24):
        c0, c1 = rng.random(3), rng.random(3)
        img = (c0 * (1 - x[..., None]) + c1 * y[..., None]).clip(0, 1)
        Image.fromarray((img * 255).astype(np.uint8)).save(d / f"p{i:02d}.png")
    os.makedirs(d / "sub", exist_ok=True)
    Image.fromarray((y * 255).astype(np.uint8)).convert("RGB").save(d / "sub" / "gray.jpg")
    return str(d)


def _cfg(photo_dir, out, arch="unet", **kw):
    cfg = dict(data=photo_dir, val=photo_dir, arch=arch, out=str(out), size=32, batch=4, epochs=4, lr=3e-3,
               threads=1, workers=1, pretrained=False, warmup=1, val_limit=8, seed=0,
               model_config=TINY if arch == "unet" else {"width": 8})
    cfg.update(kw)
    return cfg


@pytest.mark.parametrize("arch", ["unet", "seed"])
def test_a_few_steps_lower_the_loss(photo_dir, tmp_path, arch):
    train(_cfg(photo_dir, tmp_path / arch, arch=arch))
    state = json.load(open(tmp_path / arch / "state.json"))
    hist = state["history"]
    assert len(hist) == 4  # one validation record per epoch
    assert hist[-1]["loss"] < hist[0]["loss"]
    assert os.path.exists(tmp_path / arch / "val_grid_step0000004.png") or any(
        f.startswith("val_grid") for f in os.listdir(tmp_path / arch))
    arch_saved, config, info, tensors, extra = read_model_file(str(tmp_path / arch / "model.safetensors"))
    assert arch_saved == arch
    if arch == "unet":
        assert {"bins", "class_weights", "prior"} <= set(extra)
    # the near-grayscale photo was skipped
    assert info["train_photos"] == 24


def test_resume_continues_at_the_same_step_with_the_same_weights(photo_dir, tmp_path):
    full = tmp_path / "full"
    train(_cfg(photo_dir, full, epochs=2))
    part = tmp_path / "part"
    train(_cfg(photo_dir, part, epochs=2, max_minutes=1e-9))  # stops after its first step, with a checkpoint
    st = json.load(open(part / "state.json"))
    assert st["step"] == 1
    _, _, _, w1, _ = read_model_file(str(part / "last.safetensors"))
    train({"out": str(part), "resume": True, "data": photo_dir, "val": photo_dir, "max_minutes": 0})
    st = json.load(open(part / "state.json"))
    assert st["step"] == json.load(open(full / "state.json"))["step"]
    _, _, _, a, _ = read_model_file(str(full / "last.safetensors"))
    _, _, _, b, _ = read_model_file(str(part / "last.safetensors"))
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=1e-5), k


def test_resume_with_other_epochs_says_how_the_learning_rate_moves(photo_dir, tmp_path, capsys):
    """A resumed run with a changed --epochs recomputes the cosine schedule: the jump in
    learning rate (what made the seed baseline worse in MODEL_CARD.md) is reported."""
    from colorizer.train import lr_at
    run = tmp_path / "run"
    train(_cfg(photo_dir, run, epochs=1, max_minutes=1e-9, val=None, warmup=1))  # 6 steps planned, stops after 1
    capsys.readouterr()
    train({"out": str(run), "resume": True, "data": photo_dir, "epochs": 4, "max_minutes": 1e-9})
    msg = capsys.readouterr().out
    assert "--epochs changed from 1 to 4" in msg
    assert f"goes from {lr_at(1, 6, 3e-3, 1):.2e} to {lr_at(1, 24, 3e-3, 1):.2e}" in msg
    train({"out": str(run), "resume": True, "data": photo_dir, "max_minutes": 1e-9})  # same epochs: no note
    assert "--epochs changed" not in capsys.readouterr().out


def test_init_fine_tunes_from_a_model_file(photo_dir, tmp_path):
    """--init starts from the file's weights and architecture config (not from scratch),
    with a fresh schedule, and keeps the file's colour bins."""
    base = tmp_path / "base"
    train(_cfg(photo_dir, base, epochs=2))
    _, config, _, w0, extra0 = read_model_file(str(base / "last.safetensors"))
    ft = tmp_path / "ft"
    # no model_config given: it must come from the init file, or the weights would not fit
    train(_cfg(photo_dir, ft, epochs=0.2, lr=1e-12, warmup=1, model_config=None, init=str(base / "last.safetensors"), val=None))
    _, config1, _, w1, extra1 = read_model_file(str(ft / "last.safetensors"))
    assert config1 == config
    assert torch.equal(extra1["bins"], extra0["bins"])
    st = json.load(open(ft / "state.json"))
    assert st["step"] == 1  # a new schedule: 0.2 epochs of 6 steps, not the base run's steps
    # a learning rate of 1e-12 leaves the weights where the init file put them (the
    # BatchNorm statistics move on with the one step: its counter shows it carried on)
    assert w1["blocks.0._bn1.num_batches_tracked"] == w0["blocks.0._bn1.num_batches_tracked"] + 1
    for k in w0:
        if "running_" in k or "num_batches" in k:
            continue
        assert torch.allclose(w0[k].float(), w1[k].float(), atol=1e-6), k


def test_init_takes_the_files_architecture_and_rejects_another(photo_dir, tmp_path):
    base = tmp_path / "base"
    train(_cfg(photo_dir, base, arch="seed", epochs=0.2, val=None))
    with pytest.raises(ValueError, match="seed"):
        train(_cfg(photo_dir, tmp_path / "ft", epochs=0.2, init=str(base / "last.safetensors"), val=None))
    # without an architecture given, the init file's is used
    cfg = _cfg(photo_dir, tmp_path / "ft2", epochs=0.2, init=str(base / "last.safetensors"), val=None, model_config=None)
    del cfg["arch"]
    train(cfg)
    assert read_model_file(str(tmp_path / "ft2" / "model.safetensors"))[0] == "seed"


def test_l1_regression_loss_is_the_mean_absolute_error():
    from colorizer.models import AB_SCALE
    from colorizer.train import compute_loss
    ab = torch.zeros(1, 2, 8, 8)
    pred = torch.full((1, 2, 8, 8), 0.5 * AB_SCALE)
    _, mse = compute_loss("seed", {"ab": pred}, ab, {}, 1.0, "mse")
    _, l1 = compute_loss("seed", {"ab": pred}, ab, {}, 1.0, "l1")
    assert mse["mse"].item() == pytest.approx(0.25) and l1["l1"].item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="huber"):
        compute_loss("seed", {"ab": pred}, ab, {}, 1.0, "huber")
