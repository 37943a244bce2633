"""scripts/distill_fast_head.py: a U-Net's fast head trained to copy its stride-2 stage,
on a tiny model and a few generated photos: the rest of the network is left exactly as it
was, and the fast head's scores move towards the full head's."""
import importlib.util
import os
import re

import torch

from colorizer.bins import FAST_LOGITS, POOLED_LOGITS
from colorizer.model_files import read_model_file, write_model_file
from colorizer.networks import build_model
from helpers import gradient_image, make_tiny_model_file

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "scripts", "distill_fast_head.py")
spec = importlib.util.spec_from_file_location("distill_fast_head", SCRIPT)
distill = importlib.util.module_from_spec(spec)
spec.loader.exec_module(distill)


def photos(folder, n):
    folder.mkdir()
    for i in range(n):
        gradient_image(80, 72, "RGB", seed=i).save(folder / f"{i}.png")
    return folder


def sure_model(path):
    """A tiny model whose class scores are spread wide (a random one's are nearly even:
    there would be little for the fast head to copy)."""
    make_tiny_model_file(path, seed=2)
    arch, config, info, state, extra = read_model_file(str(path))
    state["cls_head.weight"] = state["cls_head.weight"] * 30
    write_model_file(str(path), arch, config, state, extra, info=info)
    return str(path)


def val_losses(printed):
    return [float(m) for m in re.findall(r"val loss ([0-9.]+)", printed)]


def test_distilling_trains_the_fast_head_alone(tmp_path, capsys):
    src = sure_model(tmp_path / "tiny.safetensors")
    data = photos(tmp_path / "train", 16)
    out = tmp_path / "fast"
    assert distill.main([src, "--data", str(data), "--val", str(data), "--val-limit", "4", "--out", str(out),
                         "--epochs", "2", "--batch", "2", "--size", "64", "--lr", "1e-2", "--warmup", "1"]) == 0
    assert sorted(os.listdir(out)) == ["epoch1.safetensors", "model.safetensors"]
    arch, config, _, state, _ = read_model_file(str(out / "model.safetensors"))
    _, old_config, _, old_state, _ = read_model_file(src)
    assert config == {**old_config, "fast_head": True}
    assert set(state) - set(old_state) and all(k.startswith("fast_head.") for k in set(state) - set(old_state))
    for k, v in old_state.items():
        assert torch.equal(state[k], v.float()), k
    # the fast head copies the full head much better than before it was trained
    before, epoch1, epoch2 = val_losses(capsys.readouterr().out)
    assert epoch2 < 0.5 * before
    # and the file's fast head is the one measured last
    arch, config, _, state, extra = read_model_file(str(out / "model.safetensors"))
    net = build_model(arch, pretrained=False, **config)
    net.load_state_dict(state)
    lab = distill.PhotoSet(str(data), 64, limit=4, progress=False).batch(range(4), None, augment=False)
    with torch.no_grad():
        got = net.eval()(lab[:, :1], outputs=(POOLED_LOGITS, FAST_LOGITS))
    loss = float(distill.loss_fn(got[FAST_LOGITS], got[POOLED_LOGITS], extra["class_weights"].float().log()))
    assert abs(loss - epoch2) < 0.05 * epoch2 + 1e-3
