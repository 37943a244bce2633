"""Colours the user steers (issue 19): a reference photo's palette, alternatives coherent per
region, a confidence map; in the options, the decoding maths, the pipeline (tiny model),
the command line and the HTTP API."""
import base64
import io
import json

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from colorizer import ColorizeOptions, Colorizer, ImageError
from colorizer.bins import ciede2000_matrix, default_bins
from colorizer.cli import main
from colorizer.decoding.confidence import expected_error, to_gray
from colorizer.decoding.reference import ab_histogram, calibrated, histogram_distance, towards_histogram
from colorizer.decoding.variants import variant_logits
from colorizer.lab import rgb_to_lab
from colorizer.options import OPTIONS, describe
from colorizer.segments import segment
from colorizer.server import create_app
from helpers import gradient_image, make_tiny_model_file

Q = len(default_bins())


def palette_of(image):
    """The colour-class histogram of a PIL image's a,b."""
    rgb = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32).copy()).permute(2, 0, 1) / 255
    return ab_histogram(rgb_to_lab(rgb)[1:], default_bins())


def mean_ab(image):
    """The mean a,b of a PIL image."""
    rgb = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32).copy()).permute(2, 0, 1) / 255
    return rgb_to_lab(rgb)[1:].mean(dim=(1, 2)).tolist()


def solid(rgb, w=40, h=30):
    return Image.new("RGB", (w, h), rgb)


def encoded(img, fmt="PNG"):
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


# ---------------------------------------------------------------- options

def test_options_defaults_ranges_and_messages():
    o = ColorizeOptions()
    assert (o.reference, o.reference_strength, o.variants, o.confidence) == (None, 1.0, 0, False)
    assert not o.needs_classes
    assert ColorizeOptions(variants=1).needs_classes and ColorizeOptions(confidence=True).needs_classes
    assert ColorizeOptions(reference="ref.jpg").needs_classes
    for bad, message in ((dict(variants=9), "variants must be a whole number between 0 and 8, not 9"),
                         (dict(variants=1.5), "variants must be a whole number"),
                         (dict(reference_strength=3.5), "reference_strength must be a number between 0 and 3"),
                         (dict(confidence="yes"), "confidence must be true or false"),
                         (dict(confidence=1), "confidence must be true or false"),
                         (dict(reference=""), "reference must be a photo's path"),
                         (dict(reference=3), "reference must be a photo")):
        with pytest.raises(ValueError, match=message.replace("(", r"\(")):
            ColorizeOptions(**bad)
    assert OPTIONS["confidence"].parse("on") is True and OPTIONS["confidence"].parse("False") is False
    assert OPTIONS["confidence"].parse("") is False
    with pytest.raises(ValueError, match="confidence must be true or false, not 'maybe'"):
        OPTIONS["confidence"].parse("maybe")
    assert OPTIONS["variants"].parse("4") == 4
    d = describe()
    assert d["variants"] == {"kind": "integer", "default": 0, "help": OPTIONS["variants"].help, "min": 0, "max": 8}
    assert d["confidence"]["kind"] == "boolean" and d["reference"]["kind"] == "image"
    assert d["reference_strength"]["min"] == 0 and d["reference_strength"]["max"] == 3


# ---------------------------------------------------------------- the maths

def test_reweighting_moves_the_palette_towards_the_reference():
    torch.manual_seed(0)
    logits = torch.randn(1, Q, 12, 10)
    weights = torch.rand(Q) + 0.5
    target = torch.zeros(Q)
    target[[10, 50, 200]] = torch.tensor([0.5, 0.3, 0.2])
    before = calibrated(logits, weights).mean(dim=(0, 2, 3))
    assert torch.equal(towards_histogram(logits, target, 0.0, weights), logits)
    distances = []
    for strength in (0.5, 1.0):
        after = calibrated(towards_histogram(logits, target, strength, weights), weights).mean(dim=(0, 2, 3))
        distances.append(histogram_distance(after, target))
    assert histogram_distance(before, target) > distances[0] > distances[1]
    assert distances[1] < 0.5 * histogram_distance(before, target)


def test_histogram_of_a_solid_colour_sits_on_its_class():
    bins = default_bins()
    h = palette_of(solid((200, 40, 40)))
    assert abs(float(h.sum()) - 1) < 1e-5
    lab = rgb_to_lab(torch.tensor([200, 40, 40], dtype=torch.float32).view(3, 1, 1) / 255)[1:, 0, 0]
    assert torch.dist(bins[int(h.argmax())], lab) < 10
    assert histogram_distance(h, h) == 0 and histogram_distance(h, palette_of(solid((40, 40, 200)))) > 0.9


def test_confidence_is_lower_where_the_distribution_is_flat():
    bins = default_bins()
    D = ciede2000_matrix(bins)
    logits = torch.zeros(1, Q, 1, 3)
    logits[0, 7, 0, 0] = 30.0       # sure of one colour
    logits[0, [7, 120], 0, 1] = 12.0  # torn between two far apart
    # pixel 2: flat over every colour
    risk = expected_error(logits, D)[0, 0]
    assert risk[0] < 0.1 < risk[1] and risk[1] < risk[2]
    gray = to_gray(risk)
    assert gray.dtype == torch.uint8 and gray[0] == 255 and gray[0] > gray[1] > gray[2]
    assert to_gray(torch.tensor([0.0, 10.0, 20.0, 50.0])).tolist() == [255, 128, 0, 0]


def test_variants_are_coherent_per_region_reproducible_and_differ():
    bins = default_bins()
    D = ciede2000_matrix(bins)
    torch.manual_seed(1)
    logits = torch.randn(1, Q, 16, 16) * 2
    labels = torch.zeros(16, 16, dtype=torch.long)
    labels[:, 8:] = 1
    labels[8:, :8] = 2
    biases = []
    for seed in (1, 2, 3):
        bias = variant_logits(logits, labels, 3, bins, D, seed=seed, smooth=1) - logits
        for region in range(3):  # one colour mode per region: the same bias on all its pixels
            b = bias[0].permute(1, 2, 0)[labels == region]
            assert torch.allclose(b, b[:1].expand_as(b), atol=1e-5)
            assert float(b[0].max()) == 0  # 0 at the picked colour, negative away from it
        biases.append(bias)
    assert torch.equal(biases[0], variant_logits(logits, labels, 3, bins, D, seed=1, smooth=1) - logits)
    assert not torch.equal(biases[0], biases[1]) or not torch.equal(biases[0], biases[2])


def test_segments_cover_the_output_grid():
    L = np.zeros((64, 64), np.float32)
    L[:, 32:] = 80
    labels, n = segment(L, (32, 32), regions=4)
    assert labels.shape == (32, 32) and labels.dtype == torch.int64
    assert sorted(torch.unique(labels).tolist()) == list(range(n)) and n >= 2
    assert not (set(labels[:, :14].unique().tolist()) & set(labels[:, 18:].unique().tolist()))  # the edge splits them


# ---------------------------------------------------------------- the pipeline (tiny model)

@pytest.fixture(scope="module")
def gray_photo():
    return gradient_image(96, 64, "L")


def test_reference_moves_the_result_towards_its_palette(tiny_colorizer, gray_photo):
    green = solid((30, 160, 40))
    target = palette_of(green)
    plain = tiny_colorizer.colorize(gray_photo, size=64)
    steered = tiny_colorizer.colorize(gray_photo, size=64, reference=green)
    stronger = tiny_colorizer.colorize(gray_photo, size=64, reference=green, reference_strength=3)
    d = [histogram_distance(ab_histogram(o.ab, default_bins()), target) for o in (plain, steered, stronger)]
    assert d[0] > 0.9 and d[1] < 0.5 and d[2] < 0.5
    assert mean_ab(plain.image)[0] > -10 and mean_ab(steered.image)[0] < -25  # green: a < 0
    assert steered.image.size == (96, 64) and steered.variants == [] and steered.confidence is None
    # with a path, bytes or an array: the same palette
    same = tiny_colorizer.colorize(gray_photo, size=64, reference=np.asarray(green))
    assert np.array_equal(np.asarray(same.image), np.asarray(steered.image))


def test_variants_and_confidence_from_the_pipeline(tiny_colorizer):
    photo = gradient_image(90, 70, "RGBA")
    out = tiny_colorizer.colorize(photo, size=64, variants=3, confidence=True)
    assert len(out.variants) == 3
    arrays = [np.asarray(v, dtype=np.int16) for v in out.variants]
    for v, a in zip(out.variants, arrays):
        assert v.size == (90, 70) and v.mode == "RGBA"
        assert np.array_equal(a[..., 3], np.asarray(out.image)[..., 3])  # the alpha is kept
    assert any(np.abs(arrays[i][..., :3] - arrays[j][..., :3]).mean() > 0.5 for i in range(3) for j in range(i))
    assert out.confidence.mode == "L" and out.confidence.size == (90, 70)
    again = tiny_colorizer.colorize(photo, size=64, variants=3, confidence=True)
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(out.variants, again.variants))
    # the result is the one without extras
    assert np.array_equal(np.asarray(out.image), np.asarray(tiny_colorizer.colorize(photo, size=64).image))


def test_bad_reference_and_models_without_classes(tiny_colorizer, gray_photo, tmp_path):
    with pytest.raises(ImageError, match=r"^reference photo .*nope\.jpg: no such file$"):
        tiny_colorizer.colorize(gray_photo, reference=str(tmp_path / "nope.jpg"))
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    with pytest.raises(ImageError, match=r"^reference photo .*bad\.jpg: not an image"):
        tiny_colorizer.colorize(gray_photo, reference=str(tmp_path / "bad.jpg"))
    with pytest.raises(ImageError, match=r"^reference photo: empty file$"):
        tiny_colorizer.colorize(gray_photo, reference=b"")
    with pytest.raises(ValueError, match="a confidence map needs colour classes, which regression decoding does not use"):
        tiny_colorizer.colorize(gray_photo, confidence=True, decoding="regression")
    seed = Colorizer.load(make_tiny_model_file(tmp_path / "seed.safetensors", arch="seed"), device="cpu")
    with pytest.raises(ValueError, match="alternatives needs|alternatives need"):
        seed.colorize(gray_photo, variants=2)


# ---------------------------------------------------------------- the command line

def test_cli_writes_the_extra_files_and_refuses_a_bad_reference(tiny_model_path, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    gradient_image(80, 60, "L").save(src / "a.png")
    gradient_image(60, 50, "L").save(src / "b.png")
    solid((30, 160, 40)).save(tmp_path / "ref.jpg")
    out = tmp_path / "out"
    args = [str(src), "-o", str(out), "--model", tiny_model_path, "--size", "64", "-q"]
    assert main(["colorize", *args, "--variants", "2", "--confidence", "--reference", str(tmp_path / "ref.jpg"),
                 "--format", "jpg"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["a.jpg", "a_confidence.png", "a_v1.jpg", "a_v2.jpg", "b.jpg", "b_confidence.png", "b_v1.jpg", "b_v2.jpg"]
    conf = Image.open(out / "a_confidence.png")
    assert conf.mode == "L" and conf.size == (80, 60) and Image.open(out / "a_v2.jpg").size == (80, 60)
    # the extras count as outputs: nothing is replaced without a flag; --skip-existing skips them with their output
    before = (out / "a_v1.jpg").read_bytes()
    capsys.readouterr()
    assert main(["colorize", *args, "--variants", "2", "--format", "jpg"]) == 2
    assert "2 of 2 outputs already exist" in capsys.readouterr().err
    (out / "b.jpg").unlink()
    assert main(["colorize", *args, "--variants", "2", "--format", "jpg", "--skip-existing"]) == 0
    assert (out / "a_v1.jpg").read_bytes() == before and (out / "b.jpg").exists()
    # only the confidence map is new: refused without a flag
    (out / "a_confidence.png").unlink()
    assert main(["colorize", *args, "--confidence", "--format", "jpg", "--overwrite"]) == 0
    assert (out / "a_confidence.png").exists()
    # a bad reference: one line naming it, before any work
    capsys.readouterr()
    assert main(["colorize", *args, "-o", str(tmp_path / "o2"), "--reference", str(tmp_path / "nope.jpg")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "reference photo" in err and "nope.jpg: no such file" in err
    assert not (tmp_path / "o2").exists()
    assert main(["colorize", *args, "-o", str(tmp_path / "o3"), "--variants", "9"]) == 2
    assert "--variants must be a whole number between 0 and 8, not 9" in capsys.readouterr().err
    assert main(["colorize", *args, "-o", str(tmp_path / "o4"), "--reference-strength", "-1"]) == 2
    assert "--reference-strength must be a number between 0 and 3" in capsys.readouterr().err


def test_cli_refuses_an_extra_output_that_is_another_input(tiny_model_path, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    gradient_image(40, 30, "L").save(src / "a.png")
    gradient_image(40, 30, "L").save(src / "a_v1.png")
    assert main(["colorize", str(src), "-o", str(tmp_path / "out"), "--model", tiny_model_path, "--variants", "1",
                 "-q"]) == 2
    assert "would replace another file of the batch" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# ---------------------------------------------------------------- the HTTP API

@pytest.fixture(scope="module")
def client(tiny_colorizer):
    with TestClient(create_app(colorizer=tiny_colorizer, concurrency=1, queue_size=4)) as c:
        yield c


def post(client, photo, reference_file=None, **fields):
    files = {"image": ("photo.png", photo, "image/png")}
    if reference_file is not None:
        files["reference"] = ("ref.png", reference_file, "image/png")
    return client.post("/api/colorize", files=files, data=fields)


def from_data_url(url, prefix="data:image/png;base64,"):
    assert url.startswith(prefix)
    return Image.open(io.BytesIO(base64.b64decode(url[len(prefix):])))


def test_http_extras_as_json_and_reference_as_a_file(client):
    photo = encoded(gradient_image(96, 64, "L"))
    plain = post(client, photo, size="64")
    assert plain.headers["content-type"] == "image/png"
    r = post(client, photo, reference_file=encoded(solid((30, 160, 40))), size="64")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert mean_ab(Image.open(io.BytesIO(r.content)))[0] < mean_ab(Image.open(io.BytesIO(plain.content)))[0] - 15
    r = post(client, photo, size="64", variants="2", confidence="true", format="jpg")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["filename"] == "photo-color.jpg" and isinstance(body["notes"], list)
    assert from_data_url(body["image"], "data:image/jpeg;base64,").size == (96, 64)
    assert [from_data_url(v, "data:image/jpeg;base64,").size for v in body["variants"]] == [(96, 64)] * 2
    conf = from_data_url(body["confidence"])
    assert conf.mode == "L" and conf.size == (96, 64)
    r = post(client, photo, size="64", confidence="1")
    assert r.json()["variants"] == [] and r.json()["confidence"].startswith("data:image/png;base64,")


@pytest.mark.parametrize("fields,reference,message", [
    ({"variants": "9"}, None, "variants must be a whole number between 0 and 8, not 9"),
    ({"variants": "two"}, None, "variants must be a whole number between 0 and 8, not 'two'"),
    ({"confidence": "maybe"}, None, "confidence must be true or false, not 'maybe'"),
    ({"reference_strength": "4"}, None, "reference_strength must be a number between 0 and 3, not 4"),
    ({}, b"", "reference photo: empty file"),
    ({}, b"not an image", "reference photo: not an image"),
    ({"reference": "text"}, None, "form field 'reference' must be a file"),
])
def test_http_422_for_bad_values(client, fields, reference, message):
    r = post(client, encoded(gradient_image(40, 30, "L")), reference_file=reference, **fields)
    assert r.status_code == 422, r.text
    assert message in r.json()["error"]


def test_http_openapi_and_health_describe_the_new_fields(client, tmp_path):
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/api/colorize"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    props = body["properties"]
    assert props["reference"]["format"] == "binary"
    assert props["variants"] == {"type": "integer", "minimum": 0, "maximum": 8, "default": 0,
                                 "description": OPTIONS["variants"].help}
    assert props["confidence"]["type"] == "boolean" and props["reference_strength"]["maximum"] == 3
    ok = schema["paths"]["/api/colorize"]["post"]["responses"]["200"]["content"]
    assert set(ok["application/json"]["schema"]["properties"]) == {"image", "variants", "confidence", "notes", "filename"}
    suggest = schema["paths"]["/api/suggest"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert "reference" not in suggest["properties"] and "variants" not in suggest["properties"]
    health = client.get("/api/health").json()
    assert {"reference", "reference_strength", "variants", "confidence"} <= set(health["options"])
    json.dumps(health)


def test_http_model_without_classes_says_so(tmp_path):
    seed = Colorizer.load(make_tiny_model_file(tmp_path / "seed.safetensors", arch="seed"), device="cpu")
    with TestClient(create_app(colorizer=seed, concurrency=1, queue_size=2)) as c:
        r = post(c, encoded(gradient_image(40, 30, "L")), confidence="true")
    assert r.status_code == 422 and "predicts no colour classes" in r.json()["error"]
