"""Model files. The bundled weights, on real photos that ship with scikit-image (public domain / CC0):
they load, fit the size budget, and the default is the vivid model that still beats the
gray input on colour fidelity. A regression test for the shipped weights: retraining
or a change to the pipeline that makes them dull or wrong fails here."""
import os

import numpy as np
import pytest
from PIL import Image

from colorizer import Colorizer
from colorizer.bundled import DEFAULT_MODEL, available_models, resolve_model
from colorizer.decoding import model_settings
from colorizer.metrics import ciede2000, colorfulness
from colorizer.model_files import read_model_file

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


@pytest.fixture(scope="module")
def photos():
    from skimage import data
    out = []
    for name in PHOTOS:
        rgb = getattr(data, name)()
        out.append((Image.fromarray(rgb).convert("L"), rgb.astype(np.float32) / 255.0))
    return out


@pytest.fixture(scope="module")
def scores(photos):
    """CIEDE2000 and colourfulness per bundled model (and the gray input), per photo."""
    res = {"gray": [(ciede2000(np.asarray(g.convert("RGB"), np.float32) / 255.0, t), 0.0) for g, t in photos]}
    for name in available_models():
        c = Colorizer.load(name, device="cpu")
        res[name] = []
        for g, t in photos:
            out = c.colorize(g).image
            assert out.size == g.size and out.mode == "RGB"
            p = np.asarray(out, np.float32) / 255.0
            res[name].append((ciede2000(p, t), colorfulness(p)))
    return res


def test_bundled_models_load_and_fit_the_budget():
    assert {"seed", "unet"} <= set(available_models())
    assert DEFAULT_MODEL in available_models()
    for name in available_models():
        path, _ = resolve_model(name)
        assert os.path.getsize(path) <= 25e6
        arch, config, info, state, extra = read_model_file(path)
        assert arch == name and info.get("trained_on")
        # the metadata holds what the code reads: the decoding (checked), no unread leftovers
        default, settings = model_settings(info)
        assert default == {"unet": "min-risk", "seed": "regression"}[name]
        assert "decode" not in info and "vibrance" not in str(info.get("decoding"))


def test_the_default_is_the_colour_class_model_and_vibrance_works(photos):
    c = Colorizer.load(device="cpu")
    assert c.arch == "unet" and c.predicts_classes and "bins" in c.extra
    g = photos[1][0]
    dull = np.asarray(c.colorize(g, vibrance=0.0).image, np.float32) / 255.0
    vivid = np.asarray(c.colorize(g, vibrance=0.9).image, np.float32) / 255.0
    assert colorfulness(vivid) > colorfulness(dull) + 3


def test_the_default_is_more_colourful_than_the_baseline_and_beats_gray(scores):
    de = {k: np.mean([s[0] for s in v]) for k, v in scores.items()}
    cf = {k: np.mean([s[1] for s in v]) for k, v in scores.items()}
    assert de[DEFAULT_MODEL] < de["gray"] - 1.0
    assert de["seed"] < de["gray"]
    assert cf[DEFAULT_MODEL] > 1.5 * cf["seed"]
    # and, on these photos, no less faithful than the dull baseline
    assert de[DEFAULT_MODEL] < de["seed"]


def test_the_default_decodes_with_min_risk_and_annealed_mean_is_one_switch_away(photos, scores):
    c = Colorizer.load(device="cpu")
    assert c.default_decoding == "min-risk" and c.decoders["min-risk"].risk.shape == (len(c.extra["bins"]),) * 2
    assert c.decoders["annealed-mean"].blend == 0.5  # the model file's setting for the bolder rule
    gray = np.mean([s[0] for s in scores["gray"]])
    res = {}
    for rule in ("min-risk", "annealed-mean"):
        res[rule] = [np.asarray(c.colorize(g, decoding=rule).image, np.float32) / 255.0 for g, _ in photos]
        assert np.mean([ciede2000(p, t) for p, (_, t) in zip(res[rule], photos)]) < gray - 1.0
    assert np.mean([np.abs(a - b).mean() for a, b in zip(res["min-risk"], res["annealed-mean"])]) > 0.005
