"""Shared fixtures. Helper functions live in tests/helpers.py (import them from there)."""
import pytest

from colorizer import Colorizer
from helpers import gradient_image, make_tiny_model_file


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    return make_tiny_model_file(tmp_path_factory.mktemp("models") / "tiny-unet.safetensors")


@pytest.fixture(scope="session")
def tiny_colorizer(tiny_model_path):
    return Colorizer.load(tiny_model_path, device="cpu")


@pytest.fixture
def sample_rgb():
    return gradient_image()
