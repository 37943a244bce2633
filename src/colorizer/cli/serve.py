"""colorizer serve: the web page and the HTTP API (colorizer.server)."""
import errno
import os

from .common import BACKEND_HELP, error


def add_parser(sub):
    p = sub.add_parser("serve", help="run the web app and HTTP API",
                       description="Serve the web page (/) and the HTTP API (/api/colorize, /api/health, docs at /docs). "
                                   "Exit status: 0 stopped (Ctrl-C), 2 could not start (the port in use, an address not "
                                   "permitted, a model that cannot be used, a bad option), said in one line.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--model", default=None,
                   help="bundled model name, .safetensors path, or .onnx file (from colorizer export) "
                        "(default: the bundled default)")
    p.add_argument("--backend", choices=["auto", "torch", "onnxruntime"], default="auto",
                   help=BACKEND_HELP)
    p.add_argument("--max-mb", type=float, default=25, help="largest upload in megabytes (default 25)")
    p.add_argument("--max-megapixels", type=float, default=50, help="largest image in megapixels (default 50)")
    p.add_argument("--concurrency", type=int, default=0, help="inferences at once (default: number of cores)")
    p.add_argument("--queue", type=int, default=16,
                   help="requests allowed to wait; beyond that the server answers 503 (default 16)")
    p.add_argument("--allow-origin", action="append", default=None, metavar="ORIGIN",
                   help="allow cross-origin requests from ORIGIN (repeatable); CORS is closed by default")
    p.add_argument("--request-timeout", type=float, default=60, help="seconds a client may take to upload (default 60)")


def run(a):
    from ..backends import BackendError
    from ..model_files import WeightsError
    from ..server import serve
    try:
        serve(host=a.host, port=a.port, model=a.model, backend=a.backend, max_bytes=int(a.max_mb * 1e6),
              max_pixels=int(a.max_megapixels * 1e6), concurrency=a.concurrency or (os.cpu_count() or 1),
              queue_size=a.queue, allow_origins=a.allow_origin or None, request_timeout=a.request_timeout)
    except (WeightsError, BackendError, ValueError) as e:  # a model or backend that cannot be used, a limit out of range
        return error(e)
    except OSError as e:  # port in use, permission denied: found before anything else is said
        hint = ": another server runs there; choose another --port" if e.errno == errno.EADDRINUSE else ""
        return error(f"cannot serve on {a.host}:{a.port} ({e.strerror or e}){hint}")
    return 0
