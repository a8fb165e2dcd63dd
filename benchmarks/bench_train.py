"""Train the default CNN on simulated top and QCD jets and score an independent test set.

A script, not a test (benchmarks/ stays out of the test run)::

    python benchmarks/bench_train.py [--n-train 50000] [--n-val 10000] [--n-test 20000]
                                     [--epochs 6] [--batch-size 128] [--arch challenge]
                                     [--seed 0] [--data-dir DIR] [--out DIR]

Data: ``jetimg simulate`` (Pythia 8 + FastJet, top and QCD jets, pT 550-650
GeV, |eta| < 2) with seeds 101 (training), 102 (validation) and 103 (test),
each made once and cached in ``DIR`` (default ``bench_data/``, git-ignored;
about 60 jets/s per core), then ``jetimg build`` into 40 x 40 Zarr image
stores (default recipe), also cached.

Measured, on the CPU (JAX, KERAS_BACKEND unset or jax):

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

Writes ``benchmarks/results/bench_train.txt`` and ``.json`` and the model,
log, history plot, ROC and score plots under ``--out`` (default
``bench_data/bench_train/``).
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


def image_store(jets_path):
    """The cached 40 x 40 Zarr image store of a jets file (``jetimg build``)."""
    import jetimg

    store = jets_path.with_name(jets_path.stem + "_img.zarr")
    if not store.exists():
        result = jetimg.build(jets_path, store)
        print(f"built {store.name}: {result.n_jets} jets in {result.seconds:.1f} s", flush=True)
    return store


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-train", type=int, default=50_000)
    parser.add_argument("--n-val", type=int, default=10_000)
    parser.add_argument("--n-test", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--arch", default="challenge")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", type=pathlib.Path, default=ROOT / "bench_data")
    parser.add_argument("--out", type=pathlib.Path, default=None)
    args = parser.parse_args()
    out = args.out or args.data_dir / "bench_train"
    out.mkdir(parents=True, exist_ok=True)
    args.data_dir.mkdir(parents=True, exist_ok=True)

    import jetimg
    from jetimg import train as T
    from jetimg.train.models import _keras

    keras = _keras()
    files = {name: simulated(args.data_dir, name, n) for name, n in
             (("train", args.n_train), ("val", args.n_val), ("test", args.n_test))}
    stores = {name: image_store(path) for name, path in files.items()}
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

    def progress(line):
        print(line, flush=True)
        epoch_lines.append(line)

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
        f"train rate    {result.images_per_second:,.0f} images/s (training steps, epochs 2+)",
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
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_train.txt").write_text(text + "\n")
    (RESULTS / "bench_train.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"\nwrote {RESULTS / 'bench_train.txt'} and .json; model and plots in {out}")


if __name__ == "__main__":
    main()
