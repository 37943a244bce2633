"""The web page's user control in a real browser (Debian's chromium driven by Playwright):
ask for alternatives and the confidence map, see the alternatives as thumbnails and make
one the result (shown and downloaded), toggle the confidence overlay, upload a reference
photo that steers the colours (sent as a second file with its strength).

Skipped, like tests/test_browser.py, without the playwright package or /usr/bin/chromium."""
import io

from PIL import Image

from helpers import gradient_image

# the page's fixtures and helpers (importing it skips this module as it skips that one)
from test_browser import H, W, browser, open_page, server_url  # noqa: F401

GREENNESS = """() => {
    const img = document.getElementById('after');
    const c = document.createElement('canvas');
    c.width = img.naturalWidth; c.height = img.naturalHeight;
    const ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    let g = 0;
    for (let i = 0; i < d.length; i += 4) g += d[i + 1] - (d[i] + d[i + 2]) / 2;
    return g / (d.length / 4);
}"""


SPY = """() => { window.sentFields = []; const send = XMLHttpRequest.prototype.send;
    XMLHttpRequest.prototype.send = function (body) {
        if (body instanceof FormData) window.sentFields.push([...body.entries()].filter(([k]) => k !== 'image')
            .map(([k, v]) => [k, typeof v === 'string' ? v : 'file:' + v.name]));
        return send.call(this, body); }; }"""


def sent(page):
    """The fields (besides the photo) of the last request the page sent; files as 'file:NAME'."""
    return dict(page.evaluate("() => window.sentFields[window.sentFields.length - 1]"))


def wait_done(page, first):
    page.wait_for_function("first => document.getElementById('download').href !== first "
                           "&& document.body.dataset.state === 'done' && document.getElementById('after').complete",
                           arg=first)


def test_alternatives_confidence_and_a_reference(browser, server_url, tmp_path):
    photo = tmp_path / "street.png"
    gradient_image(W, H, "L").save(photo)
    green = tmp_path / "park.jpg"
    Image.new("RGB", (64, 48), (30, 160, 40)).save(green, quality=95)
    with open_page(browser, server_url) as page:
        assert page.is_visible("#steer-box")
        assert page.is_hidden("#reference-strength-label") and page.is_hidden("#reference-thumb")
        page.evaluate(SPY)
        page.select_option("#variants", "2")
        page.check("#confidence")
        page.set_input_files("#file", str(photo))
        page.wait_for_selector("body[data-state=done]")
        fields = sent(page)
        assert fields["variants"] == "2" and fields["confidence"] == "true" and "reference" not in fields
        page.wait_for_selector("#alternatives:not([hidden])")

        # the result and its two alternatives as thumbnails, the result chosen
        buttons = page.locator("#alternatives button")
        assert buttons.count() == 3
        assert [buttons.nth(k).get_attribute("aria-pressed") for k in range(3)] == ["true", "false", "false"]
        sizes = page.evaluate("() => [...document.querySelectorAll('#alternatives img')].map(i => [i.naturalWidth, "
                              "i.naturalHeight])")
        assert sizes == [[W, H]] * 3
        # the confidence overlay lies over the result, at its size
        page.wait_for_function("() => document.getElementById('confidence-overlay').naturalWidth > 0")
        assert page.is_visible("#confidence-overlay")
        assert page.evaluate("() => [document.getElementById('confidence-overlay').naturalWidth, "
                             "document.getElementById('confidence-overlay').naturalHeight]") == [W, H]

        # click alternative 2: it is the result, on screen and downloaded
        result_href = page.get_attribute("#download", "href")
        buttons.nth(2).click()
        assert [buttons.nth(k).get_attribute("aria-pressed") for k in range(3)] == ["false", "false", "true"]
        alt_src = page.get_attribute("#alternatives button:nth-child(3) img", "src")
        assert page.get_attribute("#download", "href") == alt_src != result_href
        page.wait_for_function("src => document.getElementById('after').src === src", arg=alt_src)
        with page.expect_download() as info:
            page.click("#download")
        assert info.value.suggested_filename == "street-color_v2.png"
        with open(info.value.path(), "rb") as f:
            assert Image.open(io.BytesIO(f.read())).size == (W, H)
        assert page.is_visible("#confidence-overlay")  # the model's doubts hold for its alternatives too
        buttons.nth(0).click()
        page.wait_for_function("href => document.getElementById('after').src === href", arg=result_href)

        # the overlay toggles without a new request
        page.uncheck("#confidence")
        assert page.is_hidden("#confidence-overlay")
        assert page.get_attribute("#download", "href") == result_href

        # a reference photo: sent as a second file with its strength; the colours turn green
        page.select_option("#variants", "0")
        wait_done(page, result_href)
        assert page.is_hidden("#alternatives")
        plain_green = page.evaluate(GREENNESS)
        first = page.get_attribute("#download", "href")
        page.set_input_files("#reference-file", str(green))
        wait_done(page, first)
        fields = sent(page)
        assert fields["reference"] == "file:park.jpg" and fields["reference_strength"] == "1"
        assert page.is_visible("#reference-thumb") and page.is_visible("#reference-strength-label")
        assert page.evaluate(GREENNESS) > plain_green + 10
        # removed: the next result has no reference
        first = page.get_attribute("#download", "href")
        page.click("#reference-clear")
        wait_done(page, first)
        assert "reference" not in sent(page)
        assert page.is_hidden("#reference-thumb")


def test_a_bad_reference_shows_the_servers_message(browser, server_url, tmp_path):
    photo = tmp_path / "a.png"
    gradient_image(W, H, "L").save(photo)
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"this is not an image")
    with open_page(browser, server_url) as page:
        page.set_input_files("#reference-file", str(bad))
        page.set_input_files("#file", str(photo))
        page.wait_for_selector("body[data-state=error]")
        assert "reference photo: not an image" in page.inner_text("#error")
