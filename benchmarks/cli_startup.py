"""How long `colorizer --help`, `colorizer --version` and `colorizer colorize --help` take
to answer (the command imports no torch until a command runs). Prints the median and the
slowest of a few runs of each, in seconds.

    .venv/bin/python benchmarks/cli_startup.py [--runs 5]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time


def command():
    """The installed `colorizer` script beside this Python, else `python -m colorizer`."""
    script = os.path.join(os.path.dirname(sys.executable), "colorizer")
    if os.path.exists(script):
        return [script]
    found = shutil.which("colorizer")
    return [found] if found else [sys.executable, "-m", "colorizer"]


def timed(argv, runs):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
    return statistics.median(times), max(times)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    a = p.parse_args()
    base = command()
    print(f"{' '.join(base)}: {a.runs} runs each")
    for args in (["--help"], ["--version"], ["colorize", "--help"]):
        median, worst = timed(base + args, a.runs)
        print(f"  colorizer {' '.join(args):<18} median {median:.3f} s, slowest {worst:.3f} s")


if __name__ == "__main__":
    main()
