"""The models that ship inside the package (src/colorizer/weights/NAME.safetensors, and
NAME.onnx, the same network exported for ONNX Runtime, where it exports) and how a user
names a model: a bundled name, "default", or a path to a model file."""
import os
from importlib import resources

from .model_files import WeightsError

DEFAULT_MODEL = "unet"


def weights_dir():
    return resources.files("colorizer") / "weights"


def available_models():
    return sorted(p.name[: -len(".safetensors")] for p in weights_dir().iterdir() if p.name.endswith(".safetensors"))


def shipped_onnx(path):
    """The ONNX export that ships beside a bundled model's weights (weights/NAME.onnx, made by
    scripts/ship_model.py from those weights), or None: for model files of one's own, and for
    bundled models whose network does not export (seed)."""
    path = str(path)
    folder = str(weights_dir())
    if os.path.dirname(os.path.abspath(path)) != os.path.abspath(folder) or not path.endswith(".safetensors"):
        return None
    onnx = path[: -len(".safetensors")] + ".onnx"
    return onnx if os.path.isfile(onnx) else None


def resolve_model(name_or_path=None):
    """A bundled model's name (see available_models(); "default" or None is the default
    one) or a path to a .safetensors file. Returns (path, name)."""
    name = name_or_path or DEFAULT_MODEL
    if name == "default":
        name = DEFAULT_MODEL
    if os.path.sep in str(name) or str(name).endswith(".safetensors") or os.path.exists(str(name)):
        return str(name), os.path.splitext(os.path.basename(str(name)))[0]
    path = weights_dir() / f"{name}.safetensors"
    if not path.is_file():
        names = ", ".join(["default"] + available_models())
        raise WeightsError(f"unknown model {name!r}: bundled models are {names}, or pass a .safetensors path")
    return str(path), name
