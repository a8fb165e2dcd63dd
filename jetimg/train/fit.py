"""Training: :func:`train` fits a tagger on streamed images or particles and writes the
model file.

Keras is imported when :func:`train` runs, not with this module.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import time

import numpy as np

from .._version import __version__
from ..checks import integer, output_file
from ..errors import InputError
from .datasets import _dataset
from ..streams.images import (check_recipe, input_scale, open_images, particle_scaling,
                              particle_view)
from .modelfile import _write_metadata, check_label_names, label_names_text
from .models import (ALL_ARCHS, DEFAULT_FEATURES, DEFAULT_PARTICLES, PARTICLE_ARCHS, _keras,
                     _quiet_keras, build_model, build_particle_model)
from .progress import _progress_callback


@dataclasses.dataclass
class TrainResult:
    """What :func:`train` did.

    Attributes
    ----------
    output : str
        The model file (the best epoch by validation loss).
    history : dict
        Per epoch: loss, accuracy, val_loss, val_accuracy (lists).
    best_epoch : int
        1-based epoch of the saved model.
    epochs_run : int
    stopped_early : bool
    n_train, n_val : int
        Jets per epoch (invalid jets left out).
    input_scale : float or list of float
        The factor of the model's first layer; one per channel for images
        with channels, one per feature for particles.
    kind : {"image", "particle"}
    features : list of str or None
        The particle features the model reads (particle taggers).
    n_particles : int or None
        The leading particles per jet the model reads (particle taggers).
    channels : list of str or None
        The channel names of the training images (None: one image per jet).
    n_classes : int
        Classes of the model's softmax (2 for background and signal).
    label_names : list of str or None
        The training store's class names (None where it names none).
    seconds : float
        Wall time of the whole call.
    images_per_second : float
        Training images per second: images of the training steps over their
        time, validation and checkpoints left out, and the steps that compile
        the network (the first of each batch size) too, unless every step did
        (see :mod:`~jetimg.train.progress`).
    train_seconds, compile_seconds : float
        Time of all training steps, and of those among them that compiled.
    log, plot : str or None
        The CSV log and the history plot.
    metadata : dict
        What the model file's ``jetimg.json`` holds.
    """

    output: str
    history: dict
    best_epoch: int
    epochs_run: int
    stopped_early: bool
    n_train: int
    n_val: int
    input_scale: float | list
    seconds: float
    images_per_second: float
    log: str | None
    plot: str | None
    metadata: dict
    channels: list | None = None
    n_classes: int = 2
    label_names: list | None = None
    train_seconds: float = float("nan")
    compile_seconds: float = float("nan")
    kind: str = "image"
    features: list | None = None
    n_particles: int | None = None

    @property
    def best_val_loss(self):
        """Validation loss of the best epoch."""
        return float(self.history["val_loss"][self.best_epoch - 1])

    @property
    def best_val_accuracy(self):
        """Validation accuracy of the best epoch."""
        return float(self.history["val_accuracy"][self.best_epoch - 1])


def _paths(output, log, plot):
    """The model file (checked: ``.keras``), the CSV log and the plot as Paths (or None)."""
    output = pathlib.Path(output)
    if output.suffix != ".keras":
        raise InputError(f"output {output}: a Keras 3 model file must end in .keras")
    log = output.with_name(output.stem + "_log.csv") if log is None else log
    plot = output.with_name(output.stem + "_history.png") if plot is None else plot
    return output, (pathlib.Path(log) if log else None), (pathlib.Path(plot) if plot else None)


def train(train_store, val_store, output, *, epochs=20, batch_size=128, lr=1e-3,
          arch="challenge", patience=5, seed=None, scale=None, log=None, plot=None,
          overwrite=False, recipe=None, buffer_size=10_000, workers=2, progress=None,
          allow_incomplete=False, n_particles=None, features=None, vary=None,
          vary_validation=False, _names=None):
    """Train a tagger on a store, keeping the best epoch by validation loss.

    Adam on the categorical cross-entropy over K classes: the training
    store's ``label_names`` name them (K = 2, background and signal, for a
    store without them); early stopping after
    ``patience`` epochs without a lower validation loss; the model of the best
    epoch is written to ``output`` with jetimg's metadata (see the module
    docstring); a CSV log and a plot of loss and accuracy per epoch beside it.

    Parameters
    ----------
    train_store, val_store : str or Path
        Image stores (Zarr, HDF5, pandas image layout) or constituents files
        (images made on the fly with ``recipe``), with labels. Both must share
        one recipe, channels included (an image store's channels are its own;
        the model takes (npix, npix, C) images then), and one list of class
        names (``label_names``). Invalid jets are left out.
    output : str or Path
        The model file, ``*.keras``; an existing one is an error unless ``overwrite``.
    epochs : int
        Most epochs to run.
    batch_size : int
    lr : float
        Adam's learning rate.
    arch : {"challenge", "deeptop", "dnn", "pfn", "lola"}
        The CNNs on images (:func:`build_model`) or the particle taggers
        (:func:`build_particle_model`), which read the ``particles`` of a
        store built with ``particles=P`` (``jetimg build --particles P``), or
        of constituents made on the fly with a ``recipe`` whose
        ``particles`` is set.
    n_particles : int, optional
        Particle taggers: the leading particles per jet to read (default 30
        for dnn, every stored one for pfn and lola; at most the store's P).
    features : sequence of str, optional
        Particle taggers: the features to read, by name out of the store's
        ``particle_features`` (default: log_pt_rel, x, y for dnn; every one
        for pfn; lola reads px, py, pz, e and takes no other).
    patience : int
        Epochs without improvement of the validation loss before stopping.
    seed : int, optional
        Seeds Keras (``keras.utils.set_random_seed``: weights, dropout, noise)
        and the shuffling: the same seed gives the same model on one backend.
    scale : float or sequence of float, optional
        Input scale (with channels: one for all, or one per channel); default
        :func:`input_scale` of the training images, per channel. Particle
        taggers: default :func:`~jetimg.streams.particle_scaling` (mean and
        standard deviation per feature of the training particles, padding
        left out; one common 1/RMS for lola's four-vectors); given, one
        factor (or one per feature) with offset 0.
    log, plot : str, Path or False, optional
        The CSV log (default ``<output stem>_log.csv``) and the history plot
        (default ``<output stem>_history.png``); False for none.
    overwrite : bool
        Replace existing outputs (model file, log, plot); all are checked before
        any training.
    recipe : Recipe, optional
        Recipe of on-the-fly images of constituents files, channels included
        (``Recipe(npix=..., channels=[...])``; channels that select a kind
        need files with particle kinds).
    buffer_size : int
        Rows shuffled together (see :class:`StoreDataset`).
    workers : int
        Threads reading batches ahead of the training step.
    progress : callable, optional
        ``progress(status)`` after every training step and at the end of every
        epoch, ``status`` a :class:`~jetimg.train.progress.TrainStatus`
        (``status.kind`` "step" or "epoch"; ``str(status)`` a line of loss,
        accuracy, training images/s and time left). Displays:
        :class:`~jetimg.train.progress.ProgressLines` (a line every tenth of
        an epoch and one per epoch: ``progress=ProgressLines()`` prints them)
        and :class:`~jetimg.train.progress.ProgressBar` (a terminal).
    allow_incomplete : bool
        Accept stores of an interrupted build (refused by default); their
        unwritten rows read as invalid jets and are left out.
    vary : str, dict or VaryRanges, optional
        Hardened training (docs/systematics.md): a variation drawn afresh for
        every training jet in every epoch before the recipe, each name a
        value or a range (``"scale=0.9:1.1,smear=0:0.1"``: uniform per jet),
        reproducible from its ``seed`` (else ``seed``, else 0), the epoch, the
        input row and the slot. Constituents files only (an image store's
        images are made already). The model records it as ``train_vary`` in
        its metadata; its recipe stays the nominal one.
    vary_validation : bool
        Vary the validation jets too (one draw, the first epoch's); by default
        they stay nominal.

    Returns
    -------
    TrainResult
    """
    started = time.perf_counter()
    epochs = integer("epochs", epochs)
    patience = integer("patience", patience)
    workers = integer("workers", workers)
    if not (isinstance(lr, int | float) and np.isfinite(lr) and lr > 0):
        raise InputError(f"lr={lr!r} must be a positive number")
    if arch not in ALL_ARCHS:
        raise InputError(f"arch={arch!r} is not valid; choose one of {', '.join(ALL_ARCHS)}")
    names = {"n_particles": "n_particles", "features": "features", "arch": "arch",
             "particles": "particles=P", **(_names or {})}
    particle = arch in PARTICLE_ARCHS
    if not particle:
        for name, value in (("n_particles", n_particles), ("features", features)):
            if value is not None:
                raise InputError(f"{names[name]} is for the particle taggers "
                                 f"({', '.join(PARTICLE_ARCHS)}), not {names['arch']} {arch}")
    output, log, plot = _paths(output, log, plot)
    for path in [output] + [p for p in (log, plot) if p]:
        output_file(path, overwrite)
    if plot:
        from ..plots.style import figure_format

        figure_format(plot)
    keras = _keras()
    tmp = output.with_name(f".{output.stem}.jetimg-tmp-{os.getpid()}.keras")
    sources = []
    try:
        train_source = open_images(train_store, recipe, allow_incomplete=allow_incomplete,
                                   vary=vary, vary_seed=seed)
        sources.append(train_source)
        val_source = open_images(val_store, recipe, allow_incomplete=allow_incomplete,
                                 vary=vary if vary_validation else None, vary_seed=seed)
        sources.append(val_source)
        check_recipe(train_source.recipe or {"npix": train_source.npix}, val_source,
                      f"the training data {train_source.path}")
        label_names = train_source.label_names
        check_label_names(label_names, val_source.label_names, val_source.path,
                          f"the training data {train_source.path}")
        if particle:
            views = _particle_views(arch, train_source, val_source, n_particles, features, names)
        n_classes = len(label_names) if label_names else 2
        if n_classes < 2:
            raise InputError(f"{train_source.path} has one class ({label_names[0]}): a tagger "
                             "needs at least two")
        for source in sources:
            _check_label_range(source, n_classes)
        if seed is not None:
            keras.utils.set_random_seed(int(seed))
        inputs = "particles" if particle else "images"
        train_data = _dataset(train_source, recipe, batch_size, True, seed, buffer_size, workers,
                              inputs, views[0] if particle else None)
        val_data = _dataset(val_source, recipe, batch_size, False, seed, buffer_size, workers,
                            inputs, views[1] if particle else None)
        channels = list(train_source.channels) if train_source.channels else None
        offset = None
        if particle:
            feature_names, n_read = views[2], views[0][0]
            if scale is None:
                offset, scale = particle_scaling(train_source, views[0],
                                                 common=arch == "lola")
            else:
                offset = 0.0
            model = build_particle_model(arch, n_read, len(feature_names), offset=offset,
                                         scale=scale, n_classes=n_classes)
            offset = model.get_layer("input_scale").offset
        else:
            scale = input_scale(train_source) if scale is None else scale
            model = build_model(arch, train_source.npix, input_scale=scale,
                                n_channels=len(channels) if channels else None,
                                n_classes=n_classes)
        # the factors as the model applies them (one per channel with channels)
        scale = model.get_layer("input_scale").scale
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=float(lr)),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        n_train, n_val = train_data.n_jets, val_data.n_jets
        timing = _progress_callback(keras, progress, epochs=epochs, n_images=n_train,
                                    batch_size=batch_size)
        # the epoch's status comes after its checkpoint (an interruption keeps that epoch)
        callbacks = [keras.callbacks.ModelCheckpoint(str(tmp), monitor="val_loss",
                                                     save_best_only=True, verbose=0),
                     keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience),
                     timing]
        logger = keras.callbacks.CSVLogger(str(log)) if log else None
        if logger is not None:
            callbacks.append(logger)
        interrupted = False
        try:
            with _quiet_keras():
                _build_for_fit(model, train_data)
                fit = model.fit(train_data, validation_data=val_data, epochs=epochs,
                                callbacks=callbacks, verbose=0, shuffle=False)
            history = {k: [float(v) for v in vs] for k, vs in fit.history.items()}
        except KeyboardInterrupt:
            interrupted = True
            history = {k: [float(v) for v in vs] for k, vs in model.history.history.items()} \
                if getattr(model, "history", None) is not None else {}
            if not tmp.exists():
                raise
        finally:
            if logger is not None and logger.csv_file is not None:
                logger.csv_file.close()     # Keras closes it only when training ends well
        epochs_run = len(history.get("loss", []))
        best_epoch = int(np.argmin(history["val_loss"])) + 1 if history.get("val_loss") else 0
        rate = float(timing.clock.run_rate())
        train_seconds = timing.clock.train_seconds()
        compile_seconds = timing.clock.compile_seconds()
        metadata = {
            "jetimg_version": __version__, "arch": arch, "npix": int(train_source.npix),
            "kind": "particle" if particle else "image",
            "channels": channels, "input_scale": scale,
            "input_scaling": "Rescaling(input_scale) is the model's first layer (one factor "
            "per channel with channels): feed the store's images unscaled",
            "n_classes": n_classes, "label_names": list(label_names) if label_names else None,
            "classes": (["background", "signal"] if n_classes == 2 else list(label_names)),
            "output": ("softmax; signal probability = [:, 1]" if n_classes == 2 else
                       f"softmax over the {n_classes} classes of label_names, in their order"),
            "recipe": train_source.recipe, "train": train_source.path, "val": val_source.path,
            "n_train": n_train, "n_val": n_val, "n_invalid_dropped":
                int(train_data.n_invalid + val_data.n_invalid),
            "epochs": epochs, "epochs_run": epochs_run, "best_epoch": best_epoch,
            "best_val_loss": history["val_loss"][best_epoch - 1] if best_epoch else None,
            "best_val_accuracy": (history["val_accuracy"][best_epoch - 1]
                                  if best_epoch and history.get("val_accuracy") else None),
            "batch_size": int(batch_size), "lr": float(lr), "patience": patience,
            "seed": seed, "interrupted": interrupted,
            "train_vary": getattr(train_source, "train_vary", None),
            "val_vary": getattr(val_source, "train_vary", None),
            "keras_version": keras.__version__, "backend": keras.backend.backend(),
            "train_images_per_second": rate, "train_seconds": train_seconds,
        }
        if particle:
            metadata.update({
                "n_particles": int(n_read), "features": list(feature_names),
                "input_offset": offset,
                "input_scaling": "ParticleScale is the model's first layer: (x - input_offset) "
                "* input_scale per feature on real particles, padding rows (all zero) kept at "
                "zero: feed the store's particles unscaled (the leading n_particles, the "
                "features in this order)"})
        _write_metadata(tmp, metadata)
        os.replace(tmp, output)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise
    finally:
        for source in sources:
            source.close()
    if plot and history.get("loss"):
        from ..plots.style import save_figure
        from ..plots.training import plot_history

        save_figure(plot_history(history), plot, overwrite=True)   # checked at the start
    result = TrainResult(output=str(output), history=history, best_epoch=best_epoch,
                         epochs_run=epochs_run, stopped_early=epochs_run < epochs,
                         n_train=n_train, n_val=n_val, input_scale=scale, channels=channels,
                         n_classes=n_classes,
                         label_names=list(label_names) if label_names else None,
                         seconds=time.perf_counter() - started, images_per_second=rate,
                         train_seconds=train_seconds, compile_seconds=compile_seconds,
                         log=str(log) if log else None, plot=str(plot) if plot else None,
                         metadata=metadata, kind=metadata["kind"],
                         features=metadata.get("features"),
                         n_particles=metadata.get("n_particles"))
    if interrupted:
        exc = KeyboardInterrupt()
        exc.result = result
        raise exc
    return result


def _particle_views(arch, train_source, val_source, n_particles, features, names):
    """(train view, val view, feature names) of a particle tagger (checked, one line each).

    ``names`` maps the options to what the caller calls them in messages.
    """
    for source in (train_source, val_source):
        if source.particle_features is None:
            how = (f"build it with jetimg build --particles P" if source.layout == "store"
                   else f"give constituents files with {names['particles']}"
                   if source.layout == "constituents" else "build a store with --particles P")
            raise InputError(f"{names['arch']} {arch} reads particles but {source.path} has "
                             f"none: {how}")
    if features is not None and not isinstance(features, str):
        features = tuple(str(f) for f in features)
    elif isinstance(features, str):
        features = (features,)
    default = DEFAULT_FEATURES[arch]
    if arch == "lola" and features is not None and tuple(features) != default:
        raise InputError(f"{names['features']}: {names['arch']} lola reads the four-vectors "
                         f"{', '.join(default)} and no other features; leave "
                         f"{names['features']} out")
    features = features if features is not None else default
    if n_particles is None and DEFAULT_PARTICLES[arch] is not None:
        n_particles = min(DEFAULT_PARTICLES[arch], train_source.n_particles)
    n_particles = train_source.n_particles if n_particles is None else n_particles
    view = particle_view(train_source, n_particles, features, n_name=names["n_particles"],
                         features_name=names["features"])
    feature_names = [train_source.particle_features[i] for i in view[1]]
    val_view = particle_view(val_source, view[0], feature_names, n_name=names["n_particles"],
                             features_name=names["features"])
    return view, val_view, feature_names


def _build_for_fit(model, data):
    """Build the model's loss, metrics and optimizer on the first batch, read directly.

    Otherwise ``model.fit`` draws a batch from the dataset's reader threads to
    build them and stops the threads; Keras then serves the batches they had
    read ahead first, so every epoch would start with the end of the one
    before (the last, short batch in the middle of the next epoch, whose
    steps would then be counted wrongly). One evaluation of a training batch
    (no weights change) builds all of it; validation batches of that size
    reuse its compiled step.
    """
    images, labels, weights = data.batch(0)
    model.evaluate(images, labels, sample_weight=weights, batch_size=len(images), verbose=0)


def _check_label_range(source, n_classes):
    """Refuse an image store whose labels are not class indices 0 ... K-1.

    Only stores are read whole (their labels are one small int8 array); the
    readers of constituents files check their own labels.
    """
    if source.layout != "store" or not source.has_labels:
        return
    labels = source.labels_all()
    if not len(labels) or (labels.min() >= 0 and labels.max() < n_classes):
        return
    bad = sorted(set(np.unique(labels[(labels < 0) | (labels >= n_classes)]).tolist()))
    names = source.label_names
    if names:
        raise InputError(f"{source.path} has labels {', '.join(map(str, bad[:5]))} but its "
                         f"label_names {label_names_text(names)} name {n_classes} classes "
                         f"(labels 0 to {n_classes - 1})")
    raise InputError(f"{source.path} has labels {', '.join(map(str, bad[:5]))} but no "
                     "label_names: a store without them is binary (labels 0 and 1); build it "
                     "from labels that carry a label_names attribute")
