"""colorizer colorize: files and folders in, colorized files out (the batch engine)."""
import os
import sys

from .common import BACKEND_HELP, error, option_help, parse_options


def add_parser(sub):
    p = sub.add_parser("colorize", help="colorize photos and videos (files and folders)",
                       description="Colorize grayscale photos and black-and-white videos. Each output keeps the input's "
                                   "resolution and has the input's stem (or the name -o gives one input), and the input's EXIF "
                                   "(date, camera, description), "
                                   "ICC profile and DPI; a video (OUT/STEM.mp4 by default) keeps every frame with its "
                                   "timestamp, its sound, rotation and metadata. "
                                   "Inputs are never modified; outputs are written atomically. Exit status: 0 all done, "
                                   "1 some failed, 2 nothing done (a usage error, an unusable output folder, or outputs "
                                   "that exist without --skip-existing or --overwrite), 130 interrupted.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image and video files or folders (searched recursively)")
    p.add_argument("-o", "--out", required=True, metavar="OUT",
                   help="folder for the results (created if missing); for one input file, also a file name (-o colored.jpg: "
                        "the format from its extension)")
    p.add_argument("--model", default=None,
                   help="bundled model name, .safetensors path, or .onnx file (from colorizer export) "
                        "(default: the bundled default)")
    p.add_argument("--backend", choices=["auto", "torch", "onnxruntime"], default="auto",
                   help=BACKEND_HELP)
    p.add_argument("--size", default=None, help=option_help("size"))
    p.add_argument("--vibrance", default=None, help=option_help("vibrance"))
    p.add_argument("--decoding", default=None, metavar="{min-risk,annealed-mean,regression}", help=option_help("decoding"))
    p.add_argument("--hint", action="append", default=None, metavar="X,Y,#RRGGBB",
                   help="a colour you choose at a pixel of the photo (x right, y down from the top-left corner), e.g. "
                        "--hint 120,80,#2e7d32; repeat for more (hint-aware models)")
    p.add_argument("--hints", metavar="FILE.json", default=None,
                   help='hints from a JSON file: [{"x": X, "y": Y, "color": "#RRGGBB"}, ...] (what the web page saves)')
    p.add_argument("--reference", metavar="PHOTO", default=None,
                   help="a colour photo (of the same place or period) whose palette the colours are steered towards; "
                        "with or without hints (colour-class models)")
    p.add_argument("--reference-strength", dest="reference_strength", default=None, metavar="S",
                   help=option_help("reference_strength"))
    p.add_argument("--variants", default=None, metavar="K",
                   help="also write K alternatives, STEM_v1.EXT ... STEM_vK.EXT: other plausible colourings, each "
                        "coherent per region, 0 to 8 (default 0; colour-class models)")
    p.add_argument("--confidence", action="store_true",
                   help="also write STEM_confidence.png: 8-bit gray at the output's size, white where the model is "
                        "sure of the colour, black where it expects an error of 20 CIEDE2000 or more")
    p.add_argument("--format", choices=["png", "jpg", "webp", "tif"], default=None,
                   help="output format (default png, or the extension of -o FILE; png, webp and tif keep transparency)")
    p.add_argument("--quality", type=int, default=95, help="JPEG and WebP quality, 1 to 100 (default 95)")
    p.add_argument("--depth", type=int, choices=[8, 16], default=8,
                   help="bits per channel of png and tif outputs (default 8); 16 keeps a 16-bit scan's precision")
    v = p.add_argument_group("videos", "(need the video extra: pip install 'photo-colorizer[video]')")
    v.add_argument("--video-format", choices=["mp4", "mkv", "mov", "webm"], default=None,
                   help="container of video outputs, and their extension (default mp4, or the extension of -o FILE)")
    v.add_argument("--video-codec", choices=["h264", "hevc", "vp9", "av1", "ffv1"], default=None,
                   help="video codec (default h264; vp9 for webm); the sound is copied as it is where the container "
                        "can hold it")
    v.add_argument("--crf", type=int, default=18,
                   help="the video encoder's constant quality, 0 to 51 (lower: better and larger; default 18)")
    v.add_argument("--smoothing", type=float, default=None,
                   help="steady colour: the weight of the past frames, along the motion, in each frame's colours, 0 to "
                        "0.95 (default 0.9; 0 colorizes each frame on its own)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--skip-existing", action="store_true", help="skip inputs whose output already exists (resume a batch)")
    g.add_argument("--overwrite", action="store_true", help="replace outputs that already exist")
    p.add_argument("--max-megapixels", type=float, default=200, help="refuse larger images (default 200)")
    p.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="what runs the batch: local (this process, the default) or ray (a pool of Ray actors that each load "
                        "the model once: a local Ray started for the run, or the cluster at --address; needs "
                        "pip install 'photo-colorizer[cluster]')")
    p.add_argument("--address", default=None, metavar="ADDR",
                   help="with --engine ray: the Ray cluster to run on (e.g. ray://head:10001, or auto; default: a local Ray "
                        "started for the run)")
    p.add_argument("--actors", type=int, default=None, metavar="N",
                   help="with --engine ray: how many actors (model copies) run the jobs (default: one per GPU of the "
                        "cluster, else one per CPU)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def run(a):
    import dataclasses
    import math
    import time

    from tqdm import tqdm

    from .. import batch
    from ..backends import BackendError
    from ..colorizer import Colorizer
    from ..files import display
    from ..model_files import WeightsError
    from ..options import ColorizeOptions
    from ..video import DEFAULT_SMOOTHING, VideoOptions

    started = time.time()
    if not a.out.strip():
        return error("-o needs a folder for the results (or, for one input file, a file name), not an empty name")
    try:
        named = named_output(a)
    except ValueError as e:
        return error(e)
    a.format, a.video_format = named or (a.format or "png", a.video_format or "mp4")
    out_dir = (os.path.dirname(a.out) or ".") if named else a.out  # the folder the outputs go to
    if not (a.max_megapixels > 0 and math.isfinite(a.max_megapixels)):
        return error(f"--max-megapixels must be a number above 0, not {a.max_megapixels:g}")
    if not 1 <= a.quality <= 100:
        return error(f"--quality must be a whole number between 1 and 100, not {a.quality}")
    if a.depth == 16 and a.format not in batch.DEPTH16:
        return error(f"--depth 16 needs --format png or tif ({a.format} has 8 bits per channel)")
    if a.engine != "ray" and (a.address is not None or a.actors is not None):
        return error(f"{'--address' if a.address is not None else '--actors'} applies to --engine ray only")
    if a.actors is not None and a.actors < 1:
        return error(f"--actors must be a whole number of at least 1, not {a.actors}")
    if a.engine == "ray":
        from .. import batch_ray
        if not batch_ray.available():
            return error(f"--engine ray needs Ray: {batch_ray.INSTALL}")
    if not 0 <= a.crf <= 51:
        return error(f"--crf must be a whole number from 0 to 51, not {a.crf}")
    smoothing = DEFAULT_SMOOTHING if a.smoothing is None else a.smoothing
    if not 0 <= smoothing <= 0.95:
        return error(f"--smoothing must be a number from 0 to 0.95, not {smoothing:g}")
    try:
        video = VideoOptions(format=a.video_format, codec=a.video_codec, crf=a.crf, smoothing=smoothing)
    except ValueError as e:
        return error(e)
    try:
        given = parse_options(a, ("size", "vibrance", "decoding", "reference_strength", "variants"))
        options = ColorizeOptions().replace(**given, max_pixels=int(a.max_megapixels * 1e6), hints=read_hints(a),
                                            confidence=a.confidence or None)
    except ValueError as e:
        return error(e)
    if a.reference is not None:  # read once, before the batch: its palette is all that is used
        from ..image_io import ImageError
        from ..pipeline import reference_image
        try:
            options = options.replace(reference=reference_image(a.reference, options.max_pixels))
        except ImageError as e:
            return error(e)
    items, missing = batch.collect(a.inputs, exclude=out_dir)
    for path, why in missing:
        print(f"{display(path)}: {why}", file=sys.stderr)
    if not items:
        return 1
    try:
        colorizer = Colorizer.load(a.model, backend=a.backend)
    except (WeightsError, BackendError) as e:
        return error(e)
    if options.hints and not colorizer.backend.takes_hints:
        return error(f"model {colorizer.name} takes no hints (it was not trained with them): drop --hint/--hints "
                     "or use a hint-aware model")
    for remark in colorizer.ignored(options, given):  # said once, not for every file
        print(f"colorizer: note: {remark}", file=sys.stderr)
    if options.decoding and options.decoding not in colorizer.decoders:
        options = dataclasses.replace(options, decoding=None)
    if options.needs_classes:
        from ..pipeline import check_classes
        try:
            check_classes(colorizer.backend, colorizer.decoder(options), options)
        except ValueError as e:
            return error(f"model {colorizer.name}: {e}: drop --reference/--variants/--confidence or use a colour-class "
                         "model and decoding")
    jobs = [batch.Job(items[0][0], a.out, items[0][1])] if named else batch.plan(items, out_dir, a.format, a.video_format)
    clash = batch.extra_collisions(jobs, options)
    if clash:
        job, path = clash[0]
        return error(f"{display(job.source)}'s extra output {display(path)} would replace another file of the batch: "
                     "colorize them into separate folders")
    try:
        removed = batch.prepare_output_folder(out_dir, jobs, started, options)
    except batch.OutputFolderError as e:
        return error(e)
    existing = "skip" if a.skip_existing else "overwrite" if a.overwrite else "fail"
    exist = batch.existing_outputs(jobs, options)
    if exist and existing == "fail" and named:
        return error(f"{display(a.out)} already exists: add --overwrite to replace it")
    if exist and existing == "fail":  # said once, before any work: nothing is overwritten without a flag
        shown = ", ".join(display(os.path.relpath(j.output, out_dir)) for j in exist[:3]) + (", ..." if len(exist) > 3 else "")
        return error(f"{len(exist)} of {len(jobs)} outputs already exist in {display(out_dir)} ({shown}): add --skip-existing "
                     "to colorize only the others, or --overwrite to replace them")
    for first, *others in batch.shared_stems(jobs):  # said before the batch, as "INPUT: note: ..." lines
        for job in others:
            print(f"{display(job.source)}: note: shares its name with {display(first.source)}: written as "
                  f"{display(job.output)}", file=sys.stderr)
    if removed:
        print(f"colorizer: removed {len(removed)} unfinished temporary file(s) left in {display(out_dir)} "
              "by an interrupted run", file=sys.stderr)

    counts = {"done": 0, "skipped": 0}

    def on_event(ev):
        if ev.kind in counts:
            counts[ev.kind] += 1
        if ev.kind in ("failed", "note"):
            tqdm.write(ev.line(), file=sys.stderr)

    try:
        if a.engine == "ray":
            summary = run_on_ray(a, jobs, options, existing, on_event)
        else:
            summary = batch.run_jobs(
                colorizer, jobs, options, fmt=a.format, existing=existing, on_event=on_event,
                progress=lambda js: tqdm(js, desc="colorizing", unit="file", disable=a.quiet, file=sys.stderr),
                quality=a.quality, depth=a.depth, video=video,
                frame_progress=lambda total, desc: tqdm(total=total, desc=desc, unit="frame", leave=False,
                                                        disable=a.quiet, file=sys.stderr, dynamic_ncols=True))
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM: every output written is complete, none is partial
        done = max(counts["done"] + counts["skipped"], sum(_in_place(job, started, existing) for job in jobs))
        print(f"\ninterrupted: {done} of {len(jobs)} outputs are in {display(out_dir)}; to resume, run:\n"
              f"  {resume_command(getattr(a, 'argv', None))}", file=sys.stderr)
        return 130
    if summary is None:  # Ray could not start: said in one line
        return 2
    failed = summary.failed + len(missing)
    if not a.quiet:
        print(f"{summary.done} colorized, {summary.skipped} skipped, {failed} failed -> {display(a.out)}", file=sys.stderr)
    return 1 if failed else 0


def named_output(a):
    """For -o FILE (an image or video file name, not a folder that exists): (format, video
    format) from its extension, for one input file; ValueError saying why not (several
    inputs or a folder, an extension colorizer does not write, a --format that disagrees).
    None when -o is a folder."""
    from .. import batch
    from ..files import display
    from ..video import CONTAINERS
    ext = os.path.splitext(a.out)[1].lower()
    if ext not in batch.IMAGE_EXTS | batch.VIDEO_EXTS or os.path.isdir(a.out):
        return None
    folder = display(os.path.splitext(a.out)[0] or "out") + "/"
    if len(a.inputs) != 1 or os.path.isdir(a.inputs[0]):
        what = "a folder" if len(a.inputs) == 1 else f"{len(a.inputs)} inputs"
        raise ValueError(f"-o {display(a.out)} names one file, for one input file; for {what} pass a folder, e.g. -o {folder}")
    if batch.is_video_path(a.inputs[0]):
        if ext[1:] not in CONTAINERS:
            raise ValueError(f"-o {display(a.out)}: a video is written as {', '.join('.' + c for c in CONTAINERS)}")
        if a.video_format not in (None, ext[1:]):
            raise ValueError(f"--video-format {a.video_format} and -o {display(a.out)} disagree: drop one")
        return a.format or "png", ext[1:]
    fmt = batch.FORMAT_OF.get(ext)
    if fmt is None:
        raise ValueError(f"-o {display(a.out)}: a photo is written as {', '.join(batch.FORMAT_OF)}")
    if a.format not in (None, fmt):
        raise ValueError(f"--format {a.format} and -o {display(a.out)} disagree: drop one")
    return fmt, a.video_format or "mp4"


def _in_place(job, started, existing):
    """Whether the job's output is in the folder for good: written by this run (counted from
    the disk: the signal may come between a file's rename and its event) or kept by
    --skip-existing."""
    try:
        written = os.path.getmtime(job.output)
    except OSError:
        return False
    return existing == "skip" or written >= started - 1  # (- 1: file systems that keep whole seconds)


def run_on_ray(a, jobs, options, existing, on_event):
    """The jobs on Ray (batch_ray.py): None, after a one-line error, when Ray cannot start."""
    from tqdm import tqdm

    from .. import batch_ray
    try:
        started = batch_ray.start(a.address)
    except batch_ray.RayError as e:
        error(e)
        return None
    try:
        return batch_ray.run_jobs(a.model, a.backend, jobs, options, fmt=a.format, existing=existing, on_event=on_event,
                                  progress=lambda n: tqdm(total=n, desc="colorizing (ray)", unit="img", disable=a.quiet,
                                                          file=sys.stderr),
                                  quality=a.quality, depth=a.depth, actors=a.actors)
    finally:
        batch_ray.stop(started)


def resume_command(argv):
    """The command line that finishes an interrupted batch: the same one, with
    --skip-existing instead of --overwrite (argv: the words after `colorizer`)."""
    import shlex
    if argv is None:
        argv = sys.argv[1:]
    words = [w for w in argv if not (w.startswith("--o") and "--overwrite".startswith(w))]
    if not any(w.startswith("--sk") and "--skip-existing".startswith(w) for w in words):
        words.append("--skip-existing")
    return shlex.join(["colorizer", *words])


def read_hints(a):
    """The hints of --hint (repeated) and --hints FILE, in that order, or None."""
    from ..hints import parse_hint, read_hints_file
    hints = [parse_hint(text) for text in a.hint or []]
    if a.hints:
        hints += read_hints_file(a.hints)
    return tuple(hints) or None
