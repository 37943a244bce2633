"""scripts/ship_model.py: what the model card's recipe runs to bundle a trained model.
Every test writes with --out: the bundled weights are never touched."""
import importlib.util
import os
import subprocess
import sys

import pytest
import torch

from colorizer import Colorizer
from colorizer.decoding import AnnealedMean, MinRisk
from colorizer.model_files import read_model_file
from colorizer.pipeline import to_working_size
from helpers import gradient_image, make_tiny_model_file

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "scripts", "ship_model.py")


def _load_script():
    spec = importlib.util.spec_from_file_location("ship_model", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ship_model = _load_script()


def ship(*args):
    """Run the script's main() in this process; its exit status."""
    try:
        return ship_model.main([str(a) for a in args])
    except SystemExit as e:
        return e.code


def small_lightness():
    from colorizer.image_io import read_lightness
    L, _, _ = read_lightness(gradient_image(96, 64, mode="L"))
    return to_working_size(L, 64)


def test_ship_model_writes_fp16_with_the_decoding_it_was_given(tiny_model_path, tmp_path):
    out = tmp_path / "shipped.safetensors"
    # as the README's recipe runs it: a script on the installed package (no sys.path changes)
    r = subprocess.run([sys.executable, SCRIPT, tiny_model_path, "unet", "--decoding", "min-risk", "--blend", "0.7",
                        "--trained-on", "a test", "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert str(out) in r.stdout and '"default": "min-risk"' in r.stdout
    arch, config, info, state, extra = read_model_file(str(out))
    arch0, config0, _, state0, extra0 = read_model_file(tiny_model_path)
    assert (arch, config) == (arch0, config0)
    assert info["decoding"] == {"default": "min-risk", "annealed-mean": {"blend": 0.7}}
    assert "decode" not in info
    assert info["trained_on"] == "a test"
    for k, v in state0.items():
        if v.is_floating_point():
            assert state[k].dtype == torch.float16
            assert torch.allclose(state[k].float(), v.float(), atol=1e-2, rtol=1e-2), k
        else:
            assert torch.equal(state[k], v), k
    assert torch.equal(extra["bins"], extra0["bins"])
    assert os.path.getsize(out) < os.path.getsize(tiny_model_path)
    # beside it, the same network exported for ONNX Runtime, from the fp16 weights just written
    onnx_path = tmp_path / "shipped.onnx"
    assert str(onnx_path) in r.stdout and onnx_path.is_file()
    shipped = Colorizer.load(str(onnx_path))
    assert shipped.backend.name == "onnxruntime" and shipped.info == info

    # it loads and decodes as said: min-risk by default, annealed-mean with the blend on request
    col = Colorizer.load(str(out), device="cpu")
    assert col.default_decoding == "min-risk"
    assert col.decoders["annealed-mean"].blend == 0.7
    assert col.decoders["min-risk"].risk.shape == (len(col.extra["bins"]),) * 2
    L = small_lightness()
    outputs = col.backend(L)
    bins, weights = col.extra["bins"], col.extra["class_weights"]
    expected = MinRisk(bins, weights)(outputs, 0.62)
    assert torch.allclose(col.predict_ab(L), expected, atol=1e-5)
    blended = col.predict_ab(L, decoding="annealed-mean", vibrance=0.5)
    assert torch.allclose(blended, AnnealedMean(bins, blend=0.7)(outputs, 0.5), atol=1e-5)
    assert not torch.allclose(blended, AnnealedMean(bins, blend=0.0)(outputs, 0.5), atol=1e-3)


def test_ship_model_sets_min_risk_decoding_and_keeps_the_blend_for_annealed_mean(tiny_model_path, tmp_path):
    out, mid = tmp_path / "shipped.safetensors", tmp_path / "blended.safetensors"
    assert ship(tiny_model_path, "unet", "--blend", "0.5", "--out", mid) == 0
    # a file without a default decodes as such files always did: annealed mean
    assert read_model_file(str(mid))[2]["decoding"] == {"default": "annealed-mean", "annealed-mean": {"blend": 0.5}}
    assert ship(mid, "unet", "--rule", "min-risk", "--out", out) == 0  # --rule: the old name of --decoding
    assert read_model_file(str(out))[2]["decoding"] == {"default": "min-risk", "annealed-mean": {"blend": 0.5}}
    col = Colorizer.load(str(out), device="cpu")
    assert (col.default_decoding, col.decoders["annealed-mean"].blend) == ("min-risk", 0.5)


def test_ship_model_converts_the_older_decode_metadata(tmp_path):
    old = make_tiny_model_file(tmp_path / "old.safetensors",
                               info={"decode": {"blend": 0.5, "vibrance": 0.62, "rule": "min-risk"}})
    out = tmp_path / "shipped.safetensors"
    assert ship(old, "unet", "--out", out) == 0
    info = read_model_file(str(out))[2]
    assert info["decoding"] == {"default": "min-risk", "annealed-mean": {"blend": 0.5}}
    assert "decode" not in info  # its unread vibrance is gone with it


@pytest.mark.parametrize("args, message", [
    (["--blend", "-1"], "annealed-mean.blend must be a number between 0 and 10, not -1.0"),
    (["--decoding", "mode"], "argument --decoding/--rule: invalid choice: 'mode'"),
    (["--rule", "mode"], "argument --decoding/--rule: invalid choice: 'mode'"),
    (["--scales", "1", "0.5"], "unrecognized arguments: --scales 1 0.5"),   # research options are not shipped
    (["--curve", "20", "1"], "unrecognized arguments: --curve 20 1"),
])
def test_ship_model_refuses_bad_values_in_one_line(tiny_model_path, tmp_path, capsys, args, message):
    out = tmp_path / "shipped.safetensors"
    assert ship(tiny_model_path, "unet", *args, "--out", out) == 2
    err = capsys.readouterr().err
    assert f": error: {message}" in err.splitlines()[-1] and err.count("error:") == 1
    assert not out.exists()


def test_ship_model_refuses_decodings_the_model_cannot_use(tmp_path, capsys):
    seed = make_tiny_model_file(tmp_path / "seed.safetensors", arch="seed")
    out = tmp_path / "shipped.safetensors"
    assert ship(seed, "seed", "--blend", "1", "--out", out) == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(
        ": error: annealed-mean decoding does not fit this model (it can use regression)")
    assert ship(seed, "seed", "--decoding", "min-risk", "--out", out) == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(
        ": error: min-risk decoding does not fit this model (it can use regression)")
    assert not out.exists()
    assert ship(seed, "seed", "--out", out) == 0
    assert read_model_file(str(out))[2]["decoding"] == {"default": "regression"}


def test_ship_model_refuses_research_settings_and_unreadable_files(tmp_path, capsys):
    curved = make_tiny_model_file(tmp_path / "curved.safetensors", info={"decode": {"blend": 2, "curve": [20, 1]}})
    out = tmp_path / "shipped.safetensors"
    assert ship(curved, "unet", "--out", out) == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(
        ": error: decode.curve is no longer a decoding setting (research code, now in benchmarks/)")
    missing = tmp_path / "missing.safetensors"
    assert ship(missing, "unet", "--out", out) == 1
    assert capsys.readouterr().err.strip().endswith(f": error: {missing}: no such model file")
    assert not out.exists()


def test_ship_model_exports_only_what_exports(tmp_path, tiny_model_path, capsys):
    """seed's network does not export: no .onnx beside it (and a stale one is removed);
    --no-onnx skips the export of a unet."""
    seed = make_tiny_model_file(tmp_path / "seed-src.safetensors", arch="seed")
    (tmp_path / "seed.onnx").write_bytes(b"stale")
    assert ship(seed, "seed", "--out", tmp_path / "seed.safetensors") == 0
    assert "no ONNX export" in capsys.readouterr().out and not (tmp_path / "seed.onnx").exists()
    assert ship(tiny_model_path, "unet", "--no-onnx", "--out", tmp_path / "u.safetensors") == 0
    assert (tmp_path / "u.safetensors").is_file() and not (tmp_path / "u.onnx").exists()
