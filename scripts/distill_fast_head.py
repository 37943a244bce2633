"""Give a U-Net a fast head (colorizer.networks.FastHead), trained to copy its own
stride-2 stage: the rest of the network is frozen and unchanged, so every other output
(the full-resolution scores, a,b, hint keys) stays exactly what it was; plain
colorization then reads the fast head's scores (bins.FAST_LOGITS) and skips the
network's costliest stage.

    python scripts/distill_fast_head.py default --data ../shared/data/train --val ../shared/data/val \\
        --epochs 3 --out runs/fast

Loss: the KL divergence from the full head's class distribution to the fast head's, as
min-risk decoding sees them (the scores over 2x2 blocks, softened by the decoding
temperatures of vibrance 0.8 and 0, either side of the default 0.62, the class
rebalancing undone),
on random 160-px crops and flips of the training photos, no hints. Writes
OUT/epochN.safetensors after each epoch and OUT/model.safetensors at the end (the
model's config with fast_head=True; everything else as the input model's). Prints the
validation loss and the mean CIEDE2000 between the two heads' min-risk colours on
--val-limit validation photos at the default vibrance after each epoch (the numbers to choose a file
by).
"""
import argparse
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from skimage.color import deltaE_ciede2000

from colorizer.bins import FAST_LOGITS, POOLED_LOGITS
from colorizer.bundled import resolve_model
from colorizer.decoding.min_risk import MinRisk
from colorizer.model_files import read_model_file, write_model_file
from colorizer.networks import build_model
from colorizer.options import OPTIONS
from colorizer.training.data import PhotoSet, lab_crops
from colorizer.training.loop import autocast_for

DEFAULT_VIBRANCE = OPTIONS["vibrance"].default
VIBRANCES = (0.8, 0.0)  # vivid and none (T = 0.4 and 1), around the default 0.62: the head must hold at all


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="a U-Net model file or bundled name (default, unet)")
    p.add_argument("--data", required=True, help="training photos (a folder, read recursively)")
    p.add_argument("--val", required=True, help="validation photos")
    p.add_argument("--val-limit", type=int, default=200, help="validation photos used (default 200)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, default=160, help="crop size (default 160)")
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (AdamW; cosine decay) (default 2e-3)")
    p.add_argument("--warmup", type=int, default=100, help="steps of linear warm-up (default 100)")
    p.add_argument("--limit", type=int, default=None, help="training photos used, at most (default all)")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def load(model):
    arch, config, info, state, extra = read_model_file(resolve_model(model)[0])
    if arch != "unet":
        raise SystemExit(f"{model}: not a U-Net ({arch})")
    config = {**config, "fast_head": True}
    net = build_model(arch, pretrained=False, **config)
    missing, unexpected = net.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
    if unexpected or any(not k.startswith("fast_head.") for k in missing):
        raise SystemExit(f"{model}: weights do not fit ({missing[:3]} {unexpected[:3]})")
    for name, p in net.named_parameters():
        p.requires_grad_(name.startswith("fast_head."))
    return net.eval(), arch, config, info, state, extra


def distributions(logits, log_w, T):
    return F.log_softmax(logits.float() / T - log_w[:, None, None], dim=1)


def loss_fn(student, teacher, log_w):
    total = 0.0
    for v in VIBRANCES:
        T = MinRisk.temperature(v)
        lp_t, lp_s = distributions(teacher, log_w, T), distributions(student, log_w, T)
        total = total + (lp_t.exp() * (lp_t - lp_s)).sum(1).mean()
    return total


@torch.no_grad()
def validate(net, photos, decoder, log_w, autocast):
    losses, diffs = [], []
    for i in range(0, len(photos), 32):
        lab = photos.batch(range(i, min(i + 32, len(photos))), None, augment=False)
        with torch.autocast(**autocast):
            out = net(lab[:, :1], outputs=(POOLED_LOGITS, FAST_LOGITS))
        t, s = out[POOLED_LOGITS].float(), out[FAST_LOGITS].float()
        losses.append(float(loss_fn(s, t, log_w)))
        ab_t = decoder({POOLED_LOGITS: t}, DEFAULT_VIBRANCE)
        ab_s = decoder({POOLED_LOGITS: s}, DEFAULT_VIBRANCE)
        L = F.avg_pool2d(lab[:, :1], 2)  # the decoded colours are at half the input size
        lab_t = torch.cat([L, ab_t], 1).permute(0, 2, 3, 1).numpy()
        lab_s = torch.cat([L, ab_s], 1).permute(0, 2, 3, 1).numpy()
        diffs.append(float(deltaE_ciede2000(lab_t, lab_s).mean()))
    return float(np.mean(losses)), float(np.mean(diffs))


def main(argv=None):
    a = parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    net, arch, config, info, state, extra = load(a.model)
    autocast = autocast_for(torch.device("cpu"))
    log_w = extra["class_weights"].float().clamp(min=1e-12).log()
    decoder = MinRisk(extra["bins"], extra["class_weights"])
    os.makedirs(a.out, exist_ok=True)
    train = PhotoSet(a.data, a.size, workers=a.workers, limit=a.limit)
    val = PhotoSet(a.val, a.size, workers=a.workers, limit=a.val_limit)
    print(f"{len(train)} training photos, {len(val)} validation photos; bf16 autocast: {autocast['enabled']}",
          flush=True)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=1e-4)
    steps_per_epoch = len(train) // a.batch
    total = a.epochs * steps_per_epoch
    rng = np.random.default_rng(a.seed)
    vl, vd = validate(net, val, decoder, log_w, autocast)
    print(f"before: val loss {vl:.4f}, CIEDE2000 between heads {vd:.3f}", flush=True)
    step, t0 = 0, time.time()
    for epoch in range(1, a.epochs + 1):
        order = rng.permutation(len(train))
        run = []
        for k in range(steps_per_epoch):
            lr = a.lr * min(1.0, (step + 1) / max(1, a.warmup)) * 0.5 * (1 + math.cos(math.pi * step / total))
            for g in opt.param_groups:
                g["lr"] = lr
            lab = lab_crops([train.images[i] for i in order[k * a.batch:(k + 1) * a.batch]], a.size, rng)
            with torch.autocast(**autocast):
                out = net(lab[:, :1], outputs=(POOLED_LOGITS, FAST_LOGITS))
            loss = loss_fn(out[FAST_LOGITS], out[POOLED_LOGITS].detach(), log_w)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            run.append(loss.item())
            step += 1
            if step % 100 == 0:
                print(f"epoch {epoch} step {step}/{total} loss {np.mean(run[-100:]):.4f} lr {lr:.2e} "
                      f"{step * a.batch / (time.time() - t0):.1f} img/s", flush=True)
        vl, vd = validate(net, val, decoder, log_w, autocast)
        print(f"epoch {epoch}: val loss {vl:.4f}, CIEDE2000 between heads {vd:.3f}", flush=True)
        new_state = {**{k: v.float() for k, v in state.items()},
                     **{k: v.detach().clone() for k, v in net.state_dict().items() if k.startswith("fast_head.")}}
        write_model_file(os.path.join(a.out, f"epoch{epoch}.safetensors"), arch, config, new_state, extra,
                         info={**info, "fast_head": f"distilled {epoch} epochs"})
    os.replace(os.path.join(a.out, f"epoch{a.epochs}.safetensors"), os.path.join(a.out, "model.safetensors"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
