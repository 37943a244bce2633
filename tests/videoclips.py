"""Test videos, made with PyAV from made-up pictures: shots that stand still (with film
grain), pan slowly and fast, a cut, a fractional frame rate, an audio track, metadata and a
rotation. Small (128x96, 1-2 s) so that the video tests take seconds."""
from fractions import Fraction

import av
import numpy as np

RATE = Fraction(30000, 1001)
METADATA = {"title": "Test film", "creation_time": "2019-05-04T03:02:01.000000Z", "comment": "made by the tests"}


def scene(w, h, seed):
    """A large grayscale picture (3w x 2h) to pan over: gradients, blocks and texture."""
    rng = np.random.default_rng(seed)
    H, W = 2 * h, 3 * w
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    a = 60 + 80 * np.sin(x / (7 + seed)) * np.cos(y / (11 + seed)) + 40 * x / W
    for _ in range(6):
        x0, y0 = rng.integers(0, W - 20), rng.integers(0, H - 20)
        a[y0:y0 + rng.integers(8, 30), x0:x0 + rng.integers(8, 30)] = rng.integers(0, 255)
    return a


def frames(w, h, n, seed=0, grain=3.0, shots=("still", "slow", "fast", "cut", "still")):
    """n grayscale frames (h, w) uint8: the shots in turn, each n // len(shots) frames; a
    "cut" switches to another scene, which holds still."""
    rng = np.random.default_rng(seed + 100)
    pictures = [scene(w, h, seed), scene(w, h, seed + 1) * 0.6]  # the second shot is darker, as a new shot often is
    per = max(1, n // len(shots))
    pic, x, y = 0, 0.0, 0.0
    out = []
    for i in range(n):
        kind = shots[min(len(shots) - 1, i // per)]
        if kind == "cut" and i % per == 0:
            pic, x, y = 1, 0.0, 0.0
        elif kind == "slow":
            x += 0.7
        elif kind == "fast":
            x, y = x + 4.0, y + 1.0
        xi, yi = int(x) % (2 * w), int(y) % h
        f = pictures[pic][yi:yi + h, xi:xi + w] + rng.normal(0, grain, (h, w))
        out.append(np.clip(f, 0, 255).astype(np.uint8))
    return out


def write_clip(path, pictures, rate=RATE, fmt=None, codec="libx264", pix_fmt="yuv420p", audio="aac", rotation=90,
               metadata=METADATA, language=("eng", "fra"), pts=None, rgb=False):
    """Write grayscale (or, rgb=True, colour) pictures as a video: each frame's pts in units
    of 1/rate (or the given pts list, in the same units: a variable frame rate); an audio
    track (`audio`: an encoder name, or None) of the video's length; container metadata,
    stream languages, a rotation (display matrix)."""
    c = av.open(str(path), "w", format=fmt)
    c.metadata.update(metadata or {})
    h, w = pictures[0].shape[:2]
    v = c.add_stream(codec, rate=rate)
    v.width, v.height, v.pix_fmt = w, h, pix_fmt
    v.codec_context.time_base = 1 / rate
    if codec == "libx264":
        v.codec_context.options = {"preset": "ultrafast", "crf": "20"}
    if language:
        v.metadata["language"] = language[0]
    if rotation:
        v.set_display_rotation(rotation)
    a = None
    if audio:
        a = c.add_stream(audio, rate=48000)
        a.layout = "mono"
        if language:
            a.metadata["language"] = language[1]
    pts = list(range(len(pictures))) if pts is None else pts
    for p, t in zip(pictures, pts):
        arr = p if rgb else np.repeat(p[..., None], 3, axis=2)
        f = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
        f.pts, f.time_base = t, 1 / rate
        for packet in v.encode(f):
            c.mux(packet)
    for packet in v.encode():
        c.mux(packet)
    if a is not None:
        n = int((pts[-1] + 1) / rate * 48000)
        t = np.arange(n) / 48000
        s = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
        fmt_name = a.codec_context.codec.audio_formats[0].name
        for k in range(0, n, 960):
            af = av.AudioFrame.from_ndarray(s[:, k:k + 960], format="fltp", layout="mono")
            af.sample_rate, af.pts = 48000, k
            if fmt_name != "fltp":
                af = av.AudioResampler(format=fmt_name, layout="mono", rate=48000).resample(af)[0]
                af.pts = k
            for packet in a.encode(af):
                c.mux(packet)
        for packet in a.encode():
            c.mux(packet)
    c.close()
    return str(path)


def probe(path):
    """What the tests compare: per stream, the type, codec, time base, frame/packet
    timestamps; the container's duration and metadata; frame rotation and size."""
    info = {}
    with av.open(str(path)) as c:
        info["duration"] = c.duration / 1e6 if c.duration else None
        info["metadata"] = dict(c.metadata)
        v = c.streams.video[0]
        info["rate"] = Fraction(v.average_rate) if v.average_rate else None
        info["video_language"] = v.metadata.get("language")
        info["audio"] = [{"codec": s.codec_context.name, "language": s.metadata.get("language"), "packets": []}
                         for s in c.streams.audio]
        times, rotation, size, pictures = [], None, None, []
        audio_index = {s.index: i for i, s in enumerate(c.streams.audio)}
        for packet in c.demux():
            if packet.stream.type == "audio" and packet.dts is not None:
                info["audio"][audio_index[packet.stream.index]]["packets"].append(
                    (float(packet.pts * packet.time_base), bytes(packet)))
            if packet.stream.index != v.index:
                continue
            for f in packet.decode():
                times.append(f.pts * f.time_base)
                rotation, size = f.rotation, (f.width, f.height)
                pictures.append(f.to_ndarray(format="rgb24"))
        info["times"], info["rotation"], info["size"], info["pictures"] = times, rotation, size, pictures
    return info
