"""Scene cuts: where one shot ends and the next begins, from the frames' lightness alone
(the steady colour restarts there, so that one shot's colours do not bleed into the next).

A cut changes both what is where (a large mean change of a small thumbnail's L*) and what
there is (the L* histogram), in one frame; a pan or a moving subject changes the first
much more than the second, a fade spreads both over many frames. Our own few lines in
place of PySceneDetect (whose content detector works the same way on HSV, but which would
pull in the full OpenCV with its GUI libraries)."""
import numpy as np

THUMB = 48          # thumbnail width, pixels: fine detail and grain averaged away
BINS = 16           # L* histogram bins over 0..100


def _thumbnail(L):
    h, w = L.shape
    f = max(1, w // THUMB)
    h2, w2 = h // f * f, w // f * f
    return L[:h2, :w2].reshape(h2 // f, f, w2 // f, f).mean(axis=(1, 3))


def _histogram(t):
    h, _ = np.histogram(t, bins=BINS, range=(0.0, 100.0))
    return h / max(1, t.size)


class CutDetector:
    """Call it with each frame's L* (H, W) in order (any size: the working size is cheap);
    True where a new shot begins. A cut is a mean |ΔL*| of the thumbnails above `change`
    that either moves the L* histogram (half the L1 distance of the histograms, 0 same, 1
    disjoint) by more than `histogram`, or is `jump` times the mean change of the last
    frames (a fast pan changes every frame a lot; a cut, one frame)."""

    def __init__(self, change=12.0, histogram=0.25, jump=3.0, recent=8):
        self.change, self.histogram, self.jump, self.recent = change, histogram, jump, recent
        self.reset()

    def reset(self):
        self.previous, self.changes = None, []

    def __call__(self, L):
        t = _thumbnail(np.asarray(L, dtype=np.float32))
        hist = _histogram(t)
        prev, self.previous = self.previous, (t, hist)
        if prev is None or prev[0].shape != t.shape:
            self.changes = []
            return prev is not None
        change = float(np.abs(t - prev[0]).mean())
        distance = 0.5 * float(np.abs(hist - prev[1]).sum())
        usual = float(np.mean(self.changes)) if self.changes else 0.0
        cut = change > self.change and (distance > self.histogram or change > self.jump * usual)
        self.changes = [] if cut else (self.changes + [change])[-self.recent:]
        return cut
