"""One video, file to file, streaming:

    VideoSource.packets()            demux (io.py)
      video packets -> frames        decode; each frame's L* (io.lightness)
        a batch of frames            L* at the working size (pipeline.network_input), one network call
        Colorizer.network_outputs    the class scores (and a,b head) of each frame
        CutDetector, SteadyColour    scene cuts; the flow-aligned average of the scores (temporal.py)
        Colorizer.decode             scores -> a,b (decoding/)
        merge_full_res               a,b upsampled, merged with the frame's own L* (merge.py)
        VideoSink.write              encoded with the input frame's timestamp (io.py)
      other packets                  audio and subtitles copied as they come (io.py)

Memory holds one batch of frames (plus the encoder's lookahead), whatever the length of
the clip. The output is written under a temporary name in its folder and renamed when
complete (files.atomic_write): an interruption (Ctrl-C, SIGTERM, an error) leaves no
partial file under the final name, and the temporary one is removed."""
import os
import time
from dataclasses import dataclass, field

import av
import torch

from ..files import atomic_write
from ..merge import merge_full_res
from ..pipeline import check_hints, network_input
from . import VideoError, VideoOptions, require_video
from .io import VideoSink, VideoSource, lightness
from .scenes import CutDetector
from .temporal import SteadyColour


@dataclass
class VideoResult:
    """What colorizing one video gave: the output's path, the frames written, the cuts
    found, the seconds it took, and remarks for the user (audio re-encoded, a damaged file
    decoded only so far, a padded size...)."""
    output: str
    frames: int = 0
    cuts: int = 0
    seconds: float = 0.0
    notes: list = field(default_factory=list)


def colorize_video(colorizer, source, output, options=None, video=None, progress=None, **changes):
    """Colorize the video file `source` into the file `output` (its container from
    video.format, whatever the name says). `options` (ColorizeOptions) and/or keyword
    changes (vibrance=, size=, decoding=, hints=, max_pixels=) as for photos; `video`
    (VideoOptions) how it is written and smoothed; `progress(total, desc)` makes a progress
    bar (a tqdm) that is updated with the frames done. Returns a VideoResult. Raises
    VideoError (one line, the path first) for a file that is not a usable video, ValueError
    for a bad option; an interruption leaves no partial output."""
    require_video(source)
    video = video or VideoOptions()
    options = colorizer.options(options, **changes)
    check_hints(colorizer.backend, options)
    colorizer.decoder(options)  # ValueError now for a decoding this model cannot do
    started = time.monotonic()
    src = VideoSource(source, options.max_pixels)
    result = VideoResult(os.fspath(output))
    try:
        def write(tmp):
            sink = VideoSink(tmp, src, video.format, video.codec_name, video.crf, video.preset)
            ok = False
            try:
                _stream(colorizer, src, sink, options, video, progress, result)
                ok = True
            finally:
                try:
                    sink.close(ok)
                except av.FFmpegError as e:
                    if ok:
                        raise VideoError(f"cannot finish the output ({e})", source) from None
            result.notes[:0] = sink.notes
            result.frames = sink.frames
        atomic_write(output, write)
    finally:
        src.close()
    result.seconds = time.monotonic() - started
    return result


def _stream(colorizer, src, sink, options, video, progress, result):
    """Decode, colorize and encode, batch by batch; copy the other streams' packets as they come."""
    frames = FrameColorizer(colorizer, options, video.smoothing, video.batch)
    bar = progress(src.frames or None, os.path.basename(src.path)) if progress else None
    stopped, bad_packets, last = None, 0, None

    def write(done):
        nonlocal last
        for frame, rgb in done:
            sink.write(rgb, frame)
            last = frame
        if bar is not None and done:
            bar.update(len(done))

    try:
        packets = src.packets()
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.FFmpegError as e:  # the file is damaged or cut short here
                stopped = str(getattr(e, "strerror", None) or e).splitlines()[0]
                break
            if packet.stream.index != src.video.index:
                sink.copy(packet)
                continue
            try:
                decoded = packet.decode()
            except av.FFmpegError:
                bad_packets += 1
                continue
            for frame in decoded:
                write(frames.push(frame, lightness(frame)))
        if stopped is not None:  # the decoder still holds frames
            try:
                for frame in src.video.codec_context.decode(None):
                    write(frames.push(frame, lightness(frame)))
            except av.FFmpegError:
                pass
        write(frames.flush())
        result.cuts = frames.cuts
    finally:
        if bar is not None:
            bar.close()
    if last is None:
        raise VideoError("no frame could be decoded" + (f" ({stopped})" if stopped else ""), src.path)
    end = _end_time(last)
    if stopped is not None:
        result.notes.append(f"damaged or cut short: decoding stopped at {end:.3f} s"
                            + (f" of {src.duration:.3f} s" if src.duration else "") + f" ({stopped}); "
                            f"the output holds the {sink.frames} frames before that")
    elif src.duration and end < src.duration - 1.5 / float(src.rate):
        result.notes.append(f"cut short: the frames end at {end:.3f} s of {src.duration:.3f} s (what the file declares); "
                            f"the output holds all {sink.frames} frames that decode")
    if bad_packets:
        result.notes.append(f"{bad_packets} damaged video packet(s) could not be decoded and were skipped")


def _end_time(frame):
    if frame.pts is None or frame.time_base is None:
        return 0.0
    return float((frame.pts + (frame.duration or 0)) * frame.time_base)


class FrameColorizer:
    """Frames in order -> colour frames, a batch at a time: push(item, L) with each frame's
    L* (H, W) and anything to carry along (the decoded frame); it returns the (item, RGB
    (H, W, 3) uint8) pairs of each batch that is complete, and flush() the rest. One
    network call per batch, then per frame in order: cut detection and steady colour
    (when smoothing > 0), decoding, merge. .cuts counts the scene cuts found."""

    def __init__(self, colorizer, options, smoothing, batch=4, follow_motion=True):
        self.colorizer, self.options, self.batch = colorizer, options, int(batch)
        self.steady = SteadyColour(smoothing, follow_motion=follow_motion) if smoothing > 0 else None
        self.detector = CutDetector()
        self.pending, self.cuts = [], 0

    def push(self, item, L):
        self.pending.append((item, L))
        return self.flush() if len(self.pending) >= self.batch else []

    def flush(self):
        frames, self.pending = self.pending, []
        if not frames:
            return []
        backend = self.colorizer.backend
        inputs = [network_input(L, backend, self.options) for _, L in frames]
        small = torch.cat([x for x, _ in inputs])
        hints = torch.cat([h for _, h in inputs]) if inputs[0][1] is not None else None
        outputs = self.colorizer.network_outputs(small, hints, self.options)
        if self.steady is not None:
            smoothed = {k: torch.empty(v.shape, dtype=v.dtype) for k, v in outputs.items()}
            for i in range(len(frames)):
                L_work = small[i, 0].numpy()
                if self.detector(L_work):
                    self.steady.reset()
                    self.cuts += 1
                for k, v in self.steady(L_work, {k: v[i] for k, v in outputs.items()}).items():
                    smoothed[k][i] = v
            outputs = smoothed
        ab = self.colorizer.decode(outputs, self.options, hints)
        return [(item, merge_full_res(L, ab[i])) for i, (item, L) in enumerate(frames)]
