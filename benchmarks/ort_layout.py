"""The network in ONNX Runtime with and without colorizer.backends.ort_graph.blocked_layout:
how much faster, and how many copies between layouts it spares, on this machine.

ONNX Runtime runs the CPU graph's convolutions in a blocked layout (NCHWc) and copies a
tensor out of it and back wherever a node cannot take it blocked. blocked_layout rewrites
those nodes (see its module). This script builds the session the backend runs for the
default's colours without hints (min-risk's block scores: the fast head's where the
network has one), once as the backend makes it and once without blocked_layout, and prints:

  1. the largest difference between the two sessions' scores (a random L* image);
  2. the layout copies (ReorderInput/ReorderOutput nodes) in each optimised graph;
  3. the median ms of each session at 256x256, batch 1 (--size), their calls alternating in
     the same process, and the median ratio of the pairs of calls (this machine is noisy:
     a pair meets the same load; compare within a run only).

    python benchmarks/ort_layout.py                 # the bundled default, 2 threads
    python benchmarks/ort_layout.py --full-head       # the full head's scores (min-risk's fast_head off)
    python benchmarks/ort_layout.py --model model.onnx --threads 1

Nothing is asserted: it prints a Markdown table (and --json)."""
import argparse
import collections
import json
import os
import sys
import tempfile
import time

import numpy as np
import torch

from colorizer.backends.onnxruntime import require_onnxruntime, session_options
from colorizer.backends.ort_graph import nchwc_block
from colorizer.colorizer import Colorizer
from colorizer.pipeline import offered


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="bundled model name or exported .onnx file (default: the bundled default)")
    p.add_argument("--size", type=int, default=256, help="input side, a multiple of 32 (default 256)")
    p.add_argument("--threads", type=int, default=2, help="ONNX Runtime's intra-op threads (default 2)")
    p.add_argument("--full-head", action="store_true",
                   help="the session for min-risk's full head (its fast_head setting off) instead of the fast head")
    p.add_argument("--calls", type=int, default=400, help="timed calls of each session, alternating (default 400)")
    p.add_argument("--json", help="also write the results to this JSON file")
    return p.parse_args(argv)


def graphs(colorizer):
    """(outputs, {"as exported": model, "blocked layout": model}): the graph the backend runs
    for the default decoder without hints, with and without blocked_layout (OrtBackend.graph)."""
    backend = colorizer.backend
    names = colorizer.decoder(colorizer.options()).reads(offered(backend, None))
    return names, {"as exported": backend.graph(names, layout=False), "blocked layout": backend.graph(names)}


def session(model, threads, optimized):
    ort = require_onnxruntime()
    so = session_options(threads)
    so.optimized_model_filepath = optimized
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def main(argv=None):
    a = parse_args(argv)
    import onnx
    colorizer = Colorizer.load(a.model, backend="onnxruntime")
    if a.full_head:
        colorizer.decoders["min-risk"].fast_head = False
    names, models = graphs(colorizer)
    L = (np.random.default_rng(0).random((1, 1, a.size, a.size)) * 100).astype(np.float32)
    sessions, copies, outs = {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for key, model in models.items():
            path = os.path.join(tmp, "optimized.onnx")
            sessions[key] = session(model, a.threads, path)
            ops = collections.Counter(n.op_type for n in onnx.load(path).graph.node)
            copies[key] = ops["ReorderInput"] + ops["ReorderOutput"]
            outs[key] = sessions[key].run(list(names), {"L": L})[0]
    diff = float(np.abs(outs["as exported"] - outs["blocked layout"]).max())
    # calls alternate between the two sessions (which goes first alternates too), so that each
    # pair of calls meets the same load: the median of the pairs' ratios is the comparison
    keys = list(sessions)
    times = {k: [] for k in keys}
    for _ in range(3):  # warm-up
        for s in sessions.values():
            s.run(list(names), {"L": L})
    for i in range(a.calls):
        for k in (keys if i % 2 == 0 else keys[::-1]):
            t0 = time.perf_counter()
            sessions[k].run(list(names), {"L": L})
            times[k].append((time.perf_counter() - t0) * 1000)
        if (i + 1) % 100 == 0:
            print(f"  {i + 1} calls each", file=sys.stderr, flush=True)
    med = {k: float(np.median(v)) for k, v in times.items()}
    ratio = float(np.median(np.array(times["as exported"]) / np.array(times["blocked layout"])))
    print(f"\nONNX Runtime {require_onnxruntime().__version__}, {a.threads} threads, torch CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()} (channel block {nchwc_block()}); output {', '.join(names)} "
          f"at {a.size}x{a.size}, batch 1; largest difference between the two: {diff:.2e}\n")
    print("| graph | layout copies | median ms | fastest ms |")
    print("|---|---|---|---|")
    for k in keys:
        print(f"| {k} | {copies[k]} | **{med[k]:.2f}** | {min(times[k]):.2f} |")
    print(f"\n{a.calls} calls each, alternating; median of the pairs' ratios (as exported / blocked layout): "
          f"**{ratio:.3f}x**")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"outputs": list(names), "max_difference": diff, "copies": copies, "median_ms": med, "ratio": ratio,
                       "threads": a.threads, "size": a.size, "block": nchwc_block()}, f, indent=1)


if __name__ == "__main__":
    main()
