"""What channels cost the kernel: one image against C channels, per jet, same jets.

A script, not a test (benchmarks/ stays out of the test run)::

    python benchmarks/bench_channels.py [INPUT ...] [--rows N] [--repeat 5]
        [--channels charged_pt,neutral_pt,charged_count] [--json PATH]

INPUT defaults to the shipped JetClass-layout sample (Pythia jets of five
classes with particle kinds, ``jetimg.data.sample_path("jetclass")``); any
input with particle kinds works (JetClass ROOT files, quark/gluon .npz). The
first ``--rows`` jets are read once, padded to their largest multiplicity,
with their kinds. Then, on the calling thread (``parallel=False``, as the
build's workers run it), each of these recipes images the same jets:

* ``image``: no channels (one pT image, the single-image kernel);
* ``pt``: ``channels=["pt"]`` (the channels kernel, one channel);
* the ``--channels`` list (default charged_pt, neutral_pt, charged_count);

every recipe once first (compiling or loading the kernels; not timed), into
output arrays made once per recipe (as the build's workers keep theirs). A
sample is the mean over back-to-back calls lasting at least ``--min-time``
seconds; samples are taken in rounds over the recipes, and the table shows
the median and best of ``--repeat`` samples as microseconds per jet, with each
recipe's median over the ``image`` median measured in the same run.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import time

import numpy as np

import jetimg
from bench_startup import cpu_name  # benchmarks/ is the script's folder
from jetimg.data import sample_path
from jetimg.io import open_inputs
from jetimg.outputs import empty_outputs


def read_jets(inputs, rows):
    """The first ``rows`` jets of ``inputs`` and their kinds."""
    source = open_inputs(inputs)
    with source:
        if not source.has_kinds:
            raise SystemExit(f"{inputs}: no particle kinds; give JetClass ROOT or QG .npz files")
        n = min(rows, source.n_rows)
        jets, _ = source.read(0, n)
        kinds = source.read_kinds(0, n)
    return np.ascontiguousarray(jets), np.ascontiguousarray(kinds)


def sample(recipe, jets, kinds, min_time):
    """Seconds per call of the serial kernel, the mean over >= ``min_time`` s,
    into output arrays made once (as the build's workers reuse theirs: fresh
    memory per call would time page faults, three times more with three
    channels, not the kernel)."""
    out = empty_outputs(len(jets), recipe.npix, n_channels=recipe.n_channels)
    jetimg.preprocess(jets, recipe, kinds=kinds, parallel=False, out=out)
    calls, start = 0, time.perf_counter()
    while True:
        jetimg.preprocess(jets, recipe, kinds=kinds, parallel=False, out=out)
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            return elapsed / calls


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs", nargs="*", help="files with particle kinds "
                        "(default: the shipped JetClass-layout sample)")
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=1.0)
    parser.add_argument("--channels", default="charged_pt,neutral_pt,charged_count")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    inputs = args.inputs or str(sample_path("jetclass")) + "/*.root"
    jets, kinds = read_jets(inputs, args.rows)
    recipes = {"image": jetimg.Recipe(), "pt": jetimg.Recipe(channels=["pt"]),
               args.channels: jetimg.Recipe(channels=args.channels)}
    n_valid = int((jets[..., 0] != 0).sum())
    print(f"# jetimg {jetimg.__version__}, {cpu_name()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}, {datetime.date.today()}")
    print(f"# {len(jets)} jets of {inputs}, {jets.shape[1]} slots, "
          f"{n_valid / len(jets):.1f} constituents per jet; serial kernel, "
          f"repeat {args.repeat}, min-time {args.min_time} s")
    for recipe in recipes.values():  # compile / load from the cache
        jetimg.preprocess(jets[:10], recipe, kinds=kinds[:10], parallel=False)
    times = {name: [] for name in recipes}
    for _ in range(args.repeat):
        for name, recipe in recipes.items():
            times[name].append(sample(recipe, jets, kinds, args.min_time))
    base = statistics.median(times["image"])
    rows = []
    print(f"{'recipe':<40} {'median us/jet':>14} {'best us/jet':>12} {'/ image':>8}")
    for name, t in times.items():
        med = statistics.median(t)
        row = {"recipe": name, "median_us_per_jet": 1e6 * med / len(jets),
               "best_us_per_jet": 1e6 * min(t) / len(jets), "ratio_to_image": med / base}
        rows.append(row)
        print(f"{name:<40} {row['median_us_per_jet']:>14.2f} {row['best_us_per_jet']:>12.2f} "
              f"{row['ratio_to_image']:>8.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": cpu_name(), "jets": len(jets), "inputs": inputs, "rows": rows},
                      f, indent=1)


if __name__ == "__main__":
    main()
