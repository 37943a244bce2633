"""Reading one colorize request: the multipart body, streamed with a byte limit and a
deadline, then its form fields, parsed and checked by colorizer.options (the same
parsing and messages as the command line), into a ColorizeRequest."""
import asyncio
from dataclasses import dataclass

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from ..options import OPTIONS, ColorizeOptions, Option
from .errors import ApiError

# output formats: form value -> (PIL format, media type, file extension)
FORMATS = {"png": ("PNG", "image/png", "png"), "jpg": ("JPEG", "image/jpeg", "jpg"), "webp": ("WEBP", "image/webp", "webp"),
           "tif": ("TIFF", "image/tiff", "tif")}
FORMAT_ALIASES = {"jpeg": "jpg", "tiff": "tif"}
FORMAT = Option("format", "choice", "png", "output format (png, webp and tif keep transparency; every format keeps the "
                "photo's EXIF, ICC profile and DPI)", choices=tuple(FORMATS))

COLORIZE_FIELDS = ("vibrance", "size", "decoding", "hints", "reference_strength", "variants", "confidence")  # text fields
FILE_FIELDS = ("reference",)  # colorize options sent as a file, beside the photo ("image")
MAX_FIELD_BYTES = 64 * 1024  # a text field (1000 hints as JSON fit)


# the point of POST /api/suggest (besides the colorize fields)
SUGGEST_FIELDS = {
    "x": Option("x", "number", None, "the point's x, in pixels of the photo from its left edge", 0, None),
    "y": Option("y", "number", None, "the point's y, in pixels of the photo from its top edge", 0, None),
    "k": Option("k", "integer", 6, "how many colours", 1, 20),
}


def form_options(max_size):
    """The form's fields besides `image`, as colorizer.options.Option objects: the colorize
    options (the working size capped at the server's `max_size`) and the output format."""
    options = {name: OPTIONS[name] for name in COLORIZE_FIELDS}
    options["size"] = options["size"].narrowed(max=max_size)
    options["format"] = FORMAT
    return options


@dataclass(frozen=True)
class ColorizeRequest:
    """A checked colorize request: the uploaded file, the options as asked, the output
    format (a key of FORMATS) and the names of the options the request set."""
    upload: UploadFile
    options: ColorizeOptions
    format: str
    given: tuple

    @property
    def extras(self):
        """Whether the answer carries more than the image (alternatives, a confidence map)."""
        return self.options.variants > 0 or self.options.confidence


# ---------------------------------------------------------------- the body

def limited_receive(receive, max_bytes):
    """Wraps an ASGI receive: counts body bytes as they arrive, 413 past the limit."""
    received = 0

    async def wrapped():
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_bytes:
                raise ApiError(413, f"upload too large (limit {max_bytes} bytes)")
        return message

    return wrapped


def check_content_length(request, max_bytes):
    """413 before reading anything when the declared length is over the limit."""
    declared = request.headers.get("content-length")
    if declared is None:
        return
    if not declared.isdigit():
        raise ApiError(400, "bad Content-Length header")
    if int(declared) > max_bytes:
        raise ApiError(413, f"upload too large (limit {max_bytes} bytes)")


async def read_form(request, max_bytes, timeout):
    """The multipart form, parsed while it streams in (files spool to temporary files),
    with the byte limit (413) and a deadline for the whole body (408)."""
    check_content_length(request, max_bytes)
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise ApiError(415, "send multipart/form-data with the photo in a field named 'image'")
    limited = Request(request.scope, limited_receive(request.receive, max_bytes))
    try:
        return await asyncio.wait_for(limited.form(max_files=1 + len(FILE_FIELDS), max_fields=16,
                                                   max_part_size=MAX_FIELD_BYTES), timeout)
    except asyncio.TimeoutError:
        raise ApiError(408, f"upload took longer than {timeout:g} s") from None
    except StarletteHTTPException as e:  # malformed multipart, too many fields
        raise ApiError(400, f"malformed multipart body: {e.detail}") from None
    except ClientDisconnect:
        raise ApiError(400, "client disconnected during upload") from None


# ---------------------------------------------------------------- the fields

def field_text(form, name):
    """A text field's value ("" when absent); 422 for a file sent in a text field."""
    value = form.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ApiError(422, f"form field {name!r} must be text, not a file")
    return value


def parse_field(option, text):
    """option.parse(text), its ValueError answered 422 with the option's message."""
    if option is FORMAT:
        text = FORMAT_ALIASES.get(text.strip().lower(), text)
    try:
        return option.parse(text)
    except ValueError as e:
        raise ApiError(422, str(e)) from None


def parse_colorize_form(form, options, max_pixels):
    """The form -> ColorizeRequest. `options`: form_options(max_size). 422 for a missing,
    non-file or empty image or reference photo and for a bad field value."""
    for name in ("image", *FILE_FIELDS):
        if len(form.getlist(name)) > 1:
            raise ApiError(400, f"too many files in form field {name!r}: send one")
    upload = form.get("image")
    if upload is None:
        raise ApiError(422, "missing form field 'image' (the photo)")
    if not isinstance(upload, UploadFile):
        raise ApiError(422, "form field 'image' must be a file")
    if upload.size == 0:
        raise ApiError(422, "empty file")
    reference = form.get("reference")
    if reference is not None and not isinstance(reference, UploadFile):
        if str(reference).strip():
            raise ApiError(422, "form field 'reference' must be a file (the reference photo)")
        reference = None
    if reference is not None and reference.size == 0:
        raise ApiError(422, "reference photo: empty file")
    texts = {name: field_text(form, name) for name in options}
    values = {name: parse_field(option, texts[name]) for name, option in options.items()}
    fmt = values.pop("format")
    given = tuple(name for name in COLORIZE_FIELDS if texts[name].strip()) + (("reference",) if reference else ())
    return ColorizeRequest(upload, ColorizeOptions(**values, max_pixels=max_pixels,
                                                   reference=reference.file if reference else None), fmt, given)
