"""colorizer evaluate: measure models on colour photos."""
import os
import sys

from .common import error, option_type


def add_parser(sub):
    from ..options import DECODING_NAMES
    p = sub.add_parser("evaluate", help="measure a model on colour photos",
                       description="Convert each photo to grayscale, colorize it, and compare with the original: PSNR, SSIM, "
                                   "CIEDE2000, colourfulness, FD-Lite0, beside the gray baseline. Writes JSON, Markdown and an "
                                   "HTML page with an image grid.")
    p.add_argument("--data", required=True, help="folder of colour photos (ground truth)")
    p.add_argument("--model", action="append", default=None,
                   help="bundled model name or .safetensors path; repeat to compare several (default: the bundled default)")
    p.add_argument("--size", type=int, default=256, help="photos are centre-cropped and resized to SIZE x SIZE (default 256)")
    p.add_argument("--vibrance", type=option_type("vibrance"), action="append", default=None,
                   help="vibrance(s) to evaluate, 0..1 (colour-class models); repeat for a sweep (default: the model's default)")
    p.add_argument("--decoding", type=option_type("decoding"), action="append", default=None,
                   metavar="{" + ",".join(DECODING_NAMES) + "}",
                   help="decoding rule(s) for colour-class models (default: each model's own); repeat to compare")
    p.add_argument("--out", default=None, metavar="REPORT_DIR", help="write report.json, report.md, report.html and grids here")
    p.add_argument("--limit", type=int, default=0, help="use at most this many photos")
    p.add_argument("--grid", type=int, default=16, help="photos shown in the HTML grid (default 16)")
    p.add_argument("--no-fd", action="store_true", help="skip the FD-Lite0 Frechet distance")
    p.add_argument("--batch", type=int, default=16, help="batch size (default 16)")


def model_rows(colorizer, decodings, label=None):
    """(label, colorizer, options) to evaluate for one model (`label`: its name in the report,
    by default the model's own): one per decoding rule it can use for a colour-class model
    given --decoding, else one with its own decoding; and the remarks on what it cannot use."""
    from ..options import ColorizeOptions
    label = label or colorizer.name
    if not decodings or not colorizer.predicts_classes:  # a regression model: one row
        notes = [n for d in decodings or [] for n in colorizer.ignored(ColorizeOptions(decoding=d), ("decoding",))]
        return [(label, colorizer, ColorizeOptions())], notes
    rows, notes = [], []
    for rule in dict.fromkeys(decodings):
        options = ColorizeOptions(decoding=rule)
        if rule in colorizer.decoders:
            rows.append((f"{label} {rule}", colorizer, options))
        else:
            notes += colorizer.ignored(options, ("decoding",))
    return rows or [(label, colorizer, ColorizeOptions())], notes


def run(a):
    from ..bundled import DEFAULT_MODEL
    from ..colorizer import Colorizer
    from ..evaluation import GRAY, evaluate, load_photos, markdown_table, model_labels, write_report
    from ..model_files import WeightsError

    models = []
    try:
        specs = a.model or [DEFAULT_MODEL]
        for m, label in zip(specs, model_labels(specs)):  # unique: runs/a/model and runs/b/model are a/model, b/model
            rows, notes = model_rows(Colorizer.load(m, device="cpu"), a.decoding, label)
            for note in notes:
                print(f"colorizer: note: {note}", file=sys.stderr)
            models += rows
    except WeightsError as e:
        return error(e)
    try:
        photos = load_photos(a.data, a.size, a.limit)
    except FileNotFoundError as e:
        return error(e)
    rows, grids = evaluate([(GRAY, None)] + models, photos, vibrances=a.vibrance or [None], batch=a.batch,
                           fd=not a.no_fd, grid=a.grid)
    print(markdown_table(rows))
    if a.out:
        meta = {"data": a.data, "size": a.size, "photos": len(photos.names), "models": a.model or [DEFAULT_MODEL]}
        write_report(a.out, rows, grids, meta)
        print(f"report: {os.path.join(a.out, 'report.html')}", file=sys.stderr)
    return 0
