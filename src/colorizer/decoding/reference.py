"""A reference photo's palette as a prior on the class distribution: the reference's a,b
histogram over the colour classes, and the reweighting of the predicted distribution
towards it before the usual decoder.

    h  = ab_histogram(reference_ab, bins)               soft-encoded, smoothed, sums to 1
    logits' = towards_histogram(logits, h, strength, class_weights)

With p the model's calibrated distribution at a pixel (softmax of the scores divided by
the class-rebalancing weights) and p_mean its mean over the photo, the reweighting is

    p'(q)  proportional to  p(q) * ((h(q) + eps) / (p_mean(q) + eps)) ** strength

i.e. Bayes' rule with the photo's predicted colour frequencies swapped for the
reference's: at strength 1 the photo's overall palette moves to the reference's while
each pixel keeps the model's ranking among the colours the reference has. It is
returned as new scores, so that any decoder (min-risk, annealed mean) decodes it as
usual. Tensors in, tensors out."""
import torch

from ..bins import soft_encode_sparse

EPS = 1e-3          # floor of the ratio: a colour absent from the reference is damped, not banned
SMOOTH_SIGMA = 5.0  # soft encoding of the reference's pixels, a,b units (the training targets' sigma)


def ab_histogram(ab, bins, sigma=SMOOTH_SIGMA):
    """The a,b histogram (Q,) of an image's a,b (2, h, w) over the colour classes `bins`
    (Q, 2): each pixel soft-encoded onto its nearest classes (Gaussian, `sigma` in a,b
    units), summed and normalised to sum 1."""
    idx, w = soft_encode_sparse(ab[None].float(), bins.float(), sigma)
    hist = torch.zeros(len(bins), dtype=torch.float64, device=w.device)
    hist.scatter_add_(0, idx.reshape(-1), w.reshape(-1).double())
    return (hist / hist.sum().clamp(min=1e-12)).float()


def calibrated(logits, class_weights=None):
    """The model's actual belief (B, Q, h, w): softmax of the scores with the
    class-rebalancing weights divided out (what min-risk decoding uses)."""
    x = logits.float()
    if class_weights is not None:
        x = x - class_weights.float().clamp(min=1e-12).log().view(1, -1, 1, 1)
    return torch.softmax(x, dim=1)


def towards_histogram(logits, histogram, strength, class_weights=None, eps=EPS):
    """Scores (B, Q, h, w) reweighted towards the colour `histogram` (Q,) (see the module
    docstring); strength 0 gives the scores back unchanged."""
    if strength == 0:
        return logits
    mean = calibrated(logits, class_weights).mean(dim=(0, 2, 3))
    bias = histogram.to(mean).add(eps).log() - mean.add(eps).log()
    return logits.float() + float(strength) * bias.view(1, -1, 1, 1)


def histogram_distance(h1, h2):
    """A distance between two colour histograms (Q,): the Hellinger distance, 0 (equal)
    to 1 (no colour in common)."""
    return float(torch.sqrt(0.5 * (h1.double().sqrt() - h2.double().sqrt()).pow(2).sum()).clamp(max=1.0))
