"""Video (issue 15): steady colour against per-frame colorization, speed file to file, and
memory against clip length. Prints numbers; nothing is asserted.

  1. --quality (default on): clips made from colour photos (data/val_full; the truth is
     known): per photo a still shot with film grain, a slow pan and a fast pan, a cut to
     the next photo. The gray frames (L* of the truth, plus grain) are colorized in order
     by the streaming driver's FrameColorizer (what colorize_video runs, without the file
     around it) three ways: each frame on its own (smoothing 0), the steady colour
     (flow-aligned average, --smoothing), and the same average without the flow. For each:
       flicker     mean |Δa,b| between consecutive frames of a shot, on pixels whose L*
                   changes by less than 2 (where the picture holds still)
       E_warp      Lai et al. 2018's warping error: the previous output frame carried to
                   the current one along the truth's optical flow (OpenCV DIS), mean squared
                   RGB difference (x1000, RGB in 0..1) on pixels that the forward-backward
                   check finds unoccluded
       colourful.  Hasler & Suesstrunk's colourfulness (metrics.colorfulness), mean of frames
       CIEDE2000   against the truth (metrics.ciede2000), mean of frames
  2. --speed (default on): a clip of photo pans at 640x480 and at 1280x720, 30000/1001 fps,
     with an AAC track, colorized file to file (colorize_video: decode, network, decoding,
     merge, encode H.264, audio copied), steady colour against per-frame: frames per second.
  3. --memory: peak RSS of colorize_video in a fresh process for a 1080p clip of 10 s and
     of 60 s (at --memory-fps frames per second, 5 by default, to keep the run short: what
     is measured is whether memory grows with the clip's length).

    python benchmarks/video.py                         # quality and speed, the bundled default
    python benchmarks/video.py --photos 4 --no-speed   # a quick look at the quality
    python benchmarks/video.py --memory --no-quality --no-speed
"""
import argparse
import glob
import os
import resource
import subprocess
import sys
import tempfile
import time
from fractions import Fraction

import av
import cv2
import numpy as np
import torch
from PIL import Image

from colorizer import Colorizer
from colorizer.lab import rgb_to_lab
from colorizer.metrics import ciede2000, colorfulness
from colorizer.video import VideoOptions
from colorizer.video.colorize import FrameColorizer, colorize_video

DATA = "/work/shared/data/val_full"
RATE = Fraction(30000, 1001)


# ---------------------------------------------------------------- clips from photos

def shots(photo, w, h, per_shot, grain, rng):
    """Truth frames (RGB uint8) of one photo: a still shot, a slow pan, a fast pan."""
    img = Image.open(photo).convert("RGB")
    scale = max(1.6 * w / img.width, 1.3 * h / img.height)
    img = np.asarray(img.resize((max(w + 1, round(img.width * scale)), max(h + 1, round(img.height * scale))), Image.LANCZOS))
    H, W = img.shape[:2]
    out = []
    for kind, dx, dy in (("still", 0.0, 0.0), ("slow", 1.0, 0.3), ("fast", 6.0, 1.5)):
        x, y = (W - w) / 2 if kind == "still" else 0.0, (H - h) / 2
        frames = []
        for _ in range(per_shot):
            xi, yi = int(round(x)) % (W - w + 1), int(round(y)) % (H - h + 1)
            frames.append(img[yi:yi + h, xi:xi + w])
            x, y = x + dx, y + dy
        out.append((kind, frames))
    return out


_LUT = None


def gray_with_grain(rgb, grain, rng):
    """The frame's L* plus film grain (Gaussian, `grain` L* units), clipped: the input."""
    lab = rgb_to_lab(torch.from_numpy(np.array(rgb)).permute(2, 0, 1).double() / 255)[0].float().numpy()
    return np.clip(lab + rng.normal(0, grain, lab.shape).astype(np.float32), 0, 100)


def make_clip(photos, w, h, per_shot, grain, seed=0):
    """[(shot id, truth RGB, input L*)] over the photos, in order (a cut between shots)."""
    rng = np.random.default_rng(seed)
    out, shot = [], 0
    for p in photos:
        for _, frames in shots(p, w, h, per_shot, grain, rng):
            for f in frames:
                out.append((shot, f, gray_with_grain(f, grain, rng)))
            shot += 1
    return out


# ---------------------------------------------------------------- metrics

def lab_of(rgb):
    return rgb_to_lab(torch.from_numpy(np.array(rgb)).permute(2, 0, 1).double() / 255).float().numpy()


_DIS = None


def flow(a, b):
    """DIS optical flow from gray a to gray b (uint8): a(x) ~ b(x + flow(x))."""
    global _DIS
    if _DIS is None:
        _DIS = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return _DIS.calc(a, b, None)


def warp(img, fl):
    h, w = fl.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(img, gx + fl[..., 0], gy + fl[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def warp_masks(clip):
    """Per consecutive pair within a shot: the flow from frame t to t-1 on the truth and the
    unoccluded pixels (forward-backward check, Lai et al.'s rule)."""
    out = {}
    for t in range(1, len(clip)):
        if clip[t][0] != clip[t - 1][0]:
            continue
        g1 = cv2.cvtColor(clip[t][1], cv2.COLOR_RGB2GRAY)
        g0 = cv2.cvtColor(clip[t - 1][1], cv2.COLOR_RGB2GRAY)
        f10, f01 = flow(g1, g0), flow(g0, g1)
        back = warp(f01, f10)
        err = ((f10 + back) ** 2).sum(-1)
        ok = err < 0.01 * ((f10 ** 2).sum(-1) + (back ** 2).sum(-1)) + 0.5
        out[t] = (f10, ok)
    return out


def score(clip, outputs, masks):
    flick, ewarp, cf, de, kinds = [], [], [], [], []
    labs = [lab_of(o) for o in outputs]
    for t, (_, truth, _) in enumerate(clip):
        rgb = outputs[t].astype(np.float32) / 255
        cf.append(colorfulness(rgb))
        de.append(ciede2000(rgb, truth.astype(np.float32) / 255))
        if t in masks:
            still = np.abs(labs[t][0] - labs[t - 1][0]) < 2
            if still.any():
                flick.append(float(np.abs(labs[t][1:] - labs[t - 1][1:]).mean(0)[still].mean()))
                kinds.append(clip[t][0] % 3)   # 0 still, 1 slow pan, 2 fast pan (shots() order)
            f10, ok = masks[t]
            prev = warp(outputs[t - 1].astype(np.float32) / 255, f10)
            ewarp.append(float(((rgb - prev) ** 2).sum(-1)[ok].mean()) * 1000)
    kinds, flick = np.array(kinds), np.array(flick)
    return {"flicker": flick.mean(), "E_warp": np.mean(ewarp), "colourfulness": np.mean(cf), "CIEDE2000": np.mean(de),
            "by shot": [flick[kinds == k].mean() for k in range(3)]}


class SharedNetwork:
    """The colorizer, with its network's outputs for the last batch remembered: several
    FrameColorizers fed the same frames in lockstep run the network once per batch."""

    def __init__(self, colorizer):
        self.colorizer, self.key, self.value = colorizer, None, None

    def __getattr__(self, name):
        return getattr(self.colorizer, name)

    def network_outputs(self, L, hints=None, options=None):
        key = (tuple(L.shape), hash(L.numpy().tobytes()))
        if key != self.key:
            self.key, self.value = key, self.colorizer.network_outputs(L, hints, options)
        return {k: v.clone() for k, v in self.value.items()}


def run_modes(colorizer, options, clip, modes, batch=VideoOptions().batch):
    """{name: (outputs, frame colorizer seconds, cuts found)} for modes {name: (smoothing, follow_motion)}: all fed
    in lockstep, the network run once per batch (its time is counted for each mode)."""
    shared = SharedNetwork(colorizer)
    fcs = {name: FrameColorizer(shared, options, w, batch, follow_motion=follow) for name, (w, follow) in modes.items()}
    outs = {name: [None] * len(clip) for name in modes}
    secs = dict.fromkeys(modes, 0.0)
    net = [0.0]
    real = shared.colorizer.network_outputs

    def timed(L, hints=None, options=None):
        t = time.perf_counter()
        r = real(L, hints, options)
        net[0] += time.perf_counter() - t
        return r
    shared.colorizer = _Timed(colorizer, timed)
    for i, (_, _, L) in enumerate(clip):
        for name, fc in fcs.items():
            t = time.perf_counter()
            done = fc.push(i, L)
            secs[name] += time.perf_counter() - t
            for j, rgb in done:
                outs[name][j] = rgb
    for name, fc in fcs.items():
        t = time.perf_counter()
        for j, rgb in fc.flush():
            outs[name][j] = rgb
        secs[name] += time.perf_counter() - t
    first = next(iter(modes))
    secs = {name: s + (net[0] if name != first else 0.0) for name, s in secs.items()}  # each mode pays the network once
    return {name: (outs[name], secs[name], fcs[name].cuts) for name in modes}


class _Timed:
    def __init__(self, colorizer, network_outputs):
        self._c, self.network_outputs = colorizer, network_outputs

    def __getattr__(self, name):
        return getattr(self._c, name)


def quality(colorizer, args):
    photos = sorted(glob.glob(os.path.join(args.data, "*.jpg")) + glob.glob(os.path.join(args.data, "*.png")))[:args.photos]
    clip = make_clip(photos, args.width, args.height, args.per_shot, args.grain)
    n_shots = len({s for s, _, _ in clip})
    print(f"\n## Steady colour: {len(photos)} photos from {args.data}, {n_shots} shots (still with grain, slow pan, fast pan), "
          f"{len(clip)} frames of {args.width}x{args.height}, grain {args.grain} L*, working size {args.size}")
    masks = warp_masks(clip)
    options = colorizer.options(size=args.size)
    modes = {"per-frame": (0.0, True), f"steady {args.smoothing:g}": (args.smoothing, True),
             f"average {args.smoothing:g} without flow": (args.smoothing, False)}
    for w in args.also:
        modes[f"steady {w:g}"] = (w, True)
    results = run_modes(colorizer, options, clip, modes)
    rows = {}
    for name, (out, secs, cuts) in results.items():
        rows[name] = score(clip, out, masks)
        rows[name]["cuts"] = cuts
        rows[name]["fps"] = len(clip) / secs
    strip(clip, results["per-frame"][0], results[f"steady {args.smoothing:g}"][0], args)
    base = rows["per-frame"]
    print("\n| colorization | flicker | E_warp x1000 | colourfulness | CIEDE2000 | cuts found | frames/s (no file) |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        cf = r["colourfulness"]
        print(f"| {name} | {r['flicker']:.3f} ({r['flicker'] / base['flicker']:.2f}x) | {r['E_warp']:.2f} "
              f"({r['E_warp'] / base['E_warp']:.2f}x) | {cf:.1f} ({cf / base['colourfulness']:.2f}x) "
              f"| {r['CIEDE2000']:.2f} ({r['CIEDE2000'] - base['CIEDE2000']:+.2f}) | {r['cuts']} | {r['fps']:.1f} |")
    print(f"(true cuts between shots: {n_shots - 1}, of which {len(photos) - 1} between photos; the steady colour restarts "
          "at each it finds, and where the flow fails)")
    print("\nflicker by shot (a pan's colours move with the picture, which a fixed pixel counts as change):\n")
    print("| colorization | still shots | slow pans | fast pans |\n|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | " + " | ".join(f"{v:.3f} ({v / b:.2f}x)" for v, b in zip(r["by shot"], base["by shot"])) + " |")


def strip(clip, per_frame, steady, args):
    """A strip of frames (every 4th of the first photo's slow pan): rows gray input,
    per-frame, steady colour, truth."""
    if not args.strip:
        return
    idx = [i for i, (s, _, _) in enumerate(clip) if s == 1][::4][:5]
    gray = [np.repeat((clip[i][2] * 2.55).astype(np.uint8)[..., None], 3, 2) for i in idx]
    rows = [np.concatenate([r[i] if not isinstance(r, int) else None for i in idx], 1) for r in (per_frame, steady)]
    img = np.concatenate([np.concatenate(gray, 1), *rows, np.concatenate([clip[i][1] for i in idx], 1)], 0)
    Image.fromarray(img).save(args.strip, quality=88)
    print(f"(strip of frames written to {args.strip}: rows gray input, per-frame, steady colour, truth)")


# ---------------------------------------------------------------- file to file

def write_clip(path, frames_rgb, rate=RATE, audio=True):
    """An H.264 (near lossless) MP4 of the frames as gray film, with an AAC tone."""
    c = av.open(str(path), "w")
    h, w = frames_rgb[0].shape[:2]
    v = c.add_stream("libx264", rate=rate)
    v.width, v.height, v.pix_fmt = w, h, "yuv420p"
    v.codec_context.options = {"preset": "veryfast", "crf": "16"}
    a = c.add_stream("aac", rate=48000) if audio else None
    if a is not None:
        a.layout = "stereo"
    for i, f in enumerate(frames_rgb):
        g = cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)
        vf = av.VideoFrame.from_ndarray(np.repeat(g[..., None], 3, 2), format="rgb24")
        vf.pts, vf.time_base = i, 1 / rate
        for p in v.encode(vf):
            c.mux(p)
    for p in v.encode():
        c.mux(p)
    if a is not None:
        n = int(len(frames_rgb) / rate * 48000)
        tone = (0.1 * np.sin(2 * np.pi * 220 * np.arange(n) / 48000)).astype(np.float32)
        for k in range(0, n, 1024):
            af = av.AudioFrame.from_ndarray(np.stack([tone[k:k + 1024]] * 2), format="fltp", layout="stereo")
            af.sample_rate, af.pts = 48000, k
            for p in a.encode(af):
                c.mux(p)
        for p in a.encode():
            c.mux(p)
    c.close()


def pan_frames(photos, w, h, n):
    frames = []
    rng = np.random.default_rng(1)
    per = max(1, n // 3 // max(1, len(photos)))
    for p in photos:
        for _, fs in shots(p, w, h, per, 0, rng):
            frames += fs
    return (frames * (n // max(1, len(frames)) + 1))[:n]


def speed(colorizer, args, tmp):
    photos = sorted(glob.glob(os.path.join(args.data, "*.jpg")))[:2]
    print(f"\n## Speed, file to file (decode, network at working size {args.size}, decoding, merge, H.264 crf 18 "
          f"preset medium, AAC copied), {torch.get_num_threads()} torch threads, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} at the start")
    print("\nfps: frames per second of wall time; CPU s/frame: the process's CPU time (all its threads) per frame, which "
          "other programs on the machine disturb less\n")
    print("| clip | frames | per-frame: fps | CPU s/frame | steady colour: fps | CPU s/frame |")
    print("|---|---|---|---|---|---|")
    for w, h in ((640, 480), (1280, 720)):
        src = os.path.join(tmp, f"clip{w}.mp4")
        write_clip(src, pan_frames(photos, w, h, args.speed_frames))
        fps, cpu = {}, {}
        for smoothing in (0.0, args.smoothing):
            dst = os.path.join(tmp, f"out{w}_{smoothing}.mp4")
            t0, c0 = time.perf_counter(), time.process_time()
            r = colorize_video(colorizer, src, dst, size=args.size, video=VideoOptions(smoothing=smoothing))
            fps[smoothing] = r.frames / (time.perf_counter() - t0)
            cpu[smoothing] = (time.process_time() - c0) / r.frames
        print(f"| {w}x{h}, 30000/1001 fps, AAC | {args.speed_frames} | {fps[0.0]:.2f} | {cpu[0.0]:.3f} | "
              f"{fps[args.smoothing]:.2f} | {cpu[args.smoothing]:.3f} |")
    print(f"(load average {os.getloadavg()[0]:.1f} at the end)")


def memory(args, tmp):
    photos = sorted(glob.glob(os.path.join(args.data, "*.jpg")))[:2]
    rate = Fraction(args.memory_fps)
    print(f"\n## Memory: peak RSS of colorize_video in a fresh process, 1920x1080 at {rate} fps, AAC, working size {args.size}")
    print("\n| clip | frames | peak RSS | seconds |")
    print("|---|---|---|---|")
    rss = {}
    for secs in (10, 60):
        src = os.path.join(tmp, f"hd{secs}.mp4")
        write_clip(src, pan_frames(photos, 1920, 1080, int(secs * rate)), rate=rate)
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, __file__, "--child", src, os.path.join(tmp, f"hd{secs}_out.mp4"),
                            "--size", str(args.size)], capture_output=True, text=True, check=True)
        rss[secs] = int(p.stdout.split()[-1])
        print(f"| {secs} s | {int(secs * rate)} | {rss[secs] / 1024:.0f} MB | {time.perf_counter() - t0:.0f} |")
    print(f"(60 s / 10 s: {rss[60] / rss[10]:.3f}x)")


def child(args):
    c = Colorizer.load(args.model)
    colorize_video(c, args.child[0], args.child[1], size=args.size)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None)
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--photos", type=int, default=8)
    ap.add_argument("--per-shot", type=int, default=16, help="frames per shot")
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=240)
    ap.add_argument("--grain", type=float, default=1.5, help="film grain, standard deviation in L*")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--smoothing", type=float, default=VideoOptions().smoothing)
    ap.add_argument("--also", type=float, nargs="*", default=[], help="other smoothing weights to compare")
    ap.add_argument("--speed-frames", type=int, default=90)
    ap.add_argument("--memory-fps", type=int, default=5)
    ap.add_argument("--strip", default="docs/video_strip.jpg", help="where to write the strip of frames ('' for none)")
    ap.add_argument("--no-quality", dest="quality", action="store_false")
    ap.add_argument("--no-speed", dest="speed", action="store_false")
    ap.add_argument("--memory", action="store_true")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    colorizer = Colorizer.load(args.model)
    print(f"model {colorizer.name}, backend {colorizer.backend.name}, PyAV {av.__version__} (FFmpeg "
          f"{av.ffmpeg_version_info}), OpenCV {cv2.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        if args.quality:
            quality(colorizer, args)
        if args.speed:
            speed(colorizer, args, tmp)
        if args.memory:
            memory(args, tmp)


if __name__ == "__main__":
    main()
