"""The web page in a real browser (Debian's chromium driven by Playwright): upload a
photo, see it in gray, get the colorized result, move the comparison slider, change the
vibrance, download, and see an error for a file that is not a photo. The page's controls
take their defaults, ranges and choices from the server (/api/health). With a hint-aware
model, the hints tool: place, choose from the model's suggestions, drag, remove, save and
load hints, each change colorized again.

Needs the `playwright` Python package and /usr/bin/chromium (apt-get install chromium);
no browser is downloaded. Skipped when either is missing."""
import contextlib
import dataclasses
import io
import json
import os
import socket
import threading
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image, ImageOps

from helpers import gradient_image, make_tiny_model_file

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
uvicorn = pytest.importorskip("uvicorn")

from colorizer import Colorizer, options  # noqa: E402
from colorizer.hints import parse_hints_json  # noqa: E402
from colorizer.server import create_app  # noqa: E402

W, H = 160, 120


@contextlib.contextmanager
def serving(app):
    """`app` served by uvicorn in a thread on a free loopback port: yields its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="module")
def server_url(tiny_model_path):
    """The app with the tiny model."""
    with serving(create_app(model=tiny_model_path, concurrency=1, queue_size=4)) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


DESKTOP = {"width": 1280, "height": 900}


@contextlib.contextmanager
def open_page(browser, url, viewport=None):
    """The page at `url`, with its settings from /api/health applied; fails on console
    errors (other than a 422 answer), page errors and requests to other sites."""
    context = browser.new_context(accept_downloads=True, **({"viewport": viewport} if viewport else {}))
    page = context.new_page()
    page.set_default_timeout(30_000)
    problems = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type == "error" and "422" not in m.text else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("request", lambda r: problems.append(f"external request: {r.url}")
            if not r.url.startswith((url, "blob:", "data:")) else None)
    page.goto(url + "/")
    page.wait_for_function("() => document.getElementById('limits').textContent !== ''")  # /api/health is read
    try:
        yield page
    finally:
        context.close()
    assert not problems, problems


@pytest.fixture
def page(browser, server_url):
    with open_page(browser, server_url) as page:
        yield page


def health(url):
    with urllib.request.urlopen(url + "/api/health", timeout=10) as r:
        return json.load(r)


def colour_photo(path):
    gradient_image(W, H).save(path, "JPEG", quality=92)
    return str(path)


def is_colour(img):
    a = np.asarray(img.convert("RGB"), dtype=np.int16)
    return np.abs(a[..., 0] - a[..., 1]).mean() + np.abs(a[..., 1] - a[..., 2]).mean() > 2.0


def canvas_is_gray(page):
    return page.evaluate("""() => {
        const c = document.getElementById('before');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 0; i < d.length; i += 4) if (d[i] !== d[i + 1] || d[i + 1] !== d[i + 2]) return false;
        return c.width > 0;
    }""")


def drag_slider(page, selector, fraction):
    slider = page.locator(selector)
    slider.scroll_into_view_if_needed()
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * fraction, y, steps=5)
    page.mouse.up()


def test_upload_compare_vibrance_download(page, tmp_path):
    page.set_input_files("#file", colour_photo(tmp_path / "holiday.jpg"))
    page.wait_for_selector("body[data-state=done]")

    # the colour photo is shown in gray, the result at the photo's size
    assert canvas_is_gray(page)
    assert page.evaluate("() => [document.getElementById('after').naturalWidth, "
                         "document.getElementById('after').naturalHeight]") == [W, H]
    assert "converted to grayscale" in page.inner_text("#notes")
    assert page.is_hidden("#hints-box") and page.is_hidden("#hint-layer")  # the model takes no hints

    # the comparison slider clips the "after" image
    drag_slider(page, "#split", 0.2)
    value = int(page.input_value("#split"))
    assert 5 <= value <= 35
    assert page.evaluate("() => document.getElementById('after').style.clipPath") == f"inset(0px 0px 0px {value}%)"
    page.focus("#split")
    page.keyboard.press("End")
    assert page.evaluate("() => document.getElementById('after').style.clipPath") == "inset(0px 0px 0px 100%)"

    # a new vibrance colorizes again (the slider starts at the server's default)
    assert page.input_value("#vibrance") == str(options.OPTIONS["vibrance"].default)
    first = page.get_attribute("#download", "href")
    page.focus("#vibrance")
    page.keyboard.press("Home")  # vibrance 0: fires input and change
    page.wait_for_function("first => document.getElementById('download').href !== first "
                           "&& document.body.dataset.state === 'done'", arg=first)
    assert page.inner_text("#vibrance-value") == "0.00"

    # the model's own decoding is preselected (the test model's: annealed-mean); the
    # other one colorizes again
    assert page.input_value("#decoding") == "annealed-mean"
    first = page.get_attribute("#download", "href")
    page.select_option("#decoding", "min-risk")
    page.wait_for_function("first => document.getElementById('download').href !== first "
                           "&& document.body.dataset.state === 'done'", arg=first)

    # download the result
    with page.expect_download() as info:
        page.click("#download")
    download = info.value
    assert download.suggested_filename == "holiday-color.png"
    with open(download.path(), "rb") as f:
        out = Image.open(io.BytesIO(f.read()))
    assert out.format == "PNG" and out.size == (W, H) and is_colour(out)
    assert page.is_hidden("#error")


def test_drop_a_photo(page, tmp_path):
    data = io.BytesIO()
    gradient_image(W, H, mode="L").save(data, "PNG")
    handle = page.evaluate_handle("""bytes => {
        const dt = new DataTransfer();
        dt.items.add(new File([new Uint8Array(bytes)], 'scan.png', { type: 'image/png' }));
        return dt;
    }""", list(data.getvalue()))
    page.dispatch_event("#drop", "drop", {"dataTransfer": handle})
    page.wait_for_selector("body[data-state=done]")
    assert page.get_attribute("#download", "download") == "scan-color.png"


def test_not_a_photo_shows_an_error(page, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a photo\n" * 20)
    page.set_input_files("#file", str(path))
    page.wait_for_selector("#error:not([hidden])")
    assert "not an image" in page.inner_text("#error")
    assert page.get_attribute("#download", "aria-disabled") == "true"


def slider_and_choices(page):
    return page.evaluate("""() => {
        const s = document.getElementById('vibrance'), d = document.getElementById('decoding');
        return {min: Number(s.min), max: Number(s.max), step: Number(s.step), value: Number(s.value),
                shown: document.getElementById('vibrance-value').textContent,
                vibrance_hidden: document.getElementById('vibrance-label').hidden,
                decoding_hidden: document.getElementById('decoding-label').hidden,
                choices: [...d.options].map(o => [o.value, o.textContent]), chosen: d.value};
    }""")


def test_controls_follow_the_server(browser, tiny_model_path, tmp_path):
    """The slider's range and default and the decoding choices come from /api/health, not
    from the page: a server whose vibrance option differs gives a different slider."""
    vibrance = dataclasses.replace(options.OPTIONS["vibrance"], default=0.1, min=0.0, max=0.5)
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(options.OPTIONS, "vibrance", vibrance)
        with serving(create_app(model=tiny_model_path, concurrency=1, queue_size=2)) as url:
            h = health(url)
            assert h["options"]["vibrance"]["default"] == 0.1 and h["options"]["vibrance"]["max"] == 0.5
            with open_page(browser, url) as page:
                got = slider_and_choices(page)
                assert (got["min"], got["max"], got["value"]) == (0.0, 0.5, 0.1)  # not the middle
                assert got["step"] == pytest.approx(0.005) and got["shown"] == "0.100"
                assert not got["vibrance_hidden"] and not got["decoding_hidden"]
                # the colour-class decodings the model offers, its own chosen
                assert got["choices"] == [["min-risk", "faithful"], ["annealed-mean", "bold"]]
                assert got["chosen"] == h["decoding"] == "annealed-mean"
                assert set(h["decodings"]) - {v for v, _ in got["choices"]} == {"regression"}
                # the slider's end is the server's maximum, and the server takes it
                page.set_input_files("#file", colour_photo(tmp_path / "a.jpg"))
                page.wait_for_selector("body[data-state=done]")
                first = page.get_attribute("#download", "href")
                page.focus("#vibrance")
                page.keyboard.press("End")
                page.wait_for_function("first => document.getElementById('download').href !== first "
                                       "&& document.body.dataset.state === 'done'", arg=first)
                assert page.input_value("#vibrance") == "0.5" and page.inner_text("#vibrance-value") == "0.500"
                assert page.is_hidden("#error")


def test_a_regression_model_hides_vibrance_and_decoding(browser, tmp_path):
    path = make_tiny_model_file(tmp_path / "tiny-seed.safetensors", arch="seed")
    with serving(create_app(model=path, concurrency=1, queue_size=2)) as url, open_page(browser, url) as page:
        assert health(url)["decoding"] is None
        got = slider_and_choices(page)
        assert got["vibrance_hidden"] and got["decoding_hidden"]
        gray = tmp_path / "gray.png"
        gradient_image(W, H, mode="L").save(gray)
        page.set_input_files("#file", str(gray))
        page.wait_for_selector("body[data-state=done]")
        # neither was sent, so the server has nothing to say about options it ignored
        assert page.is_hidden("#notes") and page.is_hidden("#error")


# ---------------------------------------------------------------- the first hour (issue 18)

class SlowColorizer:
    """The tiny model, taking `seconds` more for each photo (to see the work and cancel it)."""

    def __init__(self, inner, seconds):
        self.inner, self.seconds = inner, seconds

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def colorize(self, *args, **kwargs):
        time.sleep(self.seconds)
        return self.inner.colorize(*args, **kwargs)


SCREENSHOTS = os.environ.get("COLORIZER_SCREENSHOTS")  # a folder to keep the screenshots in, to look at


def screenshot(page, tmp_path, name):
    path = os.path.join(SCREENSHOTS or str(tmp_path), name)
    page.screenshot(path=path)
    return path


def in_view(page, selector):
    """Whether the element is wholly inside the viewport (no scrolling needed)."""
    box = page.locator(selector).bounding_box()
    size = page.viewport_size
    return box is not None and box["y"] >= 0 and box["x"] >= 0 and box["y"] + box["height"] <= size["height"] + 0.5 \
        and box["x"] + box["width"] <= size["width"] + 0.5


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_the_result_and_the_controls_are_in_view(browser, server_url, tmp_path, device):
    if device == "desktop":
        context = browser.new_context(viewport={"width": 1280, "height": 900})
    else:
        context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                      has_touch=True)
    page = context.new_page()
    try:
        page.goto(server_url + "/")
        page.wait_for_function("() => document.getElementById('limits').textContent !== ''")
        screenshot(page, tmp_path, f"empty-{device}.png")
        for name, size in (("landscape.jpg", (1600, 1200)), ("portrait.jpg", (900, 1400))):
            gradient_image(*size).save(tmp_path / name, "JPEG", quality=90)
            page.set_input_files("#file", str(tmp_path / name))
            page.wait_for_selector("body[data-state=done]")
            page.wait_for_function("() => !document.getElementById('after').hidden")
            shot = screenshot(page, tmp_path, f"{name[:-4]}-{device}.png")
            for selector in ("#compare", "#split", "#vibrance", "#decoding", "#size", "#format", "#download"):
                assert in_view(page, selector), (selector, shot)
    finally:
        context.close()


def test_progress_from_upload_to_result_and_cancel(browser, tiny_colorizer, tmp_path):
    with serving(create_app(colorizer=SlowColorizer(tiny_colorizer, 2.0), concurrency=1, queue_size=4)) as url, \
            open_page(browser, url) as page:
        page.evaluate("""() => { window.phases = [];
            new MutationObserver(() => { const p = document.body.dataset.phase;
                if (window.phases[window.phases.length - 1] !== p) window.phases.push(p); })
            .observe(document.body, { attributes: true, attributeFilter: ['data-phase'] }); }""")
        page.set_input_files("#file", colour_photo(tmp_path / "slow.jpg"))
        page.wait_for_selector("body[data-phase=colorizing]")
        assert page.is_visible("#busy") and page.is_visible("#cancel")
        assert page.inner_text("#busy-text") == "Colorizing…"
        assert page.evaluate("() => document.getElementById('progress').hasAttribute('value')") is False  # indeterminate
        screenshot(page, tmp_path, "colorizing-desktop.png")
        page.wait_for_selector("body[data-state=done]")
        assert page.evaluate("() => window.phases") == ["uploading", "colorizing", "done"]
        assert page.is_hidden("#busy")

        # cancel: the request stops, nothing is shown as a result, the photo can be retried
        page.set_input_files("#file", colour_photo(tmp_path / "other.jpg"))
        page.wait_for_selector("body[data-phase=colorizing]")
        page.click("#cancel")
        page.wait_for_selector("body[data-state=cancelled]")
        assert page.is_hidden("#busy") and page.is_hidden("#error") and page.is_hidden("#after")
        assert page.get_attribute("#download", "aria-disabled") == "true"
        assert page.inner_text("#status") == "Cancelled."
        row = page.locator("#queue li").nth(1)
        assert row.locator(".state").inner_text() == "cancelled" and row.locator(".retry").is_visible()
        row.locator(".retry").click()
        page.wait_for_selector("body[data-state=done]")
        assert page.get_attribute("#download", "download") == "other-color.png"


def test_drag_on_the_photo_to_compare_and_a_new_photo_starts_in_the_middle(page, tmp_path):
    page.set_input_files("#file", colour_photo(tmp_path / "a.jpg"))
    page.wait_for_selector("body[data-state=done]")
    page.wait_for_function("() => !document.getElementById('after').hidden")
    box = page.locator("#compare").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.5, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.25, y, steps=4)
    page.mouse.up()
    split = page.input_value("#split")
    assert int(split) == pytest.approx(25, abs=2)
    assert page.evaluate("() => document.getElementById('after').style.clipPath") == f"inset(0px 0px 0px {split}%)"
    assert page.evaluate("() => document.getElementById('divider').style.left") == f"{split}%"
    page.mouse.click(box["x"] + box["width"] * 0.8, y)  # a click moves it too
    assert int(page.input_value("#split")) == pytest.approx(80, abs=2)
    page.set_input_files("#file", colour_photo(tmp_path / "b.jpg"))
    page.wait_for_selector("body[data-state=done]")
    assert page.input_value("#split") == "50"


def test_several_photos_a_queue_each_with_its_status_and_a_zip_of_all(page, tmp_path):
    import zipfile
    files = [colour_photo(tmp_path / "one.jpg"), str(tmp_path / "notes.txt"), str(tmp_path / "three.png")]
    (tmp_path / "notes.txt").write_text("not a photo\n" * 20)
    gradient_image(90, 70, mode="L").save(tmp_path / "three.png")
    page.set_input_files("#file", files)
    page.wait_for_function("() => document.getElementById('queue-count').textContent === '2 of 3 done' && "
                           "[...document.querySelectorAll('#queue li')].every(li => !['waiting', 'uploading', "
                           "'colorizing'].includes(li.dataset.status))")
    rows = page.locator("#queue li")
    assert [rows.nth(i).get_attribute("data-status") for i in range(3)] == ["done", "error", "done"]
    assert [rows.nth(i).locator(".state").inner_text() for i in range(3)] == ["done", "failed", "done"]
    screenshot(page, tmp_path, "queue-desktop.png")

    # the failed one shows its error alone (no slider, no photo); a done one shows its result
    rows.nth(1).locator(".pick").click()
    assert page.is_visible("#error") and "not an image" in page.inner_text("#error")
    assert page.is_hidden("#work") and page.is_hidden("#split")
    rows.nth(2).locator(".pick").click()
    page.wait_for_function("() => !document.getElementById('after').hidden")
    assert page.is_hidden("#error") and page.get_attribute("#download", "download") == "three-color.png"

    # one by one, from the queue
    with page.expect_download() as info:
        rows.nth(0).locator(".get").click()
    assert info.value.suggested_filename == "one-color.png"

    # all as one zip, made in the browser
    with page.expect_download() as info:
        page.click("#download-all")
    assert info.value.suggested_filename == "colorized-photos.zip"
    with zipfile.ZipFile(info.value.path()) as z:
        assert z.testzip() is None
        assert z.namelist() == ["one-color.png", "three-color.png"]
        sizes = [Image.open(io.BytesIO(z.read(n))).size for n in z.namelist()]
    assert sizes == [(W, H), (90, 70)]


def test_format_and_working_size_come_from_the_server_and_are_sent(page, server_url, tmp_path):
    h = health(server_url)
    formats = page.evaluate("() => [...document.getElementById('format').options].map(o => o.value)")
    assert formats == h["limits"]["formats"]
    sizes = page.evaluate("() => [...document.getElementById('size').options].map(o => Number(o.value))")
    spec = h["options"]["size"]
    assert min(sizes) == spec["min"] and max(sizes) == spec["max"] and spec["default"] in sizes
    assert int(page.input_value("#size")) == spec["default"]
    page.evaluate("""() => { window.sentFields = []; const send = XMLHttpRequest.prototype.send;
        XMLHttpRequest.prototype.send = function (body) {
            if (body instanceof FormData) window.sentFields.push([...body.entries()].filter(([k]) => k !== 'image'));
            return send.call(this, body); }; }""")
    page.select_option("#format", "jpg")
    page.select_option("#size", str(sizes[1]))
    page.set_input_files("#file", colour_photo(tmp_path / "choice.jpg"))
    page.wait_for_selector("body[data-state=done]")
    sent = dict(page.evaluate("() => window.sentFields[window.sentFields.length - 1]"))
    assert sent["format"] == "jpg" and sent["size"] == str(sizes[1])
    assert "hints" not in sent and not h["hints"]
    assert page.get_attribute("#download", "download") == "choice-color.jpg"
    with page.expect_download() as info:
        page.click("#download")
    assert Image.open(info.value.path()).format == "JPEG"


def test_a_tiff_the_browser_cannot_preview_shows_the_result_alone(page, tmp_path):
    gradient_image(W, H, mode="L").save(tmp_path / "scan.tif")
    page.set_input_files("#file", str(tmp_path / "scan.tif"))
    page.wait_for_selector("body[data-state=done]")
    page.wait_for_function("() => !document.getElementById('after').hidden")
    assert page.evaluate("() => document.getElementById('compare').classList.contains('no-preview')")
    assert page.is_hidden("#before") and page.is_hidden("#split") and page.is_hidden("#divider")
    assert page.is_hidden("#placeholder") and page.is_hidden("#error")
    assert page.evaluate("() => document.getElementById('after').naturalWidth") == W
    screenshot(page, tmp_path, "tiff-desktop.png")


def test_docs_render_code_without_backticks(page, server_url):
    page.goto(server_url + "/docs")
    text = page.inner_text("body")
    assert "`" not in text and "multipart/form-data" in text
    assert page.locator("pre.desc code", has_text="image").count() >= 1


# ---------------------------------------------------------------- point hints (issue 14)

class HintSpy:
    """The hint-aware tiny model, recording what each request asked of it: (kind, the size
    of the photo it got, its hints as (x, y, colour), the point for a suggestion); it
    refuses a black hint, as a stand-in for the server refusing a hint (422)."""

    def __init__(self, inner):
        self.inner, self.calls = inner, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def _record(self, kind, image, hints, point=None):
        with Image.open(image) as im:
            size = ImageOps.exif_transpose(im).size
        image.seek(0)
        self.calls.append((kind, size, tuple((h.x, h.y, h.color) for h in hints), point))

    def colorize(self, image, options):
        self._record("colorize", image, options.hints)
        for h in options.hints:
            if h.color == "#000000":
                raise ValueError(f"hint {h.describe()}: refused by the test server")
        return self.inner.colorize(image, options)

    def suggest(self, image, x, y, k=6, options=None):
        self._record("suggest", image, options.hints, (x, y))
        return self.inner.suggest(image, x, y, k=k, options=options)

    def last(self, kind):
        return [c for c in self.calls if c[0] == kind][-1]


@pytest.fixture(scope="module")
def hint_server(tmp_path_factory):
    path = make_tiny_model_file(tmp_path_factory.mktemp("hints") / "tiny-hints.safetensors", hints=True)
    spy = HintSpy(Colorizer.load(path, device="cpu"))
    with serving(create_app(colorizer=spy, concurrency=1, queue_size=8)) as url:
        yield url, spy


BIG = (800, 600)  # larger than twice the working size: the page colorizes a copy while editing


def result_pixels(page):
    """The full-size result the Download button saves, as an array."""
    with page.expect_download() as info:
        page.click("#download")
    with Image.open(info.value.path()) as im:
        return np.asarray(im.convert("RGB"), dtype=np.int16)


def markers(page):
    return page.eval_on_selector_all(".hint-marker", "els => els.map(e => [Number(e.dataset.x), Number(e.dataset.y), "
                                                     "e.classList.contains('pending')])")


def wait_ready(page, old_href=None):
    """The full-size result for the hints as they are now (another result than old_href)."""
    page.wait_for_function("old => document.body.dataset.hints === 'ready' && document.body.dataset.state === 'done' "
                           "&& document.getElementById('download').getAttribute('aria-disabled') === 'false' "
                           "&& document.getElementById('download').href !== old", arg=old_href)


def at(page, fx, fy):
    box = page.locator("#compare").bounding_box()
    return box["x"] + box["width"] * fx, box["y"] + box["height"] * fy


def test_hints_place_suggest_choose_drag_and_remove(browser, hint_server, tmp_path):
    url, spy = hint_server
    size = health(url)["options"]["size"]["default"]
    copy = (2 * size, round(2 * size * BIG[1] / BIG[0]))  # the copy sent while editing
    with open_page(browser, url, viewport=DESKTOP) as page:
        assert page.is_visible("#hints-box") and page.get_attribute("#tool-hints", "aria-pressed") == "false"
        gradient_image(*BIG).save(tmp_path / "street.jpg", quality=90)
        page.set_input_files("#file", str(tmp_path / "street.jpg"))
        wait_ready(page)
        page.wait_for_function("() => !document.getElementById('after').hidden")
        before, first_href = result_pixels(page), page.get_attribute("#download", "href")
        page.click("#tool-hints")
        assert page.get_attribute("#compare", "data-tool") == "hints"

        # a click places a new point; the picker shows the model's suggestions there, likeliest first
        with page.expect_response("**/api/suggest") as answer:
            page.mouse.click(*at(page, 0.25, 0.5))
        colors = answer.value.json()["colors"]
        page.wait_for_selector("#swatches .swatch")
        assert page.eval_on_selector_all("#swatches .swatch", "els => els.map(e => e.dataset.color)") == \
            [c["color"] for c in colors] and len(colors) > 1
        [(x, y, pending)] = markers(page)
        assert pending and abs(x - BIG[0] * 0.25) <= 2 and abs(y - BIG[1] * 0.5) <= 2
        kind, got, hints, point = spy.last("suggest")
        assert got == copy and hints == () and point == pytest.approx((x * copy[0] / BIG[0], y * copy[1] / BIG[1]), abs=0.01)
        screenshot(page, tmp_path, "hints-picker-desktop.png")

        # choosing a swatch makes it a hint: a preview on the copy, then the full size, both
        # with the hint at the right place; the result changes
        colour = colors[1]["color"]
        n = len(spy.calls)
        page.click(f"#swatches .swatch[data-color='{colour}']")
        wait_ready(page, first_href)
        done = [c for c in spy.calls[n:] if c[0] == "colorize"]
        assert done[0][1:3] == (copy, ((pytest.approx(x * copy[0] / BIG[0], abs=0.01),
                                        pytest.approx(y * copy[1] / BIG[1], abs=0.01), colour),))
        assert done[-1][1:3] == (BIG, ((x, y, colour),))
        after = result_pixels(page)
        # the hint changed the colours, most of all where it is, towards its colour
        change = np.abs(after - before).sum(-1)
        r = round(0.02 * BIG[0])
        assert change[y - r:y + r, x - r:x + r].mean() > max(1.0, change.mean())
        want = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)
        assert np.abs(after[y, x] - want).sum() < np.abs(before[y, x] - want).sum()
        assert markers(page) == [[x, y, False]]
        page.click("#picker-done")
        assert page.is_hidden("#picker")

        # drag the marker: the hint moves, in the photo's pixels
        href = page.get_attribute("#download", "href")
        marker = page.locator(".hint-marker").bounding_box()
        page.mouse.move(marker["x"] + marker["width"] / 2, marker["y"] + marker["height"] / 2)
        page.mouse.down()
        page.mouse.move(*at(page, 0.6, 0.3), steps=6)
        page.mouse.up()
        wait_ready(page, href)
        [(x2, y2, _)] = markers(page)
        assert abs(x2 - BIG[0] * 0.6) <= 2 and abs(y2 - BIG[1] * 0.3) <= 2
        assert spy.last("colorize")[1:3] == (BIG, ((x2, y2, colour),))
        screenshot(page, tmp_path, "hints-desktop.png")

        # click it to select it (its picker opens), Delete removes it
        href = page.get_attribute("#download", "href")
        marker = page.locator(".hint-marker").bounding_box()
        page.mouse.click(marker["x"] + marker["width"] / 2, marker["y"] + marker["height"] / 2)
        page.wait_for_selector("#picker:not([hidden])")
        assert page.get_attribute(".hint-marker", "aria-pressed") == "true"
        page.keyboard.press("Delete")
        assert markers(page) == [] and page.is_hidden("#picker")
        wait_ready(page, href)
        assert spy.last("colorize")[1:3] == (BIG, ())
        assert page.is_hidden("#hint-error") and page.is_hidden("#error")


def test_hints_save_load_per_photo_and_a_refused_hint(browser, hint_server, tmp_path):
    url, spy = hint_server
    with open_page(browser, url, viewport=DESKTOP) as page:
        gradient_image(*BIG).save(tmp_path / "portrait.jpg", quality=90)
        page.set_input_files("#file", str(tmp_path / "portrait.jpg"))
        wait_ready(page)
        href = page.get_attribute("#download", "href")

        # load a hints file: its markers, and the photo colorized with them
        given = [{"x": 10, "y": 20, "color": "#FF0000"}, {"x": 700.5, "y": 500, "color": "#00ff00"}]
        (tmp_path / "saved.json").write_text(json.dumps(given))
        page.set_input_files("#hints-file", str(tmp_path / "saved.json"))
        # the file is read asynchronously (FileReader): wait for the hints tool to take it
        page.wait_for_selector('#compare[data-tool="hints"]', timeout=10_000)
        page.wait_for_function("document.querySelectorAll('.hint-marker').length === 2", timeout=10_000)
        assert page.get_attribute("#compare", "data-tool") == "hints"
        assert markers(page) == [[10, 20, False], [700.5, 500, False]]
        wait_ready(page, href)
        assert spy.last("colorize")[1:3] == (BIG, ((10, 20, "#ff0000"), (700.5, 500, "#00ff00")))
        assert page.inner_text("#hint-count") == "2 hints"

        # save them: the file the CLI reads
        with page.expect_download() as info:
            page.click("#hints-save")
        assert info.value.suggested_filename == "portrait-hints.json"
        with open(info.value.path()) as f:
            assert parse_hints_json(f.read()) == parse_hints_json(json.dumps(given))

        # a file with a hint outside the photo is refused with its reason; the hints stay
        (tmp_path / "bad.json").write_text(json.dumps([{"x": 900, "y": 5, "color": "#123456"}]))
        page.set_input_files("#hints-file", str(tmp_path / "bad.json"))
        page.wait_for_selector("#hint-error:not([hidden])")
        assert page.inner_text("#hint-error") == "bad.json: hint 1 (900,5,#123456): outside the 800x600 photo"
        assert len(markers(page)) == 2

        # a hint the server refuses (422): said once, in the photo's own pixels; the photo stays
        href = page.get_attribute("#download", "href")
        page.mouse.click(*at(page, 0.5, 0.5))
        page.wait_for_selector("#swatches .swatch")
        x, y, _ = markers(page)[2]
        page.fill("#hint-color", "#000000")
        page.wait_for_selector("#hint-error:not([hidden])")
        message = page.inner_text("#hint-error")
        assert message == f"Could not colorize: hint ({x:g},{y:g},#000000): refused by the test server"
        assert page.inner_text("body").count("refused by the test server") == 1
        assert page.is_hidden("#error") and page.is_visible("#after")
        assert page.get_attribute("#download", "aria-disabled") == "true"  # no result for these hints
        screenshot(page, tmp_path, "hints-refused-desktop.png")
        page.click("#hint-remove")  # the picker's Remove
        assert len(markers(page)) == 2
        wait_ready(page, href)
        assert page.is_hidden("#hint-error")

        # hints are per photo
        gradient_image(320, 240, seed=1).save(tmp_path / "other.png")
        page.set_input_files("#file", str(tmp_path / "other.png"))
        wait_ready(page)
        assert markers(page) == [] and page.inner_text("#hint-count") == "No hints"
        page.locator("#queue li").nth(0).locator(".pick").click()
        page.wait_for_function("() => document.querySelectorAll('.hint-marker').length === 2")
        assert page.inner_text("#hint-count") == "2 hints"
