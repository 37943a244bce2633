"""One photo, top to bottom:

    read        image_io.read_lightness   any image -> full-resolution L*, alpha, notes
    working     working_size              L* at about size x size (multiples of 32)
    network     backend                   L -> class scores and/or a,b (half the working size)
    decode      decoding                  outputs -> a,b
    merge       merge.merge_full_res      a,b upsampled to full size, merged with the photo's own L*
    write       image_io.save_image       (the batch engine, the server)

colorize_image() runs them; Colorizer (colorizer.py) holds the loaded pieces."""
from dataclasses import dataclass, field

import torch
from PIL import Image

from .image_io import read_lightness
from .merge import merge_full_res
from .working_size import resize_lightness, working_shape


@dataclass
class ColorizeOutput:
    """What one colorization gives: the image (PIL, the input's size; RGB, or RGBA when the
    input had transparency) and remarks for the user (a colour input, an animation)."""
    image: Image.Image
    notes: list = field(default_factory=list)


def to_working_size(L, size):
    """Full-resolution L* (H, W) -> the network's input (1, 1, h, w) float32."""
    h, w = working_shape(*L.shape, int(size))
    return torch.from_numpy(resize_lightness(L, (h, w)))[None, None]


@torch.inference_mode()
def predict_ab(backend, decoder, L_small, vibrance):
    """The network and the decoding: L (B, 1, h, w) -> a,b (B, 2, h', w') on the CPU."""
    return decoder(backend(L_small), vibrance, consume=True).cpu()


def colorize_image(source, backend, decoder, options):
    """Read `source` (a path, bytes, file object or PIL image), colorize it with `backend`
    and `decoder` as `options` say (ColorizeOptions), and return a ColorizeOutput."""
    L, alpha, notes = read_lightness(source, max_pixels=options.max_pixels)
    ab = predict_ab(backend, decoder, to_working_size(L, options.size), options.vibrance)[0]
    image = Image.fromarray(merge_full_res(L, ab), "RGB")
    if alpha is not None:
        image.putalpha(alpha)
    return ColorizeOutput(image, notes)
