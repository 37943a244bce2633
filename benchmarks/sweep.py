"""Sweep the decoding of a classification model on validation photos: decoding rule
(annealed-mean, T = 1 - vibrance; min-risk, T = 1 - 0.75 vibrance) x vibrance x blend (how much uncertain pixels lean on
the regression head) x the chroma curve's reference c (gamma fixed per run; see
colorizer.pipeline.decode_ab), at one set of scales (the network's input sizes, as
fractions of the photo's, whose outputs are averaged). The network runs once per batch
and scale; every setting decodes the same outputs. Prints a Markdown table (PSNR,
CIEDE2000, CF, |dCF| of the means and per photo) with the seed and gray rows for
reference.

    python benchmarks/sweep.py --data ../shared/data/val --model unet --limit 300
    python benchmarks/sweep.py --data ../shared/data/val --model unet --limit 600 --vibrance 0.62 \
        --blend 2 --curve-ref 17 20 23 --curve-gamma 1 --scales 1 0.5
    python benchmarks/sweep.py --data ../shared/data/val --model unet --limit 0 --rule min-risk \
        --vibrance 0.4 0.5 0.6 0.7 --blend 0
"""
import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from colorizer.color import lab_to_rgb, lightness_to_gray, rgb_to_lab  # noqa: E402
from colorizer.evaluate import load_photos  # noqa: E402
from colorizer.metrics import ciede2000, colorfulness, delta_colorfulness, per_photo_delta_colorfulness, psnr  # noqa: E402
from colorizer.pipeline import RULES, Colorizer, decode_ab, network_outputs, vibrance_to_temperature  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", default="unet")
    ap.add_argument("--baseline", default="seed", help="regression model shown for reference ('' for none)")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--limit", type=int, default=300)
    ap.add_argument("--rule", nargs="+", choices=RULES, default=["annealed-mean"], help="decoding rule(s)")
    ap.add_argument("--risk-pool", type=int, nargs="+", default=[2], help="min-risk: block size(s) of the risk computation")
    ap.add_argument("--vibrance", type=float, nargs="+", default=[0.0, 0.3, 0.5, 0.62, 0.7, 0.8])
    ap.add_argument("--blend", type=float, nargs="+", default=[0.0, 1.0, 2.0, 4.0])
    ap.add_argument("--curve-ref", type=float, nargs="+", default=[0.0], help="chroma curve references c (0: no curve)")
    ap.add_argument("--curve-gamma", type=float, default=1.0, help="chroma curve exponent at the default vibrance")
    ap.add_argument("--scales", type=float, nargs="+", default=[1.0], help="input scales averaged (first must be 1)")
    ap.add_argument("--batch", type=int, default=16)
    a = ap.parse_args()

    names, arr = load_photos(a.data, a.size, a.limit)
    truth = arr.astype(np.float32) / 255.0
    rgb = torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 255.0
    L = rgb_to_lab(rgb)[:, :1]
    col = Colorizer.load(a.model, device="cpu")
    base = Colorizer.load(a.baseline, device="cpu") if a.baseline else None
    # blend is for annealed-mean only (min-risk takes blend 0)
    settings = [(r, v, b, c, k) for r in a.rule for v in a.vibrance for b in a.blend for c in a.curve_ref
                for k in (a.risk_pool if r == "min-risk" else [None]) if r == "annealed-mean" or b == 0]
    keys = [f"{r} v={v}" + (f" blend={b}" if r == "annealed-mean" else f" pool={k}")
            + (f" curve=({c}, {a.curve_gamma})" if c else "") for r, v, b, c, k in settings] + (["seed"] if base else []) + ["gray"]
    acc = {k: {"psnr": [], "ciede2000": [], "cf": []} for k in keys}
    cf_true = [colorfulness(t) for t in truth]
    t0 = time.time()

    def add(key, pred, s):
        p = pred.clamp(0, 1).mul(255).round().div(255).permute(0, 2, 3, 1).numpy()
        for j, x in enumerate(p):
            t = truth[s + j]
            acc[key]["psnr"].append(psnr(x, t))
            acc[key]["ciede2000"].append(ciede2000(x, t))
            acc[key]["cf"].append(colorfulness(x))

    with torch.inference_mode():
        for s in range(0, len(arr), a.batch):
            Lb = L[s:s + a.batch]
            outs = network_outputs(col.model, Lb, a.scales)
            for (r, v, b, c, k), key in zip(settings, keys):
                ab = decode_ab(outs, col.extra, vibrance=v, size=Lb.shape[-2:], blend=b,
                               curve=(c, a.curve_gamma) if c else None, rule=r, risk_pool=k)
                add(key, lab_to_rgb(torch.cat([Lb, ab], 1)), s)
            if base:
                ab = F.interpolate(base.predict_ab(Lb), size=Lb.shape[-2:], mode="bilinear", align_corners=False)
                add("seed", lab_to_rgb(torch.cat([Lb, ab], 1)), s)
            add("gray", lightness_to_gray(Lb).expand(-1, 3, -1, -1), s)
            print(f"{s + len(Lb)}/{len(arr)} photos, {time.time() - t0:.0f} s", file=sys.stderr)
    cft = float(np.mean(cf_true))
    print(f"\n{len(arr)} photos from {a.data} at {a.size}x{a.size}; model {a.model}; scales {a.scales}; truth CF {cft:.1f}\n")
    print("| setting | T | PSNR (dB) | CIEDE2000 | CF | CF / truth | abs dCF | per-photo abs dCF |")
    print("|---|---|---|---|---|---|---|---|")
    temps = {key: f"{vibrance_to_temperature(v, r):.2f}" for (r, v, b, c, k), key in zip(settings, keys)}
    for key in keys:
        m = acc[key]
        cf = np.array(m["cf"])
        T = temps.get(key, "-")
        print(f"| {key} | {T} | {np.mean(m['psnr']):.2f} | {np.mean(m['ciede2000']):.2f} | {cf.mean():.1f} | "
              f"{cf.mean() / cft:.2f} | {delta_colorfulness(cf, cf_true):.1f} | {per_photo_delta_colorfulness(cf, cf_true):.1f} |")


if __name__ == "__main__":
    main()
