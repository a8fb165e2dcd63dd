"""``jetimg train``, ``jetimg predict``, ``jetimg evaluate``: a tagger on image stores.

Each command calls one function of :mod:`jetimg.train` and prints one summary
line. Keras (the ``train`` extra) is imported inside the library calls, so
``--help`` and ``evaluate --scores`` work without it.
"""

import json
import math
import pathlib
import time

import click

from jetimg_cli.common import PixelSize, incomplete_note, user_errors
from jetimg_cli.progress import progress_bar, train_progress

ARCHS = ("challenge", "deeptop", "dnn", "pfn", "lola")
PARTICLE_ARCHS = ("dnn", "pfn", "lola")


def _interrupted(exc):
    """What Ctrl-C left: the best model so far (train sets ``exc.result``), or nothing."""
    result = getattr(exc, "result", None)
    if result is not None:
        return (f"interrupted after {result.epochs_run} epochs: the best so far "
                f"(epoch {result.best_epoch}) is in {result.output}")
    return "interrupted: nothing was written"


_errors = user_errors(on_interrupt=_interrupted)


def _fmt_rejection(value):
    return "inf" if math.isinf(value) else f"{value:.1f}"


def _allow_incomplete(func):
    return click.option(
        "--allow-incomplete", is_flag=True,
        help="Accept a store of an interrupted build (complete: false); its rows never "
             "written read as invalid jets.")(func)


def _constituent_recipe_options(func):
    """The recipe options of jetimg build beside --npix, --channels and --particles, for
    the images made on the fly from constituents files (each refused with an image store,
    whose images are made; default: the default recipe's)."""
    from jetimg.recipe import CENTERS, INTENSITIES, NORMALISES

    options = [
        click.option("--center", type=click.Choice(CENTERS), default=None,
                     help="Constituents files: what goes to (0, 0) [default: centroid]."),
        click.option("--rotate/--no-rotate", default=None,
                     help="Constituents files: turn the principal axis vertical "
                          "[default: --rotate]."),
        click.option("--flip/--no-flip", default=None,
                     help="Constituents files: flip so the most intensity sits at x<0, y>0 "
                          "[default: --flip]."),
        click.option("--pixel-size", type=PixelSize(), default=None,
                     help="Constituents files: pixel width in eta and phi, DX,DY (one "
                          "number: both) [default: as jetimg build]."),
        click.option("--intensity", type=click.Choice(INTENSITIES), default=None,
                     help="Constituents files: pixel weight, pT or E [default: pt]."),
        click.option("--threshold", type=float, default=None,
                     help="Constituents files: zero pixels below this raw intensity (GeV) "
                          "[default: 0]."),
        click.option("--normalise", type=click.Choice(NORMALISES), default=None,
                     help="Constituents files: divide each image by its sum or maximum, or "
                          "keep GeV [default: sum]."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.command()
@click.argument("train_store", type=click.Path(path_type=str))
@click.option("--val", "val_store", required=True, type=click.Path(path_type=str),
              help="Validation store (early stopping and the best checkpoint use its loss).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="Model file to write (*.keras), the best epoch by validation loss.")
@click.option("--epochs", type=click.IntRange(min=1), default=20, show_default=True,
              help="Most epochs.")
@click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-3,
              show_default=True, help="Adam's learning rate.")
@click.option("--arch", type=click.Choice(ARCHS), default="challenge", show_default=True,
              help="challenge: jetimg's own compact CNN baseline for the top-tagging dataset "
                   "of arXiv:1902.09914 (neither that comparison's best tagger nor its CNN "
                   "entry): Gaussian input noise, four 3x3 convolutions (32, 32, max-pool 3, "
                   "32, 64, max-pool 3), dense 100, 200, 200 with dropout. deeptop: the "
                   "layout of DeepTop's network "
                   "(arXiv:1701.08784): four 4x4 convolutions of 8 filters, a 2x2 max-pool "
                   "after the second, three dense layers of 64. Particle taggers (a store "
                   "built with --particles, or constituents with --particles): dnn: TopoDNN "
                   "(arXiv:1704.02124), dense 300, 102, 12, 6 on log_pt_rel, x, y of the 30 "
                   "leading particles; pfn: a Particle Flow Network (arXiv:1810.05165), "
                   "per-particle dense 100, 100, 128, summed over real particles, dense 100, "
                   "100, 100, on every stored feature; lola: LoLa (arXiv:1707.08966), "
                   "px, py, pz, e combined (CoLa, 15 combinations), Minkowski features "
                   "(m^2, pT, E, weighted energies and distances), dense 100, 50.")
@click.option("--patience", type=click.IntRange(min=1), default=5, show_default=True,
              help="Stop after this many epochs without a lower validation loss.")
@click.option("--seed", type=int, default=None,
              help="Seed weights, dropout, noise and shuffling (reproducible on one backend).")
@click.option("--log", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="CSV log per epoch [default: OUTPUT stem + _log.csv].")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Plot of loss and accuracy per epoch [default: OUTPUT stem + _history.png].")
@click.option("--npix", type=click.IntRange(min=1), default=None,
              help="Image side for constituents files (images made on the fly; "
                   "other options: the default recipe).")
@click.option("--channels", default=None, metavar="A,B,...",
              help="Channels of the images made on the fly from constituents files, e.g. "
                   "charged_pt,neutral_pt,charged_count (an image store has its own).")
@click.option("--particles", type=int, default=None, metavar="P",
              help="Particles per jet made on the fly from constituents files, for the "
                   "particle taggers (a store has its own: jetimg build --particles).")
@click.option("--n-particles", type=int, default=None,
              help="Particle taggers: the leading particles per jet to read [default: 30 "
                   "for dnn, every stored one for pfn and lola].")
@click.option("--features", default=None, metavar="A,B,...",
              help="Particle taggers: the particle features to read, by name (jetimg info "
                   "lists a store's) [default: log_pt_rel,x,y for dnn; all for pfn; lola "
                   "reads px,py,pz,e].")
@_constituent_recipe_options
@click.option("--vary", default=None, metavar="NAME=LOW:HIGH,...",
              help="Hardened training, constituents files only: vary every training jet "
                   "afresh in every epoch before the recipe, each of scale, neutral_scale, "
                   "smear, drop a value or a range LOW:HIGH drawn uniformly per jet (e.g. "
                   "scale=0.9:1.1 or smear=0:0.1,drop=0.1), reproducible from seed= (else "
                   "--seed), the epoch, the row and the slot; the model records it. "
                   "Validation stays nominal (--vary-validation varies it once).")
@click.option("--vary-validation", is_flag=True,
              help="With --vary: vary the validation jets too (the first epoch's draw).")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="Threads reading batches ahead of training.")
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT (and its log and plot).")
@_allow_incomplete
@click.option("--quiet", "-q", is_flag=True,
              help="No progress bar or progress lines (the summary line stays).")
@_errors
def train(train_store, val_store, output, epochs, batch_size, lr, arch, patience, seed, log,
          plot, npix, channels, particles, n_particles, features, vary, vary_validation,
          workers, overwrite, allow_incomplete, quiet, **recipe_options):
    """Train a tagger on TRAIN_STORE, streaming it chunk by chunk.

    TRAIN_STORE and --val are image stores (jetimg build: Zarr, HDF5 or
    --layout pandas-images) with labels, or constituents files whose images
    are made on the fly (with jetimg build's recipe options: --npix,
    --channels, --normalise, --threshold, ...; and with --vary, varied afresh
    every epoch: hardened training, docs/systematics.md). The classes are the store's
    label_names (JetClass: ten; top tagging: QCD, top; two without names),
    the same for --val; the model's softmax has one output per class. Images
    with C channels (an image store's own, or --channels) make a model of
    (npix, npix, C) inputs, scaled per channel. The particle taggers (--arch
    dnn, pfn, lola) read the particles of a store built with --particles (or
    made on the fly from constituents files with --particles P), each
    feature standardised by the model's first layer. Adam, early stopping and the best checkpoint on the
    validation loss, a CSV log and a history plot beside OUTPUT. On stderr: a
    progress bar on a terminal (steps, loss, training images/s, time left in
    the epoch), elsewhere a line every tenth of an epoch (or minute), and a
    line per epoch. Images/s count the training steps only (not validation,
    nor the first step of each batch size, which compiles the network).
    Needs the 'train' extra: pip install 'jetimg[train]'. Keras runs on
    PyTorch where it is installed (about three times as fast on a CPU), else on
    JAX; KERAS_BACKEND picks one.

    \b
    Examples:
      jetimg train train_img.zarr --val val_img.zarr -o model.keras
      jetimg train train_img.zarr --val val_img.zarr -o dt.keras --arch deeptop --epochs 5
      jetimg train train.h5 --val val.h5 -o model.keras --npix 40 --seed 1
      jetimg train qg_train.npz --val qg_val.npz -o qg.keras --channels pt,charged_pt
      jetimg train train_p30.zarr --val val_p30.zarr -o pfn.keras --arch pfn
      jetimg train train.h5 --val val.h5 -o dnn.keras --arch dnn --particles 30
      jetimg train train.h5 --val val.h5 -o hard.keras --normalise none --vary scale=0.9:1.1
    """
    from jetimg import Recipe
    from jetimg.train import train as run

    options = {}
    for name, value in recipe_options.items():
        if value is not None:
            _no_store_option("--" + name.replace("_", "-"), "its own recipe", train_store,
                             val_store)
            options[name] = value
    if vary_validation and not vary:
        raise click.ClickException("--vary-validation varies the validation jets as --vary "
                                   "does: give --vary too")
    if npix is not None:
        options["npix"] = npix
    if channels is not None:
        _no_store_channels(train_store, val_store)
        options["channels"] = [c.strip() for c in channels.split(",") if c.strip()]
    if particles is not None:
        if particles < 1:
            raise click.ClickException(f"--particles {particles} is not valid: give an "
                                       "integer >= 1 (particles per jet)")
        _no_store_option("--particles", "its own particles", train_store, val_store)
        options["particles"] = particles
    if n_particles is not None and n_particles < 1:
        raise click.ClickException(f"--n-particles {n_particles} is not valid: give an "
                                   "integer >= 1")
    if features is not None:
        features = [f.strip() for f in features.split(",") if f.strip()]
    recipe = Recipe(**options) if options else None
    if allow_incomplete:
        incomplete_note(train_store, val_store)
    with train_progress(quiet) as progress:
        result = run(train_store, val_store, output, epochs=epochs, batch_size=batch_size,
                     lr=lr, arch=arch, patience=patience, seed=seed, log=log, plot=plot,
                     overwrite=overwrite, recipe=recipe, workers=workers, progress=progress,
                     allow_incomplete=allow_incomplete, n_particles=n_particles,
                     features=features, vary=vary or None, vary_validation=vary_validation,
                     _names={"n_particles": "--n-particles",
                                                "features": "--features", "arch": "--arch",
                                                "particles": "--particles P"})
    stop = ", stopped early" if result.stopped_early else ""
    on = f" ({', '.join(result.channels)})" if result.channels else ""
    if result.kind == "particle":
        on = f" on {result.n_particles} particles ({', '.join(result.features)})"
    on += f", {result.n_classes} classes" if result.n_classes > 2 else ""
    what = "tagger" if arch in PARTICLE_ARCHS else "CNN"
    click.echo(f"{arch} {what}{on}, {result.n_train} jets (val {result.n_val}), {result.epochs_run} "
               f"epochs{stop} in {result.seconds:.0f} s (training steps "
               f"{result.train_seconds:.0f} s, {result.compile_seconds:.0f} s of them compiling; "
               f"{result.images_per_second:,.0f} training images/s on "
               f"{result.metadata['backend']}); best epoch "
               f"{result.best_epoch}: val_loss {result.best_val_loss:.4f}, "
               f"val_acc {result.best_val_accuracy:.4f} -> {result.output}"
               + (f", {result.log}" if result.log else "")
               + (f", {result.plot}" if result.plot else ""))


def _no_store_option(option, what, *paths):
    """Refuse an option for constituents files with an image store (it has ``what``)."""
    import os

    from jetimg.io.store.stores import image_layout

    for path in paths:
        if os.path.exists(path) and image_layout(path) is not None:
            raise click.ClickException(f"{option} is for constituents files: {path} is an "
                                       f"image store with {what}; leave {option} out")


def _no_store_channels(*paths):
    """Refuse --channels with an image store: its channels are its own (named in the line)."""
    import os

    from jetimg.io.store.stores import image_layout
    from jetimg.streams.images import channels_text, open_images

    for path in paths:
        if not os.path.exists(path) or image_layout(path) is None:
            continue        # a constituents file (or a missing one: the library says so)
        source = open_images(path, allow_incomplete=True)
        source.close()
        raise click.ClickException(
            f"--channels is for constituents files: {path} is an image store with its own "
            f"channels, {channels_text(source.channels)}; leave --channels out")


@click.command()
@click.argument("model", type=click.Path(path_type=str))
@click.argument("store", type=click.Path(path_type=str))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="Scores to write (.npy, float32, one per row of STORE; K per row for a "
                   "model of K > 2 classes).")
@click.option("--zip", "archive", is_flag=True,
              help="Also write OUTPUT's .npy in a .zip beside it (a challenge submission).")
@click.option("--batch-size", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@_allow_incomplete
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@_errors
def predict(model, store, output, archive, batch_size, overwrite, allow_incomplete, quiet):
    """Write the signal probability of every jet of STORE, in its row order.

    A model of K > 2 classes writes the K class probabilities of each jet,
    an (N, K) array, columns in the order of the model's label_names. STORE
    must be made with the model's recipe and, where it has labels, name the
    model's classes (both checked), or be a constituents file (its images
    are made with the model's recipe). Invalid jets keep their row and
    score NaN.

    \b
    Examples:
      jetimg predict model.keras test_img.zarr -o scores.npy
      jetimg predict model.keras test_img.h5 -o scores.npy --zip
    """
    import numpy as np

    from jetimg.train import predict as run
    from jetimg.train.modelfile import check_model_file

    output = pathlib.Path(output)
    if output.suffix != ".npy":
        raise click.BadParameter("must end in .npy", param_hint="-o/--output")
    check_model_file(model, "MODEL")
    started = time.perf_counter()
    if allow_incomplete:
        incomplete_note(store)
    with progress_bar(quiet) as progress:
        scores = run(model, store, batch_size=batch_size, progress=progress, output=output,
                     overwrite=overwrite, archive=archive, allow_incomplete=allow_incomplete,
                     notify=_note)
    seconds = time.perf_counter() - started
    if scores.ndim == 2:
        from jetimg.train import read_metadata
        from jetimg.train.modelfile import model_classes

        names = model_classes(read_metadata(model))[1]
        what = f"{len(scores)} jets x {scores.shape[1]} class probabilities ({', '.join(names)})"
    else:
        mean = float(np.nanmean(scores)) if np.isfinite(scores).any() else 0.0
        what = f"{len(scores)} scores (mean {mean:.3f})"
    n_invalid = int(np.isnan(scores.reshape(len(scores), -1)[:, 0]).sum())
    if n_invalid:
        what += f", {n_invalid} invalid jets scored NaN"
    click.echo(f"{what} in {seconds:.1f} s ({len(scores) / max(seconds, 1e-9):,.0f} jets/s) -> "
               f"{output}" + (f", {output.with_suffix('.zip')}" if archive else ""))


@click.command()
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(path_type=str), metavar="[MODEL] STORE")
@click.option("--scores", type=click.Path(path_type=str),
              default=None, help="Scores (.npy from jetimg predict) instead of a MODEL.")
@click.option("--signal-efficiency", type=click.FloatRange(0, 1, min_open=True), default=0.3,
              show_default=True, help="eps_S of the background rejection 1/eps_B (two "
                                      "classes; K > 2 classes use JetClass's).")
@click.option("-o", "--plots-dir", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Folder of the plots, STORE_roc.png and STORE_scores.png (and "
                   "STORE_confusion.png for K > 2 classes; STORE's name without suffix) "
                   "[default: the current folder].")
@click.option("--plots", "prefix", type=click.Path(path_type=str), default=None,
              help="Write PREFIX_roc.png and PREFIX_scores.png (PREFIX_confusion.png) instead.")
@click.option("--no-plots", is_flag=True, help="No plots.")
@click.option("--overwrite", is_flag=True, help="Replace existing plots.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON (inf as null).")
@click.option("--batch-size", type=click.IntRange(min=1), default=1000, show_default=True)
@_allow_incomplete
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@_errors
def evaluate(paths, scores, signal_efficiency, plots_dir, prefix, no_plots, overwrite, as_json,
             batch_size, allow_incomplete, quiet):
    """AUC, accuracy and background rejection of a tagger on a labelled STORE.

    Scores STORE with MODEL, or takes --scores. Two classes: the AUC, the
    accuracy (cut at 0.5) and 1/eps_B at eps_S = 0.3, as arXiv:1902.09914
    reports them (its CNN: AUC 0.981, 1/eps_B ~ 900 on 1.2M training jets).
    K > 2 classes (a model of K classes, or --scores of shape (N, K) on a
    store whose label_names name K): the accuracy, the confusion matrix, the
    AUC of each class against the rest (AUC vs rest) and against QCD only
    (AUC vs QCD, as the ROC figure draws it) and, for each class X but QCD, the
    rejection of QCD at X's efficiency as JetClass's paper quotes it
    (arXiv:2202.03772, its table of JetClass results: 50%; 99% for Hqql,
    99.5% for Tbl). Invalid jets are left out. Plots the ROC curves (1/eps_B
    against eps_S, log scale), the score distributions per class (and the
    confusion matrix) into the current folder (or --plots-dir); existing
    plots are kept unless --overwrite.
    --scores needs no Keras.

    \b
    Examples:
      jetimg evaluate model.keras test_img.zarr
      jetimg evaluate --scores scores.npy test_img.zarr --json
      jetimg evaluate model.keras test_img.zarr -o plots/ --overwrite
    """
    from jetimg.train import evaluate as run

    if scores is None and len(paths) != 2:
        raise click.UsageError("give MODEL STORE, or --scores SCORES STORE")
    if scores is not None and len(paths) != 1:
        raise click.UsageError("with --scores give only STORE")
    if sum(x is not None and x is not False for x in (plots_dir, prefix, no_plots or None)) > 1:
        raise click.UsageError("give one of --plots-dir, --plots and --no-plots")
    store = paths[-1]
    model = paths[0] if scores is None else None
    if model is not None:
        from jetimg.train.modelfile import check_model_file

        check_model_file(model, "MODEL")
    plots = None
    if not no_plots:
        stem = pathlib.Path(store.rstrip("/")).with_suffix("").name
        plots = prefix if prefix is not None else str(pathlib.Path(plots_dir or ".") / stem)
    if allow_incomplete:
        incomplete_note(store)
    with progress_bar(quiet or scores is not None) as progress:
        result = run(store, model=model, scores=scores, signal_efficiency=signal_efficiency,
                     batch_size=batch_size, progress=progress, plots=plots, overwrite=overwrite,
                     allow_incomplete=allow_incomplete, notify=_note)
    m = result.metrics
    written = result.plots
    if as_json:
        from jetimg.metrics import json_ready

        out = json_ready(m)
        out["plots"] = [str(p) for p in written]
        click.echo(json.dumps(out, indent=1))
        return
    if "n_classes" in m:
        for note in m["notes"]:
            click.echo(f"note: {note}", err=True)
        click.echo(_classes_report(m, written))
        return
    click.echo(f"{m['n_jets']} jets ({m['n_signal']} signal, {m['n_background']} background"
               + (f", {m['n_invalid']} invalid left out" if m["n_invalid"] else "")
               + f"): AUC {m['auc']:.4f}, accuracy {m['accuracy']:.4f}, 1/eps_B "
               f"{_fmt_rejection(m['background_rejection'])} at eps_S = "
               f"{m['signal_efficiency']:g}"
               + (f" -> {', '.join(str(p) for p in written)}" if written else ""))


def _note(line):
    """A library note, one line on stderr."""
    click.echo(f"note: {line}", err=True)



def _classes_report(m, written):
    """The figures of a K-class evaluation: a summary line, one row per class, the
    confusion matrix (rows: the true classes with jets) and the plots."""
    names = m["label_names"]
    present = [n for n in names if n in m["n_per_class"]]
    invalid = f", {m['n_invalid']} invalid left out" if m["n_invalid"] else ""
    lines = [f"{m['n_jets']} jets of {len(present)} of {m['n_classes']} classes{invalid}: "
             f"accuracy {m['accuracy']:.4f}, mean one-vs-rest AUC {m['auc_mean']:.4f}"]
    width = max(len(n) for n in names) + 2
    # two AUCs, each named for what it is: the class against all other jets (its own
    # score), and against QCD only (s_X / (s_X + s_QCD), the ROC figure's curves)
    vs_qcd = m.get("auc_vs_qcd", {})
    lines.append(f"{'class':<{width}}{'jets':>7}  {'AUC vs rest':>11}"
                 + (f"  {'AUC vs QCD':>10}" if vs_qcd else "") + "  1/eps_QCD")
    for name in present:
        auc = f"{m['auc'][name]:.4f}" if name in m["auc"] else "-"
        against = f"  {vs_qcd[name]:>10.4f}" if name in vs_qcd else (
            f"  {'-':>10}" if vs_qcd else "")
        rejection = ""
        if name in m["background_rejection"]:
            rejection = (f"{_fmt_rejection(m['background_rejection'][name])} at eps = "
                         f"{m['signal_efficiency'][name]:g}")
        lines.append(f"{name:<{width}}{m['n_per_class'][name]:>7}  {auc:>11}{against}  "
                     f"{rejection}".rstrip())
    lines.append("confusion matrix (rows: true class, columns: predicted "
                 f"{', '.join(names)}):")
    cell = max(6, max(len(str(v)) for row in m["confusion_matrix"] for v in row) + 1)
    for k, name in enumerate(names):
        if name in m["n_per_class"]:
            lines.append(f"{name:<{width}}" + "".join(f"{v:>{cell}}"
                                                      for v in m["confusion_matrix"][k]))
    if written:
        lines.append(f"-> {', '.join(str(p) for p in written)}")
    return "\n".join(lines)


def _model_groups(values):
    """``--models [NAME=]A.keras,B.keras`` (repeated) as {group: [paths]}; a group without a
    name is named by its first file's stem."""
    groups = {}
    for text in values:
        name, eq, paths = text.partition("=")
        if not eq or "," in name or name.endswith(".keras"):
            name, paths = "", text
        files = [p.strip() for p in paths.split(",") if p.strip()]
        if not files:
            raise click.BadParameter(f"{text!r} names no model file", param_hint="--models")
        name = name.strip() or pathlib.Path(files[0]).stem
        if name in groups:
            raise click.BadParameter(f"group {name!r} is given twice", param_hint="--models")
        groups[name] = files
    return groups


def _robustness_table(result):
    """The scan as text: one row per value, a column per group and metric (mean +- sd)."""
    def fmt(metric, mean, sd, n):
        if metric.startswith("passing") or metric == "n_background":
            text = f"{mean:.1f}" if n > 1 else f"{mean:.0f}"
        elif metric.startswith("rejection"):
            text = "inf" if math.isinf(mean) else f"{mean:.1f}"
            if n > 1 and math.isfinite(sd):
                text += f" +- {sd:.1f}"
            return text
        else:
            text = f"{mean:.4f}"
        return text + (f" +- {sd:.4f}" if n > 1 and metric in ("auc", "accuracy", "auc_mean")
                       else "")

    metrics = [m for m in result.metrics if m != "n_background"]
    lines = [f"{result.name} scan, seed {result.seed}, {result.n_jets} jets of "
             f"{result.input}" + (f" ({result.rows[0]['n_background']} background)"
                                  if "n_background" in result.metrics else "")]
    for group, files in result.groups.items():
        header = [f"{result.name:>8}"] + [f"{m:>18}" for m in metrics]
        lines += ["", f"{group}: {len(files)} model{'s' if len(files) > 1 else ''} "
                  f"({', '.join(files)})", " ".join(header)]
        for i, value in enumerate(result.values):
            cells = [f"{value:>8g}"]
            for m in metrics:
                mean, sd = result.summary[group][m][i]
                cells.append(f"{fmt(m, mean, sd, len(files)):>18}")
            lines.append(" ".join(cells))
    return "\n".join(lines)


@click.command()
@click.argument("input_", metavar="INPUT", nargs=-1, required=True,
                type=click.Path(path_type=str))
@click.option("--models", "-m", "models", multiple=True, required=True,
              metavar="[NAME=]A.keras,B.keras",
              help="Models to score, a group per option (repeat it): e.g. -m "
                   "default=d0.keras,d1.keras,d2.keras -m hardened=h0.keras,h1.keras; a "
                   "group's models are summarised as mean +- sd.")
@click.option("--vary", required=True, metavar="NAME=V1,V2,...",
              help="The variation and its values, e.g. scale=0.9,0.95,1,1.05,1.1 (scale, "
                   "neutral_scale, smear or drop; docs/recipe.md).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="The variation's seed, the same at every value.")
@click.option("--key", default=None, help="Dataset / pandas key of the jets (as for build).")
@click.option("--labels-key", default=None, help="Labels dataset or column (as for build).")
@click.option("-o", "--output", default="robustness.png", show_default=True,
              type=click.Path(dir_okay=False, path_type=str),
              help="The figure: each metric against the value, a band per group, and its "
                   "ratio to the nominal value (.png, .pdf, .svg).")
@click.option("--no-plot", is_flag=True, help="No figure.")
@click.option("--json", "as_json", is_flag=True, help="Print the scan as JSON.")
@click.option("--batch-size", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an existing figure.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@_errors
def robustness(input_, models, vary, seed, key, labels_key, output, no_plot, as_json,
               batch_size, overwrite, quiet):
    """How taggers hold up: score models on INPUT under a scan of one variation.

    INPUT is a constituents file with labels (several files or a quoted glob
    pattern too). For each value of --vary, each model's images (or
    particles) are made from INPUT with the model's own recipe and the
    variation, with the same --seed at every value, and scored: AUC and
    1/eps_B at eps_S = 0.3 and 0.5 with the background jets passing each cut
    (K classes: accuracy, mean AUC and JetClass's rejections of QCD). A
    table per group (mean +- sd over its models), --json, and a figure of
    each metric against the value with a ratio-to-nominal panel.

    \b
    Examples:
      jetimg robustness test.h5 -m default=d0.keras,d1.keras,d2.keras \\
          -m hardened=h0.keras,h1.keras,h2.keras --vary scale=0.9,0.95,1,1.05,1.1
      jetimg robustness test.h5 -m cnn.keras --vary smear=0,0.1,0.2,0.3 --json --no-plot
    """
    from jetimg.plots.robustness import plot_robustness
    from jetimg.plots.style import figure_format, save_figure
    from jetimg.train.modelfile import check_model_file
    from jetimg.train.robustness import robustness as run

    groups = _model_groups(models)
    for files in groups.values():
        for path in files:
            check_model_file(path, "--models")
    if not no_plot:
        figure_format(output, overwrite=overwrite)
    inputs = list(input_) if len(input_) > 1 else input_[0]
    with progress_bar(quiet, label="scores") as progress:
        result = run(groups, inputs, vary, seed=seed, batch_size=batch_size, key=key,
                     labels_key=labels_key, progress=progress)
    if not no_plot:
        save_figure(plot_robustness(result), output, overwrite=overwrite)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=1))
    else:
        click.echo(_robustness_table(result) + (f"\n-> {output}" if not no_plot else ""))
