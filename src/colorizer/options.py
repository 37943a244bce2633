"""What a user can ask of one colorization, defined once: ColorizeOptions, with each
option's default, range and help text in OPTIONS. The CLI, the Python API, the HTTP API
and the web page (through the server) all read them from here.

    ColorizeOptions(vibrance=0.8, size=384)            # checked on creation
    ColorizeOptions().replace(decoding="annealed-mean")
    OPTIONS["size"].parse("512")                        # text from a command line or a form
"""
import dataclasses
import math
from dataclasses import dataclass

from .hints import MAX_HINTS, Hint, hints_from_json, parse_hint, parse_hints_json

DEFAULT_MAX_PIXELS = 200_000_000  # refuse larger images (decompression bombs), before decoding
# the decoders' names (colorizer.decoding.NAMES; tests/test_options.py checks they agree),
# written out so that this module, and with it `colorizer --help`, needs no torch
DECODING_NAMES = ("min-risk", "annealed-mean", "regression")
BOOLEAN_WORDS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False, "on": True, "off": False}
MAX_VARIANTS = 8


@dataclass(frozen=True)
class Option:
    """One option: its kind ("number", "integer", "choice", "boolean", "hints" or "image"),
    default, range or choices, and one line of help."""
    name: str
    kind: str
    default: object
    help: str
    min: float | None = None
    max: float | None = None
    choices: tuple = ()

    def check(self, value):
        """The value, normalised (an integer as int, a number as float, hints as a tuple of
        Hint); ValueError with a one-line message naming the option otherwise."""
        if value is None and self.default is None:
            return None
        if self.kind == "hints":
            return _check_hints(value)
        if self.kind == "boolean":
            if not isinstance(value, bool):
                raise ValueError(f"{self.name} must be true or false, not {value!r}")
            return value
        if self.kind == "image":
            return _check_reference(value, self.name)
        if self.kind == "choice":
            if value not in self.choices:
                raise ValueError(f"{self.name} must be one of {', '.join(self.choices)}, not {value!r}")
            return value
        ok = not isinstance(value, bool) and isinstance(value, (int, float))
        try:
            if ok and self.kind == "integer":
                ok = float(value).is_integer()
            if ok:
                ok = math.isfinite(value) and (self.min is None or value >= self.min) and (self.max is None or value <= self.max)
        except OverflowError:  # an integer too large for a float
            ok = False
        if not ok:
            shown = repr(value) if len(repr(value)) <= 20 else repr(value)[:17] + "..."
            raise ValueError(f"{self.name} must be {self.describe_range()}, not {shown}")
        return int(value) if self.kind == "integer" else float(value)

    def parse(self, text):
        """Text (a command line, a form field) -> the checked value; empty text is the default."""
        text = "" if text is None else str(text).strip()
        if text == "":
            return self.default
        if self.kind == "choice":
            return self.check(text.lower())
        if self.kind == "hints":
            return parse_hints_json(text)
        if self.kind == "boolean":
            if text.lower() not in BOOLEAN_WORDS:
                raise ValueError(f"{self.name} must be true or false, not {text!r}")
            return BOOLEAN_WORDS[text.lower()]
        if self.kind == "image":
            return self.check(text)
        try:
            value = int(text) if self.kind == "integer" else float(text)
        except ValueError:
            raise ValueError(f"{self.name} must be {self.describe_range()}, not {text!r}") from None
        return self.check(value)

    def describe_range(self):
        what = "a whole number" if self.kind == "integer" else "a number"
        if self.min is not None and self.max is not None:
            return f"{what} between {self.min:g} and {self.max:g}"
        if self.min is not None:
            return f"{what} of at least {self.min:g}"
        return what

    def narrowed(self, max=None):
        """This option with a lower maximum (a server's own limit)."""
        if max is None or (self.max is not None and self.max <= max):
            return self
        return dataclasses.replace(self, max=max)

    def to_json(self):
        d = {"kind": self.kind, "default": self.default, "help": self.help}
        if self.kind == "choice":
            d["choices"] = list(self.choices)
        elif self.kind == "hints":
            d["default"] = []
        elif self.kind in ("boolean", "image"):
            pass
        else:
            d.update({"min": self.min, "max": self.max})
        return d


OPTIONS = {o.name: o for o in (
    Option("vibrance", "number", 0.62, "how vivid the colours are, 0..1 (colour-class models): the temperature "
           "of the decoding, T = 1 - 0.75 vibrance for min-risk, T = 1 - vibrance for annealed-mean", 0.0, 1.0),
    Option("size", "integer", 256, "working size of the network in pixels (larger: finer colour regions, slower; "
           "the output always has the input's resolution)", 32, 4096),
    Option("decoding", "choice", None, "how the network's outputs become a colour (default: the model's own; the "
           "bundled default uses min-risk, the colour of least expected error; annealed-mean is Zhang et al.'s, "
           "bolder and more often wrong; regression uses the network's a,b output)", choices=DECODING_NAMES),
    Option("max_pixels", "integer", DEFAULT_MAX_PIXELS, "refuse larger images (in pixels), before decoding them", 1, None),
    Option("hints", "hints", (), "point hints: colours the user chooses at pixel positions of the photo, a JSON list of "
           '{"x": X, "y": Y, "color": "#RRGGBB"} (hint-aware models)'),
    Option("reference", "image", None, "a colour photo whose palette the colours are steered towards (a photo of the "
           "same place or period): its a,b histogram reweights the predicted colour distribution (colour-class models)"),
    Option("reference_strength", "number", 1.0, "how strongly the reference's palette steers the colours: 0 not at all, "
           "1 (the default) moves the photo's overall palette to the reference's, up to 3", 0.0, 3.0),
    Option("variants", "integer", 0, f"how many alternatives to make besides the result, 0 to {MAX_VARIANTS}: other "
           "plausible colourings, each coherent per region (colour-class models)", 0, MAX_VARIANTS),
    Option("confidence", "boolean", False, "also make a confidence map: 8-bit gray at the output's size, white where the "
           "model is sure of the colour, black where it expects an error of 20 CIEDE2000 or more (colour-class models)"),
)}


@dataclass(frozen=True)
class ColorizeOptions:
    """How to colorize one photo. Every field is checked on creation (ValueError naming it)."""
    vibrance: float = OPTIONS["vibrance"].default
    size: int = OPTIONS["size"].default
    decoding: str | None = OPTIONS["decoding"].default   # None: the model's own
    max_pixels: int = OPTIONS["max_pixels"].default
    hints: tuple = OPTIONS["hints"].default              # Hint objects, "X,Y,#RRGGBB" or {"x","y","color"}
    # a path, bytes, a file object, a PIL image or a NumPy array
    reference: object = dataclasses.field(default=None, compare=False, repr=False)
    reference_strength: float = OPTIONS["reference_strength"].default
    variants: int = OPTIONS["variants"].default
    confidence: bool = OPTIONS["confidence"].default

    @property
    def needs_classes(self):
        """Whether these options need a model's colour classes (a reference, alternatives,
        a confidence map)."""
        return self.reference is not None or self.variants > 0 or self.confidence

    def __post_init__(self):
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, OPTIONS[f.name].check(getattr(self, f.name)))

    def replace(self, **changes):
        """A copy with some options changed (None for an option: keep this one's value)."""
        unknown = set(changes) - set(OPTIONS)
        if unknown:
            raise TypeError(f"unknown colorize option(s): {', '.join(sorted(unknown))}")
        changes = {k: v for k, v in changes.items() if v is not None}
        return dataclasses.replace(self, **changes) if changes else self


def _check_hints(value):
    """Hints given as Hint objects, "X,Y,#RRGGBB" strings or {"x", "y", "color"} dicts -> a
    tuple of Hint."""
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__"):
        raise ValueError("hints must be a list of hints")
    items = list(value)
    if len(items) > MAX_HINTS:
        raise ValueError(f"at most {MAX_HINTS} hints, not {len(items)}")
    out = []
    for i, h in enumerate(items, 1):
        if isinstance(h, Hint):
            out.append(h)
        elif isinstance(h, str):
            out.append(parse_hint(h))
        elif isinstance(h, dict):
            try:
                out.extend(hints_from_json([h]))
            except ValueError as e:
                raise ValueError(str(e).replace("hint 1", f"hint {i}", 1)) from None
        else:
            raise ValueError(f"hint {i}: must be a Hint, 'X,Y,#RRGGBB' or a dict, not {type(h).__name__}")
    return tuple(out)


def _check_reference(value, name):
    """A reference photo: a path (not empty), bytes, a file object, a PIL image or an array;
    read (and its errors said) when used."""
    if isinstance(value, bool) or isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a photo (a path, bytes, a file object or an image), not {value!r}")
    if isinstance(value, str) and not value.strip():
        raise ValueError(f"{name} must be a photo's path, not an empty text")
    return value


def describe(max_size=None):
    """The options as JSON (kind, default, range or choices, help), for the HTTP API and
    the web page; `max_size`: a server's lower cap on the working size."""
    opts = dict(OPTIONS)
    opts["size"] = opts["size"].narrowed(max=max_size)
    return {name: o.to_json() for name, o in opts.items()}
