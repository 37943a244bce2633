"""Inference speed on this machine, in one process (plus one fresh subprocess per large
photo, for its peak memory):

  1. images/s at 256x256, batch 1 and batch 8, for the default model (the raw network
     forward, forward + a,b decoding, and Colorizer.colorize end to end: PIL image in,
     PIL image out), for `seed`, and for the Zhang et al. ECCV 2016 colorization network
     (src/colorizer/zhang_eccv16.py, random weights: timing does not depend on them);
     with the ratios default / ECCV16 measured in the same run;
  2. file -> file wall time and peak resident memory to colorize a 12-megapixel and a
     24-megapixel grayscale JPEG (generated here) to a JPEG, model already loaded.

    python benchmarks/inference.py                      # bundled default model
    python benchmarks/inference.py --model runs/unet128/last.safetensors
    python benchmarks/inference.py --quick              # fewer calls, for a first look

Without bundled weights (and no --model), the default model is a randomly initialised
UNet(num_bins=262) and `seed` a randomly initialised SeedNet. Nothing is asserted: it
prints numbers. Timings are medians of repeated calls after warm-up.
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

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from colorizer import bins as B  # noqa: E402
from colorizer.checkpoint import WeightsError  # noqa: E402
from colorizer.imageio import read_lightness, save_image  # noqa: E402
from colorizer.models import build_model  # noqa: E402
from colorizer.pipeline import Colorizer, merge_full_res, resize_lightness, working_shape  # noqa: E402
from colorizer.zhang_eccv16 import ECCV16, count_macs, count_params  # noqa: E402

BATCHES = (1, 8)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="default model: bundled name or .safetensors path (default: the bundled default, else a random UNet)")
    p.add_argument("--seed-model", default=None, help="the `seed` model (default: bundled `seed`, else a random SeedNet)")
    p.add_argument("--size", type=int, default=256, help="network input side for the throughput table (default 256)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's default, the number of cores)")
    p.add_argument("--min-time", type=float, default=3.0, help="seconds of timed calls per measurement, at least (default 3)")
    p.add_argument("--calls", type=int, default=5, help="timed calls per measurement, at least (default 5)")
    p.add_argument("--file-runs", type=int, default=3, help="file -> file runs per large photo (default 3)")
    p.add_argument("--megapixels", default="12,24", help="large photos to time, comma-separated from 12, 24 (default both)")
    p.add_argument("--no-networks", action="store_true", help="skip the 256x256 throughput table")
    p.add_argument("--no-files", action="store_true", help="skip the large-photo runs")
    p.add_argument("--quick", action="store_true", help="--min-time 0.5 --calls 2 --file-runs 1")
    p.add_argument("--json", help="also write the results to this JSON file")
    p.add_argument("--worker", nargs=2, metavar=("SRC", "DST"), help=argparse.SUPPRESS)  # internal: one large photo
    a = p.parse_args(argv)
    if a.quick:
        a.min_time, a.calls, a.file_runs = 0.5, 2, 1
    return a


# --- models ---------------------------------------------------------------------------------

def load_default(spec):
    """The default Colorizer and a label: the bundled default (or --model), else a random UNet."""
    try:
        col = Colorizer.load(spec, device="cpu")
        return col, f"{col.name} ({col.arch})"
    except WeightsError:
        if spec:
            raise
    torch.manual_seed(0)
    bins = B.default_bins()
    model = build_model("unet", pretrained=False, num_bins=len(bins)).eval()
    return Colorizer(model, "unet", {"bins": bins}, {}, name="unet-random"), "unet, random weights (no bundled model)"


def load_seed(spec):
    try:
        col = Colorizer.load(spec or "seed", device="cpu")
        return col, f"{col.name} ({col.arch})"
    except WeightsError:
        if spec:
            raise
    torch.manual_seed(0)
    model = build_model("seed", pretrained=False).eval()
    return Colorizer(model, "seed", {}, {}, name="seed-random"), "seed, random weights (no bundled model)"


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

def throughput(a, default, seed, eccv):
    rows = []
    g = torch.Generator().manual_seed(0)
    inputs = {b: torch.rand(b, 1, a.size, a.size, generator=g) * 100 for b in BATCHES}
    pic = photo(a.size, a.size, seed=1)

    def forward(model):
        def run(x):
            with torch.inference_mode():
                model(x)
        return run

    plans = [
        ("default", "network forward", forward(default.model), True),
        ("default", "forward + a,b decode (predict_ab)", default.predict_ab, True),
        ("default", "Colorizer.colorize, PIL in -> PIL out", None, False),
        ("seed", "network forward", forward(seed.model), True),
        ("seed", "Colorizer.colorize, PIL in -> PIL out", None, False),
        ("ECCV16", "network forward", forward(eccv), True),
    ]
    cols = {"default": default, "seed": seed}
    for model, what, fn, batched in plans:
        row = {"model": model, "what": what}
        for b in BATCHES:
            if fn is None and b != 1:
                continue
            if fn is None:
                col = cols[model]
                times = time_calls(lambda: col.colorize(pic), a.min_time, a.calls)
            else:
                x = inputs[b]
                times = time_calls(lambda: fn(x), a.min_time, a.calls)
            med = float(np.median(times))
            row[f"b{b}"] = {"images_per_s": b / med, "median_s": med, "min_s": float(min(times)), "calls": len(times)}
            print(f"  {model:8s} {what:40s} batch {b}: {b / med:8.2f} images/s  (median {med * 1000:.1f} ms over {len(times)} calls)",
                  file=sys.stderr, flush=True)
        rows.append(row)
    return rows


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
    col, label = load_default(a.model)
    col.colorize(photo(256, 192))  # warm-up: torch kernels, lookup tables
    rss_loaded, _ = memory_mb()
    times = []
    for _ in range(a.file_runs):
        t0 = time.perf_counter()
        out = col.colorize(src)
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

    L, alpha, notes = read_lightness(src)
    lap("decode + L*")
    small = resize_lightness(L, working_shape(*L.shape, 256))
    lap("resize to 256^2")
    ab = col.predict_ab(torch.from_numpy(small)[None, None])[0].cpu()
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
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", src, os.path.join(tmp, f"out_{mp}mp.jpg"),
                   "--file-runs", str(a.file_runs)]
            if a.model:
                cmd += ["--model", a.model]
            if a.threads:
                cmd += ["--threads", str(a.threads)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"  {mp} MP: worker failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            r.update(megapixels=mp, file_mb=os.path.getsize(src) / 1e6)
            print(f"  {mp} MP: {min(r['times']):.3f} s best, peak RSS {r['peak_rss_mb']:.0f} MB", file=sys.stderr, flush=True)
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
    default, default_label = load_default(a.model)
    seed, seed_label = load_seed(a.seed_model)
    torch.manual_seed(0)
    eccv = ECCV16().eval()
    shape = (1, 1, a.size, a.size)
    models = [("default", default_label, default.model), ("seed", seed_label, seed.model),
              ("ECCV16", "Zhang et al. 2016 (eccv16), random weights", eccv)]
    report["models"] = [{"model": k, "label": lab, "params": count_params(net), "macs": count_macs(net, shape)} for k, lab, net in models]

    if not a.no_networks:
        print(f"throughput at {a.size}x{a.size}:", file=sys.stderr)
        report["throughput"] = throughput(a, default, seed, eccv)
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
        print(f"## Throughput at {a.size}x{a.size}, images/s (median of >= {a.calls} calls and >= {a.min_time:g} s after warm-up)\n")
        print("| model | measured | batch 1 | batch 8 |\n|---|---|---|---|")
        for r in rows:
            cells = [f"{r[f'b{b}']['images_per_s']:.2f}" if f"b{b}" in r else "-" for b in BATCHES]
            print(f"| {r['model']} | {r['what']} | " + " | ".join(cells) + " |")
        print("\nRatios against ECCV16's network forward, measured in this run (higher: faster):\n")
        e1, e8 = ips(rows, "ECCV16", "network", 1), ips(rows, "ECCV16", "network", 8)
        ratios = {
            "default forward / ECCV16 forward, batch 1": ips(rows, "default", "network", 1) / e1,
            "default forward / ECCV16 forward, batch 8": ips(rows, "default", "network", 8) / e8,
            "default forward + decode / ECCV16 forward, batch 1": ips(rows, "default", "forward + a,b", 1) / e1,
            "default Colorizer.colorize end to end / ECCV16 forward alone, batch 1": ips(rows, "default", "Colorizer", 1) / e1,
            "seed forward / ECCV16 forward, batch 1": ips(rows, "seed", "network", 1) / e1,
            "seed Colorizer.colorize end to end / ECCV16 forward alone, batch 1": ips(rows, "seed", "Colorizer", 1) / e1,
        }
        report["ratios"] = ratios
        for k, v in ratios.items():
            print(f"- {k}: **{v:.1f}x**")
        print()
    if report.get("files"):
        print("## Large grayscale JPEG -> colour JPEG (quality 95), model loaded and warmed up, one fresh process per photo\n")
        stages = list(report["files"][0]["stages"])
        print("| photo | file | first run (s) | best run (s) | peak RSS (MB) | RSS after load (MB) | "
              + " | ".join(f"{s} (s)" for s in stages) + " |")
        print("|---" * (6 + len(stages)) + "|")
        for r in report["files"]:
            print(f"| {r['megapixels']} MP ({r['width']}x{r['height']}) | {r['file_mb']:.1f} MB | {r['times'][0]:.3f} | {min(r['times']):.3f} | "
                  f"{r['peak_rss_mb']:.0f} | {r['rss_after_load_mb']:.0f} | " + " | ".join(f"{r['stages'][s]:.3f}" for s in stages) + " |")
        print(f"\nModel: {report['files'][0]['label']}; times are wall seconds from the JPEG path to the written JPEG "
              "(Colorizer.colorize + save_image); the stages come from one extra run split by hand. "
              "Peak RSS is VmHWM of the whole process (Python, torch and the model included).")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
