"""TrainConfig: every training option, its type, default and one line of help, listed
once. `colorizer train` builds its command-line options from these fields (cli/train.py),
so a default changed here is changed everywhere. No torch here: `--help` stays quick."""
import dataclasses
import os
import re
import typing
from dataclasses import dataclass, field

ARCHS = ("unet", "seed")
REG_LOSSES = ("mse", "l1")
# the decodings a class model can ship with (names from colorizer.decoding; a seed model
# always decodes by regression)
DECODINGS = ("min-risk", "annealed-mean")
DEFAULT_DECODING = "min-risk"
DEFAULT_LR = {"seed": 1e-3, "unet": 3e-4}

# what a resumed run takes from the command line; every other option is the run's own
RESUME_CHANGES = ("epochs", "max_minutes", "ckpt_minutes", "threads", "workers", "data", "val", "decoding", "blend")


def option(default, help, *, flag=None, cli=True, choices=None, metavar=None, shown=None):
    """A TrainConfig field: `help` is its line in `colorizer train --help`, `flag` its
    option name there (default --NAME-WITH-DASHES), cli=False keeps it off the command line,
    `shown` describes a default that is worked out (None: the default itself)."""
    meta = {"help": help, "flag": flag, "cli": cli, "choices": choices, "metavar": metavar, "shown": shown}
    return field(default=default, metadata=meta)


@dataclass
class TrainConfig:
    """All the options of one training run (see `colorizer train --help`)."""
    data: str | None = option(None, "folder of training photos, or tar shards from colorizer shards ('shards/train-{000000.."
                                    "000099}.tar', an https:// or pipe: URL) (required, except with --resume)", shown="")
    val: str | None = option(None, "folder of validation photos (metrics and a PNG grid after each epoch)", shown="none")
    arch: str = option("unet", "architecture", flag="--model", choices=ARCHS, shown="unet, or the --init model's")
    out: str | None = option(None, "run folder: checkpoints, state, grids")
    size: int = option(256, "training crop size")
    batch: int = option(16, "batch size")
    epochs: float = option(100.0, "epochs, may be fractional")
    lr: float | None = option(None, "Adam learning rate", shown="1e-3 seed, 3e-4 unet")
    resume: bool = option(False, "continue the run in --out where it stopped")
    init: str | None = option(None, "fine-tune: start from this model's weights (a bundled name such as 'default', or a "
                                    ".safetensors file) with a fresh optimizer and schedule", metavar="MODEL", shown="none")
    reg_loss: str = option("mse", "a,b regression loss: mse (the baseline's) or l1", choices=REG_LOSSES)
    reg_weight: float = option(10.0, "weight of the regression head's loss beside the class loss (unet)")
    warmup: int = option(200, "learning-rate warm-up steps")
    workers: int = option(2, "threads decoding photos")
    threads: int = option(0, "torch CPU threads", shown="0, all cores")
    seed: int = option(0, "random seed")
    lam: float = option(0.5, "class rebalancing lambda (unet)")
    max_minutes: float = option(0.0, "stop (with a checkpoint) after this many minutes", shown="0, no limit")
    ckpt_minutes: float = option(5.0, "checkpoint at least this often")
    limit: int = option(0, "use at most this many training photos", shown="0, all")
    val_limit: int = option(200, "validation photos used during training", shown="200; 0 uses all")
    decoding: str | None = option(None, "decoding the trained class model ships with (validation decodes the same way)",
                                  choices=DECODINGS, shown=f"{DEFAULT_DECODING}, or the --init model's")
    blend: float | None = option(None, "annealed-mean only: how much uncertain pixels lean on the a,b regression head",
                                 shown="the --init model's, else 0")
    hints: bool = option(False, "train a hint-aware network (unet): point hints simulated as Zhang et al. 2017 do; "
                                "with --init a plain model gains hint inputs that start at zero (it colorizes as before); "
                                "a hint-aware --init model trains with hints anyway")
    hint_lr_scale: float = option(10.0, "the hint inputs' learning rate, as a multiple of --lr (they start at zero and see "
                                        "sparse inputs)")
    spread_weight: float = option(10.0, "hint-aware: weight of the loss on the colours with the hints spread by the "
                                        "network's keys (L1 in a,b / 110)")
    # not on the command line
    min_chroma: float = option(3.0, "training photos of lower mean chroma are skipped (near-grayscale)", cli=False)
    pretrained: bool = option(True, "start a new model's encoder from ImageNet weights", cli=False)
    model_config: dict | None = option(None, "network settings (colorizer.networks), e.g. {'dec': [...]}", cli=False)
    vibrance: float | None = option(None, "vibrance validation decodes at (default: colorize's)", cli=False)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        """JSON-able, as kept in the run state (without `resume`)."""
        d = dataclasses.asdict(self)
        d.pop("resume")
        return d

    @classmethod
    def from_dict(cls, d):
        """From a mapping (a run state's "config", or options given by name); keys that are
        not options are dropped (old or newer run states)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def check(self):
        """The config itself, or ValueError with a one-line reason."""
        for f in dataclasses.fields(self):
            v, choices = getattr(self, f.name), f.metadata.get("choices")
            if choices and v is not None and v not in choices:
                raise ValueError(f"{f.name} must be one of {', '.join(choices)}, not {v!r}")
        for name in ("size", "batch", "epochs"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)!r}")
        for name in ("lr", "blend"):
            if getattr(self, name) is not None and not getattr(self, name) >= 0:
                raise ValueError(f"{name} must not be negative, not {getattr(self, name)!r}")
        if self.vibrance is not None and not 0 <= self.vibrance <= 1:
            raise ValueError(f"vibrance must be a number between 0 and 1, not {self.vibrance!r}")
        if self.arch == "seed" and self.hints:
            raise ValueError("--hints applies to the unet architecture only")
        if self.arch == "seed" and (self.decoding is not None or self.blend is not None):
            raise ValueError(f"{'--decoding ' + self.decoding if self.decoding else '--blend'} applies to colour-class "
                             "models only (unet): a seed model decodes by regression")
        if not self.out:
            raise ValueError("out: a run folder is required")
        if not self.data and not self.resume:
            raise ValueError("data: a folder of training photos is required (except when resuming)")
        return self

    def absolute_paths(self):
        """data, val, out (and init, when it is a file) as absolute paths: a run can then be
        resumed from any working directory."""
        init = self.init
        if init and (os.sep in init or init.endswith(".safetensors") or os.path.exists(init)):
            init = os.path.abspath(init)
        return self.replace(data=self.data and absolute_data(self.data), val=self.val and os.path.abspath(self.val),
                            out=os.path.abspath(self.out), init=init)


def is_shard_spec(data):
    """True when --data names tar shards (a .tar file, a brace pattern, a URL or a pipe:
    command: training/shards.py reads them) rather than a folder of photos."""
    if not data:
        return False
    return (bool(re.match(r"^(pipe|https?|gs|s3|file):", data)) or data.endswith(".tar")
            or bool(re.search(r"\{[^}]*\.\.[^}]*\}", data)))


def absolute_data(data):
    """--data as an absolute path (URLs and pipe: commands as they are)."""
    return data if re.match(r"^[a-z][a-z0-9+]*:", data) else os.path.abspath(data)


def value_type(f):
    """The type of a field's values (int, float, str, bool, dict), None left out."""
    args = [a for a in typing.get_args(f.type) if a is not type(None)]
    return args[0] if args else f.type


def shown_default(f):
    """A field's default as `--help` shows it ("": none to show)."""
    if f.metadata.get("shown") is not None:
        return f.metadata["shown"]
    return f"{f.default:g}" if isinstance(f.default, float) else str(f.default)


def cli_fields():
    """The fields that are command-line options, in order."""
    return [f for f in dataclasses.fields(TrainConfig) if f.metadata.get("cli", True)]


def flag(f):
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def for_resume(saved, given):
    """The config of a resumed run: the run's own (`saved`, its state's "config") with only
    the options in RESUME_CHANGES taken from `given` (the options the user set). Returns
    (config, notes): one line for each change the user should know of."""
    run = TrainConfig.from_dict(saved)
    changes, notes, ignored = {}, [], []
    for name, value in given.items():
        if name in ("out", "resume") or value is None:
            continue
        own = getattr(run, name, None)
        if name in ("data", "val"):
            value = absolute_data(value)
            if own is None or os.path.realpath(value) != os.path.realpath(own):
                what = "training" if name == "data" else "validation"
                notes.append(f"note: reading {what} photos from {value} (the run was started with {own or 'none'})")
            changes[name] = value
        elif name in RESUME_CHANGES:
            changes[name] = value
        elif value != own:
            own = "the default" if own is None else own
            ignored.append(f"{flag(TrainConfig.__dataclass_fields__[name])} (the run's is {own})")
    if ignored:
        notes.append("note: a resumed run keeps its own settings; ignored " + ", ".join(ignored)
                     + " (to change them, start a new run with --init RUN/last.safetensors)")
    return run.replace(**changes), notes
