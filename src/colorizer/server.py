"""The web app and HTTP API: `colorizer serve`.

    POST /api/colorize   multipart field `image` (+ vibrance, size, format, decoding) -> the colorized image
    GET  /api/health     status, model name, its decoding and limits
    GET  /               the web page (static files in colorizer/static)
    GET  /docs           API documentation (offline, rendered from /openapi.json)

Memory stays bounded: uploads are limited in bytes while they stream in, images in
pixels before they are decoded, at most `concurrency` inferences run at once and at
most `queue_size` more requests may wait; anything beyond is answered 503 at once.
Every error is JSON {"error": "..."} without a traceback.
"""
import asyncio
import html
import logging
import math
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from . import __version__
from .imageio import ImageError, ImageTooLarge, encode_image
from .pipeline import DEFAULT_SIZE, DEFAULT_VIBRANCE, RULES

log = logging.getLogger("colorizer.server")

MIN_SIZE, MAX_SIZE = 64, 1024
FORMATS = {"png": ("PNG", "image/png", "png"), "jpg": ("JPEG", "image/jpeg", "jpg"), "jpeg": ("JPEG", "image/jpeg", "jpg")}
DEFAULT_REQUEST_TIMEOUT = 60.0  # seconds a client may take to send its upload

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; "
     b"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
]


class ApiError(Exception):
    """An error answered as JSON {"error": message} with an HTTP status."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status, self.message = status, message


def error_response(status, message, headers=None):
    return JSONResponse({"error": message}, status_code=status, headers=headers)


# ---------------------------------------------------------------- admission control

class Gate:
    """Admits at most `concurrency + queue_size` requests at once (the rest get 503);
    inference runs in a pool of `concurrency` threads, so the others wait in its queue."""

    def __init__(self, concurrency, queue_size):
        self.concurrency, self.queue_size = concurrency, queue_size
        self.capacity = concurrency + queue_size
        self.admitted = 0
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="colorize")

    def enter(self):
        with self.lock:
            if self.admitted >= self.capacity:
                return False
            self.admitted += 1
            return True

    def leave(self):
        with self.lock:
            self.admitted -= 1

    async def run(self, fn, *args):
        return await asyncio.wrap_future(self.pool.submit(fn, *args))


# ---------------------------------------------------------------- reading the upload

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
    declared = request.headers.get("content-length")
    if declared is None:
        return
    if not declared.isdigit():
        raise ApiError(400, "bad Content-Length header")
    if int(declared) > max_bytes:
        raise ApiError(413, f"upload too large (limit {max_bytes} bytes)")


async def read_form(request, max_bytes, timeout):
    """The multipart form, parsed while it streams in (files spool to temporary files),
    with the byte limit and a deadline for the whole body (408)."""
    check_content_length(request, max_bytes)
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise ApiError(415, "send multipart/form-data with the photo in a field named 'image'")
    limited = Request(request.scope, limited_receive(request.receive, max_bytes))
    try:
        return await asyncio.wait_for(limited.form(max_files=1, max_fields=8, max_part_size=4096), timeout)
    except asyncio.TimeoutError:
        raise ApiError(408, f"upload took longer than {timeout:g} s") from None
    except StarletteHTTPException as e:  # malformed multipart, too many fields
        raise ApiError(400, f"malformed multipart body: {e.detail}") from None
    except ClientDisconnect:
        raise ApiError(400, "client disconnected during upload") from None


def parse_vibrance(value):
    if value is None or value == "":
        return DEFAULT_VIBRANCE
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ApiError(422, "vibrance must be a number between 0 and 1") from None
    if not math.isfinite(v) or not 0.0 <= v <= 1.0:
        raise ApiError(422, "vibrance must be a number between 0 and 1")
    return v


def parse_decoding(value):
    """None (the model's own decoding) or one of pipeline.RULES."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or value.strip().lower() not in RULES:
        raise ApiError(422, f"decoding must be {' or '.join(RULES)}")
    return value.strip().lower()


def parse_size(value):
    if value is None or value == "":
        return DEFAULT_SIZE
    if not isinstance(value, str) or not re.fullmatch(r"\s*\d{1,6}\s*", value):
        raise ApiError(422, f"size must be a whole number between {MIN_SIZE} and {MAX_SIZE}")
    n = int(value)
    if not MIN_SIZE <= n <= MAX_SIZE:
        raise ApiError(422, f"size must be a whole number between {MIN_SIZE} and {MAX_SIZE}")
    return n


def parse_format(value):
    if value is None or value == "":
        return "png"
    if not isinstance(value, str) or value.strip().lower() not in FORMATS:
        raise ApiError(422, "format must be png or jpg")
    return value.strip().lower()


def download_name(client_filename, ext):
    """A safe download name from the client's file name (only ever used in a header):
    ASCII letters, digits, '-', '_' and '.', at most 60 characters."""
    stem = os.path.splitext(os.path.basename(str(client_filename or "").replace("\\", "/")))[0]
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("._")[:60] or "photo"
    return f"{stem}-color.{ext}"


# ---------------------------------------------------------------- inference

def colorize_to_bytes(colorizer, fileobj, vibrance, size, fmt, max_pixels, decoding=None):
    """Runs in a worker thread: decode, colorize, encode. Returns (bytes, notes)."""
    img, notes = colorizer.colorize_with_notes(fileobj, vibrance=vibrance, size=size, max_pixels=max_pixels,
                                               decoding=decoding)
    return encode_image(img, fmt), notes


def header_text(text, limit=500):
    """Text safe for an HTTP header value: printable ASCII, one line."""
    return re.sub(r"[^\x20-\x7e]", "?", text)[:limit]


def image_error_status(e):
    return 413 if isinstance(e, ImageTooLarge) else 422


# ---------------------------------------------------------------- the docs page

def render_docs(schema):
    """A plain HTML page describing the API from its OpenAPI schema (no external assets)."""
    esc = html.escape
    parts = [f"<h1>{esc(schema['info']['title'])} API <small>{esc(schema['info']['version'])}</small></h1>",
             '<p>Machine-readable schema: <a href="/openapi.json">/openapi.json</a>. '
             'Web page: <a href="/">/</a>. Errors are JSON <code>{"error": "..."}</code>.</p>']
    for path, methods in schema.get("paths", {}).items():
        for method, op in methods.items():
            parts.append(f'<section class="op"><h2><code>{esc(method.upper())} {esc(path)}</code></h2>')
            parts.append(f"<p><strong>{esc(op.get('summary', ''))}</strong></p>")
            if op.get("description"):
                parts.append(f"<pre class=\"desc\">{esc(op['description'])}</pre>")
            body = op.get("requestBody", {}).get("content", {})
            for ctype, spec in body.items():
                props = spec.get("schema", {}).get("properties", {})
                required = set(spec.get("schema", {}).get("required", []))
                parts.append(f"<h3>Request body: <code>{esc(ctype)}</code></h3><table><tr><th>field</th><th>type</th><th>description</th></tr>")
                for name, p in props.items():
                    kind = p.get("format", p.get("type", ""))
                    req = " (required)" if name in required else ""
                    parts.append(f"<tr><td><code>{esc(name)}</code>{req}</td><td>{esc(str(kind))}</td><td>{esc(p.get('description', ''))}</td></tr>")
                parts.append("</table>")
            parts.append("<h3>Responses</h3><ul>")
            for code, r in op.get("responses", {}).items():
                types = ", ".join(r.get("content", {}).keys())
                parts.append(f"<li><code>{esc(code)}</code> {esc(r.get('description', ''))} <small>{esc(types)}</small></li>")
            parts.append("</ul></section>")
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Colorizer API</title>"
            "<link rel=\"stylesheet\" href=\"/static/style.css\"></head><body class=\"docs\"><main>"
            + "\n".join(parts) + "</main></body></html>")


COLORIZE_BODY = {
    "required": True,
    "content": {"multipart/form-data": {"schema": {
        "type": "object",
        "required": ["image"],
        "properties": {
            "image": {"type": "string", "format": "binary", "description": "the photo (JPEG, PNG, WebP, TIFF, BMP, GIF...); colour photos are converted to grayscale first"},
            "vibrance": {"type": "number", "minimum": 0, "maximum": 1, "default": DEFAULT_VIBRANCE, "description": "how vivid the colours are, 0..1"},
            "size": {"type": "integer", "minimum": MIN_SIZE, "maximum": MAX_SIZE, "default": DEFAULT_SIZE, "description": "working size of the network in pixels (larger: finer colour, slower)"},
            "format": {"type": "string", "enum": ["png", "jpg"], "default": "png", "description": "output format (png keeps transparency)"},
            "decoding": {"type": "string", "enum": list(RULES), "description": "how colour classes become a colour (default: the model's; the bundled default uses min-risk, the colour of least expected error; annealed-mean is bolder and more often wrong)"},
        },
    }}},
}
ERROR_SCHEMA = {"application/json": {"schema": {"type": "object", "properties": {"error": {"type": "string"}}}}}
COLORIZE_RESPONSES = {
    200: {"description": "the colorized image, at the input's resolution", "content": {"image/png": {}, "image/jpeg": {}}},
    400: {"description": "malformed request", "content": ERROR_SCHEMA},
    408: {"description": "the upload took too long", "content": ERROR_SCHEMA},
    413: {"description": "upload too large in bytes, or image too large in pixels", "content": ERROR_SCHEMA},
    415: {"description": "not a multipart/form-data request", "content": ERROR_SCHEMA},
    422: {"description": "not an image, truncated or unreadable, or a bad form value", "content": ERROR_SCHEMA},
    503: {"description": "busy: too many requests waiting, try again", "content": ERROR_SCHEMA},
}


# ---------------------------------------------------------------- middleware

class SecurityHeaders:
    """Adds conservative security headers to every HTTP response."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in names]
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)

        await self.app(scope, receive, send_with_headers)


# ---------------------------------------------------------------- the app

def create_app(colorizer=None, model=None, max_bytes=25_000_000, max_pixels=50_000_000,
               concurrency=os.cpu_count(), queue_size=16, request_timeout=DEFAULT_REQUEST_TIMEOUT,
               allow_origins=None):
    """The FastAPI app. Pass a loaded `colorizer`, or `model` (a bundled name or a
    .safetensors path, loaded now). CORS stays closed unless `allow_origins` is given."""
    if colorizer is None:
        from .pipeline import Colorizer
        colorizer = Colorizer.load(model)
    concurrency = max(1, int(concurrency or 1))
    queue_size = max(0, int(queue_size))
    gate = Gate(concurrency, queue_size)
    limits = {"max_bytes": max_bytes, "max_pixels": max_pixels, "concurrency": concurrency, "queue_size": queue_size,
              "size_min": MIN_SIZE, "size_max": MAX_SIZE, "formats": ["png", "jpg"], "request_timeout_s": request_timeout}

    app = FastAPI(title="Colorizer", version=__version__, docs_url=None, redoc_url=None,
                  description="Colour for grayscale photographs.")
    app.state.colorizer, app.state.gate, app.state.limits = colorizer, gate, limits

    @app.exception_handler(ApiError)
    async def api_error(request, e):
        return error_response(e.status, e.message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, e):
        message = e.detail if isinstance(e.detail, str) else "request failed"
        return error_response(e.status_code, message, headers=getattr(e, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request, e):
        first = (e.errors() or [{}])[0]
        where = ".".join(str(x) for x in first.get("loc", ()))
        return error_response(422, f"invalid request: {where}: {first.get('msg', 'bad value')}")

    @app.exception_handler(Exception)
    async def internal_error(request, e):
        log.error("internal error on %s %s: %s: %s", request.method, request.url.path, type(e).__name__, e)
        return error_response(500, "internal error")

    @app.post("/api/colorize", summary="Colorize a photo", openapi_extra={"requestBody": COLORIZE_BODY},
              responses=COLORIZE_RESPONSES, response_class=Response,
              description="Send a photo as multipart/form-data in the field `image`; the answer is the colorized "
                          "image at the input's resolution, with a Content-Disposition file name.\n"
                          f"Limits: {max_bytes} bytes per upload, {max_pixels} pixels per image. "
                          "When too many requests are waiting the answer is 503 at once.")
    async def colorize(request: Request):
        if not gate.enter():
            return error_response(503, "busy, try again", headers={"Retry-After": "2"})
        form = None
        try:
            form = await read_form(request, max_bytes, request_timeout)
            upload = form.get("image")
            if upload is None:
                raise ApiError(422, "missing form field 'image' (the photo)")
            if not isinstance(upload, UploadFile):
                raise ApiError(422, "form field 'image' must be a file")
            if upload.size == 0:
                raise ApiError(422, "empty file")
            vibrance = parse_vibrance(form.get("vibrance"))
            size = parse_size(form.get("size"))
            fmt_key = parse_format(form.get("format"))
            decoding = parse_decoding(form.get("decoding"))
            pil_format, media_type, ext = FORMATS[fmt_key]
            try:
                data, notes = await gate.run(colorize_to_bytes, colorizer, upload.file, vibrance, size, pil_format, max_pixels,
                                             decoding)
            except ImageError as e:
                raise ApiError(image_error_status(e), str(e)) from None
            except MemoryError:
                raise ApiError(503, "out of memory, try a smaller image") from None
            headers = {"Content-Disposition": f'attachment; filename="{download_name(upload.filename, ext)}"',
                       "Cache-Control": "no-store"}
            if notes:
                headers["X-Colorizer-Notes"] = header_text("; ".join(notes))
            return Response(content=data, media_type=media_type, headers=headers)
        finally:
            if form is not None:
                await form.close()
            gate.leave()

    @app.get("/api/health", summary="Status, model name and limits")
    async def health():
        # the model's own decoding of colour classes (None: a regression model, no classes)
        decoding = getattr(colorizer, "rule", None) if "bins" in getattr(colorizer, "extra", {}) else None
        return {"status": "ok", "model": str(getattr(colorizer, "name", "model")), "version": __version__,
                "decoding": decoding, "limits": limits, "admitted": gate.admitted}

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
        app.add_middleware(CORSMiddleware, allow_origins=list(allow_origins), allow_methods=["GET", "POST"],
                           allow_headers=["*"], expose_headers=["Content-Disposition", "X-Colorizer-Notes"])
    app.add_middleware(SecurityHeaders)
    return app


def serve(host="127.0.0.1", port=8000, model=None, max_bytes=25_000_000, max_pixels=50_000_000,
          concurrency=os.cpu_count(), queue_size=16, request_timeout=DEFAULT_REQUEST_TIMEOUT, allow_origins=None):
    """Load the model once and run the app with uvicorn until interrupted."""
    import torch
    import uvicorn

    concurrency = max(1, int(concurrency or 1))
    # split the cores between the inferences that may run at once
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // concurrency))
    app = create_app(model=model, max_bytes=max_bytes, max_pixels=max_pixels, concurrency=concurrency,
                     queue_size=queue_size, request_timeout=request_timeout, allow_origins=allow_origins)
    shown = f"[{host}]" if ":" in host else host
    print(f"colorizer: serving model {app.state.colorizer.name!r} at http://{shown}:{port}/ "
          f"(API docs at http://{shown}:{port}/docs; Ctrl-C to stop)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_keep_alive=5,
                limit_concurrency=concurrency + queue_size + 64, server_header=False)
