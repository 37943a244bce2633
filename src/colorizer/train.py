"""Training loop: preloaded photos, random crops and flips, atomic checkpoints every
epoch and every few minutes, exact resume, validation metrics and image grids."""
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from . import bins as B
from .checkpoint import load_train_checkpoint, read_model_file, save_model, save_train_state
from .data import PhotoSet
from .models import AB_SCALE, build_model

DEFAULTS = dict(
    arch="unet", size=256, batch=16, epochs=100.0, lr=None, seed=0, workers=2, threads=0,
    lam=0.5, reg_weight=10.0, ckpt_minutes=5.0, max_minutes=0.0, limit=0, val_limit=200,
    min_chroma=3.0, warmup=200, pretrained=True, model_config=None, vibrance=None,
    reg_loss="mse", init=None,
)
REG_LOSSES = ("mse", "l1")
DEFAULT_LR = {"seed": 1e-3, "unet": 3e-4}


def cpu_has_fast_bf16():
    """bf16 autocast only pays off on CPUs with native bf16 (AVX512-BF16 or AMX);
    elsewhere it is emulated and many times slower than fp32."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
        return "avx512_bf16" in flags or "amx_bf16" in flags
    except OSError:
        return False


def autocast_for(device):
    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return dict(device_type="cuda", dtype=dtype, enabled=True)
    return dict(device_type="cpu", dtype=torch.bfloat16, enabled=cpu_has_fast_bf16())


def class_counts(photos, bins, stride=4):
    """Histogram of the training photos' a,b over the colour bins."""
    counts = torch.zeros(len(bins), dtype=torch.float64)
    rng = np.random.default_rng(0)
    for start in range(0, len(photos), 256):
        lab = photos.batch(range(start, min(start + 256, len(photos))), rng, augment=False)
        ab = lab[:, 1:, ::stride, ::stride]
        idx = B.nearest_bin(ab, bins).flatten()
        counts += torch.bincount(idx, minlength=len(bins)).double()
    return counts


def compute_loss(arch, out, ab, extra, reg_weight, reg_loss="mse"):
    """ab: true a,b at full training size. Returns (loss, parts). The a,b regression is
    MSE (the baseline's loss: the mean of the plausible colours, dull) or L1 (their
    per-channel median: less dull, and closer to what CIEDE2000 measures)."""
    h, w = out["ab"].shape[-2:] if "ab" in out else out["logits"].shape[-2:]
    ab_t = F.adaptive_avg_pool2d(ab, (h, w))
    parts = {}
    if "logits" in out:
        parts["ce"] = B.soft_cross_entropy(out["logits"], ab_t, extra["bins"], extra["class_weights"]).mean()
    if "ab" in out:
        if reg_loss not in REG_LOSSES:
            raise ValueError(f"unknown regression loss {reg_loss!r} (choose from {', '.join(REG_LOSSES)})")
        err = (F.mse_loss if reg_loss == "mse" else F.l1_loss)(out["ab"] / AB_SCALE, ab_t / AB_SCALE)
        parts[reg_loss] = err * (reg_weight if "logits" in out else 1.0)
    return sum(parts.values()), parts


def lr_at(step, total, base, warmup):
    if step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def _grid_png(path, L, pred_rgb, true_rgb, n=8):
    from PIL import Image
    from .color import lab_to_rgb
    gray = lab_to_rgb(torch.cat([L, torch.zeros_like(L), torch.zeros_like(L)], 1))
    rows = []
    for i in range(min(n, L.shape[0])):
        rows.append(torch.cat([gray[i], pred_rgb[i], true_rgb[i]], dim=2))
    img = torch.cat(rows, dim=1).permute(1, 2, 0).clamp(0, 1).mul(255).round().byte().numpy()
    from .checkpoint import atomic_write
    atomic_write(path, lambda tmp: Image.fromarray(img).save(tmp, format="PNG"))


@torch.no_grad()
def validate(model, arch, extra, val, device, vibrance=None, batch=32, grid_path=None):
    """Metrics at training size on centre crops of the validation photos."""
    from .color import lab_to_rgb
    from .metrics import colorfulness, delta_colorfulness, per_photo_delta_colorfulness, psnr
    from .pipeline import decode_ab
    model.eval()
    rng = np.random.default_rng(0)
    res = {"psnr": [], "psnr_gray": [], "cf": [], "cf_true": []}
    first = None
    for start in range(0, len(val), batch):
        lab = val.batch(range(start, min(start + batch, len(val))), rng, augment=False).to(device)
        L = lab[:, :1]
        ab = decode_ab(model(L), extra, vibrance=vibrance, size=L.shape[-2:])
        pred = lab_to_rgb(torch.cat([L, ab], 1)).cpu()
        true = lab_to_rgb(lab).cpu()
        gray = lab_to_rgb(torch.cat([L, torch.zeros_like(ab)], 1)).cpu()
        for p, t, g in zip(pred.permute(0, 2, 3, 1).numpy(), true.permute(0, 2, 3, 1).numpy(), gray.permute(0, 2, 3, 1).numpy()):
            res["psnr"].append(psnr(p, t))
            res["psnr_gray"].append(psnr(g, t))
            res["cf"].append(colorfulness(p))
            res["cf_true"].append(colorfulness(t))
        if first is None:
            first = (L.cpu(), pred, true)
    if grid_path and first is not None:
        _grid_png(grid_path, *first)
    cf, cft = np.array(res["cf"]), np.array(res["cf_true"])
    return {"val_psnr": float(np.mean(res["psnr"])), "val_psnr_gray": float(np.mean(res["psnr_gray"])),
            "val_cf": float(cf.mean()), "val_cf_true": float(cft.mean()), "val_dcf": delta_colorfulness(cf, cft),
            "val_photo_dcf": per_photo_delta_colorfulness(cf, cft)}


def train(cfg):
    given = {k: v for k, v in cfg.items() if v is not None}
    cfg = {**DEFAULTS, **given}
    from tqdm import tqdm
    if cfg["threads"]:
        torch.set_num_threads(cfg["threads"])
    torch.manual_seed(cfg["seed"])
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    run = cfg["out"]
    os.makedirs(run, exist_ok=True)
    arch = cfg["arch"]

    resumed = None
    if cfg.get("resume"):
        if not os.path.exists(os.path.join(run, "state.json")):
            raise FileNotFoundError(f"{run}: nothing to resume (no state.json)")
        ck = load_train_checkpoint(run)
        resumed, opt_state = ck["state"], ck["optimizer"]
        # the run's own settings win, except the budget the user extends
        keep = {k: given[k] for k in ("epochs", "max_minutes", "ckpt_minutes", "threads", "workers") if k in given}
        cfg = {**resumed["config"], **keep, "out": run, "resume": True}
        arch = cfg["arch"]

    init_state = None
    if cfg.get("init") and not resumed:
        # fine-tune: start from a model file's weights, with a fresh optimizer and schedule
        from .pipeline import resolve_model
        init_arch, init_config, _, init_state, init_extra = read_model_file(resolve_model(cfg["init"])[0])
        if "arch" not in given:
            arch = cfg["arch"] = init_arch
        if init_arch != arch:
            raise ValueError(f"{cfg['init']}: holds a {init_arch!r} model, not {arch!r} (pass --model {init_arch})")
        cfg["model_config"] = init_config
    lr = cfg["lr"] or DEFAULT_LR.get(arch, 3e-4)

    train_set = PhotoSet(cfg["data"], cfg["size"], min_chroma=cfg["min_chroma"], workers=cfg["workers"], limit=cfg["limit"] or None)
    val_set = None
    if cfg.get("val"):
        val_set = PhotoSet(cfg["val"], cfg["size"], min_chroma=0, workers=cfg["workers"], limit=cfg["val_limit"] or None)
    print(f"train: {len(train_set)} photos ({train_set.skipped_gray} near-grayscale and {train_set.skipped_bad} unreadable skipped)"
          + (f"; val: {len(val_set)}" if val_set else ""), flush=True)

    model_config = dict(cfg.get("model_config") or {})
    extra = {}
    if arch == "unet":
        bins = B.default_bins()
        model_config.setdefault("num_bins", len(bins))
        if resumed:
            extra = ck["extra"] if ck["extra"] is not None else read_model_file(os.path.join(run, "last.safetensors"))[4]
        else:
            if init_state is not None and "bins" in init_extra:
                bins = init_extra["bins"].float()
            counts = class_counts(train_set, bins)
            w, p = B.rebalance_weights(counts, bins, lam=cfg["lam"])
            extra = {"bins": bins, "prior": p, "class_weights": w}
    model = build_model(arch, pretrained=cfg["pretrained"] and not resumed and init_state is None, **model_config).to(device)
    if init_state is not None:
        model.load_state_dict({k: v.float() for k, v in init_state.items()}, strict=False)
        print(f"initialised from {cfg['init']}", flush=True)
    model = model.to(memory_format=torch.channels_last)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)

    spe = max(1, len(train_set) // cfg["batch"])
    total = max(1, int(round(cfg["epochs"] * spe)))
    step, history = 0, []
    if resumed:
        state = ck["model"] if ck["model"] is not None else read_model_file(os.path.join(run, "last.safetensors"))[3]
        model.load_state_dict(state, strict=False)
        opt.load_state_dict(opt_state)
        step, history = resumed["step"], resumed.get("history", [])
        print(f"resumed {run} at step {step}/{total}", flush=True)
        old_epochs = resumed["config"].get("epochs")
        if old_epochs is not None and old_epochs != cfg["epochs"]:
            old_total = max(1, int(round(old_epochs * spe)))
            was, now = lr_at(step, old_total, lr, cfg["warmup"]), lr_at(step, total, lr, cfg["warmup"])
            print(f"note: --epochs changed from {old_epochs:g} to {cfg['epochs']:g}: the cosine schedule now spans "
                  f"{total} steps, so the learning rate at step {step} goes from {was:.2e} to {now:.2e}. A jump "
                  "back up can undo progress; to train on at a low rate use --init RUN/last.safetensors --lr instead.",
                  flush=True)
    extra = {k: v.to(device) for k, v in extra.items()}
    cfg_saved = {k: v for k, v in cfg.items() if k != "resume"}

    def checkpoint(final=False):
        info = {"step": step, "epochs": step / spe, "train_photos": len(train_set), "size": cfg["size"],
                "history": history[-1:] if history else []}
        # one file, one atomic rename: weights, optimizer and step always agree on resume
        save_train_state(run, opt, {"step": step, "total": total, "config": cfg_saved, "history": history},
                         model=model, extra=extra)
        save_model(os.path.join(run, "last.safetensors"), model, arch, model_config, extra, info=info)
        if final:
            save_model(os.path.join(run, "model.safetensors"), model, arch, model_config, extra, dtype=torch.float16, info=info)

    ac = autocast_for(device)
    t_start = time.time()
    t_ckpt = time.time()
    seen, t_rate = 0, time.time()
    loss_sum, loss_n = 0.0, 0  # mean training loss since the last record
    model.train()
    bar = tqdm(total=total, initial=step, desc=f"train {arch}", unit="step", dynamic_ncols=True)
    stop_reason = "done"
    while step < total:
        epoch, k = divmod(step, spe)
        perm = np.random.default_rng([cfg["seed"], epoch]).permutation(len(train_set))
        idx = perm[k * cfg["batch"]:(k + 1) * cfg["batch"]]
        lab = train_set.batch(idx, np.random.default_rng([cfg["seed"], 1_000_003, step]))
        lab = lab.to(device).contiguous(memory_format=torch.channels_last)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, total, lr, cfg["warmup"])
        with torch.autocast(**ac):
            out = model(lab[:, :1])
        loss, parts = compute_loss(arch, out, lab[:, 1:], extra, cfg["reg_weight"], cfg.get("reg_loss", "mse"))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        seen += len(idx)
        loss_sum, loss_n = loss_sum + loss.item(), loss_n + 1
        now = time.time()
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}", **{k: f"{v.item():.4f}" for k, v in parts.items()},
                        img_s=f"{seen / max(1e-6, now - t_rate):.1f}", epoch=f"{step / spe:.2f}")
        end_of_epoch = step % spe == 0 or step == total
        out_of_time = cfg["max_minutes"] and (now - t_start) > 60 * cfg["max_minutes"]
        if end_of_epoch or out_of_time:
            rec = {"step": step, "epoch": round(step / spe, 3), "loss": loss_sum / max(1, loss_n), "minutes": round((now - t_start) / 60, 2)}
            loss_sum, loss_n = 0.0, 0
            if val_set is not None:
                rec.update(validate(model, arch, extra, val_set, device, vibrance=cfg.get("vibrance"),
                                    grid_path=os.path.join(run, f"val_grid_step{step:07d}.png")))
                model.train()
                bar.write(json.dumps(rec))
            history.append(rec)
            checkpoint()
            t_ckpt = time.time()
        elif now - t_ckpt > 60 * cfg["ckpt_minutes"]:
            checkpoint()
            t_ckpt = time.time()
        if out_of_time:
            stop_reason = f"time budget of {cfg['max_minutes']} minutes reached"
            break
    bar.close()
    checkpoint(final=True)
    print(f"{stop_reason}: {step} steps ({step / spe:.2f} epochs) in {(time.time() - t_start) / 60:.1f} min; model: {os.path.join(run, 'model.safetensors')}", flush=True)
    return os.path.join(run, "model.safetensors")
