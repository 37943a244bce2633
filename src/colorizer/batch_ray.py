"""The batch engine's jobs run on Ray (Ray Data): `colorizer colorize ... --engine ray`.

batch.py plans the batch as always (names, collisions, existing outputs, stale temporary
files); only the running of the jobs moves: the jobs become a Ray dataset, and
`map_batches` sends them to a pool of actors that each load the model once and run
batch.colorize_job on each job - the same atomic writes to the planned names (written by
the actor itself: Ray's own image writer names files by UUID), the same one-line errors
and notes, which come back to this process as events. On a cluster the inputs and the
output folder must be on storage every node sees at the same path.

Ray is an optional extra (`pip install 'photo-colorizer[cluster]'`); `available()` says
whether it is installed. The actors ask for a fraction of a CPU (ACTOR_CPUS), so that
Ray Data's own read and write tasks still find a CPU: with whole CPUs, as many actors as
CPUs starve them and the run never ends."""
import os
import warnings

from . import batch
from .files import display

ACTOR_CPUS = 0.5  # each actor's share of a CPU, as Ray counts it (the actor's torch threads are set apart)
INSTALL = "pip install 'photo-colorizer[cluster]' (or pip install 'ray[data]')"


class RayError(Exception):
    """Ray is missing or cannot start; str() is one line."""


def available():
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError:
        return False
    return True


def _worker_class(model, backend, options, pil_format, existing, inputs_real, quality, depth, threads):
    """The class of the Ray actors, with the batch's settings inside it (Ray ships the class
    to the workers; constructor arguments would go through its object store and make an
    actor that restarts depend on them)."""
    settings = dict(model=model, backend=backend, threads=threads,
                    args=(options, pil_format, existing, inputs_real, quality, depth))
    return type("ColorizeWorker", (_Worker,), {"settings": settings})


class _Worker:
    """A Ray actor: loads the model once, then runs the jobs of each batch it is given."""
    settings = None

    def __init__(self):
        import torch

        from .colorizer import Colorizer
        torch.set_num_threads(self.settings["threads"])
        self.colorizer = Colorizer.load(self.settings["model"], backend=self.settings["backend"])
        self.args = self.settings["args"]

    def __call__(self, rows):
        import json
        out = []
        for source, output, stem in zip(rows["source"], rows["output"], rows["stem"]):
            job = batch.Job(str(source), str(output), str(stem))
            out.append(json.dumps(batch.colorize_job(self.colorizer, job, *self.args)))
        return {"index": rows["index"], "events": out}


def start(address=None):
    """Connect to the Ray cluster at `address` (or use the Ray this process already runs,
    or start a local one for the run). Returns True when this call started Ray (the caller
    stops it with stop())."""
    if not available():
        raise RayError(f"--engine ray needs Ray: {INSTALL}")
    import ray
    if ray.is_initialized():
        return False
    quiet()
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=True,
                 logging_level="error")
    except Exception as e:  # noqa: BLE001 - ConnectionError, RuntimeError, ValueError...: one line
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise RayError(f"cannot start {where} ({msg})") from None
    return True


def quiet():
    """Ray's and Ray Data's own messages (start-up, progress, statistics) only when they are errors: colorize
    shows its own progress and events."""
    import logging
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)


def stop(started):
    if started:
        import ray
        ray.shutdown()


def default_actors():
    """One actor per GPU of the cluster, else one per CPU."""
    import ray
    res = ray.cluster_resources()
    return max(1, int(res.get("GPU", 0)) or int(res.get("CPU", 1)))


def run_jobs(model, backend, jobs, options, fmt="png", existing="fail", on_event=None, progress=None, quality=95, depth=8,
             actors=None):
    """batch.run_jobs, with the jobs run by `actors` Ray actors (default: default_actors())
    that each load model `model` with `backend` (as Colorizer.load takes them). Ray must be
    started (start()). Events come as jobs finish (in any order); the Summary's events are
    in the jobs' order. `progress(total)`: a tqdm-like bar advanced by one per job.
    KeyboardInterrupt (Ctrl-C, SIGTERM) stops it; outputs are whole or absent (a temporary
    file an actor leaves when killed is removed by the next run)."""
    import json

    import ray

    if existing not in batch.EXISTING:
        raise ValueError(f"existing must be one of {', '.join(batch.EXISTING)}")
    if depth not in (8, 16) or (depth == 16 and fmt not in batch.DEPTH16):
        raise ValueError(f"depth must be 8, or 16 with the formats {' and '.join(batch.DEPTH16)}")
    summary = batch.Summary()
    if not jobs:
        return summary
    actors = actors or default_actors()
    gpus = ray.cluster_resources().get("GPU", 0)
    cpus = ray.cluster_resources().get("CPU", 1)
    quiet()
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # ours is shown instead
    ctx.print_on_execution_start = False
    inputs_real = {os.path.realpath(j.source) for j in jobs}
    rows = [{"index": i, "source": j.source, "output": j.output, "stem": j.stem} for i, j in enumerate(jobs)]
    ds = ray.data.from_items(rows, override_num_blocks=min(len(rows), 8 * actors))
    worker = _worker_class(model, backend, options, batch.FORMATS[fmt], existing, inputs_real, quality, depth,
                           threads=max(1, int(cpus) // actors))
    with warnings.catch_warnings():
        # max_restarts=0: an actor that dies is not restarted - a restartable one makes Ray's core print a warning
        # meant for Ray's developers (ray-project/ray#53727) on stderr, among our messages; a job lost with it is
        # reported below, for a rerun with --skip-existing. Ray 2.60 has no named parameter for it yet.
        warnings.simplefilter("ignore", DeprecationWarning)
        ds = ds.map_batches(worker, batch_size=1, compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=ACTOR_CPUS,
                            num_gpus=1 if gpus else None, max_restarts=0)
    bar = progress(len(jobs)) if progress else None
    results, lost = {}, None
    with batch._sigterm_as_interrupt():
        try:
            for row in _rows(ds):
                i = int(row["index"])
                results[i] = [batch.Event(kind, jobs[i].source, output, message)
                              for kind, message, output in json.loads(row["events"])]
                for ev in results[i]:
                    if ev.kind != "note":
                        setattr(summary, ev.kind, getattr(summary, ev.kind) + 1)
                    if on_event is not None:
                        on_event(ev)
                if bar is not None:
                    bar.update(1)
        except RayLost as e:
            lost = e.reason
        finally:
            if bar is not None:
                bar.close()
    summary.events = [ev for i in sorted(results) for ev in results[i]]
    if len(results) < len(jobs):  # a worker lost (killed, out of memory, a node gone): say which jobs have no result
        why = f"no result: the Ray job stopped ({lost}); rerun with --skip-existing" if lost else \
            "no result from the Ray workers; rerun with --skip-existing"
        for i, job in enumerate(jobs):
            if i not in results:
                ev = batch.Event("failed", job.source, None, why)
                summary.failed += 1
                summary.events.append(ev)
                if on_event is not None:
                    on_event(ev)
    return summary


class RayLost(Exception):
    """Ray stopped the dataset (an actor or a node lost); `reason` is one line."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def _rows(ds):
    """The dataset's rows as they come; RayLost when Ray gives up on it."""
    import ray.exceptions
    try:
        yield from ds.iter_rows()
    except ray.exceptions.RayError as e:
        text = str(e).strip().splitlines()
        raise RayLost(display(f"{type(e).__name__}: {text[0][:160] if text else ''}")) from None
