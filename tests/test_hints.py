"""Point hints (issue 14): parsing and checking them (colorizer.hints, the options), the
hint image the network takes (pipeline.hint_image), a hint-aware network (zero-initialised
hint inputs: it starts as the plain network), the spreading of hints by its keys
(decoding.hint_spread), the CLI's --hint/--hints, and training
with simulated hints."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from colorizer import ColorizeOptions, Colorizer
from colorizer.decoding.hint_spread import PRIOR, hints_at, spread
from colorizer.hints import Hint, check_inside, parse_hint, parse_hints_json, read_hints_file
from colorizer.image_io import read_image
from colorizer.lab import rgb_to_lab
from colorizer.networks import AB_SCALE, build_model
from colorizer.pipeline import hint_image, network_input
from colorizer.training.hints import pixel_hints, simulate_hints
from helpers import gradient_image, make_tiny_model_file


@pytest.fixture(scope="module")
def hint_model(tmp_path_factory):
    return make_tiny_model_file(tmp_path_factory.mktemp("m") / "tiny-hints.safetensors", hints=True)


# ---------------------------------------------------------------- parsing and checking

def test_a_hint_is_a_position_and_a_colour():
    h = parse_hint("120,80,#2E7D32")
    assert h == Hint(120, 80, "#2e7d32") and h.rgb == (0x2E, 0x7D, 0x32)
    assert parse_hint(" 1.5, 2 ,#000000") == Hint(1.5, 2, "#000000")
    assert parse_hints_json('[{"x": 3, "y": 4, "color": "#ff0000"}]') == (Hint(3, 4, "#ff0000"),)


@pytest.mark.parametrize("text,message", [
    ("120,80", "write it as X,Y,#RRGGBB"),
    ("a,80,#ffffff", "X and Y must be numbers"),
    ("1,2,red", "colour must be #RRGGBB"),
    ("1,2,#ff00", "colour must be #RRGGBB"),
    ("-1,2,#ff0000", "x must be a pixel position"),
    ("1,nan,#ff0000", "y must be a pixel position"),
])
def test_bad_hints_are_one_line_errors_naming_the_hint(text, message):
    with pytest.raises(ValueError) as e:
        parse_hint(text)
    assert message in str(e.value) and "\n" not in str(e.value) and "hint" in str(e.value)


@pytest.mark.parametrize("text,message", [
    ("{", "not valid JSON"), ('{"x": 1}', "must be a JSON list"), ('[{"x": 1, "y": 2}]', "hint 1: must be"),
    ('[{"x": 1, "y": 2, "color": "#000000"}, {"x": 1, "y": 2, "color": "blue"}]', "hint 2 (1,2,blue): colour must be"),
])
def test_bad_hints_json(text, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_hints_json(text)


def test_hints_files_and_the_options(tmp_path):
    f = tmp_path / "h.json"
    f.write_text(json.dumps([{"x": 5, "y": 6, "color": "#123456"}]))
    assert read_hints_file(str(f)) == (Hint(5, 6, "#123456"),)
    with pytest.raises(ValueError, match="missing.json: cannot read hints"):
        read_hints_file(str(tmp_path / "missing.json"))
    o = ColorizeOptions(hints=["1,2,#ffffff", {"x": 3, "y": 4, "color": "#000000"}, Hint(5, 6, "#ff0000")])
    assert o.hints == (Hint(1, 2, "#ffffff"), Hint(3, 4, "#000000"), Hint(5, 6, "#ff0000"))
    with pytest.raises(ValueError, match="hint 2"):
        ColorizeOptions(hints=["1,2,#ffffff", {"x": 3, "y": 4, "color": "nope"}])
    with pytest.raises(ValueError, match="hints must be a list"):
        ColorizeOptions(hints="1,2,#ffffff")
    with pytest.raises(ValueError, match="outside the 10x20 photo"):
        check_inside((Hint(9, 19, "#000000"), Hint(10, 5, "#000000")), 10, 20)


def test_the_hint_image_puts_each_colours_ab_at_its_scaled_position():
    hints = (Hint(0, 0, "#ff0000"), Hint(639, 479, "#0000ff"), Hint(320, 240, "#808080"))
    img = hint_image(hints, (480, 640), (96, 128))
    assert img.shape == (1, 3, 96, 128)
    assert img[0, 2].sum() == 3 and img[0, 2, 0, 0] == 1 and img[0, 2, 95, 127] == 1 and img[0, 2, 48, 64] == 1
    red = rgb_to_lab(torch.tensor([1.0, 0, 0], dtype=torch.float64).view(3, 1, 1))[1:, 0, 0].float() / AB_SCALE
    assert torch.allclose(img[0, :2, 0, 0], red, atol=1e-5)
    assert img[0, :2, 48, 64].abs().max() < 1e-3  # gray: a = b = 0
    assert hint_image((), (480, 640), (96, 128)).abs().sum() == 0


# ---------------------------------------------------------------- the network and the pipeline

def test_a_hint_aware_network_starts_as_the_plain_one():
    torch.manual_seed(0)
    plain = build_model("unet", num_bins=262, dec=(16, 16, 16, 16, 16), pretrained=False).eval()
    aware = build_model("unet", num_bins=262, dec=(16, 16, 16, 16, 16), pretrained=False, hints=True).eval()
    missing, unexpected = aware.load_state_dict(plain.state_dict(), strict=False)
    assert {m.split(".")[0] for m in missing} == {"hint_in", "hint_out", "hint_keys"} and not unexpected
    L = torch.rand(1, 1, 70, 90) * 100
    h = pixel_hints(torch.cat([L, torch.randn(1, 2, 70, 90) * 30], 1), 10, np.random.default_rng(0))
    with torch.no_grad():
        a, b, c = plain(L), aware(L), aware(L, h)
    assert torch.equal(a["logits"], b["logits"]) and torch.equal(a["logits"], c["logits"])
    assert aware.takes_hints and not plain.takes_hints
    with pytest.raises(ValueError, match="takes no hints"):
        plain(L, h)


def test_hints_change_the_colours_near_them_and_no_hints_is_automatic(hint_model):
    c = Colorizer.load(hint_model, device="cpu")
    assert c.backend.takes_hints
    img = gradient_image(160, 120, "L")
    auto = np.asarray(c.colorize(img, size=64).image, dtype=float)
    again = np.asarray(c.colorize(img, size=64, hints=()).image, dtype=float)
    assert np.array_equal(auto, again)
    hinted = np.asarray(c.colorize(img, size=64, hints=["80,60,#00ff00", "10,10,#ff00ff"]).image, dtype=float)
    diff = np.abs(hinted - auto).mean(axis=2)
    assert diff.max() > 5 and diff[50:70, 70:90].mean() > 0.5
    with pytest.raises(ValueError, match="outside the 160x120 photo"):
        c.colorize(img, size=64, hints=["160,10,#00ff00"])


def test_a_hint_spreads_over_the_pixels_whose_keys_are_like_its_own():
    # two regions the keys tell apart (left and right), one hint on the left
    h, w = 8, 12
    keys = torch.zeros(1, 3, h, w)                 # two key channels and the readiness
    keys[0, 0, :, w // 2:] = 8.0                   # the right half is far from the left in key space
    ab = torch.full((1, 2, h, w), 3.0)
    hint_ab, mask = torch.zeros(1, 2, h, w), torch.zeros(1, 1, h, w)
    hint_ab[0, :, 2, 1] = torch.tensor([60.0, -40.0])
    mask[0, 0, 2, 1] = 1
    out = spread(ab, keys, hint_ab, mask)
    # the hinted pixel and its whole region take the colour (weight 1 against PRIOR), the other keeps its own
    expected = (PRIOR * 3.0 + torch.tensor([60.0, -40.0])) / (PRIOR + 1)
    assert torch.allclose(out[0, :, :, : w // 2], expected[:, None, None].expand(2, h, w // 2), atol=1e-4)
    assert torch.allclose(out[0, :, :, w // 2:], ab[0, :, :, w // 2:], atol=1e-3)
    # a pixel more ready to take hints (last key channel, a log-weight) takes more of it
    keys[0, 2, :, w // 2:] = 30.0                  # exp(30 - 8^2 / 2): a weight of 0.14 against PRIOR
    assert (out - spread(ab, keys, hint_ab, mask))[0, 0, :, w // 2:].abs().min() > 1.0
    # no hints: unchanged; and the keys get gradients (training learns them)
    assert torch.equal(spread(ab, keys, hint_ab, torch.zeros_like(mask)), ab)
    keys.requires_grad_(True)
    spread(ab, keys, hint_ab, mask).sum().backward()
    assert keys.grad.abs().sum() > 0


def test_the_hinted_points_at_the_output_size_are_block_means():
    img = torch.zeros(1, 3, 6, 7)             # working size 6x7 -> output 3x4
    img[0, :2, 0, 0], img[0, 2, 0, 0] = torch.tensor([0.5, 0.1]), 1
    img[0, :2, 1, 1], img[0, 2, 1, 1] = torch.tensor([0.3, -0.1]), 1
    img[0, :2, 5, 6], img[0, 2, 5, 6] = torch.tensor([-0.2, 0.2]), 1
    ab, mask = hints_at(img, (3, 4))
    assert mask[0, 0].nonzero().tolist() == [[0, 0], [2, 3]]
    assert torch.allclose(ab[0, :, 0, 0], torch.tensor([0.4, 0.0]) * AB_SCALE, atol=1e-4)
    assert torch.allclose(ab[0, :, 2, 3], torch.tensor([-0.2, 0.2]) * AB_SCALE, atol=1e-4)


def test_a_hint_aware_model_gives_the_hinted_colour_at_its_point(hint_model):
    # whatever the (untrained, random) network predicts, the spreading honours the hint where it is
    c = Colorizer.load(hint_model, device="cpu")
    img = gradient_image(128, 96, "L")
    want = rgb_to_lab(torch.tensor([0x3A, 0x7B, 0xD5], dtype=torch.float64).view(3, 1, 1) / 255)[1:, 0, 0].float()
    hinted = c.colorize(img, size=64, hints=["40,30,#3a7bd5"]).ab
    y, x = 30 * hinted.shape[1] // 96, 40 * hinted.shape[2] // 128  # the hint's pixel at the network's output size
    hinted, auto = hinted[:, y, x], c.colorize(img, size=64).ab[:, y, x]
    assert (hinted - want).norm() < 0.25 * (auto - want).norm()  # (the hint-aware colour there keeps PRIOR / (1 + PRIOR))


def test_the_network_and_decode_steps_spread_hints_as_colorize_does(hint_model):
    # what videos use (network_outputs, then decode) gives what one photo gets
    c = Colorizer.load(hint_model, device="cpu")
    img = gradient_image(128, 96, "L")
    options = c.options(size=64, hints=["40,30,#3a7bd5", "100,70,#d53a3a"])
    L = read_image(img)[0]
    small, hints = network_input(L, c.backend, options)
    outputs = c.network_outputs(small, hints, options)
    assert "hint_keys" in outputs and "hint_keys" not in c.network_outputs(small, None, options)
    photo = c.colorize(img, options).ab
    assert torch.allclose(c.decode(outputs, options, hints)[0], photo, atol=1e-3)
    assert not torch.allclose(c.decode(outputs, options)[0], photo, atol=1.0)


def test_without_hints_a_hint_aware_model_computes_no_keys(hint_model, monkeypatch):
    """No hints: the network is given none (not an image of zeros) and is not asked for the
    keys that would spread them, on the plain path and the colour classes' path."""
    c = Colorizer.load(hint_model, device="cpu")
    calls = []
    real = type(c.backend).__call__
    monkeypatch.setattr(type(c.backend), "__call__",
                        lambda self, L, hints=None, outputs=None: calls.append((hints, outputs)) or real(self, L, hints, outputs))
    img = gradient_image(128, 96, "L")
    c.colorize(img, size=64)
    c.colorize(img, size=64, confidence=True)
    c.colorize(img, size=64, hints=["40,30,#3a7bd5"])
    assert [h is None for h, _ in calls] == [True, True, False]
    assert ["hint_keys" in o for _, o in calls] == [False, False, True]


def test_hints_spread_the_same_when_a_confidence_map_or_alternatives_are_asked_for(hint_model):
    # those take the colour classes' path through the pipeline: the keys must come along
    c = Colorizer.load(hint_model, device="cpu")
    img, hints = gradient_image(128, 96, "L"), ["40,30,#3a7bd5"]
    plain = c.colorize(img, size=64, hints=hints)
    both = c.colorize(img, size=64, hints=hints, confidence=True, variants=1)
    assert torch.allclose(both.ab, plain.ab, atol=1e-4) and both.confidence is not None and len(both.variants) == 1


def test_hints_for_a_model_that_takes_none_are_refused(tiny_colorizer):
    with pytest.raises(ValueError, match="takes no hints"):
        tiny_colorizer.colorize(gradient_image(40, 30, "L"), hints=["1,1,#ff0000"])


# ---------------------------------------------------------------- the command line

def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "colorizer", *args], capture_output=True, text=True, timeout=300)


def test_cli_hints_from_flags_and_a_file(tmp_path, hint_model, tiny_model_path):
    gradient_image(160, 120, "L").save(tmp_path / "a.png")
    (tmp_path / "h.json").write_text(json.dumps([{"x": 80, "y": 60, "color": "#00ff00"}]))
    outs = {}
    for name, extra in (("auto", []), ("flag", ["--hint", "80,60,#00ff00"]), ("file", ["--hints", str(tmp_path / "h.json")])):
        r = run_cli("colorize", str(tmp_path / "a.png"), "-o", str(tmp_path / name), "--model", hint_model, "--size", "64", "-q",
                    *extra)
        assert r.returncode == 0, r.stderr
        outs[name] = np.asarray(Image.open(tmp_path / name / "a.png"), dtype=float)
    assert np.array_equal(outs["flag"], outs["file"]) and np.abs(outs["flag"] - outs["auto"]).max() > 2
    for args, message in ((["--hint", "80,60,green"], "colorizer: error: hint (80,60,green): colour must be #RRGGBB"),
                          (["--hints", str(tmp_path / "nope.json")], "nope.json: cannot read hints")):
        r = run_cli("colorize", str(tmp_path / "a.png"), "-o", str(tmp_path / "x"), "--model", hint_model, *args)
        assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = run_cli("colorize", str(tmp_path / "a.png"), "-o", str(tmp_path / "y"), "--model", tiny_model_path,
                "--hint", "1,1,#ff0000")
    assert r.returncode == 2 and "takes no hints" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    # a hint outside one photo of a batch fails that photo, not the batch
    gradient_image(40, 30, "L").save(tmp_path / "small.png")
    r = run_cli("colorize", str(tmp_path / "a.png"), str(tmp_path / "small.png"), "-o", str(tmp_path / "z"),
                "--model", hint_model, "--size", "64", "-q", "--hint", "80,60,#00ff00")
    assert r.returncode == 1 and (tmp_path / "z" / "a.png").exists() and not (tmp_path / "z" / "small.png").exists()
    assert "small.png: hint (80,60,#00ff00): outside the 40x30 photo" in r.stderr


# ---------------------------------------------------------------- training with simulated hints

def test_simulated_hints_follow_zhang_et_al():
    rng = np.random.default_rng(0)
    lab = torch.cat([torch.full((64, 1, 48, 48), 50.0), torch.randn(64, 2, 48, 48) * 20], 1)
    h = simulate_hints(lab, rng)
    assert h.shape == (64, 3, 48, 48)
    mask = h[:, 2]
    none = (mask.sum(dim=(1, 2)) == 0).float().mean().item()
    assert 0.05 < none < 0.45  # a share of photos gets no hint
    # each revealed pixel carries its patch's mean a,b: the hint is close to, not equal to, the pixel's a,b
    on = mask > 0
    assert (h[:, :2].permute(1, 0, 2, 3)[:, on].abs() <= lab[:, 1:].abs().max() / AB_SCALE + 1e-6).all()
    # patches cluster around the centre
    ys = torch.nonzero(on)[:, 1].float()
    assert abs(ys.mean().item() - 24) < 4 and ys.std().item() < 16
    assert torch.equal(simulate_hints(lab, np.random.default_rng(5)), simulate_hints(lab, np.random.default_rng(5)))
    # the same hints as clicks (for the loss on the spread colours): one pixel inside each patch, with its colour
    same, points = simulate_hints(lab, np.random.default_rng(5), centres=True)
    assert torch.equal(same, simulate_hints(lab, np.random.default_rng(5)))
    at = points[:, 2] > 0
    assert (same[:, 2][at] == 1).all()
    agree = (points[:, :2] == same[:, :2]).all(1)[at].float().mean()
    assert agree > 0.75  # (where a later patch painted over an earlier one's centre, the two differ: patches cluster)
    assert 0 < at.sum() < (same[:, 2] > 0).sum() and torch.equal(at.flatten(1).any(1), (same[:, 2] > 0).flatten(1).any(1))


def test_training_with_hints_learns_to_use_them(tmp_path, tiny_model_path):
    from colorizer.training import train
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:40, 0:40] / 40.0
    for i in range(16):
        c0, c1 = rng.random(3), rng.random(3)
        pixels = ((c0 * (1 - x[..., None]) + c1 * y[..., None]).clip(0, 1) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(tmp_path / f"{i}.png")
    out = train({"data": str(tmp_path), "val": str(tmp_path), "out": str(tmp_path / "run"), "init": tiny_model_path,
                 "hints": True, "size": 32, "batch": 8, "epochs": 2, "warmup": 1, "lr": 1e-3, "workers": 1})
    c = Colorizer.load(out, device="cpu")
    assert c.backend.takes_hints
    net = c.backend.network
    assert net.hint_in.weight.abs().sum() > 0 and net.hint_out.weight.abs().sum() > 0  # learned from zero
    keys = net.hint_keys  # the spreading keys learned too: from their exact start values
    assert keys.refine[2].weight.abs().sum() > 0 and keys.readiness.weight.abs().sum() > 0
    assert abs(float(keys.log_sigma_xy.exp()) - 0.5) > 1e-4
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert "val_psnr_hints" in state["history"][-1]


def test_suggestions_are_the_likeliest_classes_at_the_point(tiny_colorizer):
    img = gradient_image(96, 64, "L")
    s = tiny_colorizer.suggest(img, 40, 30, k=5)
    assert len(s) == 5 and s[0]["probability"] >= s[-1]["probability"]
    # the same as reading the calibrated class distribution by hand
    from colorizer.image_io import lightness
    from colorizer.pipeline import to_working_size
    L = lightness(img)[0]
    small = to_working_size(L, 256)
    logits = tiny_colorizer.backend(small)["logits"]
    h, w = logits.shape[-2:]
    p = torch.softmax(logits[0, :, int(30 * h / 64), int(40 * w / 96)], 0) / tiny_colorizer.extra["class_weights"]
    best = int(torch.argmax(p))
    assert s[0]["ab"] == tiny_colorizer.extra["bins"][best].tolist()
    with pytest.raises(ValueError, match="outside the 96x64 photo"):
        tiny_colorizer.suggest(img, 96, 10)
