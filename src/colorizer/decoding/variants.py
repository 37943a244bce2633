"""Alternatives: K other plausible colourings of a photo, each coherent per region.

For each region of the photo (segments of its lightness, computed by the caller) the
class distribution is averaged; each variant picks one colour class per region: the
argmax of  log p_region(q) / T + noise(q)  among the region's plausible classes (at least
PLAUSIBLE times as likely as its likeliest), i.e. Gumbel-max sampling at temperature T.
The noise is a mix of independent Gumbel noise per region and a smooth random preference
over the a,b plane shared by all the regions of the variant (SHARED: the share of the
latter). Fully shared (the default) makes each variant one consistent reading of the
photo (say, warmer and greener everywhere) rather than independent coin flips per region:
measured on data/val_full, independent noise gave a best-of-4 worse than the single
result, the shared preference one about 0.87-0.89 times its CIEDE2000. Sampling at
T = 1.5, not 1: a better-trained, surer model (stage 5) at T = 1 gave alternatives closer
to each other (mean pairwise CIEDE2000 4.3) and a best-of-4 of 0.90x; at 1.5, 5.6 and 0.89x. The picked colour
becomes a bias on the scores of that region's pixels (towards classes near it in
CIEDE2000), blended across region borders, and the usual decoder decodes the biased
scores: edges and shading stay the model's own. A fixed seed per variant makes the
alternatives reproducible. Tensors in, tensors out."""
import math

import torch
import torch.nn.functional as F

from .reference import calibrated

TEMPERATURE = 1.5   # sampling temperature of a region's mode (1: as likely as the model says; more: bolder)
SHARED = 1.0        # share of the sampling noise common to all regions of a variant (0..1)
WIDTH = 10.0        # CIEDE2000 width of the pull towards the picked colour (smaller: stronger)
LENGTH = 40.0       # a,b length scale of the shared random preference
SMOOTH = 9          # box size (output pixels) over which the region biases are blended at borders
PLAUSIBLE = 0.1     # a region's candidates: the classes at least this fraction as likely as its likeliest


def region_means(p, labels, n):
    """Mean distribution (n, Q) of each region: p (Q, h, w), labels (h, w) in 0..n-1."""
    Q = p.shape[0]
    flat = p.reshape(Q, -1).T
    sums = torch.zeros(n, Q, dtype=flat.dtype, device=flat.device).index_add_(0, labels.reshape(-1), flat)
    counts = torch.bincount(labels.reshape(-1), minlength=n).clamp(min=1).to(flat.dtype)
    return sums / counts[:, None]


def shared_preference(bins, generator, length=LENGTH, features=16):
    """A smooth random function over the colour classes (Q,), standardised: random Fourier
    features of the classes' a,b with length scale `length`."""
    omega = torch.randn(features, 2, generator=generator) / length
    phase = torch.rand(features, generator=generator) * 2 * math.pi
    g = torch.cos(bins.float().cpu() @ omega.T + phase).sum(dim=1)
    return (g - g.mean()) / g.std().clamp(min=1e-6)


def pick_modes(means, bins, seed, temperature=TEMPERATURE, shared=SHARED, plausible=PLAUSIBLE):
    """One colour class per region (n,), sampled from its mean distribution at
    `temperature` among the classes at least `plausible` times as likely as its likeliest,
    the noise partly shared across the regions (reproducible by `seed`)."""
    gen = torch.Generator().manual_seed(int(seed))
    n, Q = means.shape
    gumbel = -torch.log(-torch.log(torch.rand(n, Q, generator=gen).clamp(1e-12, 1 - 1e-7)))
    common = shared_preference(bins, gen) * (math.pi / math.sqrt(6))  # the Gumbel's standard deviation
    noise = (1 - shared) * gumbel + shared * common[None]
    scores = means.clamp(min=1e-12).log() / max(temperature, 1e-3) + noise
    scores[means < plausible * means.amax(dim=1, keepdim=True)] = -torch.inf
    return scores.argmax(dim=1)


def variant_logits(logits, labels, n, bins, risk_matrix, seed, class_weights=None, temperature=TEMPERATURE,
                   shared=SHARED, width=WIDTH, smooth=SMOOTH, plausible=PLAUSIBLE):
    """The scores (1, Q, h, w) of one variant: each region (labels (h, w) in 0..n-1, at the
    scores' size) biased towards a colour mode picked for it (pick_modes), the bias
    blended over `smooth` pixels at region borders."""
    p = calibrated(logits, class_weights)[0]
    modes = pick_modes(region_means(p, labels, n).cpu(), bins, seed, temperature, shared, plausible).to(p.device)
    bias = -risk_matrix.to(p)[modes] / width            # (n, Q): log-weights, 0 at the mode
    field = bias[labels].permute(2, 0, 1)[None]          # (1, Q, h, w)
    if smooth > 1:
        field = F.avg_pool2d(field, smooth, stride=1, padding=smooth // 2, count_include_pad=False)
        field = field[..., :labels.shape[0], :labels.shape[1]]
    return logits.float() + field
