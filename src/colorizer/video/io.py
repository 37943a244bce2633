"""Video files with PyAV: frames in as lightness, colour frames out, everything else kept.

    VideoSource(path)     opens a file, checks it (a video stream, a decodable codec, the
                          pixel limit), and yields its packets in file order
    lightness(frame)      a decoded frame -> its CIE L* (H, W) float32 (one table lookup on
                          the 8-bit luma plane, for the usual YUV formats)
    VideoSink(path, ...)  writes the colour frames (H.264 in MP4 by default) with each
                          input frame's own timestamp and duration, copies the audio and
                          subtitle packets without decoding them (re-encoding audio only
                          where the container cannot hold its codec, and saying so), and
                          keeps the rotation and the container's and streams' metadata

Timing is copied, never recomputed: the encoder works in the input stream's time base and
each frame keeps its pts and duration, so 30000/1001 stays 30000/1001 and variable frame
rates survive. Every failure is a VideoError with a one-line reason."""
import os
from fractions import Fraction

import av
import numpy as np

from ..lab import lightness_from_luminance, srgb_to_linear_np
from . import CODECS, CONTAINERS, DEFAULT_CODEC, VideoError

AUDIO_FALLBACK = {"mp4": "aac", "mov": "aac", "mkv": "aac", "webm": "libopus"}  # when a stream cannot be copied
# container and stream tags that describe the old file, not the content: not copied
_OLD_FILE_TAGS = {"encoder", "major_brand", "minor_version", "compatible_brands", "duration", "_statistics_tags",
                  "_statistics_writing_app", "_statistics_writing_date_utc", "number_of_frames", "number_of_bytes", "bps"}
_YUV8 = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv411p", "yuv410p", "yuv440p", "yuvj440p",
         "nv12", "nv21", "gray"}
_FULL_RANGE = {"yuvj420p", "yuvj422p", "yuvj444p", "yuvj440p", "gray"}


def _short(e):
    """An FFmpeg error as a short phrase (no file name: the caller puts the path first)."""
    text = getattr(e, "strerror", None) or str(e)
    return str(text).splitlines()[0].strip().rstrip(".")[:160] or type(e).__name__


def _why_unreadable(path):
    """A likely cause to add to FFmpeg's reason, from the file's first bytes."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return ""
    if head[4:8] == b"ftyp":  # MP4/MOV, whose index (the moov box) usually comes at the end
        return ": an MP4 or MOV file cut short before its index, or damaged"
    return ""


def _lut(full_range):
    """L* of each 8-bit luma code: studio range (16..235) or full range (0..255)."""
    y = np.arange(256, dtype=np.float32)
    v = y / 255.0 if full_range else np.clip((y - 16.0) / 219.0, 0.0, 1.0)
    return lightness_from_luminance(srgb_to_linear_np(v))


_LUTS = {False: _lut(False), True: _lut(True)}


def lightness(frame):
    """A decoded VideoFrame -> CIE L* (H, W) float32 of its luma (treated, like a gray
    photo's values, as sRGB gray). 8-bit YUV: straight from the Y plane, by its range;
    anything else through FFmpeg's conversion to 8-bit gray."""
    name = frame.format.name
    if name in _YUV8:
        plane = frame.planes[0]
        y = np.frombuffer(plane, np.uint8).reshape(frame.height, plane.line_size)[:, :frame.width]
        full = name in _FULL_RANGE or int(frame.color_range) == 2  # AVCOL_RANGE_JPEG
        return _LUTS[full][y]
    return _LUTS[True][frame.to_ndarray(format="gray")]


class VideoSource:
    """An input video, opened and checked. .video: its (first) video stream; .copied: the
    audio and subtitle streams to carry over; .rate (Fraction), .duration (seconds, or
    None), .frames (the count the file says, or an estimate, or 0), .width, .height."""

    def __init__(self, path, max_pixels=None):
        self.path = os.fspath(path)
        try:
            if os.path.getsize(self.path) == 0:
                raise VideoError("empty file", self.path)
        except OSError as e:
            raise VideoError(e.strerror or "cannot read", self.path) from None
        try:
            self.container = av.open(self.path, metadata_errors="replace")
        except (av.FFmpegError, OSError, ValueError) as e:
            raise VideoError(f"cannot read as a video ({_short(e)}{_why_unreadable(self.path)})", self.path) from None
        try:
            self._check(max_pixels)
        except BaseException:
            self.container.close()
            raise

    def _check(self, max_pixels):
        streams = self.container.streams
        videos = [s for s in streams.video if not (s.disposition & av.stream.Disposition.attached_pic)]
        if not videos:
            kinds = sorted({s.type for s in streams})
            raise VideoError("has no video stream" + (f" ({' and '.join(kinds)} only)" if kinds else ""), self.path)
        self.video = videos[0]
        ctx = self.video.codec_context
        if ctx is None or not getattr(ctx, "is_decoder", True):
            codec = getattr(self.video.codec_context, "name", None) or "unknown"
            raise VideoError(f"its video codec ({codec}) cannot be decoded by this FFmpeg", self.path)
        ctx.thread_type = "AUTO"
        self.width, self.height = ctx.width, ctx.height
        if max_pixels and self.width * self.height > max_pixels:
            raise VideoError(f"frames of {self.width}x{self.height} are over the limit of {max_pixels / 1e6:g} megapixels",
                             self.path)
        if self.width <= 0 or self.height <= 0:
            raise VideoError("its video stream has no frame size (a damaged file?)", self.path)
        rate = self.video.average_rate or self.video.guessed_rate or self.video.base_rate
        self.rate = Fraction(rate) if rate else Fraction(25)
        tb = self.video.time_base
        if self.video.duration and tb:
            self.duration = float(self.video.duration * tb)
        elif self.container.duration:
            self.duration = self.container.duration / 1e6
        else:
            self.duration = None
        self.frames = self.video.frames or (round(self.duration * self.rate) if self.duration else 0)
        self.copied = [s for s in streams if s.type in ("audio", "subtitle")]
        self.dropped = [s for s in streams if s is not self.video and s not in self.copied]

    def packets(self):
        """Every packet of the video and the copied streams, in file order (the decoder's
        flush packets included: they have no dts)."""
        return self.container.demux(self.video, *self.copied)

    def close(self):
        self.container.close()


def _tags(metadata):
    return {k: v for k, v in metadata.items() if k.lower() not in _OLD_FILE_TAGS and not k.lower().startswith("_statistics")}


_COLOUR = {  # how the colour frames are tagged and converted: (FFmpeg's colorspace, primaries, transfer; swscale's name)
    "bt709": (1, 1, 1, "itu709"),
    "bt601": (6, 6, 6, "smpte170m"),
}


class VideoSink:
    """An output video being written. The streams are made on the first frame (its size and
    rotation known), the video first; packets of the copied streams that arrive before it wait.
    notes: what the user should hear (audio re-encoded, streams dropped, a padded size)."""

    def __init__(self, path, source, fmt="mp4", codec=None, crf=18, preset="medium"):
        if fmt not in CONTAINERS:
            raise ValueError(f"video format must be one of {', '.join(CONTAINERS)}, not {fmt!r}")
        codec = codec or DEFAULT_CODEC[fmt]
        if codec not in CODECS:
            raise ValueError(f"video codec must be one of {', '.join(CODECS)}, not {codec!r}")
        if CODECS[codec] not in av.codecs_available:
            raise ValueError(f"this PyAV's FFmpeg has no {CODECS[codec]} encoder for {codec}")
        self.source, self.fmt, self.codec, self.crf, self.preset = source, fmt, codec, int(crf), preset
        self.notes = []
        self.container = av.open(path, "w", format=CONTAINERS[fmt], options={"avoid_negative_ts": "disabled"})
        self.container.metadata.update(_tags(source.container.metadata))
        self.video = None
        self._waiting = []      # copied packets that came before the first frame
        self._out = {}          # input stream index -> ("copy", out stream) or ("encode", decoder, resampler, out stream)
        self.frames = 0

    def _add_copied_streams(self):
        supported = self.container.supported_codecs
        for s in self.source.copied:
            name = s.codec_context.name if s.codec_context is not None else None
            what = f"{s.type} stream {s.index} ({name or 'unknown codec'})"
            if name and name in supported:
                try:
                    out = self.container.add_stream_from_template(s)
                    out.metadata.update(_tags(s.metadata))
                    self._out[s.index] = ("copy", out)
                    continue
                except (av.FFmpegError, ValueError) as e:
                    why = _short(e)
            else:
                why = f"{self.fmt} cannot hold {name or 'it'}"
            if s.type == "audio" and s.codec_context is not None:
                target = AUDIO_FALLBACK[self.fmt]
                out = self.container.add_stream(target, rate=s.codec_context.sample_rate or 48000)
                out.layout = s.codec_context.layout
                out.metadata.update(_tags(s.metadata))
                resampler = av.AudioResampler(format=out.codec_context.codec.audio_formats[0].name,
                                              layout=out.layout, rate=out.codec_context.sample_rate)
                self._out[s.index] = ("encode", s.codec_context, resampler, out)
                self.notes.append(f"{what} re-encoded to {target.removeprefix('lib')}: {why}")
            else:
                self.notes.append(f"{what} dropped: {why}")
        for s in self.source.dropped:
            self.notes.append(f"{s.type} stream {s.index} not copied (only video, audio and subtitles are)")

    def _start_video(self, width, height, rotation, template):
        src = self.source.video
        enc = CODECS[self.codec]
        v = self.container.add_stream(enc, rate=self.source.rate)
        pad_w, pad_h = width % 2, height % 2
        if pad_w or pad_h:
            self.notes.append(f"frames of {width}x{height} encoded as {width + pad_w}x{height + pad_h} (the last "
                              f"{'column' if pad_w else 'row'} repeated): {self.codec} with 4:2:0 colour needs even sizes")
        v.width, v.height = width + pad_w, height + pad_h
        v.pix_fmt = "yuv420p"
        v.time_base = src.time_base
        v.codec_context.time_base = src.time_base
        if src.sample_aspect_ratio:
            v.codec_context.sample_aspect_ratio = src.sample_aspect_ratio
        colour = "bt709" if int(template.colorspace) == 1 or (int(template.colorspace) in (0, 2) and height >= 720) else "bt601"
        cs, prim, trc, self._swscale = _COLOUR[colour]
        v.codec_context.colorspace, v.codec_context.color_primaries, v.codec_context.color_trc = cs, prim, trc
        v.codec_context.color_range = 1  # studio range, what players expect
        options = {}
        if enc in ("libx264", "libx265"):
            options = {"crf": str(self.crf), "preset": self.preset}
            if enc == "libx265":
                options["x265-params"] = "log-level=error"
        elif enc == "libvpx-vp9":
            options = {"crf": str(self.crf), "b": "0", "row-mt": "1"}
        elif enc == "libsvtav1":
            options = {"crf": str(self.crf)}
        v.codec_context.options = options
        v.metadata.update(_tags(src.metadata))
        if rotation:
            v.set_display_rotation(rotation)
        self.video = v
        self._size = (width, height)
        self._add_copied_streams()
        for packet in self._waiting:
            self._mux_copied(packet)
        self._waiting = []

    def write(self, rgb, like):
        """Encode one colour frame (H, W, 3) uint8 with the timing of `like`, the input
        frame it came from (pts, time base, duration)."""
        h, w = rgb.shape[:2]
        if self.video is None:
            self._start_video(w, h, int(like.rotation or 0), like)
        if (w, h) != self._size:
            raise VideoError(f"the frame size changes mid-stream ({self._size[0]}x{self._size[1]} to {w}x{h}): "
                             "not supported", self.source.path)
        pw, ph = self.video.width - w, self.video.height - h
        if pw or ph:
            rgb = np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame = frame.reformat(format="yuv420p", src_colorspace="itu601", dst_colorspace=self._swscale,
                               src_color_range="JPEG", dst_color_range="MPEG")
        frame.pts, frame.time_base = like.pts, like.time_base
        if like.duration:
            frame.duration = like.duration
        for packet in self.video.encode(frame):
            self.container.mux(packet)
        self.frames += 1

    def copy(self, packet):
        """Carry one packet of a copied stream over (its decoder's flush packet is skipped)."""
        if packet.dts is None and packet.size == 0:
            return
        if self.video is None:
            self._waiting.append(packet)
            return
        self._mux_copied(packet)

    def _mux_copied(self, packet):
        how = self._out.get(packet.stream.index)
        if how is None:
            return
        if how[0] == "copy":
            if packet.dts is None:  # a packet the muxer cannot place
                return
            packet.stream = how[1]
            self.container.mux(packet)
            return
        _, decoder, resampler, out = how
        for frame in decoder.decode(packet):
            self._encode_audio(frame, resampler, out)

    def _encode_audio(self, frame, resampler, out):
        if frame is not None:
            frame.pts = None
        for f in resampler.resample(frame):
            for p in out.encode(f):
                self.container.mux(p)

    def close(self, ok=True):
        """Flush the encoders and finish the file (ok=False: just close it, for a file that
        is being thrown away)."""
        try:
            if ok:
                if self.video is None:
                    raise VideoError("no frame could be decoded", self.source.path)
                for packet in self.video.encode():
                    self.container.mux(packet)
                for how in self._out.values():
                    if how[0] == "encode":
                        _, decoder, resampler, out = how
                        for frame in decoder.decode(None):
                            self._encode_audio(frame, resampler, out)
                        self._encode_audio(None, resampler, out)
                        for p in out.encode(None):
                            self.container.mux(p)
        finally:
            self.container.close()
