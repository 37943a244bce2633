"""The exported graph (onnx.ModelProto), edited before ONNX Runtime runs it. Each edit gives
the same outputs as the graph it was made from (to float rounding), and each leaves a graph
it does not recognise as it was:

    subgraph(model, outputs)   just the nodes those outputs need (ONNX Runtime computes every
                               node of a graph, wanted or not)
    without_hints(model)       no hints input: a hint-aware network called without hints
    channels_last(model, names)  those outputs (B, h, w, Q): a block's scores side by side
    blocked_layout(model)      laid out for ONNX Runtime's blocked CPU kernels (see there)

colorizer.backends.onnxruntime makes one session per cut of the graph with these."""
import functools

import numpy as np
import torch

from ..export import drop_unused


def subgraph(model, outputs):
    """The ONNX graph (onnx.ModelProto) of just these outputs: the nodes they need. ONNX
    Runtime computes every node of a graph, wanted or not (taking the other outputs away
    alone spared nothing), so the nodes that only fed the others go. The inputs stay (a
    hint-aware network's hints reach every output through its encoder)."""
    import onnx
    return onnx.utils.Extractor(model).extract_model([i.name for i in model.graph.input], list(outputs))


def without_hints(model):
    """The graph (onnx.ModelProto) of a hint-aware network for calls without hints: its
    hints input taken out. No hints is an all-zero hint image, and each convolution of it
    (through the Cast and Pad that carry it there) is then its bias at every pixel: those
    convolutions become their biases, constants of shape (1, C, 1, 1) that the Add after
    each one broadcasts, and the hint input and what only carried it go. The same outputs
    as feeding zeros, without the convolutions, the additions' full-size operand and the
    zero image (about 4% of the network's time at 256x256). None (feed zeros) when the
    graph is not in that form; the model is changed in place."""
    from onnx import numpy_helper
    g = model.graph
    if "hints" not in [i.name for i in g.input]:
        return None
    consumers, inits = {}, {t.name: t for t in g.initializer}
    for n in g.node:
        for x in n.input:
            consumers.setdefault(x, []).append(n)
        if n.op_type == "Identity" and n.input[0] in inits:  # the exporter's copies of a weight
            inits[n.output[0]] = inits[n.input[0]]
    outputs = {o.name for o in g.output}
    frontier, convs = ["hints"], []
    while frontier:
        name = frontier.pop()
        if name in outputs:
            return None
        for n in consumers.get(name, []):
            zero_pad = n.op_type == "Pad" and (len(n.input) < 3 or not n.input[2])
            if n.input[0] == name and (n.op_type == "Cast" or zero_pad):
                frontier.append(n.output[0])
            elif n.op_type == "Conv" and n.input[0] == name and n.input[1] in inits:
                convs.append(n)
            else:
                return None
    for conv in convs:
        out = conv.output[0]
        if out in outputs or any(c.op_type != "Add" for c in consumers.get(out, [])):
            return None
        channels = inits[conv.input[1]].dims[0]
        if len(conv.input) > 2 and conv.input[2] and conv.input[2] not in inits:
            return None
        bias = (numpy_helper.to_array(inits[conv.input[2]]) if len(conv.input) > 2 and conv.input[2]
                else np.zeros(channels, np.float32))
        g.node.remove(conv)
        g.initializer.append(numpy_helper.from_array(bias.astype(np.float32).reshape(1, channels, 1, 1), out))
    drop_unused(g)
    return model


def channels_last(model, names):
    """The graph with its outputs `names` given in channels-last order, (B, h, w, Q) instead of
    (B, Q, h, w): a Transpose at the end, which ONNX Runtime folds into the layout change it
    makes there anyway (its convolutions run in blocked channels), so it costs nothing, and a
    block's scores then lie side by side, as min-risk decoding reads them (a row per block).
    The backend gives them back as (B, Q, h, w) tensors in channels-last memory. The model is
    changed in place; returns it."""
    from onnx import helper
    g = model.graph
    for out in [o for o in g.output if o.name in names]:
        inner = out.name + "_nchw"
        for n in g.node:
            for i, x in enumerate(n.output):
                if x == out.name:
                    n.output[i] = inner
        g.node.append(helper.make_node("Transpose", [inner], [out.name], perm=[0, 2, 3, 1]))
        tt = out.type.tensor_type
        if len(tt.shape.dim) == 4:
            dims = [d.dim_param or (d.dim_value if d.HasField("dim_value") else None) for d in tt.shape.dim]
            out.CopyFrom(helper.make_tensor_value_info(out.name, tt.elem_type, [dims[i] for i in (0, 2, 3, 1)]))
    return model


# --- the blocked layout ---------------------------------------------------------------------------
#
# ONNX Runtime runs a CPU graph's convolutions in a blocked layout (NCHWc: channels in blocks of
# 16 with AVX-512, 8 with AVX2) and converts a tensor back to plain NCHW (a copy) wherever a node
# cannot take it blocked. Two kinds of node did that in the exported U-Net, copying there and
# back at every call:
#   - a concatenation of channels whose inputs are not whole blocks (the 24- and 40-channel
#     skips of EfficientNet-Lite0's stride-4 and stride-8 stages), and
#   - an addition of a per-channel constant (a hint convolution's bias, without_hints);
# and before the first convolution the input went through four full-size elementwise passes
# (its scaling to the encoder's range, its copy into three channels). blocked_layout
# rewrites them (aligned_channels, bias_as_convolution, folded_input_scaling).

KEEPS_ZERO = ("Relu", "Resize", "Upsample")  # a channel of zeros stays zeros through these (and Clip around 0)
_AFFINE = {"Mul": np.multiply, "Div": np.divide, "Add": np.add, "Sub": np.subtract}


def nchwc_block():
    """The channel block of ONNX Runtime's blocked CPU layout on this CPU: 16 with AVX-512,
    else 8 (AVX2; a multiple of 8 is a multiple of the smaller blocks too)."""
    return 16 if torch.backends.cpu.get_cpu_capability().startswith("AVX512") else 8


def _attr(node, name, default=None):
    from onnx import helper
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


class _Graph:
    """A graph's nodes indexed by what they make and read, and its constants."""

    def __init__(self, model):
        self.g = model.graph
        self.inits = {t.name: t for t in self.g.initializer}
        self.producer, self.consumers = {}, {}
        for n in self.g.node:
            for x in n.output:
                self.producer[x] = n
            for x in n.input:
                self.consumers.setdefault(x, []).append(n)
        self.outputs = {o.name for o in self.g.output}

    def constant(self, name):
        """An initializer's or a Constant node's value (numpy; through Identity copies), or None."""
        from onnx import numpy_helper
        for _ in range(8):
            if name in self.inits:
                return numpy_helper.to_array(self.inits[name])
            n = self.producer.get(name)
            if n is None:
                return None
            if n.op_type == "Constant":
                value = _attr(n, "value")
                return None if value is None else numpy_helper.to_array(value)
            if n.op_type != "Identity":
                return None
            name = n.input[0]
        return None

    def conv(self, node):
        """(weights, bias or None) of a convolution of group 1 with constant weights, else None."""
        if node.op_type != "Conv" or _attr(node, "group", 1) != 1:
            return None
        w = self.constant(node.input[1])
        b = self.constant(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        if w is None or w.ndim != 4 or (len(node.input) > 2 and node.input[2] and b is None):
            return None
        return w, b

    def channels(self, name, depth=0):
        """A 4-D tensor's channel count where its producers say it (convolutions' weights), else None."""
        n = self.producer.get(name)
        if n is None or depth > 64:
            return None
        if n.op_type == "Conv":
            w = self.constant(n.input[1])
            return None if w is None else int(w.shape[0])
        if n.op_type in ("Add", "Clip", *KEEPS_ZERO):
            return self.channels(n.input[0], depth + 1)
        if n.op_type == "Concat" and _attr(n, "axis") == 1:
            counts = [self.channels(x, depth + 1) for x in n.input]
            return None if None in counts else sum(counts)
        return None

    def keeps_zero(self, node, name):
        """Whether `node` gives zeros where its input `name` (its first) has zeros."""
        if not node.input or node.input[0] != name:
            return False
        if node.op_type in KEEPS_ZERO:
            return True
        if node.op_type == "Clip":
            low = self.constant(node.input[1]) if len(node.input) > 1 and node.input[1] else None
            high = self.constant(node.input[2]) if len(node.input) > 2 and node.input[2] else None
            return (len(node.input) < 2 or not node.input[1] or (low is not None and float(low) <= 0)) and \
                   (len(node.input) < 3 or not node.input[2] or (high is not None and float(high) >= 0))
        return False

    def set_input(self, node, index, array, tag):
        """Feed `array` (a new initializer) to input `index` of `node`."""
        from onnx import numpy_helper
        name, k = f"{node.output[0]}_{tag}", 1
        while name in self.inits:
            name, k = f"{node.output[0]}_{tag}{k}", k + 1
        tensor = numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32), name)
        self.g.initializer.append(tensor)
        self.inits[name] = tensor
        while len(node.input) <= index:
            node.input.append("")
        node.input[index] = name


def _widen(g, tensor, pad):
    """Give `tensor` `pad` more channels, all zeros, after its own; and every tensor that must
    change with it: the convolutions that make it get zero filters and biases for them,
    additions, activations and resizes carry them (zeros stay zeros), convolutions that read
    it get zero weights for them, and a concatenation of it carries them among its own
    channels (the convolutions that read it get zero weights there). True when done; False,
    the graph unchanged, where a node on the way is of another kind."""
    group, todo, makers, readers, concats = set(), [tensor], {}, {}, {}
    while todo:
        t = todo.pop()
        if t in group:
            continue
        if t in g.outputs or t not in g.producer:
            return False
        group.add(t)
        p = g.producer[t]
        if p.op_type == "Conv" and g.conv(p) is not None:
            makers[t] = p
        elif p.op_type == "Add":
            todo.extend(p.input)
        elif g.keeps_zero(p, p.input[0] if p.input else None):
            todo.append(p.input[0])
        else:
            return False
        for c in g.consumers.get(t, []):
            if c.op_type == "Conv" and c.input[0] == t and g.conv(c) is not None:
                readers[c.output[0]] = (c, None)
            elif c.op_type == "Add":
                todo.extend([*c.input, c.output[0]])
            elif g.keeps_zero(c, t):
                todo.append(c.output[0])
            elif c.op_type == "Concat" and _attr(c, "axis") == 1:
                concats[c.output[0]] = c
            else:
                return False
    width = g.channels(tensor)
    for out, c in concats.items():
        layout = [(g.channels(x), x in group) for x in c.input]  # each input: its channels, whether widened
        if out in g.outputs or any(n is None for n, _ in layout):
            return False
        for r in g.consumers.get(out, []):
            if r.op_type != "Conv" or r.input[0] != out or g.conv(r) is None:
                return False
            readers[r.output[0]] = (r, layout)
    if width is None:
        return False
    for p in makers.values():
        w, b = g.conv(p)
        g.set_input(p, 1, np.concatenate([w, np.zeros((pad, *w.shape[1:]), w.dtype)]), "widened")
        g.set_input(p, 2, np.concatenate([b if b is not None else np.zeros(len(w)), np.zeros(pad)]), "widened_bias")
    for r, layout in readers.values():
        w, _ = g.conv(r)
        parts, at = [], 0
        for n, widened in layout or [(width, True)]:
            parts.append(w[:, at:at + n])
            if widened:
                parts.append(np.zeros((len(w), pad, *w.shape[2:]), w.dtype))
            at += n
        g.set_input(r, 1, np.concatenate(parts, axis=1), "widened_input")
    return True


def aligned_channels(model, block):
    """Each input of a concatenation of channels that is not a whole number of `block`s
    widened with zero channels to one (_widen), so that ONNX Runtime concatenates in its
    blocked layout instead of copying both inputs out of it and the result back. Inputs it
    cannot widen stay as they were. The model is changed in place; returns it."""
    done = set()
    while True:
        g = _Graph(model)
        todo = [(x, -n % block) for c in g.g.node if c.op_type == "Concat" and _attr(c, "axis") == 1
                for x in c.input if x not in done for n in [g.channels(x)] if n and n % block]
        if not todo:
            break
        x, pad = todo[0]
        done.add(x)
        _widen(g, x, pad)
    drop_unused(model.graph)
    return model


def bias_as_convolution(model, block):
    """Each addition of a per-channel constant (1, C, 1, 1) (a hint convolution's bias, in
    without_hints' graph) as a depthwise 1x1 convolution of weight 1 with that bias: the
    same sums, which ONNX Runtime computes in its blocked layout, where a broadcast addition
    made it copy the tensor out of that layout and back. Only where C is a whole number of
    `block`s (depthwise convolutions of other widths are not blocked). In place; returns it."""
    from onnx import helper
    g = _Graph(model)
    for i, n in enumerate(list(g.g.node)):
        if n.op_type != "Add" or len(n.input) != 2:
            continue
        b = g.constant(n.input[1])
        if b is None or b.ndim != 4 or b.shape[0] != 1 or b.shape[2:] != (1, 1) or b.shape[1] % block:
            continue
        C = b.shape[1]
        conv = helper.make_node("Conv", [n.input[0]], list(n.output), name=f"{n.name}_as_conv", group=C, kernel_shape=[1, 1])
        g.set_input(conv, 1, np.ones((C, 1, 1, 1)), "ones")
        g.set_input(conv, 2, b.reshape(C), "bias")
        g.g.node.remove(n)
        g.g.node.insert(i, conv)
    drop_unused(model.graph)
    return model


def folded_input_scaling(model, source="L"):
    """The input's way into the first convolution, `source` -> a scaling by constants (Mul,
    Div, Add, Sub: L* to the encoder's range) -> Expand (to its three channels) -> zero Pad ->
    Conv, as `source` -> Pad -> Conv on one channel: the scaling folded into the weights and
    bias (the sum of the three channels' weights, times the scale; the offset times that sum
    added to the bias) and the padding by the input value that scales to 0. Four full-size
    elementwise passes and two thirds of the first convolution fewer. In place; returns it."""
    g = _Graph(model)
    steps, t = [], source
    while True:
        nxt = [c for c in g.consumers.get(t, []) if c.op_type in _AFFINE and c.input[0] == t]
        if len(nxt) != 1:
            break
        c = g.constant(nxt[0].input[1])
        if c is None or c.size != 1:
            return model
        steps.append((_AFFINE[nxt[0].op_type], float(c.reshape(()))))
        t = nxt[0].output[0]
    expand = g.consumers.get(t, [])
    if not steps or len(expand) != 1 or expand[0].op_type != "Expand":
        return model
    pad = g.consumers.get(expand[0].output[0], [])
    if len(pad) != 1 or pad[0].op_type != "Pad" or _attr(pad[0], "mode", b"constant") not in (b"constant", "constant"):
        return model
    pad = pad[0]
    if len(pad.input) > 2 and pad.input[2]:
        value = g.constant(pad.input[2])
        if value is None or value.size != 1 or float(value.reshape(())) != 0.0:
            return model
    conv = g.consumers.get(pad.output[0], [])
    if len(conv) != 1 or conv[0].input[0] != pad.output[0] or g.conv(conv[0]) is None:
        return model
    conv = conv[0]
    w, b = g.conv(conv)

    def scaled(x):
        return functools.reduce(lambda v, s: s[0](v, s[1]), steps, np.float64(x))
    offset, scale = scaled(0.0), scaled(1.0) - scaled(0.0)
    if scale == 0 or not np.isfinite([offset, scale]).all():
        return model
    one = w.astype(np.float64).sum(axis=1, keepdims=True)  # the three channels are the same
    bias = (np.zeros(len(w)) if b is None else b.astype(np.float64)) + offset * one.sum(axis=(1, 2, 3))
    g.set_input(conv, 1, scale * one, "on_input")
    g.set_input(conv, 2, bias, "on_input_bias")
    pad.input[0] = source
    g.set_input(pad, 2, np.array(-offset / scale), "input_zero")
    drop_unused(model.graph)
    return model


def blocked_layout(model, block=None):
    """The graph laid out for ONNX Runtime's blocked CPU kernels (block: the channel block,
    default nchwc_block()): folded_input_scaling, bias_as_convolution, aligned_channels. The
    same outputs to float rounding (1e-5 in the scores); the network for min-risk's scores
    4% to 5% faster at 256x256 with AVX-512 (benchmarks/ort_layout.py). In place; returns it."""
    block = block or nchwc_block()
    return aligned_channels(bias_as_convolution(folded_input_scaling(model), block), block)
