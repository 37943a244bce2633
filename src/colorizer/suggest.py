"""The model's own suggestions at a point of the photo: the most probable colour classes
there, as the colour each would give that pixel (its a,b with the pixel's own L*). For the
web page's hint picker: click a point, see what the model thought likely."""
import torch

from .lab import lab_to_rgb


def top_colours(logits, class_weights, bins, y, x, L, k=6):
    """logits (1, Q, h, w) at the network's output size; (y, x) a position in that grid;
    L the pixel's L*. The model's belief there is softmax(logits) divided by the class
    weights it was trained with (as min-risk decoding reads it), normalised. Returns the k
    likeliest classes as [{"color": "#rrggbb", "probability": p, "ab": [a, b]}], likeliest first."""
    p = torch.softmax(logits[0, :, y, x].float(), dim=0)
    if class_weights is not None:
        p = p / class_weights.float().clamp(min=1e-12)
        p = p / p.sum()
    top = torch.topk(p, min(k, p.numel()))
    ab = bins[top.indices].float()                                            # (k, 2)
    lab = torch.cat([torch.full((len(ab), 1), float(L)), ab], 1).T[:, :, None]  # (3, k, 1)
    rgb = lab_to_rgb(lab.double())[:, :, 0].T.mul(255).round().clamp(0, 255).int().tolist()
    return [{"color": "#" + "".join(f"{v:02x}" for v in c), "probability": round(float(q), 4), "ab": [float(a), float(b)]}
            for c, q, (a, b) in zip(rgb, top.values.tolist(), ab.tolist())]
