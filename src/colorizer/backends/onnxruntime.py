"""The ONNX Runtime backend: the network exported by colorizer.export, run by ONNX Runtime
on the CPU. It pads L (and hints) to the graph's multiple of 32 outside the graph and crops
the outputs back (see colorizer.export), and gives torch tensors, so that the decoders
(colorizer.decoding) work on its outputs as on PyTorch's.

Threads: ONNX Runtime's intra-op pool gets as many threads as torch uses
(torch.get_num_threads(), which `colorizer serve` splits between its concurrent
inferences), and its threads do not spin while waiting for work: they share the cores with
torch's (the decoding and the merge run in torch) and with other inferences, and spinning
threads slowed the network down there (benchmarks/inference.py)."""
import os
import threading

import torch
import torch.nn.functional as F

from ..bins import BLOCK_SCORES, FAST_LOGITS, HINT_KEYS, POOLED_LOGITS
from ..export import MULTIPLE, read_metadata
from ..model_files import WeightsError
from ..networks import pad_to_multiple
from . import INSTALL_HINT, Backend, BackendError, LoadedModel
from .ort_graph import blocked_layout, channels_last, subgraph, without_hints


def require_onnxruntime():
    """The onnxruntime module, or BackendError saying how to install it."""
    try:
        import onnxruntime
    except ImportError:
        raise BackendError(f"the onnxruntime backend needs ONNX Runtime, which is not installed: {INSTALL_HINT}") from None
    return onnxruntime


def session_options(threads=None, spinning=False):
    """ONNX Runtime's session options: `threads` intra-op threads (default: torch's), one
    inter-op thread, all graph optimisations, spinning threads only when asked."""
    ort = require_onnxruntime()
    so = ort.SessionOptions()
    so.intra_op_num_threads = int(threads or torch.get_num_threads())
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    so.log_severity_level = 3  # errors only: no warnings on the terminal
    return so


def _ort_errors():
    """ONNX Runtime's exception classes (none of them is a RuntimeError)."""
    try:
        from onnxruntime.capi import onnxruntime_pybind11_state as state
    except ImportError:
        return ()
    return tuple(v for v in vars(state).values() if isinstance(v, type) and issubclass(v, Exception))


class OrtBackend(Backend):
    """An exported network in an ONNX Runtime session, on the CPU. Safe to call from
    several threads at once (ONNX Runtime's sessions are).

    ONNX Runtime runs the whole graph whatever outputs are fetched, so a call that asks
    for fewer outputs (a decoder's reads(): min-risk reads only the pooled scores) runs a
    session of its own, made once from the same file with the other outputs taken out of
    the graph (its optimiser then drops the layers that only fed them: for min-risk the
    full-resolution class head and the a,b head, about a tenth of the network's time;
    benchmarks/inference.py). A hint-aware network called without hints likewise runs a
    graph without its hints input (without_hints), and every graph it makes is laid out
    for ONNX Runtime's blocked CPU kernels (blocked_layout). These edits are in
    colorizer.backends.ort_graph. Needs the onnx package to edit the graph; without it,
    the whole graph runs as exported (fed an all-zero hint image)."""

    name = "onnxruntime"

    def __init__(self, session, multiple=MULTIPLE, spinning=False, path=None, threads=None):
        self.spinning = bool(spinning)  # whether its threads may spin while they wait (see session_options)
        self.device = torch.device("cpu")
        self.multiple = int(multiple)
        names = [i.name for i in session.get_inputs()]
        self.takes_hints = "hints" in names
        self.outputs = tuple(o.name for o in session.get_outputs())
        self.path, self.threads = path, threads
        # by (the outputs they compute, whether they take hints): (session, its inputs, the
        # outputs it gives channels-last)
        self._sessions = {self._whole: (session, tuple(names), frozenset())}
        self._lock = threading.Lock()

    @property
    def _whole(self):
        return frozenset(self.outputs), self.takes_hints

    @property
    def session(self):
        """The whole graph's session (made again on first use after prepare() let it go)."""
        return self._session(self._whole)[0]

    def _session(self, key):
        """(session, its input names, its channels-last outputs) for a key of _sessions, made
        on first use: the graph cut down to the key's outputs (and without hints; its block
        scores channels-last; in the blocked layout) where the graph can be edited here, else
        the whole graph as exported."""
        found = self._sessions.get(key)
        if found is not None:
            return found
        ort = require_onnxruntime()
        options = session_options(self.threads, self.spinning)
        rows, model = frozenset(), self.graph(*key)
        if model is not None:
            rows = frozenset(key[0]) & set(BLOCK_SCORES)
            source = model.SerializeToString()
        elif key == self._whole:
            source = self.path
        else:  # the whole graph, fed zeros for no hints
            return self._session(self._whole)
        made = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        with self._lock:  # two threads may both have made it: one is kept
            return self._sessions.setdefault(key, (made, tuple(i.name for i in made.get_inputs()), rows))

    def graph(self, names, hinted=False, layout=True):
        """The graph (onnx.ModelProto) the session for `names` runs: cut down to them, without
        the hints input unless `hinted`, its block scores channels-last, and with `layout` in
        the blocked layout (blocked_layout; benchmarks/ort_layout.py compares both). None when
        it cannot be made here (no onnx package, or no file)."""
        try:
            import onnx
        except ImportError:
            return None
        if not self.path:
            return None
        names = frozenset(names)
        model = onnx.load(self.path)
        if self.takes_hints and not hinted:
            without_hints(model)
        if names != frozenset(self.outputs):
            model = subgraph(model, [n for n in self.outputs if n in names])
        channels_last(model, names & set(BLOCK_SCORES))
        return blocked_layout(model) if layout else model

    def session_for(self, names, hinted=None):
        """The session that computes just `names`, for calls with hints (`hinted`; default:
        whether the network takes them) or without: made on first use."""
        hinted = self.takes_hints if hinted is None else bool(hinted) and self.takes_hints
        return self._session((frozenset(names), hinted))[0]

    def prepare(self, outputs):
        """Make the session for `outputs` (a decoder's reads) without hints now, and let the
        whole graph's go when it is another one: each session holds its own copy of the weights
        and buffers, and the whole graph's is rarely used (made again when it is)."""
        prepared = self._session((frozenset(outputs), False))
        with self._lock:
            if self._sessions.get(self._whole) is not prepared and self.path:
                self._sessions.pop(self._whole, None)

    @classmethod
    def load(cls, path, name="model", threads=None, spinning=False):
        """A LoadedModel from a .onnx file made by colorizer export. WeightsError (one line)
        when the file is missing, unreadable or not colorizer's."""
        ort = require_onnxruntime()
        if not os.path.isfile(path):
            raise WeightsError(f"{path}: no such ONNX file")
        try:
            session = ort.InferenceSession(path, session_options(threads, spinning), providers=["CPUExecutionProvider"])
            props = session.get_modelmeta().custom_metadata_map
        except (*_ort_errors(), RuntimeError, OSError, ValueError) as e:
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise WeightsError(f"{path}: not a readable ONNX model ({reason[:120]})") from None
        arch, config, info, extra, inputs, _ = read_metadata(props, path)
        backend = cls(session, inputs.get("L", {}).get("multiple_of", MULTIPLE), spinning, path, threads)
        names = [i.name for i in session.get_inputs()]
        if "L" not in names or set(names) - {"L", "hints"} or not backend.outputs \
                or set(backend.outputs) - {"logits", "ab", POOLED_LOGITS, FAST_LOGITS, HINT_KEYS} \
                or not set(backend.outputs) & {"logits", "ab"}:
            raise WeightsError(f"{path}: the graph's inputs ({', '.join(names)}) and outputs "
                               f"({', '.join(backend.outputs)}) are not a colorizer network's")
        return LoadedModel(backend, arch, config, info, extra, path, name)

    def __call__(self, L, hints=None, outputs=None):
        """L (B, 1, h, w) -> outputs (CPU torch tensors); `hints` (B, 3, h, w) for a hint-aware
        network (None: no hints); `outputs`: the names to compute (default: the network's
        own, without the pooled scores; ONNX Runtime runs only what they need)."""
        if hints is not None and not self.takes_hints:
            raise ValueError("this network takes no hints (it was not trained with them)")
        L = L.detach().to("cpu", torch.float32)
        x, (H, W) = pad_to_multiple(L, self.multiple)
        if outputs is None:
            names = [k for k in self.outputs if k != POOLED_LOGITS]
        else:
            unknown = set(outputs) - {*self.outputs, POOLED_LOGITS}
            if unknown:
                raise ValueError(f"this network has no output(s) {', '.join(sorted(unknown))}")
            exact = x.shape[-2:] == L.shape[-2:]  # padded: the blocks straddle it
            names = list(dict.fromkeys("logits" if k in BLOCK_SCORES and not (exact and k in self.outputs) else k
                                       for k in outputs))
        session, inputs, rows = self._session((frozenset(names), hints is not None and self.takes_hints))
        feeds = {"L": x.contiguous().numpy()}
        if "hints" in inputs:
            if hints is None:
                hints = torch.zeros(x.shape[0], 3, *x.shape[-2:])
            else:  # zeros where the image was padded: no hint there
                hints = F.pad(hints.detach().to("cpu", torch.float32), (0, x.shape[-1] - W, 0, x.shape[-2] - H))
            feeds["hints"] = hints.contiguous().numpy()
        got = session.run(names, feeds)
        h, w = (H + 1) // 2, (W + 1) // 2
        out = {}
        for k, v in zip(names, got):
            if k in BLOCK_SCORES:  # (B, Q, h/4, w/4), in channels-last memory where the graph gives it so
                out[k] = torch.from_numpy(v).permute(0, 3, 1, 2) if k in rows else torch.from_numpy(v)
                continue
            t = torch.from_numpy(v)
            out[k] = t if tuple(t.shape[-2:]) == (h, w) else t[..., :h, :w]
        return out
