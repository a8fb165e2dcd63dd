"""Binary tagger metrics in plain NumPy: ROC curve, AUC, background rejection, accuracy.

* ``labels``: (N,) integers or booleans, 1 (or True) for signal, 0 for background;
* ``scores``: (N,) floats, larger means more signal-like (e.g. the signal
  probability of a softmax).

Signal efficiency eps_S (true-positive rate) and background efficiency eps_B
(false-positive rate) are those of the cut ``score >= threshold``. Tied scores
move together, so a tie is never split by the order of the rows. The
background rejection 1/eps_B at eps_S = 0.3 is the figure arXiv:1902.09914
tabulates for each top tagger.

>>> from jetimg.metrics import auc, background_rejection
>>> labels = [0, 0, 1, 1]
>>> scores = [0.1, 0.4, 0.35, 0.8]
>>> auc(labels, scores)
0.75
>>> background_rejection(labels, scores, signal_efficiency=0.5)
inf
"""

import math

import numpy as np

from ..errors import InputError

__all__ = ["check_scores", "roc_curve", "auc", "background_rejection", "accuracy", "summary"]


def check_scores(labels, scores, need_both=True):
    """Labels and scores checked and converted: 1-D, same length, binary labels, finite scores.

    Parameters
    ----------
    labels : array-like, (N,)
        1 (or True) for signal, 0 (or False) for background.
    scores : array-like, (N,)
        Larger is more signal-like.
    need_both : bool
        Require both classes among the labels (as the ROC curve does).

    Returns
    -------
    labels : ndarray, bool, (N,)
    scores : ndarray, float64, (N,)

    Raises
    ------
    InputError
        Shapes differ or are not 1-D, a label is not 0 or 1, a score is NaN or
        inf, or (with ``need_both``) one class is missing.

    Examples
    --------
    >>> labels, scores = check_scores([0, 1, 1], [0.2, 0.7, 0.9])
    >>> labels.tolist(), scores.dtype
    ([False, True, True], dtype('float64'))
    >>> check_scores([1, 1], [0.2, 0.7])
    Traceback (most recent call last):
        ...
    jetimg.errors.InputError: labels must hold both classes (found 2 signal and 0 background)
    """
    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=np.float64)
    if labels.ndim != 1 or scores.ndim != 1:
        raise InputError(f"labels and scores must be 1-D (got shapes {labels.shape} "
                         f"and {scores.shape})")
    if len(labels) != len(scores):
        raise InputError(f"labels and scores differ in length ({len(labels)} and "
                         f"{len(scores)})")
    if labels.dtype != bool:
        if labels.size and not np.isin(labels, (0, 1)).all():
            bad = np.unique(labels[~np.isin(labels, (0, 1))])[:5]
            raise InputError(f"labels must be 0 (background) or 1 (signal); found "
                             f"{', '.join(str(v) for v in bad.tolist())}")
        labels = labels.astype(bool)
    if not np.isfinite(scores).all():
        n = int(np.count_nonzero(~np.isfinite(scores)))
        raise InputError(f"{n} scores are not finite (NaN or inf)")
    if need_both and (labels.all() or not labels.any()):
        raise InputError(f"labels must hold both classes (found {int(labels.sum())} signal "
                         f"and {int((~labels).sum())} background)")
    return labels, scores


def roc_curve(labels, scores):
    """The ROC curve: signal and background efficiency of each cut ``score >= t``.

    Parameters
    ----------
    labels : array-like, (N,)
        1 for signal, 0 for background (both must occur).
    scores : array-like, (N,)
        Larger is more signal-like.

    Returns
    -------
    eps_s, eps_b : ndarray, float64, (K + 1,)
        Signal and background efficiency, from (0, 0) (no jet passes) to
        (1, 1) (every jet passes), non-decreasing.
    thresholds : ndarray, float64, (K + 1,)
        The K distinct scores in decreasing order, preceded by +inf.

    Examples
    --------
    Four jets, hand-computed: the cut at 0.8 keeps one signal jet of two
    (eps_S = 0.5) and no background; at 0.4 also a background jet; at 0.35
    the second signal jet; at 0.1 everything.

    >>> eps_s, eps_b, t = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> eps_s.tolist(), eps_b.tolist(), t.tolist()
    ([0.0, 0.5, 0.5, 1.0, 1.0], [0.0, 0.0, 0.5, 0.5, 1.0], [inf, 0.8, 0.4, 0.35, 0.1])

    Tied scores make one step:

    >>> eps_s, eps_b, t = roc_curve([1, 0, 1], [0.5, 0.5, 0.2])
    >>> eps_s.tolist(), eps_b.tolist()
    ([0.0, 0.5, 1.0], [0.0, 1.0, 1.0])
    """
    labels, scores = check_scores(labels, scores)
    order = np.argsort(-scores, kind="stable")
    scores, labels = scores[order], labels[order]
    # the last row of each run of equal scores
    last = np.r_[np.flatnonzero(np.diff(scores) != 0), len(scores) - 1]
    tp = np.cumsum(labels)[last]
    fp = (last + 1) - tp
    eps_s = np.r_[0.0, tp / tp[-1]]
    eps_b = np.r_[0.0, fp / fp[-1]]
    return eps_s, eps_b, np.r_[np.inf, scores[last]]


def auc(labels, scores):
    """Area under the ROC curve: the chance that a random signal jet outscores a background one.

    Ties count one half (the trapezoid under :func:`roc_curve`; the
    Mann-Whitney U statistic over n_S * n_B).

    Parameters
    ----------
    labels : array-like, (N,)
        1 for signal, 0 for background (both must occur).
    scores : array-like, (N,)

    Returns
    -------
    float

    Examples
    --------
    Signal scores 0.35, 0.8 against background 0.1, 0.4: of the four pairs,
    three are ordered right (0.35 > 0.1, 0.8 > 0.1, 0.8 > 0.4).

    >>> auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75

    A tie counts a half: pairs (0.5 vs 0.5) = 1/2, (0.5 vs 0.2) = 1, (0.9 vs 0.2) = 1,
    (0.9 vs 0.5) = 1: 3.5 of 4.

    >>> auc([1, 0, 1, 0], [0.5, 0.5, 0.9, 0.2])
    0.875
    >>> auc([1, 0], [0.3, 0.7]), auc([1, 0], [0.7, 0.7])
    (0.0, 0.5)
    """
    labels, scores = check_scores(labels, scores)
    # average ranks (1-based) with ties sharing their mean rank
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_scores) != 0) + 1]
    ends = np.r_[starts[1:], len(scores)]
    mean_rank = (starts + ends + 1) / 2.0
    ranks = np.empty(len(scores))
    ranks[order] = np.repeat(mean_rank, ends - starts)
    n_s = float(np.count_nonzero(labels))
    n_b = float(len(labels) - n_s)
    u = ranks[labels].sum() - n_s * (n_s + 1) / 2.0
    return float(u / (n_s * n_b))


def background_rejection(labels, scores, signal_efficiency=0.3):
    """Background rejection 1/eps_B at a signal efficiency eps_S (default 0.3).

    eps_B at ``signal_efficiency`` is read off the ROC curve by linear
    interpolation between its points (the efficiency of a cut that passes
    the tied jets at the threshold in part); where several points have that
    eps_S exactly, the smallest eps_B is taken. eps_B = 0 gives ``inf``.

    Parameters
    ----------
    labels : array-like, (N,)
        1 for signal, 0 for background (both must occur).
    scores : array-like, (N,)
    signal_efficiency : float
        eps_S in (0, 1].

    Returns
    -------
    float
        1 / eps_B.

    Examples
    --------
    Ten signal jets scoring 0.91, 0.92, ..., 1.0 and ten background jets
    scoring 0.1, 0.2, ..., 0.9 and 0.945: the cut keeping three signal jets
    (eps_S = 0.3, score >= 0.98) keeps no background, 1/eps_B = inf; the
    cut keeping seven (eps_S = 0.7, score >= 0.94) keeps one background jet
    in ten, 1/eps_B = 10:

    >>> signal = [0.91 + 0.01 * i for i in range(10)]
    >>> background = [0.1 * i for i in range(1, 10)] + [0.945]
    >>> labels = [1] * 10 + [0] * 10
    >>> background_rejection(labels, signal + background)
    inf
    >>> round(background_rejection(labels, signal + background, 0.7), 6)
    10.0

    Interpolation: eps_S = 0.3 lies between the ROC points (0, 0) and
    (0.5, 0.5), so eps_B = 0.3 and 1/eps_B = 3.33...

    >>> round(background_rejection([1, 0, 1, 0], [0.9, 0.9, 0.1, 0.1]), 4)
    3.3333
    """
    eff = float(signal_efficiency)
    if not 0.0 < eff <= 1.0:
        raise InputError(f"signal_efficiency={signal_efficiency!r} must be in (0, 1]")
    eps_s, eps_b, _ = roc_curve(labels, scores)
    # eps_s is non-decreasing: the first point at or beyond eff, and the one before
    k = int(np.searchsorted(eps_s, eff, side="left"))
    if eps_s[k] == eff:
        value = eps_b[k]
    else:
        s0, s1, b0, b1 = eps_s[k - 1], eps_s[k], eps_b[k - 1], eps_b[k]
        value = b0 + (b1 - b0) * (eff - s0) / (s1 - s0)
    return float(np.inf) if value <= 0.0 else float(1.0 / value)


def working_point(labels, scores, signal_efficiency=0.3):
    """1/eps_B at ``signal_efficiency`` and the background jets passing its cut.

    :func:`background_rejection` reads eps_B off the ROC curve at the first
    point whose eps_S reaches ``signal_efficiency`` (interpolating from the
    point before where it overshoots); that point is the cut ``score >=
    threshold``, and the background jets passing it are its eps_B times the
    background jets (``background_passing``): the count a large 1/eps_B rests
    on. Where the interpolation moves eps_B, the interpolated count
    (``n_background / rejection``) is kept beside it.

    >>> wp = working_point([1, 1, 1, 0, 0, 0], [0.9, 0.8, 0.3, 0.85, 0.2, 0.1], 2 / 3)
    >>> wp["rejection"], wp["background_passing"], wp["n_background"]
    (3.0, 1, 3)
    """
    rejection = background_rejection(labels, scores, signal_efficiency)
    eps_s, eps_b, thresholds = roc_curve(labels, scores)
    k = int(np.searchsorted(eps_s, signal_efficiency, side="left"))
    n_background = int(np.count_nonzero(np.asarray(labels) == 0))
    return {"signal_efficiency": float(signal_efficiency), "rejection": rejection,
            "threshold": float(thresholds[k]),
            "signal_efficiency_at_cut": float(eps_s[k]),
            "background_passing": int(round(eps_b[k] * n_background)),
            "background_passing_interpolated": 0.0 if np.isinf(rejection)
            else n_background / rejection,
            "n_background": n_background}


def json_ready(value):
    """Metrics with inf and NaN as None (JSON has neither), nested mappings and lists
    included.

    >>> json_ready({"rejection": float("inf"), "auc": [0.9, float("nan")]})
    {'rejection': None, 'auc': [0.9, None]}
    """
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def accuracy(labels, scores, threshold=0.5):
    """Fraction of jets classified right by the cut ``score >= threshold`` (signal).

    >>> accuracy([0, 0, 1, 1], [0.1, 0.6, 0.5, 0.8])
    0.75
    """
    labels, scores = check_scores(labels, scores, need_both=False)
    if not len(labels):
        raise InputError("no jets to compute an accuracy of")
    return float(np.mean((scores >= threshold) == labels))


def summary(labels, scores, signal_efficiency=0.3):
    """The figures the top-tagging comparison (arXiv:1902.09914) reports, as a dict.

    Returns
    -------
    dict
        ``n_jets``, ``n_signal``, ``n_background``, ``auc``, ``accuracy``
        (cut at 0.5), ``signal_efficiency`` and ``background_rejection``
        (1/eps_B at that eps_S; ``inf`` when no background passes).

    >>> summary([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])["auc"]
    0.75
    """
    labels, scores = check_scores(labels, scores)
    return {"n_jets": int(len(labels)), "n_signal": int(labels.sum()),
            "n_background": int((~labels).sum()), "auc": auc(labels, scores),
            "accuracy": accuracy(labels, scores),
            "signal_efficiency": float(signal_efficiency),
            "background_rejection": background_rejection(labels, scores, signal_efficiency)}
