"""Video jobs: a video upload is colorized in the background, one at a time, and followed by
its id.

    POST   /api/videos              multipart field `video` (+ vibrance, size, decoding, hints,
                                    smoothing) -> 202 {"id", "status": "queued", ...}
    GET    /api/videos/{id}         {"status": queued|running|done|failed|cancelled, "frames",
                                    "total", "fps", "eta_s", "notes", "error"}
    DELETE /api/videos/{id}         cancel it (running or queued) and delete its files
    GET    /api/videos/{id}/result  the colorized MP4 (H.264, the sound kept), when done

Bounded: an upload is limited in bytes while it streams in, the video in duration and in
pixels per frame before it is queued (its header is read), at most `queue_size` jobs wait
or run (503 beyond), and only the last `keep` finished jobs keep their results on disk.
The files live in a private temporary folder, removed on shutdown."""
import functools
import itertools
import os
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field

from .errors import ApiError

DEFAULT_MAX_VIDEO_BYTES = 200_000_000
DEFAULT_MAX_VIDEO_SECONDS = 120.0
DEFAULT_VIDEO_QUEUE = 4
KEEP_FINISHED = 8


class Cancelled(Exception):
    """Raised inside a running job when it is cancelled."""


@dataclass
class Job:
    id: str
    source: str
    output: str
    options: object
    smoothing: float
    status: str = "queued"
    frames: int = 0
    total: int | None = None
    started: float | None = None
    finished: float | None = None
    notes: list = field(default_factory=list)
    error: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    order: int = 0
    name: str = ""  # the client's file name

    def state(self):
        fps = eta = None
        if self.started and self.frames:
            elapsed = (self.finished or time.monotonic()) - self.started
            fps = self.frames / elapsed if elapsed > 0 else None
            if fps and self.total and self.status == "running":
                eta = max(0.0, (self.total - self.frames) / fps)
        return {"id": self.id, "status": self.status, "frames": self.frames, "total": self.total,
                "fps": None if fps is None else round(fps, 2), "eta_s": None if eta is None else round(eta, 1),
                "notes": list(self.notes), "error": self.error}


class _Progress:
    """colorize_video's progress bar for a job: counts frames, stops the job when cancelled."""

    def __init__(self, job, total):
        self.job = job
        job.total = total

    def update(self, n):
        self.job.frames += n
        if self.job.cancel.is_set():
            raise Cancelled

    def close(self):
        pass


def _progress(job, total, desc):
    return _Progress(job, total)


class VideoJobs:
    """The job list and its one worker thread."""

    def __init__(self, colorizer, max_bytes=DEFAULT_MAX_VIDEO_BYTES, max_seconds=DEFAULT_MAX_VIDEO_SECONDS,
                 queue_size=DEFAULT_VIDEO_QUEUE, keep=KEEP_FINISHED):
        self.colorizer, self.max_bytes, self.max_seconds = colorizer, max_bytes, max_seconds
        self.queue_size, self.keep = max(1, int(queue_size)), keep
        self.jobs, self.lock, self.wake = {}, threading.Lock(), threading.Condition()
        self.folder = tempfile.mkdtemp(prefix="colorizer-videos-")
        self.counter = itertools.count()
        self.closed = False
        self.worker = threading.Thread(target=self._work, name="colorize-video", daemon=True)
        self.worker.start()

    def limits(self):
        return {"max_video_bytes": self.max_bytes, "max_video_seconds": self.max_seconds, "video_queue_size": self.queue_size}

    def pending(self):
        return sum(1 for j in self.jobs.values() if j.status in ("queued", "running"))

    def submit(self, upload, filename, options, smoothing):
        """Check the uploaded video (its header: a video stream, pixels, duration) and queue
        it. ApiError 503 when the queue is full, 422/413 for a video that is not usable."""
        from ..video import VideoError
        from ..video.io import VideoSource
        with self.lock:
            if self.pending() >= self.queue_size:
                raise ApiError(503, "busy: too many videos waiting, try again later")
            job_id = secrets.token_hex(8)
            folder = os.path.join(self.folder, job_id)
            os.makedirs(folder)
        ext = os.path.splitext(filename or "")[1].lower()
        source = os.path.join(folder, "input" + (ext if ext.isascii() and ext[1:].isalnum() and len(ext) <= 6 else ".video"))
        try:
            with open(source, "wb") as f:
                shutil.copyfileobj(upload, f, 1 << 20)
            try:
                src = VideoSource(source, options.max_pixels)
            except VideoError as e:
                raise ApiError(413 if "over the limit" in e.reason else 422, e.reason) from None
            try:
                if src.duration and src.duration > self.max_seconds:
                    raise ApiError(413, f"video too long ({src.duration:.1f} s; the limit is {self.max_seconds:g} s)")
            finally:
                src.close()
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        job = Job(job_id, source, os.path.join(folder, "colorized.mp4"), options, smoothing, order=next(self.counter),
                  name=str(filename or ""))
        with self.lock:
            if self.pending() >= self.queue_size:
                shutil.rmtree(folder, ignore_errors=True)
                raise ApiError(503, "busy: too many videos waiting, try again later")
            self.jobs[job_id] = job
        with self.wake:
            self.wake.notify()
        return job

    def get(self, job_id):
        job = self.jobs.get(job_id)
        if job is None:
            raise ApiError(404, "no such video job (finished jobs are kept for a while, then removed)")
        return job

    def cancel(self, job_id):
        """Cancel a job (a running one stops at its next batch) and delete its files."""
        job = self.get(job_id)
        with self.lock:
            job.cancel.set()
            if job.status == "queued":
                job.status = "cancelled"
            if job.status != "running":
                self._remove(job)
        return job

    def _remove(self, job):
        self.jobs.pop(job.id, None)
        shutil.rmtree(os.path.dirname(job.source), ignore_errors=True)

    def _next(self):
        with self.lock:
            queued = [j for j in self.jobs.values() if j.status == "queued"]
            return min(queued, key=lambda j: j.order) if queued else None

    def _work(self):
        from ..video import VideoError, VideoOptions
        from ..video.colorize import colorize_video
        while not self.closed:
            job = self._next()
            if job is None:
                with self.wake:
                    self.wake.wait(0.5)
                continue
            job.status, job.started = "running", time.monotonic()
            try:
                result = colorize_video(self.colorizer, job.source, job.output, job.options,
                                        video=VideoOptions(smoothing=job.smoothing), progress=functools.partial(_progress, job))
                job.notes, job.frames, job.status = result.notes, result.frames, "done"
            except Cancelled:
                job.status = "cancelled"
            except (VideoError, ValueError) as e:
                job.status, job.error = "failed", getattr(e, "reason", str(e))
            except MemoryError:
                job.status, job.error = "failed", "out of memory"
            except Exception as e:  # noqa: BLE001 - a job's failure is its answer, the worker goes on
                job.status, job.error = "failed", f"internal error ({type(e).__name__})"
            job.finished = time.monotonic()
            with self.lock:
                try:
                    os.unlink(job.source)  # the upload is not needed any more
                except OSError:
                    pass
                if job.status == "cancelled":
                    self._remove(job)
                finished = sorted((j for j in self.jobs.values() if j.status in ("done", "failed")), key=lambda j: j.order)
                for old in finished[:-self.keep] if self.keep else finished:
                    self._remove(old)

    def close(self):
        self.closed = True
        for job in list(self.jobs.values()):
            job.cancel.set()
        with self.wake:
            self.wake.notify()
        self.worker.join(30)
        shutil.rmtree(self.folder, ignore_errors=True)


def add_video_routes(app, jobs, fields, max_pixels, request_timeout):
    """The /api/videos routes of `app`, run by `jobs` (None: videos are not available here,
    the `video` extra is missing: every route says so, 501)."""
    from fastapi import Request
    from fastapi.responses import FileResponse
    from starlette.datastructures import UploadFile

    from ..options import ColorizeOptions, Option
    from ..video import DEFAULT_SMOOTHING, INSTALL_HINT
    from .headers import download_name
    from .uploads import COLORIZE_FIELDS, field_text, parse_field, read_form

    smoothing = Option("smoothing", "number", DEFAULT_SMOOTHING, "steady colour: the weight of the past frames, along "
                       "the motion (0: each frame on its own)", 0.0, 0.95)
    max_bytes = jobs.max_bytes if jobs else DEFAULT_MAX_VIDEO_BYTES

    def available():
        if jobs is None:
            raise ApiError(501, f"this server cannot colorize videos: {INSTALL_HINT}")
        return jobs

    @app.post("/api/videos", status_code=202, summary="Colorize a video (a background job)",
              description="Send a video as multipart/form-data in the field `video` (and, as for photos, vibrance, size, "
                          "decoding, hints; and smoothing, 0 to 0.95). The answer, 202, is the job's state with its `id`: "
                          "follow it at GET /api/videos/{id}, fetch the MP4 at /api/videos/{id}/result when its status is "
                          f"done, cancel it with DELETE. Limits: {max_bytes} bytes, "
                          f"{jobs.max_seconds if jobs else DEFAULT_MAX_VIDEO_SECONDS:g} s, {max_pixels} pixels a frame; "
                          "503 when too many videos wait.")
    async def submit(request: Request):
        jobs_ = available()
        form = await read_form(request, max_bytes, request_timeout)
        try:
            upload = form.get("video")
            if not isinstance(upload, UploadFile):
                raise ApiError(422, "missing form field 'video' (a video file)")
            if upload.size == 0:
                raise ApiError(422, "empty file")
            values = {name: parse_field(fields[name], field_text(form, name)) for name in COLORIZE_FIELDS}
            weight = parse_field(smoothing, field_text(form, "smoothing"))
            options = ColorizeOptions(**values, max_pixels=max_pixels)
            if options.hints and not jobs_.colorizer.backend.takes_hints:
                raise ApiError(422, "this model takes no hints (it was not trained with them)")
            import asyncio
            job = await asyncio.to_thread(jobs_.submit, upload.file, upload.filename, options, weight)
            return job.state()
        finally:
            await form.close()

    @app.get("/api/videos/{job_id}", summary="A video job's progress")
    async def state(job_id: str):
        return available().get(job_id).state()

    @app.delete("/api/videos/{job_id}", summary="Cancel a video job and delete its files")
    async def cancel(job_id: str):
        job = available().cancel(job_id)
        return {**job.state(), "status": "cancelled"}

    @app.get("/api/videos/{job_id}/result", summary="The colorized video (MP4), when its job is done")
    async def result(job_id: str):
        job = available().get(job_id)
        if job.status != "done":
            raise ApiError(409, f"the video is not ready (status {job.status})")
        return FileResponse(job.output, media_type="video/mp4", filename=download_name(job.name, "mp4"),
                            headers={"Cache-Control": "no-store"})


def video_jobs(colorizer, limits=None):
    """VideoJobs for the server, or None when the `video` extra is not installed."""
    from ..video import video_available
    if not video_available():
        return None
    jobs = VideoJobs(colorizer, **(limits or {}))
    import atexit
    atexit.register(jobs.close)
    return jobs
