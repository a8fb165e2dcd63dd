"""Does colour help? The default CNN on pT images against three-channel images.

A script, not a test (benchmarks/ stays out of the test run; it trains six
networks, tens of minutes on two cores)::

    python benchmarks/bench_colour.py INPUT [MORE ...] [--epochs 5]
        [--seeds 0,1,2] [--channels charged_pt,neutral_pt,charged_count]
        [--rows pt,colour,pfn] [--particles 64] [--npix N] [--work DIR] [--json PATH]

Inputs are either quark/gluon jets in EnergyFlow's layout (``.npz``, as
``jetimg simulate --layout qg`` writes them) or JetClass-layout ROOT files
(files, folders of them or glob patterns, as ``jetimg simulate --layout
jetclass`` writes them: several classes). Make them once and keep them
outside the repository: simulation runs at tens of jets per second. Their
rows are shuffled with a fixed seed and split 60/20/20 into training,
validation and test files of the same layout (in ``--work``); each split is
built twice, into pT images (``normalise="sum"``, one channel) and into
``--channels`` images, with the same pixels otherwise (quark/gluon: R = 0.4
jets, ``--npix`` 33 pixels of 0.8/33; JetClass: R = 0.8, ``--npix`` 40 of
the default recipe's pixel). For each seed the default CNN (``--arch
challenge``) is trained on each with the same jets, epochs, batch size and
seed, keeping the best epoch by validation loss, and evaluated on the test
jets.

Quark/gluon: AUC and the gluon rejection 1/eps_B at a quark efficiency
eps_S = 0.3 (quarks are label 1, the "signal"). JetClass: a softmax over the
ten classes (``label_names``), the accuracy, the one-vs-rest AUC of each
class present, and JetClass's rejection of QCD for each signal class X at
eps_X = 50 % (99 % Hqql, 99.5 % Tbl) with s_X / (s_X + s_QCD)
(arXiv:2202.03772's table of JetClass results;
:func:`jetimg.metrics.jetclass_rejections`). The tables give each figure's
mean and standard deviation over seeds, and each seed's value in the JSON.
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import time

import numpy as np

import jetimg
from bench_startup import cpu_name  # benchmarks/ is the script's folder
from jetimg.io.writers.qg import write_qg


def read_qg(inputs):
    """(X, y) of EnergyFlow .npz files, padded to the widest."""
    xs, ys = [], []
    for path in inputs:
        with np.load(path) as z:
            xs.append(z["X"])
            ys.append(z["y"])
    width = max(x.shape[1] for x in xs)
    X = np.concatenate([np.pad(x, ((0, 0), (0, width - x.shape[1]), (0, 0))) for x in xs])
    return X, np.concatenate(ys)


def read_jetclass(inputs):
    """(jets (N, M, 4), labels (N,), kinds (N, M)) of JetClass-layout ROOT files."""
    from jetimg.io import open_inputs

    paths = [str(pathlib.Path(p) / "*.root") if pathlib.Path(p).is_dir() else str(p)
             for p in inputs]
    with open_inputs(paths) as source:
        jets, labels = source.read(0, source.n_rows)
        kinds = source.read_kinds(0, source.n_rows)
    return jets, labels, kinds


def split_files(inputs, work, seed, layout):
    """Training, validation and test files (``layout``'s) of the shuffled rows of ``inputs``."""
    from jetimg.io.writers.jetclass import write_jetclass

    arrays = read_qg(inputs) if layout == "qg" else read_jetclass(inputs)
    order = np.random.default_rng(seed).permutation(len(arrays[1]))
    a, b = int(0.6 * len(order)), int(0.8 * len(order))
    splits = {"train": order[:a], "val": order[a:b], "test": order[b:]}
    files = {}
    for name, rows in splits.items():
        if layout == "qg":
            files[name] = work / f"qg_{name}.npz"
            write_qg(files[name], arrays[0][rows], arrays[1][rows], compressed=False)
        else:
            files[name] = work / f"jetclass_{name}.root"
            jets, labels, kinds = (x[rows] for x in arrays)
            write_jetclass(files[name], jets, labels, kinds=kinds)
    return files, {name: int(len(rows)) for name, rows in splits.items()}


def figures(evaluation, layout):
    """The test figures of one trained network: flat names -> values."""
    m = evaluation.metrics
    if layout == "qg":
        return {"auc": m["auc"], "rejection_at_0.3": m["background_rejection"]}
    row = {"accuracy": m["accuracy"], "auc_mean": m["auc_mean"]}
    row.update({f"auc {name}": v for name, v in m["auc"].items()})
    row.update({f"1/eps_QCD {name} @{m['signal_efficiency'][name]:.1%}": v
                for name, v in m["background_rejection"].items()})
    row["n_qcd"] = m["n_per_class"].get("QCD", 0)     # inf above: no QCD jet of these passed
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs", nargs="+")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--channels", default="charged_pt,neutral_pt,charged_count")
    parser.add_argument("--rows", default="pt,colour,pfn",
                        help="rows to run: pt (pT images), colour (--channels images), "
                             "pfn (a Particle Flow Network on --particles particles)")
    parser.add_argument("--particles", type=int, default=64,
                        help="pfn row: the leading particles per jet (default 64)")
    parser.add_argument("--npix", type=int, default=None,
                        help="image side (default 33 for quark/gluon, 40 for JetClass)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--work", type=pathlib.Path, default=pathlib.Path("bench_data/colour"))
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    seeds = [int(s) for s in args.seeds.split(",")]
    layout = "qg" if all(str(p).endswith(".npz") for p in args.inputs) else "jetclass"
    if layout == "qg":
        # EnergyFlow's jets are R = 0.4: a 33 x 33 grid of 0.8/33 covers the jet
        npix = args.npix or 33
        pixels = {"npix": npix, "pixel_size": 0.8 / npix}
    else:
        npix = args.npix or 40
        pixels = {"npix": npix}                    # R = 0.8: the default recipe's pixels
    rows = args.rows.split(",")
    unknown = sorted(set(rows) - {"pt", "colour", "pfn"})
    if unknown:
        parser.error(f"--rows: unknown row {unknown[0]!r} (pt, colour, pfn)")
    recipes = {"pt": jetimg.Recipe(**pixels),
               args.channels: jetimg.Recipe(**pixels, channels=args.channels),
               "pfn": jetimg.Recipe(**pixels, particles=args.particles)}
    tags = {"pt": "pt", args.channels: "colour", "pfn": "pfn"}
    recipes = {name: r for name, r in recipes.items() if tags[name] in rows}
    files, counts = split_files(args.inputs, args.work, seed=12345, layout=layout)
    print(f"# jetimg {jetimg.__version__}, {cpu_name()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}, {datetime.date.today()}")
    print(f"# {counts} jets ({layout}) of {', '.join(map(str, args.inputs))}; npix {npix}, "
          f"pixel {next(iter(recipes.values())).pixel_size}; pfn: {args.particles} particles; "
          f"{args.epochs} epochs, batch {args.batch_size}, seeds {seeds}", flush=True)
    results = {name: [] for name in recipes}
    for name, recipe in recipes.items():
        tag = tags[name]
        arch = "pfn" if tag == "pfn" else "challenge"
        stores = {}
        for split, path in files.items():
            stores[split] = args.work / f"{split}_{tag}.zarr"
            jetimg.build(path, stores[split], recipe=recipe, overwrite=True)
        for seed in seeds:
            model = args.work / f"{arch}_{tag}_seed{seed}.keras"
            t0 = time.perf_counter()
            jetimg.train.train(stores["train"], stores["val"], model, epochs=args.epochs,
                               batch_size=args.batch_size, seed=seed, log=False, plot=False,
                               overwrite=True, patience=args.epochs, arch=arch)
            ev = jetimg.train.evaluate(stores["test"], model=model)
            row = {"seed": seed, **figures(ev, layout),
                   "train_seconds": time.perf_counter() - t0}
            results[name].append(row)
            print(f"{name:<40} seed {seed}: " + ", ".join(
                f"{k} {v:.4g}" for k, v in row.items() if k != "seed"), flush=True)
    # an infinite rejection (no QCD jet passes the cut) makes its mean inf, its sd nan
    with np.errstate(invalid="ignore"):
        summary = {name: {k: (float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1
                              else 0.0)
                          for k in rows[0] if k not in ("seed", "train_seconds")
                          for v in [[r[k] for r in rows]]}
                   for name, rows in results.items()}
    names = list(summary)
    print(f"\n{'figure (mean +- sd over seeds)':<34}" + "".join(f"{n[:30]:>32}" for n in names))
    for k in summary[names[0]]:
        print(f"{k:<34}" + "".join(f"{summary[n][k][0]:>22.4g} +- {summary[n][k][1]:<7.2g}"
                                    for n in names))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": cpu_name(), "layout": layout, "counts": counts,
                       "epochs": args.epochs, "npix": npix, "particles": args.particles,
                       "results": results,
                       "summary": summary}, f, indent=1)


if __name__ == "__main__":
    main()
