"""Steady colour: the network's outputs for each frame (the class scores, and the a,b of the
regression head) averaged over time, along the motion.

Colorizing each frame on its own makes colours flicker: the network's uncertain regions
tip one way, then the other, from one frame to the next, even where nothing moves. The
remedy is an exponential moving average of the outputs, before the decoding:

    state_t = w * warp(state_{t-1}, flow_t) + (1 - w) * outputs_t    where the flow holds
    state_t = outputs_t                                                elsewhere (occluded)

flow_t is the optical flow from frame t back to frame t-1 (OpenCV's DIS, on the working
size's lightness: a few milliseconds), so the average follows a moving subject instead of
smearing its colour over what it passed (averaging without the flow blurs colour across
motion). Where the previous frame's lightness, carried along the flow, does not match
this frame's (a pixel that was hidden, or a flow that is wrong), or where the flow comes
from outside the picture, the pixel starts afresh. The scores are logits, so averaging
them is a geometric mean of the class distributions: they stay as sharp as each frame's
where the frames agree, and colours do not wash out. A scene cut (scenes.py) resets it."""
import cv2
import numpy as np
import torch
import torch.nn.functional as F

from . import DEFAULT_SMOOTHING

OCCLUSION_L = 6.0         # a |ΔL*| above this between a pixel and where the flow says it was: occluded


class SteadyColour:
    """Feed it each frame's lightness at the working size (H, W) and the network's outputs
    for it ({name: (C, h, w) tensor}, at the network's output size); it returns the
    smoothed outputs. reset() starts afresh (a new shot).

    The previous average is carried along the flow by bilinear resampling (grid_sample) at
    the outputs' size (half the working size). Rounding the flow to the nearest pixel
    instead, a gather, is cheaper but lets the average drift off the picture by up to half
    a pixel a frame, which adds up over the frames it remembers."""

    def __init__(self, weight=DEFAULT_SMOOTHING, occlusion=OCCLUSION_L, follow_motion=True):
        if not 0.0 <= weight < 1.0:
            raise ValueError(f"smoothing must be a number from 0 to below 1, not {weight!r}")
        self.weight, self.occlusion = float(weight), float(occlusion)
        self.follow_motion = follow_motion  # False: the plain average, in place (what benchmarks/video.py compares)
        self.flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        self.reset()

    def reset(self):
        self.gray = self.L = self.state = None

    def __call__(self, L_work, outputs):
        current = {k: v.float() for k, v in outputs.items()}
        h, w = next(iter(current.values())).shape[-2:]
        L_work = np.asarray(L_work, dtype=np.float32)
        gray = np.clip(L_work * 2.55 + 0.5, 0, 255).astype(np.uint8)
        L_small = torch.from_numpy(cv2.resize(L_work, (w, h), interpolation=cv2.INTER_AREA))
        fresh = (self.state is None or self.state.keys() != current.keys() or self.gray.shape != gray.shape
                 or any(self.state[k].shape != v.shape for k, v in current.items()))
        if fresh:
            state = {k: v.clone() for k, v in current.items()}
        elif not self.follow_motion:
            state = {k: torch.lerp(v, self.state[k], self.weight) for k, v in current.items()}
        else:
            grid, inside = self._grid(gray, h, w)

            def carry(x):  # (C, h, w) of the previous frame -> where this frame's pixels were
                return F.grid_sample(x[None], grid, mode="bilinear", padding_mode="border", align_corners=False)[0]
            valid = inside & (L_small - carry(self.L[None])[0]).abs().le(self.occlusion)
            weight = valid.float().mul_(self.weight)            # w where the flow holds, 0 (start afresh) elsewhere
            state = {k: torch.lerp(v, carry(self.state[k]), weight) for k, v in current.items()}
        self.gray, self.L, self.state = gray, L_small, state
        return state

    def _grid(self, gray, h, w):
        """The sampling grid (1, h, w, 2) that carries the previous frame's outputs to this
        frame (flow from this frame back to the previous, at the outputs' size), and where
        it stays inside the picture."""
        H, W = gray.shape
        flow = self.flow.calc(gray, self.gray, None)                    # this frame -> previous, pixels
        flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_AREA)
        x = torch.arange(w, dtype=torch.float32)[None, :] + torch.from_numpy(flow[..., 0] * (w / W))
        y = torch.arange(h, dtype=torch.float32)[:, None] + torch.from_numpy(flow[..., 1] * (h / H))
        inside = (x >= -0.5) & (x <= w - 0.5) & (y >= -0.5) & (y <= h - 0.5)
        grid = torch.stack([(x + 0.5) * (2.0 / w) - 1.0, (y + 0.5) * (2.0 / h) - 1.0], -1)[None]
        return grid, inside
