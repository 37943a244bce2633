"""colorizer: colour for grayscale photographs, on a plain CPU."""
__version__ = "0.1.0"

from .checkpoint import WeightsError  # noqa: E402
from .imageio import ImageError  # noqa: E402
from .pipeline import Colorizer  # noqa: E402

__all__ = ["Colorizer", "ImageError", "WeightsError", "__version__"]
