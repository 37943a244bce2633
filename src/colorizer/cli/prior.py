"""colorizer prior: colour-class rebalancing weights from your photos."""
from .common import error


def add_parser(sub):
    p = sub.add_parser("prior", help="compute colour-class rebalancing weights from your photos",
                       description="Histogram the a,b colours of a folder of photos over the colour bins, smooth it, and "
                                   "write the class-rebalancing weights w ~ ((1-lambda) p + lambda/Q)^-1 (JSON). Training "
                                   "computes them the same way.")
    p.add_argument("--data", required=True, help="folder of colour photos")
    p.add_argument("--lam", type=float, default=0.5, help="lambda (default 0.5)")
    p.add_argument("--size", type=int, default=128, help="photos are read at this size (default 128)")
    p.add_argument("--limit", type=int, default=0, help="use at most this many photos")
    p.add_argument("-o", "--out", required=True, help="output JSON file")


def run(a):
    from ..training.prior import write_prior
    try:
        doc = write_prior(a.data, a.out, lam=a.lam, size=a.size, limit=a.limit)
    except (FileNotFoundError, ValueError) as e:
        return error(e)
    w = doc["weights"]
    print(f"{doc['photos']} photos, {len(doc['bins'])} bins; weights from {min(w):.3f} to {max(w):.3f} -> {a.out}")
    return 0
