"""The OpenAPI description of POST /api/colorize: its form's fields generated from
colorizer.options (type, range, default, choices, help), so that /openapi.json, /docs,
/api/health and the checks on each request all say the same thing."""
from .errors import ERROR_SCHEMA

IMAGE_FIELD = {"type": "string", "format": "binary",
               "description": "the photo (JPEG, PNG, WebP, TIFF, BMP, GIF...); colour photos are converted to grayscale first"}

REFERENCE_FIELD = {"type": "string", "format": "binary",
                   "description": "optional: a colour photo whose palette the colours are steered towards (a photo of the "
                                  "same place or period; the same upload limit, counted with the photo)"}

DATA_URL = {"type": "string", "format": "uri", "description": "a data: URL (base64)"}
EXTRAS_SCHEMA = {"type": "object", "required": ["image", "variants", "confidence", "notes", "filename"], "properties": {
    "image": {**DATA_URL, "description": "the result, as a data: URL in the asked format"},
    "variants": {"type": "array", "items": DATA_URL, "description": "the alternatives (as many as `variants` asked), "
                 "data: URLs in the asked format"},
    "confidence": {"anyOf": [DATA_URL, {"type": "null"}], "description": "the confidence map (`confidence`), an 8-bit gray "
                   "PNG data: URL at the output's size, white where the model is sure; null when not asked"},
    "notes": {"type": "array", "items": {"type": "string"}, "description": "remarks (as X-Colorizer-Notes)"},
    "filename": {"type": "string", "description": "a file name for the result"}}}

COLORIZE_RESPONSES = {
    200: {"description": "the colorized image, at the input's resolution, with its EXIF, ICC profile and DPI; when "
                         "`variants` > 0 or `confidence` is true, JSON with the image, the alternatives and the confidence "
                         "map as data: URLs",
          "content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}, "image/tiff": {},
                      "application/json": {"schema": EXTRAS_SCHEMA}}},
    400: {"description": "malformed request", "content": ERROR_SCHEMA},
    408: {"description": "the upload took too long", "content": ERROR_SCHEMA},
    413: {"description": "upload too large in bytes, or image too large in pixels", "content": ERROR_SCHEMA},
    415: {"description": "not a multipart/form-data request", "content": ERROR_SCHEMA},
    422: {"description": "not an image, truncated or unreadable, or a bad form value", "content": ERROR_SCHEMA},
    503: {"description": "busy: too many requests waiting, try again", "content": ERROR_SCHEMA},
}

JSON_TYPES = {"number": "number", "integer": "integer", "choice": "string", "hints": "string", "boolean": "boolean"}


def form_property(spec):
    """One option's JSON description (colorizer.options.Option.to_json) as an OpenAPI
    property: type, minimum, maximum, default, enum, description."""
    prop = {"type": JSON_TYPES[spec["kind"]]}
    if spec["kind"] == "choice":
        prop["enum"] = list(spec["choices"])
    elif spec["kind"] == "hints":
        prop["format"] = "json"
        prop["example"] = '[{"x": 120, "y": 80, "color": "#2e7d32"}]'
    elif spec["kind"] == "boolean":
        pass
    else:
        prop.update({key: spec[name] for key, name in (("minimum", "min"), ("maximum", "max")) if spec.get(name) is not None})
    if spec["default"] is not None and spec["kind"] != "hints":
        prop["default"] = spec["default"]
    prop["description"] = spec["help"]
    return prop


def colorize_body(fields, decoders, default_decoding, required=("image",), reference=True):
    """The request body of POST /api/colorize. `fields`: {name: Option.to_json()} of the
    form's fields besides the image (and the reference photo's file field, unless
    `reference` is false); the decoding's choices are the model's own `decoders` and its
    default the model's `default_decoding`."""
    properties = {"image": IMAGE_FIELD, **({"reference": REFERENCE_FIELD} if reference else {})}
    for name, spec in fields.items():
        if name == "decoding":
            spec = {**spec, "choices": list(decoders), "default": default_decoding}
        properties[name] = form_property(spec)
    return {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": list(required), "properties": properties}}}}
