"""Parity of the ONNX Runtime backend with PyTorch: the same photos colorized by both,
and the mean CIEDE2000 between the two outputs (the criterion: < 0.1 for fp32), on
validation squares and on full-size photos. With --int8 DIR, also a static int8 model
(onnxruntime.quantization: QDQ, per-channel weights, calibrated on photos from DIR, which
should not be the evaluation photos): its parity, its quality against the colour originals
beside fp32's, and the network's speed.

    python benchmarks/onnx_parity.py --val /work/shared/data/val --limit 100 \\
        --full /work/shared/data/val_full --full-limit 10
    python benchmarks/onnx_parity.py --val /work/shared/data/val --limit 100 --no-full \\
        --int8 /work/shared/data/train --calibration 64

Each photo is read as the pipeline reads it (its lightness; the colour original is the
truth for the quality columns), at the default options. Nothing is asserted: it prints a
Markdown table (and --json)."""
import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image

from colorizer import decoding
from colorizer.backends import load_backend
from colorizer.backends.onnxruntime import OrtBackend
from colorizer.colorizer import Colorizer
from colorizer.evaluation import PHOTO_EXTS
from colorizer.files import find_images
from colorizer.image_io import read_lightness
from colorizer.metrics import ciede2000
from colorizer.pipeline import to_working_size


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="bundled model name or .safetensors path (default: the bundled default)")
    p.add_argument("--val", required=True, help="folder of colour validation photos (data/val)")
    p.add_argument("--limit", type=int, default=0, help="first N photos of --val, sorted by name (default: all)")
    p.add_argument("--full", default=None, help="folder of full-size colour photos (data/val_full)")
    p.add_argument("--full-limit", type=int, default=10, help="first N photos of --full (default 10)")
    p.add_argument("--no-full", action="store_true", help="skip the full-size photos")
    p.add_argument("--int8", metavar="DIR", default=None, help="also quantize to int8, calibrated on photos from DIR")
    p.add_argument("--calibration", type=int, default=64, help="calibration photos drawn from --int8 DIR (default 64)")
    p.add_argument("--threads", type=int, default=0, help="torch (and ONNX Runtime) threads (default: torch's default)")
    p.add_argument("--json", help="also write the results to this JSON file")
    return p.parse_args(argv)


def colorizer_from(loaded):
    default, decoders = decoding.for_model(loaded.info, loaded.extra, loaded.backend.outputs)
    return Colorizer(loaded.backend, decoders, default, loaded.extra, loaded.info, name=loaded.name, arch=loaded.arch)


def rgb(img):
    return np.asarray(img.convert("RGB"), dtype=np.float64) / 255.0


def compare(paths, reference, others):
    """Per photo: CIEDE2000 of each of `others` (name -> Colorizer) against `reference`'s
    output, the largest difference in 8-bit levels, and each one's CIEDE2000 to the truth."""
    rows = []
    for i, path in enumerate(paths):
        truth = rgb(Image.open(path))
        ref = rgb(reference.colorize(path).image)
        row = {"photo": os.path.basename(path), "ref_to_truth": ciede2000(ref, truth)}
        for name, col in others.items():
            out = rgb(col.colorize(path).image)
            levels = int(np.abs(np.round(out * 255) - np.round(ref * 255)).max())
            row[name] = {"to_ref": ciede2000(out, ref), "max_levels": levels, "to_truth": ciede2000(out, truth)}
        rows.append(row)
        if (i + 1) % 25 == 0 or i + 1 == len(paths):
            print(f"  {i + 1}/{len(paths)}", file=sys.stderr, flush=True)
    return rows


def summary(rows, name):
    to_ref = np.array([r[name]["to_ref"] for r in rows])
    return {"photos": len(rows), "mean_ciede2000_to_torch": float(to_ref.mean()), "max_ciede2000_to_torch": float(to_ref.max()),
            "max_levels": int(max(r[name]["max_levels"] for r in rows)),
            "mean_ciede2000_to_truth": float(np.mean([r[name]["to_truth"] for r in rows])),
            "torch_mean_ciede2000_to_truth": float(np.mean([r["ref_to_truth"] for r in rows]))}


def quantize(fp32_path, calibration_paths, out_path):
    """Static int8 (QDQ, per-channel weights, uint8 activations, min-max calibration)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Photos(CalibrationDataReader):
        def __init__(self):
            self.paths = iter(calibration_paths)

        def get_next(self):
            path = next(self.paths, None)
            if path is None:
                return None
            L = read_lightness(path)[0]
            return {"L": to_working_size(L, 256).numpy()}

    pre = out_path + ".pre.onnx"
    quant_pre_process(fp32_path, pre, skip_symbolic_shape=True)
    quantize_static(pre, out_path, Photos(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    os.unlink(pre)


def network_ms(backend, calls=20):
    x = torch.rand(1, 1, 256, 256, generator=torch.Generator().manual_seed(0)) * 100
    for _ in range(3):
        backend(x)
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        backend(x)
        times.append(time.perf_counter() - t)
    return float(np.median(times)) * 1000


def main(argv=None):
    a = parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    reference = Colorizer.load(a.model, device="cpu", backend="torch")  # PyTorch, whatever the default backend is
    fp32 = load_backend(a.model, "onnxruntime")
    others = {"onnxruntime fp32": colorizer_from(fp32)}
    report = {"model": reference.name, "threads": torch.get_num_threads(), "sets": {}}
    tmp = tempfile.TemporaryDirectory(prefix="colorizer-int8-")
    if a.int8:
        pool = find_images(a.int8, PHOTO_EXTS)
        rng = np.random.default_rng(0)
        calibration = [pool[i] for i in rng.choice(len(pool), min(a.calibration, len(pool)), replace=False)]
        int8_path = os.path.join(tmp.name, "int8.onnx")
        t = time.perf_counter()
        quantize(fp32.path, calibration, int8_path)
        print(f"int8: quantized in {time.perf_counter() - t:.0f} s on {len(calibration)} photos from {a.int8}", file=sys.stderr)
        int8 = OrtBackend.load(int8_path, fp32.name)
        others["onnxruntime int8"] = colorizer_from(int8)
        report["network_ms_256"] = {"torch": network_ms(reference.backend), "onnxruntime fp32": network_ms(fp32.backend),
                                    "onnxruntime int8": network_ms(int8.backend)}
        report["onnx_mb"] = {"fp32": os.path.getsize(fp32.path) / 1e6, "int8": os.path.getsize(int8_path) / 1e6}
    sets = [("val", a.val, a.limit)]
    if a.full and not a.no_full:
        sets.append(("full size", a.full, a.full_limit))
    for label, folder, limit in sets:
        paths = find_images(folder, PHOTO_EXTS)
        paths = paths[:limit] if limit else paths
        print(f"{label}: {len(paths)} photos from {folder}", file=sys.stderr)
        rows = compare(paths, reference, others)
        report["sets"][label] = {"folder": folder, **{name: summary(rows, name) for name in others}}
    tmp.cleanup()

    print(f"# ONNX Runtime vs PyTorch: {reference.name}, {report['threads']} threads\n")
    print("| photos | backend | photos compared | mean CIEDE2000 to PyTorch's output | worst photo | largest difference "
          "(8-bit levels) | mean CIEDE2000 to the truth (PyTorch's) |")
    print("|---|---|---|---|---|---|---|")
    for label, s in report["sets"].items():
        for name in others:
            r = s[name]
            print(f"| {label} ({s['folder']}) | {name} | {r['photos']} | **{r['mean_ciede2000_to_torch']:.5f}** | "
                  f"{r['max_ciede2000_to_torch']:.5f} | {r['max_levels']} | {r['mean_ciede2000_to_truth']:.3f} "
                  f"({r['torch_mean_ciede2000_to_truth']:.3f}) |")
    if "network_ms_256" in report:
        print("\nThe network alone at 256x256, batch 1, median ms: "
              + ", ".join(f"{k} {v:.1f}" for k, v in report["network_ms_256"].items())
              + f"; ONNX files: fp32 {report['onnx_mb']['fp32']:.1f} MB, int8 {report['onnx_mb']['int8']:.1f} MB.")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
