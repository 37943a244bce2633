"""One photo, top to bottom:

    read        image_io.read_image       any image -> full-resolution L*, alpha, notes, metadata
    working     working_size              L* at about size x size (multiples of 32)
    hints       hint_image                the user's point hints as a sparse a,b image (hint-aware models)
    network     backend                   L (+ hints) -> class scores and/or a,b (half the working size)
    decode      decoding                  outputs -> a,b
    merge       merge.merge_full_res      a,b upsampled to full size, merged with the photo's own L*
    write       image_io.save_image       (the batch engine, the server)

colorize_image() runs them; Colorizer (colorizer.py) holds the loaded pieces."""
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from .hints import check_inside
from .image_io import full_lightness, read_image
from .lab import rgb_to_lab
from .merge import merge_full_res, merge_full_res16
from .metadata import Metadata
from .networks import AB_SCALE, HINT_CHANNELS
from .working_size import resize_lightness, working_shape


@dataclass
class ColorizeOutput:
    """What one colorization gives: the image (PIL, the input's size; RGB, or RGBA when the
    input had transparency) and remarks for the user (a colour input, an animation); the
    input's metadata (EXIF, ICC profile, DPI) that its outputs keep; and the full-precision
    L* and the a,b, from which pixels16() merges 16 bits per channel (a 16-bit scan's depth)."""
    image: Image.Image
    notes: list = field(default_factory=list)
    metadata: Metadata = field(default_factory=Metadata)
    lightness: object = field(default=None, repr=False)  # (H, W) float32 L*
    ab: object = field(default=None, repr=False)         # (2, h, w) a,b at the network's output size

    def pixels16(self):
        """The result at 16 bits per channel: (H, W, 3) uint16 (4 channels with alpha), merged
        from the input's L* at its full precision, for a 16-bit PNG or TIFF."""
        if self.lightness is None or self.ab is None:
            raise ValueError("this output keeps no lightness to merge at 16 bits")
        rgb = merge_full_res16(full_lightness(self.lightness, self.metadata), self.ab)
        if "A" not in self.image.getbands():
            return rgb
        alpha = np.asarray(self.image.getchannel("A"), dtype=np.uint16) * np.uint16(257)
        return np.concatenate([rgb, alpha[..., None]], axis=2)


def to_working_size(L, size):
    """Full-resolution L* (H, W) -> the network's input (1, 1, h, w) float32."""
    h, w = working_shape(*L.shape, int(size))
    return torch.from_numpy(resize_lightness(L, (h, w)))[None, None]


def hint_image(hints, full_shape, working):
    """Point hints (colorizer.hints.Hint, in pixels of the full-resolution photo of shape
    (H, W)) -> the network's hint input (1, 3, h, w) at the working shape (h, w): a/AB_SCALE,
    b/AB_SCALE of each hint's colour and a mask, one pixel per hint (the last hint wins
    where two fall on one pixel). Only the colour's a,b is used: the photo keeps its own L."""
    H, W = full_shape
    h, w = working
    image = torch.zeros(1, HINT_CHANNELS, h, w)
    if not hints:
        return image
    check_inside(hints, W, H)
    rgb = torch.tensor([hint.rgb for hint in hints], dtype=torch.float64).T[:, :, None] / 255.0  # (3, n, 1)
    ab = rgb_to_lab(rgb)[1:, :, 0].float() / AB_SCALE  # (2, n)
    for k, hint in enumerate(hints):
        y, x = min(h - 1, int(hint.y * h / H)), min(w - 1, int(hint.x * w / W))
        image[0, :2, y, x] = ab[:, k]
        image[0, 2, y, x] = 1.0
    return image


def check_hints(backend, options):
    """ValueError when the options carry hints and the model takes none (said before any
    image is read)."""
    if options.hints and not backend.takes_hints:
        raise ValueError("this model takes no hints (it was not trained with them)")


def network_input(L, backend, options):
    """Full-resolution L* (H, W) -> the network's input: L at the working size (1, 1, h, w)
    and, for a hint-aware network, the options' hints as an image (None otherwise).
    ValueError for a hint outside the photo."""
    small = to_working_size(L, options.size)
    return small, (hint_image(options.hints, L.shape, small.shape[-2:]) if backend.takes_hints else None)


@torch.inference_mode()
def predict_ab(backend, decoder, L_small, vibrance, hints=None):
    """The network and the decoding: L (B, 1, h, w) (and hints (B, 3, h, w) for a
    hint-aware network) -> a,b (B, 2, h', w') on the CPU. The network computes only the
    outputs the decoder reads."""
    return decoder(backend(L_small, hints, outputs=decoder.reads(backend.outputs)), vibrance, consume=True).cpu()


def colorize_image(source, backend, decoder, options):
    """Read `source` (a path, bytes, file object or PIL image), colorize it with `backend`
    and `decoder` as `options` say (ColorizeOptions), and return a ColorizeOutput.
    ValueError when options.hints do not fit the photo or the model takes no hints."""
    check_hints(backend, options)
    L, alpha, notes, metadata = read_image(source, max_pixels=options.max_pixels)
    small, hints = network_input(L, backend, options)
    ab = predict_ab(backend, decoder, small, options.vibrance, hints)[0]
    image = Image.fromarray(merge_full_res(L, ab), "RGB")
    if alpha is not None:
        image.putalpha(alpha)
    return ColorizeOutput(image, notes, metadata, L, ab)
