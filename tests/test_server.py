"""The HTTP API and web app (colorizer.server) through FastAPI's TestClient, plus a few
requests sent straight to the ASGI app to control how the body streams in."""
import asyncio
import io
import json
import re
import struct
import threading
import time
import zlib

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from colorizer.options import OPTIONS, describe  # noqa: E402
from colorizer.server import create_app, download_name  # noqa: E402
from colorizer.server.uploads import FORMAT  # noqa: E402
from helpers import gradient_image, make_tiny_model_file  # noqa: E402

MAX_BYTES = 300_000
MAX_PIXELS = 2_000_000


# ---------------------------------------------------------------- helpers

def encoded(img, fmt, **kw):
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def is_colour(img):
    a = np.asarray(img.convert("RGB"), dtype=np.int16)
    return np.abs(a[..., 0] - a[..., 1]).mean() + np.abs(a[..., 1] - a[..., 2]).mean() > 2.0


def assert_json_error(r, status=None):
    if status is not None:
        assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]
    assert "Traceback" not in r.text and 'File "' not in r.text
    return body["error"]


def png_header_only(width, height):
    """A PNG whose header claims width x height pixels (and no pixel data)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def tiff_two_samples_16bit(w=8, h=6):
    """A valid TIFF in a mode Pillow does not support (2 samples of 16 bits)."""
    data = bytes(w * h * 4)
    entries = [(256, w), (257, h), (258, 16), (259, 1), (262, 1), (273, 0), (277, 2), (278, h), (279, len(data))]
    data_offset = 8 + 2 + len(entries) * 12 + 4
    out = b"II*\x00" + struct.pack("<IH", 8, len(entries))
    for tag, value in entries:
        value = data_offset if tag == 273 else value
        out += struct.pack("<HHII", tag, 4, 1, value)
    return out + b"\x00\x00\x00\x00" + data


def asgi_post(app, first, then, stall_after=None):
    """POST /api/colorize straight to the ASGI app with no Content-Length: the body is
    `first` and then the chunks of `then` (more_body stays true). With `stall_after`,
    the client goes silent after that many chunks. Returns (status, json, chunks read)."""
    messages, read = [], []

    async def run():
        chunks = iter([first, *then])

        async def receive():
            if stall_after is not None and len(read) >= stall_after:
                await asyncio.sleep(30)
            chunk = next(chunks, None)
            if chunk is None:
                return {"type": "http.request", "body": b"", "more_body": False}
            read.append(chunk)
            return {"type": "http.request", "body": chunk, "more_body": True}

        async def send(message):
            messages.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/api/colorize", "raw_path": b"/api/colorize", "root_path": "",
                 "query_string": b"", "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80),
                 "headers": [(b"content-type", b"multipart/form-data; boundary=BOUNDARY")]}
        await asyncio.wait_for(app(scope, receive, send), 10)

    asyncio.run(run())
    status = next(m["status"] for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return status, json.loads(body), len(read)


MULTIPART_HEAD = (b"--BOUNDARY\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n"
                  b"Content-Type: application/octet-stream\r\n\r\n")


class SlowColorizer:
    """Wraps a colorizer: each call takes at least `delay` seconds; records how many run at once."""

    def __init__(self, inner, delay):
        self.inner, self.delay, self.name = inner, delay, "slow"
        self.lock = threading.Lock()
        self.stats = {"running": 0, "most_at_once": 0, "calls": 0}

    def __getattr__(self, name):  # decoders, default_decoding, ignored...: the wrapped model's
        return getattr(self.inner, name)

    def colorize(self, image, options=None, **changes):
        with self.lock:
            self.stats["running"] += 1
            self.stats["calls"] += 1
            self.stats["most_at_once"] = max(self.stats["most_at_once"], self.stats["running"])
        try:
            time.sleep(self.delay)
            return self.inner.colorize(image, options, **changes)
        finally:
            with self.lock:
                self.stats["running"] -= 1


class BrokenColorizer:
    """A model whose colorize fails with an internal error."""

    def __init__(self, inner):
        self.inner, self.name = inner, "broken"

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def colorize(self, image, options=None, **changes):
        raise RuntimeError("secret internal detail /home/user/model.py line 12")


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def app(tiny_colorizer):
    return create_app(colorizer=tiny_colorizer, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS, concurrency=2, queue_size=4)


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def gray_png():
    return encoded(gradient_image(96, 64, mode="L"), "PNG")


@pytest.fixture(scope="module")
def seed_client(tmp_path_factory):
    """The app with a tiny regression model (the `seed` architecture: no colour classes)."""
    from colorizer import Colorizer
    path = make_tiny_model_file(tmp_path_factory.mktemp("seed") / "tiny-seed.safetensors", arch="seed")
    app = create_app(colorizer=Colorizer.load(path, device="cpu"), concurrency=1, queue_size=2)
    with TestClient(app) as c:
        yield c


def decoded(r):
    assert r.status_code == 200, r.text
    return np.asarray(Image.open(io.BytesIO(r.content)), dtype=np.int16)


def post_image(client, data, filename="photo.png", **fields):
    return client.post("/api/colorize", files={"image": (filename, data, "application/octet-stream")}, data=fields)


# ---------------------------------------------------------------- good requests

def test_gray_png_in_png_out(client, gray_png):
    r = post_image(client, gray_png, filename="old photo.png")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    assert r.headers["content-disposition"] == 'attachment; filename="old_photo-color.png"'
    out = Image.open(io.BytesIO(r.content))
    assert out.format == "PNG" and out.size == (96, 64) and out.mode == "RGB"
    assert is_colour(out)


def test_colour_jpeg_in_jpeg_out(client):
    r = post_image(client, encoded(gradient_image(120, 80), "JPEG", quality=90), filename="x.jpg",
                   format="jpg", vibrance="0.4", size="128")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/jpeg"
    assert r.headers["content-disposition"].endswith('-color.jpg"')
    assert "converted to grayscale" in r.headers["x-colorizer-notes"]
    out = Image.open(io.BytesIO(r.content))
    assert out.format == "JPEG" and out.size == (120, 80) and is_colour(out)


def test_transparency_is_kept_in_png(client):
    img = gradient_image(40, 30, mode="LA")
    r = post_image(client, encoded(img, "PNG"))
    assert r.status_code == 200
    out = Image.open(io.BytesIO(r.content))
    assert out.mode == "RGBA" and out.size == (40, 30)


def test_vibrance_changes_the_colours(client, gray_png):
    dull = np.asarray(Image.open(io.BytesIO(post_image(client, gray_png, vibrance="0").content)), dtype=np.int16)
    vivid = np.asarray(Image.open(io.BytesIO(post_image(client, gray_png, vibrance="1").content)), dtype=np.int16)
    assert np.abs(dull - vivid).mean() > 0.5


def test_decoding_field_chooses_the_rule(client, gray_png):
    got = {rule: decoded(post_image(client, gray_png, decoding=rule)) for rule in ("annealed-mean", "min-risk", "regression", "")}
    assert np.abs(got["annealed-mean"] - got["min-risk"]).mean() > 0.5
    assert np.abs(got["regression"] - got["min-risk"]).mean() > 0.5  # the U-Net's a,b head
    assert np.array_equal(got[""], got["annealed-mean"])  # empty: the model's own (the test model's is annealed-mean)
    assert np.array_equal(decoded(post_image(client, gray_png, decoding=" MIN-RISK ")), got["min-risk"])


def test_the_answer_is_what_the_python_api_gives(client, tiny_colorizer, gray_png):
    from colorizer import ColorizeOptions
    want = tiny_colorizer.colorize(io.BytesIO(gray_png), ColorizeOptions(vibrance=0.3, size=96, decoding="min-risk")).image
    got = decoded(post_image(client, gray_png, vibrance="0.3", size="96", decoding="min-risk"))
    assert np.array_equal(got, np.asarray(want, dtype=np.int16))


def test_a_regression_model_ignores_decoding_and_vibrance_with_a_note(seed_client, gray_png):
    plain = post_image(seed_client, gray_png)
    assert "x-colorizer-notes" not in plain.headers  # a gray photo, nothing asked: nothing to say
    asked = post_image(seed_client, gray_png, decoding="min-risk", vibrance="0.9")
    notes = asked.headers["x-colorizer-notes"]
    assert "cannot use min-risk decoding" in notes and "vibrance does not apply" in notes
    assert np.array_equal(decoded(asked), decoded(plain))
    # a value that is no decoding at all is still refused
    assert "decoding must be one of" in assert_json_error(post_image(seed_client, gray_png, decoding="median"), 422)


@pytest.mark.parametrize("client_name, expected", [
    ("../../etc/passwd", "passwd-color.png"),
    ("C:\\Users\\me\\scan 1.tif", "scan_1-color.png"),
    ('a"b;c\r\nSet-Cookie: x=1.jpg', "a_b_c_Set-Cookie_x_1-color.png"),
    ("фото.jpg", "photo-color.png"),
    ("", "photo-color.png"),
    (None, "photo-color.png"),
    ("." * 300, "photo-color.png"),
])
def test_download_names_are_safe(client_name, expected):
    assert download_name(client_name, "png") == expected
    assert re.fullmatch(r"[A-Za-z0-9_.-]{1,80}", download_name("x" * 500 + ".png", "png"))


# ---------------------------------------------------------------- bad images

@pytest.fixture(scope="module")
def bad_images():
    jpeg = encoded(gradient_image(96, 64), "JPEG")
    png = encoded(gradient_image(96, 64), "PNG")
    return {
        "not an image": b"hello, this is text and not a photo\n" * 10,
        "truncated jpeg": jpeg[: len(jpeg) // 2],
        "truncated png": png[: len(png) // 2],
        "empty": b"",
        "unsupported mode": tiff_two_samples_16bit(),
        "pdf": b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
    }


@pytest.mark.parametrize("kind", ["not an image", "truncated jpeg", "truncated png", "empty", "unsupported mode", "pdf"])
def test_bad_images_are_422(client, bad_images, kind):
    assert_json_error(post_image(client, bad_images[kind]), 422)


def test_too_many_bytes_is_413(client):
    r = post_image(client, b"\xff" * (MAX_BYTES + 1000))
    assert "too large" in assert_json_error(r, 413)


def test_content_length_over_the_limit_is_refused_before_reading(client):
    r = client.post("/api/colorize", content=b"x" * 10, headers={"content-type": "multipart/form-data; boundary=B",
                                                                   "content-length": str(MAX_BYTES + 1)})
    assert_json_error(r, 413)


def test_streamed_body_without_length_stops_at_the_limit(app):
    status, body, chunks_read = asgi_post(app, MULTIPART_HEAD, [b"x" * 10_000] * 100)
    assert status == 413 and "too large" in body["error"]
    assert chunks_read <= MAX_BYTES // 10_000 + 2  # stopped reading, not after all 1 MB


def test_slow_upload_times_out_with_408(tiny_colorizer):
    app = create_app(colorizer=tiny_colorizer, max_bytes=MAX_BYTES, concurrency=1, queue_size=1, request_timeout=0.3)
    t0 = time.monotonic()
    status, body, _ = asgi_post(app, MULTIPART_HEAD, [b"x" * 100] * 5, stall_after=2)
    assert status == 408 and set(body) == {"error"}
    assert time.monotonic() - t0 < 5
    assert app.state.gate.admitted == 0


def test_too_many_pixels_is_413(client):
    big = encoded(Image.new("L", (2000, 1500), 128), "PNG")  # 3 MP, a few kB
    assert len(big) < MAX_BYTES
    assert "too large" in assert_json_error(post_image(client, big), 413)


def test_decompression_bomb_header_is_refused(client):
    assert_json_error(post_image(client, png_header_only(100_000, 100_000)), 413)


# ---------------------------------------------------------------- bad requests

@pytest.mark.parametrize("field, value", [
    ("vibrance", "-0.1"), ("vibrance", "1.5"), ("vibrance", "nan"), ("vibrance", "inf"), ("vibrance", "lots"),
    ("size", "10"), ("size", "5000"), ("size", "abc"), ("size", "128.5"), ("size", "-256"),
    ("format", "gif"), ("format", "png; rm -rf /"),
    ("decoding", "median"), ("decoding", "min-risk; x"),
])
def test_bad_form_values_are_422(client, gray_png, field, value):
    msg = assert_json_error(post_image(client, gray_png, **{field: value}), 422)
    assert field in msg


@pytest.mark.parametrize("field, value, message", [
    # the messages of colorizer.options, as on the command line; the size capped at the server's max_size
    ("size", "5000", "size must be a whole number between 32 and 1024, not 5000"),
    ("size", "abc", "size must be a whole number between 32 and 1024, not 'abc'"),
    ("size", "9" * 400, "size must be a whole number between 32 and 1024, not 99999999999999999..."),
    ("vibrance", "1.5", "vibrance must be a number between 0 and 1, not 1.5"),
    ("decoding", "median", "decoding must be one of min-risk, annealed-mean, regression, not 'median'"),
    ("format", "gif", "format must be one of png, jpg, webp, tif, not 'gif'"),
])
def test_bad_form_values_are_explained(client, gray_png, field, value, message):
    assert assert_json_error(post_image(client, gray_png, **{field: value}), 422) == message


def test_a_form_field_sent_as_a_file_is_refused(client, gray_png):
    r = client.post("/api/colorize", files=[("image", ("a.png", gray_png)), ("vibrance", ("v.txt", b"0.5"))])
    assert assert_json_error(r, 422) == "form field 'vibrance' must be text, not a file"
    r = client.post("/api/colorize", files=[("image", ("a.png", gray_png)), ("reference", ("r.png", gray_png)),
                                            ("vibrance", ("v.txt", b"0.5"))])
    assert "Too many files" in assert_json_error(r, 400)  # two files per request: the photo and a reference photo


def test_sizes_follow_the_options_and_the_server_cap(tiny_colorizer, gray_png):
    app = create_app(colorizer=tiny_colorizer, concurrency=1, queue_size=1, max_size=512)
    with TestClient(app) as c:
        assert post_image(c, gray_png, size="32").status_code == 200  # the options' minimum
        assert post_image(c, gray_png, size="512", format="JPEG").status_code == 200
        msg = assert_json_error(post_image(c, gray_png, size="600"), 422)
        assert msg == "size must be a whole number between 32 and 512, not 600"
        size = c.get("/openapi.json").json()["paths"]["/api/colorize"]["post"]["requestBody"]["content"][
            "multipart/form-data"]["schema"]["properties"]["size"]
        assert (size["minimum"], size["maximum"], size["default"]) == (32, 512, OPTIONS["size"].default)
        health = c.get("/api/health").json()
        assert health["options"]["size"] == describe(512)["size"] and health["options"]["size"]["max"] == 512
        assert (health["limits"]["size_min"], health["limits"]["size_max"]) == (32, 512)
    with pytest.raises(ValueError, match="max_size"):
        create_app(colorizer=tiny_colorizer, concurrency=1, queue_size=1, max_size=16)


def test_missing_image_field_is_422(client):
    r = client.post("/api/colorize", files={"photo": ("a.png", b"x")})
    assert "image" in assert_json_error(r, 422)


def test_image_sent_as_text_is_422(client):
    r = client.post("/api/colorize", files={"image": (None, "not a file")})
    assert_json_error(r, 422)


def test_not_multipart_is_415(client):
    assert_json_error(client.post("/api/colorize", json={"image": "abc"}), 415)
    assert_json_error(client.post("/api/colorize", content=b"raw bytes"), 415)


def test_malformed_multipart_is_400(client):
    r = client.post("/api/colorize", content=b"garbage without boundaries",
                    headers={"content-type": "multipart/form-data; boundary=XYZ"})
    assert_json_error(r, 400)


def test_too_many_files_is_400(client, gray_png):
    r = client.post("/api/colorize", files=[("image", ("a.png", gray_png)), ("image", ("b.png", gray_png))])
    assert assert_json_error(r, 400) == "too many files in form field 'image': send one"


def test_unknown_path_and_wrong_method_are_json(client):
    assert_json_error(client.get("/nothing-here"), 404)
    assert_json_error(client.get("/api/colorize"), 405)
    assert_json_error(client.post("/api/health"), 405)


def test_internal_errors_hide_details(tiny_colorizer, gray_png):
    app = create_app(colorizer=BrokenColorizer(tiny_colorizer), concurrency=1, queue_size=1)
    with TestClient(app, raise_server_exceptions=False) as c:
        r = post_image(c, gray_png)
    assert assert_json_error(r, 500) == "internal error"
    assert "secret" not in r.text and "RuntimeError" not in r.text


# ---------------------------------------------------------------- health, docs, page

def test_health(client, tiny_colorizer):
    r = client.get("/api/health")
    assert r.status_code == 200
    h = r.json()
    assert h["status"] == "ok" and h["model"] == "tiny-unet"
    assert h["decoding"] == "annealed-mean"  # the test model file names no rule
    assert h["decodings"] == list(tiny_colorizer.decoders) == ["min-risk", "annealed-mean", "regression"]
    assert h["limits"]["max_bytes"] == MAX_BYTES and h["limits"]["max_pixels"] == MAX_PIXELS
    assert h["limits"]["concurrency"] == 2 and h["limits"]["queue_size"] == 4
    assert (h["limits"]["size_min"], h["limits"]["size_max"]) == (32, 1024)
    assert h["admitted"] == 0


def test_health_describes_the_options(client):
    """The form's options with their defaults, ranges and help, as colorizer.options has
    them (the page reads them from here); the size capped at the server's max_size."""
    options = client.get("/api/health").json()["options"]
    assert set(options) == {"vibrance", "size", "decoding", "hints", "reference", "reference_strength", "variants", "confidence"}
    want = describe(1024)
    assert options == {name: want[name] for name in options}
    assert options["vibrance"] == {"kind": "number", "default": OPTIONS["vibrance"].default, "min": 0.0, "max": 1.0,
                                   "help": OPTIONS["vibrance"].help}
    assert (options["size"]["min"], options["size"]["max"], options["size"]["default"]) == (32, 1024, OPTIONS["size"].default)


def test_health_of_a_regression_model(seed_client):
    h = seed_client.get("/api/health").json()
    assert h["decoding"] is None and h["decodings"] == ["regression"]


EXTERNAL = re.compile(r"(https?:)?//[A-Za-z0-9]", re.I)


def local_links(html):
    return re.findall(r"""(?:src|href|action)\s*=\s*["']([^"']*)["']""", html, re.I)


def test_docs_page_works_offline(client):
    r = client.get("/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "/api/colorize" in r.text and "vibrance" in r.text and "/openapi.json" in r.text
    # ranges and defaults from the options
    assert f"0 to 1, default {OPTIONS['vibrance'].default}" in r.text
    assert f"32 to 1024, default {OPTIONS['size'].default}" in r.text
    assert "one of min-risk, annealed-mean, regression, default annealed-mean" in r.text
    assert not EXTERNAL.search(r.text)
    assert all(link.startswith("/") for link in local_links(r.text))
    assert client.get("/redoc").status_code == 404


def form_schema(client):
    schema = client.get("/openapi.json").json()
    return schema["paths"]["/api/colorize"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]


def test_openapi_schema_describes_the_upload(client, tiny_colorizer):
    body = form_schema(client)
    assert body["required"] == ["image"]
    assert set(body["properties"]) == {"image", "vibrance", "size", "format", "decoding", "hints", "reference",
                                       "reference_strength", "variants", "confidence"}
    # the decodings this model can use, its own the default
    decoding = body["properties"]["decoding"]
    assert decoding["enum"] == list(tiny_colorizer.decoders) == ["min-risk", "annealed-mean", "regression"]
    assert decoding["type"] == "string" and decoding["default"] == "annealed-mean"
    assert decoding["description"] == OPTIONS["decoding"].help
    assert body["properties"]["format"] == {"type": "string", "enum": ["png", "jpg", "webp", "tif"], "default": "png",
                                            "description": FORMAT.help}


def test_openapi_schema_follows_the_options(client):
    props = form_schema(client)["properties"]
    for name, kind in (("vibrance", "number"), ("size", "integer")):
        o = OPTIONS[name]
        assert props[name] == {"type": kind, "minimum": o.min, "maximum": min(o.max, 1024), "default": o.default,
                               "description": o.help}
    assert props["vibrance"]["minimum"] == 0 and props["vibrance"]["maximum"] == 1 and props["size"]["minimum"] == 32


def test_page_and_assets_are_local(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert not EXTERNAL.search(page.text)
    links = local_links(page.text)
    assert "/static/app.js" in links and "/static/style.css" in links
    for link in links:
        if link.startswith("/static/"):
            asset = client.get(link)
            assert asset.status_code == 200
            text = re.sub(r'xmlns="http://www\.w3\.org/2000/svg"', "", asset.text)  # a name, not a request
            assert not re.search(r"https?://", text), link
            assert "@import" not in asset.text


def test_the_page_has_no_option_values_of_its_own(client):
    """The page takes the vibrance's default and range, and the decodings, from
    /api/health: neither the HTML nor the script writes them down."""
    page, script = client.get("/").text, client.get("/static/app.js").text
    slider = re.search(r"<input[^>]*id=\"vibrance\"[^>]*>", page).group(0)
    assert not re.search(r"\b(min|max|step|value)=", slider), slider
    assert "<option" not in page
    default = str(OPTIONS["vibrance"].default)
    assert default not in page and default not in script
    assert "/api/health" in script and "h.options.vibrance" in script and "h.decodings" in script


def test_security_headers_and_closed_cors(client):
    r = client.get("/", headers={"Origin": "http://evil.example"})
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "access-control-allow-origin" not in r.headers
    pre = client.options("/api/colorize", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in pre.headers


def test_cors_can_be_opened_explicitly(tiny_colorizer):
    app = create_app(colorizer=tiny_colorizer, concurrency=1, queue_size=1, allow_origins=["http://app.example"])
    with TestClient(app) as c:
        r = c.get("/api/health", headers={"Origin": "http://app.example"})
        assert r.headers["access-control-allow-origin"] == "http://app.example"
        r = c.get("/api/health", headers={"Origin": "http://other.example"})
        assert "access-control-allow-origin" not in r.headers


# ---------------------------------------------------------------- load limits

def test_busy_server_answers_503_and_runs_one_at_a_time(tiny_colorizer, gray_png):
    slow = SlowColorizer(tiny_colorizer, delay=1.0)
    app = create_app(colorizer=slow, concurrency=1, queue_size=1)
    statuses, bodies, retry = [], [], []
    start = threading.Barrier(4)

    with TestClient(app) as c:
        def one():
            start.wait()
            r = post_image(c, gray_png)
            statuses.append(r.status_code)
            if r.status_code != 200:
                bodies.append(r.json())
                retry.append(r.headers.get("retry-after"))

        threads = [threading.Thread(target=one) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        health = c.get("/api/health").json()

    assert sorted(set(statuses)) <= [200, 503] and len(statuses) == 4
    assert statuses.count(200) >= 1 and statuses.count(503) >= 1, statuses
    assert all(b == {"error": "busy, try again"} for b in bodies) and set(retry) == {"2"}
    assert slow.stats["most_at_once"] == 1 and slow.stats["calls"] == statuses.count(200)
    assert health["admitted"] == 0


# ---------------------------------------------------------------- fuzzing

def small_image_bytes(draw):
    w, h = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    mode = draw(st.sampled_from(["L", "RGB", "RGBA", "LA", "P", "1", "I;16", "CMYK"]))
    fmt = draw(st.sampled_from(["PNG", "JPEG", "TIFF", "BMP", "GIF", "WEBP"]))
    img = gradient_image(w, h).convert(mode) if mode != "I;16" else gradient_image(w, h, mode="L").convert("I;16")
    try:
        data = encoded(img, fmt)
    except (OSError, ValueError, KeyError):  # this mode cannot be written in that format
        data = encoded(img.convert("RGB"), "PNG")
    cut = draw(st.sampled_from([None, None, 0.5, 0.9]))
    return data if cut is None else data[: int(len(data) * cut)]


@st.composite
def fuzz_requests(draw):
    """A multipart request: an image (valid, truncated, random bytes or missing, sent as a
    file or as text) and random form fields."""
    kind = draw(st.sampled_from(["valid", "valid", "random", "missing", "text"]))
    files = []
    if kind == "valid":
        content_type = draw(st.sampled_from(["image/png", "text/plain", ""]))
        files.append(("image", (draw(st.text(max_size=30)), small_image_bytes(draw), content_type)))
    elif kind == "random":
        files.append(("image", ("f.bin", draw(st.binary(max_size=300)), "application/octet-stream")))
    elif kind == "text":
        files.append(("image", (None, draw(st.text(max_size=50)))))
    field_value = st.one_of(st.none(), st.text(max_size=12),
                            st.sampled_from(["0", "1", "0.5", "64", "128", "png", "jpg", "JPEG", " 96 ", "1e-3",
                                             "min-risk", "regression"]))
    for name in ["vibrance", "size", "format", "decoding"]:
        value = draw(field_value)
        if value is not None:
            files.append((name, (None, value)))
    for name, value in draw(st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=20), max_size=3)).items():
        files.append((name, (None, value)))
    return files


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(files=fuzz_requests())
def test_fuzz_multipart_never_5xx(client, files):
    if not files:
        files = [("nothing", (None, ""))]
    r = client.post("/api/colorize", files=files)
    assert r.status_code < 500 or r.status_code == 503, r.text
    if r.status_code != 200:
        assert_json_error(r)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=400),
       content_type=st.sampled_from(["multipart/form-data; boundary=B", "multipart/form-data", "multipart/form-data; boundary=",
                                     "application/x-www-form-urlencoded", "image/png", "text/plain; charset=utf-8", ""]))
def test_fuzz_raw_bodies_never_5xx(client, body, content_type):
    r = client.post("/api/colorize", content=b"--B\r\n" + body if "boundary=B" in content_type else body,
                    headers={"content-type": content_type})
    assert r.status_code < 500, r.text
    assert_json_error(r)


# ---------------------------------------------------------------- point hints

@pytest.fixture(scope="module")
def hints_client(tmp_path_factory):
    """The app with a tiny hint-aware model."""
    from colorizer import Colorizer
    path = make_tiny_model_file(tmp_path_factory.mktemp("hints") / "tiny-hints.safetensors", hints=True)
    app = create_app(colorizer=Colorizer.load(path, device="cpu"), concurrency=1, queue_size=2)
    with TestClient(app) as c:
        yield c


def test_hints_are_a_json_form_field(hints_client, client, gray_png):
    import json
    assert hints_client.get("/api/health").json()["hints"] is True
    assert client.get("/api/health").json()["hints"] is False
    hints = json.dumps([{"x": 48, "y": 32, "color": "#00ff00"}, {"x": 5, "y": 5, "color": "#ff00ff"}])
    auto = decoded(post_image(hints_client, gray_png, size="64"))
    hinted = decoded(post_image(hints_client, gray_png, size="64", hints=hints))
    assert np.abs(hinted - auto).max() > 2
    prop = hints_client.get("/openapi.json").json()["paths"]["/api/colorize"]["post"]["requestBody"]["content"][
        "multipart/form-data"]["schema"]["properties"]["hints"]
    assert prop["type"] == "string" and "#RRGGBB" in prop["description"]
    for bad, message in (("[{", "hints are not valid JSON"), ('[{"x": 1, "y": 1, "color": "red"}]', "hint 1 (1,1,red): colour"),
                         ('[{"x": 500, "y": 1, "color": "#ff0000"}]', "hint (500,1,#ff0000): outside the 96x64 photo")):
        msg = assert_json_error(post_image(hints_client, gray_png, hints=bad), 422)
        assert message in msg, msg
    msg = assert_json_error(post_image(client, gray_png, hints=hints), 422)
    assert "takes no hints" in msg


def test_suggest_gives_the_models_likeliest_colours_at_a_point(client, seed_client, gray_png):
    r = client.post("/api/suggest", files={"image": ("p.png", gray_png, "image/png")}, data={"x": "10", "y": "20", "k": "4"})
    assert r.status_code == 200, r.text
    colors = r.json()["colors"]
    assert len(colors) == 4 and all(re.fullmatch(r"#[0-9a-f]{6}", c["color"]) for c in colors)
    probs = [c["probability"] for c in colors]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
    for data, message in (({"x": "96", "y": "0"}, "outside the 96x64 photo"), ({"y": "3"}, "send the point"),
                          ({"x": "1", "y": "1", "k": "0"}, "k must be a whole number between 1 and 20")):
        r = client.post("/api/suggest", files={"image": ("p.png", gray_png, "image/png")}, data=data)
        assert message in assert_json_error(r, 422)
    r = seed_client.post("/api/suggest", files={"image": ("p.png", gray_png, "image/png")}, data={"x": "1", "y": "1"})
    assert "no colour classes" in assert_json_error(r, 422)
    body = client.get("/openapi.json").json()["paths"]["/api/suggest"]["post"]["requestBody"]["content"]
    assert body["multipart/form-data"]["schema"]["required"] == ["image", "x", "y"]
