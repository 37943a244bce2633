"""A corpus of bad and awkward inputs, generated into a folder (no committed binaries).

    cases = make_corpus(tmp_path / "corpus")

Each Case names a path below the corpus folder and what colorizing it must give:
kind "ok" (an image of `size` = (width, height) after EXIF rotation, in `mode`,
optionally with a note containing `note`) or kind "error" (an ImageError whose
message contains `reason`) or kind "skip" (a directory symlink loop inside the folder
input: the folder walk must not follow it, and it gives no output and no message).
Cases with folder=True live inside the "folder/" sub-tree, which is also passed to
the CLI as one folder input.
"""
import io
import os
import stat
import struct
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image

BOMB_SIDE = 30_000          # 30000 x 30000 = 900 megapixels, a ~110 kB file
NON_UTF8_OK = os.fsdecode(b"\xff\xfe.png")          # a fine image with a name that is not UTF-8
NON_UTF8_BAD = os.fsdecode(b"bad\xe9name.jpg")      # Latin-1 e-acute: text, not an image
NON_UTF8_IN_FOLDER = os.fsdecode(b"sub\xff.png")
EXIF_SIZE = (60, 40)        # width, height of the EXIF orientation test pictures


@dataclass
class Case:
    name: str                  # path relative to the corpus root ("folder/..." for folder cases)
    kind: str                  # "ok" or "error"
    what: str                  # a short description (for docs/reliability.md)
    size: tuple = None         # ok: expected output (width, height)
    mode: str = "RGB"          # ok: expected output mode
    note: str = None           # ok: a note that must be given (substring)
    reason: str = None         # error: substring of the one-line message
    folder: bool = False       # lives in folder/ (reached through the folder input)
    cli_reason: str = None     # the CLI's reason when it differs (e.g. a directory input)
    orientation: int = None    # EXIF orientation cases
    build: object = None       # build(root, case) writes it

    @property
    def regular_file(self):
        """A plain file whose bytes can be read (not a folder, pipe, symlink or chmod 000)."""
        return getattr(self.build, "regular_file", False)

    @property
    def id(self):
        return ascii(self.name)[1:-1]


# --- low-level writers -------------------------------------------------------

def png_chunk(ctype, data):
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data) & 0xFFFFFFFF)


def png_bomb_bytes(width=BOMB_SIDE, height=BOMB_SIDE):
    """A valid 1-bit grayscale PNG of width x height zero pixels, compressed row by row
    (never holding the raw image in memory)."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    comp = zlib.compressobj(9)
    block = row * 1000  # 1000 rows per call: fast, and bounded memory (3.75 MB for 30000-pixel rows)
    parts = [comp.compress(block) for _ in range(height // 1000)]
    parts.append(comp.compress(row * (height % 1000)))
    parts.append(comp.flush())
    idat = b"".join(parts)
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def gray_picture(w=64, h=48, seed=0):
    """A grayscale picture with gradients and a bright block in its top-left quarter."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    a = (40 + 60 * x / max(1, w - 1) + 40 * y / max(1, h - 1)).astype(np.float32)
    a += rng.normal(0, 3, a.shape)
    a[: max(1, h // 3), : max(1, w // 3)] = 250
    return Image.fromarray(a.clip(0, 255).astype(np.uint8), "L")


def colour_picture(w=64, h=48):
    y, x = np.mgrid[0:h, 0:w]
    arr = np.stack([x * 255 // max(1, w - 1), y * 255 // max(1, h - 1), ((x + y) % 32) * 8], -1).astype(np.uint8)
    return Image.fromarray(arr, "RGB")


def encode(img, fmt, **kw):
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def flip_png_crc(data, ctype=b"IHDR"):
    """Corrupt the CRC of the first chunk of type ctype."""
    pos = 8
    while pos < len(data):
        length = struct.unpack(">I", data[pos:pos + 4])[0]
        if data[pos + 4:pos + 8] == ctype:
            crc_at = pos + 8 + length
            return data[:crc_at] + bytes([data[crc_at] ^ 0xFF]) + data[crc_at + 1:]
        pos += 12 + length
    raise ValueError(f"no {ctype!r} chunk")


def corrupt_png_idat_data(data):
    """Overwrite the middle of the IDAT payload (and fix the CRC so only the data is wrong)."""
    pos = 8
    while pos < len(data):
        length = struct.unpack(">I", data[pos:pos + 4])[0]
        if data[pos + 4:pos + 8] == b"IDAT":
            payload = bytearray(data[pos + 8:pos + 8 + length])
            mid = len(payload) // 2
            payload[mid:mid + 16] = b"\xff" * 16
            payload[2:6] = b"\xff\xff\xff\xff"  # break the deflate block header too
            return data[:pos] + png_chunk(b"IDAT", bytes(payload)) + data[pos + 12 + length:]
        pos += 12 + length
    raise ValueError("no IDAT chunk")


def exif_jpeg(orientation, size=EXIF_SIZE):
    """A JPEG as stored by a camera: pixels in sensor order plus an Orientation tag.
    The stored pixels are the upright picture transformed so that applying the tag
    gives back the upright picture (a bright block top-left, size (w, h))."""
    upright = gray_picture(*size, seed=orientation)
    inverse = {1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
               4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
               6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_270}[orientation]
    stored = upright if inverse is None else upright.transpose(inverse)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(stored, "JPEG", quality=95, exif=exif.tobytes())


def write(root, name, data):
    path = os.path.join(root, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path


# --- the corpus ---------------------------------------------------------------

_CACHE = {}


def _gray():
    if "gray" not in _CACHE:
        g = gray_picture()
        _CACHE["gray"] = (g, encode(g, "PNG"), encode(g, "JPEG", quality=90))
    return _CACHE["gray"]


def gray_png():
    return _gray()[1]


def gray_jpg():
    return _gray()[2]


GRAY_SIZE = (64, 48)


def _bytes(make):
    """A builder writing the bytes make() returns to the case's path."""
    def build(root, case):
        write(root, case.name, make())
    build.regular_file = True
    return build


def _gif_frames():
    return [gray_picture(seed=i) for i in range(3)]


def _jpeg_bomb():
    jpg = gray_jpg()
    i = jpg.index(b"\xff\xc0")  # SOF0: length (2), precision (1), height (2), width (2)
    return jpg[:i + 5] + struct.pack(">HH", 65000, 65000) + jpg[i + 9:]


def _ztxt_bomb():
    """A PNG whose zTXt text chunk inflates to 16 MB (Pillow allows 1 MB)."""
    comp = zlib.compressobj(9)
    body = b"".join(comp.compress(b"\0" * 1_000_000) for _ in range(16)) + comp.flush()
    png = gray_png()
    end_of_ihdr = 8 + 12 + 13
    return png[:end_of_ihdr] + png_chunk(b"zTXt", b"Comment\x00\x00" + body) + png[end_of_ihdr:]


def _truncated_animated_gif():
    """An animated GIF cut inside the second frame's image descriptor: counting its frames
    (is_animated / n_frames) makes Pillow raise struct.error, which escaped open_image."""
    f = _gif_frames()
    data = encode(f[0], "GIF", save_all=True, append_images=f[1:], duration=100, loop=0)
    second_gce = data.index(b"\x21\xf9\x04", data.index(b"\x21\xf9\x04") + 1)
    return data[: second_gce + 10]


def _mkdir(root, case):
    os.makedirs(os.path.join(root, case.name))


def _mkfifo(root, case):
    os.mkfifo(os.path.join(root, case.name))


def _unreadable(root, case):
    path = write(root, case.name, gray_jpg())
    os.chmod(path, 0)


def _symlink(target):
    def build(root, case):
        path = os.path.join(root, case.name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.symlink(target, path)
    return build


def corpus_cases():
    """The Cases (nothing is written; make_corpus writes them)."""
    cases = []

    def add(name, build, kind, what, **kw):
        if isinstance(build, bytes):
            build = _bytes(lambda b=build: b)
        elif not getattr(build, "_builder", False):
            build = _bytes(build)  # a function returning the file's bytes
        cases.append(Case(name=name, kind=kind, what=what, build=build, **kw))

    def builder(f):
        f._builder = True
        return f

    G = GRAY_SIZE
    # unreadable as images
    add("empty.jpg", b"", "error", "zero-byte file", reason="empty file")
    add("text.jpg", b"this is not a picture\n" * 20, "error", "text file named .jpg", reason="not an image")
    add("truncated.jpg", lambda: gray_jpg()[: len(gray_jpg()) // 2], "error", "JPEG cut in half", reason="corrupt or truncated")
    add("truncated.png", lambda: gray_png()[: len(gray_png()) // 2], "error", "PNG cut in half", reason="corrupt or truncated")
    add("header_only.png", lambda: gray_png()[:40], "error", "PNG cut inside its IHDR chunk", reason="not an image")
    add("bad_crc_ihdr.png", lambda: flip_png_crc(gray_png(), b"IHDR"), "error", "PNG with a corrupt IHDR chunk CRC", reason="not an image")
    add("bad_crc_idat.png", lambda: flip_png_crc(gray_png(), b"IDAT"), "ok",
        "PNG with a corrupt IDAT chunk CRC (intact data: Pillow does not check IDAT CRCs)", size=G)
    add("corrupt_idat.png", lambda: corrupt_png_idat_data(gray_png()), "error", "PNG with garbage in its compressed data",
        reason="corrupt or truncated")
    add("truncated_animated.gif", _truncated_animated_gif, "error", "animated GIF cut inside its second frame header", reason="corrupt or truncated")
    add("bomb.png", png_bomb_bytes, "error", f"decompression bomb: {BOMB_SIDE}x{BOMB_SIDE} 1-bit PNG (~110 kB)", reason="image too large")
    add("bomb_header.jpg", _jpeg_bomb, "error", "JPEG whose header claims 65000x65000", reason="image too large")
    add("ztxt_bomb.png", _ztxt_bomb, "error", "PNG with a zTXt chunk inflating to 16 MB", reason="Decompressed data too large")

    # awkward but valid
    add("one_pixel.png", lambda: encode(Image.new("L", (1, 1), 128), "PNG"), "ok", "1x1 image", size=(1, 1))
    add("tall_1x20000.png", lambda: encode(Image.linear_gradient("L").resize((1, 20000)), "PNG"), "ok", "1x20000 image", size=(1, 20000))
    add("wide_20000x1.png", lambda: encode(Image.linear_gradient("L").resize((20000, 1)), "PNG"), "ok", "20000x1 image", size=(20000, 1))
    add("gray16.png", lambda: encode(Image.fromarray(np.asarray(_gray()[0], dtype=np.uint16) * 257), "PNG"), "ok",
        "16-bit grayscale PNG (I;16)", size=G)
    add("float32.tif", lambda: encode(Image.fromarray(np.asarray(_gray()[0], dtype=np.float32) / 255.0), "TIFF"), "ok",
        "32-bit float TIFF (F)", size=G)
    add("mode1.png", lambda: encode(_gray()[0].convert("1"), "PNG"), "ok", "1-bit PNG", size=G)

    def palette():
        return encode(_gray()[0].convert("P", palette=Image.Palette.ADAPTIVE, colors=16), "PNG", transparency=0)
    add("palette_transparent.png", palette, "ok", "palette PNG with transparency", size=G, mode="RGBA")

    def with_alpha(mode):
        im = _gray()[0].convert(mode)
        im.putalpha(Image.linear_gradient("L").resize(G))
        return encode(im, "PNG")
    add("la.png", lambda: with_alpha("L"), "ok", "LA (gray + alpha) PNG", size=G, mode="RGBA")
    add("rgba.png", lambda: with_alpha("RGB"), "ok", "RGBA PNG (gray content)", size=G, mode="RGBA")
    add("cmyk.jpg", lambda: encode(colour_picture().convert("CMYK"), "JPEG", quality=90), "ok", "CMYK JPEG (colour)", size=(64, 48),
        note="colour input")
    for o in range(1, 9):
        add(f"exif_orientation_{o}.jpg", lambda o=o: exif_jpeg(o), "ok",
            f"JPEG with EXIF Orientation={o}" + (" (stored 40x60)" if o >= 5 else ""), size=EXIF_SIZE, orientation=o)

    def gif():
        f = _gif_frames()
        return encode(f[0], "GIF", save_all=True, append_images=f[1:], duration=100, loop=0)
    add("animated.gif", gif, "ok", "animated GIF (3 frames)", size=G, note="only the first of 3 frames")
    add("multipage.tif", lambda: encode(_gray()[0], "TIFF", save_all=True, append_images=[_gray()[0]]), "ok",
        "2-page TIFF", size=G, note="only the first of 2 frames")
    add("progressive.jpg", lambda: encode(_gray()[0], "JPEG", quality=90, progressive=True), "ok", "progressive JPEG", size=G)
    add("colour.jpg", lambda: encode(colour_picture(), "JPEG", quality=90), "ok", "colour photo", size=(64, 48), note="colour input")
    add("png_named.jpg", gray_png, "ok", "PNG data in a file named .jpg", size=G)
    add("UPPER.JPG", gray_jpg, "ok", "upper-case extension", size=G)
    add(NON_UTF8_OK, gray_png, "ok", "image whose name is not UTF-8 (b'\\xff\\xfe.png')", size=G)
    add(NON_UTF8_BAD, b"not an image either", "error", "text file whose name is not UTF-8", reason="not an image")
    add("new\nline.png", gray_png, "ok", "image with a newline in its name", size=G)
    add("escape\x1b[31mred.jpg", b"not an image", "error", "text file with a terminal escape in its name", reason="not an image")

    # not regular files
    add("directory.jpg", builder(_mkdir), "error", "a directory named like an image", reason="is a directory",
        cli_reason="folder holds no images")
    add("fifo.jpg", builder(_mkfifo), "error", "a named pipe (FIFO) named like an image (opening it would block)",
        reason="not a regular file")
    add("unreadable.jpg", builder(_unreadable), "error", "unreadable file (chmod 000)", reason="permission denied")
    add("loop_a.jpg", builder(_symlink("loop_b.jpg")), "error", "symlink loop a -> b -> a",
        reason="cannot open (Too many levels of symbolic links)")
    add("loop_b.jpg", builder(_symlink("loop_a.jpg")), "error", "symlink loop (other end)",
        reason="cannot open (Too many levels of symbolic links)")
    add("dangling.jpg", builder(_symlink("missing.jpg")), "error", "dangling symlink", reason="no such file")
    add("link_to_good.png", builder(_symlink("one_pixel.png")), "ok", "symlink to a good image", size=(1, 1))

    # a folder input with loops, good images, a bad one and odd names inside
    add("folder/good.png", gray_png, "ok", "good image inside a folder", size=G, folder=True)
    add("folder/nested/deeper.jpg", gray_jpg, "ok", "good image two folders down", size=G, folder=True)
    add("folder/" + NON_UTF8_IN_FOLDER, gray_png, "ok", "non-UTF-8 name inside a folder", size=G, folder=True)
    add("folder/broken.png", lambda: gray_png()[:40], "error", "truncated PNG inside a folder", reason="not an image", folder=True)
    add("folder/nested/up_loop", builder(_symlink("..")), "skip", "directory symlink loop folder/nested/up_loop -> ..", folder=True)
    add("folder/self_loop", builder(_symlink(".")), "skip", "directory symlink loop folder/self_loop -> .", folder=True)
    add("folder/la.jpg", builder(_symlink("lb.jpg")), "error", "symlink loop inside a folder",
        reason="Too many levels of symbolic links", folder=True)
    add("folder/lb.jpg", builder(_symlink("la.jpg")), "error", "symlink loop inside a folder (other end)",
        reason="Too many levels of symbolic links", folder=True)
    return cases


def make_corpus(root):
    """Write the corpus below root; returns the list of Cases."""
    root = os.fspath(root)
    os.makedirs(root, exist_ok=True)
    cases = corpus_cases()
    for case in cases:
        case.build(root, case)
    return cases


def root_reads_anything(path):
    """True when this process can read a chmod-000 file (running as root)."""
    try:
        with open(path, "rb"):
            return True
    except PermissionError:
        return False


def snapshot(root):
    """{relative path (bytes): description} of everything below root, symlinks not followed:
    a file's sha256, a symlink's target, or 'dir'. Reads files even when chmod 000 (as root),
    restoring their mode; unreadable ones are described by their stat only."""
    import hashlib
    root_b = os.fsencode(os.fspath(root))
    out = {}
    for dirpath, dirnames, filenames in os.walk(root_b, followlinks=False):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root_b)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode))
            elif stat.S_ISREG(st.st_mode):
                try:
                    with open(p, "rb") as f:
                        digest = hashlib.sha256(f.read()).hexdigest()
                except PermissionError:
                    digest = ("unreadable", st.st_size, st.st_mtime_ns)
                out[rel] = ("file", stat.S_IMODE(st.st_mode), digest)
            else:
                out[rel] = ("special", stat.S_IFMT(st.st_mode))
    return out


def _table(argv=None):
    """Print the corpus -> API result -> CLI result table of docs/reliability.md, from an
    actual run (a random tiny model; python tests/badinputs.py)."""
    import shutil
    import subprocess
    import sys
    import tempfile

    from colorizer import Colorizer, ImageError
    from colorizer.files import display
    from helpers import make_tiny_model_file

    work = tempfile.mkdtemp(prefix="badinputs-")
    root = os.path.join(work, "corpus")
    cases = make_corpus(root)
    model = make_tiny_model_file(os.path.join(work, "tiny.safetensors"))
    c = Colorizer.load(model, device="cpu")
    api = {}
    for case in cases:
        if case.kind == "skip":
            continue
        try:
            result = c.colorize(os.path.join(root, case.name), size=64)
            out, notes = result.image, "; ".join(result.notes)
            api[case.name] = f"{out.mode} {out.size[0]}x{out.size[1]}" + (f" (note: {notes})" if notes else "")
        except ImageError as e:
            api[case.name] = f"ImageError: {e}"
    prefix = []
    if root_reads_anything(os.path.join(root, "unreadable.jpg")) and shutil.which("setpriv"):
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    out_dir = os.path.join(work, "OUT")
    inputs = [os.path.join(root, k.name) for k in cases if not k.folder] + [os.path.join(root, "folder")]
    p = subprocess.run(prefix + [sys.executable, "-m", "colorizer", "colorize", *inputs, "-o", out_dir, "--model", model,
                                 "--size", "64", "-q"], capture_output=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    err = p.stderr.decode("utf-8", "replace").splitlines()
    print(f"CLI exit status {p.returncode}; {len(err)} stderr lines; root={os.geteuid() == 0}; setpriv={bool(prefix)}\n")
    print("| # | corpus item | API (`Colorizer.colorize`) | CLI (stderr line, or the output written) |")
    print("|---|---|---|---|")
    for i, case in enumerate(cases, 1):
        path = os.path.join(root, case.name)
        lines = [ln[len(display(path)) + 2:] for ln in err if ln.startswith(display(path) + ": ")]
        if case.kind == "skip":
            cli_res, api_res = "not followed (no line, no output)", "n/a (a folder link)"
        else:
            api_res = api[case.name]
            rel = case.name[len("folder/"):] if case.folder else os.path.basename(case.name)
            out = os.path.join(out_dir, os.path.splitext(rel)[0] + ".png")
            cli_res = "; ".join(lines) if lines else ""
            if os.path.exists(out) and case.kind != "error" or (case.name == "unreadable.jpg" and os.path.exists(out)):
                with Image.open(out) as im:
                    cli_res = f"wrote {os.path.basename(display(out))} ({im.mode} {im.size[0]}x{im.size[1]})" + (f"; {cli_res}" if cli_res else "")
        esc = display(case.name).replace("|", "\\|")
        print(f"| {i} | `{esc}`: {case.what} | {api_res.replace('|', '/')} | {cli_res.replace('|', '/')} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    _table()
