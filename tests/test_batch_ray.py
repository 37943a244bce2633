"""The batch on Ray (`colorizer colorize ... --engine ray`): over a folder of good and bad
files it writes the same files under the same names as the local engine, prints the
same messages and exits with the same status, and resumes with --skip-existing as the
local engine does. Ray is started once for the module (2 CPUs, no dashboard, local
only); the engine uses the Ray already running in the process."""
import os

import numpy as np
import pytest
from PIL import Image

from colorizer import batch_ray
from colorizer.cli import main
from helpers import gradient_image

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Good photos (one in a subfolder, two sharing a stem), an unreadable one, an empty one."""
    d = tmp_path_factory.mktemp("ray_inputs")
    (d / "sub").mkdir()
    gradient_image(64, 48, "L", seed=1).save(d / "a.png")
    gradient_image(64, 48, "L", seed=2).save(d / "a.jpg")
    gradient_image(48, 64, "RGB", seed=3).save(d / "sub" / "b.jpg")
    gradient_image(40, 40, "L", seed=4).save(d / "c.tif")
    (d / "broken.jpg").write_bytes(b"not a jpeg at all")
    (d / "empty.png").write_bytes(b"")
    return d


def _run(args, capsys):
    """(exit status, the message lines sorted; the progress bar left out)."""
    rc = main(args)
    err = capsys.readouterr().err.replace("\r", "\n")
    return rc, sorted(line.strip() for line in err.splitlines() if line.strip() and not line.startswith("colorizing"))


def _files(out):
    return sorted(os.path.relpath(os.path.join(r, f), out) for r, _, fs in os.walk(out) for f in fs)


def test_ray_gives_the_local_engines_files_messages_and_status(local_ray, inputs, tmp_path, tiny_model_path, capsys):
    common = ["colorize", str(inputs), "--model", tiny_model_path]
    local = _run(common + ["-o", str(tmp_path / "local")], capsys)
    on_ray = _run(common + ["-o", str(tmp_path / "ray"), "--engine", "ray", "--actors", "2"], capsys)
    assert local[0] == on_ray[0] == 1  # some failed
    here = [line.replace(str(tmp_path / "local"), "OUT") for line in local[1]]
    there = [line.replace(str(tmp_path / "ray"), "OUT") for line in on_ray[1]]
    assert here == there
    assert any("broken.jpg: " in line for line in there) and any("empty.png: " in line for line in there)
    assert any("a.png: note: shares its name with" in line for line in there)
    assert "4 colorized, 0 skipped, 2 failed -> OUT" in there
    assert _files(tmp_path / "local") == _files(tmp_path / "ray") == ["a.png", "a_1.png", "c.png", "sub/b.png"]
    for name in _files(tmp_path / "local"):  # the same model on the same photos: the same colours
        a = np.asarray(Image.open(tmp_path / "local" / name), dtype=int)
        b = np.asarray(Image.open(tmp_path / "ray" / name), dtype=int)
        assert a.shape == b.shape and np.abs(a - b).max() <= 1, name

    # again with --skip-existing: nothing is redone, on either engine
    again_local = _run(common + ["-o", str(tmp_path / "local"), "--skip-existing"], capsys)
    again_ray = _run(common + ["-o", str(tmp_path / "ray"), "--skip-existing", "--engine", "ray"], capsys)
    assert again_local[0] == again_ray[0] == 1
    assert [x.replace(str(tmp_path / "local"), "OUT") for x in again_local[1]] == \
        [x.replace(str(tmp_path / "ray"), "OUT") for x in again_ray[1]]
    assert "0 colorized, 4 skipped, 2 failed -> OUT" in [x.replace(str(tmp_path / "ray"), "OUT") for x in again_ray[1]]
    assert sorted(os.listdir(tmp_path / "ray")) == ["a.png", "a_1.png", "c.png", "sub"]


def test_ray_options_without_ray_or_without_the_engine_are_one_line_errors(inputs, tmp_path, monkeypatch, capsys):
    out = str(tmp_path / "out")
    assert main(["colorize", str(inputs), "-o", out, "--address", "auto"]) == 2
    assert capsys.readouterr().err == "colorizer: error: --address applies to --engine ray only\n"
    monkeypatch.setattr(batch_ray, "available", lambda: False)
    assert main(["colorize", str(inputs), "-o", out, "--engine", "ray"]) == 2
    err = capsys.readouterr().err
    assert err == ("colorizer: error: --engine ray needs Ray: pip install 'photo-colorizer[cluster]' "
                   "(or pip install 'ray[data]')\n")
    assert not os.path.exists(out)


def test_ray_and_webdataset_come_with_the_cluster_extra_not_the_base_install():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    with open(os.path.join(os.path.dirname(__file__), "..", "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    names = lambda reqs: {r.split(">")[0].split("=")[0].split("[")[0].strip() for r in reqs}  # noqa: E731
    assert not names(project["dependencies"]) & {"ray", "webdataset"}
    assert {"ray", "webdataset"} <= names(project["optional-dependencies"]["cluster"])
    assert "ray[data]>=2.50" in project["optional-dependencies"]["cluster"]
