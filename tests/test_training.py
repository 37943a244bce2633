"""Training: the loop (loss, resume, fine-tuning), the decoding a trained model ships with
and validates with, the run state (one atomic file, never unpickled), stopping cleanly on
Ctrl-C and SIGTERM and after SIGKILL, failed starts, and TrainConfig as the one list of
options (the CLI reads it)."""
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from colorizer import WeightsError
from colorizer.model_files import read_model_file
from colorizer.training import TrainConfig, train
from colorizer.training import loop as training_loop
from colorizer.training.state import load_train_checkpoint, load_train_state, save_train_state
from helpers import ctrl_c_in_training_at_step, signal_when

TINY = {"dec": [16, 16, 16, 16, 16]}
TIMEOUT = 600


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory):
    """24 small colour photos: smooth gradients in varied hues, plus a gray one to skip."""
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


@pytest.fixture(scope="module")
def reference(photo_dir, tmp_path_factory):
    """An uninterrupted run of two epochs (12 steps), to compare resumed runs with."""
    run = tmp_path_factory.mktemp("reference") / "run"
    train(_cfg(photo_dir, run, epochs=2))
    return run


def _same_weights(a, b, atol=1e-5):
    _, _, _, wa, _ = read_model_file(str(a / "last.safetensors"))
    _, _, _, wb, _ = read_model_file(str(b / "last.safetensors"))
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.allclose(wa[k].float(), wb[k].float(), atol=atol), k


def _state(run):
    return json.load(open(os.path.join(run, "state.json")))


# --- the loop ---------------------------------------------------------------------------------

@pytest.mark.parametrize("arch", ["unet", "seed"])
def test_a_few_steps_lower_the_loss(photo_dir, tmp_path, arch, capsys):
    train(_cfg(photo_dir, tmp_path / arch, arch=arch))
    state = _state(tmp_path / arch)
    hist = state["history"]
    assert len(hist) == 4  # one validation record per epoch
    assert hist[-1]["loss"] < hist[0]["loss"]
    assert {"val_psnr", "val_psnr_gray", "val_cf", "val_cf_true", "val_dcf", "val_photo_dcf"} <= set(hist[-1])
    grid = tmp_path / arch / "val_grid_step0000024.png"
    with Image.open(grid) as im:  # input | prediction | truth, 8 rows of 32-px crops under a header row
        assert im.size[0] >= 3 * 32 and im.size[1] == 22 + 8 * 32
    arch_saved, config, info, tensors, extra = read_model_file(str(tmp_path / arch / "model.safetensors"))
    assert arch_saved == arch
    if arch == "unet":
        assert {"bins", "class_weights", "prior"} <= set(extra)
    # the near-grayscale photo was skipped
    assert info["train_photos"] == 24
    # the progress shows each validation record as a readable line, not a JSON dict
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "val PSNR" in line]
    assert len(lines) == 4 and not any("{" in line for line in out.splitlines())
    assert lines[-1].startswith("step 24 (epoch 4), loss ") and f"val PSNR {hist[-1]['val_psnr']:.2f} dB" in lines[-1]


def test_resume_continues_at_the_same_step_with_the_same_weights(photo_dir, tmp_path, reference):
    part = tmp_path / "part"
    train(_cfg(photo_dir, part, epochs=2, max_minutes=1e-9))  # stops after its first step, with a checkpoint
    assert _state(part)["step"] == 1
    train({"out": str(part), "resume": True, "data": photo_dir, "val": photo_dir, "max_minutes": 0})
    assert _state(part)["step"] == _state(reference)["step"]
    _same_weights(reference, part)


def test_resume_with_other_epochs_says_how_the_learning_rate_moves(photo_dir, tmp_path, capsys):
    """A resumed run with a changed --epochs recomputes the cosine schedule: the jump in
    learning rate (what made the seed baseline worse in MODEL_CARD.md) is reported. Options
    a resumed run cannot change are not silently ignored either."""
    from colorizer.training.loop import lr_at
    run = tmp_path / "run"
    train(_cfg(photo_dir, run, epochs=1, max_minutes=1e-9, val=None, warmup=1))  # 6 steps planned, stops after 1
    capsys.readouterr()
    train({"out": str(run), "resume": True, "data": photo_dir, "epochs": 4, "max_minutes": 1e-9})
    msg = capsys.readouterr().out
    assert "--epochs changed from 1 to 4" in msg
    assert f"goes from {lr_at(1, 6, 3e-3, 1):.2e} to {lr_at(1, 24, 3e-3, 1):.2e}" in msg
    assert "note: reading" not in msg  # the same photos: nothing to say
    train({"out": str(run), "resume": True, "data": photo_dir, "max_minutes": 1e-9, "lr": 0.5, "batch": 4})
    msg = capsys.readouterr().out
    assert "--epochs changed" not in msg  # same epochs: no note
    assert "ignored --lr (the run's is 0.003)" in msg and "--batch" not in msg  # --batch 4 is the run's own
    assert _state(run)["config"]["lr"] == 3e-3


def test_resume_from_another_working_directory(photo_dir, tmp_path, monkeypatch):
    """A run started with relative paths resumes from anywhere: the state keeps absolute paths."""
    start, elsewhere = tmp_path / "start", tmp_path / "elsewhere"
    start.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(start)
    rel = os.path.relpath(photo_dir, start)
    train(_cfg(rel, "run", epochs=1, val=rel, max_minutes=1e-9))
    st = _state(start / "run")
    assert st["step"] == 1
    assert st["config"]["data"] == st["config"]["val"] == os.path.abspath(photo_dir)
    assert st["config"]["out"] == str(start / "run")
    monkeypatch.chdir(elsewhere)
    train({"out": "../start/run", "resume": True, "max_minutes": 0})
    assert _state(start / "run")["step"] == 6


def test_photos_given_on_resume_are_used_and_announced(photo_dir, tmp_path, capsys):
    fewer, gone = tmp_path / "fewer", tmp_path / "gone"
    fewer.mkdir()
    for f in sorted(os.listdir(photo_dir))[:8]:
        if f.endswith(".png"):
            shutil.copy(os.path.join(photo_dir, f), fewer / f)
    shutil.copytree(photo_dir, gone)
    run = tmp_path / "run"
    train(_cfg(str(gone), run, epochs=1, val=None, max_minutes=1e-9))
    shutil.rmtree(gone)
    with pytest.raises(FileNotFoundError, match=r"the run's training photos are not there \(pass --data"):
        train({"out": str(run), "resume": True})
    capsys.readouterr()
    train({"out": str(run), "resume": True, "data": str(fewer)})
    assert f"note: reading training photos from {fewer} (the run was started with {gone})" in capsys.readouterr().out
    assert _state(run)["config"]["data"] == str(fewer)
    assert read_model_file(str(run / "model.safetensors"))[2]["train_photos"] == 8


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
    st = _state(ft)
    assert st["step"] == 1  # a new schedule: 0.2 epochs of 6 steps, not the base run's steps
    assert st["config"]["init"] == str(base / "last.safetensors")
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
    assert not (tmp_path / "ft").exists()
    # without an architecture given, the init file's is used
    cfg = _cfg(photo_dir, tmp_path / "ft2", epochs=0.2, init=str(base / "last.safetensors"), val=None, model_config=None)
    del cfg["arch"]
    train(cfg)
    assert read_model_file(str(tmp_path / "ft2" / "model.safetensors"))[0] == "seed"


def test_l1_regression_loss_is_the_mean_absolute_error():
    from colorizer.networks import AB_SCALE
    from colorizer.training.losses import compute_loss
    ab = torch.zeros(1, 2, 8, 8)
    pred = torch.full((1, 2, 8, 8), 0.5 * AB_SCALE)
    _, mse = compute_loss("seed", {"ab": pred}, ab, {}, 1.0, "mse")
    _, l1 = compute_loss("seed", {"ab": pred}, ab, {}, 1.0, "l1")
    assert mse["mse"].item() == pytest.approx(0.25) and l1["l1"].item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="huber"):
        compute_loss("seed", {"ab": pred}, ab, {}, 1.0, "huber")


def test_training_weights_are_the_prior_commands(photo_dir, tmp_path):
    """`colorizer prior` computes the class weights exactly as training does."""
    from colorizer import bins as B
    from colorizer.training.data import PhotoSet
    from colorizer.training.prior import rebalancing, write_prior
    doc = write_prior(photo_dir, str(tmp_path / "prior.json"), lam=0.5, size=32, workers=1)
    assert json.loads((tmp_path / "prior.json").read_text()) == doc and doc["photos"] == 24
    extra = rebalancing(PhotoSet(photo_dir, 32, workers=1, progress=False), B.default_bins(), lam=0.5)
    assert np.allclose(doc["weights"], extra["class_weights"].numpy()) and np.allclose(doc["prior"], extra["prior"].numpy())


# --- the decoding a trained model ships with ----------------------------------------------------

def test_a_trained_model_decodes_with_min_risk_by_default(reference):
    from colorizer.colorizer import Colorizer
    for name in ("last.safetensors", "model.safetensors"):
        info = read_model_file(str(reference / name))[2]
        assert info["decoding"]["default"] == "min-risk"
        c = Colorizer.load(str(reference / name), device="cpu")
        assert c.default_decoding == "min-risk"
        assert c.decoders["min-risk"].settings() == {"tau": 1.0, "pool": 2}
    assert _state(reference)["decoding"] == info["decoding"]


def test_a_model_fine_tuned_from_a_file_without_decoding_settings_decodes_with_min_risk(photo_dir, tmp_path):
    """Older model files (those `colorizer train` wrote before) name no decoding: a model
    fine-tuned from one ships min-risk, not their implicit annealed mean."""
    from helpers import make_tiny_model_file
    init = make_tiny_model_file(tmp_path / "old.safetensors")
    assert "decoding" not in read_model_file(init)[2]
    train(_cfg(photo_dir, tmp_path / "ft", epochs=0.2, val=None, model_config=None, init=init))
    assert read_model_file(str(tmp_path / "ft" / "model.safetensors"))[2]["decoding"]["default"] == "min-risk"


def test_a_trained_model_decodes_with_annealed_mean_when_asked(photo_dir, tmp_path):
    from colorizer.colorizer import Colorizer
    run = tmp_path / "am"
    train(_cfg(photo_dir, run, epochs=0.2, val=None, decoding="annealed-mean", blend=0.3))
    info = read_model_file(str(run / "model.safetensors"))[2]
    assert info["decoding"]["default"] == "annealed-mean" and info["decoding"]["annealed-mean"] == {"blend": 0.3}
    c = Colorizer.load(str(run / "model.safetensors"), device="cpu")
    assert c.default_decoding == "annealed-mean" and c.decoders["annealed-mean"].blend == 0.3
    # fine-tuned from it, a model keeps its decoding, unless told otherwise
    train(_cfg(photo_dir, tmp_path / "ft", epochs=0.2, val=None, model_config=None, init=str(run / "model.safetensors")))
    assert read_model_file(str(tmp_path / "ft" / "model.safetensors"))[2]["decoding"] == info["decoding"]
    train(_cfg(photo_dir, tmp_path / "ft2", epochs=0.2, val=None, model_config=None, init=str(run / "model.safetensors"),
               decoding="min-risk"))
    d = read_model_file(str(tmp_path / "ft2" / "model.safetensors"))[2]["decoding"]
    assert d["default"] == "min-risk" and d["annealed-mean"] == {"blend": 0.3}


def test_a_seed_model_decodes_by_regression_and_refuses_a_class_decoding(photo_dir, tmp_path):
    run = tmp_path / "seed"
    train(_cfg(photo_dir, run, arch="seed", epochs=0.2, val=None))
    assert read_model_file(str(run / "model.safetensors"))[2]["decoding"] == {"default": "regression"}
    with pytest.raises(ValueError, match="colour-class models only"):
        train(_cfg(photo_dir, tmp_path / "bad", arch="seed", epochs=0.2, val=None, decoding="min-risk"))
    assert not (tmp_path / "bad").exists()


def test_validation_measures_what_the_shipped_decoder_gives(photo_dir, reference):
    """The last validation record equals the metrics of the photos decoded by the model
    file's own decoder (as Colorizer.load gives it), measured with metrics.Scores."""
    from colorizer.colorizer import Colorizer
    from colorizer.lab import lab_to_rgb
    from colorizer.merge import upsample_ab
    from colorizer.metrics import Scores
    from colorizer.options import ColorizeOptions
    from colorizer.training.data import PhotoSet
    rec = _state(reference)["history"][-1]
    c = Colorizer.load(str(reference / "last.safetensors"), device="cpu")  # saved at the last record's step
    photos = PhotoSet(photo_dir, 32, min_chroma=0, workers=1, limit=8, progress=False)
    lab = photos.batch(range(len(photos)), np.random.default_rng(0), augment=False)
    L = lab[:, :1]
    with torch.no_grad():
        ab = upsample_ab(c.decoder(ColorizeOptions())(c.backend(L), ColorizeOptions().vibrance), (32, 32))
    scores = Scores(metrics=("psnr", "cf"))
    scores.add(lab_to_rgb(torch.cat([L, ab], 1)).permute(0, 2, 3, 1).numpy(), lab_to_rgb(lab).permute(0, 2, 3, 1).numpy())
    s = scores.summary()
    assert rec["val_psnr"] == pytest.approx(s["psnr"], rel=1e-4)
    assert rec["val_cf"] == pytest.approx(s["cf"], rel=1e-3, abs=1e-3)
    assert rec["val_dcf"] == pytest.approx(s["dcf"], rel=1e-3, abs=1e-3)
    assert rec["val_cf_true"] == pytest.approx(s["cf_true"], rel=1e-6)


# --- failed starts ------------------------------------------------------------------------------

@pytest.mark.parametrize("problem", ["no_photos", "unknown_init", "missing_init", "bad_decoding"])
def test_a_failed_start_leaves_no_folder(photo_dir, tmp_path, problem):
    run = tmp_path / "runs" / "new"
    kw = {"no_photos": dict(data=str(tmp_path / "nothing")), "unknown_init": dict(init="no-such-model"),
          "missing_init": dict(init=str(tmp_path / "none.safetensors")), "bad_decoding": dict(decoding="median")}[problem]
    with pytest.raises((FileNotFoundError, WeightsError, ValueError)):
        train(_cfg(photo_dir, run, **kw))
    assert not run.exists() and not (tmp_path / "runs").exists()


# --- the options: one list (TrainConfig), read by the command line ------------------------------

def _train_parser():
    from colorizer.cli import build_parser
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return parser, sub.choices["train"]


def test_trainconfig_defaults_are_what_the_command_line_shows(monkeypatch):
    import dataclasses

    from colorizer import decoding
    from colorizer.cli.train import run as run_cli
    from colorizer.training.config import cli_fields, flag
    parser, train_parser = _train_parser()
    actions = {a.dest: a for a in train_parser._actions}
    flags = {flag(f) for f in cli_fields()}
    assert {"--data", "--val", "--model", "--out", "--size", "--batch", "--epochs", "--lr", "--resume", "--init", "--reg-loss",
            "--reg-weight", "--warmup", "--workers", "--threads", "--seed", "--lam", "--max-minutes", "--ckpt-minutes",
            "--limit", "--val-limit", "--decoding", "--blend", "--hints", "--hint-lr-scale", "--spread-weight"} == flags
    default = TrainConfig()
    for f in cli_fields():
        a = actions[f.name]
        shown = re.search(r"\(default: (.*)\)$", a.help)
        if f.name in ("out", "resume", "data", "hints"):  # required, or a flag
            assert shown is None, a.help
        elif f.metadata["shown"] is None:  # shown as is: it must be the dataclass's default
            assert shown and shown.group(1) == (f"{f.default:g}" if isinstance(f.default, float) else str(f.default)), a.help
            assert type(a.type(shown.group(1))) is type(getattr(default, f.name))
            assert a.type(shown.group(1)) == getattr(default, f.name)
        else:
            assert shown, a.help
    assert set(actions["decoding"].choices) <= set(decoding.NAMES)
    # nothing given, nothing passed on: the rest is TrainConfig's
    seen = {}
    args = parser.parse_args(["train", "--data", "photos", "--out", "run", "--epochs", "100"])
    monkeypatch.setattr(training_loop, "train", lambda options: seen.update(options))
    assert run_cli(args) == 0
    assert seen == {"data": "photos", "out": "run", "epochs": 100.0}
    assert TrainConfig.from_dict(seen) == dataclasses.replace(default, data="photos", out="run")


def test_trainconfig_check():
    assert TrainConfig(data="d", out="o").check().size == 256
    for bad, match in ((dict(size=0), "size"), (dict(reg_loss="huber"), "reg_loss"), (dict(arch="vit"), "arch"),
                       (dict(out=None), "out"), (dict(data=None), "data"), (dict(decoding="regression"), "decoding"),
                       (dict(arch="seed", decoding="min-risk"), "colour-class models only"), (dict(vibrance=2.0), "vibrance")):
        with pytest.raises(ValueError, match=match):
            TrainConfig(**{"data": "d", "out": "o", **bad}).check()


# --- Ctrl-C in the process ------------------------------------------------------------------------

def test_ctrl_c_writes_a_checkpoint_at_the_step_reached_and_resume_continues(photo_dir, tmp_path, monkeypatch, capsys,
                                                                           reference, request):
    """Ctrl-C (SIGINT) in the middle of step 3: the step is completed, a checkpoint at step 3
    is written, the message says how to resume, and the resumed run equals the reference."""
    real = training_loop.compute_loss
    ctrl_c_in_training_at_step(monkeypatch, request, 3)
    handler = signal.getsignal(signal.SIGINT)
    run = tmp_path / "run"
    with pytest.raises(training_loop.Interrupted) as ei:
        train(_cfg(photo_dir, run, epochs=2))
    assert ei.value.step == 3 and isinstance(ei.value, KeyboardInterrupt)
    assert signal.getsignal(signal.SIGINT) is handler  # restored
    err = capsys.readouterr().err
    assert f"interrupted at step 3: checkpoint written; resume with colorizer train --out {run} --resume" in err
    assert _state(run)["step"] == 3 and load_train_checkpoint(str(run))["state"]["step"] == 3
    assert read_model_file(str(run / "last.safetensors"))[2]["step"] == 3
    assert not (run / "model.safetensors").exists()  # only a finished run has its final model
    monkeypatch.setattr(training_loop, "compute_loss", real)
    train({"out": str(run), "resume": True})
    assert _state(run)["step"] == 12
    _same_weights(reference, run)


def test_a_keyboard_interrupt_raised_inside_a_step_still_leaves_a_checkpoint(photo_dir, tmp_path, monkeypatch, capsys):
    """A KeyboardInterrupt not sent as a signal (a thread other than the main one, a
    debugger) stops at once with a checkpoint at the last whole step; the command line
    exits with status 130."""
    calls = {"n": 0}
    real = training_loop.compute_loss

    def loss(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*a, **kw)
    monkeypatch.setattr(training_loop, "compute_loss", loss)
    run = tmp_path / "run"
    from colorizer.cli.train import run_options
    assert run_options(_cfg(photo_dir, run, epochs=1, val=None)) == 130  # the command line's exit status
    assert "interrupted at step 2: checkpoint written" in capsys.readouterr().err
    assert _state(run)["step"] == 2
    monkeypatch.setattr(training_loop, "compute_loss", real)
    train({"out": str(run), "resume": True})
    assert _state(run)["step"] == 6


# --- the run state ----------------------------------------------------------------------------------

class _Marker:
    """Unpickling this creates the file `path` (what a malicious pickle would do)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _one_line(msg):
    assert msg and "\n" not in msg and "\r" not in msg and len(msg) < 400, repr(msg)


def _opt():
    p = torch.nn.Parameter(torch.ones(3))
    opt = torch.optim.Adam([p], lr=0.1)
    p.grad = torch.ones(3)
    opt.step()
    return opt


def test_train_state_round_trip(tmp_path):
    opt = _opt()
    save_train_state(str(tmp_path), opt, {"step": 7, "total": 10, "config": {"arch": "unet"}, "history": []})
    state, opt_state = load_train_state(str(tmp_path))
    assert state["step"] == 7
    assert torch.equal(opt_state["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])


def test_train_checkpoint_in_one_file(tmp_path):
    """With the model, optimizer.pt holds the whole resumable checkpoint (weights, extra tensors,
    optimizer, step): what it says wins over a state.json left from another checkpoint."""
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    opt = torch.optim.Adam(model.parameters())
    bins = torch.randn(5, 2)
    save_train_state(str(tmp_path), opt, {"step": 1, "total": 4, "config": {"a": 1}, "history": [{"loss": 0.5}]},
                     model=model, extra={"bins": bins})
    (tmp_path / "state.json").write_text(json.dumps({"step": 0, "total": 4, "config": {}, "history": []}))  # a kill in between
    ck = load_train_checkpoint(str(tmp_path))
    assert ck["state"] == {"step": 1, "total": 4, "config": {"a": 1}, "history": [{"loss": 0.5}]}
    assert ck["model"].keys() == model.state_dict().keys()
    assert all(torch.equal(ck["model"][k], v) for k, v in model.state_dict().items())
    assert torch.equal(ck["extra"]["bins"], bins)
    state, opt_state = load_train_state(str(tmp_path))
    assert state["step"] == 1 and opt_state.keys() == opt.state_dict().keys()


def test_train_state_malicious_optimizer_file_is_not_unpickled(tmp_path):
    save_train_state(str(tmp_path), _opt(), {"step": 1, "total": 2, "config": {}, "history": []})
    marker = tmp_path / "UNPICKLED"
    buf = io.BytesIO()
    torch.save({"state": {}, "param_groups": [], "evil": _Marker(str(marker))}, buf)
    (tmp_path / "optimizer.pt").write_bytes(buf.getvalue())
    with pytest.raises(WeightsError) as ei:
        load_train_state(str(tmp_path))
    _one_line(str(ei.value))
    assert "optimizer.pt" in str(ei.value)
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["optimizer_truncated", "optimizer_garbage", "state_not_json", "state_wrong_type",
                                    "state_missing"])
def test_train_state_damaged(tmp_path, damage):
    save_train_state(str(tmp_path), _opt(), {"step": 1, "total": 2, "config": {}, "history": []})
    opt_path, state_path = tmp_path / "optimizer.pt", tmp_path / "state.json"
    if damage == "optimizer_truncated":
        opt_path.write_bytes(opt_path.read_bytes()[:200])
    elif damage == "optimizer_garbage":
        opt_path.write_bytes(os.urandom(3000))
    elif damage == "state_not_json":
        state_path.write_text('{"step": 1, ')
    elif damage == "state_wrong_type":
        state_path.write_text('{"step": "1", "config": {}}')
    else:
        state_path.unlink()
    with pytest.raises(WeightsError) as ei:
        load_train_state(str(tmp_path))
    _one_line(str(ei.value))


# --- killed, terminated, interrupted: subprocesses ------------------------------------------------
# Training runs in subprocesses, through the command line's own handling (exit status 130
# after Ctrl-C or SIGTERM), with options the command line does not offer (a tiny network).

TRAIN_SCRIPT = """
import json, sys
from colorizer.cli.train import run_options
sys.exit(run_options(json.loads(sys.argv[1])))
"""


def _env():
    return dict(os.environ, PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1")


@pytest.fixture(scope="module")
def train_data(tmp_path_factory):
    d = tmp_path_factory.mktemp("traindata")
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:40, 0:40] / 39.0
    for i in range(24):
        c0, c1, c2 = rng.uniform(0, 255, (3, 3))
        arr = c0 + np.multiply.outer(x, c1 - c0) + np.multiply.outer(y, c2 - c0) * 0.5
        arr += rng.normal(0, 6, arr.shape)
        Image.fromarray(arr.clip(0, 255).astype(np.uint8), "RGB").save(d / f"t{i:02d}.png")
    return str(d)


def _train_cfg(data, out, resume=False):
    return {"data": data, "out": out, "arch": "unet", "size": 32, "batch": 4, "epochs": 2, "ckpt_minutes": 0.001,
            "threads": 1, "workers": 1, "seed": 0, "pretrained": False, "model_config": {"dec": [16, 16, 16, 16, 16]},
            "resume": resume}


def _train(cfg, **popen):
    return subprocess.Popen([sys.executable, "-c", TRAIN_SCRIPT, json.dumps(cfg)], env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **popen)


def _finish(proc):
    out, _ = proc.communicate(timeout=TIMEOUT)
    out = out.decode("utf-8", "replace")
    if proc.returncode != 0:
        pytest.fail(f"training failed (exit {proc.returncode}):\n{out[-3000:]}")
    return out


def _checkpoint_steps(run):
    """(step in state.json, step in last.safetensors' info, step of the optimizer's Adam state);
    -1 for a file not there or unreadable."""
    try:
        opt = torch.load(os.path.join(run, "optimizer.pt"), weights_only=True)
        opt = opt.get("optimizer", opt)  # a whole checkpoint, or the optimizer's state alone
        o = int(next(iter(opt["state"].values()))["step"])
    except Exception:  # noqa: BLE001 - diagnostics only
        o = -1
    return _state_step(run), _weights_step(run), o


def _weights_step(run):
    from safetensors import safe_open
    try:
        with safe_open(os.path.join(run, "last.safetensors"), "pt") as f:
            return json.loads(f.metadata()["info"])["step"]
    except Exception:  # noqa: BLE001 - not there yet
        return -1


def _state_step(run):
    try:
        with open(os.path.join(run, "state.json")) as f:
            return json.load(f)["step"]
    except (OSError, ValueError):
        return -1


def _inside_checkpoint(run):
    """True while a checkpoint (after the first) is half written: state.json and
    last.safetensors hold different steps, whichever order they are written in."""
    s = _state_step(run)
    return s >= 1 and _weights_step(run) >= 1 and s != _weights_step(run)


STOPPED = ("after_checkpoint", "inside_checkpoint", "sigterm")


@pytest.fixture(scope="module")
def train_runs(train_data, tmp_path_factory):
    """Four training runs at once: the reference (uninterrupted); "after_checkpoint", killed
    (SIGKILL) as soon as its first checkpoint is complete (state.json written);
    "inside_checkpoint", killed while a checkpoint is being written (last.safetensors and
    state.json disagree); "sigterm", sent SIGTERM once its first checkpoint is written (Ctrl-C
    is tested in the process, above). Then the stopped runs are resumed (at once). Returns their
    folders, the checkpoint steps (state.json, last.safetensors, optimizer.pt) found at the
    stop, and the exit status and output of each."""
    base = tmp_path_factory.mktemp("train")
    runs = {k: str(base / k) for k in ("reference", *STOPPED)}
    procs = {k: _train(_train_cfg(train_data, run)) for k, run in runs.items()}
    first = {k: (lambda run=runs[k]: os.path.exists(os.path.join(run, "state.json"))) for k in STOPPED}
    sent = signal_when({"after_checkpoint": (procs["after_checkpoint"], first["after_checkpoint"], signal.SIGKILL),
                         "inside_checkpoint": (procs["inside_checkpoint"], lambda: _inside_checkpoint(runs["inside_checkpoint"]),
                                               signal.SIGKILL),
                         "sigterm": (procs["sigterm"], first["sigterm"], signal.SIGTERM)})
    res = {"reference": runs["reference"], "total": None}
    for k in STOPPED:
        log, _ = procs[k].communicate(timeout=120)
        expected = -signal.SIGKILL if "checkpoint" in k else 130
        res[k] = dict(run=runs[k], killed=bool(sent.get(k)) and procs[k].returncode == expected, rc=procs[k].returncode,
                      log=log.decode("utf-8", "replace"), killed_at=_checkpoint_steps(runs[k]))
    resumes = {k: _train(_train_cfg(train_data, runs[k], resume=True)) for k in STOPPED if res[k]["killed"]}
    _finish(procs["reference"])
    for k, proc in resumes.items():
        log, _ = proc.communicate(timeout=TIMEOUT)
        res[k].update(resume_rc=proc.returncode, resume_log=log.decode("utf-8", "replace"))
    res["total"] = json.load(open(os.path.join(runs["reference"], "state.json")))["total"]
    return res


def _compare_with_reference(r, res):
    # preconditions fail with pytest.fail: they say the test could not be set up, not that resume is wrong
    if not r["killed"]:
        pytest.fail(f"the stop never came (the run ended first; exit {r['rc']}):\n{r['log'][-3000:]}")
    killed_at = r["killed_at"]
    if not 0 <= killed_at[0] < res["total"]:
        pytest.fail(f"not stopped mid-run: steps at the stop {killed_at}, total {res['total']}")
    if r["resume_rc"] != 0:
        pytest.fail("--resume failed:\n" + r["resume_log"][-3000:])
    a = load_file(os.path.join(res["reference"], "last.safetensors"))
    b = load_file(os.path.join(r["run"], "last.safetensors"))
    assert a.keys() == b.keys()
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, (f"resumed weights differ from the uninterrupted run in {len(differ)} of {len(a)} tensors "
                        f"(e.g. {differ[:3]}); at the stop, steps (state.json, last.safetensors, optimizer.pt) = {killed_at}")
    assert json.load(open(os.path.join(r["run"], "state.json")))["step"] == res["total"]
    assert f"resumed {r['run']} at step {killed_at[2]}/{res['total']}" in r["resume_log"]  # the optimizer's step


def test_train_sigkill_then_resume_equals_uninterrupted(train_runs):
    """SIGKILL as soon as the first checkpoint is complete, then --resume: the final weights
    equal those of the uninterrupted run of the same seed (torch.equal, every tensor)."""
    _compare_with_reference(train_runs["after_checkpoint"], train_runs)


def test_train_sigkill_inside_a_checkpoint_write_then_resume_equals_uninterrupted(train_runs):
    """SIGKILL while a checkpoint is being written: when one of last.safetensors and
    state.json already holds the new step and the other does not yet."""
    _compare_with_reference(train_runs["inside_checkpoint"], train_runs)


def test_train_sigterm_stops_with_a_checkpoint_then_resume_equals_uninterrupted(train_runs):
    """SIGTERM (kill, a closing terminal, a service manager) stops training as Ctrl-C does:
    exit status 130, a checkpoint at the step reached (every file agrees), a message that
    says how to resume, no traceback; the resumed run equals the uninterrupted one."""
    r = train_runs["sigterm"]
    _compare_with_reference(r, train_runs)
    assert r["rc"] == 130 and "Traceback" not in r["log"], r["log"][-3000:]
    step = r["killed_at"][0]
    assert r["killed_at"] == (step, step, step)
    expected = f"interrupted (SIGTERM) at step {step}: checkpoint written; resume with colorizer train --out {r['run']} --resume"
    assert expected in r["log"]


def test_init_from_a_model_with_a_fast_head_trains_without_it(photo_dir, tmp_path, capsys):
    """A fast head copies the network it was distilled from: training goes on without it
    (it would go stale, and DDP would find its weights unused) and says so."""
    from helpers import make_tiny_model_file
    fast = make_tiny_model_file(tmp_path / "fast.safetensors", fast_head=True)
    train(_cfg(photo_dir, tmp_path / "ft", epochs=0.2, warmup=1, model_config=None, init=fast, val=None))
    assert "fast head is left out" in capsys.readouterr().out
    _, config, _, state, _ = read_model_file(str(tmp_path / "ft" / "model.safetensors"))
    assert "fast_head" not in config and not any(k.startswith("fast_head.") for k in state)
