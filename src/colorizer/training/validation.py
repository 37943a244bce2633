"""Validation during training, decoded as the model will be used: the run's model files
carry their decoding (info["decoding"]), and validation decodes with exactly that decoder,
at the default vibrance, then measures with colorizer.metrics.Scores and draws a grid."""
import numpy as np
import torch

from .. import decoding
from ..decoding import hint_spread
from ..files import atomic_write
from ..grids import image_grid
from ..lab import lab_to_rgb
from ..merge import upsample_ab
from ..metrics import Scores
from ..options import OPTIONS
from .config import DEFAULT_DECODING
from .hints import pixel_hints

GRID_ROWS = 8
VAL_HINTS = 10  # a hint-aware network is also measured with this many single-pixel hints


def shipped_decoding(outputs, extra, choice=None, blend=None, base=None):
    """The decoding a run's model files ship with, as (default name, {name: decoder},
    metadata for info["decoding"]). `outputs`: the network's output names; `extra`: the
    run's tensors (bins, class weights). A class model decodes by `choice`, else by the
    rule the `base` metadata names (the --init model file's info, or the run's state on
    resume), else by min-risk; with the base's settings, and `blend` (annealed-mean) when
    given. A regression model decodes by regression. ValueError when the choice does not
    fit the model."""
    if "logits" not in outputs:
        if choice is not None or blend is not None:
            raise ValueError(f"{'--decoding ' + choice if choice else '--blend'} applies to colour-class models only "
                             "(unet): a seed model decodes by regression")
        info = {"decoding": {"default": "regression"}}
    else:
        default, configs = decoding.model_settings(base or {})
        if blend is not None:
            configs["annealed-mean"] = {**configs.get("annealed-mean", {}), "blend": blend}
        info = {"decoding": dict(configs, default=choice or default or DEFAULT_DECODING)}
    default, decoders = decoding.for_model(info, extra, outputs)
    return default, decoders, decoding.settings_for_file(default, decoders)


def default_vibrance():
    return OPTIONS["vibrance"].default


@torch.no_grad()
def validate(model, decoder, photos, device, vibrance=None, batch=32, grid_path=None):
    """Metrics at training size on centre crops of the validation photos, decoded by
    `decoder` at `vibrance` (None: colorize's default) and upsampled to the crop:
    val_psnr (and val_psnr_gray, of the gray input), val_cf, val_cf_true, val_dcf,
    val_photo_dcf. With grid_path, a PNG grid of the first photos (input | prediction |
    truth). Leaves the model in eval mode."""
    vibrance = default_vibrance() if vibrance is None else vibrance
    model.eval()
    rng = np.random.default_rng(0)
    scores, gray_scores = Scores(metrics=("psnr", "cf")), Scores(metrics=("psnr",))
    hint_scores = Scores(metrics=("psnr",)) if getattr(model, "takes_hints", False) else None
    hint_rng = np.random.default_rng(10)
    first = None
    for start in range(0, len(photos), batch):
        lab = photos.batch(range(start, min(start + batch, len(photos))), rng, augment=False).to(device)
        L = lab[:, :1]
        # the outputs in (B, C, h, w) memory, as the PyTorch backend gives them (training runs in
        # channels-last): decoded as Colorizer.load(...) of the same file decodes them
        out = {k: v.contiguous() for k, v in model(L).items()}
        ab = upsample_ab(decoder(out, vibrance), L.shape[-2:])
        pred, true, gray = (_hwc(lab_to_rgb(x)) for x in (torch.cat([L, ab], 1), lab, torch.cat([L, torch.zeros_like(ab)], 1)))
        scores.add(pred, true)
        gray_scores.add(gray, true)
        if hint_scores is not None:  # and with VAL_HINTS single-pixel hints from the truth
            hints = pixel_hints(lab, VAL_HINTS, hint_rng)
            out = model(L, hints)
            ab_h = upsample_ab(hint_spread.apply(decoder(out, vibrance), out, hints), L.shape[-2:])
            hint_scores.add(_hwc(lab_to_rgb(torch.cat([L, ab_h], 1))), true)
        if first is None:
            first = (gray, pred, true)
    if grid_path and first is not None:
        grid = image_grid([(label, images[:GRID_ROWS]) for label, images in zip(("input", "prediction", "truth"), first)],
                          height=photos.size)
        atomic_write(grid_path, lambda tmp: grid.save(tmp, format="PNG"))
    s, g = scores.summary(), gray_scores.summary()
    record = {"val_psnr": s["psnr"], "val_psnr_gray": g["psnr"], "val_cf": s["cf"], "val_cf_true": s["cf_true"],
              "val_dcf": s["dcf"], "val_photo_dcf": s["photo_dcf"]}
    if hint_scores is not None:
        record["val_psnr_hints"] = hint_scores.summary()["psnr"]
    return record


def _hwc(rgb):
    """(B, 3, H, W) float RGB -> (B, H, W, 3) numpy on the CPU."""
    return rgb.permute(0, 2, 3, 1).cpu().numpy()


def describe(record):
    """One readable line for a history record (the record itself stays in the state JSON)."""
    parts = [f"step {record['step']} (epoch {record['epoch']:g})", f"loss {record['loss']:.4f}"]
    if "val_psnr" in record:
        parts += [f"val PSNR {record['val_psnr']:.2f} dB (gray input {record['val_psnr_gray']:.2f})",
                  f"colourfulness {record['val_cf']:.1f} (truth {record['val_cf_true']:.1f}, |dCF| {record['val_dcf']:.1f}, "
                  f"per photo {record['val_photo_dcf']:.1f})"]
        if "val_psnr_hints" in record:
            parts.append(f"with {VAL_HINTS} hints {record['val_psnr_hints']:.2f} dB")
    parts.append(f"{record['minutes']:g} min")
    return ", ".join(parts)
