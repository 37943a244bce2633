"""Response headers: conservative security headers on every response, and safe values
for the headers that carry text from the request or the model (the download name, the
notes)."""
import os
import re

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; "
     b"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
]


class SecurityHeaders:
    """ASGI middleware: adds SECURITY_HEADERS to every HTTP response (unless it set its own)."""

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


def download_name(client_filename, ext):
    """A safe download name from the client's file name (only ever used in a header):
    ASCII letters, digits, '-', '_' and '.', at most 60 characters."""
    stem = os.path.splitext(os.path.basename(str(client_filename or "").replace("\\", "/")))[0]
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("._")[:60] or "photo"
    return f"{stem}-color.{ext}"


def header_text(text, limit=500):
    """Text safe for an HTTP header value: printable ASCII, one line."""
    return re.sub(r"[^\x20-\x7e]", "?", text)[:limit]
