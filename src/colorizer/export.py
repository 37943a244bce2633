"""ONNX export: the network of a model file -> one self-describing .onnx file.

The graph is the network only: L* in, the network's outputs out.

    input   "L"       float32 (batch, 1, height, width): CIE L* (D65) in [0, 100]
    input   "hints"   float32 (batch, 3, height, width), hint-aware networks only: a/110, b/110
                      and a mask (1 where the user gave a colour), zeros elsewhere
    output  "logits"  float32 (batch, Q, height/2, width/2): scores over the Q colour classes
    output  "ab"      float32 (batch, 2, height/2, width/2): the regression head's a,b
    output  "logits_pool2"  float32 (batch, Q, height/4, width/4): the logits averaged over 2x2
                      blocks (what min-risk decoding reads: the head on averaged features, a
                      quarter of its work); a runtime computes only the outputs asked for
    output  "hint_keys"  float32 (batch, K + 1, height/2, width/2), hint-aware networks only: the
                      affinity keys by which colorizer.decoding.hint_spread spreads the hints

Batch, height and width are dynamic, but height and width must be multiples of 32: the
network reflect-pads its input to a multiple of 32 inside, and that padding depends on the
input's shape, which the exporter freezes (a graph traced at a multiple of 32 pads nothing,
at any size). So the padding is done outside the graph: reflect the bottom and right edges
(replicate where the image is too small to reflect) up to a multiple of 32, pad hints with
zeros, and crop the outputs to ceil(height/2) x ceil(width/2) (OrtBackend does this; the
working size, working_size.working_shape, is already a multiple of 32). For the same reason
the network's own last crop (and a cast to float32) are taken out of the graph: at multiples
of 32 they only copied the logits.

Decoding stays outside the graph, in colorizer.decoding, shared by both backends:
  - a user picks the rule (min-risk, annealed-mean, regression) and the vibrance for each
    photo; in the graph that would be one graph per rule, or extra inputs, for every model;
  - one implementation gives the same colours whatever ran the network (the parity of the
    two backends is then the parity of the networks: 1e-5 in the logits);
  - it keeps the graph to what other runtimes (C#, C++, JavaScript, phones) run well, and
    the file still holds all a decoder needs: the colour classes, the class weights and
    the model's decoding settings are in the metadata.

The metadata (ONNX metadata_props, strings) makes the file self-describing:
    format              "colorizer-onnx/1"
    arch, config        the network's architecture and configuration (JSON)
    info                the model file's metadata (JSON): training notes and its "decoding" settings
    decoding            the "decoding" settings alone (JSON), for readers that skip info
    extra               the extra tensors (JSON {name: {"shape": [...], "data": [...]}}, float32):
                        bins (Q, 2) a,b of each colour class, class_weights (Q,), prior (Q,)
    inputs, outputs     the inputs (normalisation, shapes, the padding rule) and outputs (JSON)
    colorizer_version, exporter, source (the model file's name and SHA-256)

A bundled or .safetensors model used with --backend onnxruntime is exported on first use
into a cache (cache_dir(): $XDG_CACHE_HOME/colorizer/onnx or ~/.cache/colorizer/onnx),
one file per model file contents, network code and exporter, which a user may delete."""
import hashlib
import io
import json
import os
import sys
import warnings
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from . import __version__
from .backends import EXPORT_HINT, BackendError
from .backends.pytorch import TorchBackend
from .bins import BLOCK_SCORES, FAST_LOGITS, HINT_KEYS, POOLED_LOGITS
from .bundled import resolve_model
from .decoding.hint_spread import PRIOR
from .files import atomic_write, display
from .model_files import WeightsError, read_model_file

FORMAT = "colorizer-onnx/1"
MULTIPLE = 32   # height and width of the graph's inputs
OPSET = 17
_TRACE_SHAPE = (64, 96)  # any multiple of 32 will do: the graph is the same
MAX_DIFFERENCE = 1e-3    # ONNX Runtime vs PyTorch on a test input, checked after each export


class ExportError(BackendError):
    """A network that cannot be exported to ONNX."""


# networks the exporter cannot express (checked first: its failure prints the whole graph)
UNSUPPORTED = {"seed": "its frozen classifier resizes with antialiasing (aten::_upsample_bilinear2d_aa), which the "
                       "ONNX exporter cannot express; the unet models export"}


INPUTS = {
    "L": {"shape": ["batch", 1, "height", "width"], "dtype": "float32",
          "values": "CIE L* (D65 white) in [0, 100]: the photo's lightness at the working size",
          "multiple_of": MULTIPLE,
          "padding": f"height and width must be multiples of {MULTIPLE}: reflect-pad the bottom and right edges up to "
                     f"one (replicate where the image is smaller than the padding), and crop the outputs to "
                     f"ceil(height/2) x ceil(width/2)"},
    "hints": {"shape": ["batch", 3, "height", "width"], "dtype": "float32",
              "values": "point hints (hint-aware models): a/110, b/110 of the chosen colour and a mask, 1 at each hinted "
                        "pixel, 0 elsewhere; all zeros: no hints; zero-padded like L"},
}
OUTPUTS = {
    "logits": {"shape": ["batch", "Q", "height/2", "width/2"], "dtype": "float32",
               "values": "scores over the Q colour classes whose a,b are extra.bins; decode with colorizer.decoding "
                         "(softmax(logits / T), then min-risk or annealed mean)"},
    "ab": {"shape": ["batch", 2, "height/2", "width/2"], "dtype": "float32",
           "values": "a,b of the regression head, in CIELAB units"},
    POOLED_LOGITS: {"shape": ["batch", "Q", "height/4", "width/4"], "dtype": "float32",
                    "values": "the logits averaged over 2x2 blocks (min-risk decoding reads these); ask only for the "
                              "outputs you use: the runtime computes nothing else"},
    FAST_LOGITS: {"shape": ["batch", "Q", "height/4", "width/4"], "dtype": "float32",
                  "values": "models with a fast head: the same scores as logits_pool2 without hints, from a light head "
                            "on the stride-4 features (min-risk decoding reads these when there are no hints); asked "
                            "for alone, a graph cut down to it skips the network's stride-2 stage"},
    HINT_KEYS: {"shape": ["batch", "K + 1", "height/2", "width/2"], "dtype": "float32",
                "values": "hint-aware models: each pixel's affinity key (K channels) and its readiness (the last, a "
                          "log-weight); a pixel takes hint i's colour with weight exp(readiness - |key - key_i|^2 / 2) "
                          f"against {PRIOR} for its own (colorizer.decoding.hint_spread)"},
}


def graph_outputs(network):
    """The names of the graph's outputs: the network's, and the pooled scores of a class network."""
    names = tuple(network.output_names)
    return (*names, POOLED_LOGITS) if "logits" in names else names


class _Outputs(nn.Module):
    """The network with its outputs as a tuple, in `output_names` order (what an ONNX graph returns)."""

    def __init__(self, network):
        super().__init__()
        self.network = network

    def forward(self, L, hints=None):
        names = graph_outputs(self.network)
        out = self.network(L, outputs=names) if hints is None else self.network(L, hints, outputs=names)
        return tuple(out[k] for k in names)


def export_network(network, opset=OPSET, source="model"):
    """The network (eval mode, CPU) -> the ONNX model (onnx.ModelProto), without metadata.
    ExportError when the exporter cannot express it."""
    import onnx
    network = network.cpu().eval()
    names = list(graph_outputs(network))
    h, w = _TRACE_SHAPE
    args = (torch.full((1, 1, h, w), 50.0),)
    inputs = ["L"]
    if network.takes_hints:
        args += (torch.zeros(1, 3, h, w),)
        inputs.append("hints")
    axes = {"batch": 0, "height": 2, "width": 3}
    dynamic = {k: {i: a for a, i in axes.items()} for k in inputs}
    dynamic.update({k: {0: "batch", 2: "height/4" if k in BLOCK_SCORES else "height/2",
                        3: "width/4" if k in BLOCK_SCORES else "width/2"} for k in names})
    buf = io.BytesIO()
    with warnings.catch_warnings():  # the exporter's notes on the frozen padding, which is why it is outside
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(_Outputs(network).eval(), args, buf, dynamo=False, input_names=inputs, output_names=names,
                              dynamic_axes=dynamic, opset_version=int(opset), do_constant_folding=True)
        except (torch.onnx.OnnxExporterError, RuntimeError, TypeError) as e:
            reason = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
            raise ExportError(f"{source}: this network cannot be exported to ONNX ({reason})") from None
    model = onnx.load_from_string(buf.getvalue())
    _drop_output_crop(model)
    return model


def _constant(graph, name):
    """The value of an initializer or Constant node's output (numpy), or None."""
    from onnx import numpy_helper
    for t in graph.initializer:
        if t.name == name:
            return numpy_helper.to_array(t)
    for n in graph.node:
        if n.op_type == "Constant" and n.output[0] == name:
            for a in n.attribute:
                if a.name == "value":
                    return numpy_helper.to_array(a.t)
    return None


def _drop_output_crop(model):
    """Remove the network's last crop and cast from the graph: the heads' outputs are cut to
    ceil(H/2) x ceil(W/2) and cast to float32, which at multiples of 32 (the graph's inputs)
    copies the logits twice for nothing (Slice, Slice, Cast; 15% of the network's time in
    ONNX Runtime). Removed: Slices of a convolution's output that start at 0 on the spatial
    axes, and casts to float32 of one. Returns how many nodes went (export_model checks the
    graph against PyTorch afterwards)."""
    from onnx import TensorProto
    g = model.graph
    producer = {o: n for n in g.node for o in n.output}

    def from_conv(name):
        n = producer.get(name)
        while n is not None and n.op_type in ("Slice", "Cast"):
            n = producer.get(n.input[0])
        return n is not None and n.op_type == "Conv"

    def droppable(n):
        if not n.input or not from_conv(n.input[0]):
            return False
        if n.op_type == "Cast":
            return any(a.name == "to" and a.i == TensorProto.FLOAT for a in n.attribute)
        if n.op_type == "Slice" and len(n.input) >= 4:
            starts, axes = _constant(g, n.input[1]), _constant(g, n.input[3])
            steps = _constant(g, n.input[4]) if len(n.input) > 4 and n.input[4] else None
            return (starts is not None and axes is not None and not starts.any() and set(axes.tolist()) <= {2, 3, -1, -2}
                    and (steps is None or (steps == 1).all()))
        return False

    drop = [n for n in g.node if droppable(n)]
    alias = {n.output[0]: n.input[0] for n in drop}

    def root(x):
        while x in alias:
            x = alias[x]
        return x
    rename = {root(o.name): o.name for o in g.output if o.name in alias}  # the conv now writes the output itself
    for n in drop:
        g.node.remove(n)
    for n in g.node:
        for i, x in enumerate(n.input):
            n.input[i] = rename.get(root(x), root(x))
        for i, x in enumerate(n.output):
            n.output[i] = rename.get(x, x)
    # then what only fed them (the crop's size, computed from the input's shape)
    return len(drop) + drop_unused(g)


def drop_unused(graph):
    """Remove the nodes of an ONNX graph whose outputs nothing uses (again and again, up the
    graph), then the shape notes, initializers and inputs left unused. Returns how many
    nodes went."""
    g, dropped = graph, 0
    while True:
        used = {x for n in g.node for x in n.input} | {o.name for o in g.output}
        dead = [n for n in g.node if not any(o in used for o in n.output)]
        if not dead:
            break
        for n in dead:
            g.node.remove(n)
        dropped += len(dead)
    names = {x for n in g.node for x in (*n.input, *n.output)} | {o.name for o in g.output}
    for v in [v for v in g.value_info if v.name not in names]:
        g.value_info.remove(v)
    for t in [t for t in g.initializer if t.name not in names]:
        g.initializer.remove(t)
    for i in [i for i in g.input if i.name not in names]:
        g.input.remove(i)
    return dropped


def _tensor_json(t):
    t = t.detach().cpu().float()
    return {"shape": list(t.shape), "data": t.flatten().tolist()}


def metadata(arch, config, info, extra, source_name="", source_sha256="", opset=OPSET, takes_hints=False, outputs=()):
    """The metadata_props of an exported model (a dict of strings; see the module docstring)."""
    inputs = {k: v for k, v in INPUTS.items() if k == "L" or takes_hints}
    return {
        "format": FORMAT,
        "arch": arch,
        "config": json.dumps(config),
        "info": json.dumps(info),
        "decoding": json.dumps(info.get("decoding")),
        "extra": json.dumps({k: _tensor_json(v) for k, v in extra.items()}),
        "inputs": json.dumps(inputs),
        "outputs": json.dumps({k: OUTPUTS[k] for k in outputs}),
        "colorizer_version": __version__,
        "exporter": f"torch {torch.__version__} (torch.onnx.export, TorchScript), opset {opset}",
        "source": json.dumps({"name": source_name, "sha256": source_sha256}),
    }


def read_metadata(props, source="model.onnx"):
    """An exported model's metadata_props (a dict of strings) -> (arch, config, info, extra
    (CPU float32 tensors), inputs, outputs). WeightsError when it is not colorizer's."""
    if props.get("format") != FORMAT:
        raise WeightsError(f"{source}: not a colorizer ONNX file (metadata format={props.get('format')!r}; "
                           "make one with `colorizer export`)")
    try:
        arch = props["arch"]
        config, info = json.loads(props["config"]), json.loads(props["info"])
        extra = {k: torch.tensor(v["data"], dtype=torch.float32).reshape(v["shape"])
                 for k, v in json.loads(props.get("extra", "{}")).items()}
        inputs, outputs = json.loads(props["inputs"]), json.loads(props["outputs"])
    except (KeyError, ValueError, TypeError, RuntimeError) as e:
        raise WeightsError(f"{source}: corrupt colorizer metadata ({type(e).__name__}: {str(e)[:80]})") from None
    if not isinstance(config, dict) or not isinstance(info, dict) or not isinstance(arch, str):
        raise WeightsError(f"{source}: corrupt colorizer metadata (arch, config, info)")
    return arch, config, info, extra, inputs, outputs


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Exported:
    """What export_model did: the file, the network's inputs and outputs, and how closely
    ONNX Runtime matched PyTorch on a test input (max |difference| per output; empty when
    onnxruntime is not installed)."""
    path: str
    arch: str
    inputs: list
    outputs: list
    bytes: int
    max_difference: dict = field(default_factory=dict)


def export_model(model=None, out="model.onnx", opset=OPSET, check_runtime=True):
    """Export the network of `model` (a bundled model's name, None: the default, or a
    .safetensors path) to `out` (written atomically), with the metadata that describes it,
    checked with onnx.checker; with check_runtime, also run by ONNX Runtime (if installed)
    on a test input and compared with PyTorch (ExportError beyond MAX_DIFFERENCE). Returns an Exported. WeightsError for a model
    file that cannot be used, ExportError for a network the exporter cannot express,
    BackendError when the onnx package is missing."""
    try:
        import onnx
    except ImportError:
        raise BackendError(f"exporting to ONNX needs the onnx package, which is not installed: {EXPORT_HINT}") from None
    source, name = resolve_model(model)
    arch, config, info, state, extra = read_model_file(source)
    if arch in UNSUPPORTED:
        raise ExportError(f"{source}: the {arch} network cannot be exported to ONNX: {UNSUPPORTED[arch]}")
    network = TorchBackend.from_state(arch, config, state, "cpu", source=source).network
    proto = export_network(network, opset, source=source)
    props = metadata(arch, config, info, extra, os.path.basename(source), file_sha256(source), opset,
                     network.takes_hints, graph_outputs(network))
    for k, v in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    proto.producer_name, proto.producer_version = "colorizer", __version__
    proto.doc_string = (f"colorizer {arch} network ({name}): L* -> {', '.join(graph_outputs(network))}; "
                        f"height and width multiples of {MULTIPLE}; see the metadata 'inputs' and 'outputs'")
    onnx.checker.check_model(proto, full_check=True)
    data = proto.SerializeToString()

    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data)
    atomic_write(str(out), write)
    inputs = ["L", "hints"] if network.takes_hints else ["L"]
    result = Exported(str(out), arch, inputs, list(graph_outputs(network)), len(data))
    if check_runtime:
        result.max_difference = _compare(data, network)
        worst = max(result.max_difference.values(), default=0.0)
        if not worst <= MAX_DIFFERENCE:
            os.unlink(str(out))
            raise ExportError(f"{source}: the exported graph does not match PyTorch (max |difference| {worst:.3g})")
    return result


def _compare(data, network):
    """Max |ONNX Runtime - PyTorch| per output on a random input of a multiple of 32 ({} without onnxruntime)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return {}
    g = torch.Generator().manual_seed(0)
    L = torch.rand(1, 1, 64, 96, generator=g) * 100
    feeds, args = {"L": L.numpy()}, (L,)
    if network.takes_hints:
        hints = torch.zeros(1, 3, 64, 96)
        hints[:, :2] = torch.rand(1, 2, 64, 96, generator=g) * 2 - 1
        hints[:, 2] = (torch.rand(1, 64, 96, generator=g) < 0.01).float()
        hints[:, :2] *= hints[:, 2:]
        feeds["hints"], args = hints.numpy(), (L, hints)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    names = graph_outputs(network)
    got = session.run(list(names), feeds)
    with torch.inference_mode():
        want = network(*args, outputs=names)
    return {k: float((torch.from_numpy(g) - want[k]).abs().max()) for k, g in zip(names, got)}


# --- the cache of exports for --backend onnxruntime --------------------------------------------

def cache_dir():
    """Where models exported on first use go: $XDG_CACHE_HOME/colorizer/onnx, else ~/.cache/colorizer/onnx."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "colorizer", "onnx")


def _cache_key(source):
    """What the export depends on: the model file's bytes, the network code, this module, the exporter."""
    from . import networks
    h = hashlib.sha256(file_sha256(source).encode())
    for module in (networks.__file__, __file__):
        with open(module, "rb") as f:
            h.update(f.read())
    h.update(f"{FORMAT} {OPSET} {torch.__version__} {__version__}".encode())
    return h.hexdigest()[:16]


def cached_export(source, name, notify=None, replace=False):
    """The cached export of the model file `source` (exported now if missing, or when
    `replace`): its path. `notify(line)` says where a new one was written (default: stderr)."""
    if not os.path.isfile(source):
        raise WeightsError(f"{source}: no such model file")
    path = os.path.join(cache_dir(), f"{name}-{_cache_key(source)}.onnx")
    if os.path.isfile(path) and not replace:
        return path
    try:
        export_model(source, path)
    except OSError as e:
        raise BackendError(f"cannot write the ONNX export of {name} to {display(path)} ({e.strerror or e})") from None
    line = (f"colorizer: exported {name} to ONNX for the onnxruntime backend (once): {display(path)} "
            f"(a cache; delete it any time)")
    (notify or (lambda s: print(s, file=sys.stderr, flush=True)))(line)
    return path
