"""The options of one colorization, defined once (colorizer.options) and checked the same
way by the Python API, the CLI and (tests/test_server.py) the HTTP API."""
import math
import subprocess
import sys

import pytest

from colorizer import ColorizeOptions, ColorizeOutput
from colorizer.options import OPTIONS, describe


def test_defaults_are_defined_once_and_used_by_the_options_object():
    o = ColorizeOptions()
    assert (o.vibrance, o.size, o.decoding) == (OPTIONS["vibrance"].default, OPTIONS["size"].default, None)
    assert (o.vibrance, o.size) == (0.62, 256)
    spec = describe()
    assert spec["vibrance"] == {"kind": "number", "default": 0.62, "min": 0.0, "max": 1.0, "help": OPTIONS["vibrance"].help}
    assert spec["size"]["min"] == 32 and spec["size"]["max"] == 4096
    assert describe(max_size=1024)["size"]["max"] == 1024 and describe(max_size=9999)["size"]["max"] == 4096
    assert spec["decoding"]["choices"] == ["min-risk", "annealed-mean", "regression"]


@pytest.mark.parametrize("changes,message", [
    ({"vibrance": 2}, "vibrance must be a number between 0 and 1, not 2"),
    ({"vibrance": -1}, "vibrance must be a number between 0 and 1"),
    ({"vibrance": math.nan}, "vibrance must be a number between 0 and 1"),
    ({"vibrance": "0.5"}, "vibrance must be a number"),
    ({"vibrance": True}, "vibrance must be a number"),
    ({"size": 0}, "size must be a whole number between 32 and 4096, not 0"),
    ({"size": 16}, "size must be a whole number between 32 and 4096"),
    ({"size": 256.5}, "size must be a whole number"),
    ({"size": 5000}, "size must be a whole number between 32 and 4096"),
    ({"decoding": "mode"}, "decoding must be one of min-risk, annealed-mean, regression, not 'mode'"),
    ({"max_pixels": 0}, "max_pixels must be a whole number of at least 1"),
    ({"size": 10 ** 400}, "size must be a whole number between 32 and 4096, not 10000000000000000..."),
])
def test_bad_options_are_one_line_errors_naming_the_option(changes, message):
    with pytest.raises(ValueError) as e:
        ColorizeOptions(**changes)
    assert message in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(ValueError):
        ColorizeOptions().replace(**changes)


def test_good_values_are_normalised_and_replace_keeps_the_rest():
    o = ColorizeOptions(vibrance=1, size=384.0)
    assert o.vibrance == 1.0 and isinstance(o.vibrance, float) and o.size == 384 and isinstance(o.size, int)
    p = o.replace(decoding="annealed-mean", vibrance=None)
    assert (p.vibrance, p.size, p.decoding) == (1.0, 384, "annealed-mean")
    assert o.replace() is o
    with pytest.raises(TypeError, match="unknown colorize option"):
        o.replace(colour="red")


@pytest.mark.parametrize("name,text,value", [("size", " 512 ", 512), ("vibrance", "0.3", 0.3),
                                             ("decoding", "Min-Risk", "min-risk"), ("size", "", 256), ("decoding", "", None)])
def test_parse_reads_text_as_forms_and_command_lines_give_it(name, text, value):
    assert OPTIONS[name].parse(text) == value


@pytest.mark.parametrize("name,text", [("size", "12x"), ("size", "1e9"), ("vibrance", "lots"), ("vibrance", "inf"),
                                       ("size", "9" * 400), ("vibrance", "9" * 400)])
def test_parse_refuses_bad_text(name, text):
    with pytest.raises(ValueError, match=f"{name} must be"):
        OPTIONS[name].parse(text)


def test_the_python_api_checks_options_as_the_cli_does(tiny_colorizer, sample_rgb):
    """Colorizer.colorize(img, vibrance=2) and friends used to be accepted while the CLI
    and the HTTP API refused them with other ranges."""
    for bad in ({"vibrance": 2}, {"vibrance": -1}, {"vibrance": math.nan}, {"size": 0}, {"size": 16}):
        with pytest.raises(ValueError, match=f"{next(iter(bad))} must be"):
            tiny_colorizer.colorize(sample_rgb, **bad)
    out = tiny_colorizer.colorize(sample_rgb, ColorizeOptions(size=64), vibrance=0.9)
    assert isinstance(out, ColorizeOutput) and out.image.size == sample_rgb.size
    assert out.notes == ["colour input: converted to grayscale first"]
    with pytest.raises(TypeError, match="unknown colorize option"):
        tiny_colorizer.colorize(sample_rgb, colour="red")


def test_a_decoding_the_model_cannot_use_is_refused_by_the_api_and_noted_once_by_the_cli(tmp_path, sample_rgb):
    from colorizer import Colorizer
    from helpers import make_tiny_model_file
    seed = Colorizer.load(make_tiny_model_file(tmp_path / "seed.safetensors", arch="seed"), device="cpu")
    with pytest.raises(ValueError, match="cannot use min-risk decoding"):
        seed.colorize(sample_rgb, decoding="min-risk")
    assert seed.ignored(ColorizeOptions(vibrance=0.9), ["vibrance"]) == ["vibrance does not apply to regression decoding (seed)"]
    sample_rgb.save(tmp_path / "a.png")
    sample_rgb.save(tmp_path / "b.png")
    r = subprocess.run([sys.executable, "-m", "colorizer", "colorize", str(tmp_path / "a.png"), str(tmp_path / "b.png"),
                        "-o", str(tmp_path / "out"), "--model", str(tmp_path / "seed.safetensors"), "--vibrance", "0.9",
                        "--decoding", "min-risk", "-q"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("cannot use min-risk decoding") == 1 and r.stderr.count("vibrance does not apply") == 1


def test_colorizer_repr_says_what_is_loaded(tiny_colorizer):
    r = repr(tiny_colorizer)
    assert "tiny-unet" in r and "annealed-mean" in r and "torch" in r and "cpu" in r
