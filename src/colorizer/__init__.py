"""colorizer: colour for grayscale photographs, on a plain CPU.

    from colorizer import Colorizer
    out = Colorizer.load().colorize("photo.jpg", vibrance=0.7)
    out.image.save("color.png")

The names below are imported on first use, so that `colorizer --help` needs no torch.
"""
__version__ = "0.1.0"

_EXPORTS = {
    "Colorizer": "colorizer.colorizer",
    "ColorizeOptions": "colorizer.options",
    "ColorizeOutput": "colorizer.pipeline",
    "ImageError": "colorizer.image_io",
    "WeightsError": "colorizer.model_files",
}
__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name):
    if name in _EXPORTS:
        import importlib
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'colorizer' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_EXPORTS))
