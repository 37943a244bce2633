"""Shared fixtures. Helper functions live in tests/helpers.py (import them from there)."""
import pytest

from colorizer import Colorizer
from helpers import gradient_image, make_tiny_model_file


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module's tests (pytestmark = pytest.mark.usefixtures("one_torch_thread")):
    on a busy machine, extra threads only wait for each other."""
    import torch
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    return make_tiny_model_file(tmp_path_factory.mktemp("models") / "tiny-unet.safetensors")


@pytest.fixture(scope="session")
def tiny_colorizer(tiny_model_path):
    return Colorizer.load(tiny_model_path, device="cpu")


@pytest.fixture
def sample_rgb():
    return gradient_image()
