"""The training loop, in the manner of nanoGPT's train.py: one function, read top to bottom:
the run's settings, the photos, the model and its colour classes, the optimizer and
schedule, then the steps, with a validation record and a checkpoint every epoch, every
few minutes, at the end, and on Ctrl-C or SIGTERM.

Started by torchrun in several processes, the same function trains data-parallel
(distributed.py): each rank loads its own share of the photos, the model is wrapped in
DistributedDataParallel, the ranks agree after every step on the loss and on whether to
checkpoint or stop, and rank 0 alone writes."""
import dataclasses
import json
import math
import os
import signal
import sys
import threading
import time

import torch

from .. import bins as B
from ..bundled import resolve_model
from ..decoding import hint_spread
from ..files import display
from ..model_files import read_model_file, save_model
from ..networks import build_model, is_hint_parameter
from . import distributed as dist
from .config import DEFAULT_LR, TrainConfig, for_resume, is_shard_spec
from .data import PhotoSet
from .hints import simulate_hints
from .losses import compute_loss, spread_loss
from .prior import class_counts, rebalancing_from_counts
from .state import load_train_checkpoint, save_train_state
from .validation import default_vibrance, describe, shipped_decoding, validate


class Interrupted(KeyboardInterrupt):
    """Training stopped by Ctrl-C or SIGTERM, after writing a checkpoint at `step`."""

    def __init__(self, step, run, signal_name=None):
        super().__init__(f"interrupted at step {step}")
        self.step, self.run, self.signal_name = step, run, signal_name


def cpu_has_fast_bf16():
    """bf16 autocast only pays off on CPUs with native bf16 (AVX512-BF16 or AMX);
    elsewhere it is emulated and many times slower than fp32."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
        return "avx512_bf16" in flags or "amx_bf16" in flags
    except OSError:
        return False


def autocast_for(device):
    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return dict(device_type="cuda", dtype=dtype, enabled=True)
    return dict(device_type="cpu", dtype=torch.bfloat16, enabled=cpu_has_fast_bf16())


def lr_at(step, total, base, warmup):
    """Linear warm-up over `warmup` steps, then a cosine from `base` down to 5% of it at `total`."""
    if step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


class StopSignals:
    """While training runs (main thread only), Ctrl-C (SIGINT) and SIGTERM stop it cleanly:
    a signal that comes while `hold` is set (during a step, while the last checkpoint is
    written) takes effect at check(), so checkpoints hold whole steps; at any other moment
    it raises KeyboardInterrupt at once (with hold=True from the start: never at once; the
    loop of several processes checks it when the ranks agree). The previous handlers are
    restored on exit."""

    def __init__(self, hold=False):
        self.hold = hold
        self.received = None  # the name of the signal that came, if one did
        self._old = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                old = signal.getsignal(s)
                if old is not None and old is not signal.SIG_IGN:  # a process told to ignore it keeps ignoring it
                    self._old[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc):
        for s, old in self._old.items():
            signal.signal(s, old)
        self._old = {}

    def _handle(self, signum, frame):
        self.received = signal.Signals(signum).name
        if not self.hold:
            raise KeyboardInterrupt

    def check(self):
        if self.received:
            raise KeyboardInterrupt


def _options(config, given):
    """(TrainConfig, {name: value} of the options the user set)."""
    if isinstance(config, TrainConfig):
        if given is None:
            default = TrainConfig()
            return config, {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
                            if getattr(config, f.name) != getattr(default, f.name)}
        return config, {name: getattr(config, name) for name in given}
    options = {k: v for k, v in dict(config).items() if v is not None}
    unknown = set(options) - {f.name for f in dataclasses.fields(TrainConfig)}
    if unknown:
        raise TypeError(f"unknown training option(s): {', '.join(sorted(unknown))}")
    return TrainConfig.from_dict(options), options


def _check_photos(config, given):
    """A resumed run reads its photos from where it was started unless told otherwise:
    say so plainly when they are gone."""
    for name, what in (("data", "training"), ("val", "validation")):
        path = getattr(config, name)
        if path and name not in given and not is_shard_spec(path) and not os.path.exists(path):
            raise FileNotFoundError(f"{path}: the run's {what} photos are not there (pass --{name} to read them from elsewhere)")


def train(config, given=None):
    """Train a model, or resume a run; returns the path of the run's model.safetensors.

    config: a TrainConfig, or a mapping of options by name (None for an option: not given).
    given: the names of the options the user set; by default the mapping's keys, or the
    fields of a TrainConfig that differ from their defaults. A resumed run keeps its own
    settings except for those it may change (config.RESUME_CHANGES); without --model, a
    fine-tuning run takes the --init model's architecture.

    Raises ValueError, FileNotFoundError or WeightsError (one line) when the run cannot
    start, before anything is written; Interrupted (a KeyboardInterrupt) after Ctrl-C or
    SIGTERM, once a checkpoint at the step reached is written.

    In a process torchrun started (WORLD_SIZE > 1), trains as one rank of several
    (distributed.py); rank 0 returns the path, the others None."""
    config, given = _options(config, given)
    config.check()
    world = dist.setup()
    together = False  # whether every rank ends here at the same point (done, or the stop they agreed on)
    try:
        path = _train(config, given, world)
        together = True
        return path
    except Interrupted:
        together = True
        raise
    finally:
        dist.teardown(world, wait=together)


def _train(config, given, world):
    from tqdm import tqdm
    run = os.path.abspath(config.out)
    main = world.is_main
    say = print if main else (lambda *a, **k: None)  # rank 0 speaks for all

    # the run's settings: a new run's, or those of the run being resumed
    ck = None
    if config.resume:
        if not os.path.exists(os.path.join(run, "state.json")):
            raise FileNotFoundError(f"{config.out}: nothing to resume (no state.json)")
        ck = load_train_checkpoint(run)
        config, notes = for_resume(ck["state"]["config"], given)
        config = config.replace(out=run, resume=True).check()
        for note in notes:
            say(note, flush=True)
        started_with = ck["state"].get("world_size", 1)
        if started_with != world.size:
            say(f"note: the run was started with {started_with} process(es) and continues with {world.size}: the same "
                "global batch and schedule, but the photos are shared out differently, so it will not give exactly the "
                "weights of an uninterrupted run", flush=True)
        _check_photos(config, given)
    else:
        config = config.absolute_paths()

    # fine-tuning: the weights, architecture config and colour bins of a model file
    init = None
    if config.init and not ck:
        init = dict(zip(("arch", "config", "info", "state", "extra"), read_model_file(resolve_model(config.init)[0])))
        if "arch" not in given:
            config = config.replace(arch=init["arch"])
        if init["arch"] != config.arch:
            raise ValueError(f"{config.init}: holds a {init['arch']!r} model, not {config.arch!r} (pass --model {init['arch']})")
        config = config.replace(model_config=init["config"]).check()
    if config.batch % world.size:
        raise ValueError(f"--batch {config.batch} does not split evenly over {world.size} processes (the batch size is "
                         "the global one: give a multiple of the number of processes)")
    rank_batch = config.batch // world.size
    arch = config.arch
    lr = config.lr or DEFAULT_LR.get(arch, 3e-4)
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    device = world.device

    # the photos: a folder decoded once into memory (this rank's share), or streamed from tar shards
    if is_shard_spec(config.data):
        from .shards import ShardSet
        train_set = ShardSet(config.data, config.size, min_chroma=config.min_chroma, workers=config.workers,
                             world=world, seed=config.seed, limit=config.limit or None, progress=main)
        prior_photos = train_set.prior_photos(limit=config.limit or None)
    else:
        train_set = PhotoSet(config.data, config.size, min_chroma=config.min_chroma, workers=config.workers,
                             limit=config.limit or None, progress=main, world=world)
        prior_photos = train_set
    val_set = None
    if config.val and main:  # validation runs on rank 0
        val_set = PhotoSet(config.val, config.size, min_chroma=0, workers=config.workers, limit=config.val_limit or None)
    n_photos, n_gray, n_bad = (int(v) for v in dist.all_sum([len(train_set), train_set.skipped_gray,
                                                             train_set.skipped_bad], world))
    streamed = f" from {len(train_set.urls)} shards (streamed)" if prior_photos is not train_set else ""
    say(f"train: {n_photos} photos{streamed} ({n_gray} near-grayscale and {n_bad} unreadable skipped)"
        + (f" in {world.size} processes of {rank_batch} photos a step" if world.distributed else "")
        + (f"; val: {len(val_set)}" if val_set else ""), flush=True)

    # the model and its extra tensors: colour bins, their prior and class-rebalancing weights
    model_config = dict(config.model_config or {})
    if model_config.pop("fast_head", False):
        say("the --init model's fast head is left out: it copies that network as it was, not the one this run trains "
            "(scripts/distill_fast_head.py gives the trained model a new one)", flush=True)
    if config.hints:
        model_config["hints"] = True  # a plain --init model gains hint inputs that start at zero
    extra = {}
    if arch == "unet":
        bins = B.default_bins()
        model_config.setdefault("num_bins", len(bins))
        if ck:
            extra = ck["extra"] if ck["extra"] is not None else read_model_file(os.path.join(run, "last.safetensors"))[4]
        else:
            if init and "bins" in init["extra"]:
                bins = init["extra"]["bins"].float()
            counts = dist.all_sum(class_counts(prior_photos, bins).tolist(), world)  # over every rank's photos
            extra = rebalancing_from_counts(counts, bins, lam=config.lam)
    model = build_model(arch, pretrained=config.pretrained and not ck and not init, **model_config).to(device)
    if init:
        model.load_state_dict({k: v.float() for k, v in init["state"].items()}, strict=False)
        say(f"initialised from {config.init}", flush=True)
    model = model.to(memory_format=torch.channels_last)

    # the optimizer and the schedule (warm-up, then cosine), and where a resumed run was
    # the hint inputs start at zero and see sparse inputs: they learn at hint_lr_scale x the rate
    hint_params = [p for n, p in model.named_parameters()
                   if p.requires_grad and is_hint_parameter(n)]
    hint_ids = {id(p) for p in hint_params}
    groups = [{"params": [p for p in model.parameters() if p.requires_grad and id(p) not in hint_ids], "scale": 1.0}]
    if hint_params:
        groups.append({"params": hint_params, "scale": config.hint_lr_scale})
    opt = torch.optim.Adam(groups, lr=lr)
    spe = max(1, dist.all_min(len(train_set), world) // rank_batch)  # steps per epoch, the same on every rank
    total = max(1, int(round(config.epochs * spe)))
    step, history = 0, []
    if ck:
        state = ck["model"] if ck["model"] is not None else read_model_file(os.path.join(run, "last.safetensors"))[3]
        model.load_state_dict(state, strict=False)
        opt.load_state_dict(ck["optimizer"])
        step, history = ck["state"]["step"], ck["state"].get("history", [])
        say(f"resumed {run} at step {step}/{total}", flush=True)
        old_epochs = ck["state"]["config"].get("epochs")
        if old_epochs is not None and old_epochs != config.epochs:
            old_total = max(1, int(round(old_epochs * spe)))
            was, now = lr_at(step, old_total, lr, config.warmup), lr_at(step, total, lr, config.warmup)
            say(f"note: --epochs changed from {old_epochs:g} to {config.epochs:g}: the cosine schedule now spans "
                  f"{total} steps, so the learning rate at step {step} goes from {was:.2e} to {now:.2e}. A jump "
                  "back up can undo progress; to train on at a low rate use --init RUN/last.safetensors --lr instead.",
                  flush=True)
    extra = {k: v.to(device) for k, v in extra.items()}

    # the decoding the model files carry, and validation uses: the run's, --init's, or min-risk
    base = {"decoding": ck["state"]["decoding"]} if ck and "decoding" in ck["state"] else init["info"] if init else None
    decoding, decoders, shipped = shipped_decoding(model.output_names, extra, config.decoding, config.blend, base)
    decoder = decoders[decoding]
    vibrance = default_vibrance() if config.vibrance is None else config.vibrance
    run_state = {"config": config.to_dict(), "decoding": shipped, "world_size": world.size}
    resume_positions = ck["state"].get("positions") if ck and ck["state"].get("world_size", 1) == world.size else None
    trace = Trace(os.environ.get("COLORIZER_TRAIN_TRACE"), world)

    def checkpoint(final=False):
        # every rank comes here at the same step; rank 0 writes (with the ranks' places in a shard stream)
        positions = dist.all_gather_ints(train_set.position(), world)
        trace.write(checkpoint=step, wrote=main)
        if not main:
            return
        info = {"step": step, "epochs": step / spe, "train_photos": n_photos, "size": config.size,
                "history": history[-1:] if history else [], "decoding": shipped}
        # one file, one atomic rename: weights, optimizer and step always agree on resume
        save_train_state(run, opt, {"step": step, "total": total, **run_state, "positions": positions, "history": history},
                         model=model, extra=extra)
        save_model(os.path.join(run, "last.safetensors"), model, arch, model_config, extra, info=info)
        if final:
            save_model(os.path.join(run, "model.safetensors"), model, arch, model_config, extra, dtype=torch.float16, info=info)

    # the steps
    if main:
        os.makedirs(run, exist_ok=True)  # only now: a run that cannot start leaves no folder behind
    ac = autocast_for(device)
    net = dist.wrap(model, world)  # what the steps call: DistributedDataParallel with several processes
    position = resume_positions[world.rank] if resume_positions else None  # in a shard stream (None: not known)
    batches = train_set.batches(spe, rank_batch, config.seed, world, start=step, position=position)
    t_start = t_ckpt = t_rate = time.time()
    seen = 0
    loss_sum, loss_n = 0.0, 0  # mean training loss since the last record
    model.train()
    bar = tqdm(total=total, initial=step, desc=f"train {arch}", unit="step", dynamic_ncols=True, disable=not main)
    stop_reason = "done"
    # several processes stop together: a signal is held until the ranks agree after a step
    hold_between_steps = world.distributed
    with StopSignals(hold=hold_between_steps) as stop:
        try:
            while step < total:
                ids, lab = next(batches)
                trace.write(step=step, samples=ids)
                lab = lab.to(device).contiguous(memory_format=torch.channels_last)
                stop.hold = True  # a signal now takes effect once the step is complete
                for g in opt.param_groups:
                    g["lr"] = lr_at(step, total, lr, config.warmup) * g.get("scale", 1.0)
                hints = points = None
                if model.takes_hints:  # simulated point hints, the same ones again on resume
                    hints, points = simulate_hints(lab, dist.step_rng(config.seed, 2_000_003, step, world), centres=True)
                with torch.autocast(**ac):
                    out = net(lab[:, :1], hints) if hints is not None else net(lab[:, :1])
                loss, parts = compute_loss(arch, out, lab[:, 1:], extra, config.reg_weight, config.reg_loss)
                if hints is not None and B.HINT_KEYS in out:  # the keys learn to spread the hints where they belong
                    with torch.no_grad():
                        decoded = decoder({k: v.detach().float() for k, v in out.items()}, vibrance)
                    hint_ab, mask = hint_spread.hints_at(points, decoded.shape[-2:])  # one point per hint, as clicked
                    spread = spread_loss(hint_spread.spread(decoded, out[B.HINT_KEYS], hint_ab, mask), lab[:, 1:], mask)
                    if spread is not None:
                        parts["spread"] = spread * config.spread_weight
                        loss = loss + parts["spread"]
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
                stop.hold = hold_between_steps
                stop.check()
                now = time.time()
                out_of_time = bool(config.max_minutes and (now - t_start) > 60 * config.max_minutes)
                ckpt_due = now - t_ckpt > 60 * config.ckpt_minutes
                loss_value = loss.item()
                if world.distributed:  # the ranks agree: the mean loss, and whether to stop or checkpoint
                    agreed = dist.all_sum([loss_value, stop.received is not None, out_of_time, ckpt_due], world)
                    loss_value = float(agreed[0]) / world.size
                    out_of_time, ckpt_due = bool(agreed[2]), bool(agreed[3])
                    if agreed[1]:
                        raise KeyboardInterrupt
                seen += len(ids) * world.size
                loss_sum, loss_n = loss_sum + loss_value, loss_n + 1
                bar.update(1)
                bar.set_postfix(loss=f"{loss_value:.4f}", **{k: f"{v.item():.4f}" for k, v in parts.items()},
                                img_s=f"{seen / max(1e-6, now - t_rate):.1f}", epoch=f"{step / spe:.2f}")
                end_of_epoch = step % spe == 0 or step == total
                if end_of_epoch or out_of_time:
                    rec = {"step": step, "epoch": round(step / spe, 3), "loss": loss_sum / max(1, loss_n),
                           "minutes": round((now - t_start) / 60, 2)}
                    loss_sum, loss_n = 0.0, 0
                    if val_set is not None:
                        rec.update(validate(model, decoder, val_set, device, vibrance=config.vibrance,
                                            grid_path=os.path.join(run, f"val_grid_step{step:07d}.png")))
                        model.train()
                        bar.write(describe(rec))
                    history.append(rec)
                    checkpoint()
                    t_ckpt = time.time()
                elif ckpt_due:
                    checkpoint()
                    t_ckpt = time.time()
                if out_of_time:
                    stop_reason = f"time budget of {config.max_minutes} minutes reached"
                    break
            bar.close()
            stop.hold = True  # the last checkpoint is written whole
            checkpoint(final=True)
        except KeyboardInterrupt:
            stop.hold = True
            bar.close()
            checkpoint()
            how = f"interrupted ({stop.received})" if stop.received and stop.received != "SIGINT" else "interrupted"
            say(f"{how} at step {step}: checkpoint written; resume with {resume_command(world)} --out {display(run)} "
                "--resume", file=sys.stderr, flush=True)
            raise Interrupted(step, run, stop.received) from None
    say(f"{stop_reason}: {step} steps ({step / spe:.2f} epochs) in {(time.time() - t_start) / 60:.1f} min; "
        f"model: {os.path.join(run, 'model.safetensors')}", flush=True)
    return os.path.join(run, "model.safetensors") if main else None


def resume_command(world):
    """How to start the command that resumes this run: the same number of processes."""
    if world.distributed:
        return f"torchrun --nproc_per_node {world.size} -m colorizer train"  # a multi-node run also needs its --nnodes...
    return "colorizer train"


class Trace:
    """For tests and debugging: with COLORIZER_TRAIN_TRACE=FOLDER each rank appends what it
    did (the samples of each step, each checkpoint and whether it wrote it) to
    FOLDER/rank<R>.jsonl, one JSON object a line. Without it, nothing."""

    def __init__(self, folder, world):
        self.path = os.path.join(folder, f"rank{world.rank}.jsonl") if folder else None
        self.rank = world.rank
        if self.path:
            os.makedirs(folder, exist_ok=True)

    def write(self, **record):
        if self.path:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps({"rank": self.rank, **record}) + "\n")
