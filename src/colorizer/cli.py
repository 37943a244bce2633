"""The `colorizer` command."""
import argparse
import os
import signal
import sys
import time


def _add_train(sub):
    p = sub.add_parser("train", help="train a model on a folder of colour photos",
                       description="Train a colorization model on a folder tree of colour photos (jpg/png/webp, read recursively; near-grayscale photos are skipped).")
    p.add_argument("--data", help="folder of training photos (required, except with --resume)")
    p.add_argument("--val", help="folder of validation photos (metrics and a PNG grid after each epoch)")
    p.add_argument("--model", default=None, choices=["seed", "unet"], help="architecture (default: unet, or the --init model's)")
    p.add_argument("--out", required=True, help="run folder: checkpoints, state, grids")
    p.add_argument("--size", type=int, default=None, help="training crop size (default 256)")
    p.add_argument("--batch", type=int, default=None, help="batch size (default 16)")
    p.add_argument("--epochs", type=float, default=None, help="epochs, may be fractional (default 100)")
    p.add_argument("--lr", type=float, help="Adam learning rate (default 1e-3 seed, 3e-4 unet)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out where it stopped")
    p.add_argument("--init", metavar="MODEL", help="fine-tune: start from this model's weights (a bundled name such as 'default', or a .safetensors file) with a fresh optimizer and schedule")
    p.add_argument("--reg-loss", choices=["mse", "l1"], default=None, help="a,b regression loss (default mse, the baseline's)")
    p.add_argument("--reg-weight", type=float, default=None, help="weight of the regression head's loss beside the class loss (unet, default 10)")
    p.add_argument("--warmup", type=int, default=None, help="learning-rate warm-up steps (default 200)")
    p.add_argument("--workers", type=int, default=None, help="threads decoding photos (default 2)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    p.add_argument("--lam", type=float, default=None, help="class rebalancing lambda (unet, default 0.5)")
    p.add_argument("--max-minutes", type=float, default=None, help="stop (with a checkpoint) after this many minutes")
    p.add_argument("--ckpt-minutes", type=float, default=None, help="checkpoint at least this often (default 5)")
    p.add_argument("--limit", type=int, default=None, help="use at most this many training photos")
    p.add_argument("--val-limit", type=int, default=None, help="validation photos used during training (default 200)")


def cmd_train(a):
    from .checkpoint import WeightsError
    from .train import train
    if not a.data and not a.resume:
        print("colorizer train: error: --data is required (except with --resume)", file=sys.stderr)
        return 2
    cfg = dict(data=a.data, val=a.val, arch=a.model, out=a.out, size=a.size, batch=a.batch, epochs=a.epochs,
               lr=a.lr, resume=a.resume, workers=a.workers, threads=a.threads, seed=a.seed, lam=a.lam,
               max_minutes=a.max_minutes, ckpt_minutes=a.ckpt_minutes, limit=a.limit, val_limit=a.val_limit,
               init=a.init, reg_loss=a.reg_loss, reg_weight=a.reg_weight, warmup=a.warmup)
    try:
        train(cfg)
    except (WeightsError, FileNotFoundError, ValueError) as e:
        print(f"colorizer: error: {e}", file=sys.stderr)
        return 2
    return 0


def display(path):
    """A path (or message) as printable, one-line text, whatever bytes its name holds:
    undecodable bytes and control characters (newlines, terminal escapes) are escaped."""
    text = os.fsencode(path).decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii") for c in text)


def _add_colorize(sub):
    p = sub.add_parser("colorize", help="colorize photos (files and folders)",
                       description="Colorize grayscale photos. Each output keeps the input's resolution and has the input's stem. "
                                   "Inputs are never modified; outputs are written atomically. Exit status: 0 all done, 1 some failed, 2 usage error.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders (searched recursively)")
    p.add_argument("-o", "--out", required=True, metavar="OUT_DIR", help="folder for the results (created if missing)")
    p.add_argument("--model", default=None, help="bundled model name or .safetensors path (default: the bundled default)")
    p.add_argument("--size", type=int, default=256, help="working size of the network in pixels (default 256; larger: finer colour, slower)")
    p.add_argument("--vibrance", type=float, default=None,
                   help="0..1, how vivid the colours are (classification models; default 0.62): the temperature T of the decoding, "
                        "T = 1 - 0.75 vibrance for min-risk, T = 1 - vibrance for annealed-mean")
    p.add_argument("--decoding", choices=["min-risk", "annealed-mean"], default=None,
                   help="how colour classes become a colour (default: the model's; the bundled default uses min-risk, the colour "
                        "of least expected error; annealed-mean is Zhang et al.'s, bolder and more often wrong)")
    p.add_argument("--format", choices=["png", "jpg"], default="png", help="output format (default png; png keeps transparency)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--skip-existing", action="store_true", help="skip inputs whose output already exists (resume a batch)")
    g.add_argument("--overwrite", action="store_true", help="replace outputs that already exist")
    p.add_argument("--max-megapixels", type=float, default=200, help="refuse larger images (default 200)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _collect(inputs, exts, exclude=None):
    """(source path, relative output stem) for every input; folders are searched recursively.
    When the folder `exclude` (the output folder) lies inside an input folder, the files
    below it (the results of an earlier run) are not taken as inputs."""
    from .data import find_images
    items, errors = [], []
    skip = os.path.join(os.path.realpath(exclude), "") if exclude else None
    for inp in inputs:
        if os.path.isdir(inp):
            found = find_images(inp, exts)
            if skip and os.path.join(os.path.realpath(inp), "") != skip:
                found = [f for f in found if not os.path.realpath(f).startswith(skip)]
            if not found:
                errors.append((inp, "folder holds no images"))
            for f in found:
                rel = os.path.relpath(f, inp)
                items.append((f, os.path.splitext(rel)[0]))
        elif os.path.lexists(inp):
            items.append((inp, os.path.splitext(os.path.basename(inp))[0]))
        else:
            errors.append((inp, "no such file or folder"))
    return items, errors


def cmd_colorize(a):
    from tqdm import tqdm

    from .checkpoint import WeightsError, remove_stale_temps
    from .data import IMAGE_EXTS
    from .imageio import ImageError, save_image
    from .pipeline import Colorizer

    if a.size < 32 or a.size > 4096:
        print("colorizer: error: --size must be between 32 and 4096", file=sys.stderr)
        return 2
    if a.vibrance is not None and not 0 <= a.vibrance <= 1:
        print("colorizer: error: --vibrance must be between 0 and 1", file=sys.stderr)
        return 2
    exts = IMAGE_EXTS | {".gif", ".jp2", ".pgm", ".ppm", ".pbm", ".pnm", ".tga", ".ico", ".psd"}
    items, errors = _collect(a.inputs, exts, exclude=a.out)
    for path, why in errors:
        print(f"{display(path)}: {why}", file=sys.stderr)
    if not items:
        return 1
    try:
        colorizer = Colorizer.load(a.model)
    except WeightsError as e:
        print(f"colorizer: error: {display(str(e))}", file=sys.stderr)
        return 2
    if a.decoding:
        colorizer.set_decoding(a.decoding)
    ext = "jpg" if a.format == "jpg" else "png"
    fmt = "JPEG" if ext == "jpg" else "PNG"
    try:
        started = time.time()
        os.makedirs(a.out, exist_ok=True)
        planned = {}  # output folder -> names of the outputs this run writes there
        for _, stem in items:
            d, name = os.path.split(os.path.join(a.out, f"{stem}.{ext}"))
            planned.setdefault(d, set()).add(name)
        stale = [p for d, names in planned.items() for p in remove_stale_temps(d, started, names)]
    except OSError as e:
        print(f"colorizer: error: cannot use output folder {display(a.out)} ({e.strerror or e})", file=sys.stderr)
        return 2
    if stale:
        print(f"colorizer: removed {len(stale)} unfinished temporary file(s) left in {display(a.out)} by an interrupted run", file=sys.stderr)
    # SIGTERM (kill, a closing terminal, a service manager) stops like Ctrl-C: the output being
    # written is removed instead of being left as a temporary file
    try:
        old_sigterm = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    except ValueError:  # not the main thread (main() called from a thread): leave signals alone
        old_sigterm = None
    inputs_real = {os.path.realpath(p) for p, _ in items}
    taken = set()
    failed = len(errors)
    done = skipped = 0
    bar = tqdm(items, desc="colorizing", unit="img", disable=a.quiet, file=sys.stderr)
    for src, stem in bar:
        dst = os.path.join(a.out, f"{stem}.{ext}")
        n = 1
        while os.path.realpath(dst) in taken:  # two inputs with one stem (a.jpg, a.png)
            dst = os.path.join(a.out, f"{stem}_{n}.{ext}")
            n += 1
        taken.add(os.path.realpath(dst))
        if os.path.realpath(dst) in inputs_real:
            tqdm.write(f"{display(src)}: output {display(dst)} would overwrite an input; choose another -o", file=sys.stderr)
            failed += 1
            continue
        if os.path.lexists(dst):
            if a.skip_existing:
                skipped += 1
                continue
            if not a.overwrite:
                tqdm.write(f"{display(src)}: output {display(dst)} exists (use --overwrite or --skip-existing)", file=sys.stderr)
                failed += 1
                continue
        try:
            img = colorizer.colorize(src, vibrance=a.vibrance, size=a.size, max_pixels=int(a.max_megapixels * 1e6))
            os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
            save_image(img, dst, fmt=fmt)
            done += 1
            for note in colorizer.last_notes:
                tqdm.write(f"{display(src)}: note: {note}", file=sys.stderr)
        except ImageError as e:
            tqdm.write(f"{display(src)}: {e}", file=sys.stderr)
            failed += 1
        except MemoryError:
            tqdm.write(f"{display(src)}: out of memory (try a smaller --size or image)", file=sys.stderr)
            failed += 1
        except OSError as e:
            tqdm.write(f"{display(src)}: cannot write output ({e.strerror or e})", file=sys.stderr)
            failed += 1
        except Exception as e:  # noqa: BLE001 - one bad file must not stop a batch
            msg = str(e).splitlines()[0][:160] if str(e) else ""
            tqdm.write(f"{display(src)}: failed ({display(f'{type(e).__name__}: {msg}')})", file=sys.stderr)
            failed += 1
    bar.close()
    if old_sigterm is not None:
        signal.signal(signal.SIGTERM, old_sigterm)
    if not a.quiet:
        print(f"{done} colorized, {skipped} skipped, {failed} failed -> {display(a.out)}", file=sys.stderr)
    return 1 if failed else 0


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


def _add_serve(sub):
    p = sub.add_parser("serve", help="run the web app and HTTP API",
                       description="Serve the web page (/) and the HTTP API (/api/colorize, /api/health, docs at /docs).")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--model", default=None, help="bundled model name or .safetensors path")
    p.add_argument("--max-mb", type=float, default=25, help="largest upload in megabytes (default 25)")
    p.add_argument("--max-megapixels", type=float, default=50, help="largest image in megapixels (default 50)")
    p.add_argument("--concurrency", type=int, default=0, help="inferences at once (default: number of cores)")
    p.add_argument("--queue", type=int, default=16, help="requests allowed to wait; beyond that the server answers 503 (default 16)")
    p.add_argument("--allow-origin", action="append", default=None, metavar="ORIGIN",
                   help="allow cross-origin requests from ORIGIN (repeatable); CORS is closed by default")
    p.add_argument("--request-timeout", type=float, default=60, help="seconds a client may take to upload (default 60)")


def cmd_serve(a):
    from .checkpoint import WeightsError
    from .server import serve
    try:
        serve(host=a.host, port=a.port, model=a.model, max_bytes=int(a.max_mb * 1e6), max_pixels=int(a.max_megapixels * 1e6),
          concurrency=a.concurrency or (os.cpu_count() or 1), queue_size=a.queue,
              allow_origins=a.allow_origin or None, request_timeout=a.request_timeout)
    except WeightsError as e:
        print(f"colorizer: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # port in use, permission denied
        print(f"colorizer: error: cannot serve on {a.host}:{a.port} ({e.strerror or e})", file=sys.stderr)
        return 2
    return 0


def _add_models(sub):
    sub.add_parser("models", help="list the bundled models", description="List the models bundled with the package.")


def cmd_models(a):
    from .checkpoint import WeightsError, read_model_file
    from .pipeline import DEFAULT_MODEL, available_models, resolve_model
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
            trained = f"; trained on {info['trained_on']}"
        elif isinstance(info.get("epochs"), (int, float)):  # of its (last) training run
            trained = f", trained {info['epochs']:.2f} epochs at {info.get('size', '?')} px"
        decoding = ""
        if "bins" in extra:  # a colour-class model
            d = info.get("decode") if isinstance(info.get("decode"), dict) else {}
            decoding = f", {len(extra['bins'])} colour classes decoded by {d.get('rule', 'annealed-mean')}"
        print(f"{name}{mark}: {arch}, {n / 1e6:.2f}M parameters stored, {os.path.getsize(path) / 1e6:.1f} MB{decoding}{trained}")
    return 0


def _add_evaluate(sub):
    p = sub.add_parser("evaluate", help="measure a model on colour photos",
                       description="Convert each photo to grayscale, colorize it, and compare with the original: PSNR, SSIM, CIEDE2000, "
                                   "colourfulness, FD-Lite0, beside the gray baseline. Writes JSON, Markdown and an HTML page with an image grid.")
    p.add_argument("--data", required=True, help="folder of colour photos (ground truth)")
    p.add_argument("--model", action="append", default=None,
                   help="bundled model name or .safetensors path; repeat to compare several (default: the bundled default)")
    p.add_argument("--size", type=int, default=256, help="photos are centre-cropped and resized to SIZE x SIZE (default 256)")
    p.add_argument("--vibrance", type=float, action="append", default=None, help="vibrance(s) to evaluate; repeat for a sweep")
    p.add_argument("--decoding", choices=["min-risk", "annealed-mean"], action="append", default=None,
                   help="decoding rule(s) for colour-class models (default: each model's own); repeat to compare")
    p.add_argument("--out", default=None, metavar="REPORT_DIR", help="write report.json, report.md, report.html and grids here")
    p.add_argument("--limit", type=int, default=0, help="use at most this many photos")
    p.add_argument("--grid", type=int, default=16, help="photos shown in the HTML grid (default 16)")
    p.add_argument("--no-fd", action="store_true", help="skip the FD-Lite0 Frechet distance")
    p.add_argument("--batch", type=int, default=16, help="batch size (default 16)")


def cmd_evaluate(a):
    from .evaluate import run_cli
    return run_cli(a)


def _add_prior(sub):
    p = sub.add_parser("prior", help="compute colour-class rebalancing weights from your photos",
                       description="Histogram the a,b colours of a folder of photos over the colour bins, smooth it, and write the "
                                   "class-rebalancing weights w ~ ((1-lambda) p + lambda/Q)^-1 (JSON). Training computes them the same way.")
    p.add_argument("--data", required=True, help="folder of colour photos")
    p.add_argument("--lam", type=float, default=0.5, help="lambda (default 0.5)")
    p.add_argument("--size", type=int, default=128, help="photos are read at this size (default 128)")
    p.add_argument("--limit", type=int, default=0, help="use at most this many photos")
    p.add_argument("-o", "--out", required=True, help="output JSON file")


def cmd_prior(a):
    from .evaluate import run_prior
    return run_prior(a)


def build_parser():
    from . import __version__
    parser = argparse.ArgumentParser(prog="colorizer", description="Colour for grayscale photographs.")
    parser.add_argument("--version", action="version", version=f"colorizer {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_colorize(sub)
    _add_train(sub)
    _add_evaluate(sub)
    _add_prior(sub)
    _add_serve(sub)
    _add_models(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    a = parser.parse_args(argv)
    handler = {"colorize": cmd_colorize, "train": cmd_train, "serve": cmd_serve, "models": cmd_models,
               "evaluate": cmd_evaluate, "prior": cmd_prior}[a.command]
    try:
        return handler(a)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
