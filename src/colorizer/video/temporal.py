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
    smoothed outputs. reset() starts afresh (a new shot)."""

    def __init__(self, weight=DEFAULT_SMOOTHING, occlusion=OCCLUSION_L, follow_motion=True):
        if not 0.0 <= weight < 1.0:
            raise ValueError(f"smoothing must be a number from 0 to below 1, not {weight!r}")
        self.weight, self.occlusion = float(weight), float(occlusion)
        self.follow_motion = follow_motion  # False: the plain average, in place (what benchmarks/video.py compares)
        self.flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        self.reset()

    def reset(self):
        self.gray = self.L = self.state = None
        self.names = None

    def __call__(self, L_work, outputs):
        names = sorted(outputs)
        current = torch.cat([outputs[n].float() for n in names], 0)  # (C, h, w)
        h, w = current.shape[-2:]
        L_work = np.asarray(L_work, dtype=np.float32)
        gray = np.clip(L_work * 2.55 + 0.5, 0, 255).astype(np.uint8)
        L_small = cv2.resize(L_work, (w, h), interpolation=cv2.INTER_AREA)
        if self.state is None or self.names != names or self.state.shape != current.shape or self.gray.shape != gray.shape:
            state = current
        elif not self.follow_motion:
            state = self.state * self.weight + current * (1.0 - self.weight)
        else:
            grid, inside = self._grid(gray, h, w)
            both = torch.cat([self.state, torch.from_numpy(self.L)[None]], 0)
            warped = F.grid_sample(both[None], grid, mode="bilinear", padding_mode="border", align_corners=False)[0]
            valid = inside & (torch.from_numpy(L_small) - warped[-1]).abs().le(self.occlusion)
            state = torch.where(valid[None], warped[:-1].mul_(self.weight).add_(current, alpha=1.0 - self.weight), current)
        self.gray, self.L, self.state, self.names = gray, L_small, state, names
        out, k = {}, 0
        for n in names:
            c = outputs[n].shape[0]
            out[n] = state[k:k + c]
            k += c
        return out

    def _grid(self, gray, h, w):
        """The sampling grid (1, h, w, 2) that carries the previous frame's outputs to this
        frame (flow from this frame back to the previous, at the outputs' size), and where
        it stays inside the picture."""
        H, W = gray.shape
        flow = self.flow.calc(gray, self.gray, None)                    # this frame -> previous, pixels
        flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_AREA)
        fx = torch.from_numpy(flow[..., 0] * (w / W))
        fy = torch.from_numpy(flow[..., 1] * (h / H))
        x = torch.arange(w, dtype=torch.float32)[None, :] + fx
        y = torch.arange(h, dtype=torch.float32)[:, None] + fy
        inside = (x >= -0.5) & (x <= w - 0.5) & (y >= -0.5) & (y <= h - 0.5)
        grid = torch.stack([(x + 0.5) * (2.0 / w) - 1.0, (y + 0.5) * (2.0 / h) - 1.0], -1)[None]
        return grid, inside
