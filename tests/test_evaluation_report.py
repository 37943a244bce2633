"""The evaluation report as a reader sees it: every model has its own label (two files
named model.safetensors in different runs are a/model and b/model, in the table, the JSON
and the grid), and the HTML page reads well: headings in words, "-" not "None", arrows
for better/worse, the best value of each such column in bold, a labelled grid."""
import json
import os
import re
import subprocess
import sys

import pytest
from PIL import Image

from colorizer.evaluation import model_labels
from colorizer.evaluation.report import html_page
from helpers import gradient_image, make_tiny_model_file


@pytest.mark.parametrize("specs,labels", [
    (["runs/a/model.safetensors", "runs/b/model.safetensors"], ["a/model", "b/model"]),
    (["x/runs/a/model.safetensors", "y/runs/a/model.safetensors"], ["x/runs/a/model", "y/runs/a/model"]),
    (["runs/a/model.safetensors", "runs/b/other.safetensors"], ["model", "other"]),
    (["unet", "runs/unet.safetensors"], ["unet", "runs/unet"]),
    (["unet", "seed"], ["unet", "seed"]),
    (["runs/a/model.safetensors", "runs/a/model.safetensors"], ["model #1", "model #2"]),
    (["m.safetensors", "sub/m.safetensors", "other/sub/m.safetensors"], ["main/m", "main/sub/m", "other/sub/m"]),
])
def test_labels_are_the_shortest_distinguishing_tails(specs, labels, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path.parent)
    (tmp_path.parent / "main").mkdir(exist_ok=True)
    monkeypatch.chdir(tmp_path.parent / "main")
    assert model_labels(specs) == labels


def test_two_models_with_one_file_name_have_their_own_rows_json_and_grid_columns(tmp_path):
    data = tmp_path / "photos"
    data.mkdir()
    for i in range(2):
        gradient_image(48, 40, "RGB", seed=i).save(data / f"p{i}.png")
    for run in ("a", "b"):
        os.makedirs(tmp_path / "runs" / run)
    a = make_tiny_model_file(tmp_path / "runs" / "a" / "model.safetensors", seed=1)
    b = make_tiny_model_file(tmp_path / "runs" / "b" / "model.safetensors", seed=2)
    rep = tmp_path / "rep"
    r = subprocess.run([sys.executable, "-m", "colorizer", "evaluate", "--data", str(data), "--model", a, "--model", b,
                        "--size", "32", "--no-fd", "--out", str(rep)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rows = [line.split("|")[1].strip() for line in r.stdout.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert rows == ["gray", "a/model", "b/model"]
    doc = json.loads((rep / "report.json").read_text())
    assert [x["model"] for x in doc["results"]] == ["gray", "a/model", "b/model"]
    page = (rep / "report.html").read_text()
    assert "Columns: input (gray), a/model, b/model, truth" in page
    assert Image.open(rep / "grid.png").size[0] == 4 * 32 * 4  # four columns, 128 px each

    # the page: headings in words with arrows, no "None", the best of each column in bold
    assert "None" not in page and "photo_dcf" not in page and "ciede2000<" not in page
    for heading in ("PSNR (dB)&nbsp;↑", "SSIM&nbsp;↑", "CIEDE2000&nbsp;↓", "|ΔCF|&nbsp;↓", "per-photo |ΔCF|&nbsp;↓",
                    "colourfulness of the truth<"):
        assert heading in page, heading
    best = re.findall(r'<td class="best">([^<]*)</td>', page)
    assert len(best) >= 5  # PSNR, SSIM, CIEDE2000 and both |dCF|s (FD-Lite0 not computed)
    psnrs = [x["psnr"] for x in doc["results"]]
    assert f"{max(psnrs):.2f}" in best


def test_the_page_marks_the_best_value_per_direction_and_shows_a_dash_for_no_vibrance():
    rows = [{"model": "gray", "vibrance": None, "photos": 2, "psnr": 20.0, "ciede2000": 9.0},
            {"model": "m", "vibrance": 0.5, "photos": 2, "psnr": 22.5, "ciede2000": 10.0}]
    page = html_page(rows, ["input (gray)", "m", "truth"], {"data": "photos", "size": 64, "photos": 2})
    # higher PSNR is better (m's), lower CIEDE2000 is better (gray's)
    assert re.findall(r'<td class="best">([^<]*)</td>', page) == ["9.00", "22.50"]
    assert "<td>-</td>" in page and "None" not in page
    assert '<th scope="row">input (gray)</th>' in page
