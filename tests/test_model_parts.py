"""scripts/model_parts.py: the model card's steps between training runs (a plain copy of a
hint-aware model, the mean of checkpoints, one model's colour network with another's hint
parts), on tiny model files."""
import importlib.util
import os

import numpy as np
import torch

from colorizer import Colorizer
from colorizer.model_files import read_model_file
from colorizer.networks import is_hint_parameter
from helpers import gradient_image, make_tiny_model_file

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "scripts", "model_parts.py")
spec = importlib.util.spec_from_file_location("model_parts", SCRIPT)
model_parts = importlib.util.module_from_spec(spec)
spec.loader.exec_module(model_parts)


def run(*args):
    try:
        return model_parts.main([str(a) for a in args])
    except SystemExit as e:
        return e.code


def colours(path, hints=()):
    c = Colorizer.load(str(path), backend="torch")
    return np.asarray(c.colorize(gradient_image(96, 64), size=64, hints=list(hints)).image)


def test_plain_drops_the_hint_parts_and_keeps_the_colours(tmp_path):
    aware = make_tiny_model_file(tmp_path / "aware.safetensors", hints=True)
    assert run("plain", aware, tmp_path / "plain.safetensors") == 0
    arch, config, _, state, _ = read_model_file(str(tmp_path / "plain.safetensors"))
    assert config["hints"] is False and not any(is_hint_parameter(k) for k in state)
    assert not Colorizer.load(str(tmp_path / "plain.safetensors"), backend="torch").backend.takes_hints
    np.testing.assert_array_equal(colours(tmp_path / "plain.safetensors"), colours(aware))
    # a plain model has nothing to take out: one line, status 1, nothing written
    assert run("plain", tmp_path / "plain.safetensors", tmp_path / "again.safetensors") == 1
    assert not (tmp_path / "again.safetensors").exists()


def test_average_is_the_mean_of_the_weights(tmp_path):
    a = make_tiny_model_file(tmp_path / "a.safetensors", seed=1)
    b = make_tiny_model_file(tmp_path / "b.safetensors", seed=2)
    assert run("average", tmp_path / "mean.safetensors", a, b) == 0
    sa, sb = read_model_file(a)[3], read_model_file(b)[3]
    _, _, info, mean, _ = read_model_file(str(tmp_path / "mean.safetensors"))
    assert info["averaged"] == [a, b]
    for k, v in mean.items():
        if v.is_floating_point():
            torch.testing.assert_close(v.float(), (sa[k].float() + sb[k].float()) / 2)
    assert any(not torch.equal(mean[k], sa[k]) for k in mean)
    seed = make_tiny_model_file(tmp_path / "seed.safetensors", arch="seed")
    assert run("average", tmp_path / "bad.safetensors", a, seed) == 1


def test_hint_keys_takes_the_colours_of_one_and_the_hints_of_the_other(tmp_path):
    colour = make_tiny_model_file(tmp_path / "colour.safetensors", seed=1, hints=True)
    keys = make_tiny_model_file(tmp_path / "keys.safetensors", seed=2, hints=True)
    assert run("plain", colour, tmp_path / "plain.safetensors") == 0
    assert run("hint-keys", tmp_path / "plain.safetensors", keys, tmp_path / "both.safetensors") == 0
    _, config, _, both, _ = read_model_file(str(tmp_path / "both.safetensors"))
    sc, sk = read_model_file(colour)[3], read_model_file(keys)[3]
    assert config["hints"] is True
    for k, v in both.items():
        torch.testing.assert_close(v.float(), (sk if is_hint_parameter(k) else sc)[k].float())
    # without hints: the colour model's outputs; with hints: they differ from it
    np.testing.assert_array_equal(colours(tmp_path / "both.safetensors"), colours(colour))
    hint = [{"x": 10, "y": 10, "color": "#00ff00"}]
    assert not np.array_equal(colours(tmp_path / "both.safetensors", hint), colours(colour, hint))
    assert run("hint-keys", colour, tmp_path / "plain.safetensors", tmp_path / "bad.safetensors") == 1
    # a fast head is the colour file's: kept from it, never taken from the keys' file
    fast = make_tiny_model_file(tmp_path / "fast.safetensors", seed=3, hints=True, fast_head=True)
    assert run("hint-keys", fast, keys, tmp_path / "fast_keys.safetensors") == 0
    _, config, _, state, _ = read_model_file(str(tmp_path / "fast_keys.safetensors"))
    sf = read_model_file(fast)[3]
    assert config["fast_head"] is True and config["hints"] is True
    assert {k for k in state if k.startswith("fast_head.")} == {k for k in sf if k.startswith("fast_head.")} != set()
    for k, v in state.items():
        torch.testing.assert_close(v.float(), (sk if is_hint_parameter(k) else sf)[k].float())
    assert run("hint-keys", colour, fast, tmp_path / "no_fast.safetensors") == 0
    _, config, _, state, _ = read_model_file(str(tmp_path / "no_fast.safetensors"))
    assert not config.get("fast_head") and not any(k.startswith("fast_head.") for k in state)
