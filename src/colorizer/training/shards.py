"""Training photos streamed from WebDataset tar shards, for data that does not fit a folder
on one disk (or in RAM): `colorizer shards` writes them (cli/shards.py, write_shards below),
`colorizer train --data 'shards/train-{000000..000099}.tar'` reads them, as does any URL
webdataset opens (`https://...`, `pipe:aws s3 cp s3://bucket/train-000001.tar -`).

Each sample is one photo's file as it was (`jpg`, `png` or `webp` bytes, never re-encoded)
under a numbered key; `shards.json` beside the shards counts the samples (an epoch's
length). The reader decodes each photo as the folder reader does (data._decode) and cuts
the same random crops (data.lab_crops).

Each rank reads an endless stream: shards drawn at random with replacement
(webdataset's ResampledShards, seeded by the run's seed, the epoch and the rank), mixed
in a shuffle buffer; an epoch is the first len(self) photos of its stream. Every rank thus
takes exactly the same number of photos per epoch (webdataset's own node splitting gives
ranks unequal counts, and a rank that runs out first leaves the others waiting for ever),
and a resumed run rebuilds the epoch's stream and skips the photos already taken."""
import io
import json
import os
import random
import re
from concurrent.futures import ThreadPoolExecutor
from itertools import islice

from .data import CROP_STREAM, TRAIN_EXTS, PhotoSet, _decode, lab_crops, mean_chroma
from .distributed import World, step_rng

INDEX = "shards.json"  # beside the shards: how many photos each holds
INDEX_FORMAT = "colorizer-shards/1"
SHUFFLE_BUFFER = 2000  # photos mixed across shards (encoded bytes: about 100 MB of typical JPEGs)
PRIOR_PHOTOS = 2000    # photos the class prior is counted on (shared out over the ranks)
MAX_UNUSABLE = 10_000  # samples in a row that are not photos training can use, before it gives up
SAMPLE_EXTS = tuple(e.lstrip(".") for e in sorted(TRAIN_EXTS))


def shard_urls(spec):
    """The shards a spec names, in order (brace patterns expanded, with webdataset's own rules)."""
    from webdataset.shardlists import expand_urls
    return list(expand_urls(spec))


def read_index(urls):
    """{shard name: photos} from shards.json beside the first shard, or None where there is
    none to read (a pipe: command, a missing file)."""
    first = urls[0]
    if first.startswith("pipe:"):
        return None
    base = first[len("file:"):] if first.startswith("file:") else first
    where = base.rsplit("/", 1)[0] + "/" + INDEX if "/" in base else INDEX
    try:
        from webdataset.gopen import gopen
        with gopen(where, "rb") as f:
            doc = json.loads(f.read())
        if doc.get("format") != INDEX_FORMAT:
            return None
        return {str(k): int(v) for k, v in doc["shards"].items()}
    except Exception:  # noqa: BLE001 - no index there: the shards are counted instead
        return None


def count_samples(urls):
    """Photos per shard (by reading the shards through: tar headers and bytes, no decoding)."""
    import webdataset as wds
    counts = {}
    for url in urls:
        stream = wds.DataPipeline(wds.SimpleShardList([url]), wds.tarfile_to_samples())
        counts[_name(url)] = sum(1 for _ in stream)
    return counts


def _name(url):
    return url.rstrip("/").rsplit("/", 1)[-1]


def _photo_bytes(sample):
    for ext in SAMPLE_EXTS:
        if ext in sample:
            return sample[ext]
    return None


class ShardSet:
    """Training photos streamed from tar shards; the same interface as data.PhotoSet for the
    loop: len() (the photos a rank takes per epoch), batches(), position(), skipped_gray and
    skipped_bad, prior_photos()."""

    def __init__(self, spec, size, min_chroma=3.0, workers=2, world=None, seed=0, limit=None, progress=True):
        self.spec, self.size, self.min_chroma, self.seed = spec, size, min_chroma, seed
        self.world = world or World()
        self.workers = max(1, workers)
        try:
            import webdataset  # noqa: F401
        except ImportError:
            raise ValueError(f"{spec}: training on tar shards needs webdataset: pip install 'photo-colorizer[cluster]' "
                             "(or pip install webdataset)") from None
        self.urls = shard_urls(spec)
        if not self.urls:
            raise FileNotFoundError(f"{spec}: names no shards")
        local = [u for u in self.urls if not re.match(r"^[a-z0-9]+:", u)]
        missing = [u for u in local if not os.path.isfile(u)]
        if missing:
            raise FileNotFoundError(f"{missing[0]}: no such shard" + (f" (and {len(missing) - 1} more)" if len(missing) > 1
                                                                      else ""))
        index = read_index(self.urls)
        known = {_name(u): index[_name(u)] for u in self.urls if index and _name(u) in index}
        unknown = [u for u in self.urls if _name(u) not in known]
        if unknown:
            if progress:
                print(f"counting the photos in {len(unknown)} shard(s) (no {INDEX} beside them)", flush=True)
            known.update(count_samples(unknown))
        self.total = sum(known.values())
        if limit:
            self.total = min(self.total, limit)
        if self.total < self.world.size:
            raise ValueError(f"{spec}: {self.total} photos, too few for {self.world.size} processes")
        self.skipped_gray = self.skipped_bad = 0
        self._consumed = 0

    def __len__(self):
        """The photos this rank takes in an epoch: its share of those in the shards."""
        return self.total // self.world.size

    def _stream(self, seed, epoch):
        """This rank's endless stream of raw samples for `epoch` (the same again for the same
        seed, epoch and rank)."""
        import webdataset as wds
        from webdataset.utils import make_seed
        rank = self.world.rank
        return iter(wds.DataPipeline(
            wds.ResampledShards(self.urls, seed=make_seed(seed, epoch), worker_seed=lambda: rank, deterministic=True),
            wds.tarfile_to_samples(handler=wds.warn_and_continue),
            wds.shuffle(SHUFFLE_BUFFER, initial=min(SHUFFLE_BUFFER, 100), rng=random.Random(make_seed(seed, epoch, rank, 7))),
        ))

    def _decode_all(self, pool, samples):
        """[(key, RGB array or None)] for raw samples, in order; counts the skipped."""
        def one(sample):
            data = _photo_bytes(sample)
            arr = None if data is None else _decode(io.BytesIO(data), self.size)
            if arr is None:
                return sample.get("__key__"), None, "bad"
            if self.min_chroma and mean_chroma(arr) < self.min_chroma:
                return sample.get("__key__"), None, "gray"
            return f"{_name(sample.get('__url__', ''))}/{sample.get('__key__')}", arr, None
        out = []
        for key, arr, why in pool.map(one, samples):
            if why == "bad":
                self.skipped_bad += 1
            elif why == "gray":
                self.skipped_gray += 1
            else:
                out.append((key, arr))
        return out

    def batches(self, steps_per_epoch, batch, seed, world=None, start=0, position=None):
        """(sample ids, Lab batch of random crops) for each step from `start` on, for ever.
        `position`: the raw samples this rank had taken from the epoch's stream at `start`
        (what position() said at the checkpoint); None: batch x the steps into the epoch."""
        world = world or self.world
        step = start
        with ThreadPoolExecutor(self.workers) as pool:
            while True:
                epoch, k = divmod(step, steps_per_epoch)
                stream = self._stream(seed, epoch)
                skip = 0 if k == 0 else position if position is not None else k * batch
                for _ in islice(stream, skip):
                    pass
                self._consumed = skip
                while k < steps_per_epoch:
                    got, taken = [], 0
                    while len(got) < batch:
                        raw = list(islice(stream, batch - len(got)))
                        if not raw or taken > MAX_UNUSABLE + batch:
                            raise ValueError(f"{self.spec}: no usable colour photos in the shards' last {taken} samples "
                                             f"({self.skipped_gray} near-grayscale, {self.skipped_bad} unreadable so far)")
                        self._consumed += len(raw)
                        taken += len(raw)
                        got += self._decode_all(pool, raw)
                    yield [key for key, _ in got], lab_crops([a for _, a in got], self.size,
                                                             step_rng(seed, CROP_STREAM, step, world))
                    step, k = step + 1, k + 1

    def position(self):
        """The raw samples this rank has taken from the current epoch's stream."""
        return self._consumed

    def prior_photos(self, limit=None):
        """Some of the photos, decoded into RAM, to count the colour classes' prior on: a
        PhotoSet of this rank's share (every size-th) of the first PRIOR_PHOTOS photos of the
        shards, read in order (all of them when there are fewer, as from a folder)."""
        import webdataset as wds
        n = min(PRIOR_PHOTOS, limit or PRIOR_PHOTOS, self.total)
        stream = wds.DataPipeline(wds.SimpleShardList(self.urls), wds.tarfile_to_samples(handler=wds.warn_and_continue))
        mine = islice(islice(stream, n), self.world.rank, None, self.world.size)
        got = []
        with ThreadPoolExecutor(self.workers) as pool:
            while chunk := list(islice(mine, 256)):
                got += self._decode_all(pool, chunk)
        self.skipped_gray = self.skipped_bad = 0  # counted again as training goes
        return PhotoSet.from_arrays([a for _, a in got], self.size, [k for k, _ in got])


def write_shards(data, out, max_mb=500.0, min_chroma=3.0, workers=2, prefix="train", progress=True, on_skip=None):
    """`colorizer shards`: the photos of folder `data` (jpg/png/webp, recursively) as tar
    shards OUT/PREFIX-000000.tar, ... of about max_mb MB each (webdataset's ShardWriter),
    and OUT/shards.json. Photos that cannot be read or are near-grayscale (mean chroma <
    min_chroma, as training skips them) are left out, each reported to on_skip(path, why).
    Returns the index document. A shard is written under a temporary name and renamed
    when complete."""
    import webdataset as wds
    from tqdm import tqdm

    from ..files import find_images
    paths = find_images(data, TRAIN_EXTS)
    if not paths:
        raise FileNotFoundError(f"{data}: no photos (jpg/png/webp) found")
    if os.path.isdir(out):  # shards are never replaced: an old set with more shards would mix with the new one
        old = sorted(f for f in os.listdir(out) if f == INDEX or (f.startswith(f"{prefix}-") and ".tar" in f))
        if old:
            raise ValueError(f"{out} already holds shards ({', '.join(old[:3])}{', ...' if len(old) > 3 else ''}): "
                             "choose another folder, or remove them first")
    os.makedirs(out, exist_ok=True)
    counts, written, skipped = {}, [], {"unreadable": 0, "near-grayscale": 0}
    pattern = os.path.join(out, f"{prefix}-%06d.tar")

    def finished(tmp):  # ShardWriter's post hook: a complete shard gets its real name
        final = tmp[:-len(".part")]
        os.replace(tmp, final)
        written.append(final)

    def check(path):
        arr = _decode(path, 256)
        why = "unreadable" if arr is None else "near-grayscale" if min_chroma and mean_chroma(arr) < min_chroma else None
        if why:
            return path, None, why
        with open(path, "rb") as f:
            return path, f.read(), None

    key = 0
    with ThreadPoolExecutor(max(1, workers)) as pool, \
            wds.ShardWriter(pattern + ".part", maxsize=int(max_mb * 1e6), verbose=0, post=finished) as sink:
        for path, data_bytes, why in tqdm(pool.map(check, paths), total=len(paths), desc="writing shards", unit="img",
                                          disable=not progress):
            if why:
                skipped[why] += 1
                if on_skip:
                    on_skip(path, why)
                continue
            ext = os.path.splitext(path)[1].lower().lstrip(".")
            ext = "jpg" if ext == "jpeg" else ext
            sink.write({"__key__": f"{key:09d}", ext: data_bytes, "txt": os.path.relpath(path, data)})
            shard = _name(sink.fname[:-len(".part")])
            counts[shard] = counts.get(shard, 0) + 1
            key += 1
    if not key:  # the writer had opened a first shard: it holds nothing
        for path in written:
            os.remove(path)
        raise ValueError(f"{data}: no usable colour photos ({skipped['near-grayscale']} near-grayscale, "
                         f"{skipped['unreadable']} unreadable)")
    doc = {"format": INDEX_FORMAT, "samples": key, "shards": counts, "skipped": skipped}
    from ..files import atomic_write_text
    atomic_write_text(os.path.join(out, INDEX), json.dumps(doc, indent=1))
    return doc
