"""colorizer models: list the bundled models."""
import os
import re
import sys

# a folder path in a training note ("shared/data/train (24,613 colour photos)"): where the
# photos lay on the machine that trained the model, of no use to a user
_PATH = re.compile(r"(?<![\w.-])\.{0,2}/?[\w.-]+(?:/[\w.-]+)+/?")


def without_paths(text):
    """A training note without its folder paths: 'PATH (what)' becomes 'what', another
    path its last part."""
    text = re.sub(_PATH.pattern + r"\s*\(([^()]*)\)", r"\1", text)
    return _PATH.sub(lambda m: m.group(0).rstrip("/").rsplit("/", 1)[-1], text)


def add_parser(sub):
    sub.add_parser("models", help="list the bundled models", description="List the models bundled with the package.")


def run(a):
    from ..bundled import DEFAULT_MODEL, available_models, resolve_model
    from ..decoding import model_settings
    from ..model_files import WeightsError, read_model_file
    names = available_models()
    if not names:
        print("no bundled models", file=sys.stderr)
        return 1
    for name in names:
        path = resolve_model(name)[0]
        try:
            arch, config, info, state, extra = read_model_file(path)
        except WeightsError as e:
            print(f"{name}: {e}", file=sys.stderr)
            continue
        n = sum(v.numel() for v in state.values())
        mark = " (default)" if name == DEFAULT_MODEL else ""
        trained = ""
        if isinstance(info.get("trained_on"), str):  # the whole recipe, for a fine-tuned model too
            trained = f"; trained on {without_paths(info['trained_on'])}"
        elif isinstance(info.get("epochs"), (int, float)):  # of its (last) training run
            trained = f", trained {info['epochs']:.2f} epochs at {info.get('size', '?')} px"
        decoding = ""
        if "bins" in extra:  # a colour-class model
            try:
                rule = model_settings(info)[0] or "annealed-mean"
            except ValueError as e:
                rule = f"? ({e})"
            decoding = f", {len(extra['bins'])} colour classes decoded by {rule}"
        print(f"{name}{mark}: {arch}, {n / 1e6:.2f}M parameters stored, {os.path.getsize(path) / 1e6:.1f} MB{decoding}{trained}")
    return 0
