"""Training: :func:`train` fits a CNN on streamed images and writes the model file.

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
from ..streams.images import check_recipe, input_scale, open_images
from .modelfile import _write_metadata, check_label_names, label_names_text
from .models import ARCHS, _keras, _quiet_keras, build_model
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
        with channels.
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
          allow_incomplete=False):
    """Train a CNN tagger on a store, keeping the best epoch by validation loss.

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
    arch : {"challenge", "deeptop"}
        See :func:`build_model`.
    patience : int
        Epochs without improvement of the validation loss before stopping.
    seed : int, optional
        Seeds Keras (``keras.utils.set_random_seed``: weights, dropout, noise)
        and the shuffling: the same seed gives the same model on one backend.
    scale : float or sequence of float, optional
        Input scale (with channels: one for all, or one per channel); default
        :func:`input_scale` of the training images, per channel.
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
    if arch not in ARCHS:
        raise InputError(f"arch={arch!r} is not valid; choose one of {', '.join(ARCHS)}")
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
        train_source = open_images(train_store, recipe, allow_incomplete=allow_incomplete)
        sources.append(train_source)
        val_source = open_images(val_store, recipe, allow_incomplete=allow_incomplete)
        sources.append(val_source)
        check_recipe(train_source.recipe or {"npix": train_source.npix}, val_source,
                      f"the training data {train_source.path}")
        label_names = train_source.label_names
        check_label_names(label_names, val_source.label_names, val_source.path,
                          f"the training data {train_source.path}")
        n_classes = len(label_names) if label_names else 2
        if n_classes < 2:
            raise InputError(f"{train_source.path} has one class ({label_names[0]}): a tagger "
                             "needs at least two")
        for source in sources:
            _check_label_range(source, n_classes)
        if seed is not None:
            keras.utils.set_random_seed(int(seed))
        train_data = _dataset(train_source, recipe, batch_size, True, seed, buffer_size, workers)
        val_data = _dataset(val_source, recipe, batch_size, False, seed, buffer_size, workers)
        channels = list(train_source.channels) if train_source.channels else None
        scale = input_scale(train_source) if scale is None else scale
        model = build_model(arch, train_source.npix, input_scale=scale,
                            n_channels=len(channels) if channels else None, n_classes=n_classes)
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
            "keras_version": keras.__version__, "backend": keras.backend.backend(),
            "train_images_per_second": rate, "train_seconds": train_seconds,
        }
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
                         metadata=metadata)
    if interrupted:
        exc = KeyboardInterrupt()
        exc.result = result
        raise exc
    return result


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
