"""The batch engine (colorizer.batch) as a library: what the CLI and, later, a distributed
runner build on. Naming, collisions, skip / overwrite, per-file errors, stale temporary
files, never overwriting an input. (The CLI around it: tests/test_cli.py; interruption:
tests/test_interrupt.py.)"""
import os
import time

import numpy as np
import pytest
from PIL import Image

from colorizer import ColorizeOptions
from colorizer import batch as B
from helpers import gradient_image

OPTS = ColorizeOptions(size=64)


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    gradient_image(40, 30, "L").save(d / "a.png")
    gradient_image(40, 30, "L", seed=1).save(d / "a.jpg")          # same stem as a.png
    gradient_image(33, 21, "L").save(d / "sub" / "b.tif")
    (d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n-not-really")
    (d / "notes.txt").write_text("not an image")
    return d


def test_collect_and_plan_name_outputs_by_stem_and_keep_subfolders(folder, tmp_path):
    items, errors = B.collect([str(folder), str(tmp_path / "missing.png")])
    rel = sorted(stem for _, stem in items)
    assert rel == ["a", "a", "broken", os.path.join("sub", "b")]  # .txt is not an image
    assert errors == [(str(tmp_path / "missing.png"), "no such file or folder")]
    jobs = B.plan(items, str(tmp_path / "out"), "png")
    outs = sorted(os.path.relpath(j.output, tmp_path / "out") for j in jobs)
    assert outs == ["a.png", "a_1.png", "broken.png", os.path.join("sub", "b.png")]


def test_run_batch_colorizes_reports_each_file_and_goes_on_after_a_bad_one(folder, tmp_path, tiny_colorizer):
    seen = []
    out = tmp_path / "out"
    s = B.run_batch(tiny_colorizer, [str(folder)], str(out), OPTS, on_event=seen.append)
    assert (s.done, s.skipped, s.failed) == (3, 0, 1) and not s.ok
    failed = [e for e in s.events if e.kind == "failed"]
    assert len(failed) == 1 and failed[0].source.endswith("broken.png") and "\n" not in failed[0].line()
    assert failed[0].line().startswith(str(folder / "broken.png") + ": ")
    assert seen == s.events
    assert Image.open(out / "sub" / "b.png").size == (33, 21)
    assert Image.open(out / "a.png").size == (40, 30)


def test_existing_outputs_fail_skip_or_overwrite(folder, tmp_path, tiny_colorizer):
    src = str(folder / "a.png")
    out = tmp_path / "out"
    out.mkdir()
    Image.new("RGB", (5, 5), "red").save(out / "a.png")
    s = B.run_batch(tiny_colorizer, [src], str(out), OPTS)
    assert s.failed == 1 and "exists" in s.events[0].message
    assert Image.open(out / "a.png").size == (5, 5)  # untouched
    s = B.run_batch(tiny_colorizer, [src], str(out), OPTS, existing="skip")
    assert (s.done, s.skipped, s.failed) == (0, 1, 0)
    s = B.run_batch(tiny_colorizer, [src], str(out), OPTS, existing="overwrite")
    assert s.done == 1 and Image.open(out / "a.png").size == (40, 30)
    with pytest.raises(ValueError):
        B.run_batch(tiny_colorizer, [src], str(out), OPTS, existing="maybe")


def test_an_output_that_would_overwrite_an_input_is_refused(tmp_path, tiny_colorizer):
    gradient_image(20, 20, "L").save(tmp_path / "x.png")
    before = (tmp_path / "x.png").read_bytes()
    s = B.run_batch(tiny_colorizer, [str(tmp_path / "x.png")], str(tmp_path), OPTS, existing="overwrite")
    assert s.failed == 1 and "would overwrite an input" in s.events[0].message
    assert (tmp_path / "x.png").read_bytes() == before


def test_stale_temporary_files_of_a_killed_run_are_removed_and_others_kept(folder, tmp_path, tiny_colorizer):
    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".a.png.abcd1234.tmp"
    stale.write_bytes(b"half")
    other = out / ".unrelated.png.abcd1234.tmp"  # not an output of this batch
    other.write_bytes(b"x")
    old = time.time() - 60
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    s = B.run_batch(tiny_colorizer, [str(folder / "a.png")], str(out), OPTS)
    assert s.removed_temps == [str(stale)] and not stale.exists() and other.exists()


def test_an_unusable_output_folder_is_one_error_before_any_work(tmp_path, tiny_colorizer):
    (tmp_path / "file").write_text("x")
    gradient_image(20, 20, "L").save(tmp_path / "x.png")
    with pytest.raises(B.OutputFolderError, match="cannot use output folder"):
        B.run_batch(tiny_colorizer, [str(tmp_path / "x.png")], str(tmp_path / "file" / "out"), OPTS)


def test_jpg_format_and_notes(tmp_path, tiny_colorizer):
    gradient_image(30, 20, "RGB").save(tmp_path / "c.png")
    s = B.run_batch(tiny_colorizer, [str(tmp_path / "c.png")], str(tmp_path / "o"), OPTS, fmt="jpg")
    assert s.done == 1
    notes = [e for e in s.events if e.kind == "note"]
    assert [e.message for e in notes] == ["colour input: converted to grayscale first"]
    assert notes[0].line().endswith(": note: colour input: converted to grayscale first")
    img = Image.open(tmp_path / "o" / "c.jpg")
    assert img.format == "JPEG" and img.size == (30, 20)
    assert np.asarray(img).std() > 0
