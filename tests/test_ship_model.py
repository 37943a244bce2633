"""scripts/ship_model.py: what the model card's recipe runs to bundle a trained model."""
import os
import subprocess
import sys

import torch

from colorizer.checkpoint import read_model_file
from colorizer.pipeline import Colorizer

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "scripts", "ship_model.py")


def test_ship_model_writes_fp16_with_the_decoding_defaults(tiny_model_path, tmp_path):
    out = tmp_path / "shipped.safetensors"
    r = subprocess.run([sys.executable, SCRIPT, tiny_model_path, "unet", "--blend", "0.7", "--vibrance", "0.5",
                        "--curve", "20", "1", "--scales", "1", "0.5", "--trained-on", "a test", "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    arch, config, info, state, extra = read_model_file(str(out))
    arch0, config0, _, state0, extra0 = read_model_file(tiny_model_path)
    assert (arch, config) == (arch0, config0)
    assert info["decode"] == {"blend": 0.7, "vibrance": 0.5, "curve": [20.0, 1.0], "scales": [1.0, 0.5]}
    assert info["trained_on"] == "a test"
    for k, v in state0.items():
        if v.is_floating_point():
            assert state[k].dtype == torch.float16
            assert torch.allclose(state[k].float(), v.float(), atol=1e-2, rtol=1e-2), k
        else:
            assert torch.equal(state[k], v), k
    assert torch.equal(extra["bins"], extra0["bins"])
    col = Colorizer.load(str(out), device="cpu")
    assert (col.blend, col.curve, col.scales) == (0.7, (20.0, 1.0), (1.0, 0.5))
    assert os.path.getsize(out) < os.path.getsize(tiny_model_path)


def test_ship_model_refuses_scales_not_starting_at_one(tiny_model_path, tmp_path):
    out = tmp_path / "shipped.safetensors"
    r = subprocess.run([sys.executable, SCRIPT, tiny_model_path, "unet", "--scales", "0.5", "1", "--out", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--scales must start with 1" in r.stderr
    assert not out.exists()


def test_ship_model_sets_min_risk_decoding_and_keeps_the_blend_for_annealed_mean(tiny_model_path, tmp_path):
    out, mid = tmp_path / "shipped.safetensors", tmp_path / "blended.safetensors"
    r = subprocess.run([sys.executable, SCRIPT, tiny_model_path, "unet", "--blend", "0.5", "--out", str(mid)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, SCRIPT, str(mid), "unet", "--rule", "min-risk", "--out", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert read_model_file(str(out))[2]["decode"] == {"blend": 0.5, "rule": "min-risk"}
    col = Colorizer.load(str(out), device="cpu")
    assert (col.rule, col.blend) == ("min-risk", 0.5)
    assert col.extra["ciede2000"].shape == (len(col.extra["bins"]),) * 2
    r = subprocess.run([sys.executable, SCRIPT, str(mid), "unet", "--rule", "mode", "--out", str(out) + "2"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "invalid choice" in r.stderr
