"""Issue 5, "never crash, never lose a file": the Python API and the `colorize` command
on a corpus of bad and awkward inputs (tests/badinputs.py).

API: each input gives a correct image (size after EXIF rotation, mode, notes) or an
ImageError with a one-line reason. CLI: one run over the whole corpus prints one
`PATH: reason` line per bad file, no traceback, exits 1, writes the other outputs,
never hangs, writes nothing outside OUT_DIR and changes no input."""
import os
import shutil
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
from PIL import Image

import badinputs as bi
from colorizer import ImageError, batch, cli
from colorizer.files import display

CASES = bi.corpus_cases()
SIZE = 64  # network working size: small, the tests are about robustness
CLI_TIMEOUT = 600


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    return str(root), bi.make_corpus(root)


def _root_can_read(path):
    return bi.root_reads_anything(path)


def _bright_quadrant(img):
    """(row, col) of the brightest quarter of an image: the pictures have a bright block top-left."""
    a = np.asarray(img.convert("L"), dtype=np.float32)
    h, w = a.shape
    q = [[a[: h // 2, : w // 2].mean(), a[: h // 2, w // 2:].mean()], [a[h // 2:, : w // 2].mean(), a[h // 2:, w // 2:].mean()]]
    return tuple(int(i) for i in np.unravel_index(np.argmax(q), (2, 2)))


def check_ok_image(out, case, notes):
    assert isinstance(out, Image.Image)
    out.load()
    assert out.size == case.size, f"{case.id}: size {out.size}, expected {case.size}"
    assert out.mode == case.mode
    if case.note:
        assert any(case.note in n for n in notes), f"{case.id}: notes {notes} lack {case.note!r}"
    if case.orientation:
        assert _bright_quadrant(out) == (0, 0), f"{case.id}: EXIF orientation not applied"


def check_error_message(msg, reason):
    assert "\n" not in msg and "\r" not in msg, repr(msg)
    assert len(msg) < 300
    assert reason in msg, f"{msg!r} lacks {reason!r}"


# --- the Python API ----------------------------------------------------------

@pytest.mark.parametrize("case", [c for c in CASES if c.kind != "skip"], ids=lambda c: c.id)
def test_api_path(corpus, tiny_colorizer, case, monkeypatch):
    root, _ = corpus
    path = os.path.join(root, case.name)
    if case.name == "unreadable.jpg" and _root_can_read(path):
        # as root, chmod 000 does not stop reads: make the open itself fail with EACCES,
        # as it does for everybody else
        real_open = open

        def denied(p, *a, **k):
            if os.fspath(p) == path:
                raise PermissionError(13, "Permission denied", path)
            return real_open(p, *a, **k)
        monkeypatch.setattr("colorizer.image_io.open", denied, raising=False)
    t = time.monotonic()
    if case.kind == "ok":
        out = tiny_colorizer.colorize(path, size=SIZE)
        check_ok_image(out.image, case, out.notes)
    else:
        with pytest.raises(ImageError) as ei:
            tiny_colorizer.colorize(path, size=SIZE)
        check_error_message(str(ei.value), case.reason)
    assert time.monotonic() - t < 60


@pytest.mark.parametrize("case", [c for c in CASES if c.regular_file], ids=lambda c: c.id)
def test_api_bytes_and_file_object(corpus, tiny_colorizer, case):
    """The same files given as bytes and as an open file: the same outcome."""
    root, _ = corpus
    with open(os.path.join(root, case.name), "rb") as f:
        data = f.read()
    for source in (data, __import__("io").BytesIO(data)):
        if case.kind == "ok":
            out = tiny_colorizer.colorize(source, size=SIZE)
            check_ok_image(out.image, case, out.notes)
        else:
            with pytest.raises(ImageError) as ei:
                tiny_colorizer.colorize(source, size=SIZE)
            assert "\n" not in str(ei.value)


def test_api_pil_image_and_pixel_limit(tiny_colorizer):
    img = bi.gray_picture(100, 80)
    assert tiny_colorizer.colorize(img, size=SIZE).image.size == (100, 80)
    with pytest.raises(ImageError, match="image too large: 100x80"):
        tiny_colorizer.colorize(img, size=SIZE, max_pixels=5000)


def _vm_hwm_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])


def test_bomb_refused_before_decoding(corpus, tiny_colorizer):
    """900 megapixels in ~110 kB: refused from the header, fast and without the memory a
    decode would take (a 1-bit 30000x30000 image is 900 MB as Pillow holds it)."""
    root, _ = corpus
    path = os.path.join(root, "bomb.png")
    assert os.path.getsize(path) < 200_000
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak resident size (VmHWM)
        can_measure = True
    except OSError:
        can_measure = False
    before = _vm_hwm_kb()
    t = time.monotonic()
    for source in (path, open(path, "rb").read()):
        with pytest.raises(ImageError, match="image too large: 30000x30000"):
            tiny_colorizer.colorize(source, size=SIZE)
    assert time.monotonic() - t < 5
    if can_measure:
        assert _vm_hwm_kb() - before < 100_000, "the bomb was decoded (peak memory grew by more than 100 MB)"


def test_no_file_handles_left_open(corpus, tiny_colorizer):
    root, cases = corpus
    import gc
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        for case in cases:
            if case.kind != "skip" and case.name != "unreadable.jpg":
                try:
                    tiny_colorizer.colorize(os.path.join(root, case.name), size=32)
                except ImageError:
                    pass
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaks, leaks[:3]


# --- the command line ----------------------------------------------------------

def _drop_root_read_override(path):
    """As root, a command prefix that makes chmod 000 effective (drops CAP_DAC_OVERRIDE and
    CAP_DAC_READ_SEARCH from the child), or None when that is unavailable."""
    if not _root_can_read(path):
        return []  # not root: permissions already apply
    setpriv = shutil.which("setpriv")
    if not setpriv:
        return None
    prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search"]
    probe = subprocess.run(prefix + ["head", "-c1", path], capture_output=True)
    return prefix if probe.returncode != 0 else None


def run_cli(args, cwd, env_extra=None, prefix=(), timeout=CLI_TIMEOUT):
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1", **(env_extra or {}))
    t = time.monotonic()
    p = subprocess.run(list(prefix) + [sys.executable, "-m", "colorizer", *args], cwd=cwd, env=env,
                       capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace"), time.monotonic() - t


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory, tiny_model_path):
    """ONE `colorize` run over the whole corpus (every top-level item as a file argument,
    plus folder/ as a folder input), with TMPDIR and HOME inside the watched tree."""
    work = str(tmp_path_factory.mktemp("cli"))
    root = os.path.join(work, "corpus")
    cases = bi.make_corpus(root)
    out = os.path.join(work, "OUT")
    for d in ("tmp", "home"):
        os.makedirs(os.path.join(work, d))
    prefix = _drop_root_read_override(os.path.join(root, "unreadable.jpg"))
    inputs = [os.path.join(root, c.name) for c in cases if not c.folder] + [os.path.join(root, "folder")]
    before = bi.snapshot(work)
    rc, stdout, stderr, secs = run_cli(["colorize", *inputs, "-o", out, "--model", tiny_model_path, "--size", str(SIZE), "-q"],
                                       cwd=work,
                                       env_extra={"TMPDIR": os.path.join(work, "tmp"), "HOME": os.path.join(work, "home")},
                                       prefix=prefix or [])
    after = bi.snapshot(work)
    return dict(work=work, root=root, out=out, cases=cases, inputs=inputs, rc=rc, stdout=stdout, stderr=stderr, secs=secs,
                before=before, after=after, unreadable_effective=prefix is not None)


def _expected(case, run):
    """The CLI's expected outcome for a case: ("ok", None) or ("error", reason)."""
    if case.name == "unreadable.jpg" and not run["unreadable_effective"]:
        return "ok", None
    if case.kind == "error":
        return "error", case.cli_reason or case.reason
    return case.kind, None


def _lines_for(stderr, path):
    head = display(path) + ": "
    return [ln for ln in stderr.splitlines() if ln.startswith(head)]


def test_cli_exit_code_and_no_traceback(cli_run):
    r = cli_run
    assert "Traceback" not in r["stdout"] + r["stderr"], r["stderr"][-3000:]
    assert r["rc"] == 1, r["stderr"][-3000:]
    assert r["stdout"] == ""
    assert r["secs"] < CLI_TIMEOUT


def test_cli_one_line_per_bad_file(cli_run):
    r = cli_run
    problems = []
    for case in r["cases"]:
        kind, reason = _expected(case, r)
        lines = [ln for ln in _lines_for(r["stderr"], os.path.join(r["root"], case.name)) if ": note: " not in ln]
        if kind == "error":
            if len(lines) != 1 or reason not in lines[0]:
                problems.append((case.id, reason, lines))
        elif lines:
            problems.append((case.id, "no error line", lines))
    assert not problems, problems


def test_cli_every_stderr_line_names_an_input(cli_run):
    """stderr holds nothing but `PATH: reason` and `PATH: note: ...` lines, one line each
    (names with newlines and escape characters are escaped)."""
    r = cli_run
    heads = {display(os.path.join(r["root"], c.name)) + ": " for c in r["cases"]}
    for ln in r["stderr"].splitlines():
        assert any(ln.startswith(h) for h in heads), repr(ln)
        assert "\x1b" not in ln
    n_errors = sum(1 for c in r["cases"] if _expected(c, r)[0] == "error")
    n_notes = sum(1 for c in r["cases"] if c.note and _expected(c, r)[0] == "ok")
    # and, before the batch, one for each input whose output name another input already has
    jobs = batch.plan(batch.collect(r["inputs"], exclude=r["out"])[0], r["out"], "png")
    n_shared = sum(len(group) - 1 for group in batch.shared_stems(jobs))
    assert sum(": note: shares its name with " in ln for ln in r["stderr"].splitlines()) == n_shared > 0
    assert len(r["stderr"].splitlines()) == n_errors + n_notes + n_shared


def test_cli_unreadable_file(cli_run):
    """chmod 000: as root, reads are not blocked; the CLI then runs without CAP_DAC_OVERRIDE
    and CAP_DAC_READ_SEARCH (setpriv). Skipped only where neither works."""
    r = cli_run
    if not r["unreadable_effective"]:
        pytest.skip("running as root without setpriv: chmod 000 does not stop reads here "
                    "(the API test covers it by making open() fail with EACCES)")
    path = os.path.join(r["root"], "unreadable.jpg")
    assert [ln for ln in _lines_for(r["stderr"], path)] == [f"{display(path)}: permission denied"]
    assert not os.path.exists(os.path.join(r["out"], "unreadable.png"))


def test_cli_notes(cli_run):
    r = cli_run
    for case in r["cases"]:
        if case.note:
            notes = [ln for ln in _lines_for(r["stderr"], os.path.join(r["root"], case.name)) if ": note: " in ln]
            assert len(notes) == 1 and case.note in notes[0], (case.id, notes)


def test_cli_outputs_for_good_files(cli_run):
    r = cli_run
    expected = set()
    for case in r["cases"]:
        if _expected(case, r)[0] != "ok":
            continue
        rel = case.name[len("folder/"):] if case.folder else os.path.basename(case.name)
        out = os.path.join(r["out"], os.path.splitext(rel)[0] + ".png")
        expected.add(os.path.relpath(out, r["out"]))
        assert os.path.isfile(out), f"{case.id}: no output"
        with Image.open(out) as im:
            check_ok_image(im, case, [case.note] if case.note else [])
    found = {os.path.relpath(os.path.join(d, f), r["out"]) for d, _, fs in os.walk(r["out"]) for f in fs}
    assert found == expected, (found ^ expected)


def test_cli_writes_only_in_out_and_changes_no_input(cli_run):
    r = cli_run
    before, after = r["before"], r["after"]
    out_prefix = b"OUT"
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    outside = {k for k in changed if not (k == out_prefix or k.startswith(out_prefix + b"/"))}
    assert not outside, sorted(outside)  # inputs unchanged (sha256, modes, links); TMPDIR and HOME untouched
    assert all(not k.startswith(out_prefix) for k in before)


def test_cli_bomb_is_quick(cli_run):
    """The whole corpus run, bombs included, stays well inside its time limit."""
    assert cli_run["secs"] < 300


def test_cli_good_folder_with_out_inside_it(tmp_path, tiny_model_path, capsys):
    """Good inputs only (exit 0, the summary line with the progress bar on); OUT inside the
    input folder holds an earlier result, which is not taken as an input."""
    photos = tmp_path / "photos"
    (photos / "colour").mkdir(parents=True)
    for i in range(3):
        bi.gray_picture(seed=i).save(photos / f"p{i}.jpg")
    bi.gray_picture().save(photos / "colour" / "old.png")
    rc = cli.main(["colorize", str(photos), "-o", str(photos / "colour"), "--model", tiny_model_path, "--size", "32"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "3 colorized, 0 skipped, 0 failed" in err
    assert sorted(os.listdir(photos / "colour")) == ["old.png", "p0.png", "p1.png", "p2.png"]


def test_cli_refuses_to_overwrite_an_input(tmp_path, tiny_model_path, capsys):
    src = tmp_path / "a.png"
    bi.gray_picture().save(src)
    digest = bi.snapshot(tmp_path)
    rc = cli.main(["colorize", str(src), "-o", str(tmp_path), "--model", tiny_model_path, "--size", "32", "--overwrite", "-q"])
    err = capsys.readouterr().err
    assert rc == 1 and "would overwrite an input" in err
    assert bi.snapshot(tmp_path) == digest


@pytest.mark.parametrize("problem", ["out_is_a_file", "missing_input", "bad_size"])
def test_cli_usage_errors_are_one_line(tmp_path, tiny_model_path, capsys, problem):
    src = tmp_path / "a.jpg"
    bi.gray_picture().save(src)
    args = ["colorize", str(src), "-o", str(tmp_path / "OUT"), "--model", tiny_model_path, "-q"]
    if problem == "out_is_a_file":
        (tmp_path / "OUT").write_bytes(b"x")
        expect_rc, expect = 2, "cannot use output folder"
    elif problem == "missing_input":
        args[1] = str(tmp_path / "nope.jpg")
        expect_rc, expect = 1, "no such file or folder"
    else:
        args += ["--size", "5"]
        expect_rc, expect = 2, "--size must be a whole number between 32 and 4096, not 5"
    rc = cli.main(args)
    err = capsys.readouterr().err
    assert rc == expect_rc, err
    assert len(err.strip().splitlines()) == 1 and expect in err, err
