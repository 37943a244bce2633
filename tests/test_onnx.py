"""ONNX export (colorizer.export, `colorizer export`) and the ONNX Runtime backend
(colorizer.backends.onnxruntime, `--backend onnxruntime`): the exported network matches
PyTorch, the file describes itself, the cache, and the one-line errors."""
import json
import os
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
import onnx  # noqa: E402

from colorizer import Colorizer, decoding  # noqa: E402
from colorizer.backends import NAMES, BackendError, choose, load_backend  # noqa: E402
from colorizer.backends.onnxruntime import OrtBackend  # noqa: E402
from colorizer.bundled import resolve_model, shipped_onnx  # noqa: E402
from colorizer.cli import colorize as cli_colorize  # noqa: E402
from colorizer.cli import main  # noqa: E402
from colorizer.export import FORMAT, cache_dir, export_model, file_sha256, read_metadata  # noqa: E402
from colorizer.image_io import read_image  # noqa: E402
from colorizer.merge import merge_full_res  # noqa: E402
from colorizer.metrics import ciede2000  # noqa: E402
from colorizer.model_files import WeightsError, read_model_file  # noqa: E402
from colorizer.options import ColorizeOptions  # noqa: E402
from colorizer.pipeline import offered, to_working_size  # noqa: E402
from helpers import gradient_image, make_tiny_model_file  # noqa: E402


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory, tiny_model_path):
    out = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    result = export_model(tiny_model_path, out)
    return str(out), result


@pytest.fixture(scope="module")
def hint_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("hints")
    path = make_tiny_model_file(d / "tiny-hints.safetensors", hints=True, seed=3)
    export_model(path, d / "tiny-hints.onnx")
    return path, str(d / "tiny-hints.onnx")


def one_line_error(err):
    lines = [line for line in err.strip().splitlines() if line.strip()]
    return len(lines) == 1 and lines[0].startswith("colorizer: error:") and "Traceback" not in err


# --- the file ---------------------------------------------------------------------------------

def test_export_passes_the_checker_and_describes_itself(tiny_onnx, tiny_model_path):
    path, result = tiny_onnx
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input] == ["L"] == result.inputs
    assert [o.name for o in model.graph.output] == ["logits", "ab", "logits_pool2"] == result.outputs
    # batch, height and width are dynamic
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 1, "height", "width"]
    # the network's last crop and cast (identities at multiples of 32) are not in the graph:
    # the class head's convolution writes the logits
    producer = {o: n for n in model.graph.node for o in n.output}
    assert producer["logits"].op_type == "Conv" and "cls_head" in producer["logits"].name
    # the metadata round-trips: what the model file says, and its extra tensors exactly
    props = {p.key: p.value for p in model.metadata_props}
    assert props["format"] == FORMAT
    arch, config, info, extra, inputs, outputs = read_metadata(props)
    arch0, config0, info0, _, extra0 = read_model_file(tiny_model_path)
    assert (arch, config, info) == (arch0, config0, info0)
    assert set(extra) == set(extra0) == {"bins", "prior", "class_weights"}
    for k in extra0:
        assert torch.equal(extra[k], extra0[k].float())
    assert inputs["L"]["multiple_of"] == 32 and "reflect" in inputs["L"]["padding"]
    assert set(outputs) == {"logits", "ab", "logits_pool2"}
    assert "colorizer_version" in props and "sha256" in props["source"]
    # export_model ran it in ONNX Runtime and compared it with PyTorch
    assert set(result.max_difference) == {"logits", "ab", "logits_pool2"} and max(result.max_difference.values()) < 1e-4


def test_the_decoding_settings_travel_in_the_file(tmp_path):
    decoding = {"default": "min-risk", "annealed-mean": {"blend": 0.25}}
    path = make_tiny_model_file(tmp_path / "m.safetensors", info={"decoding": decoding})
    export_model(path, tmp_path / "m.onnx", check_runtime=False)
    c = Colorizer.load(str(tmp_path / "m.onnx"), backend="onnxruntime")
    assert c.default_decoding == "min-risk" and c.decoders["annealed-mean"].settings()["blend"] == 0.25
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    assert props["decoding"] == '{"default": "min-risk", "annealed-mean": {"blend": 0.25}}'


# --- the same outputs as PyTorch ----------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 1, 64, 96), (2, 1, 96, 32), (1, 1, 50, 70), (1, 1, 17, 33)])
def test_onnxruntime_matches_pytorch_logits(tiny_onnx, tiny_colorizer, shape):
    """Within 1e-4 at multiples of 32 and at other sizes too (padded outside the graph as the network pads inside)."""
    ort_backend = OrtBackend.load(tiny_onnx[0]).backend
    L = torch.rand(*shape, generator=torch.Generator().manual_seed(1)) * 100
    want, got = tiny_colorizer.backend(L), ort_backend(L)
    assert set(got) == set(want)
    for k in want:
        assert got[k].shape == want[k].shape
        assert (got[k] - want[k]).abs().max() < 1e-4, k


@pytest.mark.parametrize("shape", [(1, 1, 64, 96), (1, 1, 50, 70)])
def test_both_backends_give_the_pooled_scores_min_risk_reads(tiny_onnx, tiny_colorizer, shape):
    """Asked for the pooled scores, each backend computes only them: the logits averaged over
    2x2 blocks (at multiples of 32), or the logits themselves where blocks would straddle
    the padding; min-risk decodes either to the same a,b as from the full logits (in float32:
    bfloat16's rounding differs between the scores' layouts)."""
    ort_backend = OrtBackend.load(tiny_onnx[0]).backend
    L = torch.rand(*shape, generator=torch.Generator().manual_seed(3)) * 100
    full = tiny_colorizer.backend(L)
    decoder = decoding.create("min-risk", tiny_colorizer.extra, {"precision": "float32"})
    for backend in (tiny_colorizer.backend, ort_backend):
        assert "logits_pool2" in backend.outputs and decoder.reads(backend.outputs) == ("logits_pool2",)
        got = backend(L, outputs=decoder.reads(backend.outputs))
        if shape[-1] % 32 == 0 and shape[-2] % 32 == 0:
            assert set(got) == {"logits_pool2"}
            assert (got["logits_pool2"] - F.avg_pool2d(full["logits"], 2)).abs().max() < 1e-4
        else:
            assert set(got) == {"logits"} and (got["logits"] - full["logits"]).abs().max() < 1e-4
        ab = decoder(got, 0.62)
        assert ab.shape == full["logits"].shape[:1] + (2,) + full["logits"].shape[2:]
        assert (ab - decoder(full, 0.62)).abs().max() < 1e-3
    with pytest.raises(ValueError, match="no output"):
        ort_backend(L, outputs=("logits", "colour"))


def test_fewer_outputs_run_a_graph_without_the_others(tiny_onnx, monkeypatch):
    """ONNX Runtime runs the whole graph whatever is fetched: asked for the pooled scores
    alone, the backend runs a session made without the other outputs (so without the
    layers that only fed them), once, and gives the same numbers."""
    backend = OrtBackend.load(tiny_onnx[0]).backend
    L = torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(5)) * 100
    want = backend.session.run(["logits_pool2"], {"L": L.numpy()})[0]
    got = backend(L, outputs=("logits_pool2",))["logits_pool2"].numpy()
    session = backend.session_for(("logits_pool2",))
    assert [o.name for o in session.get_outputs()] == ["logits_pool2"] and session is not backend.session
    assert backend.session_for(("logits_pool2",)) is session  # made once
    assert np.abs(got - want).max() < 1e-5
    # without the onnx package (to edit the graph) the whole graph runs, with the same result
    monkeypatch.setitem(sys.modules, "onnx", None)
    plain = OrtBackend.load(tiny_onnx[0]).backend
    assert plain.session_for(("logits_pool2",)) is plain.session
    assert np.abs(plain(L, outputs=("logits_pool2",))["logits_pool2"].numpy() - want).max() < 1e-5


def test_colorize_output_matches_pytorch(tiny_onnx, tiny_colorizer):
    c = Colorizer.load(tiny_onnx[0], backend="onnxruntime")
    assert c.backend.name == "onnxruntime" and str(c.backend.device) == "cpu"
    for img, options in ((gradient_image(123, 77, "L"), {}), (gradient_image(64, 64, "RGB", seed=2), {"vibrance": 0.9}),
                         (gradient_image(90, 40, "L"), {"decoding": "annealed-mean", "size": 96})):
        a = np.asarray(c.colorize(img, **options).image, dtype=np.int16)
        b = np.asarray(tiny_colorizer.colorize(img, **options).image, dtype=np.int16)
        assert np.abs(a - b).max() <= 1
        assert ciede2000(a / 255.0, b / 255.0) < 0.1


def test_hint_aware_network_exports_with_its_hints_input(hint_model):
    path, onnx_path = hint_model
    model = onnx.load(onnx_path)
    assert [i.name for i in model.graph.input] == ["L", "hints"]
    torch_backend = load_backend(path, "torch", "cpu").backend
    ort_backend = OrtBackend.load(onnx_path).backend
    assert ort_backend.takes_hints and torch_backend.takes_hints
    g = torch.Generator().manual_seed(2)
    for H, W in ((64, 96), (40, 50)):
        L = torch.rand(1, 1, H, W, generator=g) * 100
        hints = torch.zeros(1, 3, H, W)
        hints[0, :2, 5:9, 7:12] = torch.tensor([0.4, -0.3])[:, None, None]
        hints[0, 2, 5:9, 7:12] = 1.0
        for h in (None, hints):
            want, got = torch_backend(L, h), ort_backend(L, h)
            for k in want:
                assert (got[k] - want[k]).abs().max() < 1e-4, (k, H, W, h is None)
        # the hints change the output, so the hints input is wired in
        assert (ort_backend(L, hints)["logits"] - ort_backend(L)["logits"]).abs().max() > 1e-3


def test_hints_colorize_the_same_with_both_backends(hint_model):
    path, onnx_path = hint_model
    options = ColorizeOptions(hints=("10,12,#2e7d32", "50,30,#c62828"))
    img = gradient_image(80, 60, "L")
    a = np.asarray(Colorizer.load(onnx_path, backend="onnxruntime").colorize(img, options).image, dtype=np.int16)
    b = np.asarray(Colorizer.load(path, device="cpu").colorize(img, options).image, dtype=np.int16)
    assert np.abs(a - b).max() <= 1


def test_a_network_without_hints_refuses_them(tiny_onnx):
    backend = OrtBackend.load(tiny_onnx[0]).backend
    with pytest.raises(ValueError, match="takes no hints"):
        backend(torch.zeros(1, 1, 32, 32), torch.zeros(1, 3, 32, 32))


# --- the command line -----------------------------------------------------------------------------

def test_cli_export_then_colorize_with_onnxruntime(tmp_path, tiny_model_path, capsys):
    out = tmp_path / "model.onnx"
    assert main(["export", tiny_model_path, "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "onnx.checker passed" in err and "ONNX Runtime vs PyTorch" in err
    gradient_image(70, 50, "L").save(tmp_path / "a.png")
    for backend, model, folder in (("onnxruntime", str(out), "o1"), ("torch", tiny_model_path, "o2")):
        assert main(["colorize", str(tmp_path / "a.png"), "-o", str(tmp_path / folder), "-q",
                     "--backend", backend, "--model", model]) == 0
    a = np.asarray(Image_open(tmp_path / "o1" / "a.png"), dtype=np.int16)
    b = np.asarray(Image_open(tmp_path / "o2" / "a.png"), dtype=np.int16)
    assert a.shape == (50, 70, 3) and np.abs(a - b).max() <= 1


def Image_open(path):
    from PIL import Image
    with Image.open(path) as im:
        return im.convert("RGB")


def test_export_help_says_the_shape_rule(capsys):
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "MULTIPLES OF 32" in text and "reflection" in text and "decoding" in text


def test_backend_choices_are_the_backends():
    import argparse
    sub = argparse.ArgumentParser().add_subparsers()
    cli_colorize.add_parser(sub)
    action = next(a for a in sub.choices["colorize"]._actions if a.dest == "backend")
    assert tuple(action.choices) == NAMES


def test_cli_export_errors_are_one_line(tmp_path, capsys):
    seed = make_tiny_model_file(tmp_path / "seed.safetensors", arch="seed")
    for args, words in ((["export", seed, "-o", str(tmp_path / "s.onnx")], "cannot be exported to ONNX"),
                        (["export", "nope", "-o", str(tmp_path / "n.onnx")], "unknown model 'nope'"),
                        (["export", "-o", str(tmp_path / "n.txt")], "must name a .onnx file")):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert one_line_error(err) and words in err, err
    assert not os.path.exists(tmp_path / "s.onnx")


def test_export_without_the_onnx_package_says_how_to_install_it(tmp_path, monkeypatch, tiny_model_path, capsys):
    monkeypatch.setitem(sys.modules, "onnx", None)
    assert main(["export", tiny_model_path, "-o", str(tmp_path / "t.onnx")]) == 2
    err = capsys.readouterr().err
    assert one_line_error(err) and "pip install onnx" in err and not os.path.exists(tmp_path / "t.onnx")


# --- the default backend and the shipped export ------------------------------------------------------

def test_auto_runs_the_bundled_default_in_onnxruntime_and_the_rest_in_pytorch(tiny_model_path, tiny_onnx):
    assert choose() == choose("default") == choose("unet", device="cpu") == "onnxruntime"
    assert choose("seed") == "torch"                      # its network does not export
    assert choose(tiny_model_path) == "torch"             # a model file of one's own: no export to trust
    assert choose(tiny_onnx[0]) == "onnxruntime"          # an exported file
    assert choose("default", device="cuda") == "torch"    # a GPU
    assert choose("default", backend="torch") == "torch" and choose(tiny_model_path, "onnxruntime") == "onnxruntime"
    c = Colorizer.load()
    assert c.backend.name == "onnxruntime" and os.path.samefile(c.path, shipped_onnx(resolve_model()[0]))
    assert Colorizer.load("seed").backend.name == "torch"


def test_the_shipped_export_is_the_bundled_weights_network():
    """weights/unet.onnx was exported from weights/unet.safetensors (scripts/ship_model.py):
    its metadata names those bytes, and it computes what PyTorch computes from them."""
    weights, _ = resolve_model("unet")
    path = shipped_onnx(weights)
    assert path and path.endswith("unet.onnx")
    props = {p.key: p.value for p in onnx.load(path, load_external_data=False).metadata_props}
    arch, config, info, extra, _, outputs = read_metadata(props, path)
    arch0, config0, info0, _, extra0 = read_model_file(weights)
    assert (arch, config, info) == (arch0, config0, info0)
    assert set(outputs) == {"logits", "ab", "logits_pool2", "hint_keys", "logits_fast"}
    assert json.loads(props["source"])["sha256"] == file_sha256(weights), \
        "unet.onnx is stale: colorizer export unet -o src/colorizer/weights/unet.onnx"
    L = torch.rand(1, 1, 96, 64, generator=torch.Generator().manual_seed(4)) * 100
    want = load_backend("unet", "torch", "cpu").backend(L)
    got = load_backend("unet", "onnxruntime").backend(L)
    for k in want:
        assert (got[k] - want[k]).abs().max() < 1e-3, k


def test_the_default_colours_are_the_same_with_either_backend():
    """The same colours from either backend's network, decoded in float32 (on a CPU with AMX,
    "auto" decodes ONNX Runtime's channels-last scores in bfloat16: within 0.1 still)."""
    img = gradient_image(150, 110, "L", seed=5)
    ort_c, torch_c = Colorizer.load(), Colorizer.load(backend="torch")
    auto = np.asarray(ort_c.colorize(img).image, dtype=np.int16)
    for c in (ort_c, torch_c):
        c.decoders["min-risk"].precision = "float32"
    a = np.asarray(ort_c.colorize(img).image, dtype=np.int16)
    b = np.asarray(torch_c.colorize(img).image, dtype=np.int16)
    assert np.abs(a - b).max() <= 1 and ciede2000(a / 255.0, b / 255.0) < 0.01
    assert np.abs(auto - b).max() <= 2 and ciede2000(auto / 255.0, b / 255.0) < 0.1


def test_the_default_colorizes_with_its_fast_head_close_to_its_full_head():
    """The bundled default's plain colorization reads its fast head (distilled from the
    network's stride-2 stage), whose colours stay close to the full head's on a real photo
    (0.44 CIEDE2000 apart on average over data/val, MODEL_CARD.md stage 6)."""
    from colorizer.samples import sample_image
    c = Colorizer.load()
    img = sample_image("chelsea")
    L = read_image(img)[0]
    small = to_working_size(L, c.options().size)
    decoder = c.decoder(c.options())
    assert decoder.reads(offered(c.backend, None)) == ("logits_fast",)
    fast = c.backend(small, outputs=("logits_fast",))
    full = c.backend(small, outputs=("logits_pool2",))
    v = c.options().vibrance
    a = merge_full_res(L, decoder(fast, v)[0])
    b = merge_full_res(L, decoder(full, v)[0])
    assert np.array_equal(a, np.asarray(c.colorize(img).image))
    assert 0.05 < ciede2000(a / 255.0, b / 255.0) < 1.5


# --- the cache of exports ---------------------------------------------------------------------------

def test_a_model_file_is_exported_once_into_the_cache(tmp_path, monkeypatch, tiny_model_path, tiny_colorizer):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    said = []
    first = load_backend(tiny_model_path, "onnxruntime", notify=said.append)
    folder = cache_dir()
    assert folder == str(tmp_path / "cache" / "colorizer" / "onnx")
    files = os.listdir(folder)
    assert len(files) == 1 and files[0].startswith("tiny-unet-") and files[0].endswith(".onnx")
    assert len(said) == 1 and os.path.join(folder, files[0]) in said[0] and "delete" in said[0]
    mtime = os.stat(os.path.join(folder, files[0])).st_mtime_ns
    second = load_backend(tiny_model_path, "onnxruntime", notify=said.append)
    assert len(said) == 1 and os.listdir(folder) == files
    assert os.stat(os.path.join(folder, files[0])).st_mtime_ns == mtime
    assert first.path == second.path
    L = torch.rand(1, 1, 64, 64) * 100
    assert (second.backend(L)["logits"] - tiny_colorizer.backend(L)["logits"]).abs().max() < 1e-4
    # a damaged cache file is exported again, and said again
    with open(first.path, "wb") as f:
        f.write(b"not onnx")
    third = load_backend(tiny_model_path, "onnxruntime", notify=said.append)
    assert len(said) == 2 and (third.backend(L)["logits"] - tiny_colorizer.backend(L)["logits"]).abs().max() < 1e-4


def test_the_cli_says_where_the_cache_is(tmp_path, monkeypatch, tiny_model_path, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    gradient_image(40, 30, "L").save(tmp_path / "a.png")
    for n in (1, 2):
        assert main(["colorize", str(tmp_path / "a.png"), "-o", str(tmp_path / f"o{n}"), "-q", "--backend", "onnxruntime",
                     "--model", tiny_model_path]) == 0
        err = capsys.readouterr().err
        assert (str(tmp_path / "cache" / "colorizer" / "onnx") in err) == (n == 1), err


# --- one-line errors --------------------------------------------------------------------------------

def test_missing_corrupt_or_foreign_onnx_files_are_one_line_errors(tmp_path, capsys):
    gradient_image(40, 30, "L").save(tmp_path / "a.png")
    (tmp_path / "bad.onnx").write_bytes(b"\x08\x07garbage" * 10)
    from onnx import TensorProto, helper
    graph = helper.make_graph([helper.make_node("Identity", ["L"], ["logits"])], "foreign",
                              [helper.make_tensor_value_info("L", TensorProto.FLOAT, [1, 1, 8, 8])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1, 8, 8])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "foreign.onnx"))
    for name, words in (("missing.onnx", "no such ONNX file"), ("bad.onnx", "not a readable ONNX model"),
                        ("foreign.onnx", "not a colorizer ONNX file")):
        path = str(tmp_path / name)
        assert main(["colorize", str(tmp_path / "a.png"), "-o", str(tmp_path / "o"), "--backend", "onnxruntime",
                     "--model", path]) == 2
        err = capsys.readouterr().err
        assert one_line_error(err) and words in err and name in err, err
        with pytest.raises(WeightsError, match=words):
            Colorizer.load(path, backend="onnxruntime")


def test_an_onnx_file_with_the_torch_backend_is_a_one_line_error(tmp_path, tiny_onnx, capsys):
    gradient_image(40, 30, "L").save(tmp_path / "a.png")
    assert main(["colorize", str(tmp_path / "a.png"), "-o", str(tmp_path / "o"), "--model", tiny_onnx[0],
                 "--backend", "torch"]) == 2
    err = capsys.readouterr().err
    assert one_line_error(err) and "--backend onnxruntime" in err
    # the default backend (auto) runs it in ONNX Runtime
    assert main(["colorize", str(tmp_path / "a.png"), "-o", str(tmp_path / "o"), "--model", tiny_onnx[0]]) == 0


def test_without_onnxruntime_the_flag_says_how_to_install_it(tmp_path, monkeypatch, tiny_model_path, capsys):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    gradient_image(40, 30, "L").save(tmp_path / "a.png")
    assert main(["colorize", str(tmp_path / "a.png"), "-o", str(tmp_path / "o"), "--backend", "onnxruntime",
                 "--model", tiny_model_path]) == 2
    err = capsys.readouterr().err
    assert one_line_error(err) and "pip install onnxruntime" in err and "not installed" in err
    with pytest.raises(BackendError, match="pip install"):
        Colorizer.load(tiny_model_path, backend="onnxruntime")
    # the torch backend does not need it, and auto falls back to it, even for the bundled default
    assert Colorizer.load(tiny_model_path, device="cpu").backend.name == "torch"
    assert Colorizer.load(device="cpu").backend.name == "torch"
    assert main(["colorize", str(tmp_path / "a.png"), "-o", str(tmp_path / "o2")]) == 0


def test_unknown_backend_and_devices(tiny_model_path):
    with pytest.raises(ValueError, match="backend must be one of auto, torch, onnxruntime"):
        Colorizer.load(tiny_model_path, backend="tensorrt")
    with pytest.raises(BackendError, match="runs on the CPU"):
        Colorizer.load(tiny_model_path, backend="onnxruntime", device="cuda")


def test_server_runs_the_onnxruntime_backend(tiny_onnx):
    pytest.importorskip("fastapi")
    pytest.importorskip("multipart")
    from fastapi.testclient import TestClient

    from colorizer.server import create_app
    client = TestClient(create_app(model=tiny_onnx[0], backend="onnxruntime"))
    health = client.get("/api/health").json()
    assert health["backend"] == "onnxruntime" and health["model"] == "tiny"
    import io
    buf = io.BytesIO()
    gradient_image(48, 40, "L").save(buf, format="PNG")
    r = client.post("/api/colorize", files={"image": ("a.png", buf.getvalue(), "image/png")})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"


# --- the fast head ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fast_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("fast")
    path = make_tiny_model_file(d / "tiny-fast.safetensors", hints=True, fast_head=True, seed=4)
    export_model(path, d / "tiny-fast.onnx")
    return path, str(d / "tiny-fast.onnx")


def test_a_subgraph_keeps_only_what_its_outputs_need(fast_model):
    """The graph of fewer outputs holds only the nodes they need: the pooled scores' without
    the hint keys' layers, the fast head's without the stride-2 stage either (nor the hints'
    way into it)."""
    from colorizer.backends.ort_graph import subgraph
    model = onnx.load(fast_model[1])
    names = lambda m: " ".join(n.name for n in m.graph.node)  # noqa: E731
    assert "hint_keys" in names(model) and "/up2/" in names(model)
    pooled = subgraph(model, ["logits_pool2"])
    assert "hint_keys" not in names(pooled) and "/up2/" in names(pooled)
    assert [i.name for i in pooled.graph.input] == ["L", "hints"]
    fast = subgraph(model, ["logits_fast"])
    assert "/up2/" not in names(fast) and "hint_keys" not in names(fast) and "hint_out" not in names(fast)
    assert [o.name for o in fast.graph.output] == ["logits_fast"]
    assert len(fast.graph.node) < len(pooled.graph.node) < len(model.graph.node)
    onnx.checker.check_model(fast)


def test_the_fast_head_runs_the_same_in_both_backends_and_only_without_hints(fast_model):
    """Both backends give the fast head's scores; min-risk reads them when there are no hints, and the network's own pooled
    scores when there are (the fast head does not see hints)."""
    from colorizer.pipeline import offered
    path, onnx_path = fast_model
    torch_c = Colorizer.load(path, backend="torch")
    ort_c = Colorizer.load(onnx_path, backend="onnxruntime")
    L = torch.rand(1, 1, 64, 96, generator=torch.Generator().manual_seed(7)) * 100
    hints = torch.zeros(1, 3, 64, 96)
    hints[0, :, 20, 30] = torch.tensor([0.5, -0.3, 1.0])
    decoder = torch_c.decoders["min-risk"]
    for c in (torch_c, ort_c):
        assert decoder.reads(offered(c.backend, None)) == ("logits_fast",)
        assert decoder.reads(offered(c.backend, hints)) == ("logits_pool2",)
    want = torch_c.backend(L, outputs=("logits_fast",))["logits_fast"]
    got = ort_c.backend(L, outputs=("logits_fast",))["logits_fast"]
    assert want.shape == (1, 262, 16, 24) and (got - want).abs().max() < 1e-4
    # the photo's colours: from the fast head without hints, from the full head with them
    img = gradient_image(96, 64, "L")
    plain = np.asarray(ort_c.colorize(img, size=64, decoding="min-risk").image, dtype=np.int16)
    assert np.abs(plain - np.asarray(torch_c.colorize(img, size=64, decoding="min-risk").image,
                                     dtype=np.int16)).max() <= 1
    v = torch_c.options().vibrance
    ab = decoder({"logits_fast": want}, v)
    pooled_ab = decoder({"logits_pool2": torch_c.backend(L, outputs=("logits_pool2",))["logits_pool2"]}, v)
    assert (ab - torch_c.predict_ab(L, decoding="min-risk")).abs().max() < 1e-3 and (ab - pooled_ab).abs().mean() > 0.01
    hinted = ["30,20,#c82828"]
    for c in (torch_c, ort_c):
        a = np.asarray(c.colorize(img, size=64, hints=hinted, decoding="min-risk").image, dtype=np.int16)
        b = np.asarray(torch_c.colorize(img, size=64, hints=hinted, decoding="min-risk").image, dtype=np.int16)
        assert np.abs(a - b).max() <= 1


def test_calls_without_hints_run_a_graph_without_the_hints_input(tmp_path, tiny_onnx, monkeypatch):
    """A hint-aware network called without hints runs a graph whose hint convolutions became
    their biases (no hints input, no zero image): the same numbers as feeding zeros, at sizes
    that are and are not multiples of 32; without the onnx package, zeros are fed."""
    from colorizer.backends.ort_graph import without_hints
    path = make_tiny_model_file(tmp_path / "biased.safetensors", hints=True, hint_bias=True, seed=6)
    onnx_path = str(tmp_path / "biased.onnx")
    export_model(path, onnx_path)
    backend = OrtBackend.load(onnx_path).backend
    plain = backend.session_for(("logits", "ab"), hinted=False)
    assert [i.name for i in plain.get_inputs()] == ["L"]
    assert [i.name for i in backend.session_for(("logits", "ab"), hinted=True).get_inputs()] == ["L", "hints"]
    edited = without_hints(onnx.load(onnx_path))
    assert [i.name for i in edited.graph.input] == ["L"]
    assert not any("hint_in" in n.name or "hint_out" in n.name for n in edited.graph.node)
    onnx.checker.check_model(edited)
    g = torch.Generator().manual_seed(9)
    for H, W in ((64, 96), (45, 70)):
        L = torch.rand(1, 1, H, W, generator=g) * 100
        got = backend(L, outputs=("logits", "ab"))
        want = backend(L, torch.zeros(1, 3, H, W), outputs=("logits", "ab"))
        for k in want:
            assert got[k].shape == want[k].shape and (got[k] - want[k]).abs().max() < 1e-5, (k, H, W)
    plain_network = OrtBackend.load(tiny_onnx[0]).backend
    assert without_hints(onnx.load(tiny_onnx[0])) is None  # no hints input: nothing to take out
    assert plain_network.session_for(("logits",), hinted=False) is plain_network.session_for(("logits",))
    monkeypatch.setitem(sys.modules, "onnx", None)
    fed_zeros = OrtBackend.load(onnx_path).backend
    assert fed_zeros.session_for(("logits",), hinted=False) is fed_zeros.session
    assert (fed_zeros(L, outputs=("logits",))["logits"] - got["logits"]).abs().max() < 1e-5


def test_min_risk_reads_the_full_head_when_told_not_to_use_the_fast_one(fast_model):
    """fast_head=False (a setting of min-risk, also as an attribute of a loaded Colorizer's
    decoder): no hints, yet the network's own pooled scores, the colours of the same network
    without its fast head, in either backend; a setting that is not a boolean is refused."""
    path, onnx_path = fast_model
    L = torch.rand(1, 1, 64, 96, generator=torch.Generator().manual_seed(8)) * 100
    for c in (Colorizer.load(path, backend="torch"), Colorizer.load(onnx_path, backend="onnxruntime")):
        decoder = c.decoders["min-risk"]
        fast = c.predict_ab(L, decoding="min-risk")
        decoder.fast_head = False
        assert decoder.reads(offered(c.backend, None)) == ("logits_pool2",)
        assert decoder.settings()["fast_head"] is False
        full = c.predict_ab(L, decoding="min-risk")
        want = decoder(c.backend(L, outputs=("logits_pool2",)), c.options().vibrance)
        assert (full - want).abs().max() < 1e-4 and (fast - want).abs().mean() > 0.01
        assert c.colorize(gradient_image(96, 64, "L"), size=64, decoding="min-risk").image.size == (96, 64)
        decoder.fast_head = True
        assert "fast_head" not in decoder.settings()
    with pytest.raises(ValueError, match="fast_head must be true or false"):
        decoding.MinRisk(torch.zeros(4, 2), fast_head="no")
