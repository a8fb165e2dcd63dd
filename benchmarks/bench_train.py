"""Train taggers on simulated top and QCD jets and score an independent test set.

A script, not a test (benchmarks/ stays out of the test run). Two modes.

One run of one image CNN (the default)::

    python benchmarks/bench_train.py [--n-train 50000] [--n-val 10000] [--n-test 20000]
                                     [--epochs 6] [--batch-size 128] [--arch challenge]
                                     [--seed 0] [--data-dir DIR] [--out DIR] [--results DIR]

The table of several architectures and seeds (``--archs`` or ``--seeds``)::

    python benchmarks/bench_train.py --archs challenge,dnn,pfn,lola --seeds 0,1,2
                                     [--particles 30] [--n-train ...] [--epochs 6] ...

Data: ``jetimg simulate`` (Pythia 8 + FastJet, top and QCD jets, pT 550-650
GeV, |eta| < 2) with seeds 101 (training), 102 (validation) and 103 (test),
each made once and cached in ``DIR`` (default ``bench_data/``, git-ignored;
about 60 jets/s per core), then ``jetimg build`` into 40 x 40 Zarr image
stores (default recipe), also cached: ``*_img.zarr``, or ``*_img_p{P}.zarr``
with ``--particles P`` (the same images plus the P leading particles; a store
with particles serves the CNNs too).

Measured, on the CPU (Keras 3; jetimg picks the backend, docs/training.md):

One run (``--arch``, ``--seed``):

* the input pipeline alone: ``StoreDataset`` over the training store
  (shuffled, batch size as in training, one thread, no training), one
  whole epoch, images/s; and ``JetDataset`` (images made on the fly) on the
  validation file;
* training: ``jetimg.train.train`` with the default CNN, Adam, early
  stopping (patience 5) for at most ``--epochs`` epochs; training images/s
  per epoch (the training part, validation excluded; epoch 1 also compiles);
* the best model on the test store: AUC, accuracy and 1/eps_B at eps_S = 0.3,
  beside arXiv:1902.09914's CNN (AUC 0.981, 1/eps_B ~ 900 with 1.2M training
  jets; fewer jets give less).

Writes ``bench_train.txt`` and ``.json`` into ``--results`` (default
``benchmarks/results/``) and the model, log, history plot, ROC and score
plots under ``--out`` (default ``bench_data/bench_train/``).

The table (``--archs A,B,... --seeds S,T,...``; either alone takes the other's
default: archs challenge,dnn,pfn,lola, seeds 0,1,2):

* the stores are built once; with any particle architecture (dnn, pfn, lola)
  among the archs, with ``--particles P`` (default 30): dnn reads the 30
  leading particles (log_pt_rel, x, y), pfn every stored feature of the P
  stored particles, lola the four-vectors of the P stored particles (each
  architecture's defaults, docs/training.md "Particle taggers");
* each arch with each seed: one ``jetimg.train.train`` call (Adam lr 1e-3,
  early stopping with patience 5, at most ``--epochs`` epochs, the best epoch
  by validation loss kept), then the model on the test store
  (``jetimg.train.evaluate``);
* per run, from ``jetimg.metrics``: AUC, accuracy (cut at 0.5), 1/eps_B at
  eps_S = 0.3 and 0.5, each with the number of QCD test jets passing the cut
  (the cut ``score >= t`` at the first ROC point reaching eps_S, the point
  ``background_rejection`` interpolates to: its eps_B times the QCD jets), the
  trainable parameters and the training jets/s (``TrainResult.images_per_second``:
  the training steps of every epoch, validation and the steps that compiled
  left out); then the mean +- sd (ddof 1) over the seeds of
  each arch. An infinite 1/eps_B (no QCD jet passes) makes its mean inf.

Writes ``bench_train_archs.txt`` and ``.json`` into ``--results`` (the JSON
also after each run, ``"complete": false`` until the last) and the models,
logs and history plots under ``--out`` (default
``bench_data/bench_train_archs/``).
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import subprocess
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SEEDS = {"train": 101, "val": 102, "test": 103}
TABLE_ARCHS = ("challenge", "dnn", "pfn", "lola")
TABLE_SEEDS = (0, 1, 2)
#: Particles per jet of the table's stores when a particle architecture is among the archs:
#: what dnn reads (30); pfn and lola read every stored particle.
DEFAULT_PARTICLES = 30
#: The signal efficiencies of the table's rejections.
WORKING_POINTS = (0.3, 0.5)


def jetimg_command():
    return [str(pathlib.Path(sys.executable).with_name("jetimg"))]


def simulated(data_dir, name, n):
    """The cached Pythia file of ``name`` (made with ``jetimg simulate`` when missing)."""
    path = data_dir / f"sim_topqcd_n{n}_seed{SEEDS[name]}.h5"
    if not path.exists():
        print(f"simulating {n} top+QCD jets (seed {SEEDS[name]}) -> {path} "
              f"(about {n / 60 / 60:.0f} min on one core)", flush=True)
        subprocess.run(jetimg_command() + ["simulate", "-o", str(path), "-n", str(n),
                                           "--process", "top,qcd", "--seed",
                                           str(SEEDS[name]), "-q"], check=True)
    return path


def image_store(jets_path, particles=None):
    """The cached 40 x 40 Zarr image store of a jets file (``jetimg build``), with the
    ``particles`` leading particles per jet when given (``jetimg build --particles``)."""
    import jetimg

    suffix = "_img.zarr" if particles is None else f"_img_p{particles}.zarr"
    store = jets_path.with_name(jets_path.stem + suffix)
    if not store.exists():
        options = {} if particles is None else {"particles": particles}
        result = jetimg.build(jets_path, store, **options)
        print(f"built {store.name}: {result.n_jets} jets in {result.seconds:.1f} s", flush=True)
    return store


def simulated_stores(args, particles=None):
    """The three cached jets files and their stores, ``{name: path}`` each."""
    files = {name: simulated(args.data_dir, name, n) for name, n in
             (("train", args.n_train), ("val", args.n_val), ("test", args.n_test))}
    return files, {name: image_store(path, particles) for name, path in files.items()}


def machine():
    """The processor (its model name where /proc/cpuinfo gives one) and the cores."""
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            name = next(line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{name}, {os.cpu_count()} cores"


def versions(keras):
    import jetimg

    return {"python": platform.python_version(), "numpy": np.__version__,
            "keras": keras.__version__, "backend": keras.backend.backend(),
            "jetimg": jetimg.__version__}


def progress_lines(epoch_lines, prefix=""):
    """``train(progress=...)``: prints a line every tenth of an epoch and each epoch's
    summary (:class:`jetimg.train.ProgressLines`), and keeps the summaries in
    ``epoch_lines``."""
    from jetimg.train import ProgressLines

    lines = ProgressLines(write=lambda line: print(prefix + line, flush=True))

    def progress(status):
        lines(status)
        if status.kind == "epoch":
            epoch_lines.append(status.line)

    return progress


def integers(text, option, parser):
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        parser.error(f"{option} {text}: give integers separated by commas")


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="One run: --arch, --seed (the default). The table: --archs and/or --seeds.")
    parser.add_argument("--n-train", type=int, default=50_000)
    parser.add_argument("--n-val", type=int, default=10_000)
    parser.add_argument("--n-test", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--arch", default=None, help="one run: an image CNN (default challenge)")
    parser.add_argument("--seed", type=int, default=None, help="one run: the seed (default 0)")
    parser.add_argument("--archs", default=None,
                        help=f"the table: architectures, comma-separated (default "
                        f"{','.join(TABLE_ARCHS)})")
    parser.add_argument("--seeds", default=None,
                        help=f"the table: seeds, comma-separated (default "
                        f"{','.join(map(str, TABLE_SEEDS))})")
    parser.add_argument("--particles", type=int, default=None,
                        help=f"particles per jet in the stores (jetimg build --particles); "
                        f"the table's default with a particle arch: {DEFAULT_PARTICLES}")
    parser.add_argument("--data-dir", type=pathlib.Path, default=ROOT / "bench_data")
    parser.add_argument("--out", type=pathlib.Path, default=None,
                        help="models and plots (default DATA_DIR/bench_train or "
                        "DATA_DIR/bench_train_archs)")
    parser.add_argument("--results", type=pathlib.Path, default=RESULTS,
                        help="where the .txt and .json go (default benchmarks/results)")
    args = parser.parse_args(argv)
    if args.particles is not None and args.particles < 1:
        parser.error(f"--particles {args.particles}: give at least 1")
    if args.archs is not None or args.seeds is not None:
        if args.arch is not None or args.seed is not None:
            parser.error("--arch and --seed make one run, --archs and --seeds the table: "
                         "give one pair")
        return table(args, parser)
    args.arch = "challenge" if args.arch is None else args.arch
    args.seed = 0 if args.seed is None else args.seed
    if args.arch not in ("challenge", "deeptop"):
        parser.error(f"--arch {args.arch}: one run trains an image CNN (challenge or "
                     f"deeptop); the table (--archs {args.arch}) takes every architecture")
    return single(args)


def single(args):
    """One image CNN, one seed: training, input pipeline, test set (the default call)."""
    out = args.out or args.data_dir / "bench_train"
    out.mkdir(parents=True, exist_ok=True)
    args.data_dir.mkdir(parents=True, exist_ok=True)

    import jetimg
    from jetimg import train as T
    from jetimg.train.models import _keras

    keras = _keras()
    files, stores = simulated_stores(args, args.particles)
    load = os.getloadavg()

    # -- the input pipeline on its own ----------------------------------------
    ds = T.StoreDataset(stores["train"], batch_size=args.batch_size, seed=args.seed)
    pipeline = T.pipeline_rate(ds)
    otf = T.JetDataset(files["val"], batch_size=args.batch_size, seed=args.seed)
    pipeline_otf = T.pipeline_rate(otf)
    print(f"input pipeline: StoreDataset {pipeline:,.0f} images/s (one thread, shuffled, "
          f"{ds.reads} chunk reads for {ds.n_jets} jets); JetDataset (on the fly) "
          f"{pipeline_otf:,.0f} images/s", flush=True)

    # -- training ----------------------------------------------------------------
    model_path = out / f"{args.arch}.keras"
    epoch_lines = []
    progress = progress_lines(epoch_lines)
    started = time.perf_counter()
    result = T.train(stores["train"], stores["val"], model_path, epochs=args.epochs,
                     batch_size=args.batch_size, arch=args.arch, seed=args.seed,
                     overwrite=True, progress=progress)
    train_seconds = time.perf_counter() - started

    # -- the independent test set ----------------------------------------------------
    started = time.perf_counter()
    evaluation = T.evaluate(stores["test"], model=result.output)
    predict_seconds = time.perf_counter() - started
    m = evaluation.metrics
    from jetimg.plots.style import save_figure
    from jetimg.plots.training import plot_roc, plot_scores

    save_figure(plot_roc(evaluation.labels, evaluation.scores), out / "test_roc.png",
                overwrite=True)
    save_figure(plot_scores(evaluation.labels, evaluation.scores), out / "test_scores.png",
                overwrite=True)
    ratio = pipeline / result.images_per_second

    record = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "load_average_start": load,
        "versions": {"python": platform.python_version(), "numpy": np.__version__,
                     "keras": keras.__version__, "backend": keras.backend.backend(),
                     "jetimg": jetimg.__version__},
        "data": {name: {"file": str(files[name].name), "store": str(stores[name].name),
                        "jets": len(jetimg.open_store(stores[name]))} for name in files},
        "arch": args.arch, "epochs_max": args.epochs, "batch_size": args.batch_size,
        "seed": args.seed, "input_scale": result.input_scale,
        "epochs_run": result.epochs_run, "best_epoch": result.best_epoch,
        "history": result.history, "epoch_lines": epoch_lines,
        "train_seconds": train_seconds,
        "train_images_per_second": result.images_per_second,
        "pipeline_images_per_second": pipeline,
        "pipeline_otf_images_per_second": pipeline_otf,
        "pipeline_over_training": ratio,
        "test": {k: (None if isinstance(v, float) and np.isinf(v) else v)
                 for k, v in m.items()},
        "predict_seconds": predict_seconds,
        "paper_cnn": T.PAPER_CNN,
    }
    rejection = m["background_rejection"]
    passed = m["n_background"] / rejection           # QCD jets passing the eps_S = 0.3 cut
    lines = [
        "jetimg CNN training benchmark (benchmarks/bench_train.py)",
        f"  date          {record['date']}",
        f"  machine       {record['machine']}; load average at start "
        f"{' '.join(f'{x:.2f}' for x in load)} (shared machine)",
        f"  versions      " + ", ".join(f"{k} {v}" for k, v in record["versions"].items()),
        f"  data          Pythia 8 top+QCD (jetimg simulate, pT 550-650 GeV): train "
        f"{record['data']['train']['jets']} (seed 101), val {record['data']['val']['jets']} "
        f"(seed 102), test {record['data']['test']['jets']} (seed 103); 40x40 default recipe",
        f"  model         {args.arch} CNN, Adam lr 1e-3, batch {args.batch_size}, at most "
        f"{args.epochs} epochs (patience 5), seed {args.seed}; input scale "
        f"{result.input_scale:.1f} (1/RMS pixel)",
        "",
        *[f"  {line}" for line in epoch_lines],
        "",
        f"training      {result.epochs_run} epochs in {train_seconds:.0f} s; best epoch "
        f"{result.best_epoch} (val_loss {result.best_val_loss:.4f}, val_acc "
        f"{result.best_val_accuracy:.4f})",
        f"train rate    {result.images_per_second:,.0f} images/s (training steps; the "
        "steps that compiled left out)",
        f"pipeline      {pipeline:,.0f} images/s StoreDataset alone, one thread = "
        f"{ratio:.0f}x the training rate (target >= 10x); on the fly (JetDataset) "
        f"{pipeline_otf:,.0f} images/s",
        f"test set      {m['n_jets']} jets: AUC {m['auc']:.4f}, accuracy {m['accuracy']:.4f}, "
        f"1/eps_B at eps_S=0.3 {'inf' if np.isinf(rejection) else f'{rejection:.1f}'}"
        f" (predict {m['n_jets'] / predict_seconds:,.0f} jets/s)",
        f"              1/eps_B rests on {passed:.0f} of {m['n_background']} QCD jets passing "
        f"the cut: +-{100 / np.sqrt(max(passed, 1)):.0f}% (Poisson)",
        f"reference     arXiv:1902.09914 CNN: AUC {T.PAPER_CNN['auc']}, 1/eps_B ~ "
        f"{T.PAPER_CNN['background_rejection']:.0f} at eps_S = 0.3, trained on 1.2M Delphes "
        "jets. Not like for like: fewer training jets and epochs here weaken the tagger,",
        "              while these Pythia jets (no MPI, pile-up or detector simulation) "
        "are easier to separate",
    ]
    text = "\n".join(lines)
    print("\n" + text)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "bench_train.txt").write_text(text + "\n")
    (args.results / "bench_train.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"\nwrote {args.results / 'bench_train.txt'} and .json; model and plots in {out}")



# -- the table: several architectures and seeds ---------------------------------

def working_point(labels, scores, signal_efficiency):
    """:func:`jetimg.metrics.working_point`, its counts under this table's names
    (``qcd_passing``: the QCD jets passing the cut)."""
    from jetimg import metrics

    wp = metrics.working_point(labels, scores, signal_efficiency)
    wp["qcd_passing"] = wp.pop("background_passing")
    wp["qcd_passing_interpolated"] = wp.pop("background_passing_interpolated")
    return wp


def trainable_parameters(model_path):
    from jetimg.train import load_model

    model = load_model(model_path).model
    return int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))


def mean_sd(values):
    """Mean and sample sd (ddof 1; None for one value); inf where any value is inf."""
    values = np.asarray(values, dtype=float)
    if np.isinf(values).any():
        return float("inf"), None
    return float(values.mean()), (float(values.std(ddof=1)) if len(values) > 1 else None)


def _rejection(value):
    return "inf" if value is None or np.isinf(value) else f"{value:.1f}"


COLUMNS = ("arch", "seed", "AUC", "accuracy", "1/eps_B@0.3 (QCD pass)",
           "1/eps_B@0.5 (QCD pass)", "params", "train jets/s", "epochs (best)", "train s")
WIDTHS = (10, 5, 17, 17, 26, 26, 9, 13, 13, 8)


def _row(cells):
    return "  ".join(f"{c:<{w}}" if i < 2 else f"{c:>{w}}"
                     for i, (c, w) in enumerate(zip(cells, WIDTHS))).rstrip()


def run_row(run):
    wp = {w["signal_efficiency"]: w for w in run["working_points"]}
    return _row([run["arch"], str(run["seed"]), f"{run['auc']:.4f}", f"{run['accuracy']:.4f}",
                 *[f"{_rejection(wp[e]['rejection'])} ({wp[e]['qcd_passing']})"
                   for e in WORKING_POINTS],
                 f"{run['parameters']:,}", f"{run['train_jets_per_second']:,.0f}",
                 f"{run['epochs_run']} ({run['best_epoch']})", f"{run['train_seconds']:.0f}"])


def summarise(runs):
    """Per arch, mean and sd over its seeds of each figure of the table."""
    summary = {}
    for arch in dict.fromkeys(r["arch"] for r in runs):
        rows = [r for r in runs if r["arch"] == arch]
        figures = {k: mean_sd([r[k] for r in rows])
                   for k in ("auc", "accuracy", "train_jets_per_second", "train_seconds")}
        for e in WORKING_POINTS:
            wps = [next(w for w in r["working_points"] if w["signal_efficiency"] == e)
                   for r in rows]
            figures[f"rejection@{e}"] = mean_sd([w["rejection"] for w in wps])
            figures[f"qcd_passing@{e}"] = mean_sd([w["qcd_passing"] for w in wps])
        summary[arch] = {"seeds": [r["seed"] for r in rows],
                         "parameters": sorted({r["parameters"] for r in rows}),
                         **{k: {"mean": m, "sd": sd} for k, (m, sd) in figures.items()}}
    return summary


def summary_row(arch, s):
    def pm(key, fmt, inf=False):
        m, sd = s[key]["mean"], s[key]["sd"]
        if inf and np.isinf(m):
            return "inf"
        return f"{m:{fmt}}" + ("" if sd is None else f" +- {sd:{fmt}}")

    params = s["parameters"]
    return _row([arch, "mean", pm("auc", ".4f"), pm("accuracy", ".4f"),
                 *[f"{pm(f'rejection@{e}', '.0f', inf=True)} ({pm(f'qcd_passing@{e}', '.1f')})"
                   for e in WORKING_POINTS],
                 f"{params[0]:,}" if len(params) == 1 else "/".join(map(str, params)),
                 pm("train_jets_per_second", ",.0f"), "", pm("train_seconds", ".0f")])


def table(args, parser):
    """Each arch with each seed on the same stores; one table of the test-set figures."""
    import jetimg
    from jetimg import metrics
    from jetimg import train as T
    from jetimg.train.models import ALL_ARCHS, PARTICLE_ARCHS, _keras

    archs = list(TABLE_ARCHS) if args.archs is None else \
        [a.strip() for a in args.archs.split(",") if a.strip()]
    seeds = list(TABLE_SEEDS) if args.seeds is None else integers(args.seeds, "--seeds", parser)
    for arch in archs:
        if arch not in ALL_ARCHS:
            parser.error(f"--archs: {arch!r} is not an architecture; choose from "
                         f"{', '.join(ALL_ARCHS)}")
    if not archs or len(set(archs)) < len(archs) or len(set(seeds)) < len(seeds):
        parser.error("--archs and --seeds: give each architecture and each seed once")
    particle_archs = [a for a in archs if a in PARTICLE_ARCHS]
    particles = args.particles
    if particles is None and particle_archs:
        particles = DEFAULT_PARTICLES
    out = args.out or args.data_dir / "bench_train_archs"
    out.mkdir(parents=True, exist_ok=True)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    args.results.mkdir(parents=True, exist_ok=True)
    txt_path = args.results / "bench_train_archs.txt"
    json_path = args.results / "bench_train_archs.json"

    keras = _keras()
    started_all = time.perf_counter()
    files, stores = simulated_stores(args, particles)
    load_start = os.getloadavg()
    record = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(), "load_average_start": load_start, "versions": versions(keras),
        "data": {name: {"file": str(files[name].name), "store": str(stores[name].name),
                        "jets": len(jetimg.open_store(stores[name]))} for name in files},
        "particles": particles, "archs": archs, "seeds": seeds, "epochs_max": args.epochs,
        "batch_size": args.batch_size, "patience": 5, "lr": 1e-3,
        "working_points": list(WORKING_POINTS), "complete": False, "runs": [],
    }
    print(f"table: {', '.join(archs)} x seeds {', '.join(map(str, seeds))}, at most "
          f"{args.epochs} epochs each; stores {', '.join(s.name for s in stores.values())}",
          flush=True)
    for arch in archs:
        for seed in seeds:
            model_path = out / f"{arch}_seed{seed}.keras"
            epoch_lines = []
            progress = progress_lines(epoch_lines, prefix=f"{arch} seed {seed}: ")
            started = time.perf_counter()
            result = T.train(stores["train"], stores["val"], model_path, epochs=args.epochs,
                             batch_size=args.batch_size, arch=arch, seed=seed,
                             overwrite=True, progress=progress)
            train_seconds = time.perf_counter() - started
            started = time.perf_counter()
            evaluation = T.evaluate(stores["test"], model=result.output)
            predict_seconds = time.perf_counter() - started
            labels, scores = evaluation.labels, evaluation.scores
            run = {"arch": arch, "seed": seed, "kind": result.kind,
                   "n_particles": result.n_particles, "features": result.features,
                   "n_test": int(len(labels)), "auc": metrics.auc(labels, scores),
                   "accuracy": metrics.accuracy(labels, scores),
                   "working_points": [working_point(labels, scores, e)
                                      for e in WORKING_POINTS],
                   "parameters": trainable_parameters(result.output),
                   "train_jets_per_second": result.images_per_second,
                   "train_seconds": train_seconds, "predict_seconds": predict_seconds,
                   "epochs_run": result.epochs_run, "best_epoch": result.best_epoch,
                   "best_val_loss": result.best_val_loss,
                   "history": result.history, "epoch_lines": epoch_lines,
                   "load_average_end": os.getloadavg()}
            record["runs"].append(run)
            print(run_row(run), flush=True)
            json_path.write_text(json.dumps(_finite(record), indent=1) + "\n")

    record["summary"] = summarise(record["runs"])
    record["load_average_end"] = os.getloadavg()
    record["total_seconds"] = time.perf_counter() - started_all
    record["complete"] = True
    inputs = {}
    for run in record["runs"]:
        if run["kind"] == "particle":
            inputs[run["arch"]] = (f"{run['n_particles']} particles x "
                                   f"{', '.join(run['features'])}")
    lines = [
        "jetimg taggers on simulated top/QCD jets (benchmarks/bench_train.py --archs)",
        f"  date          {record['date']}",
        f"  machine       {record['machine']}; load average at start "
        f"{' '.join(f'{x:.2f}' for x in load_start)}, at the end "
        f"{' '.join(f'{x:.2f}' for x in record['load_average_end'])} (shared machine)",
        "  versions      " + ", ".join(f"{k} {v}" for k, v in record["versions"].items()),
        f"  data          Pythia 8 top+QCD (jetimg simulate, pT 550-650 GeV): train "
        f"{record['data']['train']['jets']} (seed 101), val {record['data']['val']['jets']} "
        f"(seed 102), test {record['data']['test']['jets']} (seed 103); 40x40 default "
        "recipe" + ("" if particles is None else f", --particles {particles}"),
        f"  training      Adam lr 1e-3, batch {args.batch_size}, at most {args.epochs} "
        "epochs, early stopping (patience 5), the best epoch by val_loss kept; seeds "
        f"{', '.join(map(str, seeds))}",
        *[f"  {arch:<13} reads {text}" for arch, text in inputs.items()],
        f"  total         {record['total_seconds']:.0f} s (simulation and builds "
        "included where not cached)",
        "",
        _row(COLUMNS),
        _row(["-" * w for w in WIDTHS]),
    ]
    for arch, s in record["summary"].items():
        lines += [run_row(r) for r in record["runs"] if r["arch"] == arch]
        lines.append(summary_row(arch, s))
    n_qcd = record["runs"][0]["working_points"][0]["n_background"]
    lines += [
        "",
        f"QCD pass: QCD test jets (of {n_qcd}) passing the cut at that eps_S; 1/eps_B rests "
        "on them (Poisson: +-1/sqrt(n)).",
        "params: trainable weights. train jets/s: training steps only (validation and the "
        "steps that compiled left out). train s: the whole jetimg.train.train call.",
        "mean: over the seeds, +- the sample sd (ddof 1). arXiv:1902.09914 (1.2M Delphes "
        "jets): ParticleNet 0.985, PFN 0.982, CNN 0.981, LoLa 0.980, TopoDNN 0.972.",
    ]
    text = "\n".join(lines)
    print("\n" + text)
    txt_path.write_text(text + "\n")
    json_path.write_text(json.dumps(_finite(record), indent=1) + "\n")
    print(f"\nwrote {txt_path} and .json; models and logs in {out}")


def _finite(value):
    """JSON without inf/nan: ``null`` in their place (the text table says inf)."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


if __name__ == "__main__":
    main()
