"""``jetimg.split`` with and without ``shuffle`` against a copy floor, on a top-tagging file.

A script, not a test (benchmarks/ stays out of the test run)::

    python benchmarks/bench_split.py [--rows N] [--repeat R] [--seed S]
                                     [--chunk-rows C] [--data-dir DIR] [--out PATH]

Input: N toy jets (``jetimg.toys.toy_jets``, 200 slots, made ``C`` rows at a
time with seeds S, S+1, ...) in the top-tagging reference layout (pandas
"fixed", key "table", uncompressed, the columns of
``jetimg.io.writers.toptag.toptag_columns``: 806 columns, about 3.2 kB a
row), written chunk by chunk with ``jetimg.io.writers.appenders.FrameAppender``
and cached in ``DIR`` (default ``bench_data/``, git-ignored) as
``toptag_split_n{N}_seed{S}.h5``.

Each measurement runs in a child process of its own (this script with
``--job``), so that its peak memory (``resource.getrusage(RUSAGE_SELF)
.ru_maxrss``, the child's largest resident set, imports included) does not
carry over from another (the input is written by a child too, and this
process imports neither jetimg nor pandas: a child's peak starts from the
resident set of the process that starts it); the child times only the
work, after its imports:

* ``split``: ``jetimg.split(INPUT, OUT, fractions=(0.6, 0.2, 0.2), seed=1,
  chunk_rows=C)``: the labels read, the assignment, every column of every
  row copied into three part files of the input's layout, the row maps.
* ``shuffle``: the same with ``shuffle=True`` (each part's rows in a seeded
  order, through temporary bucket files).
* ``floor``: the copy with no split logic: every column of the input read
  ``C`` rows at a time (``pandas.HDFStore.select(start=, stop=)``) and
  appended to one output file of the same layout (``FrameAppender``,
  "fixed"), i.e. one read and one write of every row.

Printed: the median wall time of ``--repeat`` runs of each (interleaved:
split, shuffle, floor, split, ...), jets/s, the ratio to the floor's median
and the largest peak RSS of the runs, with the CPU model (``/proc/cpuinfo``)
and core count. The page cache is warm (the input was just written or
read); outputs are removed after each run. The text is also appended to
``--out`` (default ``benchmarks/results/bench_split.txt``).
"""

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N_SLOTS = 200


def cpu_model():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def make_input(path, n, seed, chunk_rows):
    """The toy top-tagging file (cached): written chunk by chunk, memory bounded by a chunk."""
    import numpy as np
    import pandas as pd

    from jetimg.io.writers.appenders import FrameAppender
    from jetimg.io.writers.toptag import toptag_columns
    from jetimg.toys import toy_jets

    if os.path.exists(path):
        return False
    tmp = path + ".part"
    columns = toptag_columns(N_SLOTS)
    out = FrameAppender(tmp, n, key="table", format="fixed")
    for i, a in enumerate(range(0, n, chunk_rows)):
        m = min(chunk_rows, n - a)
        jets, labels = toy_jets(m, n_slots=N_SLOTS, seed=seed + i)
        frame = pd.DataFrame(jets.reshape(m, 4 * N_SLOTS).astype(np.float32),
                             columns=columns[:4 * N_SLOTS])
        for c in ("truth_E", "truth_PX", "truth_PY", "truth_PZ"):
            frame[c] = np.zeros(m, np.float32)
        frame["ttv"] = np.zeros(m, np.int64)
        frame["is_signal_new"] = np.asarray(labels, np.int64)
        frame.index = np.arange(a, a + m)
        out.append(frame)
    out.close()
    os.replace(tmp, path)
    return True


def job(kind, path, out, chunk_rows):
    """One measurement, in this (child) process: prints JSON seconds and peak RSS."""
    import pandas as pd

    import jetimg
    from jetimg.io.writers.appenders import FrameAppender

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    if kind in ("split", "shuffle"):
        jetimg.split(path, out, fractions=(0.6, 0.2, 0.2), seed=1,
                     shuffle=kind == "shuffle", chunk_rows=chunk_rows)
    else:
        os.mkdir(out)
        with jetimg.open_jets(path) as source:
            n = source.n_rows
        with pd.HDFStore(path, mode="r") as store:
            writer = FrameAppender(os.path.join(out, os.path.basename(path)), n,
                                   key="table", format="fixed")
            for a in range(0, n, chunk_rows):
                writer.append(store.select("table", start=a, stop=min(a + chunk_rows, n)))
            writer.close()
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "maxrss_kb": peak, "rss_after_imports_kb": rss_before}))


def run_job(kind, path, chunk_rows, scratch):
    out = os.path.join(scratch, f"out_{kind}")
    try:
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--job", kind,
                               "--input", path, "--job-out", out,
                               "--chunk-rows", str(chunk_rows)],
                              capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(f"{kind} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000, help="jets in the input")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (median)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the toy jets")
    parser.add_argument("--chunk-rows", type=int, default=20_000, help="rows per window")
    parser.add_argument("--data-dir", default=os.path.join(ROOT, "bench_data"),
                        help="where the input is cached")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results",
                                                      "bench_split.txt"),
                        help="text file the results are appended to")
    parser.add_argument("--job", help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--job-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.job == "input":
        print(json.dumps({"made": make_input(args.input, args.rows, args.seed,
                                             args.chunk_rows)}))
        return
    if args.job:
        job(args.job, args.input, args.job_out, args.chunk_rows)
        return
    # this process stays small (no jetimg, pandas or input in it): a child's peak RSS
    # starts from the RSS of the process that forks it
    from importlib.metadata import version

    lines = []

    def say(text=""):
        print(text, flush=True)
        lines.append(text)

    say(f"== python benchmarks/bench_split.py {' '.join(sys.argv[1:])}   "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})")
    say(f"# jetimg {version('jetimg')}, python {platform.python_version()}, "
        f"{cpu_model()}, {os.cpu_count()} cores")
    os.makedirs(args.data_dir, exist_ok=True)
    path = os.path.join(args.data_dir, f"toptag_split_n{args.rows}_seed{args.seed}.h5")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--job", "input",
                           "--input", path, "--rows", str(args.rows), "--seed", str(args.seed),
                           "--chunk-rows", str(args.chunk_rows)], capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"writing the input failed:\n{proc.stdout}\n{proc.stderr}")
    made = json.loads(proc.stdout.strip().splitlines()[-1])["made"]
    size = os.path.getsize(path) / 1e9
    say(f"# input {path} ({size:.2f} GB, pandas fixed, uncompressed): "
        + (f"written in {time.perf_counter() - t0:.1f} s" if made else "reused"))
    kinds = ("split", "shuffle", "floor")
    runs = {k: [] for k in kinds}
    scratch = tempfile.mkdtemp(prefix="bench_split.", dir=args.data_dir)
    try:
        run_job("floor", path, args.chunk_rows, scratch)   # warm the page cache
        for r in range(args.repeat):
            for kind in kinds:
                res = run_job(kind, path, args.chunk_rows, scratch)
                runs[kind].append(res)
                say(f"#   run {r + 1} {kind}: {res['seconds']:.2f} s, "
                    f"peak RSS {res['maxrss_kb'] / 1e6:.2f} GB")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    floor = statistics.median(x["seconds"] for x in runs["floor"])
    say()
    say(f"jetimg.split of N={args.rows:,} jets (fractions 0.6,0.2,0.2, chunk {args.chunk_rows:,}"
        f" rows), median of {args.repeat}; ratio: seconds / floor's")
    say(f"{'run':<10}{'seconds':>9}{'jets/s':>11}{'ratio':>7}{'peak RSS':>11}"
        f"{'RSS after imports':>19}")
    for kind in kinds:
        sec = statistics.median(x["seconds"] for x in runs[kind])
        peak = max(x["maxrss_kb"] for x in runs[kind]) / 1e6
        base = max(x["rss_after_imports_kb"] for x in runs[kind]) / 1e6
        say(f"{kind:<10}{sec:>9.2f}{args.rows / sec:>11,.0f}{sec / floor:>7.2f}"
            f"{peak:>8.2f} GB{base:>16.2f} GB")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "a") as fh:
        fh.write("\n".join(lines) + "\n\n")


if __name__ == "__main__":
    main()
