"""Issue 15, the server's video jobs: POST /api/videos -> id; progress, cancel and the result
by id; a bounded queue; size, duration and pixel limits (FastAPI's TestClient, the tiny
model, clips made by tests/videoclips.py)."""
import time

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

import videoclips as vc  # noqa: E402
from colorizer.server import create_app  # noqa: E402


def wait(client, job_id, until=("done", "failed", "cancelled"), timeout=120):
    t = time.monotonic()
    while time.monotonic() - t < timeout:
        state = client.get(f"/api/videos/{job_id}").json()
        if state["status"] in until:
            return state
        time.sleep(0.1)
    pytest.fail(f"job {job_id} still {state}")


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    return {"short": vc.write_clip(d / "short.mp4", vc.frames(96, 64, 20)),
            "long": vc.write_clip(d / "long.mkv", vc.frames(96, 64, 400), fmt="matroska", rotation=0, audio=None)}


@pytest.fixture(scope="module")
def client(tiny_colorizer):
    app = create_app(colorizer=tiny_colorizer, concurrency=1, video_limits={"max_seconds": 20, "queue_size": 2})
    with TestClient(app) as c:
        yield c
    app.state.videos.close()


def post(client, path, **fields):
    with open(path, "rb") as f:
        return client.post("/api/videos", files={"video": (path.rsplit("/", 1)[-1], f, "video/mp4")},
                           data={"size": "64", **fields})


def test_video_job_progress_and_result(client, clips, tmp_path):
    health = client.get("/api/health").json()
    assert health["videos"] is True and health["limits"]["max_video_seconds"] == 20
    r = post(client, clips["short"], smoothing="0.5")
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] in ("queued", "running") and len(job["id"]) == 16
    early = client.get(f"/api/videos/{job['id']}/result")
    state = wait(client, job["id"])
    assert state["status"] == "done", state
    assert state["frames"] == state["total"] == 20 and state["fps"] > 0 and state["error"] is None
    if early.status_code != 200:  # asked before it was done
        assert early.status_code == 409 and "not ready" in early.json()["error"]
    res = client.get(f"/api/videos/{job['id']}/result")
    assert res.status_code == 200 and res.headers["content-type"] == "video/mp4"
    assert 'filename="short-color.mp4"' in res.headers["content-disposition"]
    out = tmp_path / "result.mp4"
    out.write_bytes(res.content)
    a, b = vc.probe(clips["short"]), vc.probe(out)
    assert b["times"] == a["times"] and b["audio"][0]["packets"] == a["audio"][0]["packets"]


def test_video_job_cancel_and_bounded_queue(client, clips):
    first = post(client, clips["long"]).json()
    second = post(client, clips["long"]).json()
    third = post(client, clips["long"])  # the queue holds 2
    assert third.status_code == 503 and "busy" in third.json()["error"]
    wait(client, first["id"], until=("running",))
    c2 = client.delete(f"/api/videos/{second['id']}")  # queued: gone at once
    assert c2.status_code == 200 and c2.json()["status"] == "cancelled"
    assert client.get(f"/api/videos/{second['id']}").status_code == 404
    c1 = client.delete(f"/api/videos/{first['id']}")    # running: stops at its next batch
    assert c1.json()["status"] == "cancelled"
    t = time.monotonic()
    while client.get(f"/api/videos/{first['id']}").status_code != 404:
        assert time.monotonic() - t < 60
        time.sleep(0.1)
    assert client.app.state.videos.pending() == 0


def test_video_uploads_refused_in_one_line(client, clips, tmp_path):
    (tmp_path / "not.mp4").write_bytes(b"not a video at all" * 20)
    r = post(client, str(tmp_path / "not.mp4"))
    assert r.status_code == 422 and r.json()["error"].startswith("cannot read as a video")
    long = vc.write_clip(tmp_path / "30s.mkv", vc.frames(32, 32, 2), fmt="matroska", rotation=0, audio=None,
                         pts=[0, 900])  # 30 s long, 2 frames
    r = post(client, long)
    assert r.status_code == 413 and "video too long" in r.json()["error"]
    r = client.post("/api/videos", files={"image": ("a.mp4", b"x", "video/mp4")})
    assert r.status_code == 422 and "video" in r.json()["error"]
    r = post(client, clips["short"], smoothing="2")
    assert r.status_code == 422 and "smoothing" in r.json()["error"]
    assert client.get("/api/videos/nope").status_code == 404
