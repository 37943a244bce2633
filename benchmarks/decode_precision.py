"""Min-risk decoding's risk product in bfloat16 against float32: how far the outputs move
and how much faster the decoding is on this machine.

The risk product (per block of pixels, the class distribution times the Q x Q matrix of
CIEDE2000 between the colour classes) is the decoding's one big matrix product. On a CPU
with Intel AMX (AMX-BF16) the default (precision "auto") runs it in bfloat16; elsewhere in
float32. This script runs both on any machine (bfloat16 is slow without AMX: its timing
then says why "auto" does not choose it) and prints:

  1. the mean CIEDE2000 between the two outputs (whole pipeline, default options) on
     validation squares and full-size photos, the worst photo, the largest difference in
     8-bit levels, and each one's mean CIEDE2000 to the colour original;
  2. the decoding alone at 256x256 (block scores for 64x64 blocks), median ms of each
     precision, for scores in channels-last memory (what the ONNX Runtime backend gives)
     and in (Q, h, w) (PyTorch's), measured alternately in the same run.

    python benchmarks/decode_precision.py --val /work/shared/data/val \\
        --full /work/shared/data/val_full --full-limit 20

Nothing is asserted: it prints a Markdown table (and --json)."""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from PIL import Image

from colorizer.colorizer import Colorizer
from colorizer.decoding.min_risk import MinRisk, bfloat16_is_fast
from colorizer.evaluation import PHOTO_EXTS
from colorizer.files import find_images
from colorizer.metrics import ciede2000
from onnx_parity import rgb


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="bundled model name or .safetensors path (default: the bundled default)")
    p.add_argument("--val", required=True, help="folder of colour validation photos (data/val)")
    p.add_argument("--limit", type=int, default=0, help="first N photos of --val, sorted by name (default: all)")
    p.add_argument("--full", default=None, help="folder of full-size colour photos (data/val_full)")
    p.add_argument("--full-limit", type=int, default=20, help="first N photos of --full (default 20)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's default)")
    p.add_argument("--calls", type=int, default=50, help="timed decodings per precision and round (default 50)")
    p.add_argument("--json", help="also write the results to this JSON file")
    return p.parse_args(argv)


def compare(colorizer, decoder, paths):
    """Per photo: the float32 and bfloat16 outputs' CIEDE2000 to each other and to the truth."""
    rows = []
    for i, path in enumerate(paths):
        truth = rgb(Image.open(path))
        out = {}
        for precision in ("float32", "bfloat16"):
            decoder.precision = precision
            out[precision] = rgb(colorizer.colorize(path).image)
        f32, b16 = out["float32"], out["bfloat16"]
        rows.append({"photo": os.path.basename(path), "between": ciede2000(b16, f32),
                     "max_levels": int(np.abs(np.round(b16 * 255) - np.round(f32 * 255)).max()),
                     "float32_to_truth": ciede2000(f32, truth), "bfloat16_to_truth": ciede2000(b16, truth)})
        if (i + 1) % 100 == 0 or i + 1 == len(paths):
            print(f"  {i + 1}/{len(paths)}", file=sys.stderr, flush=True)
    decoder.precision = "auto"
    return rows


def summary(rows):
    between = np.array([r["between"] for r in rows])
    return {"photos": len(rows), "mean_between": float(between.mean()), "max_between": float(between.max()),
            "max_levels": max(r["max_levels"] for r in rows),
            "float32_to_truth": float(np.mean([r["float32_to_truth"] for r in rows])),
            "bfloat16_to_truth": float(np.mean([r["bfloat16_to_truth"] for r in rows]))}


def decode_ms(decoder, calls, rounds=5):
    """Median ms of the decoding at 256x256 (64x64 blocks of scores), for each precision and
    each layout of the scores: channels-last (what the ONNX Runtime backend gives, a row per
    block) and (Q, h, w) (PyTorch's, a column per block), all in turn, rounds times."""
    g = torch.Generator().manual_seed(0)
    columns = torch.randn(1, len(decoder.bins), 64, 64, generator=g) * 3
    layouts = {"channels-last": columns.contiguous(memory_format=torch.channels_last), "(Q, h, w)": columns}
    times = {(layout, precision): [] for layout in layouts for precision in ("float32", "bfloat16")}
    for _ in range(rounds):
        for layout, precision in times:
            decoder.precision = precision
            scores = {"logits_pool2": layouts[layout]}
            for _ in range(3):
                decoder(scores, 0.8)
            for _ in range(calls):
                t = time.perf_counter()
                decoder(scores, 0.8)
                times[layout, precision].append(time.perf_counter() - t)
    decoder.precision = "auto"
    return {f"{layout}, {precision}": float(np.median(v)) * 1000 for (layout, precision), v in times.items()}


def main(argv=None):
    a = parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    colorizer = Colorizer.load(a.model)
    decoder = colorizer.decoders.get(colorizer.default_decoding)
    if not isinstance(decoder, MinRisk):
        print(f"{colorizer.name} does not decode by min-risk: nothing to compare", file=sys.stderr)
        return 1
    report = {"model": colorizer.name, "backend": colorizer.backend.name, "threads": torch.get_num_threads(),
              "auto_uses": "bfloat16" if bfloat16_is_fast("cpu") else "float32", "sets": {}}
    report["decode_ms_256"] = decode_ms(decoder, a.calls)
    sets = [("val", a.val, a.limit)] + ([("full size", a.full, a.full_limit)] if a.full else [])
    for label, folder, limit in sets:
        paths = find_images(folder, PHOTO_EXTS)
        paths = paths[:limit] if limit else paths
        print(f"{label}: {len(paths)} photos from {folder}", file=sys.stderr)
        report["sets"][label] = {"folder": folder, **summary(compare(colorizer, decoder, paths))}

    ms = report["decode_ms_256"]
    print(f"# Min-risk's risk product: bfloat16 vs float32 ({report['model']}, {report['backend']} backend, "
          f"{report['threads']} threads)\n")
    print(f"On this machine precision \"auto\" uses **{report['auto_uses']}**. The decoding alone at 256x256 "
          "(64x64 blocks), median ms:\n")
    print("| scores | float32 | bfloat16 | float32 / bfloat16 |")
    print("|---|---|---|---|")
    for layout in ("channels-last", "(Q, h, w)"):
        f32, b16 = ms[f"{layout}, float32"], ms[f"{layout}, bfloat16"]
        print(f"| {layout} | {f32:.2f} | {b16:.2f} | **{f32 / b16:.2f}x** |")
    print()
    print("| photos | photos compared | mean CIEDE2000 between the outputs | worst photo | largest difference "
          "(8-bit levels) | mean CIEDE2000 to the truth, float32 | bfloat16 |")
    print("|---|---|---|---|---|---|---|")
    for label, s in report["sets"].items():
        print(f"| {label} ({s['folder']}) | {s['photos']} | **{s['mean_between']:.4f}** | {s['max_between']:.4f} | "
              f"{s['max_levels']} | {s['float32_to_truth']:.3f} | {s['bfloat16_to_truth']:.3f} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
