"""Test helpers: tiny model files, made-up pictures (no downloads, no shared data), and
signalling subprocesses at the right moment."""
import os
import signal
import time

import numpy as np
import torch
from PIL import Image

from colorizer import bins as B
from colorizer.model_files import save_model
from colorizer.networks import build_model


def make_tiny_model_file(path, arch="unet", seed=0, info=None, hints=False, fast_head=False, hint_bias=False):
    """A small, randomly initialised model file (no pretrained weights needed); hints=True:
    a hint-aware U-Net whose hint inputs are random too (so that hints change its output),
    and with hint_bias=True their biases too (so that no hints is not the plain network);
    fast_head=True: a U-Net with a (random, untrained) fast head."""
    torch.manual_seed(seed)
    if arch == "unet":
        bins = B.default_bins()
        config = {"num_bins": len(bins), "dec": [32, 24, 16, 16, 16]}
        if hints:
            config["hints"] = True
        if fast_head:
            config["fast_head"] = True
        model = build_model("unet", pretrained=False, **config)
        if hints:
            for conv in (model.hint_in, model.hint_out):
                torch.nn.init.normal_(conv.weight, std=3.0)
                if hint_bias:
                    torch.nn.init.normal_(conv.bias, std=1.0)
        w, p = B.rebalance_weights(torch.ones(len(bins)), bins)
        extra = {"bins": bins, "prior": p, "class_weights": w}
    else:
        config = {"width": 8}
        model = build_model("seed", pretrained=False, **config)
        extra = {}
    save_model(str(path), model, arch, config, extra, info=info)
    return str(path)


def gradient_image(w=96, h=64, mode="RGB", seed=0):
    """A small colourful test picture (smooth gradients plus a few shapes)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    r = (x / max(1, w - 1) * 255)
    g = (y / max(1, h - 1) * 255)
    b = ((x + y) % 64) * 4
    arr = np.stack([r, g, b], -1).astype(np.uint8)
    arr[h // 4: h // 2, w // 4: w // 2] = rng.integers(0, 255, 3)
    return Image.fromarray(arr, "RGB").convert(mode)


def signal_when(jobs, timeout=600, every=0.002):
    """jobs: {name: (Popen, predicate, signal)}. Polls all the predicates together and sends
    each process its signal as soon as its predicate holds. Returns {name: True if signalled,
    False if the process ended first}. Running the jobs at once keeps the suite short."""
    pending, sent = dict(jobs), {}
    t = time.monotonic()
    try:
        while pending and time.monotonic() - t < timeout:
            for name, (proc, pred, sig) in list(pending.items()):
                if pred():
                    proc.send_signal(sig)
                    sent[name] = True
                    del pending[name]
                elif proc.poll() is not None:
                    sent[name] = pred()
                    del pending[name]
            time.sleep(every)
    finally:
        for proc, _, _ in pending.values():
            proc.kill()
    return sent


def ctrl_c_in_training_at_step(monkeypatch, request, step=3):
    """Ctrl-C (SIGINT, as in a terminal, also when the suite runs in the background with it
    ignored) sent to this process in the middle of training step `step`: the loss of that
    step is computed, then the signal lands."""
    from colorizer.training import loop as training_loop
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, previous))
    calls, real = {"n": 0}, training_loop.compute_loss

    def loss_then_ctrl_c(*a, **kw):
        calls["n"] += 1
        if calls["n"] == step:
            os.kill(os.getpid(), signal.SIGINT)
        return real(*a, **kw)
    monkeypatch.setattr(training_loop, "compute_loss", loss_then_ctrl_c)
