"""Video: black-and-white film colorized frame by frame, with steady colour, exact timing
and the sound kept.

    io.py         decode, encode and mux with PyAV: every frame with its timestamp, the audio
                  and subtitle streams copied (re-encoded only where the container cannot
                  hold them), rotation and metadata kept
    scenes.py     scene cuts, from the frames' lightness (where the steady colour restarts)
    temporal.py   steady colour: an exponential moving average of the network's class
                  scores, aligned to each frame by optical flow, occluded pixels skipped
    colorize.py   the streaming driver: decode -> batch of frames -> network -> smoothing ->
                  decoding -> merge -> encode, written atomically

PyAV (and OpenCV, for the optical flow) are the `video` extra: this module and the batch
engine know video files without them, and a video input says how to install them.

    from colorizer import Colorizer
    from colorizer.video import colorize_video
    colorize_video(Colorizer.load(), "film.mkv", "out/film.mp4", vibrance=0.7)
"""
import os
from dataclasses import dataclass

from ..image_io import ImageError

# what `colorizer colorize` picks up in folders as videos (anything FFmpeg decodes works when named)
VIDEO_EXTS = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".m2v", ".ts", ".m2ts", ".mts", ".wmv",
              ".flv", ".ogv", ".3gp", ".mxf", ".vob", ".dv", ".y4m"}
INSTALL_HINT = "pip install 'photo-colorizer[video]'"
# output containers: --video-format -> FFmpeg's muxer
CONTAINERS = {"mp4": "mp4", "mkv": "matroska", "mov": "mov", "webm": "webm"}
# output codecs: --video-codec -> FFmpeg's encoder
CODECS = {"h264": "libx264", "hevc": "libx265", "vp9": "libvpx-vp9", "av1": "libsvtav1", "ffv1": "ffv1"}
DEFAULT_CODEC = {"mp4": "h264", "mkv": "h264", "mov": "h264", "webm": "vp9"}
DEFAULT_SMOOTHING = 0.9   # the weight of the past in the steady colour (temporal.py)


class VideoError(ImageError):
    """A video that cannot be colorized; str() is one line with the file's path first."""


@dataclass(frozen=True)
class VideoOptions:
    """How a video is written and how steady its colour is (what to colorize with, vibrance,
    size, hints..., are ColorizeOptions, as for photos).
    format: the container (mp4, mkv, mov, webm); codec: h264, hevc, vp9, av1 or ffv1 (None:
    the container's usual, h264, or vp9 for webm); crf: the encoder's constant quality (lower
    is better and larger; 18 looks lossless with H.264); preset: x264/x265's speed;
    smoothing: the weight of the past in the steady colour (0: each frame on its own);
    batch: frames per network call (each holds its class scores, 262 x about 128 x 128
    floats, a few times over: 4 keeps a 1080p video under a gigabyte)."""
    format: str = "mp4"
    codec: str | None = None
    crf: int = 18
    preset: str = "medium"
    smoothing: float = DEFAULT_SMOOTHING
    batch: int = 4

    def __post_init__(self):
        if self.format not in CONTAINERS:
            raise ValueError(f"video format must be one of {', '.join(CONTAINERS)}, not {self.format!r}")
        if self.codec is not None and self.codec not in CODECS:
            raise ValueError(f"video codec must be one of {', '.join(CODECS)}, not {self.codec!r}")
        if self.format == "webm" and self.codec_name not in ("vp9", "av1"):
            raise ValueError(f"webm holds vp9 or av1 video, not {self.codec}")
        if self.codec == "ffv1" and self.format != "mkv":
            raise ValueError(f"ffv1 video needs the mkv format, not {self.format}")
        if isinstance(self.crf, bool) or not isinstance(self.crf, int) or not 0 <= self.crf <= 63:
            raise ValueError(f"crf must be a whole number from 0 to 63, not {self.crf!r}")
        if isinstance(self.smoothing, bool) or not isinstance(self.smoothing, (int, float)) or not 0 <= self.smoothing < 1:
            raise ValueError(f"smoothing must be a number from 0 to below 1, not {self.smoothing!r}")
        if isinstance(self.batch, bool) or not isinstance(self.batch, int) or not 1 <= self.batch <= 256:
            raise ValueError(f"batch must be a whole number from 1 to 256, not {self.batch!r}")

    @property
    def codec_name(self):
        return self.codec or DEFAULT_CODEC[self.format]


def is_video_path(path):
    """Whether a path names a video by its extension."""
    return os.path.splitext(os.fspath(path))[1].lower() in VIDEO_EXTS


def video_available():
    """Whether PyAV and OpenCV (the `video` extra) are installed."""
    import importlib.util
    return all(importlib.util.find_spec(m) is not None for m in ("av", "cv2"))


def require_video(path=None):
    """VideoError saying how to install the `video` extra when it is missing."""
    if not video_available():
        raise VideoError(f"videos need PyAV and OpenCV: {INSTALL_HINT}", path)


def __getattr__(name):
    if name in ("colorize_video", "VideoResult"):
        from . import colorize
        return getattr(colorize, name)
    raise AttributeError(f"module 'colorizer.video' has no attribute {name!r}")
