"""Issue 5, "never lose a file": killing `colorize` or training at any moment.

(a) colorize: SIGKILL mid-batch leaves only complete outputs under their final names
    (plus, at most, hidden temporary files, removed by the next run); --skip-existing
    then completes the batch. SIGTERM stops cleanly (exit 130, no temporary file left).
(b) training: SIGKILL after the first checkpoint, then --resume, gives exactly the
    weights of an uninterrupted run with the same seed."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import badinputs as bi

TEMP = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")  # checkpoint.atomic_write's temporary names
N_IMAGES = 30
TIMEOUT = 600


def _env():
    return dict(os.environ, PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1")


def _colorize_cmd(src, out, model, *extra):
    return [sys.executable, "-m", "colorizer", "colorize", src, "-o", out, "--model", model, "--size", "128", *extra]


def _wait_for(pred, proc, timeout=TIMEOUT, every=0.01):
    t = time.monotonic()
    while time.monotonic() - t < timeout:
        if pred():
            return True
        if proc.poll() is not None:
            return pred()
        time.sleep(every)
    return False


def _final_outputs(out):
    return sorted(f for f in os.listdir(out) if not f.startswith(".")) if os.path.isdir(out) else []


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    src = tmp_path_factory.mktemp("batch")
    for i in range(N_IMAGES):
        bi.gray_picture(160, 120, seed=i).save(src / f"p{i:02d}.png")
    return str(src)


def _check_outputs_complete(out):
    """Every visible file is a final output that decodes completely; hidden files can only be
    atomic_write's temporary files. Returns (final names, temporary names)."""
    finals, temps = [], []
    for f in os.listdir(out):
        if f.startswith("."):
            assert TEMP.match(f), f"unexpected hidden file {f!r}"
            temps.append(f)
            continue
        assert re.fullmatch(r"p\d\d\.png", f), f"non-final name {f!r}"
        with Image.open(os.path.join(out, f)) as im:
            im.load()  # raises on a partial file
            assert im.size == (160, 120)
        finals.append(f)
    return sorted(finals), temps


def test_sigkill_mid_batch_then_skip_existing(batch, tiny_model_path, tmp_path):
    out = str(tmp_path / "OUT")
    before = bi.snapshot(batch)
    proc = subprocess.Popen(_colorize_cmd(batch, out, tiny_model_path, "-q"), env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert _wait_for(lambda: len(_final_outputs(out)) >= 2, proc), "no output appeared"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    finals, temps = _check_outputs_complete(out)
    assert 2 <= len(finals) < N_IMAGES, f"killed too late to test anything ({len(finals)} done)"

    # a temporary file left by a kill during a write, from an earlier run: the next run removes it
    stale = os.path.join(out, ".p29.png.abcd_123.tmp")
    with open(stale, "wb") as f:
        f.write(b"\x89PNG partial")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))

    p = subprocess.run(_colorize_cmd(batch, out, tiny_model_path, "--skip-existing"), env=_env(),
                       capture_output=True, timeout=TIMEOUT)
    err = p.stderr.decode("utf-8", "replace")
    assert p.returncode == 0, err
    assert "Traceback" not in err
    assert f"{N_IMAGES - len(finals)} colorized, {len(finals)} skipped, 0 failed" in err
    assert "removed" in err and "unfinished temporary file" in err
    finals2, temps2 = _check_outputs_complete(out)
    assert finals2 == [f"p{i:02d}.png" for i in range(N_IMAGES)]
    assert temps2 == []
    assert bi.snapshot(batch) == before  # inputs untouched


def test_sigterm_stops_cleanly(batch, tiny_model_path, tmp_path):
    out = str(tmp_path / "OUT")
    proc = subprocess.Popen(_colorize_cmd(batch, out, tiny_model_path, "-q"), env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert _wait_for(lambda: len(_final_outputs(out)) >= 1, proc), "no output appeared"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    err = err.decode("utf-8", "replace")
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    finals, temps = _check_outputs_complete(out)
    assert temps == [], temps  # the file being written was removed
    assert len(finals) < N_IMAGES


# --- training --------------------------------------------------------------------

TRAIN_SCRIPT = """
import json, sys
from colorizer.train import train
train(json.loads(sys.argv[1]))
"""


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
    assert proc.returncode == 0, out[-3000:]
    return out


def _checkpoint_steps(run):
    """(step in state.json, step in last.safetensors' info, step of the optimizer's Adam state)."""
    from safetensors import safe_open
    with open(os.path.join(run, "state.json")) as f:
        s = json.load(f)["step"]
    with safe_open(os.path.join(run, "last.safetensors"), "pt") as f:
        w = json.loads(f.metadata()["info"])["step"]
    opt = torch.load(os.path.join(run, "optimizer.pt"), weights_only=True)
    o = int(next(iter(opt["state"].values()))["step"])
    return s, w, o


@pytest.fixture(scope="module")
def reference_run(train_data, tmp_path_factory):
    """An uninterrupted run, started in the background (it runs while the first test's own
    run does); call it to wait for it. Returns its run folder."""
    ref = str(tmp_path_factory.mktemp("ref") / "run")
    proc = _train(_train_cfg(train_data, ref))
    done = []

    def wait():
        if not done:
            _finish(proc)
            done.append(ref)
        return ref
    yield wait
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


def _kill_when(run, proc, pred):
    try:
        assert _wait_for(pred, proc, every=0.002), "the kill point never came"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    return _checkpoint_steps(run)


def _resume_and_compare(train_data, run, ref, killed_at):
    total = json.load(open(os.path.join(ref, "state.json")))["total"]
    assert killed_at[0] < total, "the run finished before it was killed"
    _finish(_train(_train_cfg(train_data, run, resume=True)))
    a = load_file(os.path.join(ref, "last.safetensors"))
    b = load_file(os.path.join(run, "last.safetensors"))
    assert a.keys() == b.keys()
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, (f"resumed weights differ from the uninterrupted run in {len(differ)} of {len(a)} tensors "
                        f"(e.g. {differ[:3]}); at the kill, steps (state.json, last.safetensors, optimizer.pt) = {killed_at}")
    assert json.load(open(os.path.join(run, "state.json")))["step"] == total


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


def test_train_sigkill_then_resume_equals_uninterrupted(train_data, reference_run, tmp_path):
    """SIGKILL as soon as the first checkpoint is complete (state.json written), --resume:
    the final weights equal those of the uninterrupted run of the same seed."""
    run = str(tmp_path / "run")
    proc = _train(_train_cfg(train_data, run))
    killed_at = _kill_when(run, proc, lambda: os.path.exists(os.path.join(run, "state.json")))
    _resume_and_compare(train_data, run, reference_run(), killed_at)


@pytest.mark.xfail(strict=True, reason=(
    "known bug in train.py: a checkpoint is three separate atomic renames (last.safetensors, then "
    "optimizer.pt, then state.json); SIGKILL between them leaves weights of step N with the state of "
    "step N-1, and --resume repeats step N. See docs/reliability.md"))
def test_train_sigkill_inside_a_checkpoint_write_then_resume_equals_uninterrupted(train_data, reference_run, tmp_path):
    """SIGKILL while a checkpoint is being written: after the new weights are in place and
    before state.json is (the window is the optimizer.pt and state.json writes)."""
    run = str(tmp_path / "run")
    proc = _train(_train_cfg(train_data, run))
    killed_at = _kill_when(run, proc, lambda: 1 <= _state_step(run) < _weights_step(run))
    _resume_and_compare(train_data, run, reference_run(), killed_at)
