"""Plots of a trained tagger: ROC curve, score distributions, training history.

Each function returns a :class:`matplotlib.figure.Figure` (made without
pyplot, so nothing is shown and no GUI backend is needed); save it with
:func:`jetimg.plots.save_figure`. Metrics come from :mod:`jetimg.metrics`.

>>> from jetimg.plots.training import plot_roc
>>> fig = plot_roc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
>>> fig.axes[0].get_xlabel()
'signal efficiency $\\\\epsilon_S$'
"""

import csv
import pathlib

import numpy as np

from ..errors import InputError
from ..metrics import auc, background_rejection, check_scores, roc_curve
from .style import hep_style

__all__ = ["plot_roc", "plot_scores", "plot_history", "read_history"]


def _figure(ncols=1, width=5.0, height=4.2):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    axes = fig.subplots(1, ncols)
    return fig, axes


def plot_roc(labels, scores, *, signal_efficiency=0.3, label=None, ax=None):
    """The ROC curve as the top-tagging comparison draws it: 1/eps_B against eps_S.

    Background rejection on a log scale, the random tagger (1/eps_B = 1/eps_S)
    dashed, and the working point ``signal_efficiency`` marked.

    Parameters
    ----------
    labels : array-like, (N,)
        1 for signal, 0 for background.
    scores : array-like, (N,)
        Larger is more signal-like.
    signal_efficiency : float
        The working point to mark (0.3, as arXiv:1902.09914's table).
    label : str, optional
        Legend entry (default: the AUC and 1/eps_B).
    ax : matplotlib Axes, optional
        Draw into it (to overlay taggers) instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    eps_s, eps_b, _ = roc_curve(labels, scores)
    area = auc(labels, scores)
    rejection = background_rejection(labels, scores, signal_efficiency)
    keep = eps_b > 0
    with hep_style():
        first = ax is None
        if first:
            fig, ax = _figure()
        else:
            fig = ax.figure
        text = f"1/$\\epsilon_B$ = {rejection:.0f}" if np.isfinite(rejection) else \
            "1/$\\epsilon_B$ = inf"
        ax.plot(eps_s[keep], 1.0 / eps_b[keep], lw=1.8,
                label=label or f"AUC = {area:.4f}, {text} at $\\epsilon_S$ = {signal_efficiency:g}")
        if np.isfinite(rejection):
            ax.plot([signal_efficiency], [rejection], "o", color="k", ms=4)
        if first:  # the references once, not again for each overlaid tagger
            grid = np.linspace(0.01, 1.0, 200)
            ax.plot(grid, 1.0 / grid, ls="--", color="0.5", lw=1.0, label="random")
            ax.axvline(signal_efficiency, color="0.7", lw=0.8, ls=":")
        ax.set_yscale("log")
        ax.set_xlim(0.0, 1.0)
        ax.set_xlabel("signal efficiency $\\epsilon_S$")
        ax.set_ylabel("background rejection 1/$\\epsilon_B$")
        ax.legend(loc="lower left", fontsize=9)
    return fig


def plot_scores(labels, scores, *, bins=50, names=("QCD", "top"), ax=None):
    """Distributions of the tagger score for background and signal jets (normalised).

    Parameters
    ----------
    labels : array-like, (N,)
        1 for signal, 0 for background.
    scores : array-like, (N,)
    bins : int or sequence
        Histogram bins; an int spans the scores' range (0 to 1 for probabilities).
    names : (str, str)
        Legend names of the background and signal class.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    >>> fig = plot_scores([0, 1, 1], [0.2, 0.7, 0.9])
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    ['QCD (1 jets)', 'top (2 jets)']
    """
    labels, scores = check_scores(labels, scores, need_both=False)
    if isinstance(bins, int | np.integer):
        lo, hi = (0.0, 1.0) if scores.size and scores.min() >= 0 and scores.max() <= 1 else (
            (float(scores.min()), float(scores.max())) if scores.size else (0.0, 1.0))
        bins = np.linspace(lo, hi if hi > lo else lo + 1.0, int(bins) + 1)
    with hep_style():
        if ax is None:
            fig, ax = _figure()
        else:
            fig = ax.figure
        for cls, name, color in ((False, names[0], "tab:blue"), (True, names[1], "tab:red")):
            values = scores[labels == cls]
            if values.size:
                ax.hist(values, bins=bins, density=True, histtype="step", lw=1.6,
                        color=color, label=f"{name} ({values.size} jets)")
        ax.set_yscale("log")
        ax.set_xlabel("tagger score (signal probability)")
        ax.set_ylabel("normalised jets")
        ax.legend(loc="upper center", fontsize=9)
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
