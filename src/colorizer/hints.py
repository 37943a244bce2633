"""Point hints: colours the user chooses at points of the photo ("this coat was green").
A hint is a pixel position of the input photo (x to the right, y down, from the top-left
corner of the photo as displayed, i.e. after its EXIF orientation) and an sRGB colour
"#RRGGBB". On the command line `--hint X,Y,#RRGGBB`; in files and the HTTP API a JSON list
of {"x": ..., "y": ..., "color": "#RRGGBB"} (the format the web page saves). The network
takes them as a sparse a,b image (pipeline.hint_image); a hint-aware network spreads each
over the region it belongs to. Plain data, no torch."""
import json
import math
import re
from dataclasses import dataclass

_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
MAX_HINTS = 1000
MAX_FILE_BYTES = 1 << 20


@dataclass(frozen=True)
class Hint:
    x: float
    y: float
    color: str  # "#rrggbb"

    def __post_init__(self):
        for name in ("x", "y"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"hint {self.describe()}: {name} must be a pixel position (a number, 0 or more)")
        if not isinstance(self.color, str) or not _COLOR.match(self.color):
            raise ValueError(f"hint {self.describe()}: colour must be #RRGGBB (six hexadecimal digits)")
        object.__setattr__(self, "color", self.color.lower())

    @property
    def rgb(self):
        """The colour as (r, g, b), 0..255."""
        return tuple(int(self.color[i:i + 2], 16) for i in (1, 3, 5))

    def describe(self):
        def fmt(v):
            return f"{v:g}" if isinstance(v, (int, float)) and not isinstance(v, bool) else repr(v)
        return f"({fmt(self.x)},{fmt(self.y)},{self.color})"

    def to_json(self):
        return {"x": self.x, "y": self.y, "color": self.color}


def parse_hint(text):
    """'X,Y,#RRGGBB' -> Hint; ValueError naming the hint otherwise."""
    parts = str(text).strip().split(",")
    if len(parts) != 3:
        raise ValueError(f"hint {text!r}: write it as X,Y,#RRGGBB (pixel position and colour)")
    try:
        x, y = float(parts[0]), float(parts[1])
    except ValueError:
        raise ValueError(f"hint {text!r}: X and Y must be numbers (pixel positions)") from None
    return Hint(int(x) if x.is_integer() else x, int(y) if y.is_integer() else y, parts[2].strip())


def hints_from_json(data):
    """A JSON list of {"x", "y", "color"} (already parsed) -> tuple of Hint."""
    if not isinstance(data, list):
        raise ValueError('hints must be a JSON list of {"x": ..., "y": ..., "color": "#RRGGBB"}')
    if len(data) > MAX_HINTS:
        raise ValueError(f"at most {MAX_HINTS} hints, not {len(data)}")
    out = []
    for i, item in enumerate(data, 1):
        if not isinstance(item, dict) or set(item) - {"x", "y", "color"} or not {"x", "y", "color"} <= set(item):
            raise ValueError(f'hint {i}: must be {{"x": ..., "y": ..., "color": "#RRGGBB"}}, not {json.dumps(item)[:60]}')
        try:
            out.append(Hint(item["x"], item["y"], item["color"]))
        except ValueError as e:  # "hint (x,y,colour): reason" -> "hint N (x,y,colour): reason"
            raise ValueError(str(e).replace("hint ", f"hint {i} ", 1)) from None
    return tuple(out)


def parse_hints_json(text):
    """JSON text (a hints file, a form field) -> tuple of Hint."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"hints are not valid JSON ({e.msg if hasattr(e, 'msg') else e})") from None
    return hints_from_json(data)


def read_hints_file(path):
    """The hints of a JSON file; ValueError naming the file and the reason."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise ValueError(f"hints file larger than {MAX_FILE_BYTES} bytes")
        return parse_hints_json(data.decode("utf-8"))
    except OSError as e:
        raise ValueError(f"{path}: cannot read hints ({e.strerror or e})") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: {e}") from None


def check_inside(hints, width, height):
    """ValueError naming the first hint outside a width x height photo."""
    for h in hints:
        if not (h.x < width and h.y < height):
            raise ValueError(f"hint {h.describe()}: outside the {width}x{height} photo")


def to_json(hints):
    return json.dumps([h.to_json() for h in hints])
