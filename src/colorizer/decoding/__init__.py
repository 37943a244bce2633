"""Decoding: how the network's outputs become a,b. One small object per rule, chosen by
name (like diffusers' schedulers), created from a model file's settings and checked once:

    min-risk       colour classes -> the colour of least expected CIEDE2000 (the default's)
    annealed-mean  colour classes -> Zhang et al.'s annealed mean (bolder, more often wrong)
    regression     the network's own a,b output (the seed baseline; the U-Net's a,b head)

Nothing here knows about images or files: decoders take tensors and give tensors.

A model file keeps its decoding in its metadata ("info") as
    "decoding": {"default": "min-risk", "annealed-mean": {"blend": 0.5}}
the rule used unless the user picks another, and the settings of any rule that has some.
"""
from .annealed_mean import AnnealedMean
from .base import Decoder
from .min_risk import MinRisk
from .regression import Regression

DECODERS = {d.name: d for d in (MinRisk, AnnealedMean, Regression)}
NAMES = tuple(DECODERS)


def check_name(name):
    """The decoding name, or ValueError naming the choices."""
    if name not in DECODERS:
        raise ValueError(f"decoding must be one of {', '.join(NAMES)}, not {name!r}")
    return name


def create(name, extra, settings=None):
    """A decoder by name for a model with these extra tensors (bins, class weights) and
    settings (a dict from the model file). ValueError names a bad setting."""
    cls = DECODERS[check_name(name)]
    settings = dict(settings or {})
    if cls.needs == "logits":
        if "bins" not in extra:
            raise ValueError(f"{name} decoding needs colour bins in the model file")
        if cls is MinRisk:
            return MinRisk(extra["bins"], extra.get("class_weights"), **settings)
        return cls(extra["bins"], **settings)
    return cls(**settings)


def model_settings(info):
    """(default rule or None, {rule: settings}) from a model file's metadata, checked in
    form (names and dicts); the values are checked when the decoders are created.
    Files written before the decoding package (metadata "decode": rule, blend,
    vibrance) are read too."""
    if "decoding" in info:
        d = info["decoding"]
        if not isinstance(d, dict):
            raise ValueError("decoding must be a JSON object")
        default = d.get("default")
        configs = {k: v for k, v in d.items() if k != "default"}
    elif "decode" in info:  # older files
        old = info["decode"]
        if not isinstance(old, dict):
            raise ValueError("decode must be a JSON object")
        for gone in ("curve", "scales"):
            if gone in old and not (gone == "scales" and list(old[gone]) == [1.0]):
                raise ValueError(f"decode.{gone} is no longer a decoding setting (research code, now in benchmarks/)")
        default = old.get("rule", "annealed-mean")
        configs = {"annealed-mean": {"blend": old["blend"]}} if "blend" in old else {}
    else:
        return None, {}
    if default is not None:
        check_name(default)
    for name, settings in configs.items():
        check_name(name)
        if not isinstance(settings, dict):
            raise ValueError(f"decoding.{name} must be a JSON object of settings")
    return default, configs


def for_model(info, extra, outputs):
    """All the decoders a model can use, created once: (default name, {name: decoder}).
    `outputs`: the names of the network's outputs ("logits", "ab"). Without settings in
    the file, a class model decodes by annealed mean (what such files always did) and a
    regression model by regression. ValueError names a bad setting."""
    default, configs = model_settings(info)
    usable = [n for n, cls in DECODERS.items() if cls.needs in outputs and (cls.needs != "logits" or "bins" in extra)]
    if not usable:
        raise ValueError("the model has no output any decoder can use")
    if default is None:
        default = "annealed-mean" if "annealed-mean" in usable else usable[0]
    if default not in usable:
        raise ValueError(f"{default} decoding does not fit this model (it can use {', '.join(usable)})")
    return default, {n: create(n, extra, configs.get(n)) for n in usable}


def settings_for_file(default, decoders):
    """The "decoding" metadata that for_model reads back: the default rule and the
    settings of each decoder that has some."""
    d = {"default": default}
    for name, dec in decoders.items():
        if dec.settings():
            d[name] = dec.settings()
    return d


__all__ = ["DECODERS", "NAMES", "AnnealedMean", "Decoder", "MinRisk", "Regression", "check_name", "create",
           "for_model", "model_settings", "settings_for_file"]
