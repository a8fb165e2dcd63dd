"""How taggers hold up under systematic shifts: default against hardened training.

A script, not a test (benchmarks/ stays out of the test run; each part trains
several networks, minutes each on two cores)::

    python benchmarks/bench_robustness.py --parts a,b,d --train TRAIN.h5 --val VAL.h5
        --test TEST.h5 [--n-train 30000] [--epochs 5] [--seeds 0,1,2]
    python benchmarks/bench_robustness.py --parts c --jetclass DIR [--epochs 5]

Inputs are constituents files of simulated top and QCD jets (as
``jetimg simulate`` writes them; bench_train.py caches three in
``bench_data/``); the first ``--n-train`` rows of TRAIN are used. The parts
(docs/systematics.md shows their figures):

* (a) GeV images (``--normalise none``): ``default`` (nominal jets) against
  ``hardened`` (``--vary scale=0.9:1.1``, a jet energy scale drawn per jet
  and epoch), ``--seeds`` each (their spread is the yardstick), scanned at
  scale 0.90, 0.95, 1.00, 1.05, 1.10 (``jetimg robustness``, seed 0).
* (b) sum-normalised images: ``default`` against ``hardened``
  (``smear=0:0.3,drop=0:0.3``), the first seed, scanned in smear 0 ... 0.3
  and in drop 0 ... 0.3.
* (c) JetClass-layout jets (``--jetclass``: training, validation and test
  ROOT files in one folder, as bench_colour.py splits them, named
  ``jetclass_{train,val,test}.root``), three-channel images
  (charged_pt, neutral_pt, charged_count): ``default`` against ``hardened``
  (``neutral_scale=0.9:1.1``), the first seed, scanned in neutral_scale 0.90
  ... 1.10 (accuracy and JetClass's rejections).
* (d) the pixel threshold: sum-normalised images trained at thresholds 0, 1
  and 3 GeV (first seed), each tested at every threshold.

Every network is the default CNN (``--arch challenge``), Adam 1e-3, batch
128, ``--epochs`` epochs, the best epoch by validation loss. Writes
``results/bench_robustness_<part>.json`` and ``.txt`` and the figures
``docs/img/systematics_<part>.png``. Each part reports, per arm, the nominal
AUC and the worst AUC over its scan, with the spread over seeds where there
are several.
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
FIGURES = ROOT / "docs" / "img"
SCALES = [0.9, 0.95, 1.0, 1.05, 1.1]
SPREAD = [0.0, 0.1, 0.2, 0.3]
THRESHOLDS = [0.0, 1.0, 3.0]


def cpu():
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name")) + f", {os.cpu_count()} cores"
    except (OSError, StopIteration):
        return f"{platform.processor()}, {os.cpu_count()} cores"


def subset(path, n, work):
    """The first ``n`` rows of a top-tagging file as a file of their own (cached)."""
    import jetimg
    from jetimg.io.writers.toptag import write_toptag

    out = work / f"{pathlib.Path(path).stem}_first{n}.h5"
    if not out.exists():
        with jetimg.open_jets(path) as source:
            jets, labels = source.read(0, min(n, source.n_rows))
        write_toptag(out, jets, labels)
    return out


def train(name, train_file, val_file, work, recipe, vary, seed, epochs, log):
    """One default CNN (cached by name), its seconds."""
    from jetimg.train import train as run

    model = work / f"{name}.keras"
    if model.exists():
        return model
    t0 = time.perf_counter()
    result = run(train_file, val_file, model, epochs=epochs, batch_size=128, seed=seed,
                 recipe=recipe, vary=vary, log=False, plot=False, patience=epochs)
    log(f"trained {name}: {result.n_train} jets, best epoch {result.best_epoch} "
        f"(val_loss {result.best_val_loss:.4f}) in {time.perf_counter() - t0:.0f} s")
    return model


def scan_summary(scan, metric):
    """Per group: the nominal mean +- sd and the worst mean over the scan."""
    out = {}
    ref = scan.nominal_index if scan.nominal_index is not None else 0
    for group in scan.groups:
        values = scan.summary[group][metric]
        means = [m for m, _ in values]
        worst = int(np.argmin(means))
        out[group] = {"nominal": values[ref], "worst": values[worst],
                      "worst_at": scan.values[worst]}
    return out


def report(part, scan, metric, log, extra=None):
    """The scan's table, figure and JSON; the nominal and worst figure per arm."""
    from jetimg.plots.robustness import plot_robustness
    from jetimg.plots.style import save_figure

    FIGURES.mkdir(parents=True, exist_ok=True)
    figure = FIGURES / f"systematics_{part}.png"
    save_figure(plot_robustness(scan), figure, overwrite=True, dpi=110)
    summary = scan_summary(scan, metric)
    for group, s in summary.items():
        log(f"({part}) {group:<9} {metric} nominal {s['nominal'][0]:.4f} +- "
            f"{s['nominal'][1]:.4f}, worst {s['worst'][0]:.4f} +- {s['worst'][1]:.4f} "
            f"at {scan.name} {s['worst_at']:g}")
    for group in scan.groups:
        for i, value in enumerate(scan.values):
            cells = ", ".join(f"{m} {scan.summary[group][m][i][0]:.4g} +- "
                              f"{scan.summary[group][m][i][1]:.2g}" for m in scan.metrics)
            log(f"({part}) {group:<9} {scan.name} {value:<5g} {cells}")
    return {"part": part, "scan": scan.to_json(), "summary": summary, "figure": str(figure),
            **(extra or {})}


def part_a_b_d(args, parts, work, log):
    import jetimg
    from jetimg.train.robustness import robustness

    train_file = subset(args.train, args.n_train, work)
    out = {}
    if "a" in parts:
        recipe = jetimg.Recipe(normalise="none")
        groups = {"default": [], "hardened": []}
        for seed in args.seeds:
            groups["default"].append(train(f"a_default_s{seed}", train_file, args.val, work,
                                           recipe, None, seed, args.epochs, log))
            groups["hardened"].append(train(f"a_hardened_s{seed}", train_file, args.val, work,
                                            recipe, "scale=0.9:1.1", seed, args.epochs, log))
        scan = robustness(groups, args.test, ("scale", SCALES), seed=0)
        out["a"] = report("a", scan, "auc", log)
    if "b" in parts:
        recipe = jetimg.Recipe()
        seed = args.seeds[0]
        groups = {"default": [train(f"b_default_s{seed}", train_file, args.val, work, recipe,
                                    None, seed, args.epochs, log)],
                  "hardened": [train(f"b_hardened_s{seed}", train_file, args.val, work, recipe,
                                     "smear=0:0.3,drop=0:0.3", seed, args.epochs, log)]}
        for name in ("smear", "drop"):
            scan = robustness(groups, args.test, (name, SPREAD), seed=0)
            out[f"b_{name}"] = report(f"b_{name}", scan, "auc", log)
    if "d" in parts:
        out["d"] = part_d(args, train_file, work, log)
    return out


def part_d(args, train_file, work, log):
    """Models trained at each threshold, each scored at every threshold."""
    import dataclasses

    import jetimg
    from jetimg import metrics
    from jetimg.streams.images import JetImages
    from jetimg.train import load_model
    from jetimg.train.scoring import _score, _signal

    seed = args.seeds[0]
    table = {}
    for t_train in THRESHOLDS:
        model = train(f"d_threshold{t_train:g}_s{seed}", train_file, args.val, work,
                      jetimg.Recipe(threshold=t_train), None, seed, args.epochs, log)
        trained = load_model(model)
        recipe = jetimg.Recipe.from_attrs(trained.metadata["recipe"])
        row = {}
        for t_test in THRESHOLDS:
            source = JetImages(args.test, dataclasses.replace(recipe, threshold=t_test))
            try:
                probabilities, labels, valid = _score(trained, source, 1000)
            finally:
                source.close()
            keep = valid != 0
            scores = _signal(probabilities)[keep]
            wp = metrics.working_point(labels[keep], scores, 0.3)
            row[t_test] = {"auc": metrics.auc(labels[keep], scores),
                           "rejection@0.3": wp["rejection"],
                           "passing@0.3": wp["background_passing"]}
            log(f"(d) trained at {t_train:g} GeV, tested at {t_test:g} GeV: AUC "
                f"{row[t_test]['auc']:.4f}, 1/eps_B@0.3 {wp['rejection']:.1f} "
                f"({wp['background_passing']} QCD passing)")
        table[t_train] = row
    return {"part": "d", "thresholds": THRESHOLDS, "table": table}


def part_c(args, work, log):
    import jetimg
    from jetimg.train.robustness import robustness

    folder = pathlib.Path(args.jetclass)
    files = {s: folder / f"jetclass_{s}.root" for s in ("train", "val", "test")}
    recipe = jetimg.Recipe(channels="charged_pt,neutral_pt,charged_count")
    seed = args.seeds[0]
    groups = {"default": [train(f"c_default_s{seed}", files["train"], files["val"], work,
                                recipe, None, seed, args.epochs, log)],
              "hardened": [train(f"c_hardened_s{seed}", files["train"], files["val"], work,
                                 recipe, "neutral_scale=0.9:1.1", seed, args.epochs, log)]}
    scan = robustness(groups, files["test"], ("neutral_scale", SCALES), seed=0)
    return {"c": report("c", scan, "accuracy", log)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default="a,b,c,d")
    parser.add_argument("--train", default=str(ROOT / "bench_data/sim_topqcd_n50000_seed101.h5"))
    parser.add_argument("--val", default=str(ROOT / "bench_data/sim_topqcd_n10000_seed102.h5"))
    parser.add_argument("--test", default=str(ROOT / "bench_data/sim_topqcd_n20000_seed103.h5"))
    parser.add_argument("--jetclass", default=str(ROOT / "bench_data/colour_pfn"))
    parser.add_argument("--n-train", type=int, default=30_000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--work", type=pathlib.Path, default=ROOT / "bench_data/robustness")
    parser.add_argument("--results", type=pathlib.Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.seeds = [int(s) for s in args.seeds.split(",")]
    parts = args.parts.split(",")
    args.work.mkdir(parents=True, exist_ok=True)
    args.results.mkdir(parents=True, exist_ok=True)
    lines = []

    def log(line):
        print(line, flush=True)
        lines.append(line)

    import jetimg

    log(f"# jetimg {jetimg.__version__}, {cpu()}, python {platform.python_version()}, "
        f"{datetime.date.today()}; parts {parts}, {args.epochs} epochs, seeds {args.seeds}, "
        f"{args.n_train} training jets; {' '.join(sys.argv)}")
    out = {}
    if set(parts) & {"a", "b", "d"}:
        out.update(part_a_b_d(args, parts, args.work, log))
    if "c" in parts:
        out.update(part_c(args, args.work, log))
    for part, record in out.items():
        record["cpu"] = cpu()
        path = args.results / f"bench_robustness_{part}.json"
        path.write_text(json.dumps(record, indent=1, default=float) + "\n")
    tag = "_".join(parts)
    (args.results / f"bench_robustness_{tag}.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
