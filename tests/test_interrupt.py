"""Issue 5, "never lose a file": killing `colorize` at any moment. SIGKILL mid-batch leaves
only complete outputs under their final names (plus, at most, hidden temporary files,
removed by the next run); --skip-existing then completes the batch. SIGTERM stops cleanly
(exit 130, no temporary file left). (Training's kills and interruptions are tested in
test_training.py.)"""
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from PIL import Image

import badinputs as bi
from helpers import signal_when

TEMP = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")  # files.atomic_write's temporary names
N_IMAGES = 30
TIMEOUT = 600


def _env():
    return dict(os.environ, PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1")


def _colorize_cmd(src, out, model, *extra):
    return [sys.executable, "-m", "colorizer", "colorize", src, "-o", out, "--model", model, "--size", "128", *extra]


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
    sent = signal_when({"kill": (procs["kill"], lambda: len(_final_outputs(outs["kill"])) >= 2, signal.SIGKILL),
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
