"""colorizer.backends.ort_graph's blocked layout: the edited graph gives the exported
graph's outputs, concatenates whole channel blocks, needs fewer copies between layouts in
ONNX Runtime, and leaves what it cannot follow alone."""
import collections

import numpy as np
import pytest

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from colorizer.backends.onnxruntime import session_options  # noqa: E402
from colorizer.backends.ort_graph import (  # noqa: E402
    aligned_channels,
    bias_as_convolution,
    blocked_layout,
    folded_input_scaling,
    nchwc_block,
    without_hints,
)
from colorizer.export import export_model  # noqa: E402
from helpers import make_tiny_model_file  # noqa: E402


def run(model, feeds, names=None, optimized=None):
    """The model's outputs in ONNX Runtime, and the op types of the graph it ran (optimized)."""
    so = session_options(1)
    if optimized:
        so.optimized_model_filepath = str(optimized)
    session = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    got = session.run(names, {k: v for k, v in feeds.items() if k in [i.name for i in session.get_inputs()]})
    ops = collections.Counter(n.op_type for n in onnx.load(str(optimized)).graph.node) if optimized else None
    return got, ops


def concat_input_channels(model):
    """The channel counts of each input of each concatenation of channels whose inputs come
    from convolutions (through activations, additions and resizes), from the weights."""
    weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}

    def channels(name):
        n = producer.get(name)
        if n is None or n.op_type not in ("Conv", "Relu", "Clip", "Add", "Resize"):
            return None
        return weights[n.input[1]].shape[0] if n.op_type == "Conv" else channels(n.input[0])
    found = [[channels(x) for x in n.input] for n in model.graph.node
             if n.op_type == "Concat" and any(a.name == "axis" and a.i == 1 for a in n.attribute)]
    return [cs for cs in found if None not in cs]


@pytest.fixture(scope="module")
def biased_hints_onnx(tmp_path_factory):
    d = tmp_path_factory.mktemp("layout")
    path = make_tiny_model_file(d / "biased.safetensors", hints=True, hint_bias=True, fast_head=True, seed=11)
    export_model(path, d / "biased.onnx")
    return str(d / "biased.onnx")


@pytest.mark.parametrize("block", [16, 8])
def test_the_blocked_layout_gives_the_same_outputs_with_whole_blocks_and_fewer_copies(biased_hints_onnx, tmp_path, block):
    """On a tiny U-Net (EfficientNet-Lite0's 24- and 40-channel skips, a 24-channel decoder
    stage, random hint biases) without its hints input: every output within float rounding
    of the graph as exported, every concatenated input a whole number of blocks, the input
    going straight into padding and the first convolution, no per-channel constant added,
    and ONNX Runtime's optimised graph with fewer layout copies (ReorderInput/Output)."""
    exported = without_hints(onnx.load(biased_hints_onnx))
    assert len(concat_input_channels(exported)) == 4  # the up-blocks'
    assert any(c % 16 for cs in concat_input_channels(exported) for c in cs)  # the test has something to do
    edited = onnx.ModelProto()
    edited.CopyFrom(exported)
    blocked_layout(edited, block)
    onnx.checker.check_model(edited)
    assert all(c % block == 0 for cs in concat_input_channels(edited) for c in cs)
    takes_L = [n.op_type for n in edited.graph.node if "L" in n.input]
    assert "Pad" in takes_L and not {"Mul", "Div", "Sub", "Expand"} & set(takes_L), takes_L
    names = [o.name for o in exported.graph.output]
    L = (np.random.default_rng(0).random((2, 1, 64, 96)) * 100).astype(np.float32)
    want, before = run(exported, {"L": L}, names, tmp_path / "before.onnx")
    got, after = run(edited, {"L": L}, names, tmp_path / "after.onnx")
    for name, a, b in zip(names, want, got):
        assert a.shape == b.shape and np.abs(a - b).max() <= 1e-4 * max(1.0, np.abs(a).max()), name
    copies = lambda ops: ops["ReorderInput"] + ops["ReorderOutput"]  # noqa: E731
    if block == nchwc_block() and copies(before):  # the layout ONNX Runtime uses on this CPU (where it uses one)
        assert copies(after) < copies(before), (before, after)
        assert after["Upsample"] == 3  # up8, up4, up2 upsample in the blocked layout (a constant scale, below)
    resizes = [n for n in exported.graph.node if n.op_type == "Resize"]
    assert len(resizes) == 4 and all(len(n.input) == 3 for n in resizes)  # scales, no sizes computed from shapes


def _graph(nodes, inits, inputs, outputs):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
                          [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outputs],
                          [numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _concat_net(activation):
    """x -> Conv (24 channels) -> activation -> concat with Conv (16) -> Conv."""
    r = np.random.default_rng(1)
    inits = {"w1": r.normal(size=(24, 16, 3, 3)), "b1": r.normal(size=24), "w2": r.normal(size=(16, 16, 1, 1)),
             "w3": r.normal(size=(8, 40, 3, 3))}
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node(activation, ["c1"], ["a1"]),
             helper.make_node("Conv", ["x", "w2"], ["c2"]),
             helper.make_node("Concat", ["a1", "c2"], ["cat"], axis=1),
             helper.make_node("Conv", ["cat", "w3"], ["y"], pads=[1, 1, 1, 1])]
    return _graph(nodes, inits, [("x", [1, 16, 12, 12])], ["y"])


def test_widening_follows_zero_keeping_nodes_and_leaves_others_alone():
    """A 24-channel input of a concatenation is widened to 32 through a ReLU (zeros stay
    zeros), the same outputs; through a Sigmoid (sigmoid(0) is not 0) the graph is left as it
    was. bias_as_convolution and folded_input_scaling leave graphs without their patterns as
    they were too."""
    x = np.random.default_rng(2).normal(size=(1, 16, 12, 12)).astype(np.float32)
    relu = _concat_net("Relu")
    want = run(relu, {"x": x})[0][0]
    aligned_channels(relu, 16)
    assert concat_input_channels(relu) == [[32, 16]]
    assert np.abs(run(relu, {"x": x})[0][0] - want).max() < 1e-5 * np.abs(want).max()
    sigmoid = _concat_net("Sigmoid")
    before = sigmoid.SerializeToString()
    aligned_channels(sigmoid, 16)
    bias_as_convolution(sigmoid, 16)
    folded_input_scaling(sigmoid, "x")
    assert sigmoid.SerializeToString() == before


def test_a_per_channel_constant_becomes_a_depthwise_convolution_of_whole_blocks_only():
    """x + b (b of shape (1, C, 1, 1)) becomes a 1x1 depthwise convolution with bias b where C
    is a whole number of blocks (the same sums), and stays an addition where it is not."""
    r = np.random.default_rng(3)
    for C, converted in ((32, True), (24, False)):
        model = _graph([helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Add", ["c", "b"], ["y"])],
                       {"w": r.normal(size=(C, 8, 1, 1)), "b": r.normal(size=(1, C, 1, 1))}, [("x", [1, 8, 6, 6])], ["y"])
        x = r.normal(size=(1, 8, 6, 6)).astype(np.float32)
        want = run(model, {"x": x})[0][0]
        bias_as_convolution(model, 16)
        assert [n.op_type for n in model.graph.node] == (["Conv", "Conv"] if converted else ["Conv", "Add"])
        assert np.abs(run(model, {"x": x})[0][0] - want).max() < 1e-5 * np.abs(want).max()
