"""colorizer shards: a folder of training photos as WebDataset tar shards (for training on
data that does not fit a folder on one disk; colorizer train --data 'OUT/train-{000000..N}.tar')."""
import sys

from .common import error


def add_parser(sub):
    p = sub.add_parser("shards", help="write a folder of training photos as tar shards (WebDataset)",
                       description="Write the photos of a folder tree (jpg/png/webp, read recursively) as WebDataset tar "
                                   "shards OUT/train-000000.tar, ... and OUT/shards.json (how many photos each holds), for "
                                   "colorizer train --data 'OUT/train-{000000..000009}.tar' (or the shards copied to object "
                                   "storage, as an https:// or pipe: URL). Each photo's file is stored as it is; unreadable "
                                   "and near-grayscale photos are left out, as training would skip them. Needs the cluster "
                                   "extra (pip install 'photo-colorizer[cluster]').")
    p.add_argument("--data", required=True, metavar="DIR", help="folder of training photos")
    p.add_argument("-o", "--out", required=True, metavar="OUT_DIR", help="folder for the shards (created if missing)")
    p.add_argument("--size", type=float, default=500.0, metavar="MB", help="shard size in megabytes (default 500)")
    p.add_argument("--prefix", default="train", help="the shards' name before -000000.tar (default train)")
    p.add_argument("--workers", type=int, default=2, help="threads reading photos (default 2)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def run(a):
    import os
    if not a.size > 0:
        return error(f"--size must be a number of megabytes above 0, not {a.size:g}")
    if not os.path.isdir(a.data):
        return error(f"{a.data}: not a folder")
    if os.path.exists(a.out) and not os.path.isdir(a.out):
        return error(f"cannot use output folder {a.out}: it is a file")
    try:
        import webdataset  # noqa: F401
    except ImportError:
        return error("colorizer shards needs webdataset: pip install 'photo-colorizer[cluster]' (or pip install webdataset)")
    from tqdm import tqdm

    from ..files import display
    from ..training.shards import INDEX, write_shards

    def skipped(path, why):
        tqdm.write(f"{display(path)}: {why}, left out", file=sys.stderr)

    try:
        doc = write_shards(a.data, a.out, max_mb=a.size, workers=a.workers, prefix=a.prefix, progress=not a.quiet,
                           on_skip=skipped)
    except (FileNotFoundError, ValueError) as e:
        return error(e)
    except OSError as e:
        return error(f"cannot write shards in {display(a.out)} ({e.strerror or e})")
    n = len(doc["shards"])
    print(f"{doc['samples']} photos in {n} shard(s) in {display(a.out)} ({INDEX} counts them); train with "
          f"--data '{os.path.join(a.out, f'{a.prefix}-{{000000..{n - 1:06d}}}.tar')}'", file=sys.stderr)
    return 0
