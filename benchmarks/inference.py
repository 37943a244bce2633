"""Inference speed on this machine, in one process (plus one fresh subprocess per large
photo, for its peak memory):

  1. images/s at 256x256, batch 1 and batch 8, for the default model (Colorizer.load()) on
     each backend (PyTorch, and ONNX Runtime when it is installed: also with its threads
     spinning, to show why they do not), and for `unet` and `seed` where the default is
     not already one of them: the network forward (the backend's call), forward + a,b
     decoding (Colorizer.predict_ab), and Colorizer.colorize end to end (PIL image in, PIL
     image out); and for the Zhang et al. ECCV 2016 colorization network
     (benchmarks/eccv16.py, random weights: timing does not depend on them), measured first
     and last; with the ratios against ECCV16 measured in the same run;
  2. the default end to end at 256x256, batch 1, a JPEG file's bytes in and out, split into
     its stages (read, working size, network, decode, upsample/merge, write) for each
     backend, against ECCV16's network: where the time goes (for a default with a fast head,
     also without it, the two alternating call by call: min-risk's fast_head off, the full
     head's colours);
  3. file -> file wall time and peak resident memory to colorize a 12-megapixel and a
     24-megapixel grayscale JPEG (generated here) to a JPEG, model already loaded, for the
     default model on each backend and for `unet`.

    python benchmarks/inference.py                      # bundled models
    python benchmarks/inference.py --model runs/unet128/last.safetensors
    python benchmarks/inference.py --quick              # fewer calls, for a first look
    python benchmarks/inference.py --backends torch     # PyTorch only

ONNX Runtime gets as many intra-op threads as torch (--threads); the bundled default runs
its shipped export (weights/unet.onnx), as Colorizer.load() does: on the CPU the default
backend (auto) is ONNX Runtime, so its rows are the product's; the torch rows are
`--backend torch`.

A model that is not bundled (and not given as a path) is built with random weights:
UNet(num_bins=262) for `unet` (also the default then), SeedNet for `seed`. Nothing is
asserted: it prints numbers. Timings are medians of repeated calls after warm-up.
"""
import argparse
import io
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image

from colorizer import bins as B
from colorizer import decoding
from colorizer.backends import load_backend
from colorizer.backends.pytorch import TorchBackend
from colorizer.colorizer import Colorizer
from colorizer.image_io import encode_image, read_image, read_lightness, save_image
from colorizer.merge import merge_full_res
from colorizer.model_files import WeightsError
from colorizer.networks import build_model, count_params
from colorizer.options import ColorizeOptions
from colorizer.pipeline import predict_ab, to_working_size
from colorizer.working_size import resize_lightness, working_shape
from eccv16 import ECCV16, count_macs

BATCHES = (1, 8)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None,
                   help="default model: bundled name or .safetensors path (default: the bundled default, else a random UNet)")
    p.add_argument("--unet-model", default=None, help="the `unet` model (default: bundled `unet`, else a random UNet)")
    p.add_argument("--seed-model", default=None, help="the `seed` model (default: bundled `seed`, else a random SeedNet)")
    p.add_argument("--size", type=int, default=256, help="network input side for the throughput table (default 256)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's default, the number of cores)")
    p.add_argument("--min-time", type=float, default=3.0, help="seconds of timed calls per measurement, at least (default 3)")
    p.add_argument("--calls", type=int, default=5, help="timed calls per measurement, at least (default 5)")
    p.add_argument("--file-runs", type=int, default=5, help="file -> file runs per large photo (default 5)")
    p.add_argument("--megapixels", default="12,24", help="large photos to time, comma-separated from 12, 24 (default both)")
    p.add_argument("--file-models", default="default,unet",
                   help="models for the large photos, from default, unet, seed (default: default,unet)")
    p.add_argument("--backends", default="torch,onnxruntime",
                   help="backends for the default model, comma-separated (default torch,onnxruntime; onnxruntime is "
                        "skipped with a note when it is not installed)")
    p.add_argument("--no-networks", action="store_true", help="skip the 256x256 throughput table")
    p.add_argument("--no-stages", action="store_true", help="skip the 256x256 stage breakdown")
    p.add_argument("--no-files", action="store_true", help="skip the large-photo runs")
    p.add_argument("--quick", action="store_true", help="--min-time 0.5 --calls 2 --file-runs 1")
    p.add_argument("--json", help="also write the results to this JSON file")
    p.add_argument("--worker", nargs=2, metavar=("SRC", "DST"), help=argparse.SUPPRESS)  # internal: one large photo
    p.add_argument("--worker-model", default="default", help=argparse.SUPPRESS)
    p.add_argument("--worker-backend", default="torch", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.quick:
        a.min_time, a.calls, a.file_runs = 0.5, 2, 1
    return a


# --- models ---------------------------------------------------------------------------------

def random_colorizer(arch):
    """A Colorizer with a randomly initialised network (decoded as a model file without
    decoding settings would be: annealed mean for unet, regression for seed)."""
    torch.manual_seed(0)
    if arch == "unet":
        bins = B.default_bins()
        network, extra = build_model("unet", pretrained=False, num_bins=len(bins)), {"bins": bins}
    else:
        network, extra = build_model("seed", pretrained=False), {}
    backend = TorchBackend(network, "cpu")
    default, decoders = decoding.for_model({}, extra, backend.outputs)
    col = Colorizer(backend, decoders, default, extra, {}, name=f"{arch}-random", arch=arch)
    return col, f"{arch}, random weights (not bundled)"


def load_model(which, a, backend="torch", spinning=False):
    """(Colorizer, label) for `which` in default, unet, seed: the path or name given on
    the command line, else the bundled model, else random weights (see random_colorizer;
    PyTorch only). With onnxruntime, spinning=True gives its threads leave to spin."""
    spec = {"default": a.model, "unet": a.unet_model, "seed": a.seed_model}[which]
    name = spec if spec or which == "default" else which
    try:
        if backend == "onnxruntime":
            m = load_backend(name, "onnxruntime")
            if spinning:
                from colorizer.backends.onnxruntime import OrtBackend
                m = OrtBackend.load(m.path, m.name, spinning=True)
            default, decoders = decoding.for_model(m.info, m.extra, m.backend.outputs)
            col = Colorizer(m.backend, decoders, default, m.extra, m.info, name=m.name, arch=m.arch)
        else:
            col = Colorizer.load(name, device="cpu", backend="torch")
        return col, f"{col.name} ({col.arch})"
    except WeightsError:
        if spec or backend != "torch":
            raise
    return random_colorizer("unet" if which == "default" else which)


def backend_label(col):
    b = col.backend
    return b.name + (", spinning threads" if getattr(b, "spinning", False) else "")


def onnxruntime_missing():
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return True
    return False


# --- measuring ------------------------------------------------------------------------------

def time_calls(fn, min_time, min_calls, warmup=1):
    """Wall seconds of repeated calls of fn after `warmup` calls: at least min_calls
    calls and at least min_time seconds in all."""
    for _ in range(warmup):
        fn()
    times, start = [], time.perf_counter()
    while len(times) < min_calls or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def photo(w, h, seed=0):
    """A grayscale 'photo': smooth gradients and waves plus sensor-like noise."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    base = 40 + 150 * (0.5 * x + 0.3 * y) + 40 * np.sin(6 * x + 4 * y) * np.cos(5 * y)
    base = base + rng.normal(0, 8, (h, w)).astype(np.float32)
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "L")


def memory_mb():
    """(VmRSS, VmHWM) of this process in MB, from /proc (ru_maxrss where /proc is missing)."""
    try:
        with open("/proc/self/status") as f:
            kv = dict(line.split(":", 1) for line in f if ":" in line)
        return int(kv["VmRSS"].split()[0]) / 1024, int(kv["VmHWM"].split()[0]) / 1024
    except (OSError, KeyError, ValueError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return float("nan"), peak


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "isa": torch.backends.cpu.get_cpu_capability(),
            "torch": torch.__version__, "threads": torch.get_num_threads(), "python": platform.python_version()}


# --- 1. throughput at 256x256 -----------------------------------------------------------------

def throughput(a, cols, eccv):
    """cols: list of (key, Colorizer). Rows of images/s at batch 1 and 8, with ECCV16's
    network measured first and last (the load of a shared machine drifts)."""
    rows = []
    g = torch.Generator().manual_seed(0)
    inputs = {b: torch.rand(b, 1, a.size, a.size, generator=g) * 100 for b in BATCHES}
    pic = photo(a.size, a.size, seed=1)

    def forward(model):
        def run(x):
            with torch.inference_mode():
                model(x)
        return run

    plans = [("ECCV16", "-", "network forward (first)", forward(eccv), BATCHES)]
    for key, col in cols:
        spinning = getattr(col.backend, "spinning", False)
        batches = (1,) if spinning else BATCHES  # the spinning variant: only what shows the difference
        reads = col.decoder(ColorizeOptions()).reads(col.backend.outputs)  # what the product asks of the network
        plans.append((key, backend_label(col), "network forward (the backend's call)",
                      (lambda c, r: lambda x: c.backend(x, outputs=r))(col, reads), batches))
        if not spinning:
            plans.append((key, backend_label(col), "forward + a,b decode (predict_ab)", col.predict_ab, batches))
        plans.append((key, backend_label(col), "Colorizer.colorize, PIL in -> PIL out", (lambda c: lambda: c.colorize(pic))(col),
                      (1,)))
    plans.append(("ECCV16", "-", "network forward (last)", forward(eccv), BATCHES))
    for key, backend, what, fn, batches in plans:
        row = {"model": key, "backend": backend, "what": what}
        for b in batches:
            end_to_end = what.startswith("Colorizer")
            times = time_calls(fn if end_to_end else (lambda f, x: lambda: f(x))(fn, inputs[b]), a.min_time, a.calls)
            med = float(np.median(times))
            row[f"b{b}"] = {"images_per_s": b / med, "median_s": med, "min_s": float(min(times)), "calls": len(times)}
            print(f"  {key:8s} {backend:28s} {what:40s} batch {b}: {b / med:8.2f} images/s  "
                  f"(median {med * 1000:.1f} ms over {len(times)} calls)", file=sys.stderr, flush=True)
        rows.append(row)
    return rows


def cols_arch(cols, key):
    return dict(cols)[key].arch


def ips(rows, model, what, b, backend=None):
    """Images/s of a row (ECCV16: the mean of its first and last measurement's times)."""
    hits = [r for r in rows if r["model"] == model and r["what"].startswith(what) and f"b{b}" in r
            and (backend is None or r["backend"] == backend)]
    if not hits:
        return float("nan")
    return b / float(np.mean([r[f"b{b}"]["median_s"] for r in hits]))


# --- 2. the stages of one 256x256 photo -----------------------------------------------------------

STAGES = ("read", "working size", "network", "decode", "upsample/merge", "write")


def stages(a, variants, jpeg):
    """variants: {label: (Colorizer, fast_head)} (fast_head: min-risk's setting for the calls,
    None to leave it). For each, the median seconds of each stage of colorizing the JPEG bytes
    `jpeg` into JPEG bytes, and of the whole (the sum of each call's stages), over repeated
    calls after a warm-up, the variants' calls alternating (so that they meet the same load);
    and the median CPU seconds of the whole (the process's, all threads: less sensitive than
    wall time to other programs on the cores, and with one thread about the wall time of an
    idle machine)."""
    options = ColorizeOptions()

    def once(col, fast):
        decoder = col.decoder(options)
        if fast is not None:
            decoder.fast_head = fast
        c0 = time.process_time()
        t = [time.perf_counter()]
        L, alpha, notes, meta = read_image(jpeg)
        t.append(time.perf_counter())
        small = to_working_size(L, options.size)
        t.append(time.perf_counter())
        with torch.inference_mode():
            outputs = col.backend(small, outputs=decoder.reads(col.backend.outputs))
            t.append(time.perf_counter())
            ab = decoder(outputs, options.vibrance, consume=True).cpu()[0]
        t.append(time.perf_counter())
        image = Image.fromarray(merge_full_res(L, ab), "RGB")
        t.append(time.perf_counter())
        encode_image(image, "JPEG", 95)
        t.append(time.perf_counter())
        return [*np.diff(t), time.process_time() - c0]

    for v in variants.values():  # warm-up (and each variant's sessions made)
        once(*v)
    laps, start = {k: [] for k in variants}, time.perf_counter()
    while min(map(len, laps.values())) < max(a.calls, 5) or time.perf_counter() - start < a.min_time * len(variants):
        for k, v in variants.items():
            laps[k].append(once(*v))
    for col, fast in variants.values():
        if fast is not None:
            col.decoder(options).fast_head = True
    out = {}
    for k, rows in laps.items():
        rows = np.array(rows)
        out[k] = {"stages": dict(zip(STAGES, np.median(rows[:, :-1], axis=0).tolist())),
                  "total_s": float(np.median(rows[:, :-1].sum(axis=1))), "cpu_s": float(np.median(rows[:, -1])),
                  "calls": len(rows)}
    return out


def stage_table(a, cols, eccv):
    buf = io.BytesIO()
    photo(a.size, a.size, seed=1).save(buf, format="JPEG", quality=90)
    jpeg = buf.getvalue()
    x = torch.rand(1, 1, a.size, a.size, generator=torch.Generator().manual_seed(0)) * 100

    def eccv_s():
        c0, n = time.process_time(), [0]

        def run():
            n[0] += 1
            with torch.inference_mode():
                eccv(x)
        wall = float(np.median(time_calls(run, a.min_time, a.calls)))
        out.setdefault("eccv16_cpu_s", []).append((time.process_time() - c0) / n[0])
        return wall
    out = {"rows": []}
    out["eccv16_s"] = [eccv_s()]
    for key, col in cols:
        if key != "default" or getattr(col.backend, "spinning", False):
            continue
        variants = {backend_label(col): (col, None)}
        if B.FAST_LOGITS in col.backend.outputs and hasattr(col.decoder(ColorizeOptions()), "fast_head"):
            # a model with a fast head: also without it (min-risk's fast_head off: the full head's colours)
            variants = {backend_label(col): (col, True), backend_label(col) + ", full head": (col, False)}
        for label, r in stages(a, variants, jpeg).items():
            r.update(model=key, backend=label)
            out["rows"].append(r)
            print(f"  stages, {key} on {label}: " + ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in r["stages"].items())
                  + f"; total {r['total_s'] * 1000:.1f} ms ({r['cpu_s'] * 1000:.1f} ms CPU)", file=sys.stderr, flush=True)
    out["eccv16_s"].append(eccv_s())
    print(f"  ECCV16 network forward: {out['eccv16_s'][0] * 1000:.1f} ms first, {out['eccv16_s'][1] * 1000:.1f} ms last",
          file=sys.stderr, flush=True)
    return out


# --- 3. large photos, file -> file ------------------------------------------------------------

def worker(a):
    """One large photo in this fresh process: load the model, warm up on a small photo,
    then time file -> file runs; then one run split into stages. Prints one JSON line."""
    src, dst = a.worker
    col, label = load_model(a.worker_model, a, a.worker_backend)
    col.colorize(photo(256, 192))  # warm-up: torch kernels, lookup tables
    rss_loaded, _ = memory_mb()
    times = []
    for _ in range(a.file_runs):
        t0 = time.perf_counter()
        out = col.colorize(src).image
        save_image(out, dst, fmt="JPEG")
        times.append(time.perf_counter() - t0)
        del out
    _, peak = memory_mb()
    ru_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    st, t = {}, time.perf_counter()

    def lap(name):
        nonlocal t
        now = time.perf_counter()
        st[name] = now - t
        t = now

    options = ColorizeOptions()
    L, alpha, notes = read_lightness(src, max_pixels=options.max_pixels)
    lap("decode + L*")
    small = resize_lightness(L, working_shape(*L.shape, options.size))
    lap("resize to 256^2")
    ab = predict_ab(col.backend, col.decoder(options), torch.from_numpy(small)[None, None], options.vibrance)[0]
    lap("network + decode")
    rgb = merge_full_res(L, ab)
    lap("upsample + Lab->RGB")
    out = Image.fromarray(rgb, "RGB")
    lap("to PIL")
    save_image(out, dst, fmt="JPEG")
    lap("JPEG encode + write")
    w, h = out.size
    print(json.dumps({"label": label, "width": w, "height": h, "times": times, "rss_after_load_mb": rss_loaded,
                      "peak_rss_mb": peak, "ru_maxrss_mb": ru_peak, "stages": st, "threads": torch.get_num_threads(),
                      "backend": col.backend.name}))
    return 0


SIZES = {12: (4000, 3000), 24: (6000, 4000)}


def large_files(a):
    results = []
    with tempfile.TemporaryDirectory(prefix="colorizer-bench-") as tmp:
        for mp in [int(m) for m in a.megapixels.split(",") if m.strip()]:
            w, h = SIZES[mp]
            src = os.path.join(tmp, f"gray_{mp}mp.jpg")
            photo(w, h, seed=mp).save(src, quality=90)
            runs = [(which, backend) for which in [m.strip() for m in a.file_models.split(",") if m.strip()]
                    for backend in (a.backend_list if which == "default" else ["torch"])]
            for which, backend in runs:
                cmd = [sys.executable, os.path.abspath(__file__), "--worker", src, os.path.join(tmp, f"out_{mp}mp.jpg"),
                       "--worker-model", which, "--worker-backend", backend, "--file-runs", str(a.file_runs)]
                for opt, val in (("--model", a.model), ("--unet-model", a.unet_model), ("--seed-model", a.seed_model),
                                 ("--threads", a.threads or None)):
                    if val:
                        cmd += [opt, str(val)]
                proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode != 0:
                    print(f"  {mp} MP, {which} on {backend}: worker failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
                    continue
                r = json.loads(proc.stdout.strip().splitlines()[-1])
                r.update(megapixels=mp, file_mb=os.path.getsize(src) / 1e6, model=which)
                print(f"  {mp} MP, {which} on {backend}: {min(r['times']):.3f} s best, peak RSS {r['peak_rss_mb']:.0f} MB",
                      file=sys.stderr, flush=True)
                results.append(r)
    return results


# --- report --------------------------------------------------------------------------------------

def main(argv=None):
    a = parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    a.backend_list = [b.strip() for b in a.backends.split(",") if b.strip()]
    if "onnxruntime" in a.backend_list and onnxruntime_missing():
        print("onnxruntime is not installed: PyTorch only (pip install onnxruntime)", file=sys.stderr)
        a.backend_list.remove("onnxruntime")
    if a.worker:
        return worker(a)
    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    m = machine()
    report = {"machine": m, "size": a.size, "backends": a.backend_list}
    cols, labels = [], {}
    for backend in a.backend_list:
        col, label = load_model("default", a, backend)
        cols.append(("default", col))
        labels["default"] = f"{label}, what Colorizer.load() gives"
    default = cols[0][1]
    for arch in ("unet", "seed"):  # the other architectures, unless the default is one (PyTorch only)
        if default.arch != arch or getattr(a, f"{arch}_model"):
            col, labels[arch] = load_model(arch, a)
            cols.append((arch, col))
    if "onnxruntime" in a.backend_list:  # its threads spinning while they wait: measured last, they slow the rest
        cols.append(("default", load_model("default", a, "onnxruntime", spinning=True)[0]))
    torch.manual_seed(0)
    eccv = ECCV16().eval()
    labels["ECCV16"] = "Zhang et al. 2016 (eccv16 generator), random weights"
    shape = (1, 1, a.size, a.size)
    nets = [(k, c.backend.network) for k, c in cols if hasattr(c.backend, "network")] + [("ECCV16", eccv)]
    report["models"] = [{"model": k, "label": labels[k], "params": count_params(net), "macs": count_macs(net, shape)}
                        for k, net in nets]

    if not a.no_networks:
        print(f"throughput at {a.size}x{a.size}:", file=sys.stderr)
        report["throughput"] = throughput(a, cols, eccv)
    if not a.no_stages:
        print(f"stages at {a.size}x{a.size}, JPEG bytes in and out:", file=sys.stderr)
        report["stages"] = stage_table(a, cols, eccv)
    if not a.no_files:
        print("large photos, file -> file:", file=sys.stderr)
        report["files"] = large_files(a)
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    report["loadavg_1min"] = [load_start, load_end]

    print("# Inference benchmark\n")
    print(f"Machine: {m['cpu']}, {m['cores']} cores ({m['isa']}); Python {m['python']}, torch {m['torch']}, "
          f"{m['threads']} torch threads (ONNX Runtime: as many intra-op threads). 1-minute load average "
          f"{load_start:.2f} at the start, {load_end:.2f} at the end.\n")
    print(f"## Models at {a.size}x{a.size} (MACs counted with hooks on conv/linear layers; 1 MAC = 2 FLOPs)\n")
    print("| model | | parameters | GMACs | GFLOPs |\n|---|---|---|---|---|")
    for r in report["models"]:
        print(f"| {r['model']} | {r['label']} | {r['params'] / 1e6:.2f} M | {r['macs'] / 1e9:.2f} | {2 * r['macs'] / 1e9:.2f} |")
    print()
    if "throughput" in report:
        rows = report["throughput"]
        print(f"## Throughput at {a.size}x{a.size}, images/s "
              f"(median of >= {a.calls} calls and >= {a.min_time:g} s after warm-up)\n")
        print("| model | backend | measured | batch 1 | batch 8 |\n|---|---|---|---|---|")
        for r in rows:
            cells = [f"{r[f'b{b}']['images_per_s']:.2f}" if f"b{b}" in r else "-" for b in BATCHES]
            print(f"| {r['model']} | {r['backend']} | {r['what']} | " + " | ".join(cells) + " |")
        print("\nRatios against ECCV16's network forward (the mean of its first and last measurement), in this run "
              "(higher: faster):\n")
        e1, e8 = ips(rows, "ECCV16", "network", 1), ips(rows, "ECCV16", "network", 8)
        print("| model | backend | forward, batch 1 | forward, batch 8 | forward + decode, batch 1 | "
              "Colorizer.colorize end to end, batch 1 |")
        print("|---|---|---|---|---|---|")
        ratios = {}
        for key, col in cols:
            be = backend_label(col)
            r = {"forward_b1": ips(rows, key, "network", 1, be) / e1, "forward_b8": ips(rows, key, "network", 8, be) / e8,
                 "predict_ab_b1": ips(rows, key, "forward + a,b", 1, be) / e1,
                 "colorize_b1": ips(rows, key, "Colorizer", 1, be) / e1}
            ratios[f"{key} ({be})"] = r
            print(f"| {key} ({cols_arch(cols, key)}) | {be} | "
                  + " | ".join("-" if v != v else f"**{v:.1f}x**" for v in r.values()) + " |")
        report["ratios"] = ratios
        print("\n(end to end: the whole Colorizer.colorize call against ECCV16's network alone, which flatters ECCV16.)\n")
    if report.get("stages", {}).get("rows"):
        st = report["stages"]
        e = float(np.mean(st["eccv16_s"]))
        print(f"## Where the time goes: the default end to end at {a.size}x{a.size}, batch 1, JPEG bytes in and out "
              f"(median ms per stage)\n")
        ec = float(np.mean(st["eccv16_cpu_s"]))
        print("| backend | " + " | ".join(STAGES) + " | total | ECCV16 network / total | CPU ms, all threads | "
              "ECCV16 / total, in CPU time |")
        print("|---" * (len(STAGES) + 5) + "|")
        for r in st["rows"]:
            print(f"| {r['backend']} | " + " | ".join(f"{r['stages'][k] * 1000:.1f}" for k in STAGES)
                  + f" | {r['total_s'] * 1000:.1f} | **{e / r['total_s']:.1f}x** | {r['cpu_s'] * 1000:.1f} | "
                  f"{ec / r['cpu_s']:.1f}x |")
        print(f"\nECCV16's network forward in the same run: {st['eccv16_s'][0] * 1000:.0f} ms before, "
              f"{st['eccv16_s'][1] * 1000:.0f} ms after ({np.mean(st['eccv16_cpu_s']) * 1000:.0f} ms CPU). "
              f"read: JPEG bytes -> L*; working size: L* resized to "
              f"{a.size}x{a.size}; network: the backend's call; decode: the model's decoding (min-risk for the bundled "
              "default); upsample/merge: a,b to full size and Lab -> sRGB; write: JPEG encoding (quality 95).\n")
    if report.get("files"):
        print("## Large grayscale JPEG -> colour JPEG (quality 95), model loaded and warmed up, one fresh process per photo\n")
        stages = list(report["files"][0]["stages"])
        print("| photo | model | backend | file | first run (s) | median run (s) | best run (s) | peak RSS (MB) | "
              "RSS after load (MB) | " + " | ".join(f"{s} (s)" for s in stages) + " |")
        print("|---" * (9 + len(stages)) + "|")
        for r in report["files"]:
            print(f"| {r['megapixels']} MP ({r['width']}x{r['height']}) | {r['model']}: {r['label']} | {r['backend']} | "
                  f"{r['file_mb']:.1f} MB | {r['times'][0]:.3f} | {float(np.median(r['times'])):.3f} | {min(r['times']):.3f} | "
                  f"{r['peak_rss_mb']:.0f} | {r['rss_after_load_mb']:.0f} | "
                  + " | ".join(f"{r['stages'][s]:.3f}" for s in stages) + " |")
        print("\nTimes are wall seconds from the JPEG path to the written JPEG (Colorizer.colorize + save_image, "
              f"{a.file_runs} runs); the stages come from one extra run split by hand. Peak RSS is VmHWM of the whole "
              "process (Python, torch and the model included); 'RSS after load' is VmRSS after loading and a warm-up.")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
