"""The PyTorch backend: the network in PyTorch, in eval mode, on one device."""
import torch

from ..bins import POOLED_LOGITS
from ..model_files import WeightsError
from ..networks import build_model
from . import Backend


class TorchBackend(Backend):
    """The network in PyTorch, in eval mode, on one device."""

    name = "torch"

    def __init__(self, network, device="cpu"):
        self.device = torch.device(device)
        self.network = network.to(self.device).eval()

    @classmethod
    def from_state(cls, arch, config, state, device="cpu", source="model file"):
        """Build the network `arch` with `config` and load `state` (a model file's weights).
        WeightsError when they do not fit."""
        try:
            network = build_model(arch, pretrained=False, **config)
            missing, unexpected = network.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
        except (ValueError, TypeError, RuntimeError) as e:
            reason = str(e).splitlines()[0][:120]
            raise WeightsError(f"{source}: weights do not fit the {arch!r} architecture ({reason})") from None
        missing = [k for k in missing if not k.startswith("embedder.")]
        if missing or unexpected:
            raise WeightsError(f"{source}: weights do not fit the {arch!r} architecture "
                               f"({len(missing)} missing, {len(unexpected)} unexpected tensors)")
        if arch == "seed":  # its frozen classifier comes from the efficientnet-lite0 package
            from ..networks import Lite0Features
            network.embedder = Lite0Features("lightness", pretrained=True)
        return cls(network, device)

    @property
    def outputs(self):
        """The names of the network's outputs (and of the pooled scores it gives on request)."""
        names = self.network.output_names
        return (*names, POOLED_LOGITS) if "logits" in names else names

    @property
    def takes_hints(self):
        """Whether the network takes point hints (a hint-aware network)."""
        return self.network.takes_hints

    @torch.inference_mode()
    def __call__(self, L, hints=None, outputs=None):
        """L (B, 1, h, w) -> outputs; `hints` (B, 3, h, w) for a hint-aware network;
        `outputs`: the names to compute (default: the network's output_names)."""
        kwargs = {} if outputs is None else {"outputs": tuple(outputs)}
        if hints is None:
            return self.network(L.to(self.device), **kwargs)
        return self.network(L.to(self.device), hints.to(self.device), **kwargs)
