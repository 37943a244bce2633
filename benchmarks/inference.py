"""Inference speed on this machine, in one process (plus one fresh subprocess per large
photo, for its peak memory):

  1. images/s at 256x256, batch 1 and batch 8, for the default model (Colorizer.load()),
     and for `unet` and `seed` where the default is not already one of them: the raw
     network forward, forward + a,b decoding (Colorizer.predict_ab), and
     Colorizer.colorize end to end (PIL image in, PIL image out); and for the Zhang et al.
     ECCV 2016 colorization network (benchmarks/eccv16.py, random weights: timing does
     not depend on them); with the ratios against ECCV16 measured in the same run;
  2. file -> file wall time and peak resident memory to colorize a 12-megapixel and a
     24-megapixel grayscale JPEG (generated here) to a JPEG, model already loaded, for the
     default model and for `unet`.

    python benchmarks/inference.py                      # bundled models
    python benchmarks/inference.py --model runs/unet128/last.safetensors
    python benchmarks/inference.py --quick              # fewer calls, for a first look

A model that is not bundled (and not given as a path) is built with random weights:
UNet(num_bins=262) for `unet` (also the default then), SeedNet for `seed`. Nothing is
asserted: it prints numbers. Timings are medians of repeated calls after warm-up.
"""
import argparse
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
from colorizer.backend import TorchBackend
from colorizer.colorizer import Colorizer
from colorizer.image_io import read_lightness, save_image
from colorizer.merge import merge_full_res
from colorizer.model_files import WeightsError
from colorizer.networks import build_model, count_params
from colorizer.options import ColorizeOptions
from colorizer.pipeline import predict_ab
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
    p.add_argument("--no-networks", action="store_true", help="skip the 256x256 throughput table")
    p.add_argument("--no-files", action="store_true", help="skip the large-photo runs")
    p.add_argument("--quick", action="store_true", help="--min-time 0.5 --calls 2 --file-runs 1")
    p.add_argument("--json", help="also write the results to this JSON file")
    p.add_argument("--worker", nargs=2, metavar=("SRC", "DST"), help=argparse.SUPPRESS)  # internal: one large photo
    p.add_argument("--worker-model", default="default", help=argparse.SUPPRESS)
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


def load_model(which, a):
    """(Colorizer, label) for `which` in default, unet, seed: the path or name given on
    the command line, else the bundled model, else random weights (see random_colorizer)."""
    spec = {"default": a.model, "unet": a.unet_model, "seed": a.seed_model}[which]
    try:
        col = Colorizer.load(spec if spec or which == "default" else which, device="cpu")
        return col, f"{col.name} ({col.arch})"
    except WeightsError:
        if spec:
            raise
    return random_colorizer("unet" if which == "default" else which)


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
    """cols: list of (key, Colorizer). Rows of images/s at batch 1 and 8."""
    rows = []
    g = torch.Generator().manual_seed(0)
    inputs = {b: torch.rand(b, 1, a.size, a.size, generator=g) * 100 for b in BATCHES}
    pic = photo(a.size, a.size, seed=1)

    def forward(model):
        def run(x):
            with torch.inference_mode():
                model(x)
        return run

    plans = []
    for key, col in cols:
        plans += [(key, "network forward", forward(col.backend.network)),
                  (key, "forward + a,b decode (predict_ab)", col.predict_ab),
                  (key, "Colorizer.colorize, PIL in -> PIL out", (lambda c: lambda: c.colorize(pic))(col))]
    plans.append(("ECCV16", "network forward", forward(eccv)))
    for key, what, fn in plans:
        row = {"model": key, "what": what}
        for b in BATCHES:
            end_to_end = what.startswith("Colorizer")
            if end_to_end and b != 1:
                continue  # colorize takes one photo
            times = time_calls(fn if end_to_end else (lambda f, x: lambda: f(x))(fn, inputs[b]), a.min_time, a.calls)
            med = float(np.median(times))
            row[f"b{b}"] = {"images_per_s": b / med, "median_s": med, "min_s": float(min(times)), "calls": len(times)}
            print(f"  {key:8s} {what:40s} batch {b}: {b / med:8.2f} images/s  "
                  f"(median {med * 1000:.1f} ms over {len(times)} calls)", file=sys.stderr, flush=True)
        rows.append(row)
    return rows


def cols_arch(cols, key):
    return dict(cols)[key].arch


def ips(rows, model, what, b):
    for r in rows:
        if r["model"] == model and r["what"].startswith(what) and f"b{b}" in r:
            return r[f"b{b}"]["images_per_s"]
    return float("nan")


# --- 2. large photos, file -> file ------------------------------------------------------------

def worker(a):
    """One large photo in this fresh process: load the model, warm up on a small photo,
    then time file -> file runs; then one run split into stages. Prints one JSON line."""
    src, dst = a.worker
    col, label = load_model(a.worker_model, a)
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
                      "peak_rss_mb": peak, "ru_maxrss_mb": ru_peak, "stages": st, "threads": torch.get_num_threads()}))
    return 0


SIZES = {12: (4000, 3000), 24: (6000, 4000)}


def large_files(a):
    results = []
    with tempfile.TemporaryDirectory(prefix="colorizer-bench-") as tmp:
        for mp in [int(m) for m in a.megapixels.split(",") if m.strip()]:
            w, h = SIZES[mp]
            src = os.path.join(tmp, f"gray_{mp}mp.jpg")
            photo(w, h, seed=mp).save(src, quality=90)
            for which in [m.strip() for m in a.file_models.split(",") if m.strip()]:
                cmd = [sys.executable, os.path.abspath(__file__), "--worker", src, os.path.join(tmp, f"out_{mp}mp.jpg"),
                       "--worker-model", which, "--file-runs", str(a.file_runs)]
                for opt, val in (("--model", a.model), ("--unet-model", a.unet_model), ("--seed-model", a.seed_model),
                                 ("--threads", a.threads or None)):
                    if val:
                        cmd += [opt, str(val)]
                proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode != 0:
                    print(f"  {mp} MP, {which}: worker failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
                    continue
                r = json.loads(proc.stdout.strip().splitlines()[-1])
                r.update(megapixels=mp, file_mb=os.path.getsize(src) / 1e6, model=which)
                print(f"  {mp} MP, {which}: {min(r['times']):.3f} s best, peak RSS {r['peak_rss_mb']:.0f} MB",
                      file=sys.stderr, flush=True)
                results.append(r)
    return results


# --- report --------------------------------------------------------------------------------------

def main(argv=None):
    a = parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.worker:
        return worker(a)
    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    m = machine()
    report = {"machine": m, "size": a.size}
    default, default_label = load_model("default", a)
    cols, labels = [("default", default)], {"default": f"{default_label}, what Colorizer.load() gives"}
    for arch in ("unet", "seed"):  # the other architectures, unless the default is one
        if default.arch != arch or getattr(a, f"{arch}_model"):
            col, labels[arch] = load_model(arch, a)
            cols.append((arch, col))
    torch.manual_seed(0)
    eccv = ECCV16().eval()
    labels["ECCV16"] = "Zhang et al. 2016 (eccv16 generator), random weights"
    shape = (1, 1, a.size, a.size)
    nets = [(k, c.backend.network) for k, c in cols] + [("ECCV16", eccv)]
    report["models"] = [{"model": k, "label": labels[k], "params": count_params(net), "macs": count_macs(net, shape)}
                        for k, net in nets]

    if not a.no_networks:
        print(f"throughput at {a.size}x{a.size}:", file=sys.stderr)
        report["throughput"] = throughput(a, cols, eccv)
    if not a.no_files:
        print("large photos, file -> file:", file=sys.stderr)
        report["files"] = large_files(a)
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    report["loadavg_1min"] = [load_start, load_end]

    print("# Inference benchmark\n")
    print(f"Machine: {m['cpu']}, {m['cores']} cores ({m['isa']}); Python {m['python']}, torch {m['torch']}, "
          f"{m['threads']} torch threads. 1-minute load average {load_start:.2f} at the start, {load_end:.2f} at the end.\n")
    print(f"## Models at {a.size}x{a.size} (MACs counted with hooks on conv/linear layers; 1 MAC = 2 FLOPs)\n")
    print("| model | | parameters | GMACs | GFLOPs |\n|---|---|---|---|---|")
    for r in report["models"]:
        print(f"| {r['model']} | {r['label']} | {r['params'] / 1e6:.2f} M | {r['macs'] / 1e9:.2f} | {2 * r['macs'] / 1e9:.2f} |")
    print()
    if "throughput" in report:
        rows = report["throughput"]
        print(f"## Throughput at {a.size}x{a.size}, images/s "
              f"(median of >= {a.calls} calls and >= {a.min_time:g} s after warm-up)\n")
        print("| model | measured | batch 1 | batch 8 |\n|---|---|---|---|")
        for r in rows:
            cells = [f"{r[f'b{b}']['images_per_s']:.2f}" if f"b{b}" in r else "-" for b in BATCHES]
            print(f"| {r['model']} | {r['what']} | " + " | ".join(cells) + " |")
        print("\nRatios against ECCV16's network forward, measured in this run (higher: faster):\n")
        e1, e8 = ips(rows, "ECCV16", "network", 1), ips(rows, "ECCV16", "network", 8)
        print("| model | forward, batch 1 | forward, batch 8 | forward + decode, batch 1 | "
              "Colorizer.colorize end to end, batch 1 |")
        print("|---|---|---|---|---|")
        ratios = {}
        for key, _ in cols:
            r = {"forward_b1": ips(rows, key, "network", 1) / e1, "forward_b8": ips(rows, key, "network", 8) / e8,
                 "predict_ab_b1": ips(rows, key, "forward + a,b", 1) / e1, "colorize_b1": ips(rows, key, "Colorizer", 1) / e1}
            ratios[key] = r
            print(f"| {key} ({cols_arch(cols, key)}) | " + " | ".join(f"**{v:.1f}x**" for v in r.values()) + " |")
        report["ratios"] = ratios
        print("\n(end to end: the whole Colorizer.colorize call against ECCV16's network alone, which flatters ECCV16.)\n")
    if report.get("files"):
        print("## Large grayscale JPEG -> colour JPEG (quality 95), model loaded and warmed up, one fresh process per photo\n")
        stages = list(report["files"][0]["stages"])
        print("| photo | model | file | first run (s) | median run (s) | best run (s) | peak RSS (MB) | RSS after load (MB) | "
              + " | ".join(f"{s} (s)" for s in stages) + " |")
        print("|---" * (8 + len(stages)) + "|")
        for r in report["files"]:
            print(f"| {r['megapixels']} MP ({r['width']}x{r['height']}) | {r['model']}: {r['label']} | {r['file_mb']:.1f} MB | "
                  f"{r['times'][0]:.3f} | {float(np.median(r['times'])):.3f} | {min(r['times']):.3f} | "
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
