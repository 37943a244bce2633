"""Issue 15 in the real browser (Debian's chromium, Playwright): choose a short video on the
page, follow its progress, and play the colorized result in the page's <video>. Skipped,
as tests/test_browser.py is, without chromium or playwright."""

import videoclips as vc  # noqa: E402
from colorizer.server import create_app  # noqa: E402

# the page's fixtures and helpers (importing it skips this module as it skips that one)
from test_browser import browser, open_page, serving  # noqa: F401


def test_a_video_from_the_page_to_playback(browser, tiny_colorizer, tmp_path):
    clip = vc.write_clip(tmp_path / "short film.mp4", vc.frames(96, 64, 24))
    app = create_app(colorizer=tiny_colorizer, concurrency=1)
    with serving(app) as url, open_page(browser, url) as page:
        page.wait_for_selector("#video-box:not([hidden])")
        assert "the sound is kept" in page.text_content("#video-limits")
        page.set_input_files("#video-file", clip)
        page.wait_for_function("() => document.getElementById('video-box').dataset.state === 'done'", timeout=120_000)
        assert page.text_content("#video-status") == "done: 24 frames"
        assert page.is_hidden("#video-cancel") and page.is_hidden("#video-error")
        # the browser plays it: metadata and a first frame load, its duration is the clip's (24 / 29.97 s)
        page.wait_for_function("() => document.getElementById('video-player').readyState >= 2", timeout=30_000)
        info = page.evaluate("""() => { const v = document.getElementById('video-player');
            return {duration: v.duration, width: v.videoWidth, height: v.videoHeight, error: v.error && v.error.code}; }""")
        assert info["error"] is None and abs(info["duration"] - 24 * 1001 / 30000) < 0.05, info
        assert (info["width"], info["height"]) in ((96, 64), (64, 96))  # the clip carries a 90-degree rotation
        assert page.get_attribute("#video-download", "href").endswith("/result")
    app.state.videos.close()
