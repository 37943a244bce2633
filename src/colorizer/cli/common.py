"""What the subcommands share: error lines and option types read from colorizer.options."""
import argparse
import sys

from ..files import display

BACKEND_HELP = ("what runs the network: auto (the default: ONNX Runtime on the CPU for the bundled default model and "
                ".onnx files, about twice as fast as PyTorch with the same colours; PyTorch for your own .safetensors "
                "models, seed, or a GPU), torch (PyTorch, on any device), or onnxruntime (ONNX Runtime on the CPU; a "
                "model without a shipped export is exported on first use into a cache it names)")


def error(message, status=2):
    """Print 'colorizer: error: MESSAGE' (one line, escaped) and return the exit status."""
    print(f"colorizer: error: {display(str(message))}", file=sys.stderr)
    return status


def parse_options(args, names):
    """The colorize options named `names` from argparse's text values (None: not given),
    parsed and checked by colorizer.options as the API checks them. Returns a dict of the
    given ones; ValueError with the message the user sees ("--size must be ...")."""
    from ..options import OPTIONS
    out = {}
    for name in names:
        text = getattr(args, name)
        if text is None:
            continue
        try:
            out[name] = OPTIONS[name].parse(text)
        except ValueError as e:
            raise ValueError(f"--{str(e).replace('_', '-')}") from None
    return out


def option_type(name):
    """An argparse type that parses and checks colorize option `name` as the API does
    (argparse then prints its usage with the message; colorize uses parse_options instead,
    to keep its usage errors to one line)."""
    from ..options import OPTIONS
    option = OPTIONS[name]

    def parse(text):
        try:
            return option.parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    parse.__name__ = name
    return parse


def option_help(name, extra=""):
    """The option's help line from colorizer.options, with its default."""
    from ..options import OPTIONS
    o = OPTIONS[name]
    default = "the model's own" if o.default is None else f"{o.default:g}" if isinstance(o.default, float) else o.default
    return f"{o.help} (default {default}){extra}"
