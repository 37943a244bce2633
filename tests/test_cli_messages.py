"""What the command line says when things are not plain: two inputs with one name, an
output folder that cannot be written or is a file, outputs that already exist, Ctrl-C
(the count and the command that resumes), `serve` on a busy port, an unknown model, and
the output options (--format, --quality, --depth)."""
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from helpers import gradient_image, signal_when


def run_cli(*args, prefix=(), timeout=180):
    return subprocess.run([*prefix, sys.executable, "-m", "colorizer", *args], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, OMP_NUM_THREADS="1"))


def test_inputs_sharing_a_name_are_told_which_became_which(tmp_path, tiny_model_path):
    d = tmp_path / "in"
    d.mkdir()
    gradient_image(40, 30, "L").save(d / "gray16.png")
    gradient_image(40, 30, "L").save(d / "gray16.tif")
    out = tmp_path / "out"
    r = run_cli("colorize", str(d), "-o", str(out), "--model", tiny_model_path, "-q")
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines() == [f"{d / 'gray16.tif'}: note: shares its name with {d / 'gray16.png'}: written as "
                                     f"{out / 'gray16_1.png'}"]
    assert sorted(os.listdir(out)) == ["gray16.png", "gray16_1.png"]


def _no_dac_override(readonly):
    """As root, a command prefix under which file permissions apply (setpriv drops
    CAP_DAC_OVERRIDE), checked on the read-only folder `readonly`; [] when not root; None
    when that cannot be had."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if not setpriv:
        return None
    prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search"]
    probe = subprocess.run(prefix + ["touch", os.path.join(readonly, "probe")], capture_output=True)
    return prefix if probe.returncode != 0 else None


def test_an_unwritable_output_folder_is_one_error_before_any_photo_is_colorized(tmp_path, tiny_model_path):
    d = tmp_path / "in"
    d.mkdir()
    for i in range(3):
        gradient_image(40, 30, "L").save(d / f"p{i}.png")
    out = tmp_path / "readonly"
    out.mkdir()
    out.chmod(0o555)
    try:
        prefix = _no_dac_override(str(out))
        if prefix is None:
            pytest.skip("cannot make folder permissions apply to root here (no setpriv)")
        r = run_cli("colorize", str(d), "-o", str(out), "--model", tiny_model_path, prefix=prefix)
    finally:
        out.chmod(0o755)
    assert r.returncode == 2
    assert r.stderr.splitlines() == [f"colorizer: error: cannot use output folder {out} (Permission denied)"]
    assert os.listdir(out) == []


def test_an_output_path_that_is_a_file_is_a_clear_error(tmp_path, tiny_model_path):
    gradient_image(40, 30, "L").save(tmp_path / "a.png")
    (tmp_path / "results").write_text("a file")
    r = run_cli("colorize", str(tmp_path / "a.png"), "-o", str(tmp_path / "results"), "--model", tiny_model_path)
    assert r.returncode == 2
    assert r.stderr.splitlines() == [f"colorizer: error: cannot use output folder {tmp_path / 'results'}: it is a file "
                                     "(give -o a folder)"]
    r = run_cli("colorize", str(tmp_path / "a.png"), "-o", str(tmp_path / "results" / "sub"), "--model", tiny_model_path)
    assert r.returncode == 2
    assert r.stderr.splitlines() == [f"colorizer: error: cannot use output folder {tmp_path / 'results' / 'sub'} "
                                     "(a part of its path is a file)"]


def test_an_output_named_like_a_file_is_that_file_for_one_input(tmp_path, tiny_model_path):
    """-o colored.jpg (a newcomer's guess) for one input file writes that file, in the format
    its extension says (a folder on the way is made); for several inputs or a folder, an
    extension colorizer does not write, or a --format that disagrees, one line says why
    and nothing is written; the input itself is never the output; a folder that exists
    under such a name is used as a folder."""
    gradient_image(40, 30, "L").save(tmp_path / "a.png")
    gradient_image(40, 30, "L", seed=1).save(tmp_path / "b.png")
    r = run_cli("colorize", str(tmp_path / "a.png"), "-o", str(tmp_path / "colored.jpg"), "--model", tiny_model_path, "-q")
    assert r.returncode == 0, r.stderr
    with Image.open(tmp_path / "colored.jpg") as im:
        assert im.format == "JPEG" and im.size == (40, 30) and im.mode == "RGB"
    r = run_cli("colorize", str(tmp_path / "a.png"), "-o", str(tmp_path / "new" / "c.TIFF"), "--model", tiny_model_path, "-q")
    assert r.returncode == 0, r.stderr
    with Image.open(tmp_path / "new" / "c.TIFF") as im:
        assert im.format == "TIFF"
    assert os.listdir(tmp_path / "new") == ["c.TIFF"]
    r = run_cli("colorize", str(tmp_path / "a.png"), "-o", str(tmp_path / "colored.jpg"), "--model", tiny_model_path)
    assert r.returncode == 2 and r.stderr.splitlines() == [
        f"colorizer: error: {tmp_path / 'colored.jpg'} already exists: add --overwrite to replace it"]
    before = sorted(os.listdir(tmp_path))
    one = "names one file, for one input file;"
    for args, message in [
        ((str(tmp_path / "a.png"), str(tmp_path / "b.png"), "-o", str(tmp_path / "two.png")),
         f"-o {tmp_path / 'two.png'} {one} for 2 inputs pass a folder, e.g. -o {tmp_path / 'two'}/"),
        ((str(tmp_path), "-o", str(tmp_path / "all.png")),
         f"-o {tmp_path / 'all.png'} {one} for a folder pass a folder, e.g. -o {tmp_path / 'all'}/"),
        ((str(tmp_path / "a.png"), "-o", str(tmp_path / "c.gif")),
         f"-o {tmp_path / 'c.gif'}: a photo is written as .png, .jpg, .jpeg, .webp, .tif, .tiff"),
        ((str(tmp_path / "a.png"), "-o", str(tmp_path / "c.png"), "--format", "jpg"),
         f"--format jpg and -o {tmp_path / 'c.png'} disagree: drop one"),
        ((str(tmp_path / "a.png"), "-o", str(tmp_path / "c.mp4")),
         f"-o {tmp_path / 'c.mp4'}: a photo is written as .png, .jpg, .jpeg, .webp, .tif, .tiff"),
        ((str(tmp_path / "a.png"), "-o", ""),
         "-o needs a folder for the results (or, for one input file, a file name), not an empty name"),
    ]:
        r = run_cli("colorize", *args, "--model", tiny_model_path)
        assert r.returncode == 2 and r.stderr.splitlines() == [f"colorizer: error: {message}"], r.stderr
    assert sorted(os.listdir(tmp_path)) == before
    original = (tmp_path / "a.png").read_bytes()
    r = run_cli("colorize", str(tmp_path / "a.png"), "-o", str(tmp_path / "a.png"), "--overwrite", "--model", tiny_model_path)
    assert r.returncode == 1 and (tmp_path / "a.png").read_bytes() == original
    (tmp_path / "v1.png").mkdir()
    r = run_cli("colorize", str(tmp_path / "a.png"), "-o", str(tmp_path / "v1.png"), "--model", tiny_model_path, "-q")
    assert r.returncode == 0, r.stderr
    assert os.listdir(tmp_path / "v1.png") == ["a.png"]


def test_existing_outputs_are_refused_once_with_the_count_and_the_flags(tmp_path, tiny_model_path):
    d = tmp_path / "in"
    d.mkdir()
    for i in range(5):
        gradient_image(40, 30, "L").save(d / f"p{i}.png")
    out = tmp_path / "out"
    out.mkdir()
    for i in range(4):
        (out / f"p{i}.png").write_bytes(b"earlier")
    r = run_cli("colorize", str(d), "-o", str(out), "--model", tiny_model_path)
    assert r.returncode == 2
    assert r.stderr.splitlines() == [f"colorizer: error: 4 of 5 outputs already exist in {out} (p0.png, p1.png, p2.png, "
                                     "...): add --skip-existing to colorize only the others, or --overwrite to replace them"]
    assert sorted(os.listdir(out)) == [f"p{i}.png" for i in range(4)]
    r = run_cli("colorize", str(d), "-o", str(out), "--model", tiny_model_path, "--skip-existing")
    assert r.returncode == 0 and "1 colorized, 4 skipped, 0 failed" in r.stderr


def test_ctrl_c_says_how_many_are_done_and_the_command_that_resumes(tmp_path, tiny_model_path):
    d = tmp_path / "in"
    d.mkdir()
    n = 40  # photos large enough that the batch takes seconds even on an idle machine: the signal lands mid-batch
    for i in range(n):
        gradient_image(1024, 768, "L", seed=i).save(d / f"p{i:02d}.png")
    out = tmp_path / "out"
    args = ["colorize", str(d), "-o", str(out), "--model", tiny_model_path, "--size", "512", "--overwrite", "-q"]
    # SIGINT back to its default in the child: a test run started in the background (CI) inherits it ignored
    proc = subprocess.Popen([sys.executable, "-m", "colorizer", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, OMP_NUM_THREADS="1"),
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    done = lambda: os.path.isdir(out) and sum(f.endswith(".png") and not f.startswith(".") for f in os.listdir(out)) >= 2
    sent = signal_when({"int": (proc, done, signal.SIGINT)}, timeout=120)
    _, err = proc.communicate(timeout=60)
    assert sent["int"], err
    assert proc.returncode == 130 and "Traceback" not in err
    lines = err.strip().splitlines()
    written = len([f for f in os.listdir(out) if not f.startswith(".")])
    assert 2 <= written < n
    assert lines[-2] == f"interrupted: {written} of {n} outputs are in {out}; to resume, run:"
    # the same command with --skip-existing instead of --overwrite
    resume = shlex.split(lines[-1])
    assert resume == ["colorizer", *[a for a in args if a != "--overwrite"], "--skip-existing"]
    r = run_cli(*resume[1:])
    assert r.returncode == 0, r.stderr
    assert len([f for f in os.listdir(out) if not f.startswith(".")]) == n


def test_an_interrupt_between_a_written_file_and_its_count_still_counts_the_file(tmp_path, tiny_model_path, monkeypatch,
                                                                                 capsys):
    """The interrupted message counts the outputs on disk: a signal that lands after a file's
    rename but before the batch counted it still says the file is there (with --overwrite, an
    output of an earlier run is not counted; with --skip-existing it is, as the resume skips it)."""
    from colorizer import batch
    from colorizer.cli import main
    d, out = tmp_path / "in", tmp_path / "out"
    d.mkdir()
    out.mkdir()
    for i in range(3):
        gradient_image(32, 32, "L", seed=i).save(d / f"p{i}.png")
    old = out / "p2.png"
    Image.new("RGB", (32, 32)).save(old)
    os.utime(old, (1_000_000_000, 1_000_000_000))  # from an earlier run

    def run_jobs(colorizer, jobs, options, **kw):
        Image.new("RGB", (32, 32)).save(jobs[0].output)  # written, then the signal before it was counted
        raise KeyboardInterrupt
    monkeypatch.setattr(batch, "run_jobs", run_jobs)
    for flag, counted in (("--overwrite", 1), ("--skip-existing", 2)):
        assert main(["colorize", str(d), "-o", str(out), "--model", tiny_model_path, flag, "-q"]) == 130
        assert f"interrupted: {counted} of 3 outputs are in" in capsys.readouterr().err


def test_serve_on_a_busy_port_is_one_line_and_exit_status_2(tiny_model_path):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        r = run_cli("serve", "--port", str(port), "--model", tiny_model_path, timeout=60)
    finally:
        busy.close()
    assert r.returncode == 2
    assert r.stdout == ""  # no "serving ..." before the error
    assert r.stderr.splitlines() == [f"colorizer: error: cannot serve on 127.0.0.1:{port} (Address already in use): "
                                     "another server runs there; choose another --port"]


def test_the_unknown_model_message_lists_default_and_the_bundled_names(tmp_path):
    from colorizer.bundled import available_models
    gradient_image(40, 30, "L").save(tmp_path / "a.png")
    r = run_cli("colorize", str(tmp_path / "a.png"), "-o", str(tmp_path / "o"), "--model", "nope")
    assert r.returncode == 2
    assert r.stderr.splitlines() == [f"colorizer: error: unknown model 'nope': bundled models are "
                                     f"{', '.join(['default', *available_models()])}, or pass a .safetensors path"]


@pytest.mark.parametrize("args,message", [
    (["--format", "jpg", "--depth", "16"], "--depth 16 needs --format png or tif (jpg has 8 bits per channel)"),
    (["--format", "webp", "--depth", "16"], "--depth 16 needs --format png or tif (webp has 8 bits per channel)"),
    (["--quality", "0"], "--quality must be a whole number between 1 and 100, not 0"),
    (["--quality", "101"], "--quality must be a whole number between 1 and 100, not 101"),
])
def test_output_options_are_checked_before_any_work(tmp_path, tiny_model_path, args, message):
    gradient_image(40, 30, "L").save(tmp_path / "a.png")
    r = run_cli("colorize", str(tmp_path / "a.png"), "-o", str(tmp_path / "o"), "--model", tiny_model_path, *args)
    assert r.returncode == 2 and r.stderr.splitlines() == [f"colorizer: error: {message}"]
    assert not (tmp_path / "o").exists()


def test_depth_16_and_the_other_formats_from_the_command_line(tmp_path, tiny_model_path):
    ramp = (np.linspace(0.1, 0.9, 64 * 48).reshape(48, 64) * 65535).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "scan.png")
    out = tmp_path / "o"
    r = run_cli("colorize", str(tmp_path / "scan.png"), "-o", str(out), "--model", tiny_model_path, "--depth", "16",
                "--format", "tif", "-q")
    assert r.returncode == 0, r.stderr
    import tifffile
    rgb = tifffile.imread(out / "scan.tif")
    assert rgb.dtype == np.uint16 and rgb.shape == (48, 64, 3) and len(np.unique(rgb)) > 1000
    r = run_cli("colorize", str(tmp_path / "scan.png"), "-o", str(out), "--model", tiny_model_path, "--format", "webp",
                "--quality", "50", "-q")
    assert r.returncode == 0, r.stderr
    assert Image.open(out / "scan.webp").format == "WEBP"
