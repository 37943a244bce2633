"""Load test for `colorizer serve`, on this machine only.

Starts the server as a subprocess on 127.0.0.1 (a free port), sends a bounded number of
colorize requests from concurrent clients, and prints requests/s, p50/p95 latency, the
answers by status and the server process's peak resident memory (VmHWM).

    python benchmarks/serve_load.py                      # the bundled default model
    python benchmarks/serve_load.py --model tiny.safetensors --clients 16 --requests 200

It stops by itself: after --requests requests or --max-seconds, whichever comes first.
Exit status: 0 all requests answered 200, 1 some did not, 2 the server did not start.
"""
import argparse
import http.client
import io
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
from PIL import Image

from colorizer.options import OPTIONS

HOST = "127.0.0.1"  # loopback only


def option_type(name):
    """An argparse type that parses a colorize option as the CLI and the server do."""
    def parse(text):
        try:
            return OPTIONS[name].parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    return parse


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="bundled model name or .safetensors path (default: the bundled default)")
    p.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    p.add_argument("--requests", type=int, default=200, help="requests in all (default 200)")
    p.add_argument("--width", type=int, default=512, help="photo width (default 512)")
    p.add_argument("--height", type=int, default=384, help="photo height (default 384)")
    p.add_argument("--size", type=option_type("size"), default=OPTIONS["size"].default,
                   help=f"working size sent with each request (default {OPTIONS['size'].default})")
    p.add_argument("--concurrency", type=int, default=0,
                   help="server: inferences at once (default: its default, the number of cores)")
    p.add_argument("--queue", type=int, default=16, help="server: requests allowed to wait (default 16)")
    p.add_argument("--max-seconds", type=float, default=600, help="stop sending after this many seconds (default 600)")
    p.add_argument("--startup-seconds", type=float, default=120, help="wait this long for the server to start (default 120)")
    a = p.parse_args(argv)
    if a.clients < 1 or a.requests < 1 or a.width < 1 or a.height < 1:
        p.error("--clients, --requests, --width and --height must be positive")
    return a


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def make_photo(width, height, seed=0):
    """A grayscale JPEG with smooth shading, edges and grain, like a scanned photo."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = 128 + 60 * np.sin(x / 37.0) * np.cos(y / 23.0) + 40 * (x / width - 0.5)
    img[height // 3: 2 * height // 3, width // 4: width // 2] += 50
    img += rng.normal(0, 6, img.shape)
    buf = io.BytesIO()
    Image.fromarray(img.clip(0, 255).astype(np.uint8), "L").save(buf, "JPEG", quality=90)
    return buf.getvalue()


def multipart(photo, size):
    boundary = "colorizer-load-test-boundary"
    parts = [
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"photo.jpg\"\r\n"
        "Content-Type: image/jpeg\r\n\r\n".encode() + photo + b"\r\n",
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"size\"\r\n\r\n{size}\r\n".encode(),
        f"--{boundary}--\r\n".encode(),
    ]
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def start_server(a, port, log):
    cmd = [sys.executable, "-m", "colorizer", "serve", "--host", HOST, "--port", str(port), "--queue", str(a.queue)]
    if a.model:
        cmd += ["--model", a.model]
    if a.concurrency:
        cmd += ["--concurrency", str(a.concurrency)]
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)


def get_health(port, timeout=2.0):
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", "/api/health")
        r = conn.getresponse()
        return json.loads(r.read()) if r.status == 200 else None
    finally:
        conn.close()


def wait_ready(proc, port, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None
        try:
            health = get_health(port)
            if health:
                return health
        except OSError:
            pass
        time.sleep(0.2)
    return None


def memory_kb(pid, field="VmHWM"):
    """A process's peak (VmHWM) or current (VmRSS) resident memory, in kB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class Load:
    """Hands out request tickets until the count or the time is used up; collects results."""

    def __init__(self, total, deadline):
        self.left, self.deadline = total, deadline
        self.lock = threading.Lock()
        self.latencies, self.statuses = [], {}

    def take(self):
        with self.lock:
            if self.left <= 0 or time.monotonic() > self.deadline:
                return False
            self.left -= 1
            return True

    def record(self, status, seconds):
        with self.lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status == 200:
                self.latencies.append(seconds)


def client(port, body, content_type, load):
    conn = None
    while load.take():
        t0 = time.monotonic()
        try:
            if conn is None:
                conn = http.client.HTTPConnection(HOST, port, timeout=300)
            conn.request("POST", "/api/colorize", body=body, headers={"Content-Type": content_type})
            r = conn.getresponse()
            r.read()
            load.record(r.status, time.monotonic() - t0)
            if r.getheader("connection", "").lower() == "close":
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as e:
            load.record(type(e).__name__, time.monotonic() - t0)
            if conn is not None:
                conn.close()
            conn = None
    if conn is not None:
        conn.close()


def percentile(values, q):
    return float(np.percentile(values, q)) if values else float("nan")


def run(a, port):
    photo = make_photo(a.width, a.height)
    body, content_type = multipart(photo, a.size)

    warm = Load(1, time.monotonic() + a.max_seconds)  # the first request pays for warm-up
    client(port, body, content_type, warm)
    print(f"warm-up request: status {list(warm.statuses)[0]}, {(warm.latencies or [float('nan')])[0]:.2f} s")

    print(f"load: {a.requests} requests from {a.clients} clients, {a.width}x{a.height} JPEG ({len(photo) / 1e3:.0f} kB), "
          f"size {a.size}")
    load = Load(a.requests, time.monotonic() + a.max_seconds)
    threads = [threading.Thread(target=client, args=(port, body, content_type, load), daemon=True) for _ in range(a.clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return load, time.monotonic() - t0


def report(load, elapsed, peak_kb):
    done = sum(load.statuses.values())
    ok = load.statuses.get(200, 0)
    lat = load.latencies
    print(f"done: {done} requests in {elapsed:.1f} s = {done / elapsed:.2f} requests/s ({ok / elapsed:.2f} colorized/s)")
    print(f"latency (200s): p50 {percentile(lat, 50):.3f} s, p95 {percentile(lat, 95):.3f} s, "
          f"max {max(lat, default=float('nan')):.3f} s")
    print("answers: " + ", ".join(f"{k}: {v}" for k, v in sorted(load.statuses.items(), key=lambda kv: str(kv[0]))))
    errors = done - ok
    failed = ", ".join(f"{k} x{v}" for k, v in load.statuses.items() if k != 200)
    print(f"errors: {errors}" + (f" ({failed})" if errors else ""))
    print(f"server peak RSS: {peak_kb / 1024:.0f} MiB (VmHWM)")
    return errors


def main(argv=None):
    a = parse_args(argv)
    port = free_port()
    with tempfile.TemporaryFile(mode="w+b") as log:
        proc = start_server(a, port, log)
        try:
            health = wait_ready(proc, port, a.startup_seconds)
            if health is None:
                log.seek(0)
                print("serve_load: the server did not start:\n" + log.read().decode(errors="replace")[-3000:], file=sys.stderr)
                return 2
            lim = health["limits"]
            print(f"server: pid {proc.pid}, model {health['model']} (decoding {health['decoding'] or 'regression'}), "
                  f"concurrency {lim['concurrency']}, queue {lim['queue_size']}, http://{HOST}:{port}/")
            size = health["options"]["size"]
            if not size["min"] <= a.size <= size["max"]:
                print(f"serve_load: --size {a.size} is outside the server's range {size['min']}..{size['max']}", file=sys.stderr)
                return 2
            load, elapsed = run(a, port)
            peak = memory_kb(proc.pid, "VmHWM")
            errors = report(load, elapsed, peak)
            return 1 if errors else 0
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    sys.exit(main())
