"""Files on disk: finding images in folder trees, and writing atomically (a reader never
sees a partial file; a killed writer leaves only a hidden temporary file, which the next
run removes)."""
import os
import re
import stat
import tempfile


def _umask():
    m = os.umask(0)
    os.umask(m)
    return m


_FILE_MODE = 0o666 & ~_umask()


def atomic_write(path, write_fn, suffix=".tmp"):
    """Write through write_fn(tmp_path) then rename over path: readers never see a partial file."""
    d = os.path.dirname(os.path.abspath(path)) or "."
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix="." + os.path.basename(path) + ".", suffix=suffix)
    os.close(fd)
    try:
        write_fn(tmp)
        os.chmod(tmp, _FILE_MODE)  # mkstemp makes 0600; give the file the usual permissions
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_text(path, text):
    def w(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
    atomic_write(path, w)


_TEMP_NAME = re.compile(r"^\.(?P<final>.+)\.[a-z0-9_]{8}\.tmp$")


def remove_stale_temps(folder, before, names):
    """Delete the temporary files that atomic_write left in folder when its process was killed
    (SIGKILL, power loss) while writing one of the files `names`: hidden '.NAME.XXXXXXXX.tmp'
    files, for NAME in names, last written before the time `before` (so a concurrent writer's
    files are left alone). Not recursive. Returns the removed paths."""
    removed = []
    try:
        entries = os.listdir(folder)
    except OSError:
        return removed
    for f in entries:
        m = _TEMP_NAME.match(f)
        if not m or m.group("final") not in names:
            continue
        p = os.path.join(folder, f)
        try:
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode) and st.st_mtime < before:
                os.unlink(p)
                removed.append(p)
        except OSError:
            pass
    return removed


def find_images(root, exts):
    """All files below root whose extension (lower case, with the dot) is in exts,
    recursively, following no symlink loops, sorted. A file given as root is returned as is."""
    if os.path.isfile(root):
        return [root]
    out, seen = [], set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames.sort()
        for f in sorted(filenames):
            if os.path.splitext(f)[1].lower() in exts:
                out.append(os.path.join(dirpath, f))
    return out


def display(path):
    """A path (or message) as printable, one-line text, whatever bytes its name holds:
    undecodable bytes and control characters (newlines, terminal escapes) are escaped."""
    text = os.fsencode(path).decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii") for c in text)
