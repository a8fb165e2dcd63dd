"""Start-up time of ``jetimg --version``, against a bare Python start on the same machine.

A script, not a test (benchmarks/ stays out of the test run): a wall-clock
limit in a test fails on a slow or busy machine and passes a regression on a
fast one. tests/test_cli.py checks instead what keeps ``--version`` fast: it
imports none of numba, Dask, Zarr, h5py, pandas, Keras or matplotlib::

    python benchmarks/bench_startup.py [--runs 21] [--out DIR]

Runs, interleaved so that both see the same load: the console script
``jetimg --version`` (each run its own process) and the floor
``python -c pass`` (the same interpreter, nothing imported). Prints the median
and best of each, their ratio and the CPU's name; ``--out`` also writes
``bench_startup.json`` there.
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import sys
import time


def cpu_name():
    """The processor's model name (Linux /proc/cpuinfo, else platform's answer)."""
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def jetimg_script():
    """The ``jetimg`` console script beside this interpreter, else on PATH."""
    script = pathlib.Path(sys.executable).with_name("jetimg")
    found = str(script) if script.exists() else shutil.which("jetimg")
    if not found:
        raise SystemExit("bench_startup: no jetimg command found: install jetimg "
                         "(pip install -e .) in this environment")
    return found


def seconds_of(command):
    """Wall time of one run of ``command`` (a list), which must succeed."""
    t0 = time.perf_counter()
    proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"bench_startup: {' '.join(command)} failed: {proc.stderr.strip()}")
    return seconds, proc.stdout.strip()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=21, help="timed runs of each (21)")
    parser.add_argument("--out", type=pathlib.Path, default=None,
                        help="folder for bench_startup.json (none by default)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be >= 1")
    commands = {"jetimg --version": [jetimg_script(), "--version"],
                "python -c pass": [sys.executable, "-c", "pass"]}
    for command in commands.values():  # warm the file cache once, untimed
        seconds_of(command)
    times = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, command in commands.items():
            seconds, stdout = seconds_of(command)
            times[name].append(seconds)
    version = seconds_of(commands["jetimg --version"])[1]
    medians = {name: statistics.median(t) for name, t in times.items()}
    ratio = medians["jetimg --version"] / medians["python -c pass"]
    info = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "cpu": cpu_name(),
            "cpus": os.cpu_count(), "python": platform.python_version(), "version": version,
            "runs": args.runs, "median_s": medians,
            "best_s": {name: min(t) for name, t in times.items()}, "ratio": ratio}
    print(f"# {info['cpu']} ({info['cpus']} CPUs), Python {info['python']}, {version}")
    for name in commands:
        print(f"{name:<18} median {medians[name] * 1e3:7.1f} ms, best "
              f"{info['best_s'][name] * 1e3:7.1f} ms ({args.runs} runs)")
    print(f"jetimg --version / python -c pass: x{ratio:.2f} (medians)")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "bench_startup.json").write_text(json.dumps(info, indent=1) + "\n")
        print(f"# wrote {args.out / 'bench_startup.json'}")


if __name__ == "__main__":
    main()
