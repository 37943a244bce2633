"""Data-parallel training with torchrun (gloo on this machine's CPU, localhost only): two
processes train a tiny model through the real command line (`python -m
torch.distributed.run --nproc_per_node 2 -m colorizer train ...`); rank 0 alone writes;
the ranks see disjoint photos, shuffled anew each epoch; a kill -9 of one rank, then
--resume, and a SIGTERM to torchrun, then --resume, both end on exactly the weights of the
uninterrupted run. And the partition itself, in one process."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from colorizer.training.distributed import World, epoch_order, part, step_rng
from helpers import make_tiny_model_file

TIMEOUT = 300
PHOTOS = 24
STEPS = 12  # 24 photos, a global batch of 4: 6 steps an epoch, 2 epochs


# --- the partition, in one process ------------------------------------------------------------

def test_the_ranks_shares_are_disjoint_and_cover_every_photo():
    items = [f"p{i}" for i in range(25)]
    shares = [part(items, World(rank=r, size=3)) for r in range(3)]
    assert sorted(sum(shares, [])) == sorted(items)
    assert all(not set(a) & set(b) for i, a in enumerate(shares) for b in shares[i + 1:])
    assert sorted(len(s) for s in shares) == [8, 8, 9]
    assert part(items, World()) == items


def test_each_epoch_and_each_rank_has_its_own_order_and_one_process_keeps_the_old_one():
    w0, w1 = World(rank=0, size=2), World(rank=1, size=2)
    orders = [epoch_order(12, 0, e, w).tolist() for e in (0, 1) for w in (w0, w1)]
    assert all(sorted(o) == list(range(12)) for o in orders)
    assert len({tuple(o) for o in orders}) == 4
    assert epoch_order(12, 0, 3, w1).tolist() == epoch_order(12, 0, 3, w1).tolist()  # again on resume
    # a single process draws what training always drew
    assert epoch_order(12, 5, 2, World()).tolist() == np.random.default_rng([5, 2]).permutation(12).tolist()
    assert step_rng(5, 7, 9, World()).random() == np.random.default_rng([5, 7, 9]).random()
    assert step_rng(5, 7, 9, w0).random() != step_rng(5, 7, 9, w1).random()


def test_a_batch_that_does_not_split_over_the_processes_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    from colorizer.training import loop
    monkeypatch.setattr(loop.dist, "setup", lambda: World(rank=0, size=3))
    with pytest.raises(ValueError) as e:
        loop.train({"data": str(tmp_path), "out": str(tmp_path / "run"), "batch": 16})
    assert str(e.value).startswith("--batch 16 does not split evenly over 3 processes (the batch size is the global one")
    assert not (tmp_path / "run").exists()


# --- two processes under torchrun ---------------------------------------------------------------

@pytest.fixture(scope="module")
def setup_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("ddp")
    photos = d / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:40, 0:40] / 39.0
    for i in range(PHOTOS):
        c0, c1, c2 = rng.uniform(0, 255, (3, 3))
        arr = c0 + np.multiply.outer(x, c1 - c0) + np.multiply.outer(y, c2 - c0) * 0.5
        arr += rng.normal(0, 6, arr.shape)
        Image.fromarray(arr.clip(0, 255).astype(np.uint8), "RGB").save(photos / f"t{i:02d}.png")
    make_tiny_model_file(d / "tiny.safetensors")
    return d


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(d, name, *options, trace=True):
    """A 2-process torchrun of `colorizer train` in folder d (run folder d/name), on localhost."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1", MASTER_ADDR="127.0.0.1")
    if trace:
        env["COLORIZER_TRAIN_TRACE"] = str(d / f"trace-{name}")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(free_port()), "-m", "colorizer", "train", "--out", str(d / name), *options]
    return subprocess.Popen(cmd, cwd=d, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def new_run(d, name, *extra):
    return torchrun(d, name, "--data", str(d / "photos"), "--init", str(d / "tiny.safetensors"), "--size", "32",
                    "--batch", "4", "--epochs", "2", "--threads", "1", "--workers", "1", *extra)


def children(pid):
    """{rank: pid} of the worker processes torchrun `pid` started."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid != pid:
                continue
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
            found[int(env[b"RANK"])] = int(entry)
        except (OSError, ValueError, KeyError, IndexError):
            continue
    return found


def steps_traced(d, name, rank):
    try:
        with open(d / f"trace-{name}" / f"rank{rank}.jsonl") as f:
            return [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError):
        return []


def wait_for(pred, proc, timeout=TIMEOUT):
    t = time.monotonic()
    while time.monotonic() - t < timeout:
        if pred():
            return True
        if proc.poll() is not None:
            return pred()
        time.sleep(0.02)
    return False


def finish(proc):
    out, _ = proc.communicate(timeout=TIMEOUT)
    return proc.returncode, out.decode("utf-8", "replace")


def state(run):
    with open(os.path.join(run, "state.json")) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def ddp(setup_dir):
    """Three 2-process runs at once: the reference (uninterrupted); "killed", whose rank 1 is
    killed (SIGKILL) once a checkpoint after step 2 is written; "sigterm", whose torchrun is
    sent SIGTERM after its first checkpoint (torchrun passes it on to both ranks). Then the
    two stopped runs are resumed, at once."""
    d = setup_dir
    procs = {"reference": new_run(d, "reference"), "killed": new_run(d, "killed", "--ckpt-minutes", "0.0005"),
             "sigterm": new_run(d, "sigterm", "--ckpt-minutes", "0.0005")}
    res = {}

    def checkpointed(name, after):
        return lambda: os.path.exists(d / name / "state.json") and state(d / name)["step"] >= after

    ok = wait_for(checkpointed("killed", 2), procs["killed"])
    ranks = children(procs["killed"].pid)
    if ok and 1 in ranks:
        os.kill(ranks[1], signal.SIGKILL)
        res["killed_at"] = state(d / "killed")["step"]
    ok = wait_for(checkpointed("sigterm", 1), procs["sigterm"])
    if ok:
        procs["sigterm"].send_signal(signal.SIGTERM)
    for name, proc in procs.items():
        res[name] = finish(proc)
    res["stopped_at"] = {k: state(d / k)["step"] for k in ("killed", "sigterm")}
    resumes = {k: torchrun(d, k, "--resume", trace=False) for k in ("killed", "sigterm")}
    for k, proc in resumes.items():
        res[k + "_resume"] = finish(proc)
    return d, res


def same_weights(a, b):
    wa, wb = load_file(os.path.join(a, "last.safetensors")), load_file(os.path.join(b, "last.safetensors"))
    assert wa.keys() == wb.keys()
    differ = [k for k in wa if not torch.equal(wa[k], wb[k])]
    assert not differ, f"{len(differ)} of {len(wa)} tensors differ, e.g. {differ[:3]}"


def test_two_processes_train_and_rank_0_alone_writes(ddp):
    d, res = ddp
    rc, out = res["reference"]
    assert rc == 0, out[-3000:]
    assert "train: 24 photos (0 near-grayscale and 0 unreadable skipped) in 2 processes of 2 photos a step" in out
    assert out.count("done: 12 steps (2.00 epochs)") == 1  # said once, by rank 0
    s = state(d / "reference")
    assert s["step"] == STEPS and s["world_size"] == 2 and len(s["history"]) == 2
    assert os.path.exists(d / "reference" / "model.safetensors")
    checkpoints = {r: [e for e in steps_traced(d, "reference", r) if "checkpoint" in e] for r in (0, 1)}
    # one checkpoint an epoch and the final one, at the same steps on both ranks; only rank 0 wrote
    assert [e["checkpoint"] for e in checkpoints[0]] == [e["checkpoint"] for e in checkpoints[1]] == [6, 12, 12]
    assert all(e["wrote"] for e in checkpoints[0]) and not any(e["wrote"] for e in checkpoints[1])


def test_the_ranks_see_disjoint_photos_in_a_new_order_each_epoch(ddp):
    d, _ = ddp
    seen = {r: [e for e in steps_traced(d, "reference", r) if "samples" in e] for r in (0, 1)}
    first = None
    assert [e["step"] for e in seen[0]] == [e["step"] for e in seen[1]] == list(range(STEPS))
    assert all(len(e["samples"]) == 2 for r in (0, 1) for e in seen[r])  # the global batch of 4, 2 per rank
    for epoch in (0, 1):
        per_rank = {r: [p for e in seen[r][6 * epoch:6 * epoch + 6] for p in e["samples"]] for r in (0, 1)}
        assert not set(per_rank[0]) & set(per_rank[1])
        assert sorted(map(os.path.basename, per_rank[0] + per_rank[1])) == [f"t{i:02d}.png" for i in range(PHOTOS)]
        if epoch == 1:  # each rank goes through its own photos again, in another order
            assert sorted(per_rank[0]) == sorted(first[0]) and per_rank[0] != first[0]
        first = per_rank


def test_a_rank_killed_then_resume_equals_the_uninterrupted_run(ddp):
    d, res = ddp
    if "killed_at" not in res:
        pytest.fail("rank 1 was never killed:\n" + res["killed"][1][-3000:])
    assert res["killed"][0] != 0  # torchrun says a worker failed
    assert 2 <= res["stopped_at"]["killed"] < STEPS
    rc, out = res["killed_resume"]
    assert rc == 0, out[-3000:]
    assert f"at step {res['stopped_at']['killed']}/{STEPS}" in out
    assert state(d / "killed")["step"] == STEPS
    same_weights(d / "reference", d / "killed")


def test_sigterm_stops_both_ranks_with_a_checkpoint_then_resume_equals_the_uninterrupted_run(ddp):
    d, res = ddp
    rc, out = res["sigterm"]
    step = res["stopped_at"]["sigterm"]
    assert 1 <= step < STEPS, out[-3000:]
    assert f"interrupted (SIGTERM) at step {step}: checkpoint written; resume with torchrun --nproc_per_node 2 -m colorizer " \
           f"train --out {d / 'sigterm'} --resume" in out
    assert out.count("checkpoint written") == 1  # said once, by rank 0
    traced = {r: [e["checkpoint"] for e in steps_traced(d, "sigterm", r) if "checkpoint" in e] for r in (0, 1)}
    assert traced[0] == traced[1] and traced[0][-1] == step  # the ranks stopped at the same step
    rc, out = res["sigterm_resume"]
    assert rc == 0, out[-3000:]
    same_weights(d / "reference", d / "sigterm")
