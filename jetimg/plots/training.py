"""Plots of a trained tagger: ROC curves, score distributions, training history.

Each function returns a :class:`matplotlib.figure.Figure` (made without
pyplot, so nothing is shown and no GUI backend is needed); save it with
:func:`jetimg.plots.save_figure`. Metrics come from :mod:`jetimg.metrics`.

Classes are named by ``label_names`` (a store's attribute: the class names in
label order; without it label 0 is "QCD" and label 1 "top") and drawn in
their colour of :mod:`jetimg.plots.colours`, the same as in the store's other
figures. Scores are either (N,) signal scores with labels 0 and 1, or (N, K)
class scores with labels 0 ... K-1: the ROC then has one curve per class
(one against the rest, or against one ``background`` class) and the score
plot draws the score of one ``signal`` class for every true class.

>>> from jetimg.plots.training import plot_roc
>>> fig = plot_roc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
>>> fig.axes[0].get_xlabel(), fig.get_suptitle()
('signal efficiency $\\\\epsilon_S$', 'ROC: top vs QCD')
"""

import csv
import pathlib

import numpy as np

from ..errors import InputError
from ..metrics import auc, background_rejection, check_class_scores, check_scores, roc_curve
from .colours import class_colours
from .style import hep_style

__all__ = ["DEFAULT_NAMES", "plot_roc", "plot_scores", "plot_history", "read_history"]

#: Class names of labels 0 and 1 when no label_names are given (top tagging).
DEFAULT_NAMES = ("QCD", "top")

#: Line styles of further curves of one class overlaid on one axes.
_OVERLAY_STYLES = ("-", "-.", ":", (0, (5, 1.5)), (0, (3, 1, 1, 1, 1, 1)))


def _figure(ncols=1, width=5.0, height=4.2):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    axes = fig.subplots(1, ncols)
    return fig, axes


def _class_names(label_names, k):
    """The K class names in label order: ``label_names`` (a sequence, or a mapping
    label value -> name), else :data:`DEFAULT_NAMES` for K = 2, else "label i"."""
    if label_names is None:
        return list(DEFAULT_NAMES) if k == 2 else [f"label {i}" for i in range(k)]
    if isinstance(label_names, dict):
        return [str(label_names.get(i, f"label {i}")) for i in range(k)]
    names = [str(n) for n in label_names]
    if len(names) != k:
        what = ("binary labels and scores (N,) need two" if k == 2 else
                f"the scores have {k} columns and need {k}")
        raise InputError(f"{what} label_names (background first); got {len(names)}: "
                         f"{', '.join(names)}")
    return names


def _store_name(store):
    """The file name shown in titles: of a path, or of an open Store's path."""
    if store is None:
        return None
    return pathlib.Path(str(getattr(store, "path", store))).name


def _title(what, store):
    name = _store_name(store)
    return f"{what} ({name})" if name else what


def _check_classes(labels, scores, label_names):
    """Labels 0 ... K-1 (N,) and scores (N, K), checked as the metrics check them
    (:func:`jetimg.metrics.check_class_scores`; True/False labels are 1 and 0); and
    the K class names."""
    labels = np.asarray(labels)
    labels, scores = check_class_scores(labels.astype(np.int64) if labels.dtype == bool
                                        else labels, scores)
    return labels, scores, _class_names(label_names, scores.shape[1])


def _class_index(which, names, what):
    """The label of class ``which`` (a name of ``names`` or a label value)."""
    if isinstance(which, str) and which in names:
        return names.index(which)
    if isinstance(which, int | np.integer) and not isinstance(which, bool) \
            and 0 <= which < len(names):
        return int(which)
    raise InputError(f"{what}={which!r} is not one of the classes: {', '.join(names)}")


def _roc_curves(labels, scores, label_names, background):
    """[(class name, binary labels, scores)] of each curve, the class names, the title, and
    the name of the curves' AUC: "AUC" (signal scores), "AUC vs rest" (each class against
    all others) or "AUC vs B" (each class against class B)."""
    scores_array = np.asarray(scores)
    if scores_array.ndim != 2:
        if background is not None:
            raise InputError("background= needs class scores (N, K); signal scores (N,) "
                             "are one class against the other already")
        names = _class_names(label_names, 2)
        return [(names[1], labels, scores)], names, f"ROC: {names[1]} vs {names[0]}", "AUC"
    labels, scores, names = _check_classes(labels, scores_array, label_names)
    curves = []
    if background is None:
        for i, name in enumerate(names):
            truth = labels == i
            if truth.any() and not truth.all():
                curves.append((name, truth, scores[:, i]))
        if not curves:
            raise InputError("no ROC curve to draw: the labels hold one class only")
        return curves, names, "ROC: each class vs the rest", "AUC vs rest"
    b = _class_index(background, names, "background")
    for i, name in enumerate(names):
        pair = (labels == i) | (labels == b)
        if i == b or not (labels == i).any() or not (labels == b).any():
            continue
        s, sb = scores[pair, i], scores[pair, b]
        total = s + sb
        disc = np.divide(s, total, out=np.full(s.shape, 0.5), where=total > 0)
        curves.append((name, labels[pair] == i, disc))
    if not curves:
        raise InputError(f"no ROC curve to draw: the labels need jets of {names[b]} and of "
                         "another class")
    return curves, names, f"ROC: each class vs {names[b]}", f"AUC vs {names[b]}"


def _legend_above(ax):
    """The legend above the axes (under the figure's title), clear of every curve:
    the taggers' curves first, two columns when the entries are short or many."""
    handles, texts = ax.get_legend_handles_labels()
    order = sorted(range(len(texts)), key=lambda i: handles[i].get_gid() != "roc")
    handles, texts = [handles[i] for i in order], [texts[i] for i in order]
    longest = max((len(t) for t in texts), default=0)
    ncols = 2 if len(texts) > 4 or (len(texts) > 2 and longest <= 30) else 1
    return ax.legend(handles, texts, loc="lower center", bbox_to_anchor=(0.5, 1.02),
                     ncols=ncols, fontsize="small" if len(texts) <= 4 else "x-small",
                     borderaxespad=0.0, columnspacing=1.2)


def plot_roc(labels, scores, *, signal_efficiency=0.3, label=None, ax=None, label_names=None,
             store=None, title=None, background=None, color=None):
    """The ROC curve as the top-tagging comparison draws it: 1/eps_B against eps_S.

    Background rejection on a log scale, the random tagger (1/eps_B = 1/eps_S)
    dashed, and the working point ``signal_efficiency`` marked. The curve
    takes the signal class's colour; the legend sits above the axes, so it
    covers neither the curves nor the random line; the figure's title says
    what was evaluated (the store and the classes).

    Parameters
    ----------
    labels : array-like, (N,)
        Signal scores: 1 for signal, 0 for background. Class scores: the
        class index, 0 ... K-1.
    scores : array-like, (N,) or (N, K)
        Larger is more signal-like. (N, K) class scores (e.g. a softmax)
        give one curve per class present: that class against all others
        with its own score, or with ``background`` against that class only,
        with the discriminant s_X / (s_X + s_B) (as JetClass's rejections).
    signal_efficiency : float
        The working point to mark (0.3, as arXiv:1902.09914's table).
    label : str, optional
        Legend entry of a single curve (default: the AUC and 1/eps_B). With
        class scores the legend names each curve's AUC for what it is:
        "AUC vs rest" (one class against all others) or, with
        ``background``, "AUC vs QCD" (one class against that class only).
    ax : matplotlib Axes, optional
        Draw into it (to overlay taggers) instead of a new figure; a second
        curve of a class keeps its colour and takes another line style.
    label_names : sequence of str or dict, optional
        The class names in label order (the store's ``label_names``);
        default :data:`DEFAULT_NAMES` (0 QCD, 1 top) for signal scores.
    store : str, Path or Store, optional
        The store evaluated; its file name goes into the title.
    title : str, optional
        The figure's title (default, when the axes held no ROC curve yet:
        the classes and the store's name; "" leaves the title as it is).
    background : str or int, optional
        Class scores only: each class against this class (a name of
        ``label_names`` or a label) instead of against the rest.
    color : str, optional
        The curve's colour (default: the signal class's).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    InputError
        Labels or scores of the wrong shape or values, or ``label_names``
        not naming every class.

    >>> import numpy as np
    >>> fig = plot_roc([0, 1, 2, 2], np.eye(3)[[0, 1, 2, 1]], label_names=["QCD", "Wqq", "Tbqq"],
    ...                store="test.zarr")
    >>> fig.get_suptitle()
    'ROC: each class vs the rest (test.zarr)'
    """
    curves, names, what, auc_name = _roc_curves(labels, scores, label_names, background)
    colours = class_colours(names)
    with hep_style():
        if ax is None:
            fig, ax = _figure(width=5.0 if len(curves) < 3 else 6.0)
        else:
            fig = ax.figure
        first = not any(line.get_gid() == "random" for line in ax.get_lines())
        for name, truth, values in curves:
            eps_s, eps_b, _ = roc_curve(truth, values)
            area = auc(truth, values)
            rejection = background_rejection(truth, values, signal_efficiency)
            rejection_text = f"{rejection:.0f}" if np.isfinite(rejection) else "inf"
            text = f"{auc_name} = {area:.4f}, 1/$\\epsilon_B$ = {rejection_text}"
            if len(curves) > 1:
                text = f"{name}: {text}"
            elif label:
                text = label
            colour = color or colours[name]
            same = sum(line.get_gid() == "roc" and line.get_color() == colour
                       for line in ax.get_lines())
            keep = eps_b > 0
            ax.plot(eps_s[keep], 1.0 / eps_b[keep], lw=1.8, color=colour, gid="roc",
                    ls=_OVERLAY_STYLES[same % len(_OVERLAY_STYLES)], label=text)
            if np.isfinite(rejection):
                ax.plot([signal_efficiency], [rejection], "o", color=colour, ms=4,
                        gid="working point")
        if first:  # the references once, not again for each overlaid tagger
            grid = np.linspace(0.01, 1.0, 200)
            ax.plot(grid, 1.0 / grid, ls="--", color="0.5", lw=1.0, label="random",
                    gid="random")
            ax.axvline(signal_efficiency, color="0.7", lw=0.8, ls=":",
                       label=f"$\\epsilon_S$ = {signal_efficiency:g}")
        ax.set_yscale("log")
        ax.set_xlim(0.0, 1.0)
        ax.set_xlabel("signal efficiency $\\epsilon_S$")
        ax.set_ylabel("background rejection 1/$\\epsilon_B$")
        _legend_above(ax)
        if title is None and first:
            title = _title(what, store)
        if title:
            fig.suptitle(title)
    return fig


def plot_scores(labels, scores, *, bins=50, label_names=None, signal=None, store=None,
                title=None, ax=None):
    """Distributions of the tagger score per true class (each normalised to unit area).

    Each class is drawn in its colour (the same as in the store's other
    figures); the legend sits above the axes and the figure's title says
    what was evaluated.

    Parameters
    ----------
    labels : array-like, (N,)
        Signal scores: 1 for signal, 0 for background. Class scores: the
        class index, 0 ... K-1.
    scores : array-like, (N,) or (N, K)
        (N, K) class scores: the score of class ``signal`` is drawn, one
        histogram for each true class present.
    bins : int or sequence
        Histogram bins; an int spans the scores' range (0 to 1 for probabilities).
    label_names : sequence of str or dict, optional
        The class names in label order (the store's ``label_names``);
        default :data:`DEFAULT_NAMES` (0 QCD, 1 top) for signal scores.
    signal : str or int, optional
        Class scores: the class whose score is drawn (a name of
        ``label_names`` or a label); needed when K > 2, the last class for K = 2.
    store : str, Path or Store, optional
        The store evaluated; its file name goes into the title.
    title : str, optional
        The figure's title (default, for a new figure: the classes and the
        store's name; "" leaves the title as it is).
    ax : matplotlib Axes, optional
        Draw into it (e.g. a panel of a grid) instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    InputError
        Labels or scores of the wrong shape or values, ``label_names`` not
        naming every class, or no ``signal`` for class scores with K > 2.

    >>> fig = plot_scores([0, 1, 1], [0.2, 0.7, 0.9], label_names=["QCD", "Wqq"])
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()], fig.get_suptitle()
    (['QCD (1 jets)', 'Wqq (2 jets)'], 'Tagger scores: Wqq vs QCD')
    """
    if np.asarray(scores).ndim == 2:
        labels, scores, names = _check_classes(labels, scores, label_names)
        if signal is None and len(names) > 2:
            raise InputError(f"class scores of {len(names)} classes: give signal= the class "
                             f"whose score to draw (one of {', '.join(names)})")
        s = _class_index(names[-1] if signal is None else signal, names, "signal")
        scores, what = scores[:, s], f"Score of {names[s]} per class"
        xlabel = f"tagger score ({names[s]} probability)"
    else:
        if signal is not None:
            raise InputError("signal= is for class scores (N, K); signal scores (N,) are "
                             "the signal's already")
        labels, scores = check_scores(labels, scores, need_both=False)
        labels = labels.astype(np.int64)
        names = _class_names(label_names, 2)
        what = f"Tagger scores: {names[1]} vs {names[0]}"
        xlabel = f"tagger score ({names[1]} probability)"
    if isinstance(bins, int | np.integer):
        lo, hi = (0.0, 1.0) if scores.size and scores.min() >= 0 and scores.max() <= 1 else (
            (float(scores.min()), float(scores.max())) if scores.size else (0.0, 1.0))
        bins = np.linspace(lo, hi if hi > lo else lo + 1.0, int(bins) + 1)
    colours = class_colours(names)
    with hep_style():
        first = ax is None
        if first:
            fig, ax = _figure(width=5.0 if len(names) < 5 else 6.0)
        else:
            fig = ax.figure
        for value, name in enumerate(names):
            values = scores[labels == value]
            if values.size:
                ax.hist(values, bins=bins, density=True, histtype="step", lw=1.6,
                        color=colours[name], label=f"{name} ({values.size} jets)")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("normalised jets")
        _legend_above(ax)
        if title is None and first:
            title = _title(what, store)
        if title:
            fig.suptitle(title)
    return fig


def read_history(path):
    """A Keras CSVLogger file as a dict of column name -> float array."""
    path = pathlib.Path(path)
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        raise InputError(f"training log not found: {path}") from None
    if not rows:
        raise InputError(f"training log {path} has no epochs")
    return {key: np.array([float(r[key]) if r[key] not in ("", None) else np.nan
                           for r in rows]) for key in rows[0]}


def plot_history(history):
    """Loss and accuracy per epoch, training and validation, side by side.

    Parameters
    ----------
    history : str, Path or dict
        The CSV log written by ``jetimg train`` (Keras CSVLogger), or a dict
        such as ``keras.callbacks.History.history`` (``loss``, ``val_loss``,
        ``accuracy``, ``val_accuracy``, each a list per epoch; ``epoch``
        optional, 0-based).

    Returns
    -------
    matplotlib.figure.Figure

    >>> fig = plot_history({"loss": [0.6, 0.4], "val_loss": [0.5, 0.45],
    ...                     "accuracy": [0.7, 0.8], "val_accuracy": [0.75, 0.8]})
    >>> [ax.get_ylabel() for ax in fig.axes]
    ['loss', 'accuracy']
    """
    if not isinstance(history, dict):
        history = read_history(history)
    history = {k: np.asarray(v, dtype=float) for k, v in history.items()}
    if "loss" not in history:
        raise InputError(f"history has no 'loss' (it has {', '.join(history) or 'nothing'})")
    n = len(history["loss"])
    epochs = history.get("epoch", np.arange(n)) + 1
    with hep_style():
        fig, axes = _figure(ncols=2, width=4.6)
        for ax, metric in zip(axes, ("loss", "accuracy")):
            for prefix, name, style in (("", "training", "-"), ("val_", "validation", "--")):
                values = history.get(prefix + metric)
                if values is not None:
                    ax.plot(epochs, values, style, marker="o", ms=3, label=name)
            val_loss = history.get("val_loss")
            if metric == "loss" and val_loss is not None and np.isfinite(val_loss).any():
                best = int(np.nanargmin(history["val_loss"]))
                ax.plot([epochs[best]], [history["val_loss"][best]], "*", color="k", ms=9,
                        label=f"best (epoch {int(epochs[best])})")
            ax.set_xlabel("epoch")
            ax.set_ylabel(metric)
            ax.legend(fontsize=9)
            ax.xaxis.get_major_locator().set_params(integer=True)
    return fig
