"""Figures of a tagger of K > 2 classes: the confusion matrix, and the scores class by class.

Inputs as :mod:`jetimg.metrics`' multi-class functions: ``labels`` (N,) class
indices 0 ... K-1 and ``scores`` (N, K), one column per class (a softmax),
with ``label_names`` the K class names. Each function returns a
:class:`matplotlib.figure.Figure` (made without pyplot); save it with
:func:`jetimg.plots.save_figure`.

>>> from jetimg.plots.confusion import plot_confusion
>>> fig = plot_confusion([0, 1, 2, 2], [[.6, .3, .1], [.2, .7, .1], [.1, .8, .1], [.1, .1, .8]],
...                      ["QCD", "Wqq", "Tbqq"])
>>> fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()
('predicted class', 'true class')
"""

import numpy as np

from ..errors import InputError
from ..metrics import check_class_scores, class_accuracy, confusion_matrix
from .draw import text_width
from .style import hep_style
from .training import _title, plot_scores

__all__ = ["plot_confusion", "plot_class_scores"]


def _names(label_names, n_classes):
    """The K class names (default "0", "1", ...), checked against the scores' columns."""
    if label_names is None:
        return [str(k) for k in range(n_classes)]
    names = [str(n) for n in label_names]
    if len(names) != n_classes:
        raise InputError(f"{len(names)} label_names ({', '.join(names)}) for scores of "
                         f"{n_classes} classes")
    return names


def plot_confusion(labels, scores, label_names=None, *, store=None, all_rows=False):
    """The confusion matrix: the fraction of each true class given each predicted class.

    The predicted class is the one of the highest score. Each row (a true
    class) sums to 1 and is coloured by its fractions; each cell shows the
    percentage and, below it, the number of jets. Rows of classes without
    jets are left out (``all_rows`` keeps them); every class is a column.

    Parameters
    ----------
    labels : array-like, (N,)
        Class indices 0 ... K-1.
    scores : array-like, (N, K)
    label_names : sequence of str, optional
        The K class names (default "0", "1", ...).
    store : str or Path, optional
        The store evaluated; its file name goes into the title.
    all_rows : bool
        Draw a row for every class, also those without jets.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    labels, scores = check_class_scores(labels, scores)
    n_classes = scores.shape[1]
    names = _names(label_names, n_classes)
    counts = confusion_matrix(labels, scores)
    totals = counts.sum(axis=1)
    rows = np.arange(n_classes) if all_rows else np.flatnonzero(totals)
    if not len(rows):
        raise InputError("no jets to draw a confusion matrix of")
    fractions = counts[rows] / np.maximum(totals[rows], 1)[:, None]
    title = _title(f"Confusion matrix, accuracy {class_accuracy(labels, scores):.3f}", store)
    with hep_style():
        import matplotlib

        # as wide as the title, for few classes
        width = max(1.6 + 0.62 * n_classes,
                    text_width([title], matplotlib.rcParams["figure.titlesize"]) + 0.3)
        fig = Figure(figsize=(width, 1.5 + 0.5 * len(rows)), layout="constrained")
        ax = fig.subplots()
        image = ax.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0, origin="upper",
                          aspect="auto")
        for i in range(len(rows)):
            for j in range(n_classes):
                dark = fractions[i, j] > 0.55
                ax.text(j, i, f"{100 * fractions[i, j]:.0f}%\n{counts[rows[i], j]}",
                        ha="center", va="center", fontsize="x-small",
                        color="white" if dark else "black")
        ax.set_xticks(range(n_classes), names, rotation=45, ha="right")
        ax.set_yticks(range(len(rows)), [names[k] for k in rows])
        ax.tick_params(which="both", top=False, right=False, length=0)
        ax.minorticks_off()
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        fig.colorbar(image, ax=ax, label="fraction of the true class")
        fig.suptitle(title)
    return fig


def plot_class_scores(labels, scores, label_names=None, *, store=None, bins=50):
    """The score of each class, one panel per class with jets, for jets of every true class.

    Panel k draws :func:`jetimg.plots.training.plot_scores` of class k's
    score (``signal=k``): one normalised histogram per true class, in the
    classes' colours.

    Parameters
    ----------
    labels : array-like, (N,)
        Class indices 0 ... K-1.
    scores : array-like, (N, K)
    label_names : sequence of str, optional
        The K class names (default "0", "1", ...).
    store : str or Path, optional
        The store evaluated; its file name goes into the title.
    bins : int or sequence

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    labels, scores = check_class_scores(labels, scores)
    names = _names(label_names, scores.shape[1])
    present = np.flatnonzero(np.bincount(labels, minlength=len(names)))
    if not len(present):
        raise InputError("no jets to draw the scores of")
    ncols = min(len(present), 3)
    nrows = -(-len(present) // ncols)
    with hep_style():
        fig = Figure(figsize=(4.6 * ncols, 4.4 * nrows), layout="constrained")
        axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
        for ax, k in zip(axes, present):
            plot_scores(labels, scores, label_names=names, signal=int(k), bins=bins, ax=ax,
                        title="")
        for ax in axes[len(present):]:
            ax.set_visible(False)
        fig.suptitle(_title("Score of each class, per true class", store))
    return fig
