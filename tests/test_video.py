"""Issue 15, video: every frame out with its timestamp, the sound and the metadata kept, steady
colour, streaming, atomic outputs and one-line errors for bad videos. The clips are made
here with PyAV (tests/videoclips.py) and colorized by a tiny random model at a small working
size, so the whole file runs in seconds."""
import os
import re
import signal
import subprocess
import sys
from fractions import Fraction

import av
import numpy as np
import pytest
import torch

import colorizer.video as video_pkg
import videoclips as vc
from colorizer import batch
from colorizer.lab import rgb_to_lab
from colorizer.video import VideoOptions, is_video_path
from colorizer.video.colorize import colorize_video
from colorizer.video.scenes import CutDetector
from colorizer.video.temporal import SteadyColour
from helpers import signal_when

SIZE = 64  # the network's working size: tiny, for speed


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def film(tmp_path_factory):
    """The test film: 128x96, 50 frames at 30000/1001 fps (still with grain, slow and fast
    pans, a cut), AAC audio, title/creation_time/comment, languages, a 90-degree rotation."""
    d = tmp_path_factory.mktemp("film")
    return vc.write_clip(d / "film.mp4", vc.frames(128, 96, 50))


@pytest.fixture(scope="module")
def film_out(film, tiny_colorizer, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    events = []
    summary = batch.run_batch(tiny_colorizer, [film], str(out), tiny_colorizer.options(size=SIZE), on_event=events.append)
    assert summary.done == 1 and summary.failed == 0, [e.line() for e in summary.events]
    return str(out / "film.mp4"), events


def _ab(pictures):
    """a,b (N, 2, H, W) of RGB uint8 pictures."""
    rgb = torch.from_numpy(np.stack(pictures)).permute(0, 3, 1, 2).double() / 255
    return rgb_to_lab(rgb)[:, 1:].float()


def test_every_frame_timestamp_audio_and_metadata_kept(film, film_out):
    out, events = film_out
    a, b = vc.probe(film), vc.probe(out)
    assert len(a["times"]) == 50
    assert b["times"] == a["times"]                      # every frame, each at its own time, exactly
    assert b["rate"] == a["rate"] == Fraction(30000, 1001)
    assert abs(b["duration"] - a["duration"]) <= 0.001, (a["duration"], b["duration"])
    assert [s["codec"] for s in b["audio"]] == ["aac"]
    assert b["audio"][0]["packets"] == a["audio"][0]["packets"]  # copied, not re-encoded: the same bytes at the same times
    assert len(a["audio"][0]["packets"]) > 50
    for key in ("title", "creation_time", "comment"):
        assert b["metadata"][key] == a["metadata"][key] == vc.METADATA[key]
    assert (b["video_language"], b["audio"][0]["language"]) == ("eng", "fra")
    assert b["rotation"] == a["rotation"] == 90
    assert b["size"] == a["size"] == (128, 96)
    # colour, and the lightness of the input kept
    ab = _ab(b["pictures"])
    assert ab.abs().mean() > 2.0
    gray_in = np.stack(a["pictures"]).astype(np.float32).mean(-1)
    gray_out = np.stack(b["pictures"]).astype(np.float32).mean(-1)
    assert np.abs(gray_in - gray_out).mean() < 12  # colour added, the picture the same (codec losses aside)
    assert not [e for e in events if e.kind == "note"], [e.line() for e in events]


def test_folder_walk_names_and_skip_existing(film, film_out, tiny_colorizer, tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    vc.write_clip(src / "sub" / "clip.mkv", vc.frames(64, 48, 6), audio=None, rotation=0)
    vc.write_clip(src / "clip.mov", vc.frames(64, 48, 4), audio=None, rotation=0)
    from PIL import Image
    Image.fromarray(vc.frames(64, 48, 1)[0]).save(src / "clip.png")
    (src / "notes.txt").write_text("not a picture")
    items, errors = batch.collect([str(src)])
    assert sorted(os.path.relpath(p, src) for p, _ in items) == ["clip.mov", "clip.png", os.path.join("sub", "clip.mkv")]
    jobs = batch.plan(items, str(tmp_path / "out"), "png", "mkv")
    assert sorted(os.path.relpath(j.output, tmp_path / "out") for j in jobs) == [
        "clip.mkv", "clip.png", os.path.join("sub", "clip.mkv")]
    assert batch.shared_stems(jobs) == []  # clip.png and clip.mkv do not collide
    options = tiny_colorizer.options(size=SIZE)
    s1 = batch.run_batch(tiny_colorizer, [str(src)], str(tmp_path / "out"), options, video=VideoOptions(format="mkv"))
    assert (s1.done, s1.failed) == (3, 0), [e.line() for e in s1.events]
    assert len(vc.probe(tmp_path / "out" / "sub" / "clip.mkv")["times"]) == 6
    s2 = batch.run_batch(tiny_colorizer, [str(src)], str(tmp_path / "out"), options, existing="skip",
                         video=VideoOptions(format="mkv"))
    assert (s2.done, s2.skipped, s2.failed) == (0, 3, 0)


def test_odd_size_variable_rate_and_audio_the_container_cannot_hold(tiny_colorizer, tmp_path):
    """85x61 frames (lossless FFV1 in Matroska) at irregular times, with PCM sound, written as
    WebM: the frames are padded to 86x62 (said), every timestamp kept, the sound re-encoded
    to Opus (said)."""
    pts = [0, 1, 2, 4, 5, 9, 10, 11, 14, 15, 16, 17]
    src = vc.write_clip(tmp_path / "odd.mkv", vc.frames(85, 61, len(pts)), codec="ffv1", pix_fmt="yuv420p",
                        audio="pcm_s16le", rotation=0, pts=pts)
    res = colorize_video(tiny_colorizer, src, tmp_path / "odd.webm", size=SIZE, video=VideoOptions(format="webm", crf=40))
    a, b = vc.probe(src), vc.probe(tmp_path / "odd.webm")
    # Matroska and WebM count in milliseconds: the input's times are the irregular pts rounded so, and kept
    assert [abs(t - Fraction(p * 1001, 30000)) <= Fraction(1, 2000) for t, p in zip(a["times"], pts)] == [True] * len(pts)
    assert b["times"] == a["times"]
    assert b["size"] == (86, 62)
    assert [s["codec"] for s in b["audio"]] == ["opus"]
    notes = " | ".join(res.notes)
    assert "85x61" in notes and "86x62" in notes
    assert "pcm_s16le" in notes and "re-encoded to opus" in notes
    assert res.frames == len(pts)


def _mkv(tmp_path, n=40):
    return vc.write_clip(tmp_path / "whole.mkv", vc.frames(96, 64, n), fmt="matroska", rotation=0)


def test_bad_videos_one_line_each(tiny_colorizer, tmp_path, film):
    d = tmp_path / "bad"
    d.mkdir()
    (d / "empty.mp4").write_bytes(b"")
    (d / "garbage.mkv").write_bytes(b"\x1a\x45\xdf\xa3 this is not a video" * 10)
    data = open(film, "rb").read()
    (d / "cut.mp4").write_bytes(data[: len(data) // 2])  # its index (moov) is at the end: unreadable
    vc.write_clip(d / "sound.m4a", [np.zeros((48, 64), np.uint8)], fmt="mp4", codec="libx264", rotation=0)
    # a file with only sound: rewrite the m4a without its video stream
    with av.open(str(d / "sound.m4a")) as i, av.open(str(d / "sound_only.mp4"), "w") as o:
        s = o.add_stream_from_template(i.streams.audio[0])
        for p in i.demux(i.streams.audio[0]):
            if p.dts is not None:
                p.stream = s
                o.mux(p)
    os.unlink(d / "sound.m4a")
    vc.write_clip(d / "huge.mkv", vc.frames(96, 64, 2), fmt="matroska", rotation=0, audio=None)
    events = []
    options = tiny_colorizer.options(size=SIZE, max_pixels=96 * 64 - 1)
    summary = batch.run_batch(tiny_colorizer, [str(d)], str(tmp_path / "out"), options, on_event=events.append)
    lines = {os.path.basename(e.source): e.line() for e in events if e.kind == "failed"}
    assert summary.failed == 5 and summary.done == 0, lines
    assert lines["empty.mp4"].endswith("empty.mp4: empty file")
    assert "garbage.mkv: cannot read as a video" in lines["garbage.mkv"]
    assert "cut.mp4: cannot read as a video" in lines["cut.mp4"] and "cut short" in lines["cut.mp4"]
    assert lines["sound_only.mp4"].endswith("sound_only.mp4: has no video stream (audio only)")
    assert "huge.mkv: frames of 96x64 are over the limit" in lines["huge.mkv"]
    for line in lines.values():
        assert "\n" not in line and "Traceback" not in line
    assert not os.path.exists(tmp_path / "out") or not [f for f in os.listdir(tmp_path / "out") if not f.startswith(".")]


def test_file_cut_short_in_the_middle_colorizes_what_decodes_and_says_where(tiny_colorizer, tmp_path):
    whole = _mkv(tmp_path)
    data = open(whole, "rb").read()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    res = colorize_video(tiny_colorizer, cut, tmp_path / "cut_out.mp4", size=SIZE)
    n = len(vc.probe(tmp_path / "cut_out.mp4")["times"])
    assert 5 < n < 40 and res.frames == n
    assert len(res.notes) == 1 and re.search(r"cut short.* at 0\.\d+ s of 1\.3\d\d s", res.notes[0]), res.notes
    assert f"all {n} frames" in res.notes[0]


def test_without_the_video_extra_videos_fail_in_one_line_and_photos_work(tiny_colorizer, tmp_path, monkeypatch):
    from PIL import Image
    d = tmp_path / "in"
    d.mkdir()
    _ = vc.write_clip(d / "film.mp4", vc.frames(64, 48, 3), audio=None, rotation=0)
    Image.fromarray(vc.frames(64, 48, 1)[0]).save(d / "photo.png")
    monkeypatch.setattr(video_pkg, "video_available", lambda: False)
    events = []
    s = batch.run_batch(tiny_colorizer, [str(d)], str(tmp_path / "out"), tiny_colorizer.options(size=SIZE),
                        on_event=events.append)
    assert (s.done, s.failed) == (1, 1)
    line = [e.line() for e in events if e.kind == "failed"][0]
    assert line.endswith("film.mp4: videos need PyAV and OpenCV: pip install 'photo-colorizer[video]'")
    assert os.listdir(tmp_path / "out") == ["photo.png"]


def test_frames_stream_through_in_batches(tiny_colorizer, tmp_path, monkeypatch):
    """The first frames are encoded before the file is decoded to its end: memory holds a
    batch, not the clip."""
    from colorizer.video import colorize as vcol
    from colorizer.video import io as vio
    src = _mkv(tmp_path)
    decoded, at_first_write = [0], []
    real_lightness, real_write = vcol.lightness, vio.VideoSink.write

    def counting_lightness(frame):
        decoded[0] += 1
        return real_lightness(frame)

    def recording_write(self, rgb, like):
        at_first_write.append(decoded[0])
        return real_write(self, rgb, like)
    monkeypatch.setattr(vcol, "lightness", counting_lightness)
    monkeypatch.setattr(vio.VideoSink, "write", recording_write)
    res = colorize_video(tiny_colorizer, src, tmp_path / "o.mp4", size=SIZE, video=VideoOptions(batch=4))
    assert res.frames == decoded[0] == 40
    assert at_first_write[0] == 4            # the first batch went out before the 5th frame was decoded
    assert max(n - i for i, n in enumerate(at_first_write)) <= 4  # never more than a batch waiting


def _flicker(pictures):
    """Mean |Δa,b| between consecutive frames where the lightness holds (|ΔL*| < 2)."""
    rgb = torch.from_numpy(np.stack(pictures)).permute(0, 3, 1, 2).double() / 255
    lab = rgb_to_lab(rgb).float()
    steady = (lab[1:, 0] - lab[:-1, 0]).abs() < 2
    return float((lab[1:, 1:] - lab[:-1, 1:]).abs().mean(1)[steady].mean())


class _Unsure:
    """A backend whose class scores waver from call to call (the tiny model's, plus noise),
    as a real model's do where it hesitates between colours."""

    def __init__(self, backend):
        self.backend, self.noise = backend, torch.Generator().manual_seed(0)
        self.outputs, self.takes_hints, self.name, self.device = backend.outputs, False, "unsure", backend.device

    def __call__(self, L, hints=None, outputs=None):
        out = self.backend(L, hints, outputs=outputs)
        return {k: v + torch.randn(v.shape, generator=self.noise) if k.startswith("logits") else v for k, v in out.items()}


def test_steady_colour_cuts_flicker_on_a_steady_shot(tiny_colorizer, tmp_path):
    """A shot that holds still (with grain) and a model that wavers: each frame on its own,
    the colours flicker; the steady colour holds them."""
    from colorizer.colorizer import Colorizer
    unsure = Colorizer(_Unsure(tiny_colorizer.backend), tiny_colorizer.decoders, tiny_colorizer.default_decoding,
                       tiny_colorizer.extra)
    src = vc.write_clip(tmp_path / "still.mkv", vc.frames(96, 64, 16, grain=3.0, shots=("still",)), fmt="matroska",
                        rotation=0, audio=None)
    flicker = {}
    for w in (0.0, 0.8):
        colorize_video(unsure, src, tmp_path / f"s{w}.mkv", size=SIZE,
                       video=VideoOptions(format="mkv", codec="ffv1", smoothing=w))
        flicker[w] = _flicker(vc.probe(tmp_path / f"s{w}.mkv")["pictures"])
    assert flicker[0.0] > 3, flicker
    assert flicker[0.8] < 0.25 * flicker[0.0], flicker


def test_steady_colour_follows_motion_and_restarts_where_it_cannot():
    """Scores tied to the picture, which pans 3 px a frame: the flow-aligned average stays
    on the current frame's scores; without the flow (a plain average) it lags behind."""
    rng = np.random.default_rng(0)
    big = torch.from_numpy(rng.uniform(0, 100, (64, 160)).astype(np.float32))
    big = torch.nn.functional.avg_pool2d(big[None, None], 5, 1, 2)[0, 0]  # smooth texture, flow can follow it
    big = (big - big.min()) / (big.max() - big.min()) * 85 + 10  # L* 10..95
    steady, errors, lags = SteadyColour(0.8), [], []
    prev = None
    for t in range(12):
        L = big[:, 3 * t: 3 * t + 96].contiguous()
        small = torch.nn.functional.avg_pool2d(L[None, None], 2)[0]        # the outputs' size: half
        scores = {"logits": torch.cat([small, 100 - small]), "ab": small[:1] / 4}
        out = steady(L.numpy(), scores)
        if t > 2:
            inner = (slice(None), slice(4, -4), slice(4, -8))
            errors.append(float((out["logits"] - scores["logits"])[inner].abs().mean()))
            lags.append(float((0.8 * prev + 0.2 * scores["logits"] - scores["logits"])[inner].abs().mean()))
        prev = scores["logits"] if prev is None else 0.8 * prev + 0.2 * scores["logits"]
        assert set(out) == {"logits", "ab"} and out["ab"].shape == (1, 32, 48)
    assert np.mean(errors) < 0.5 * np.mean(lags), (np.mean(errors), np.mean(lags))
    # a picture that the previous one cannot explain (black): every pixel starts afresh
    other = torch.zeros(64, 96)
    fresh = {"logits": torch.zeros(2, 32, 48), "ab": torch.zeros(1, 32, 48)}
    assert float(steady(other.numpy(), fresh)["logits"].abs().max()) < 1e-6


def test_cut_detector_finds_cuts_not_pans():
    pictures = vc.frames(128, 96, 50, grain=4.0)  # still, slow pan, fast pan, cut at 30, still
    det = CutDetector()
    lightness = [p.astype(np.float32) / 2.55 for p in pictures]
    assert [i for i, L in enumerate(lightness) if det(L)] == [30]


def test_video_options_checked():
    for bad in (dict(format="avi"), dict(codec="mpeg2"), dict(format="webm", codec="h264"), dict(codec="ffv1"), dict(crf=-1),
                dict(smoothing=1.0), dict(batch=0)):
        with pytest.raises(ValueError):
            VideoOptions(**bad)
    assert VideoOptions(format="webm").codec_name == "vp9"
    assert is_video_path("A/B.MKV") and not is_video_path("a.png")


def test_sigterm_leaves_no_partial_video_and_says_how_to_resume(tiny_model_path, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    vc.write_clip(src / "long.mkv", vc.frames(96, 64, 300), fmt="matroska", rotation=0)
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "colorizer", "colorize", str(src), "-o", str(out), "--model", tiny_model_path,
           "--size", str(SIZE)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def writing():
        return out.is_dir() and any(f.startswith(".long.mp4.") and os.path.getsize(out / f) > 0 for f in os.listdir(out))
    sent = signal_when({"term": (proc, writing, signal.SIGTERM)}, timeout=120)
    _, err = proc.communicate(timeout=60)
    err = err.decode("utf-8", "replace")
    assert sent["term"], err
    assert proc.returncode == 130, err
    assert os.listdir(out) == [], os.listdir(out)  # neither the final name nor a temporary file
    assert "interrupted: 0 of 1 outputs" in err and "--skip-existing" in err and "Traceback" not in err


def test_cli_colorizes_a_video_and_checks_its_options(film, tiny_model_path, tmp_path, capsys):
    from colorizer.cli import main
    out = tmp_path / "out"
    for bad, message in ((["--crf", "99"], "--crf must be a whole number from 0 to 51, not 99"),
                         (["--smoothing", "1"], "--smoothing must be a number from 0 to 0.95, not 1"),
                         (["--video-format", "webm", "--video-codec", "h264"], "webm holds vp9 or av1 video, not h264")):
        assert main(["colorize", film, "-o", str(out), *bad]) == 2
        assert capsys.readouterr().err.strip() == f"colorizer: error: {message}"
    rc = main(["colorize", film, "-o", str(out), "--model", tiny_model_path, "--size", str(SIZE), "--video-format", "mkv",
               "--smoothing", "0", "-q"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert os.listdir(out) == ["film.mkv"]
    # Matroska counts in milliseconds: each frame at its own time, rounded so
    in_ms = [Fraction(int(t * 1000 + Fraction(1, 2)), 1000) for t in vc.probe(film)["times"]]
    assert vc.probe(out / "film.mkv")["times"] == in_ms
    assert main(["colorize", film, "-o", str(out), "--video-format", "mkv"]) == 2  # exists: refused before any work
    assert "1 of 1 outputs already exist" in capsys.readouterr().err
    # -o naming the one output: its container from the extension; a photo's extension refused
    named = tmp_path / "named" / "steady colour.mov"
    rc = main(["colorize", film, "-o", str(named), "--model", tiny_model_path, "--size", str(SIZE), "--smoothing", "0", "-q"])
    assert rc == 0, capsys.readouterr().err
    assert os.listdir(named.parent) == ["steady colour.mov"] and len(vc.probe(named)["times"]) == len(vc.probe(film)["times"])
    assert main(["colorize", film, "-o", str(tmp_path / "film.png")]) == 2
    assert capsys.readouterr().err.strip() == (f"colorizer: error: -o {tmp_path / 'film.png'}: a video is written as "
                                               ".mp4, .mkv, .mov, .webm")


def test_hints_apply_to_every_frame(tmp_path):
    from colorizer import Colorizer
    from helpers import make_tiny_model_file
    c = Colorizer.load(make_tiny_model_file(tmp_path / "hints.safetensors", hints=True), device="cpu")
    src = vc.write_clip(tmp_path / "h.mkv", vc.frames(96, 64, 6, shots=("still",)), fmt="matroska", rotation=0, audio=None)
    plain = colorize_video(c, src, tmp_path / "plain.mkv", size=SIZE, video=VideoOptions(format="mkv", codec="ffv1"))
    hinted = colorize_video(c, src, tmp_path / "hinted.mkv", size=SIZE, hints=["48,32,#20c020"],
                            video=VideoOptions(format="mkv", codec="ffv1"))
    assert plain.frames == hinted.frames == 6
    a = _ab(vc.probe(tmp_path / "plain.mkv")["pictures"])
    b = _ab(vc.probe(tmp_path / "hinted.mkv")["pictures"])
    change = (a - b).abs().mean(dim=(1, 2, 3))
    assert bool((change > 0.01).all()), change  # every frame, not only the first (the same run without hints: 0)
    with pytest.raises(ValueError, match="outside"):
        colorize_video(c, src, tmp_path / "x.mkv", size=SIZE, hints=["500,32,#20c020"], video=VideoOptions(format="mkv"))
    assert not os.path.exists(tmp_path / "x.mkv")
