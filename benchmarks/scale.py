"""Beyond one machine, measured on this one (docs/scale.md):

  1. batch colorization: images/s of `colorizer colorize` on N photos (default 200 from
     /work/shared/data/val) with the local engine (torch's default threads, then one
     thread) and with --engine ray (a local Ray started for the run, one actor per CPU,
     one thread each), end to end as a user runs it (model load, and Ray's start-up,
     included), each in a fresh process; the ratios ray/local are Ray's cost (or gain) here;
  2. data-parallel training: training images/s of 1 process (all the cores as torch
     threads, then one thread) vs 2 processes under torchrun (gloo, one thread each), the
     same global batch and the same photos. Each is run for two lengths and the rate is taken from the
     difference, so that start-up (imports, decoding the photos, the class prior, the
     rendezvous) is left out.

    python benchmarks/scale.py                        # both
    python benchmarks/scale.py --only colorize --photos 50
    python benchmarks/scale.py --only train --size 128 --batch 8

Nothing is asserted: it prints numbers. The machine may be shared with other work: say so
beside the numbers, and compare the ratios of one run rather than absolute rates.
"""
import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time

VAL = "/work/shared/data/val"


def colorize_rate(photos, out, engine, threads=None):
    cmd = [sys.executable, "-m", "colorizer", "colorize", *photos, "-o", out, "-q"]
    if engine == "ray":
        cmd += ["--engine", "ray"]
    env = dict(os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {}))
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t
    written = sum(len(fs) for _, _, fs in os.walk(out))
    if proc.returncode != 0 or written != len(photos):
        print(proc.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f"{engine}: exit {proc.returncode}, {written} of {len(photos)} written")
    return len(photos) / dt, dt


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_seconds(procs, threads, data, out, steps, size, batch, photos):
    """Wall time of a training run of `steps` steps (1 process, or `procs` under torchrun)."""
    epochs = steps * batch / photos
    args = ["train", "--data", data, "--out", out, "--size", str(size), "--batch", str(batch), "--epochs", f"{epochs:.6f}",
            "--workers", "2", "--warmup", "1", "--limit", str(photos)]
    env = dict(os.environ)
    if procs == 1:
        cmd = [sys.executable, "-m", "colorizer", *args, "--threads", str(threads)]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(procs), "--master_addr", "127.0.0.1",
               "--master_port", str(free_port()), "-m", "colorizer", *args, "--threads", "1"]
        env.update(OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1")
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t
    if proc.returncode != 0:
        print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f"training with {procs} process(es) failed")
    return dt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=["colorize", "train"], default=None)
    ap.add_argument("--data", default=VAL, help="photos (default: the validation photos)")
    ap.add_argument("--photos", type=int, default=200, help="photos colorized (default 200)")
    ap.add_argument("--train-photos", type=int, default=64, help="photos trained on (default 64)")
    ap.add_argument("--size", type=int, default=128, help="training crop size (default 128)")
    ap.add_argument("--batch", type=int, default=8, help="global training batch (default 8)")
    ap.add_argument("--steps", type=int, default=8, help="steps of the short run; the long one has 3x (default 8)")
    a = ap.parse_args()
    photos = sorted(os.path.join(a.data, f) for f in os.listdir(a.data) if f.lower().endswith((".jpg", ".jpeg", ".png")))
    print(f"machine: {os.cpu_count()} CPU cores (shared with other work unless said otherwise)")
    with tempfile.TemporaryDirectory() as tmp:
        if a.only in (None, "colorize"):
            chosen = photos[:a.photos]
            local, t_local = colorize_rate(chosen, os.path.join(tmp, "local"), "local")
            ray, t_ray = colorize_rate(chosen, os.path.join(tmp, "ray"), "ray")
            local1, t_local1 = colorize_rate(chosen, os.path.join(tmp, "local1"), "local", threads=1)
            print(f"colorize {len(chosen)} photos of {a.data}, default model, end to end:")
            print(f"  local engine, torch's threads ({os.cpu_count()}) : {local:6.2f} images/s ({t_local:.1f} s)")
            print(f"  --engine ray, one actor a CPU      : {ray:6.2f} images/s ({t_ray:.1f} s)")
            print(f"  local engine, 1 thread             : {local1:6.2f} images/s ({t_local1:.1f} s)")
            print(f"  ray / local: {ray / local:.2f}; ray / local with 1 thread: {ray / local1:.2f}")
        if a.only in (None, "train"):
            rates = {}
            print(f"train unet at {a.size} px on {a.train_photos} photos, global batch {a.batch}:")
            for procs, threads in ((1, os.cpu_count()), (1, 1), (2, 1)):
                runs = [train_seconds(procs, threads, a.data, os.path.join(tmp, f"t{procs}{threads}{n}"), n, a.size, a.batch,
                                      a.train_photos) for n in (a.steps, 3 * a.steps)]
                rates[procs, threads] = 2 * a.steps * a.batch / max(1e-6, runs[1] - runs[0])
                print(f"  {procs} process(es) of {threads} thread(s): {rates[procs, threads]:6.2f} images/s "
                      f"({a.steps} steps {runs[0]:.1f} s, {3 * a.steps} steps {runs[1]:.1f} s, the difference counted)")
            print(f"  2 processes / 1 process of {os.cpu_count()} threads: {rates[2, 1] / rates[1, os.cpu_count()]:.2f}; "
                  f"2 processes / 1 process of 1 thread: {rates[2, 1] / rates[1, 1]:.2f}")


if __name__ == "__main__":
    main()
