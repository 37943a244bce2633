"""The FastAPI app and its routes: POST /api/colorize, GET /api/health, the page (/ and
/static), the docs (/docs, /openapi.json). The pieces it puts together: admission
control (admission.py), the upload and its fields (uploads.py), the schema (schema.py),
the docs page (docs_page.py), headers (headers.py) and errors (errors.py)."""
import base64
import contextlib
import dataclasses
import os
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from .. import __version__
from ..image_io import ImageError, ImageTooLarge, encode_image
from ..options import OPTIONS, describe
from .admission import Gate
from .docs_page import render_docs
from .errors import ApiError, install_error_handlers
from .headers import SecurityHeaders, download_name, header_text
from .schema import COLORIZE_RESPONSES, colorize_body
from .uploads import (
    COLORIZE_FIELDS,
    FILE_FIELDS,
    FORMATS,
    SUGGEST_FIELDS,
    field_text,
    form_options,
    parse_colorize_form,
    parse_field,
    read_form,
)
from .videos import add_video_routes, video_jobs

DEFAULT_MAX_BYTES = 25_000_000
DEFAULT_MAX_PIXELS = 50_000_000
DEFAULT_MAX_SIZE = 1024          # the largest working size a request may ask for
DEFAULT_QUEUE_SIZE = 16
DEFAULT_REQUEST_TIMEOUT = 60.0   # seconds a client may take to send its upload


def colorize_to_bytes(colorizer, fileobj, options, pil_format):
    """Runs in a worker thread: decode, colorize, encode. Returns (bytes, notes)."""
    out = colorizer.colorize(fileobj, options)
    return encode_image(out.image, pil_format, metadata=out.metadata), list(out.notes)


def colorize_to_json(colorizer, fileobj, options, pil_format, media_type):
    """Runs in a worker thread: colorize with alternatives and/or a confidence map, each
    encoded as a data: URL. Returns ({"image", "variants", "confidence"}, notes)."""
    out = colorizer.colorize(fileobj, options)

    def url(image, fmt, media, metadata=None):
        return f"data:{media};base64," + base64.b64encode(encode_image(image, fmt, metadata=metadata)).decode("ascii")
    return {"image": url(out.image, pil_format, media_type, out.metadata),
            "variants": [url(v, pil_format, media_type, out.metadata) for v in out.variants],
            "confidence": None if out.confidence is None else url(out.confidence, "PNG", "image/png")}, list(out.notes)


def usable(colorizer, request):
    """The request's options as this model can follow them, and notes on those it cannot
    (a decoding it does not have: its own instead; vibrance for a regression model)."""
    notes = colorizer.ignored(request.options, request.given)
    options = request.options
    if options.decoding is not None and options.decoding not in colorizer.decoders:
        options = dataclasses.replace(options, decoding=None)
    return options, notes


def create_app(colorizer=None, model=None, max_bytes=DEFAULT_MAX_BYTES, max_pixels=DEFAULT_MAX_PIXELS,
               concurrency=os.cpu_count(), queue_size=DEFAULT_QUEUE_SIZE, request_timeout=DEFAULT_REQUEST_TIMEOUT,
               allow_origins=None, max_size=DEFAULT_MAX_SIZE, backend=None, video_limits=None):
    """The FastAPI app. Pass a loaded `colorizer`, or `model` (a bundled name, a
    .safetensors path or a .onnx file; loaded now, run by `backend`: None/"auto", "torch"
    or "onnxruntime", see colorizer.backends). `max_size` caps the working size a request may ask
    for. CORS stays closed unless `allow_origins` is given. `video_limits`: keywords of
    videos.VideoJobs (max_bytes, max_seconds, queue_size) for the video jobs."""
    max_pixels = OPTIONS["max_pixels"].check(max_pixels)
    if max_size < OPTIONS["size"].min:
        raise ValueError(f"max_size must be at least {OPTIONS['size'].min:g}, not {max_size!r}")
    if colorizer is None:
        from ..colorizer import Colorizer
        colorizer = Colorizer.load(model, backend=backend)
    concurrency = max(1, int(concurrency or 1))
    queue_size = max(0, int(queue_size))
    gate = Gate(concurrency, queue_size)

    @contextlib.asynccontextmanager
    async def admitted_form(request):
        """The request's form, read while the request holds a place at the gate (503 at
        once when the queue is full); closed, and the place given back, after."""
        if not gate.enter():
            raise ApiError(503, "busy, try again", headers={"Retry-After": "2"})
        form = None
        try:
            form = await read_form(request, max_bytes, request_timeout)
            yield form
        finally:
            if form is not None:
                await form.close()
            gate.leave()
    fields = form_options(max_size)
    size = fields["size"]
    limits = {"max_bytes": max_bytes, "max_pixels": max_pixels, "concurrency": concurrency, "queue_size": queue_size,
              "size_min": size.min, "size_max": size.max, "formats": list(FORMATS), "request_timeout_s": request_timeout}
    options_json = {name: spec for name, spec in describe(max_size).items() if name in COLORIZE_FIELDS + FILE_FIELDS}
    body = colorize_body({name: option.to_json() for name, option in fields.items()}, colorizer.decoders,
                         colorizer.default_decoding)
    suggest_fields = {name: o.to_json() for name, o in {**fields, **SUGGEST_FIELDS}.items()
                      if name not in ("format", "reference_strength", "variants", "confidence")}
    suggest_body = colorize_body(suggest_fields, colorizer.decoders, colorizer.default_decoding, required=("image", "x", "y"),
                                 reference=False)

    app = FastAPI(title="Colorizer", version=__version__, docs_url=None, redoc_url=None,
                  description="Colour for grayscale photographs.")
    app.state.colorizer, app.state.gate, app.state.limits = colorizer, gate, limits
    install_error_handlers(app)
    app.state.videos = video_jobs(colorizer, video_limits)
    if app.state.videos is not None:
        limits.update(app.state.videos.limits())
    add_video_routes(app, app.state.videos, fields, max_pixels, request_timeout)

    async def infer(fn, *args):
        """fn(*args) in the inference pool, its errors answered as the API's: a bad or too large
        image (422/413), a bad value only the photo can tell (hints or a point outside it, hints
        for a model that takes none: 422), out of memory (503)."""
        try:
            return await gate.run(fn, *args)
        except ImageError as e:
            raise ApiError(413 if isinstance(e, ImageTooLarge) else 422, str(e)) from None
        except ValueError as e:
            raise ApiError(422, str(e)) from None
        except MemoryError:
            raise ApiError(503, "out of memory, try a smaller image") from None

    @app.post("/api/colorize", summary="Colorize a photo", openapi_extra={"requestBody": body},
              responses=COLORIZE_RESPONSES, response_class=Response,
              description="Send a photo as multipart/form-data in the field `image`; the answer is the colorized "
                          "image at the input's resolution, with a Content-Disposition file name and remarks, if "
                          "any, in X-Colorizer-Notes (a decoding this model cannot use is ignored with a note). "
                          "A reference photo goes in the file field `reference`. With `variants` > 0 or `confidence` "
                          "true the answer is JSON instead: the image, the alternatives and the confidence map as "
                          "data: URLs, the notes and a file name.\n"
                          f"Limits: {max_bytes} bytes per upload, {max_pixels} pixels per image. "
                          "When too many requests are waiting the answer is 503 at once.")
    async def colorize(request: Request):
        async with admitted_form(request) as form:
            asked = parse_colorize_form(form, fields, max_pixels)
            options, notes = usable(colorizer, asked)
            pil_format, media_type, ext = FORMATS[asked.format]
            if options.needs_classes and not colorizer.predicts_classes:
                raise ApiError(422, f"{colorizer.name} predicts no colour classes: a reference, alternatives and a "
                                    "confidence map need them")
            if asked.extras:
                answer, more_notes = await infer(colorize_to_json, colorizer, asked.upload.file, options, pil_format,
                                                 media_type)
                answer.update(notes=more_notes + notes, filename=download_name(asked.upload.filename, ext))
                return JSONResponse(answer, headers={"Cache-Control": "no-store"})
            data, more_notes = await infer(colorize_to_bytes, colorizer, asked.upload.file, options, pil_format)
            notes = more_notes + notes
            headers = {"Content-Disposition": f'attachment; filename="{download_name(asked.upload.filename, ext)}"',
                       "Cache-Control": "no-store"}
            if notes:
                headers["X-Colorizer-Notes"] = header_text("; ".join(notes))
            return Response(content=data, media_type=media_type, headers=headers)

    @app.post("/api/suggest", summary="The model's likeliest colours at a point", openapi_extra={"requestBody": suggest_body},
              responses={200: {"description": 'JSON {"colors": [{"color": "#rrggbb", "probability": p, "ab": [a, b]}, '
                                              '...]}, likeliest first'},
                         **{k: v for k, v in COLORIZE_RESPONSES.items() if k != 200}},
              description="For a hint picker: the model's k likeliest colours at pixel (x, y) of the photo (x right, "
                          "y down from the top-left corner), given the hints so far. 422 for a point outside the photo "
                          "or a model without colour classes.")
    async def suggest(request: Request):
        async with admitted_form(request) as form:
            asked = parse_colorize_form(form, fields, max_pixels)
            point = {name: parse_field(SUGGEST_FIELDS[name], field_text(form, name)) for name in SUGGEST_FIELDS}
            if point["x"] is None or point["y"] is None:
                raise ApiError(422, "send the point as form fields 'x' and 'y' (pixels of the photo)")
            colors = await infer(lambda: colorizer.suggest(asked.upload.file, point["x"], point["y"], k=point["k"],
                                                           options=asked.options))
            return {"colors": colors}

    @app.get("/api/health", summary="Status, model, options and limits")
    async def health():
        return {"status": "ok", "model": str(colorizer.name), "version": __version__, "backend": colorizer.backend.name,
                "videos": app.state.videos is not None,  # whether POST /api/videos works here (the video extra)
                # the model's own decoding of colour classes (None: a regression model, no classes)
                "decoding": colorizer.default_decoding if colorizer.predicts_classes else None,
                "decodings": list(colorizer.decoders),
                "hints": colorizer.backend.takes_hints,  # whether the model takes point hints
                "options": options_json, "limits": limits, "admitted": gate.admitted}

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return HTMLResponse(render_docs(app.openapi()))

    static_dir = resources.files("colorizer") / "static"

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(str(static_dir / "index.html"), media_type="text/html")

    app.mount("/static", StaticFiles(directory=str(static_dir)), name="static")

    if allow_origins:
        from fastapi.middleware.cors import CORSMiddleware
        app.add_middleware(CORSMiddleware, allow_origins=list(allow_origins), allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["*"], expose_headers=["Content-Disposition", "X-Colorizer-Notes"])
    app.add_middleware(SecurityHeaders)
    return app
