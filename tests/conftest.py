import numpy as np
import pytest
import torch
from PIL import Image

from colorizer import bins as B
from colorizer.checkpoint import save_model
from colorizer.models import build_model
from colorizer.pipeline import Colorizer


def make_tiny_model_file(path, arch="unet", seed=0):
    """A small, randomly initialised model file (no pretrained weights needed)."""
    torch.manual_seed(seed)
    if arch == "unet":
        bins = B.default_bins()
        config = {"num_bins": len(bins), "dec": [32, 24, 16, 16, 16]}
        model = build_model("unet", pretrained=False, **config)
        w, p = B.rebalance_weights(torch.ones(len(bins)), bins)
        extra = {"bins": bins, "prior": p, "class_weights": w}
    else:
        config = {"width": 8}
        model = build_model("seed", pretrained=False, **config)
        extra = {}
    save_model(str(path), model, arch, config, extra)
    return str(path)


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    return make_tiny_model_file(tmp_path_factory.mktemp("models") / "tiny-unet.safetensors")


@pytest.fixture(scope="session")
def tiny_colorizer(tiny_model_path):
    return Colorizer.load(tiny_model_path, device="cpu")


def gradient_image(w=96, h=64, mode="RGB", seed=0):
    """A small colourful test picture (smooth gradients plus a few shapes)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    r = (x / max(1, w - 1) * 255)
    g = (y / max(1, h - 1) * 255)
    b = ((x + y) % 64) * 4
    arr = np.stack([r, g, b], -1).astype(np.uint8)
    arr[h // 4: h // 2, w // 4: w // 2] = rng.integers(0, 255, 3)
    return Image.fromarray(arr, "RGB").convert(mode)


@pytest.fixture
def sample_rgb():
    return gradient_image()
