"""What every decoder is: a small numerical object that turns the network's outputs
into a,b, with a vibrance knob (0..1) and settings of its own."""
import math


class Decoder:
    """Network outputs (a dict of tensors, see colorizer.networks) -> a,b (B, 2, h, w) at
    the network's output size. Subclasses set `name` (how users choose it), `needs` (the
    output it decodes: "logits" for colour classes, "ab" for a regression) and implement
    __call__ and settings()."""

    name = ""
    needs = ""
    uses_vibrance = True

    def reads(self, available):
        """The outputs to ask the network for, of the `available` ones (a backend's
        `outputs`): what __call__ reads, so that a backend computes no other."""
        return (self.needs,)

    def __call__(self, outputs, vibrance, consume=False):
        """Decode `outputs` at `vibrance` (0..1). consume=True lets the decoder overwrite
        the outputs' tensors (no copy of the class scores: for callers that do not reuse them)."""
        raise NotImplementedError

    def settings(self):
        """The decoder's own settings, as stored in a model file (JSON-able)."""
        return {}

    def __repr__(self):
        s = ", ".join(f"{k}={v!r}" for k, v in self.settings().items())
        return f"{type(self).__name__}({s})"


def number(settings, key, default, lo, hi, rule):
    """settings[key] as a float in [lo, hi] (default when absent); ValueError naming the setting."""
    v = settings.pop(key, default)
    try:
        f = float(v)
        if isinstance(v, bool) or not math.isfinite(f) or not lo <= f <= hi:
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f"{rule}.{key} must be a number between {lo:g} and {hi:g}, not {v!r}") from None
    return f


def no_more(settings, rule):
    """Refuse settings a decoder does not know (a typo must not pass silently)."""
    if settings:
        raise ValueError(f"{rule}: unknown setting(s) {', '.join(sorted(map(str, settings)))}")
