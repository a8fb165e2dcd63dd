"""Does colour help? The default CNN on pT images against three-channel images.

A script, not a test (benchmarks/ stays out of the test run; it trains six
networks, tens of minutes on two cores)::

    python benchmarks/bench_colour.py QG.npz [MORE.npz ...] [--epochs 5]
        [--seeds 0,1,2] [--channels charged_pt,neutral_pt,charged_count]
        [--npix 33] [--work DIR] [--json PATH]

Inputs are quark/gluon jets in EnergyFlow's layout, as ``jetimg simulate
--layout qg`` writes them (make them once and keep them outside the
repository: simulation runs at tens of jets per second). Their rows are
shuffled with a fixed seed and split 60/20/20 into training, validation and
test files (in ``--work``); each split is built twice, into pT images
(``normalise="sum"``, one channel) and into ``--channels`` images, with the
same pixels otherwise. For each seed the default CNN (``--arch challenge``)
is trained on each with the same jets, epochs, batch size and seed, keeping
the best epoch by validation loss, and evaluated on the test jets: AUC and
the gluon rejection 1/eps_B at a quark efficiency eps_S = 0.3 (quarks are
label 1, the "signal"). The table gives each figure per seed, then the mean
and the standard deviation over seeds.
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import statistics
import time

import numpy as np

import jetimg
from bench_startup import cpu_name  # benchmarks/ is the script's folder
from jetimg.io.qg_writer import write_qg


def split_files(inputs, work, seed):
    """Training, validation and test .npz files of the shuffled rows of ``inputs``."""
    xs, ys = [], []
    for path in inputs:
        with np.load(path) as z:
            xs.append(z["X"])
            ys.append(z["y"])
    width = max(x.shape[1] for x in xs)
    X = np.concatenate([np.pad(x, ((0, 0), (0, width - x.shape[1]), (0, 0))) for x in xs])
    y = np.concatenate(ys)
    order = np.random.default_rng(seed).permutation(len(y))
    a, b = int(0.6 * len(y)), int(0.8 * len(y))
    files = {}
    for name, rows in {"train": order[:a], "val": order[a:b], "test": order[b:]}.items():
        files[name] = work / f"qg_{name}.npz"
        write_qg(files[name], X[rows], y[rows], compressed=False)
    return files, {name: int(len(rows)) for name, rows in
                   {"train": order[:a], "val": order[a:b], "test": order[b:]}.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs", nargs="+")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--channels", default="charged_pt,neutral_pt,charged_count")
    parser.add_argument("--npix", type=int, default=33)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--work", type=pathlib.Path, default=pathlib.Path("bench_data/colour"))
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    seeds = [int(s) for s in args.seeds.split(",")]
    # EnergyFlow's jets are R = 0.4: a 33 x 33 grid of 0.8/33 covers the jet
    size = 0.8 / args.npix
    recipes = {"pt": jetimg.Recipe(npix=args.npix, pixel_size=size),
               args.channels: jetimg.Recipe(npix=args.npix, pixel_size=size,
                                            channels=args.channels)}
    files, counts = split_files(args.inputs, args.work, seed=12345)
    print(f"# jetimg {jetimg.__version__}, {cpu_name()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}, {datetime.date.today()}")
    print(f"# {counts} jets of {', '.join(map(str, args.inputs))}; npix {args.npix}, "
          f"pixel {size:.4f}; {args.epochs} epochs, batch {args.batch_size}, seeds {seeds}",
          flush=True)
    results = {name: [] for name in recipes}
    for name, recipe in recipes.items():
        tag = "pt" if name == "pt" else "colour"
        stores = {}
        for split, path in files.items():
            stores[split] = args.work / f"{split}_{tag}.zarr"
            jetimg.build(path, stores[split], recipe=recipe, overwrite=True)
        for seed in seeds:
            model = args.work / f"cnn_{tag}_seed{seed}.keras"
            t0 = time.perf_counter()
            jetimg.train.train(stores["train"], stores["val"], model, epochs=args.epochs,
                               batch_size=args.batch_size, seed=seed, log=False, plot=False,
                               overwrite=True, patience=args.epochs)
            ev = jetimg.train.evaluate(stores["test"], model=model)
            row = {"seed": seed, "auc": ev.metrics["auc"],
                   "rejection_at_0.3": ev.metrics["background_rejection"],
                   "train_seconds": time.perf_counter() - t0}
            results[name].append(row)
            print(f"{name:<40} seed {seed}: AUC {row['auc']:.4f}, "
                  f"1/eps_B(0.3) {row['rejection_at_0.3']:.1f} "
                  f"({row['train_seconds']:.0f} s)", flush=True)
    print(f"\n{'images':<40} {'AUC mean':>9} {'sd':>7} {'1/eps_B mean':>13} {'sd':>6}")
    summary = {}
    for name, rows in results.items():
        aucs = [r["auc"] for r in rows]
        rej = [r["rejection_at_0.3"] for r in rows]
        sd = (lambda v: statistics.stdev(v) if len(v) > 1 else 0.0)
        summary[name] = {"auc_mean": statistics.mean(aucs), "auc_sd": sd(aucs),
                         "rejection_mean": statistics.mean(rej), "rejection_sd": sd(rej)}
        s = summary[name]
        print(f"{name:<40} {s['auc_mean']:>9.4f} {s['auc_sd']:>7.4f} "
              f"{s['rejection_mean']:>13.1f} {s['rejection_sd']:>6.1f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": cpu_name(), "counts": counts, "epochs": args.epochs,
                       "results": results, "summary": summary}, f, indent=1)


if __name__ == "__main__":
    main()
