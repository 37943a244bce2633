"""One photo, top to bottom:

    read        image_io.read_image       any image -> full-resolution L*, alpha, notes, metadata
    working     working_size              L* at about size x size (multiples of 32)
    hints       hint_image                the user's point hints as a sparse a,b image (hint-aware models)
    network     backend                   L (+ hints) -> class scores and/or a,b (half the working size)
    reference   decoding.reference        the scores reweighted towards a reference photo's palette (optional)
    decode      decoding                  outputs -> a,b
    spread      decoding.hint_spread      the hints spread over the regions they belong to (hint-aware models)
    variants    decoding.variants         alternatives: the scores biased per region (segments), decoded (optional)
    confidence  decoding.confidence       the expected error of each pixel's colour as an 8-bit gray map (optional)
    merge       merge.merge_full_res      a,b upsampled to full size, merged with the photo's own L*
    write       image_io.save_image       (the batch engine, the server)

colorize_image() runs them; Colorizer (colorizer.py) holds the loaded pieces."""
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from .bins import FAST_LOGITS, HINT_KEYS
from .decoding import hint_spread
from .decoding.confidence import expected_error, risk_matrix, to_gray
from .decoding.reference import ab_histogram, towards_histogram
from .decoding.variants import variant_logits
from .files import display
from .hints import check_inside
from .image_io import ImageError, full_lightness, open_image, read_image
from .lab import rgb_to_lab
from .merge import merge_full_res, merge_full_res16
from .metadata import Metadata
from .networks import AB_SCALE, HINT_CHANNELS
from .segments import segment
from .working_size import resize_lightness, working_shape

REFERENCE_SIDE = 128  # a reference photo's palette is read at about this size (longer side, pixels)


@dataclass
class ColorizeOutput:
    """What one colorization gives: the image (PIL, the input's size; RGB, or RGBA when the
    input had transparency) and remarks for the user (a colour input, an animation); the
    input's metadata (EXIF, ICC profile, DPI) that its outputs keep; and the full-precision
    L* and the a,b, from which pixels16() merges 16 bits per channel (a 16-bit scan's depth).
    When asked for (options.variants, options.confidence): the alternatives, images like
    `image`, and the confidence map, an 8-bit gray ("L") image of the output's size, white
    where the model is sure."""
    image: Image.Image
    notes: list = field(default_factory=list)
    metadata: Metadata = field(default_factory=Metadata)
    lightness: object = field(default=None, repr=False)  # (H, W) float32 L*
    ab: object = field(default=None, repr=False)         # (2, h, w) a,b at the network's output size
    variants: list = field(default_factory=list)         # PIL images, the alternatives (options.variants of them)
    confidence: Image.Image | None = None                # PIL "L" image at the output's size (options.confidence)

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
    and, for a hint-aware network given hints, the hints as an image (None otherwise: no
    hints is what the backends feed then, and the decoding neither spreads anything nor
    asks the network for its keys). ValueError for a hint outside the photo."""
    small = to_working_size(L, options.size)
    return small, (hint_image(options.hints, L.shape, small.shape[-2:]) if backend.takes_hints and options.hints
                   else None)


def offered(backend, hints):
    """The backend's outputs a decoder may read: all of them, but the fast head's scores
    (FAST_LOGITS) only without hints (that head does not see them)."""
    return backend.outputs if hints is None else tuple(n for n in backend.outputs if n != FAST_LOGITS)


@torch.inference_mode()
def predict_ab(backend, decoder, L_small, vibrance, hints=None):
    """The network and the decoding: L (B, 1, h, w) (and hints (B, 3, h, w) for a
    hint-aware network) -> a,b (B, 2, h', w') on the CPU, the hints spread by the network's
    keys. The network computes only the outputs the decoder (and the spreading) read."""
    outputs = backend(L_small, hints, outputs=decoder.reads(offered(backend, hints))
                      + hint_spread.reads(backend.outputs, hints))
    return hint_spread.apply(decoder(outputs, vibrance, consume=True), outputs, hints).cpu()


def check_classes(backend, decoder, options):
    """ValueError when the options ask for what needs colour classes (a reference,
    alternatives, a confidence map) and the model or the decoding has none."""
    if options.needs_classes and ("logits" not in backend.outputs or decoder.needs != "logits"):
        asked = [what for what, on in (("a reference", options.reference is not None),
                                       ("alternatives", options.variants > 0),
                                       ("a confidence map", options.confidence)) if on]
        what = ", ".join(asked[:-1]) + (" and " if len(asked) > 1 else "") + asked[-1]
        raise ValueError(f"{what} {'need' if len(asked) > 1 else 'needs'} colour classes, which {decoder.name} decoding "
                         "does not use")


def reference_image(source, max_pixels=None, side=REFERENCE_SIDE):
    """A reference photo (a path, bytes, file object, PIL image or NumPy array) as a small
    RGB PIL image (longer side at most `side`), read once: its palette is all that is used.
    ImageError whose reason names it ("reference photo ref.jpg: no such file")."""
    if isinstance(source, np.ndarray):
        source = Image.fromarray(source)
    try:
        img, _ = open_image(source, max_pixels)
    except ImageError as e:
        named = f" {display(e.path)}" if e.path is not None else ""
        raise ImageError(f"reference photo{named}: {e.reason}") from None
    except (TypeError, ValueError) as e:
        raise ImageError(f"reference photo: cannot read it ({e})") from None
    img = img.convert("RGB")
    img.thumbnail((side, side), Image.BILINEAR, reducing_gap=3.0)
    return img


def reference_histogram(source, bins, max_pixels=None):
    """The colour-class histogram (Q,) of a reference photo (see reference_image)."""
    img = source if isinstance(source, Image.Image) and max(source.size) <= REFERENCE_SIDE else reference_image(source,
                                                                                                                 max_pixels)
    rgb = torch.from_numpy(np.asarray(img.convert("RGB"), dtype=np.float32).copy()).permute(2, 0, 1) / 255.0
    return ab_histogram(rgb_to_lab(rgb)[1:], bins)


def confidence_image(logits, extra, shape):
    """The confidence map of the scores (1, Q, h, w) as an 8-bit gray PIL image of the
    output's (H, W) `shape`: the expected CIEDE2000 upsampled (bilinear), then mapped."""
    risk = expected_error(logits, risk_matrix(extra["bins"]), extra.get("class_weights"))[0].cpu()
    H, W = shape
    full = Image.fromarray(risk.numpy().astype(np.float32), "F").resize((W, H), Image.BILINEAR)
    return Image.fromarray(to_gray(torch.from_numpy(np.array(full, dtype=np.float32))).numpy(), "L")


def colorize_image(source, backend, decoder, options, extra=None):
    """Read `source` (a path, bytes, file object or PIL image), colorize it with `backend`
    and `decoder` as `options` say (ColorizeOptions), and return a ColorizeOutput.
    `extra`: the model's colour bins and class weights, for a reference photo, alternatives
    and the confidence map. ValueError when options.hints do not fit the photo, the model
    takes no hints, or what the options ask needs colour classes this model has not;
    ImageError for a bad photo or reference photo."""
    check_hints(backend, options)
    check_classes(backend, decoder, options)
    extra = extra or {}
    L, alpha, notes, metadata = read_image(source, max_pixels=options.max_pixels)
    small, hints = network_input(L, backend, options)
    if not options.needs_classes:
        ab = predict_ab(backend, decoder, small, options.vibrance, hints)[0]
        return ColorizeOutput(_merged(L, ab, alpha), notes, metadata, L, ab)
    if "bins" not in extra:
        raise ValueError("a reference, alternatives and a confidence map need the model's colour bins")
    bins, weights = extra["bins"], extra.get("class_weights")
    with torch.inference_mode():
        # the network's own outputs, and the keys only when there are hints to spread
        names = tuple(n for n in backend.outputs if n not in (HINT_KEYS, FAST_LOGITS)) + hint_spread.reads(
            backend.outputs, hints)
        outputs = dict(backend(small, hints, outputs=names))
        logits = outputs["logits"]
        if options.reference is not None and options.reference_strength > 0:
            histogram = reference_histogram(options.reference, bins.cpu(), options.max_pixels).to(logits.device)
            logits = outputs["logits"] = towards_histogram(logits, histogram, options.reference_strength, weights)
        ab = hint_spread.apply(decoder(outputs, options.vibrance, consume=False), outputs, hints).cpu()[0]
        variants = []
        if options.variants:
            labels, n = segment(small[0, 0].numpy(), logits.shape[-2:])
            labels = labels.to(logits.device)
            D = risk_matrix(bins)
            for k in range(1, options.variants + 1):
                scores = variant_logits(logits, labels, n, bins, D, seed=k, class_weights=weights)
                variant_ab = decoder({**outputs, "logits": scores}, options.vibrance, consume=True)
                variant_ab = hint_spread.apply(variant_ab, outputs, hints).cpu()[0]
                variants.append(_merged(L, variant_ab, alpha))
        confidence = confidence_image(logits, extra, L.shape) if options.confidence else None
    return ColorizeOutput(_merged(L, ab, alpha), notes, metadata, L, ab, variants, confidence)


def _merged(L, ab, alpha):
    """The sRGB image of full-resolution L* and a,b (with the alpha channel, if any)."""
    image = Image.fromarray(merge_full_res(L, ab), "RGB")
    if alpha is not None:
        image.putalpha(alpha)
    return image
