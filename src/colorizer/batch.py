"""The batch engine: colorize many files into an output folder, safely.

    inputs (files, folders walked recursively)  -> jobs (source, output path)
    -> for each job: skip / refuse / colorize -> write atomically -> an event

Photos and videos alike: a video (by its extension, video.VIDEO_EXTS) is colorized by
video.colorize_video into OUT/STEM.mp4 (the container of --video-format).

It never touches an input, never leaves a partial output (atomic writes; stale
temporary files of a killed run are removed), lets one bad file not stop the rest,
and stops cleanly on Ctrl-C or SIGTERM. The CLI prints its events; a distributed runner
can call run_batch() on its share of the jobs."""
import errno
import os
import signal
import tempfile
import time
from dataclasses import dataclass, field

from .files import display, find_images, remove_stale_temps
from .image_io import IMAGE_EXTS, ImageError, save_image
from .video import VIDEO_EXTS, VideoOptions, is_video_path

EXISTING = ("fail", "skip", "overwrite")  # what to do when an output already exists
FORMATS = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP", "tif": "TIFF"}  # output formats: extension -> image format
# an output file named by the user (colorize -o FILE): its extension -> its format
FORMAT_OF = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg", ".webp": "webp", ".tif": "tif", ".tiff": "tif"}
DEPTH16 = ("png", "tif")  # the formats written at 16 bits per channel with depth=16


@dataclass
class Job:
    source: str   # the input file
    output: str   # where its result goes
    stem: str = ""  # the output's name before a _1, _2... was added (two inputs sharing a stem)


@dataclass
class Event:
    """What happened to one input: kind is "done", "skipped", "failed" or "note"."""
    kind: str
    source: str
    output: str | None = None
    message: str = ""

    def line(self):
        """One printable line for the user: 'SOURCE: message' (paths escaped)."""
        if self.kind == "note":
            return f"{display(self.source)}: note: {self.message}"
        return f"{display(self.source)}: {self.message}"


@dataclass
class Summary:
    done: int = 0
    skipped: int = 0
    failed: int = 0
    events: list = field(default_factory=list)
    removed_temps: list = field(default_factory=list)  # stale temporary files of a killed run, removed

    @property
    def ok(self):
        return self.failed == 0


class OutputFolderError(Exception):
    """The output folder cannot be created or used; str() is one line."""


def collect(inputs, exts=IMAGE_EXTS | VIDEO_EXTS, exclude=None):
    """(source path, output stem relative to the output folder) for every input, and
    (path, why) for inputs that are missing or empty folders. Folders are searched
    recursively; when the folder `exclude` (the output folder) lies inside an input
    folder, the files below it (results of an earlier run) are not inputs."""
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
                items.append((f, os.path.splitext(os.path.relpath(f, inp))[0]))
        elif os.path.lexists(inp):
            items.append((inp, os.path.splitext(os.path.basename(inp))[0]))
        else:
            errors.append((inp, "no such file or folder"))
    return items, errors


def plan(items, out_dir, ext, video_ext="mp4"):
    """Jobs for (source, stem) items: OUT/STEM.EXT (OUT/STEM.VIDEO_EXT for a video), with
    _1, _2... added when two inputs share a stem (a.jpg and a.png; shared_stems() says
    which became which)."""
    jobs, taken = [], set()
    for src, stem in items:
        suffix = video_ext if is_video_path(src) else ext
        dst = os.path.join(out_dir, f"{stem}.{suffix}")
        n = 1
        while os.path.realpath(dst) in taken:
            dst = os.path.join(out_dir, f"{stem}_{n}.{suffix}")
            n += 1
        taken.add(os.path.realpath(dst))
        jobs.append(Job(src, dst, stem))
    return jobs


def shared_stems(jobs):
    """The groups of jobs whose inputs share an output name (a.png and a.tif -> a.png and
    a_1.png), in order: what to tell the user before the batch runs."""
    groups = {}
    for job in jobs:
        key = (os.path.join(os.path.dirname(job.output), job.stem), os.path.splitext(job.output)[1])  # a.png, a.mp4 differ
        groups.setdefault(key, []).append(job)
    return [group for group in groups.values() if len(group) > 1]


def extra_outputs(output, options=None):
    """The files written beside OUTPUT when the options ask for them: the alternatives
    STEM_v1.EXT ... STEM_vK.EXT (options.variants) and the confidence map
    STEM_confidence.png (options.confidence; always PNG, 8-bit gray)."""
    if options is None:
        return []
    stem, ext = os.path.splitext(output)
    paths = [f"{stem}_v{k}{ext}" for k in range(1, getattr(options, "variants", 0) + 1)]
    if getattr(options, "confidence", False):
        paths.append(f"{stem}_confidence.png")
    return paths


def extra_collisions(jobs, options):
    """(job, path) for each extra output (extra_outputs) that is another job's output or
    input (a.png's alternative a_v1.png beside an input named a_v1.png): refused before the
    batch, since one would overwrite the other."""
    taken = {os.path.realpath(p) for j in jobs for p in (j.output, j.source)}
    return [(j, p) for j in jobs for p in extra_outputs(j.output, options) if os.path.realpath(p) in taken]


def existing_outputs(jobs, options=None):
    """The jobs whose output (or one of its extra outputs: the alternatives, the confidence
    map that `options` ask for) already exists (outputs that would overwrite an input are
    refused file by file instead)."""
    inputs = {os.path.realpath(j.source) for j in jobs}
    return [j for j in jobs if os.path.realpath(j.output) not in inputs
            and any(os.path.lexists(p) for p in (j.output, *extra_outputs(j.output, options)))]


def prepare_output_folder(out_dir, jobs, started, options=None):
    """Create the output folder and remove the temporary files an earlier, killed run
    left there for these outputs. Returns the removed paths; OutputFolderError if the
    folder cannot be used."""
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise OutputFolderError(f"cannot use output folder {display(out_dir)}: it is a file (give -o a folder)")
    try:
        os.makedirs(out_dir, exist_ok=True)
        check_writable(out_dir)
        planned = {}
        for job in jobs:
            for path in (job.output, *extra_outputs(job.output, options)):
                d, name = os.path.split(path)
                planned.setdefault(d, set()).add(name)
        return [p for d, names in planned.items() for p in remove_stale_temps(d, started, names)]
    except OSError as e:
        why = "a part of its path is a file" if e.errno in (errno.ENOTDIR, errno.EEXIST) else e.strerror or e
        raise OutputFolderError(f"cannot use output folder {display(out_dir)} ({why})") from None


def check_writable(folder):
    """OSError unless a file can be created in `folder` (a read-only folder or file system
    is found before any photo is colorized, not after each one)."""
    fd, probe = tempfile.mkstemp(dir=folder, prefix=".colorizer-write-test.")
    os.close(fd)
    os.unlink(probe)


def run_jobs(colorizer, jobs, options, fmt="png", existing="fail", on_event=None, progress=None, quality=95, depth=8,
             video=None, frame_progress=None):
    """Colorize each job's source into its output. `existing`: what to do when the
    output exists ("fail" the file, "skip" it, "overwrite" it). `on_event(event)` hears
    each failure, skip and note as it happens; `progress` wraps the job list (a tqdm).
    `quality`: JPEG and WebP quality; `depth`: bits per channel, 16 for PNG and TIFF
    (merged from the input's full-precision L*). Outputs keep the input's EXIF, ICC
    profile and DPI. The alternatives and the confidence map the options ask for are
    written beside each output (extra_outputs; 8 bits), before it: an output that exists
    has its extras. Videos are written as `video` (VideoOptions) says, with
    `frame_progress(total, desc)` (a tqdm of frames) when given. Returns a Summary.
    KeyboardInterrupt (Ctrl-C, and SIGTERM while this runs in the main thread) stops it,
    leaving no partial output."""
    if existing not in EXISTING:
        raise ValueError(f"existing must be one of {', '.join(EXISTING)}")
    if depth not in (8, 16) or (depth == 16 and fmt not in DEPTH16):
        raise ValueError(f"depth must be 8, or 16 with the formats {' and '.join(DEPTH16)}")
    pil_format = FORMATS[fmt]
    inputs_real = {os.path.realpath(j.source) for j in jobs}
    summary = Summary()

    def emit(kind, job, message="", output=None):
        ev = Event(kind, job.source, output, message)
        summary.events.append(ev)
        if on_event is not None:
            on_event(ev)

    with _sigterm_as_interrupt():
        for job in (progress(jobs) if progress else jobs):
            for kind, message, output in colorize_job(colorizer, job, options, pil_format, existing, inputs_real,
                                                      quality, depth, video, frame_progress):
                if kind != "note":
                    setattr(summary, kind, getattr(summary, kind) + 1)
                emit(kind, job, message, output)
    return summary


def colorize_job(colorizer, job, options, pil_format, existing, inputs_real, quality=95, depth=8, video=None,
                 frame_progress=None):
    """One job, as run_jobs does it: [(kind, message, output)] - one "done", "skipped" or
    "failed", then the notes of a done one. `inputs_real`: the real paths of the batch's
    inputs (an output must not replace one). What an engine running jobs elsewhere (on Ray:
    batch_ray.py) calls for each job, so that it writes and reports exactly as here."""
    src, dst = job.source, job.output
    if os.path.realpath(dst) in inputs_real:
        return [("failed", f"output {display(dst)} would overwrite an input; choose another -o", None)]
    is_video = is_video_path(src)
    extras = () if is_video else extra_outputs(dst, options)  # alternatives, confidence map: written before dst
    if os.path.lexists(dst) and existing == "skip":
        return [("skipped", "output exists, skipped", dst)]
    there = [p for p in (dst, *extras) if os.path.lexists(p)]
    if there and existing == "fail":
        return [("failed", f"output {display(there[0])} exists (use --overwrite or --skip-existing)", None)]
    try:
        if is_video:
            out = _colorize_video(colorizer, src, dst, options, video, frame_progress)
            return [("done", "", dst)] + [("note", note, dst) for note in out.notes]
        out = colorizer.colorize(src, options)
        os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
        for path, image in zip(extras, out.variants):
            save_image(image, path, fmt=pil_format, quality=quality, metadata=out.metadata)
        if out.confidence is not None:
            save_image(out.confidence, extras[-1], fmt="PNG")
        save_image(out.pixels16() if depth == 16 else out.image, dst, fmt=pil_format, quality=quality,
                   metadata=out.metadata)
    except (ImageError, ValueError) as e:  # a bad image or video; hints that do not fit this photo
        return [("failed", getattr(e, "reason", str(e)), None)]  # the line starts with the path already
    except MemoryError:
        return [("failed", "out of memory (try a smaller --size or image)", None)]
    except OSError as e:
        return [("failed", f"cannot write output ({e.strerror or e})", None)]
    except Exception as e:  # noqa: BLE001 - one bad file must not stop a batch
        msg = str(e).splitlines()[0][:160] if str(e) else ""
        return [("failed", f"failed ({display(f'{type(e).__name__}: {msg}')})", None)]
    return [("done", "", dst)] + [("note", note, dst) for note in out.notes]


def run_batch(colorizer, inputs, out_dir, options, fmt="png", existing="fail", on_event=None, progress=None, quality=95,
              depth=8, video=None, frame_progress=None):
    """collect + plan + prepare_output_folder + run_jobs, for files and folders. Inputs
    that are missing or empty folders count as failed. Raises OutputFolderError."""
    started = time.time()
    items, errors = collect(inputs, exclude=out_dir)
    summary = Summary()
    for path, why in errors:
        ev = Event("failed", path, None, why)
        summary.failed += 1
        summary.events.append(ev)
        if on_event is not None:
            on_event(ev)
    if not items:
        return summary
    jobs = plan(items, out_dir, fmt if fmt in FORMATS else "png", (video or VideoOptions()).format)
    removed = prepare_output_folder(out_dir, jobs, started, options)
    result = run_jobs(colorizer, jobs, options, fmt=fmt, existing=existing, on_event=on_event, progress=progress,
                      quality=quality, depth=depth, video=video, frame_progress=frame_progress)
    result.failed += summary.failed
    result.events = summary.events + result.events
    result.removed_temps = removed
    return result


def _colorize_video(colorizer, src, dst, options, video, frame_progress):
    """One video job (video.colorize_video, imported only when a video comes: it needs the
    `video` extra, whose absence is then a one-line error for that file)."""
    from .video import require_video
    require_video(src)
    from .video.colorize import colorize_video
    os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
    return colorize_video(colorizer, src, dst, options, video or VideoOptions(), progress=frame_progress)


class _sigterm_as_interrupt:
    """SIGTERM (kill, a closing terminal, a service manager) stops like Ctrl-C while the
    batch runs: the output being written is removed instead of left as a temporary file.
    Outside the main thread signals are left alone."""

    def __enter__(self):
        try:
            self.old = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        except ValueError:  # not the main thread
            self.old = None
        return self

    def __exit__(self, *exc):
        if self.old is not None:
            signal.signal(signal.SIGTERM, self.old)
        return False


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt
