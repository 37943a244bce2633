"""The web app and HTTP API: `colorizer serve`.

    POST /api/colorize   multipart field `image` (+ vibrance, size, format, decoding) -> the colorized image
    POST /api/videos     multipart field `video` -> a background job's id; GET /api/videos/{id} its progress,
                         DELETE cancels it, GET /api/videos/{id}/result the colorized MP4 (videos.py)
    GET  /api/health     status, model, its decodings, the options (defaults, ranges) and limits
    GET  /               the web page (static files in colorizer/static; it reads /api/health)
    GET  /docs           API documentation (offline, rendered from /openapi.json)

Memory stays bounded: uploads are limited in bytes while they stream in, images in
pixels before they are decoded, at most `concurrency` inferences run at once and at
most `queue_size` more requests may wait; anything beyond is answered 503 at once.
Every error is JSON {"error": "..."} without a traceback.

    app.py        the FastAPI app and its routes (create_app)
    admission.py  Gate: concurrency and a bounded queue
    uploads.py    the multipart body (byte limit, deadline) and its fields (colorizer.options)
    schema.py     the OpenAPI description of the form, generated from colorizer.options
    docs_page.py  the /docs page, rendered from the schema
    headers.py    security headers, safe download names and notes
    errors.py     ApiError and the JSON error handlers
    videos.py     video jobs: one worker thread, a bounded queue, limits, cancel, results on disk
"""
import os

from .app import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, DEFAULT_MAX_SIZE, DEFAULT_QUEUE_SIZE, DEFAULT_REQUEST_TIMEOUT, create_app
from .headers import download_name


def serve(host="127.0.0.1", port=8000, model=None, max_bytes=DEFAULT_MAX_BYTES, max_pixels=DEFAULT_MAX_PIXELS,
          concurrency=os.cpu_count(), queue_size=DEFAULT_QUEUE_SIZE, request_timeout=DEFAULT_REQUEST_TIMEOUT,
          allow_origins=None, max_size=DEFAULT_MAX_SIZE, backend=None):
    """Load the model once (run by `backend`: auto, torch or onnxruntime) and run the app with
    uvicorn until interrupted."""
    import torch
    import uvicorn

    sock = bind(host, port)  # first: a busy port is one error (OSError), before the model loads or "serving" is said
    concurrency = max(1, int(concurrency or 1))
    # split the cores between the inferences that may run at once
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // concurrency))
    app = create_app(model=model, backend=backend, max_bytes=max_bytes, max_pixels=max_pixels, concurrency=concurrency,
                     queue_size=queue_size, request_timeout=request_timeout, allow_origins=allow_origins,
                     max_size=max_size)
    shown = f"[{host}]" if ":" in host else host
    print(f"colorizer: serving model {app.state.colorizer.name!r} at http://{shown}:{port}/ "
          f"(API docs at http://{shown}:{port}/docs; Ctrl-C to stop)", flush=True)
    config = uvicorn.Config(app, log_level="warning", timeout_keep_alive=5, limit_concurrency=concurrency + queue_size + 64,
                            server_header=False)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()


def bind(host, port):
    """A TCP socket bound to (host, port), as uvicorn would bind it; OSError if it cannot be."""
    import socket
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


__all__ = ["create_app", "download_name", "serve"]
