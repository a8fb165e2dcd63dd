"""Scores of a trained model on a store (:func:`predict`) and its metrics (:func:`evaluate`).

:func:`predict` keeps every row, in the store's order (invalid jets score
NaN); :func:`evaluate` leaves invalid jets out. Given
scores instead of a model, :func:`evaluate` needs no Keras.

A model of two classes gives one score per jet, the signal probability (N,);
a model of K > 2 classes (a store whose ``label_names`` name K classes)
gives the K class probabilities (N, K), columns in ``label_names`` order.
"""

import dataclasses
import os
import pathlib
import zipfile

import numpy as np

from ..checks import integer, output_file
from ..errors import InputError
from ..io.store.stores import image_layout
from ..recipe import Recipe
from ..streams.images import (ImageSource, JetImages, check_recipe, open_images,
                              particle_view, select_particles)
from .modelfile import (TrainedModel, check_label_names, label_names_text, load_model,
                        model_classes)
from .models import _quiet_keras

#: The CNN of the top-tagging comparison (arXiv:1902.09914, Table 1; 1.2M training jets).
PAPER_CNN = {"auc": 0.981, "background_rejection": 900.0, "signal_efficiency": 0.3}


def _scan(source, batch_size, fn, progress=None, fields=None):
    """Call ``fn(start, data)`` on chunk-aligned windows of every row, in order
    (``data``: the ``fields`` of :meth:`read`, default images, labels, valid)."""
    step = source.chunk_rows * max(1, int(batch_size) // source.chunk_rows)
    if progress:
        progress(0, source.n_rows)
    for start in range(0, source.n_rows, step):
        stop = min(start + step, source.n_rows)
        fn(start, source.read(start, stop, fields=fields))
        if progress:
            progress(stop, source.n_rows)


def predict(model, store, *, batch_size=1000, progress=None, output=None, overwrite=False,
            archive=False, allow_incomplete=False, notify=None):
    """Signal probability (K class probabilities) of every jet of a store, in its row order.

    With ``output``, the scores are also written there (checked before any
    scoring: an existing file is refused unless ``overwrite``).

    Parameters
    ----------
    model : str, Path or TrainedModel
        A model file written by :func:`train`.
    store : str or Path
        An image store or pandas image layout made with the model's recipe (checked:
        npix, the channels, and every recipe option when the store records its
        recipe), or a constituents file, whose images are made with the model's
        recipe (channels included). Its ``label_names`` must be the model's
        (checked where it has labels).
    batch_size : int
        Rows per forward pass (rounded to whole chunks of the store).
    progress : callable, optional
        ``progress(done, total)`` in rows.
    output : str or Path, optional
        A ``.npy`` file to write the scores to (written whole or not at all).
    overwrite : bool
        Replace an existing ``output`` (and archive).
    archive : bool
        Also write ``output``'s ``.npy`` in a ``.zip`` beside it (a challenge submission).
    allow_incomplete : bool
        Accept a store of an interrupted build (its unwritten rows read as
        invalid jets: NaN scores).
    notify : callable, optional
        ``notify(line)`` is told when the store differs from the model's
        recipe only in its variation (``vary``, docs/recipe.md): a varied
        sample scored with a nominal model, or the reverse.

    Returns
    -------
    numpy.ndarray
        float32 (N,) for a model of two classes (the probability of class
        1, the signal), (N, K) for K > 2 classes (``label_names`` order);
        row n for row n of the store; invalid jets (``valid`` 0) keep their
        row and score NaN (every column).
    """
    outputs = score_outputs(output, overwrite=overwrite, archive=archive) if output else None
    _exists(store)
    trained = model if isinstance(model, TrainedModel) else load_model(model)
    _model_classes(trained)
    source = _open_for(store, trained.metadata, allow_incomplete, notify)
    try:
        probabilities, _, valid = _score(trained, source, batch_size, progress)
    finally:
        if source is not store:
            source.close()
    if valid is not None:
        probabilities[valid == 0] = np.nan          # an invalid jet has no score
    scores = _signal(probabilities)
    if outputs:
        write_scores(scores, *outputs)
    return scores


def _exists(store):
    """Refuse a missing store before a model is loaded."""
    if isinstance(store, str | os.PathLike) and not os.path.exists(store):
        raise InputError(f"not found: {store}")


def score_outputs(output, *, overwrite=False, archive=False):
    """The files :func:`predict` writes for ``output`` (the ``.npy``, and the ``.zip``
    with ``archive``), checked before any work: suffix, folder, existing files."""
    output = pathlib.Path(output)
    if output.suffix != ".npy":
        raise InputError(f"output {output}: scores are written as .npy (a NumPy array file)")
    paths = [output_file(output, overwrite)]
    if archive:
        paths.append(output_file(output.with_suffix(".zip"), overwrite))
    return paths


def write_scores(scores, output, archive=None):
    """Write ``scores`` to ``output`` (.npy, through a temporary file beside it, so it
    is whole or absent) and, given ``archive``, that .npy zipped there."""
    output = pathlib.Path(output)
    tmp = output.with_name(f".{output.stem}.jetimg-tmp-{os.getpid()}.npy")
    try:
        np.save(tmp, np.asarray(scores, np.float32))
        os.replace(tmp, output)
    finally:
        if tmp.exists():
            tmp.unlink()
    if archive is not None:
        archive = pathlib.Path(archive)
        tmp = archive.with_name(f".{archive.stem}.jetimg-tmp-{os.getpid()}.zip")
        try:
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
                z.write(output, arcname=output.name)
            os.replace(tmp, archive)
        finally:
            if tmp.exists():
                tmp.unlink()


def _signal(probabilities):
    """Two classes: the signal probability (N,); more: the (N, K) probabilities as they are."""
    if probabilities.shape[1] == 2:
        return np.ascontiguousarray(probabilities[:, 1])
    return probabilities


def _model_classes(trained):
    """(K, label_names or None) of a loaded model, its metadata checked against the network."""
    n_classes, names = model_classes(trained.metadata)
    width = int(trained.model.output_shape[-1])
    if width != n_classes:
        raise InputError(f"{trained.path}: the network has {width} outputs but its metadata "
                         f"records {n_classes} classes")
    return n_classes, names


def _score(trained, source, batch_size, progress=None):
    """(probabilities float32 (N, K), labels int8 or None, valid int8 or None) of every
    row, one pass."""
    batch_size = integer("batch_size", batch_size)
    n = source.n_rows
    scores = np.empty((n, int(trained.model.output_shape[-1])), np.float32)
    labels = np.empty(n, np.int8) if source.has_labels else None
    valid = np.empty(n, np.int8)
    known = True
    net = trained.model
    view = model_view(trained.metadata, source)
    field = "images" if view is None else "particles"

    def run(start, data):
        nonlocal known
        images = data[field] if view is None else select_particles(data[field], view)
        stop = start + len(images)
        for s in range(0, len(images), batch_size):
            part = images[s:s + batch_size]
            scores[start + s:start + s + len(part)] = np.asarray(net.predict_on_batch(part))
        if labels is not None:
            labels[start:stop] = data["labels"]
        if data["valid"] is None:
            known = False
        else:
            valid[start:stop] = data["valid"]

    with _quiet_keras():
        _scan(source, batch_size, run, progress,
              fields=(field, "valid") + (("labels",) if labels is not None else ()))
    return scores, labels, (valid if known else None)


def model_view(meta, source):
    """None for an image model; for a particle model, the (P, feature indices) of
    ``source``'s particles it reads (:func:`jetimg.streams.particle_view`), checked.

    Raises
    ------
    InputError
        One line: ``source`` has no particles, fewer per jet than the model
        reads, or not the model's features.
    """
    if meta.get("kind", "image") != "particle":
        return None
    n, features = int(meta["n_particles"]), list(meta["features"])
    arch = meta.get("arch")
    if source.particle_features is None:
        raise InputError(f"{source.path} has no particles but the model ({arch}) reads "
                         f"{n} per jet: build it with jetimg build --particles {n}")
    if source.n_particles < n:
        raise InputError(f"{source.path} holds {source.n_particles} particles per jet but the "
                         f"model ({arch}) reads {n}: build it with --particles {n} or more")
    missing = [f for f in features if f not in source.particle_features]
    if missing:
        raise InputError(f"{source.path} has particle features "
                         f"[{', '.join(source.particle_features)}] but the model ({arch}) "
                         f"reads [{', '.join(features)}]: {missing[0]} is missing")
    return particle_view(source, n, features)


def _open_for(store, meta, allow_incomplete=False, notify=None):
    """Open ``store`` for a model: constituents get the model's recipe; stores are checked
    (recipe, channels, and the class names where the store has labels). A store
    that differs from the model's recipe only in its variation (``vary``) is
    scored, and ``notify`` is told so in one line."""
    recipe = meta.get("recipe")
    if isinstance(store, ImageSource):
        source = store
    elif image_layout(store) is None and os.path.exists(store):
        if recipe is None:
            raise InputError(f"{store} is a constituents file but the model records no recipe "
                             f"(it was trained on the pandas image layout): build an image "
                             f"store with npix={meta.get('npix')} first")
        source = JetImages(store, Recipe.from_attrs(recipe))
    else:
        source = open_images(store, allow_incomplete=allow_incomplete)
    try:
        note = check_recipe(recipe if recipe is not None else {"npix": meta.get("npix")},
                            source, "the model (its training data)", allow_vary=True)
        if note is not None and notify is not None:
            notify(note)
        model_view(meta, source)
        if source.has_labels or source.label_names is not None:
            check_label_names(model_classes(meta)[1], source.label_names, source.path,
                              "the model (its training store)")
    except BaseException:
        if source is not store:
            source.close()
        raise
    return source


@dataclasses.dataclass
class Evaluation:
    """Metrics of a tagger on a labelled store, and the arrays behind them.

    Attributes
    ----------
    metrics : dict
        Two classes: :func:`jetimg.metrics.summary` (n_jets, auc, accuracy,
        background_rejection at signal_efficiency); K > 2 classes:
        :func:`jetimg.metrics.multiclass_summary` (accuracy, confusion
        matrix, one-vs-rest AUC per class, JetClass's rejections of QCD,
        notes) with the AUCs named for what they are: ``auc_vs_rest`` (the
        same as ``auc``) and ``auc_vs_rest_mean``, and ``auc_vs_qcd`` (each
        class against QCD only, as the ROC figure draws it); both plus
        ``n_invalid`` (jets left out) and ``store``.
    labels, scores : numpy.ndarray
        The valid jets' labels (int8) and scores (float32: (n,), or (n, K)
        for K > 2 classes), in row order.
    plots : list of str
        The figures written (ROC curves, score distributions, and for K > 2
        classes the confusion matrix), if any.
    label_names : list of str or None
        The class names (the model's, else the store's; None where neither
        names them).
    """

    metrics: dict
    labels: np.ndarray
    scores: np.ndarray
    plots: list = dataclasses.field(default_factory=list)
    label_names: list | None = None


def evaluate(store, *, model=None, scores=None, signal_efficiency=0.3, batch_size=1000,
             progress=None, plots=None, overwrite=False, allow_incomplete=False, notify=None):
    """AUC, accuracy and 1/eps_B of a tagger on a labelled store (invalid jets left out).

    Two classes: the AUC, the accuracy of the cut at 0.5 and 1/eps_B at
    ``signal_efficiency``. K > 2 classes (the model's, or the store's
    ``label_names`` with (N, K) scores): the accuracy (highest score), the
    confusion matrix, the one-vs-rest AUC of each class, the AUC of each class X
    against QCD jets only (the ROC figure's curves), and for each class X
    other than QCD the rejection of QCD at X's efficiency as JetClass's paper
    quotes it (:func:`jetimg.metrics.jetclass_rejections`; classes without
    jets in the store are left out, and without a QCD class it is not
    computed, which ``metrics["notes"]`` says).

    Parameters
    ----------
    store : str or Path
        An image store, pandas image layout or constituents file, with labels.
    model : str, Path or TrainedModel, optional
        Score the store with this model (needs the ``train`` extra) ...
    scores : array-like or str or Path, optional
        ... or use these scores (N,) in the store's row order ((N, K) for a
        store whose ``label_names`` name K > 2 classes), or a ``.npy`` of
        them (as ``jetimg predict`` writes); needs no Keras.
    signal_efficiency : float
        eps_S of the background rejection of two classes (0.3 in
        arXiv:1902.09914); K > 2 classes use JetClass's efficiencies.
    batch_size : int
    progress : callable, optional
    plots : str or Path, optional
        Write the ROC curve and the score distributions to ``{plots}_roc.png``
        and ``{plots}_scores.png``, and for K > 2 classes the confusion matrix
        to ``{plots}_confusion.png`` (checked before any scoring).
    overwrite : bool
        Replace existing plots.
    allow_incomplete : bool
        Accept a store of an interrupted build (its unwritten rows read as
        invalid jets, left out).
    notify : callable, optional
        As for :func:`predict`: told in one line when the store differs from
        the model's recipe only in its variation. ``metrics["vary"]`` is the
        store's variation either way (its recipe's ``vary``, None for the
        nominal jets or a store that records no recipe).

    Returns
    -------
    Evaluation
    """
    from .. import metrics

    if (model is None) == (scores is None):
        raise InputError("give a model or scores (one of them)")
    figures = plot_outputs(plots, overwrite=overwrite) if plots is not None else []
    _exists(store)
    trained = None
    if model is not None:
        trained = model if isinstance(model, TrainedModel) else load_model(model)
        source = _open_for(store, trained.metadata, allow_incomplete, notify)
    else:
        source = open_images(store, allow_incomplete=allow_incomplete)
    vary = (source.recipe or {}).get("vary")
    try:
        if not source.has_labels:
            raise InputError(f"{source.path} has no labels: evaluate needs the truth "
                             "(jetimg predict gives the scores of a store without labels)")
        if trained is not None:
            n_classes, names = _model_classes(trained)
            names = names or source.label_names     # a store may name a model's two classes
        else:
            names = source.label_names
            n_classes = len(names) if names else 2
            scores = _given_scores(scores, source, n_classes, names)
        if figures and n_classes > 2:
            figures += plot_outputs(plots, overwrite=overwrite, n_classes=n_classes)[2:]
        if trained is not None:
            scores, labels, valid = _score(trained, source, batch_size, progress)
            scores = _signal(scores)
        else:
            labels, valid = source.labels_all(), _valid_all(source, batch_size)
    finally:
        source.close()
    keep = np.ones(len(labels), bool) if valid is None else valid != 0
    if n_classes == 2:
        summary = metrics.summary(labels[keep], scores[keep], signal_efficiency)
    else:
        summary = metrics.multiclass_summary(labels[keep], scores[keep], names)
        summary.update(_named_aucs(summary, labels[keep], scores[keep]))
    summary["n_invalid"] = int(len(labels) - keep.sum())
    summary["store"] = source.path
    summary["vary"] = vary
    result = Evaluation(metrics=summary, labels=labels[keep], scores=scores[keep],
                        label_names=list(names) if names else None)
    if figures:
        _plot(result, figures, signal_efficiency, overwrite)
    return result


def _named_aucs(summary, labels, scores):
    """The two AUCs of K classes, each named for what it is: ``auc_vs_rest`` (class name ->
    AUC of the class against all other jets with its own score; ``multiclass_summary``'s
    ``auc``, kept under that name too) and its mean ``auc_vs_rest_mean``; ``auc_vs_qcd``
    (class name -> AUC of the class against QCD jets only with s_X / (s_X + s_QCD), the
    curves of the ROC figure and the discriminant of the rejections; empty where the
    rejections are not computed)."""
    from .. import metrics

    names = summary["label_names"]
    vs_qcd = {}
    if summary["background_rejection"]:
        qcd = names.index(metrics.BACKGROUND_CLASS)
        for name in summary["background_rejection"]:
            k = names.index(name)
            pair = (labels == k) | (labels == qcd)
            s, b = scores[pair, k].astype(np.float64), scores[pair, qcd].astype(np.float64)
            total = s + b
            disc = np.divide(s, total, out=np.full(s.shape, 0.5), where=total > 0)
            vs_qcd[name] = metrics.auc(labels[pair] == k, disc)
    return {"auc_vs_rest": dict(summary["auc"]), "auc_vs_rest_mean": summary["auc_mean"],
            "auc_vs_qcd": vs_qcd}


def _given_scores(scores, source, n_classes, names):
    """Scores given to :func:`evaluate` (array or .npy), checked against the store:
    (N,) for two classes ((N, 2) probabilities give their column 1), (N, K) for K > 2."""
    if isinstance(scores, str | os.PathLike):
        if not os.path.isfile(scores):
            raise InputError(f"scores not found: {scores}")
        try:
            scores = np.load(scores, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read scores {scores}: {exc}") from None
    scores = np.asarray(scores, dtype=np.float32)
    n = source.n_rows
    if n_classes == 2 and scores.shape == (n,):
        return scores
    if scores.shape == (n, n_classes):
        return _signal(scores)
    if n_classes == 2:
        raise InputError(f"scores have shape {scores.shape} but {source.path} holds {n} jets: "
                         "give one score per row, in its order")
    raise InputError(f"scores have shape {scores.shape} but {source.path} holds {n} jets of "
                     f"{n_classes} classes {label_names_text(names)}: give ({n}, {n_classes}) "
                     "class probabilities, rows in its order")


def _plot(result, figures, signal_efficiency, overwrite):
    """Write :func:`evaluate`'s figures: ROC and scores (two classes), and the confusion
    matrix beside them (K > 2)."""
    from ..plots.style import save_figure

    from ..plots.training import plot_roc, plot_scores

    labels, scores, store = result.labels, result.scores, result.metrics["store"]
    names = result.label_names
    if scores.ndim == 1:
        made = [plot_roc(labels, scores, signal_efficiency=signal_efficiency,
                         label_names=names, store=store),
                plot_scores(labels, scores, label_names=names, store=store)]
    else:
        from ..metrics import BACKGROUND_CLASS
        from ..plots.confusion import plot_class_scores, plot_confusion

        # each class against QCD where the rejections are (the discriminant s_X / (s_X +
        # s_QCD)), else against the rest
        against = BACKGROUND_CLASS if result.metrics["background_rejection"] else None
        made = [plot_roc(labels, scores, signal_efficiency=0.5, label_names=names,
                         background=against, store=store),
                plot_class_scores(labels, scores, names, store=store),
                plot_confusion(labels, scores, names, store=store)]
    for fig, path in zip(made, figures):
        save_figure(fig, path, overwrite=overwrite)
    result.plots = [str(p) for p in figures]


def plot_outputs(prefix, *, overwrite=False, n_classes=2):
    """The figures :func:`evaluate` writes for ``prefix``: ``{prefix}_roc.png`` and
    ``{prefix}_scores.png`` (and ``{prefix}_confusion.png`` for K > 2 classes),
    checked before any work."""
    prefix = str(prefix)
    names = ("roc", "scores") + (("confusion",) if n_classes > 2 else ())
    return [output_file(f"{prefix}_{name}.png", overwrite) for name in names]


def _valid_all(source, batch_size):
    """Valid flags of every row: the store's, made by the kernels (constituents), or None."""
    valid = source.valid_all()
    if valid is None and isinstance(source, JetImages):
        valid = np.empty(source.n_rows, np.int8)

        def put(start, data):
            valid[start:start + len(data["valid"])] = data["valid"]

        _scan(source, batch_size, put)
    return valid
