"""WebDataset tar shards: `colorizer shards` writes a folder's photos as shards (the files
as they were; unreadable and near-grayscale photos left out, and said), training reads
them (`--data 'shards/train-{000000..000005}.tar'`) to the same class prior and the same
loss curve as the folder, every rank takes the same number of photos per epoch, and a run
stopped mid-epoch resumes exactly, also past photos the reader had to skip."""
import json
import os
import re
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from colorizer.cli import main
from colorizer.training import loop as training_loop
from colorizer.training import train
from colorizer.training.config import is_shard_spec
from colorizer.training.distributed import World
from colorizer.training.shards import ShardSet, write_shards
from helpers import ctrl_c_in_training_at_step

pytest.importorskip("webdataset")

TINY = {"dec": [16, 16, 16, 16, 16]}


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory):
    """24 small colour photos (png and jpg, in a subfolder too)."""
    d = tmp_path_factory.mktemp("photos")
    (d / "sub").mkdir()
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:40, 0:48] / 40.0
    for i in range(24):
        c0, c1 = rng.random(3), rng.random(3)
        img = Image.fromarray(((c0 * (1 - x[..., None]) + c1 * y[..., None]).clip(0, 1) * 255).astype(np.uint8))
        img.save(d / ("sub" if i % 3 == 0 else "") / f"p{i:02d}.{'jpg' if i % 2 else 'png'}")
    return d


@pytest.fixture(scope="module")
def shard_spec(photo_dir, tmp_path_factory):
    """The photos in shards of about 4 photos each; returns the brace pattern of the shards."""
    out = tmp_path_factory.mktemp("shards")
    doc = write_shards(str(photo_dir), str(out), max_mb=0.004, workers=1, progress=False)
    assert doc["samples"] == 24 and len(doc["shards"]) >= 4, doc
    return f"{out}/train-{{000000..{len(doc['shards']) - 1:06d}}}.tar"


def _cfg(data, out, **kw):
    return {**dict(data=str(data), arch="unet", out=str(out), size=32, batch=4, epochs=4, lr=3e-3, threads=1, workers=1,
                   pretrained=False, warmup=1, seed=0, model_config=TINY), **kw}


def test_shard_specs_are_told_from_folders():
    assert is_shard_spec("shards/train-{000000..000099}.tar") and is_shard_spec("one.tar")
    assert is_shard_spec("https://host/data/train-{000..009}.tar") and is_shard_spec("pipe:aws s3 cp s3://b/t-000.tar -")
    assert not is_shard_spec("photos/") and not is_shard_spec("my{photos}") and not is_shard_spec(None)


def test_the_shards_command_keeps_the_files_and_leaves_out_what_training_would_skip(photo_dir, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    for name in ("p01.jpg", "p02.png"):
        (data / name).write_bytes((photo_dir / name).read_bytes())
    (data / "broken.jpg").write_bytes(b"not a jpeg")
    Image.new("RGB", (40, 40), (128, 128, 128)).save(data / "gray.png")
    assert main(["shards", "--data", str(data), "-o", str(tmp_path / "out"), "-q"]) == 0
    err = capsys.readouterr().err
    assert f"{data / 'broken.jpg'}: unreadable, left out" in err and f"{data / 'gray.png'}: near-grayscale, left out" in err
    assert "2 photos in 1 shard(s)" in err and "train-{000000..000000}.tar" in err
    index = json.loads((tmp_path / "out" / "shards.json").read_text())
    assert index["samples"] == 2 and index["shards"] == {"train-000000.tar": 2}
    assert sorted(os.listdir(tmp_path / "out")) == ["shards.json", "train-000000.tar"]  # no temporary file left
    with tarfile.open(tmp_path / "out" / "train-000000.tar") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    assert members["000000000.jpg"] == (photo_dir / "p01.jpg").read_bytes()  # the file as it was
    assert members["000000001.png"] == (photo_dir / "p02.png").read_bytes()
    assert members["000000000.txt"] == b"p01.jpg"
    assert main(["shards", "--data", str(tmp_path / "none"), "-o", str(tmp_path / "o2")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    # shards already there are never replaced (an old, longer set would mix with the new one)
    before = (tmp_path / "out" / "train-000000.tar").read_bytes()
    assert main(["shards", "--data", str(data), "-o", str(tmp_path / "out"), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already holds shards (shards.json, train-000000.tar)" in err
    assert (tmp_path / "out" / "train-000000.tar").read_bytes() == before


def test_shards_train_to_the_folders_prior_and_loss_curve(photo_dir, shard_spec, tmp_path, capsys):
    train(_cfg(photo_dir, tmp_path / "folder"))
    train(_cfg(shard_spec, tmp_path / "shards"))
    out = capsys.readouterr().out
    assert re.search(r"^train: 24 photos from [4-9] shards \(streamed\)", out, re.M), out
    folder, shards = (load_file(tmp_path / k / "model.safetensors") for k in ("folder", "shards"))
    # the class prior is counted on the same photos, decoded the same way
    assert torch.allclose(folder["extra.class_weights"], shards["extra.class_weights"])
    losses = {k: [r["loss"] for r in json.loads((tmp_path / k / "state.json").read_text())["history"]]
              for k in ("folder", "shards")}
    assert len(losses["shards"]) == 4 and losses["shards"][-1] < losses["shards"][0]
    # the same curve within the noise of the crops and the order (seeds 0-2 of the folder run spread by ~5%)
    f, s = np.mean(losses["folder"][1:]), np.mean(losses["shards"][1:])
    assert abs(s - f) < 0.1 * f, losses


def _with_bad_samples(photo_dir, out):
    """Shards of 3 good photos and 1 unreadable one each, with shards.json."""
    import webdataset as wds
    out.mkdir()
    photos = sorted(p for p in photo_dir.rglob("*.png"))
    counts = {}
    with wds.ShardWriter(str(out / "bad-%06d.tar"), maxcount=4, verbose=0) as sink:
        for i, p in enumerate(photos):
            sink.write({"__key__": f"{i:09d}", "png": p.read_bytes()})
            if i % 3 == 2:
                sink.write({"__key__": f"{i:09d}x", "jpg": b"broken"})
    for tar in sorted(out.glob("*.tar")):
        with tarfile.open(tar) as t:
            counts[tar.name] = len(t.getmembers())
    (out / "shards.json").write_text(json.dumps({"format": "colorizer-shards/1", "shards": counts}))
    return f"{out}/bad-{{000000..{len(counts) - 1:06d}}}.tar"


def test_a_stream_resumes_at_its_position_past_skipped_photos(photo_dir, tmp_path):
    spec = _with_bad_samples(photo_dir, tmp_path / "bad")
    go_on = ShardSet(spec, 32, workers=1, progress=False)
    assert len(go_on) == 16  # 12 photos and 4 unreadable samples
    steps = go_on.batches(4, 3, seed=0)
    first = [next(steps) for _ in range(2)]
    position = go_on.position()
    assert position > 6 and go_on.skipped_bad > 0  # unreadable samples were taken and skipped
    rest = [next(steps) for _ in range(4)]  # on into the next epoch
    again = ShardSet(spec, 32, workers=1, progress=False).batches(4, 3, seed=0, start=2, position=position)
    for (ids, lab), (ids2, lab2) in zip(rest, [next(again) for _ in range(4)]):
        assert ids == ids2 and torch.equal(lab, lab2)
    assert [i for i, _ in first] != [i for i, _ in rest[2:4]]  # the next epoch draws anew


def test_every_rank_takes_as_many_photos_and_its_own_stream(shard_spec):
    spec = shard_spec
    ranks = [ShardSet(spec, 32, workers=1, world=World(rank=r, size=2), progress=False) for r in range(2)]
    assert [len(s) for s in ranks] == [12, 12]
    ids = [[i for _ in range(6) for i in next(s.batches(6, 2, seed=0, world=s.world))[0]] for s in ranks]
    assert ids[0] != ids[1]
    prior = [s.prior_photos().paths for s in ranks]  # the prior is counted on disjoint shares of the photos
    assert len(prior[0]) == len(prior[1]) == 12 and not set(prior[0]) & set(prior[1])


def test_a_shard_run_stopped_mid_epoch_resumes_to_the_uninterrupted_weights(photo_dir, tmp_path, monkeypatch, request):
    spec = _with_bad_samples(photo_dir, tmp_path / "bad")
    train(_cfg(spec, tmp_path / "reference", epochs=2, batch=3))
    real = training_loop.compute_loss
    ctrl_c_in_training_at_step(monkeypatch, request, 3)
    run = tmp_path / "stopped"
    with pytest.raises(training_loop.Interrupted):
        train(_cfg(spec, run, epochs=2, batch=3))
    state = json.loads((run / "state.json").read_text())
    assert state["step"] == 3 and state["positions"][0] > 9  # past unreadable samples: not 3 steps x 3 photos
    monkeypatch.setattr(training_loop, "compute_loss", real)
    train({"out": str(run), "resume": True})
    a, b = (load_file(tmp_path / k / "last.safetensors") for k in ("reference", "stopped"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_missing_shards_are_a_one_line_error(tmp_path, capsys):
    from colorizer.cli.train import run_options
    assert run_options(_cfg(f"{tmp_path}/train-{{000000..000002}}.tar", tmp_path / "run")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "train-000000.tar: no such shard (and 2 more)" in err
    assert not (tmp_path / "run").exists()
