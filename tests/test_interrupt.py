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


def _signal_when(jobs, timeout=TIMEOUT, every=0.002):
    """jobs: {name: (Popen, predicate, signal)}. Polls all the predicates together and sends
    each process its signal as soon as its predicate holds. Returns {name: True if signalled,
    False if the process ended first}. Running the jobs at once keeps the suite short."""
    pending, sent = dict(jobs), {}
    t = time.monotonic()
    try:
        while pending and time.monotonic() - t < timeout:
            for name, (proc, pred, sig) in list(pending.items()):
                if pred():
                    proc.send_signal(sig)
                    sent[name] = True
                    del pending[name]
                elif proc.poll() is not None:
                    sent[name] = pred()
                    del pending[name]
            time.sleep(every)
    finally:
        for proc, _, _ in pending.values():
            proc.kill()
    return sent


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


@pytest.fixture(scope="module")
def interrupted_batches(batch, tiny_model_path, tmp_path_factory):
    """Two colorize runs of the same batch at once: one gets SIGKILL after two outputs,
    the other SIGTERM after one."""
    base = tmp_path_factory.mktemp("interrupted")
    outs = {"kill": str(base / "OUT_kill"), "term": str(base / "OUT_term")}
    before = bi.snapshot(batch)
    procs = {k: subprocess.Popen(_colorize_cmd(batch, out, tiny_model_path, "-q"), env=_env(),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE) for k, out in outs.items()}
    sent = _signal_when({"kill": (procs["kill"], lambda: len(_final_outputs(outs["kill"])) >= 2, signal.SIGKILL),
                         "term": (procs["term"], lambda: len(_final_outputs(outs["term"])) >= 1, signal.SIGTERM)})
    res = {}
    for k, proc in procs.items():
        _, err = proc.communicate(timeout=120)
        res[k] = dict(out=outs[k], signalled=sent.get(k), rc=proc.returncode, stderr=err.decode("utf-8", "replace"))
    res["inputs_before"] = before
    return res


def test_sigkill_mid_batch_then_skip_existing(interrupted_batches, batch, tiny_model_path):
    r = interrupted_batches["kill"]
    out = r["out"]
    assert r["signalled"] and r["rc"] == -signal.SIGKILL, r
    finals, temps = _check_outputs_complete(out)
    assert 2 <= len(finals) < N_IMAGES, f"killed too late to test anything ({len(finals)} done)"

    # a temporary file left by a kill during a write, from an earlier run: the next run removes
    # it; one named like it but for a file this run does not write is left alone
    for name in (".p29.png.abcd_123.tmp", ".other.png.abcd_123.tmp"):
        with open(os.path.join(out, name), "wb") as f:
            f.write(b"\x89PNG partial")
        os.utime(os.path.join(out, name), (time.time() - 3600, time.time() - 3600))

    p = subprocess.run(_colorize_cmd(batch, out, tiny_model_path, "--skip-existing"), env=_env(),
                       capture_output=True, timeout=TIMEOUT)
    err = p.stderr.decode("utf-8", "replace")
    assert p.returncode == 0, err
    assert "Traceback" not in err
    assert f"{N_IMAGES - len(finals)} colorized, {len(finals)} skipped, 0 failed" in err
    assert "removed" in err and "unfinished temporary file" in err
    finals2, temps2 = _check_outputs_complete(out)
    assert finals2 == [f"p{i:02d}.png" for i in range(N_IMAGES)]
    assert temps2 == [".other.png.abcd_123.tmp"]  # every temporary file of this batch is gone
    assert bi.snapshot(batch) == interrupted_batches["inputs_before"]  # inputs untouched


def test_sigterm_stops_cleanly(interrupted_batches):
    r = interrupted_batches["term"]
    assert r["signalled"], r
    assert r["rc"] == 130, r["stderr"]
    assert "interrupted" in r["stderr"] and "Traceback" not in r["stderr"]
    finals, temps = _check_outputs_complete(r["out"])
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


@pytest.fixture(scope="module")
def train_runs(train_data, tmp_path_factory):
    """Three training runs at once: the reference (uninterrupted); "after_checkpoint", killed
    as soon as its first checkpoint is complete (state.json written); "inside_checkpoint",
    killed while a checkpoint is being written (last.safetensors and state.json disagree).
    Then both killed runs are resumed (at once). Returns their folders and the checkpoint
    steps (state.json, last.safetensors, optimizer.pt) found at the kill."""
    base = tmp_path_factory.mktemp("train")
    runs = {k: str(base / k) for k in ("reference", "after_checkpoint", "inside_checkpoint")}
    procs = {k: _train(_train_cfg(train_data, run)) for k, run in runs.items()}
    a, b = runs["after_checkpoint"], runs["inside_checkpoint"]
    sent = _signal_when({"after_checkpoint": (procs["after_checkpoint"], lambda: os.path.exists(os.path.join(a, "state.json")), signal.SIGKILL),
                         "inside_checkpoint": (procs["inside_checkpoint"], lambda: _inside_checkpoint(b), signal.SIGKILL)})
    res = {"reference": runs["reference"], "total": None}
    for k in ("after_checkpoint", "inside_checkpoint"):
        procs[k].communicate(timeout=60)
        res[k] = dict(run=runs[k], killed=bool(sent.get(k)) and procs[k].returncode == -signal.SIGKILL,
                      killed_at=_checkpoint_steps(runs[k]))
    resumes = {k: _train(_train_cfg(train_data, runs[k], resume=True)) for k in ("after_checkpoint", "inside_checkpoint") if res[k]["killed"]}
    _finish(procs["reference"])
    for k, proc in resumes.items():
        log, _ = proc.communicate(timeout=TIMEOUT)
        res[k].update(resume_rc=proc.returncode, resume_log=log.decode("utf-8", "replace"))
    res["total"] = json.load(open(os.path.join(runs["reference"], "state.json")))["total"]
    return res


def _compare_with_reference(r, res):
    # preconditions fail with pytest.fail: they say the test could not be set up, not that resume is wrong
    if not r["killed"]:
        pytest.fail("the kill point never came (the run ended first)")
    killed_at = r["killed_at"]
    if not 0 <= killed_at[0] < res["total"]:
        pytest.fail(f"not killed mid-run: steps at the kill {killed_at}, total {res['total']}")
    if r["resume_rc"] != 0:
        pytest.fail("--resume failed:\n" + r["resume_log"][-3000:])
    a = load_file(os.path.join(res["reference"], "last.safetensors"))
    b = load_file(os.path.join(r["run"], "last.safetensors"))
    assert a.keys() == b.keys()
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, (f"resumed weights differ from the uninterrupted run in {len(differ)} of {len(a)} tensors "
                        f"(e.g. {differ[:3]}); at the kill, steps (state.json, last.safetensors, optimizer.pt) = {killed_at}")
    assert json.load(open(os.path.join(r["run"], "state.json")))["step"] == res["total"]


def test_train_sigkill_then_resume_equals_uninterrupted(train_runs):
    """SIGKILL as soon as the first checkpoint is complete, then --resume: the final weights
    equal those of the uninterrupted run of the same seed (torch.equal, every tensor)."""
    _compare_with_reference(train_runs["after_checkpoint"], train_runs)


def test_train_sigkill_inside_a_checkpoint_write_then_resume_equals_uninterrupted(train_runs):
    """SIGKILL while a checkpoint is being written: when one of last.safetensors and
    state.json already holds the new step and the other does not yet."""
    _compare_with_reference(train_runs["inside_checkpoint"], train_runs)
