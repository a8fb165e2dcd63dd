"""Scores of a trained model on a store (:func:`predict`) and its metrics (:func:`evaluate`).

:func:`predict` keeps every row, in the store's order (invalid jets get the
score of an empty image); :func:`evaluate` leaves invalid jets out. Given
scores instead of a model, :func:`evaluate` needs no Keras.
"""

import dataclasses
import os

import numpy as np

from ..checks import integer
from ..errors import InputError
from ..io.stores import image_layout
from ..recipe import Recipe
from .images import _check_recipe, _Images, _JetImages, open_images
from .modelfile import TrainedModel, load_model
from .models import _quiet_keras

#: The CNN of the top-tagging comparison (arXiv:1902.09914, Table 1; 1.2M training jets).
PAPER_CNN = {"auc": 0.981, "background_rejection": 900.0, "signal_efficiency": 0.3}


def _scan(source, batch_size, fn, progress=None):
    """Call ``fn(start, data)`` on chunk-aligned windows of every row, in order."""
    step = source.chunk_rows * max(1, int(batch_size) // source.chunk_rows)
    if progress:
        progress(0, source.n_rows)
    for start in range(0, source.n_rows, step):
        stop = min(start + step, source.n_rows)
        fn(start, source.read(start, stop))
        if progress:
            progress(stop, source.n_rows)


def predict(model, store, *, batch_size=1000, progress=None):
    """Signal probability of every jet of a store, in the store's row order.

    Parameters
    ----------
    model : str, Path or TrainedModel
        A model file written by :func:`train`.
    store : str or Path
        An image store or pandas image layout made with the model's recipe (checked:
        npix, and every recipe option when the store records its recipe), or a
        constituents file, whose images are made with the model's recipe.
    batch_size : int
        Rows per forward pass (rounded to whole chunks of the store).
    progress : callable, optional
        ``progress(done, total)`` in rows.

    Returns
    -------
    numpy.ndarray
        float32 (N,), row n for row n of the store; invalid jets (all-zero
        images) are kept and get the score of an empty image.
    """
    trained = model if isinstance(model, TrainedModel) else load_model(model)
    source = _open_for(store, trained.metadata)
    try:
        return _score(trained, source, batch_size, progress)[0]
    finally:
        if source is not store:
            source.close()


def _score(trained, source, batch_size, progress=None):
    """(scores float32, labels int8 or None, valid int8 or None) of every row, one pass."""
    batch_size = integer("batch_size", batch_size)
    n = source.n_rows
    scores = np.empty(n, np.float32)
    labels = np.empty(n, np.int8) if source.has_labels else None
    valid = np.empty(n, np.int8)
    known = True
    net = trained.model

    def run(start, data):
        nonlocal known
        images = data["images"]
        stop = start + len(images)
        for s in range(0, len(images), batch_size):
            part = images[s:s + batch_size]
            scores[start + s:start + s + len(part)] = np.asarray(net.predict_on_batch(part))[:, 1]
        if labels is not None:
            labels[start:stop] = data["labels"]
        if data["valid"] is None:
            known = False
        else:
            valid[start:stop] = data["valid"]

    with _quiet_keras():
        _scan(source, batch_size, run, progress)
    return scores, labels, (valid if known else None)


def _open_for(store, meta):
    """Open ``store`` for a model: constituents get the model's recipe; stores are checked."""
    recipe = meta.get("recipe")
    if isinstance(store, _Images):
        source = store
    elif image_layout(store) is None and os.path.exists(store):
        if recipe is None:
            raise InputError(f"{store} is a constituents file but the model records no recipe "
                             f"(it was trained on the pandas image layout): build an image "
                             f"store with --npix {meta.get('npix')} first")
        source = _JetImages(store, Recipe.from_attrs(recipe))
    else:
        source = open_images(store)
    _check_recipe(recipe if recipe is not None else {"npix": meta.get("npix")}, source,
                  "the model (its training store's recipe)")
    return source


@dataclasses.dataclass
class Evaluation:
    """Metrics of a tagger on a labelled store, and the arrays behind them.

    Attributes
    ----------
    metrics : dict
        :func:`jetimg.metrics.summary` (n_jets, auc, accuracy,
        background_rejection at signal_efficiency) plus ``n_invalid``
        (jets left out) and ``store``.
    labels, scores : numpy.ndarray
        The valid jets' labels (int8) and scores (float32), in row order.
    """

    metrics: dict
    labels: np.ndarray
    scores: np.ndarray


def evaluate(store, *, model=None, scores=None, signal_efficiency=0.3, batch_size=1000,
             progress=None):
    """AUC, accuracy and 1/eps_B of a tagger on a labelled store (invalid jets left out).

    Parameters
    ----------
    store : str or Path
        An image store, pandas image layout or constituents file, with labels.
    model : str, Path or TrainedModel, optional
        Score the store with this model (needs the ``train`` extra) ...
    scores : array-like or str or Path, optional
        ... or use these scores (N,) in the store's row order, or a ``.npy``
        of them (as ``jetimg predict`` writes); needs no Keras.
    signal_efficiency : float
        eps_S of the background rejection (0.3 in arXiv:1902.09914).
    batch_size : int
    progress : callable, optional

    Returns
    -------
    Evaluation
    """
    from .. import metrics

    if (model is None) == (scores is None):
        raise InputError("give a model or scores (one of them)")
    trained = None
    if model is not None:
        trained = model if isinstance(model, TrainedModel) else load_model(model)
        source = _open_for(store, trained.metadata)
    else:
        source = open_images(store)
    try:
        if not source.has_labels:
            raise InputError(f"{source.path} has no labels: evaluate needs the truth "
                             "(jetimg predict gives the scores of a store without labels)")
        if trained is not None:
            scores, labels, valid = _score(trained, source, batch_size, progress)
        else:
            if isinstance(scores, str | os.PathLike):
                try:
                    scores = np.load(scores, allow_pickle=False)
                except (OSError, ValueError) as exc:
                    raise InputError(f"cannot read scores {scores}: {exc}") from None
            scores = np.asarray(scores, dtype=np.float32)
            if scores.shape != (source.n_rows,):
                raise InputError(f"scores have shape {scores.shape} but {source.path} holds "
                                 f"{source.n_rows} jets: give one score per row, in its order")
            labels, valid = source.labels_all(), _valid_all(source, batch_size)
    finally:
        source.close()
    keep = np.ones(len(labels), bool) if valid is None else valid != 0
    summary = metrics.summary(labels[keep], scores[keep], signal_efficiency)
    summary["n_invalid"] = int(len(labels) - keep.sum())
    summary["store"] = source.path
    return Evaluation(metrics=summary, labels=labels[keep], scores=scores[keep])


def _valid_all(source, batch_size):
    """Valid flags of every row: the store's, made by the kernels (constituents), or None."""
    valid = source.valid_all()
    if valid is None and isinstance(source, _JetImages):
        valid = np.empty(source.n_rows, np.int8)

        def put(start, data):
            valid[start:start + len(data["valid"])] = data["valid"]

        _scan(source, batch_size, put)
    return valid
