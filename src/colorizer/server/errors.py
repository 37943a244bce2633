"""Every error the server answers is JSON {"error": "one line"} with an HTTP status:
ApiError for the server's own refusals, and handlers that turn everything else
(unknown paths, wrong methods, validation, crashes) into the same shape, never with a
traceback or internal details."""
import logging

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("colorizer.server")

MAX_MESSAGE = 300  # characters of an error message (they may quote a form value)

ERROR_SCHEMA = {"application/json": {"schema": {"type": "object", "properties": {"error": {"type": "string"}}}}}


class ApiError(Exception):
    """An error answered as JSON {"error": message} with an HTTP status."""

    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


def error_response(status, message, headers=None):
    message = " ".join(str(message).split())
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 1] + "…"
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def install_error_handlers(app):
    """Answer every error of `app` as JSON {"error": ...}."""

    @app.exception_handler(ApiError)
    async def api_error(request, e):
        return error_response(e.status, e.message, headers=e.headers)

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
