"""colorizer.evaluation: photos, the evaluation rows and numbers, the report."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from colorizer import ColorizeOptions
from colorizer.evaluation.photos import gray_photo, load_photos
from colorizer.evaluation.report import grid_columns, markdown_table, write_report
from colorizer.evaluation.run import GRAY, evaluate, predict_rgb, rows_to_run
from colorizer.lab import rgb_to_lab
from colorizer.metrics import Scores, ciede2000, colorfulness, delta_colorfulness, per_photo_delta_colorfulness, psnr
from helpers import gradient_image


class Oracle:
    """A 'model' that returns the true a,b: the evaluation must call it perfect."""

    predicts_classes = False
    name = "oracle"

    def __init__(self, arr):
        rgb = torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 255
        self.ab = rgb_to_lab(rgb)[:, 1:]
        self.i = 0

    def predict_ab(self, L, options=None):
        out = self.ab[self.i:self.i + L.shape[0]]
        self.i += L.shape[0]
        return out


@pytest.fixture
def photo_dir(tmp_path):
    d = tmp_path / "photos"
    d.mkdir()
    for i in range(5):
        gradient_image(80, 60, "RGB", seed=i).save(d / f"p{i}.png")
    return d


def test_truth_scores_perfect_and_gray_has_no_colour(photo_dir, tmp_path):
    photos = load_photos(str(photo_dir), 64, progress=False)
    assert photos[1].shape == (5, 64, 64, 3)
    rows, grids = evaluate([(GRAY, None), ("oracle", Oracle(photos.pixels))], photos, batch=2, fd=True, grid=4, progress=False)
    gray, oracle = rows
    assert list(gray) == ["model", "vibrance", "photos", "psnr", "ssim", "ciede2000", "cf", "cf_true", "dcf", "photo_dcf",
                          "seconds", "fd_lite0"]
    assert gray["photos"] == oracle["photos"] == 5 and gray["vibrance"] is None
    assert gray["cf"] == 0.0
    assert oracle["ciede2000"] < 0.5  # only 8-bit rounding remains
    assert oracle["psnr"] > 45 and oracle["ssim"] > 0.99
    assert oracle["dcf"] < 0.5 and oracle["photo_dcf"] < 0.5
    assert gray["dcf"] == pytest.approx(gray["cf_true"]) and gray["photo_dcf"] == pytest.approx(gray["cf_true"])
    assert oracle["fd_lite0"] < gray["fd_lite0"]
    assert abs(oracle["fd_lite0"]) < 1e-3 * max(1.0, gray["fd_lite0"]) or oracle["fd_lite0"] < 1.0
    assert [len(grids[k]) for k in ("gray", "oracle", "truth")] == [4, 4, 4]
    assert np.array_equal(np.stack(grids["truth"]), photos.pixels[:4])
    assert all((np.ptp(im.astype(int), axis=2) == 0).all() for im in grids["gray"])  # R = G = B
    write_report(str(tmp_path / "rep"), rows, grids, {"data": str(photo_dir), "size": 64, "photos": 5})
    doc = json.load(open(tmp_path / "rep" / "report.json"))
    assert [r["model"] for r in doc["results"]] == ["gray", "oracle"] and doc["meta"]["photos"] == 5
    assert doc["results"][1]["psnr"] == oracle["psnr"]
    assert "| oracle |" in open(tmp_path / "rep" / "report.md").read()
    page = open(tmp_path / "rep" / "report.html").read()
    assert "grid.png" in page and "Columns: input (gray), oracle, truth" in page
    # the grid: a header row, then a row per shown photo; the input, the oracle, the truth at 128 px
    grid = Image.open(tmp_path / "rep" / "grid.png")
    assert grid.size == (3 * 128, 22 + 4 * 128)
    cell = np.asarray(grid.convert("RGB"), dtype=float)[22:22 + 128, 2 * 128:3 * 128]
    truth = np.asarray(Image.fromarray(photos.pixels[0]).resize((128, 128), Image.BICUBIC), dtype=float)
    assert np.abs(cell - truth).max() <= 1


def test_rows_are_the_scores_of_what_the_model_predicts(photo_dir, tiny_colorizer):
    """Each row's numbers are Scores of the model's own predictions, for the decoding the
    options ask for; FD-Lite0 keeps the truth's features between rows without changing them."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    from colorizer.networks import Lite0Features
    photos = load_photos(str(photo_dir), 64, progress=False)
    am, mr = ColorizeOptions(decoding="annealed-mean"), ColorizeOptions(decoding="min-risk")
    rows, _ = evaluate([("own", tiny_colorizer), ("am", tiny_colorizer, am), ("mr", tiny_colorizer, mr)], photos, batch=3,
                       fd=False, progress=False)
    truth = torch.from_numpy(photos.pixels).permute(0, 3, 1, 2).float() / 255
    L = rgb_to_lab(truth)[:, :1]
    predicted = {}
    for row, options in zip(rows, (am, am, mr)):
        pred = predict_rgb(tiny_colorizer, L, options).clamp(0, 1)
        predicted[row["model"]] = pred_u8 = pred.mul(255).round().byte().permute(0, 2, 3, 1).numpy()
        scores = Scores()
        scores.add(pred_u8, photos.pixels)
        for k, v in scores.summary().items():
            assert row[k] == pytest.approx(v, rel=1e-6), (row["model"], k)
    assert "fd_lite0" not in rows[0]
    assert rows[0]["psnr"] == rows[1]["psnr"] and rows[0]["cf"] == rows[1]["cf"]  # the tiny model's own rule: annealed-mean
    assert rows[2]["cf"] != rows[1]["cf"]
    # the second row's FD-Lite0 uses the truth's features from the first: as a fresh metric gives
    rows, _ = evaluate([("am", tiny_colorizer, am), ("mr", tiny_colorizer, mr)], photos, batch=3, fd=True, progress=False)
    fid = FrechetInceptionDistance(feature=Lite0Features("rgb"), normalize=True)
    fid.update(torch.from_numpy(predicted["mr"]).permute(0, 3, 1, 2).float() / 255, real=False)
    fid.update(truth, real=True)
    assert rows[1]["fd_lite0"] == pytest.approx(float(fid.compute()), rel=1e-4, abs=1e-3)
    assert rows[0]["fd_lite0"] != rows[1]["fd_lite0"]


def test_a_row_per_vibrance_only_where_the_decoding_has_one(tiny_colorizer):
    oracle = Oracle(np.zeros((1, 8, 8, 3), np.uint8))
    models = [(GRAY, None), ("t", tiny_colorizer, ColorizeOptions(decoding="min-risk")),
              ("r", tiny_colorizer, ColorizeOptions(decoding="regression")), ("o", oracle)]
    runs = rows_to_run(models, vibrances=[0.3, 0.7])
    assert [(name, v) for name, _, _, v in runs] == [("gray", None), ("t v=0.3", 0.3), ("t v=0.7", 0.7), ("r", None), ("o", None)]
    assert [opt.vibrance for _, _, opt, _ in runs[1:3]] == [0.3, 0.7]
    assert {opt.decoding for _, _, opt, _ in runs[1:3]} == {"min-risk"} and runs[3][2].decoding == "regression"
    one = rows_to_run([("t", tiny_colorizer)], vibrances=[0.5])
    assert [(name, opt.vibrance, v) for name, _, opt, v in one] == [("t", 0.5, 0.5)]
    default = rows_to_run([("t", tiny_colorizer)])
    assert [(name, opt, v) for name, _, opt, v in default] == [("t", ColorizeOptions(), None)]


def test_load_photos_centre_crops_sorted_and_skips_unreadable(tmp_path, capsys):
    d = tmp_path / "photos"
    (d / "sub").mkdir(parents=True)
    wide = gradient_image(90, 50, "RGB", seed=1)
    wide.save(d / "b.png")
    gradient_image(40, 70, "RGB", seed=2).save(d / "sub" / "a.png")
    (d / "c.jpg").write_bytes(b"not an image")
    (d / "notes.txt").write_text("ignored")
    names, pixels = load_photos(str(d), 32, progress=False)
    assert names == ["b.png", "sub/a.png"] and pixels.shape == (2, 32, 32, 3) and pixels.dtype == np.uint8
    expected = np.asarray(wide.crop((20, 0, 70, 50)).resize((32, 32), Image.BICUBIC))
    assert np.array_equal(pixels[0], expected)
    assert "c.jpg: skipped" in capsys.readouterr().err
    assert load_photos(str(d), 32, limit=1, progress=False).names == ["b.png"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no readable photos"):
        load_photos(str(tmp_path / "empty"), 32, progress=False)


def test_gray_photo_keeps_each_pixels_lightness():
    rgb = np.array(gradient_image(40, 30, "RGB"))
    g = gray_photo(rgb)
    assert g.mode == "L" and g.size == (40, 30)
    L_gray = rgb_to_lab(torch.from_numpy(np.array(g.convert("RGB"))).permute(2, 0, 1).float() / 255)[0]
    L_true = rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1).float() / 255)[0]
    assert (L_gray - L_true).abs().max() < 0.3  # 8-bit rounding of the gray level only


def test_markdown_table_and_grid_columns():
    row = {"model": "m", "psnr": 21.234, "ssim": 0.91234, "ciede2000": 9.876, "cf": 30.04, "cf_true": 40.0, "dcf": 9.96,
           "photo_dcf": 12.0}
    table = markdown_table([row, {**row, "model": "n", "fd_lite0": 12.345}])
    assert "| m | 21.23 | 0.9123 | 9.88 | 30.0 | 40.0 | 10.0 | 12.0 | - |" in table
    assert table.rstrip().endswith("| 12.35 |")
    im = np.zeros((4, 4, 3), np.uint8)
    cols = grid_columns([{"model": GRAY}, {"model": "m"}], {GRAY: [im], "m": [im], "truth": [im]})
    assert [label for label, _ in cols] == ["input (gray)", "m", "truth"]


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
