"""The OpenAPI description of POST /api/colorize: its form's fields generated from
colorizer.options (type, range, default, choices, help), so that /openapi.json, /docs,
/api/health and the checks on each request all say the same thing."""
from .errors import ERROR_SCHEMA

IMAGE_FIELD = {"type": "string", "format": "binary",
               "description": "the photo (JPEG, PNG, WebP, TIFF, BMP, GIF...); colour photos are converted to grayscale first"}

COLORIZE_RESPONSES = {
    200: {"description": "the colorized image, at the input's resolution, with its EXIF, ICC profile and DPI",
          "content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}, "image/tiff": {}}},
    400: {"description": "malformed request", "content": ERROR_SCHEMA},
    408: {"description": "the upload took too long", "content": ERROR_SCHEMA},
    413: {"description": "upload too large in bytes, or image too large in pixels", "content": ERROR_SCHEMA},
    415: {"description": "not a multipart/form-data request", "content": ERROR_SCHEMA},
    422: {"description": "not an image, truncated or unreadable, or a bad form value", "content": ERROR_SCHEMA},
    503: {"description": "busy: too many requests waiting, try again", "content": ERROR_SCHEMA},
}

JSON_TYPES = {"number": "number", "integer": "integer", "choice": "string", "hints": "string"}


def form_property(spec):
    """One option's JSON description (colorizer.options.Option.to_json) as an OpenAPI
    property: type, minimum, maximum, default, enum, description."""
    prop = {"type": JSON_TYPES[spec["kind"]]}
    if spec["kind"] == "choice":
        prop["enum"] = list(spec["choices"])
    elif spec["kind"] == "hints":
        prop["format"] = "json"
        prop["example"] = '[{"x": 120, "y": 80, "color": "#2e7d32"}]'
    else:
        prop.update({key: spec[name] for key, name in (("minimum", "min"), ("maximum", "max")) if spec.get(name) is not None})
    if spec["default"] is not None and spec["kind"] != "hints":
        prop["default"] = spec["default"]
    prop["description"] = spec["help"]
    return prop


def colorize_body(fields, decoders, default_decoding, required=("image",)):
    """The request body of POST /api/colorize. `fields`: {name: Option.to_json()} of the
    form's fields besides the image; the decoding's choices are the model's own
    `decoders` and its default the model's `default_decoding`."""
    properties = {"image": IMAGE_FIELD}
    for name, spec in fields.items():
        if name == "decoding":
            spec = {**spec, "choices": list(decoders), "default": default_decoding}
        properties[name] = form_property(spec)
    return {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": list(required), "properties": properties}}}}
