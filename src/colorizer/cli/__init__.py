"""The `colorizer` command: one module per subcommand, each with add_parser(sub) and
run(args) -> exit status (0 ok, 1 some inputs failed, 2 usage or setup error). Modules
import the heavy parts (torch, the server) only when their command runs, so `--help`
stays quick."""
import argparse
import sys

from . import colorize, evaluate, export, models, prior, serve, shards, train

COMMANDS = {"colorize": colorize, "train": train, "evaluate": evaluate, "prior": prior, "serve": serve, "models": models,
            "export": export, "shards": shards}


def build_parser():
    from .. import __version__
    parser = argparse.ArgumentParser(prog="colorizer", description="Colour for grayscale photographs.")
    parser.add_argument("--version", action="version", version=f"colorizer {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS.values():
        module.add_parser(sub)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # the words given, for a command that says how to resume
    try:
        return COMMANDS[args.command].run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
