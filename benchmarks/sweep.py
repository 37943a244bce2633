"""Sweep the decoding of a classification model on validation photos: decoding rule
(colorizer.decoding: annealed-mean, T = 1 - vibrance; min-risk, T = 1 - 0.75 vibrance)
x vibrance x blend (annealed-mean: how much uncertain pixels lean on the regression head)
x risk pool (min-risk: block size of the risk computation) x the chroma curve's reference
c (gamma fixed per run), at one set of scales (the network's input sizes, as fractions of
the photo's, whose decoded a,b are averaged). The curve and the scales are research
settings, not the product's: see benchmarks/research_decoding.py (which also says how
multi-scale annealed-mean rows with a blend differ from the old product code's). The
network runs once per batch and scale; every setting decodes the same outputs. Prints a
Markdown table (PSNR, CIEDE2000, CF, |dCF| of the means and per photo, from
colorizer.metrics.Scores) with the seed and gray rows for reference.

    python benchmarks/sweep.py --data ../shared/data/val --model unet --limit 300
    python benchmarks/sweep.py --data ../shared/data/val --model unet --limit 600 --vibrance 0.62 \
        --blend 2 --curve-ref 17 20 23 --curve-gamma 1 --scales 1 0.5
    python benchmarks/sweep.py --data ../shared/data/val --model unet --limit 0 --rule min-risk \
        --vibrance 0.4 0.5 0.6 0.7 --blend 0
"""
import argparse
import sys
import time

import torch

import research_decoding
from colorizer import Colorizer
from colorizer.decoding import DECODERS, AnnealedMean, MinRisk
from colorizer.evaluation import load_photos
from colorizer.lab import lab_to_rgb, lightness_to_gray, rgb_to_lab
from colorizer.merge import upsample_ab
from colorizer.metrics import Scores

CLASS_RULES = tuple(name for name, cls in DECODERS.items() if cls.needs == "logits")
METRICS = ("psnr", "ciede2000", "cf")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", default="unet")
    ap.add_argument("--baseline", default="seed", help="regression model shown for reference ('' for none)")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--limit", type=int, default=300)
    ap.add_argument("--rule", nargs="+", choices=CLASS_RULES, default=["annealed-mean"], help="decoding rule(s)")
    ap.add_argument("--risk-pool", type=int, nargs="+", default=[2], help="min-risk: block size(s) of the risk computation")
    ap.add_argument("--vibrance", type=float, nargs="+", default=[0.0, 0.3, 0.5, 0.62, 0.7, 0.8])
    ap.add_argument("--blend", type=float, nargs="+", default=[0.0, 1.0, 2.0, 4.0])
    ap.add_argument("--curve-ref", type=float, nargs="+", default=[0.0], help="chroma curve references c (0: no curve)")
    ap.add_argument("--curve-gamma", type=float, default=1.0, help="chroma curve exponent at the default vibrance")
    ap.add_argument("--scales", type=float, nargs="+", default=[1.0], help="input scales averaged (first must be 1)")
    ap.add_argument("--batch", type=int, default=16)
    a = ap.parse_args(argv)
    if a.scales[0] != 1.0:
        ap.error(f"--scales must start with 1, not {a.scales[0]:g}")
    return ap, a


def settings(a, extra):
    """[(row name, decoder, vibrance, curve or None)] for every combination asked for;
    blend is for annealed-mean only (min-risk rows take blend 0), pool for min-risk only."""
    rows = []
    for rule in a.rule:
        for v in a.vibrance:
            for b in a.blend:
                if rule == "min-risk" and b != 0:
                    continue
                for c in a.curve_ref:
                    for k in (a.risk_pool if rule == "min-risk" else [None]):
                        rows.append((rule, v, b, c, k))
    decoders = {}  # one decoder per (rule, blend, pool): min-risk's CIEDE2000 matrix is made once
    out = []
    for rule, v, b, c, k in rows:
        key = (rule, b, k)
        if key not in decoders:
            decoders[key] = (MinRisk(extra["bins"], extra.get("class_weights"), pool=k) if rule == "min-risk"
                             else AnnealedMean(extra["bins"], blend=b))
        name = (f"{rule} v={v}" + (f" blend={b}" if rule == "annealed-mean" else f" pool={k}")
                + (f" curve=({c}, {a.curve_gamma})" if c else ""))
        out.append((name, decoders[key], v, (c, a.curve_gamma) if c else None))
    return out


def to_uint8(rgb):
    """RGB (B, 3, H, W) in [0, 1] -> uint8 (B, H, W, 3)."""
    return rgb.clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def to_rgb(L, ab):
    """L (B, 1, H, W) and a,b (B, 2, h, w) -> uint8 RGB (B, H, W, 3), a,b upsampled bilinearly."""
    return to_uint8(lab_to_rgb(torch.cat([L, upsample_ab(ab, L.shape[-2:])], 1)))


def main(argv=None):
    ap, a = parse_args(argv)
    col = Colorizer.load(a.model, device="cpu")
    if not col.predicts_classes:
        ap.error(f"{a.model} predicts no colour classes: there is no decoding to sweep")
    try:
        rows = settings(a, col.extra)
    except ValueError as e:  # a decoder setting out of range, e.g. --risk-pool 9
        ap.error(str(e))
    base = Colorizer.load(a.baseline, device="cpu") if a.baseline else None
    names, arr = load_photos(a.data, a.size, a.limit)
    rgb = torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 255.0
    L = rgb_to_lab(rgb)[:, :1]
    keys = [name for name, *_ in rows] + (["seed"] if base else []) + ["gray"]
    scores = {k: Scores(METRICS) for k in keys}
    t0 = time.time()
    with torch.inference_mode():
        for s in range(0, len(arr), a.batch):
            Lb, truth = L[s:s + a.batch], arr[s:s + a.batch]
            outs = research_decoding.multi_scale_outputs(col.backend, Lb, a.scales)
            for name, decoder, v, curve in rows:
                scores[name].add(to_rgb(Lb, research_decoding.decode(decoder, outs, v, curve)), truth)
            if base:
                scores["seed"].add(to_rgb(Lb, base.predict_ab(Lb)), truth)
            scores["gray"].add(to_uint8(lightness_to_gray(Lb).expand(-1, 3, -1, -1)), truth)
            print(f"{s + len(Lb)}/{len(arr)} photos, {time.time() - t0:.0f} s", file=sys.stderr)
    summaries = {k: sc.summary() for k, sc in scores.items()}
    cft = summaries["gray"]["cf_true"]
    print(f"\n{len(arr)} photos from {a.data} at {a.size}x{a.size}; model {a.model}; scales {a.scales}; truth CF {cft:.1f}\n")
    print("| setting | T | PSNR (dB) | CIEDE2000 | CF | CF / truth | abs dCF | per-photo abs dCF |")
    print("|---|---|---|---|---|---|---|---|")
    temps = {name: f"{decoder.temperature(v):.2f}" for name, decoder, v, _ in rows}
    for key in keys:
        m = summaries[key]
        print(f"| {key} | {temps.get(key, '-')} | {m['psnr']:.2f} | {m['ciede2000']:.2f} | {m['cf']:.1f} | "
              f"{m['cf'] / cft:.2f} | {m['dcf']:.1f} | {m['photo_dcf']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
