import json

import numpy as np
import pytest
import torch

from colorizer.color import rgb_to_lab
from colorizer.evaluate import evaluate, load_photos, write_report
from colorizer.metrics import ciede2000, colorfulness, delta_colorfulness, per_photo_delta_colorfulness, psnr
from conftest import gradient_image


class Oracle:
    """A 'model' that returns the true a,b: the evaluation must call it perfect."""

    def __init__(self, arr):
        rgb = torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 255
        self.ab = rgb_to_lab(rgb)[:, 1:]
        self.i = 0
        self.model = lambda L: {"ab": torch.zeros(L.shape[0], 2, *L.shape[-2:])}
        self.device = torch.device("cpu")

    def predict_ab(self, L, vibrance=None):
        out = self.ab[self.i:self.i + L.shape[0]]
        self.i += L.shape[0]
        return out


@pytest.fixture
def photo_dir(tmp_path):
    for i in range(5):
        gradient_image(80, 60, "RGB", seed=i).save(tmp_path / f"p{i}.png")
    return tmp_path


def test_truth_scores_perfect_and_gray_has_no_colour(photo_dir, tmp_path):
    photos = load_photos(str(photo_dir), 64)
    assert photos[1].shape == (5, 64, 64, 3)
    rows, grids = evaluate([("gray", None), ("oracle", Oracle(photos[1]))], photos, batch=2, fd=True, grid=4)
    gray, oracle = rows
    assert gray["cf"] == 0.0
    assert oracle["ciede2000"] < 0.5  # only 8-bit rounding remains
    assert oracle["psnr"] > 45 and oracle["ssim"] > 0.99
    assert oracle["dcf"] < 0.5 and oracle["photo_dcf"] < 0.5
    assert gray["dcf"] == pytest.approx(gray["cf_true"]) and gray["photo_dcf"] == pytest.approx(gray["cf_true"])
    assert oracle["fd_lite0"] < gray["fd_lite0"]
    assert abs(oracle["fd_lite0"]) < 1e-3 * max(1.0, gray["fd_lite0"]) or oracle["fd_lite0"] < 1.0
    write_report(str(tmp_path / "rep"), rows, grids, {"data": str(photo_dir), "size": 64, "photos": 5})
    doc = json.load(open(tmp_path / "rep" / "report.json"))
    assert [r["model"] for r in doc["results"]] == ["gray", "oracle"]
    assert "| oracle |" in open(tmp_path / "rep" / "report.md").read()
    assert "grid.png" in open(tmp_path / "rep" / "report.html").read()


def test_metric_values_on_constructed_cases():
    a = np.zeros((8, 8, 3))
    assert psnr(a, a) == 100.0
    b = a.copy()
    b[..., 0] = 1 / 255
    assert psnr(b, a) == pytest.approx(10 * np.log10(255 ** 2 * 3))  # one level in one channel
    assert ciede2000(a, a) == 0.0
    gray = np.repeat(np.linspace(0, 1, 64).reshape(8, 8, 1), 3, axis=2)
    assert colorfulness(gray) == 0.0
    red = np.zeros((8, 8, 3))
    red[..., 0] = 1
    # |R-G| = 255, |(R+G)/2 - B| = 127.5, no spread: CF = 0.3 * sqrt(255^2 + 127.5^2)
    assert colorfulness(red) == pytest.approx(0.3 * np.hypot(255, 127.5))


def test_delta_colorfulness_is_the_difference_of_means_and_per_photo_is_stricter():
    truth = [10.0, 50.0]
    swapped = [50.0, 10.0]  # right on average, wrong on every photo
    assert delta_colorfulness(swapped, truth) == 0.0
    assert per_photo_delta_colorfulness(swapped, truth) == 40.0
    assert delta_colorfulness([20.0, 30.0], truth) == 5.0  # |25 - 30|
    assert per_photo_delta_colorfulness([20.0, 30.0], truth) == 15.0
