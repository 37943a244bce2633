"""The CLI end to end on generated images of several modes and sizes."""
import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from helpers import gradient_image


def run_cli(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "colorizer", *args], capture_output=True, text=True, timeout=timeout)


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("in")
    cases = {
        "gray.png": gradient_image(120, 80, "L"),
        "rgb.jpg": gradient_image(200, 150, "RGB"),
        "tall.png": gradient_image(31, 257, "L"),
        "sixteen.png": gradient_image(64, 48, "L").convert("I;16"),
        "alpha.png": gradient_image(50, 70, "RGBA"),
        "pal.gif": gradient_image(77, 33, "P"),
        "bw.bmp": gradient_image(40, 40, "1"),
    }
    for name, img in cases.items():
        img.save(d / name)
    os.makedirs(d / "nested")
    gradient_image(65, 65, "L").save(d / "nested" / "deep.webp")
    return d


def test_colorize_folder_keeps_sizes_and_never_touches_inputs(inputs, tmp_path, tiny_model_path):
    before = {p: sha(p) for p in inputs.rglob("*") if p.is_file()}
    out = tmp_path / "out"
    r = run_cli("colorize", str(inputs), "-o", str(out), "--model", tiny_model_path, "-q")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    after = {p: sha(p) for p in inputs.rglob("*") if p.is_file()}
    assert before == after
    for src in before:
        rel = src.relative_to(inputs).with_suffix(".png")
        res = Image.open(out / rel)
        assert res.size == Image.open(src).size, rel
        assert res.mode in ("RGB", "RGBA")
    assert Image.open(out / "alpha.png").mode == "RGBA"
    # the output's lightness is the input's own: gray in, same gray levels out (within rounding)
    g = np.asarray(Image.open(inputs / "gray.png").convert("L"), dtype=float)
    o = np.asarray(Image.open(out / "gray.png").convert("L"), dtype=float)
    assert np.abs(g - o).mean() < 2.5


def test_jpg_output_bad_file_and_exit_status(inputs, tmp_path, tiny_model_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"this is not a jpeg")
    out = tmp_path / "o2"
    r = run_cli("colorize", str(inputs / "gray.png"), str(bad), "-o", str(out), "--format", "jpg", "--model", tiny_model_path,
                "-q")
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    lines = [l for l in r.stderr.splitlines() if "broken.jpg" in l]
    assert len(lines) == 1 and lines[0].startswith(str(bad) + ": ")
    assert Image.open(out / "gray.jpg").format == "JPEG"
    assert sorted(os.listdir(out)) == ["gray.jpg"]  # no temp files left behind


def test_existing_outputs_are_not_overwritten_unless_asked(inputs, tmp_path, tiny_model_path):
    out = tmp_path / "o3"
    out.mkdir()
    (out / "gray.png").write_bytes(b"precious")
    r = run_cli("colorize", str(inputs / "gray.png"), "-o", str(out), "--model", tiny_model_path, "-q")
    # refused once, before any work, with the count and the two flags (exit 2: nothing was done)
    assert r.returncode == 2 and (out / "gray.png").read_bytes() == b"precious"
    assert r.stderr.strip().splitlines() == [f"colorizer: error: 1 of 1 outputs already exist in {out} (gray.png): add "
                                             "--skip-existing to colorize only the others, or --overwrite to replace them"]
    r = run_cli("colorize", str(inputs / "gray.png"), "-o", str(out), "--model", tiny_model_path, "-q", "--skip-existing")
    assert r.returncode == 0 and (out / "gray.png").read_bytes() == b"precious"
    r = run_cli("colorize", str(inputs / "gray.png"), "-o", str(out), "--model", tiny_model_path, "-q", "--overwrite")
    assert r.returncode == 0 and Image.open(out / "gray.png").size == (120, 80)


def test_output_into_the_input_folder_never_overwrites_an_input(tmp_path, tiny_model_path):
    gradient_image(40, 30, "L").save(tmp_path / "a.png")
    h = sha(tmp_path / "a.png")
    r = run_cli("colorize", str(tmp_path / "a.png"), "-o", str(tmp_path), "--model", tiny_model_path, "-q", "--overwrite")
    assert r.returncode == 1 and "would overwrite an input" in r.stderr
    assert sha(tmp_path / "a.png") == h


def test_unknown_model_is_a_one_line_error(tmp_path):
    gradient_image(40, 30, "L").save(tmp_path / "a.png")
    r = run_cli("colorize", str(tmp_path / "a.png"), "-o", str(tmp_path / "o"), "--model", "nope")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and "unknown model 'nope'" in r.stderr


def test_python_api(tiny_colorizer):
    img = gradient_image(123, 45, "L")
    out = tiny_colorizer.colorize(img)
    assert out.image.size == (123, 45) and out.image.mode == "RGB" and out.notes == []
    # vibrance changes the colours of a classification model
    a = np.asarray(tiny_colorizer.colorize(img, vibrance=0.0).image, dtype=float)
    b = np.asarray(tiny_colorizer.colorize(img, vibrance=0.9).image, dtype=float)
    assert np.abs(a - b).mean() > 0.1


def test_help_lists_commands():
    r = run_cli("--help")
    for cmd in ("colorize", "train", "evaluate", "serve", "prior", "models"):
        assert cmd in r.stdout


def test_prior_command_writes_weights(tmp_path):
    import json
    for i in range(4):
        gradient_image(48, 48, "RGB", seed=i).save(tmp_path / f"p{i}.png")
    out = tmp_path / "prior.json"
    r = run_cli("prior", "--data", str(tmp_path), "-o", str(out), "--size", "32")
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    p, w = np.array(doc["prior"]), np.array(doc["weights"])
    assert len(p) == len(w) == len(doc["bins"]) and doc["photos"] == 4
    assert abs(p.sum() - 1) < 1e-4 and abs((p * w).sum() - 1) < 1e-3
    # colours that occur are weighted down against those that do not
    assert w[p.argmax()] < w[p.argmin()]
    assert f"4 photos, {len(p)} bins; weights from {w.min():.3f} to {w.max():.3f} -> {out}" in r.stdout
    r = run_cli("prior", "--data", str(tmp_path / "none"), "-o", str(tmp_path / "none.json"))
    assert r.returncode == 2 and "no photos" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "none.json").exists()


def test_serve_with_unknown_model_is_a_one_line_error():
    r = run_cli("serve", "--model", "nope", "--port", "0")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "unknown model" in r.stderr
    assert r.stderr.startswith("colorizer: error: unknown model 'nope'") and r.stderr.count("\n") == 1
    # a limit out of range, refused before the model is loaded
    r = run_cli("serve", "--max-megapixels", "0", "--port", "0")
    assert r.returncode == 2 and r.stderr == "colorizer: error: max_pixels must be a whole number of at least 1, not 0\n"


def test_evaluate_command_writes_reports(tmp_path, tiny_model_path):
    import json
    for i in range(3):
        gradient_image(70, 50, "RGB", seed=i).save(tmp_path / f"p{i}.jpg")
    rep = tmp_path / "rep"

    def table_rows(stdout):
        return [l.split("|")[1].strip() for l in stdout.splitlines() if l.startswith("| ") and "---" not in l][1:]

    r = run_cli("evaluate", "--data", str(tmp_path), "--model", tiny_model_path, "--size", "64", "--out", str(rep), "--no-fd")
    assert r.returncode == 0, r.stderr
    doc = json.loads((rep / "report.json").read_text())
    assert [x["model"] for x in doc["results"]] == ["gray", "tiny-unet"]
    assert doc["results"][0]["cf"] == 0.0 and doc["results"][1]["cf"] > 0.0
    assert doc["meta"]["photos"] == 3 and doc["meta"]["size"] == 64 and "fd_lite0" not in doc["results"][1]
    assert (rep / "grid.png").exists() and "| gray |" in r.stdout
    assert Image.open(rep / "grid.png").size == (3 * 128, 22 + 3 * 128)  # input (gray), tiny-unet, truth
    assert "Columns: input (gray), tiny-unet, truth" in (rep / "report.html").read_text()
    # a row per decoding rule for a colour-class model; a regression model gives one row, with a note
    r = run_cli("evaluate", "--data", str(tmp_path), "--model", tiny_model_path, "--model", "seed", "--size", "64", "--no-fd",
                "--decoding", "min-risk", "--decoding", "annealed-mean")
    assert r.returncode == 0, r.stderr
    assert table_rows(r.stdout) == ["gray", "tiny-unet min-risk", "tiny-unet annealed-mean", "seed"]
    assert "seed cannot use min-risk decoding" in r.stderr
    # a row per vibrance; vibrance is checked as colorize checks it
    r = run_cli("evaluate", "--data", str(tmp_path), "--model", tiny_model_path, "--size", "32", "--no-fd", "--limit", "1",
                "--vibrance", "0.3", "--vibrance", "0.9")
    assert r.returncode == 0, r.stderr
    assert table_rows(r.stdout) == ["gray", "tiny-unet v=0.3", "tiny-unet v=0.9"]
    r = run_cli("evaluate", "--data", str(tmp_path), "--vibrance", "2")
    assert r.returncode == 2 and "vibrance must be a number between 0 and 1" in r.stderr
    r = run_cli("evaluate", "--data", str(tmp_path / "nothing"), "--model", tiny_model_path, "--no-fd")
    assert r.returncode == 2 and "no readable photos" in r.stderr and "Traceback" not in r.stderr


def test_train_errors_are_one_line(tmp_path):
    """Each error is one line, exit status 2, and a run that could not start leaves no folder."""
    def one_line_error(r, text):
        assert r.returncode == 2 and text in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    one_line_error(run_cli("train", "--out", str(tmp_path / "run")), "--data is required")
    one_line_error(run_cli("train", "--out", str(tmp_path / "nothing"), "--resume"), "nothing to resume")
    one_line_error(run_cli("train", "--data", str(tmp_path), "--out", str(tmp_path / "ft"), "--init", "no-such-model"),
                   "unknown model 'no-such-model'")
    one_line_error(run_cli("train", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "nodata")), "no photos")
    one_line_error(run_cli("train", "--data", str(tmp_path), "--out", str(tmp_path / "seed"), "--model", "seed",
                           "--decoding", "min-risk"), "a seed model decodes by regression")
    assert sorted(os.listdir(tmp_path)) == []
    r = run_cli("train", "--out", str(tmp_path / "x"), "--decoding", "regression")
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_models_lists_the_bundled_models_with_their_training_note():
    from colorizer.bundled import DEFAULT_MODEL, available_models, resolve_model
    from colorizer.cli.models import without_paths
    from colorizer.model_files import read_model_file
    r = run_cli("models")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == len(available_models())
    for name, line in zip(available_models(), lines):
        assert line.startswith(f"{name} (default):" if name == DEFAULT_MODEL else f"{name}:")
        note = read_model_file(resolve_model(name)[0])[2].get("trained_on")
        if note:  # the whole recipe, not only the last fine-tuning run's epochs; no folder of the training machine
            assert line.endswith(f"; trained on {without_paths(note)}") and "/" not in line
    assert "colour classes decoded by min-risk" in lines[available_models().index("unet")]
    assert "decoded by" not in lines[available_models().index("seed")]  # regression: no classes


def test_decoding_option_changes_the_colours_and_rejects_unknown_rules(inputs, tmp_path, tiny_model_path):
    src = str(inputs / "gray.png")
    outs = {}
    for rule in ("annealed-mean", "min-risk"):
        r = run_cli("colorize", src, "-o", str(tmp_path / rule), "--model", tiny_model_path, "--decoding", rule, "-q")
        assert r.returncode == 0, r.stderr
        outs[rule] = np.asarray(Image.open(tmp_path / rule / "gray.png"), dtype=float)
    assert np.abs(outs["annealed-mean"] - outs["min-risk"]).mean() > 0.5
    r = run_cli("colorize", src, "-o", str(tmp_path / "x"), "--model", tiny_model_path, "--decoding", "median")
    assert r.returncode == 2 and "--decoding must be one of min-risk, annealed-mean, regression, not 'median'" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("args,message", [
    (["--size", "16"], "colorizer: error: --size must be a whole number between 32 and 4096, not 16"),
    (["--size", "big"], "colorizer: error: --size must be a whole number between 32 and 4096, not 'big'"),
    (["--vibrance", "2"], "colorizer: error: --vibrance must be a number between 0 and 1, not 2.0"),
    (["--max-megapixels", "0"], "colorizer: error: --max-megapixels must be a number above 0, not 0"),
])
def test_bad_options_are_refused_with_the_apis_words(inputs, tmp_path, args, message):
    r = run_cli("colorize", str(inputs / "gray.png"), "-o", str(tmp_path / "o"), *args)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_option_defaults_in_help_come_from_the_options(tmp_path):
    from colorizer.options import OPTIONS
    r = run_cli("colorize", "--help")
    text = " ".join(r.stdout.split())
    assert f"(default {OPTIONS['size'].default})" in text and f"(default {OPTIONS['vibrance'].default:g})" in text
