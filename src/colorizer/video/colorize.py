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
    """Decode, colorize and encode, batch by batch; copy the other streams' packets."""
    steady = SteadyColour(video.smoothing) if video.smoothing > 0 else None
    cuts = CutDetector()
    bar = progress(src.frames or None, os.path.basename(src.path)) if progress else None
    frames, stopped, bad_packets = [], None, 0
    last = None

    def flush():
        nonlocal last
        if frames:
            result.cuts += _colorize_batch(colorizer, frames, sink, options, steady, cuts)
            last = frames[-1][0]
            if bar is not None:
                bar.update(len(frames))
            frames.clear()

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
                frames.append((frame, lightness(frame)))
                if len(frames) >= video.batch:
                    flush()
        if stopped is not None:  # the decoder still holds frames
            try:
                for frame in src.video.codec_context.decode(None):
                    frames.append((frame, lightness(frame)))
            except av.FFmpegError:
                pass
        flush()
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


def _colorize_batch(colorizer, frames, sink, options, steady, cuts):
    """One network call for a batch of (frame, L*) pairs, then per frame: cut detection and
    steady colour, decoding, merge, encoding. Returns the number of cuts found."""
    inputs = [network_input(L, colorizer.backend, options) for _, L in frames]
    small = torch.cat([x for x, _ in inputs])
    hints = torch.cat([h for _, h in inputs]) if inputs[0][1] is not None else None
    outputs = colorizer.network_outputs(small, hints)
    found = 0
    if steady is not None:
        smoothed = []
        for i in range(len(frames)):
            L_work = small[i, 0].numpy()
            if cuts(L_work):
                steady.reset()
                found += 1
            smoothed.append(steady(L_work, {k: v[i] for k, v in outputs.items()}))
        outputs = {k: torch.stack([s[k] for s in smoothed]) for k in outputs}
    ab = colorizer.decode(outputs, options)
    for i, (frame, L) in enumerate(frames):
        sink.write(merge_full_res(L, ab[i]), frame)
    return found

