"""Model files. Weights load only from safetensors, never through pickle; broken or tampered
model files give a one-line WeightsError (API) or one line and exit 2 (CLI); nothing in
the source unpickles (the training state's own tests are in test_training.py)."""
import ast
import copy
import io
import json
import os
import pickle
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from colorizer import Colorizer, WeightsError, cli
from colorizer.model_files import read_model_file

SRC = Path(__file__).resolve().parents[1] / "src" / "colorizer"


class _Marker:
    """Unpickling this creates the file `path` (what a malicious pickle would do)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _header(data):
    n = struct.unpack("<Q", data[:8])[0]
    return n, json.loads(data[8:8 + n])


def _with_header(data, header):
    n, _ = _header(data)
    hb = json.dumps(header).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    return struct.pack("<Q", len(hb)) + hb + data[8 + n:]


def _edit_meta(data, **meta):
    _, h = _header(data)
    h = copy.deepcopy(h)
    for k, v in meta.items():
        if v is None:
            h["__metadata__"].pop(k, None)
        else:
            h["__metadata__"][k] = v
    return _with_header(data, h)


def _reshape(data, suffix):
    """Same bytes, another shape: the weights of `suffix` now have the wrong shape."""
    _, h = _header(data)
    h = copy.deepcopy(h)
    k = next(k for k in h if k.endswith(suffix))
    s = h[k]["shape"]
    h[k]["shape"] = [s[0] // 2, s[1] * 2] + s[2:]
    return _with_header(data, h)


def _flip(data, start, n=24):
    return data[:start] + bytes(b ^ 0x5A for b in data[start:start + n]) + data[start + n:]


def _bins_of_shape(data, shape):
    _, h = _header(data)
    h = copy.deepcopy(h)
    q = h["extra.bins"]["shape"][0]
    assert q * 2 == int(torch.tensor(shape).prod())
    h["extra.bins"]["shape"] = list(shape)
    return _with_header(data, h)


def _no_model_tensors(data):
    from safetensors.torch import save
    _, h = _header(data)
    return save({"extra.bins": torch.zeros(4, 2)}, metadata=h["__metadata__"])


TAMPERED = {
    # name: (make(bytes) -> bytes, substring of the message)
    "truncated_half": (lambda d: d[: len(d) // 2], "not a readable safetensors file"),
    "truncated_in_header": (lambda d: d[:100], "not a readable safetensors file"),
    "empty": (lambda d: b"", "not a readable safetensors file"),
    "header_bytes_flipped": (lambda d: _flip(d, 8), "not a readable safetensors file"),
    "header_length_flipped": (lambda d: _flip(d, 0, 8), "not a readable safetensors file"),
    "tensor_bytes_flipped": (lambda d: _flip(d, len(d) - 4000, 64), None),  # garbage weights load: no crash
    "wrong_tensor_shape": (lambda d: _reshape(d, "cls_head.weight"), "weights do not fit"),
    "bins_wrong_shape": (lambda d: _bins_of_shape(d, (_header(d)[1]["extra.bins"]["shape"][0] * 2,)), "colour bins of shape"),
    "metadata_format_other": (lambda d: _edit_meta(d, format="other/1"), "not a colorizer model file"),
    "metadata_format_missing": (lambda d: _edit_meta(d, format=None), "not a colorizer model file"),
    "metadata_config_not_json": (lambda d: _edit_meta(d, config="{not json"), "corrupt metadata"),
    "metadata_config_a_list": (lambda d: _edit_meta(d, config="[1, 2]"), "corrupt metadata"),
    "metadata_info_a_list": (lambda d: _edit_meta(d, info="[]"), "corrupt metadata"),
    "metadata_arch_missing": (lambda d: _edit_meta(d, arch=None), "corrupt metadata"),
    "metadata_arch_unknown": (lambda d: _edit_meta(d, arch="resnet"), "unknown model architecture"),
    "metadata_config_unknown_key": (lambda d: _edit_meta(d, config=json.dumps(
        {**json.loads(_header(d)[1]["__metadata__"]["config"]), "evil": 1})), "weights do not fit"),
    "no_model_tensors": (_no_model_tensors, "holds no model weights"),
}


@pytest.fixture(scope="module")
def good_bytes(tiny_model_path):
    with open(tiny_model_path, "rb") as f:
        return f.read()


def _pickles(marker):
    plain = pickle.dumps({"model.weight": _Marker(marker)})
    buf = io.BytesIO()
    torch.save({"model.weight": torch.zeros(2), "x": _Marker(marker)}, buf)
    return {"plain_pickle": plain, "torch_save_zip": buf.getvalue()}


def _one_line(msg):
    assert msg and "\n" not in msg and "\r" not in msg and len(msg) < 400, repr(msg)


# --- pickle is never loaded ---------------------------------------------------------

@pytest.mark.parametrize("kind", ["plain_pickle", "torch_save_zip"])
def test_pickle_renamed_safetensors_is_refused_and_never_unpickled(tmp_path, kind):
    marker = tmp_path / "UNPICKLED"
    data = _pickles(str(marker))[kind]
    # the payload is live: unpickling it really creates the marker
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(_Marker(str(probe)))).close()
    assert probe.exists()
    path = tmp_path / "model.safetensors"
    path.write_bytes(data)
    with pytest.raises(WeightsError) as ei:
        Colorizer.load(str(path), device="cpu")
    _one_line(str(ei.value))
    assert "not a readable safetensors file" in str(ei.value)
    with pytest.raises(WeightsError):
        read_model_file(str(path))
    assert not marker.exists()


def test_cli_pickle_model_exit_2_one_line(tmp_path):
    marker = tmp_path / "UNPICKLED"
    model = tmp_path / "evil.safetensors"
    model.write_bytes(_pickles(str(marker))["torch_save_zip"])
    img = tmp_path / "in.png"
    from PIL import Image
    Image.new("L", (40, 30), 90).save(img)
    p = subprocess.run([sys.executable, "-m", "colorizer", "colorize", str(img), "-o", str(tmp_path / "OUT"),
                        "--model", str(model)], capture_output=True, timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1"))
    err = p.stderr.decode("utf-8", "replace")
    assert p.returncode == 2, err
    assert "Traceback" not in err and p.stdout == b""
    assert len(err.strip().splitlines()) == 1 and err.startswith("colorizer: error: ")
    assert "not a readable safetensors file" in err
    assert not marker.exists()
    assert not (tmp_path / "OUT").exists()


# --- broken and tampered files ------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(TAMPERED))
def test_tampered_model_api(tmp_path, good_bytes, name):
    make, expect = TAMPERED[name]
    path = tmp_path / f"{name}.safetensors"
    path.write_bytes(make(good_bytes))
    if expect is None:  # still a valid file: loads, and colorizing with garbage weights does not crash
        c = Colorizer.load(str(path), device="cpu")
        from PIL import Image
        assert c.colorize(Image.new("L", (40, 30), 90), size=32).image.size == (40, 30)
        return
    with pytest.raises(WeightsError) as ei:
        Colorizer.load(str(path), device="cpu")
    _one_line(str(ei.value))
    assert expect in str(ei.value), str(ei.value)


@pytest.mark.parametrize("name", [n for n in sorted(TAMPERED) if TAMPERED[n][1]])
def test_tampered_model_cli(tmp_path, good_bytes, name, capsys):
    """The `colorize` command (in-process: an escaping exception would fail the test)."""
    make, expect = TAMPERED[name]
    path = tmp_path / f"{name}.safetensors"
    path.write_bytes(make(good_bytes))
    from PIL import Image
    Image.new("L", (40, 30), 90).save(tmp_path / "in.png")
    rc = cli.main(["colorize", str(tmp_path / "in.png"), "-o", str(tmp_path / "OUT"), "--model", str(path), "-q"])
    out, err = capsys.readouterr()
    assert rc == 2
    assert out == "" and len(err.strip().splitlines()) == 1 and err.startswith("colorizer: error: ") and expect in err, err
    assert not (tmp_path / "OUT").exists()


@pytest.mark.parametrize("what", ["missing", "directory", "fifo"])
def test_model_path_not_a_file(tmp_path, what, capsys):
    path = tmp_path / "m.safetensors"
    if what == "directory":
        path.mkdir()
    elif what == "fifo":
        os.mkfifo(path)  # opening it would block
    with pytest.raises(WeightsError, match="no such model file"):
        Colorizer.load(str(path), device="cpu")
    from PIL import Image
    Image.new("L", (40, 30), 90).save(tmp_path / "in.png")
    assert cli.main(["colorize", str(tmp_path / "in.png"), "-o", str(tmp_path / "OUT"), "--model", str(path), "-q"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


# --- the source itself ------------------------------------------------------------------------

def _calls(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
            owner = f.value.id if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else None
            yield node, owner, name


def test_source_loads_no_pickle():
    """Every torch.load( in src/ passes weights_only=True; nothing uses pickle, np.load with
    allow_pickle, torch.jit.load or safetensors-less torch.load."""
    problems = []
    files = sorted(SRC.rglob("*.py"))
    assert len(files) >= 5
    for path in files:
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
                if any(m.split(".")[0] in ("pickle", "cPickle", "dill", "joblib", "shelve", "marshal") for m in mods):
                    problems.append(f"{path.name}:{node.lineno}: imports {mods}")
        for node, owner, name in _calls(tree):
            kw = {k.arg: k.value for k in node.keywords}
            if name == "load" and owner == "torch":
                v = kw.get("weights_only")
                if not (isinstance(v, ast.Constant) and v.value is True):
                    problems.append(f"{path.name}:{node.lineno}: torch.load without weights_only=True")
            if name == "load" and owner in ("np", "numpy") and "allow_pickle" in kw:
                problems.append(f"{path.name}:{node.lineno}: np.load(allow_pickle=...)")
            if name in ("loads", "load") and owner in ("pickle", "dill", "joblib", "marshal"):
                problems.append(f"{path.name}:{node.lineno}: {owner}.{name}")
        # and textually, in case of aliases (from torch import load as ...)
        assert text.count("torch.load(") == sum(1 for _, o, n in _calls(tree) if o == "torch" and n == "load"), path
        for bad in ("pickle.load", "import pickle", "from torch import load", "torch.jit.load"):
            if bad in text:
                problems.append(f"{path.name}: contains {bad!r}")
    assert not problems, problems
