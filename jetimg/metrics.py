"""Tagger metrics in plain NumPy: ROC curve, AUC, background rejection, accuracy.

No Keras and no scikit-learn, so ``jetimg evaluate --scores`` works without the
``train`` extra. Inputs of the binary metrics:

* ``labels``: (N,) integers or booleans, 1 (or True) for signal, 0 for background;
* ``scores``: (N,) floats, larger means more signal-like (e.g. the signal
  probability of a softmax).

Inputs of the multi-class metrics (:func:`confusion_matrix`,
:func:`class_accuracy`, :func:`one_vs_rest_auc`,
:func:`rejection_against`, :func:`jetclass_rejections`,
:func:`multiclass_summary`):

* ``labels``: (N,) class indices 0 ... K-1;
* ``scores``: (N, K) floats, one column per class (e.g. a softmax over K).

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

import numpy as np

from .errors import InputError

__all__ = ["check_scores", "roc_curve", "auc", "background_rejection", "accuracy", "summary",
           "check_class_scores", "confusion_matrix", "class_accuracy", "one_vs_rest_auc",
           "rejection_against", "jetclass_efficiency", "jetclass_rejections",
           "multiclass_summary", "BACKGROUND_CLASS", "JETCLASS_EFFICIENCY"]

#: The background class of JetClass's figure of merit.
BACKGROUND_CLASS = "QCD"

#: Signal efficiency at which arXiv:2202.03772's table of JetClass results quotes the
#: rejection of QCD for each class: 50 %, except H -> l nu q q' (99 %) and t -> b l nu
#: (99.5 %).
JETCLASS_EFFICIENCY = {"Hqql": 0.99, "Tbl": 0.995}


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


# ---------------------------------------------------------------------------
# several classes
# ---------------------------------------------------------------------------

def check_class_scores(labels, scores):
    """Labels (N,) class indices and scores (N, K), checked; as int64 and float64 arrays.

    Raises InputError where shapes do not fit, K < 2, a label is not a class
    index 0 ... K-1, or a score is NaN or inf.

    >>> labels, scores = check_class_scores([0, 2], [[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
    >>> labels.tolist(), scores.shape
    ([0, 2], (2, 3))
    >>> check_class_scores([0, 3], [[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
    Traceback (most recent call last):
        ...
    jetimg.errors.InputError: labels must be class indices 0 to 2 (3 classes); found 3
    """
    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=np.float64)
    if labels.ndim != 1 or scores.ndim != 2:
        raise InputError(f"labels must be 1-D and scores 2-D, one column per class (got "
                         f"shapes {labels.shape} and {scores.shape})")
    if len(labels) != len(scores):
        raise InputError(f"labels and scores differ in length ({len(labels)} and "
                         f"{len(scores)})")
    n_classes = scores.shape[1]
    if n_classes < 2:
        raise InputError(f"scores have {n_classes} column: give one per class, at least two")
    if labels.dtype == bool or not (np.issubdtype(labels.dtype, np.integer)
                                    or np.all(labels == np.round(labels))):
        raise InputError(f"labels must be class indices, not {labels.dtype} values")
    labels = labels.astype(np.int64)
    wrong = (labels < 0) | (labels >= n_classes)
    if wrong.any():
        bad = np.unique(labels[wrong])[:5]
        raise InputError(f"labels must be class indices 0 to {n_classes - 1} ({n_classes} "
                         f"classes); found {', '.join(str(v) for v in bad.tolist())}")
    if not np.isfinite(scores).all():
        n = int(np.count_nonzero(~np.isfinite(scores).all(axis=1)))
        raise InputError(f"{n} rows of scores are not finite (NaN or inf)")
    return labels, scores


def confusion_matrix(labels, scores):
    """Jets by true class (rows) and predicted class (columns), (K, K) int64 counts.

    The predicted class is the one of the highest score (a tie goes to the
    lowest index); rows of classes without jets are zero.

    >>> confusion_matrix([0, 0, 1, 2], [[.6, .3, .1], [.2, .7, .1], [.1, .8, .1], [.3, .3, .4]])
    array([[1, 1, 0],
           [0, 1, 0],
           [0, 0, 1]])
    """
    labels, scores = check_class_scores(labels, scores)
    n_classes = scores.shape[1]
    predicted = np.argmax(scores, axis=1)
    counts = np.bincount(labels * n_classes + predicted, minlength=n_classes * n_classes)
    return counts.reshape(n_classes, n_classes)


def class_accuracy(labels, scores):
    """Fraction of jets whose highest score is their own class's.

    >>> class_accuracy([0, 1, 2, 2], [[.6, .3, .1], [.2, .7, .1], [.1, .8, .1], [.3, .3, .4]])
    0.75
    """
    labels, scores = check_class_scores(labels, scores)
    if not len(labels):
        raise InputError("no jets to compute an accuracy of")
    return float(np.mean(np.argmax(scores, axis=1) == labels))


def one_vs_rest_auc(labels, scores):
    """AUC of each class against all other jets, with that class's score: (K,) float64.

    Element k is :func:`auc` of ``labels == k`` and ``scores[:, k]``; NaN for
    a class without jets, or when every jet is of that class.

    Class 1 scores 0.7 and 0.8 on its own jets, 0.3 and 0.3 on the others:
    every pair ordered right; class 2 has no jets.

    >>> one_vs_rest_auc([0, 1, 1, 0], [[.7, .3, 0], [.2, .7, .1], [.1, .8, .1], [.6, .3, .1]])
    array([ 1.,  1., nan])
    """
    labels, scores = check_class_scores(labels, scores)
    out = np.full(scores.shape[1], np.nan)
    for k in range(scores.shape[1]):
        mine = labels == k
        if mine.any() and not mine.all():
            out[k] = auc(mine, scores[:, k])
    return out


def rejection_against(labels, scores, signal, background=0, signal_efficiency=0.5):
    """Rejection 1/eps_B of class ``background`` at an efficiency of class ``signal``.

    JetClass's figure of merit (arXiv:2202.03772's table of JetClass
    results): on the jets of the two classes only, the discriminant
    ``s_X / (s_X + s_B)`` (the scores of the signal class X and the
    background class B) is cut where it keeps ``signal_efficiency`` of the
    X jets, and 1/eps_B is the inverse fraction of B jets kept
    (:func:`background_rejection`: interpolated on the ROC curve; ``inf``
    when none is kept). A jet with s_X = s_B = 0 gets the discriminant 1/2.

    Parameters
    ----------
    labels : array-like, (N,)
    scores : array-like, (N, K)
    signal, background : int
        Class indices of X and B (both must have jets).
    signal_efficiency : float
        eps_X in (0, 1].

    Returns
    -------
    float

    Examples
    --------
    X = class 1, B = class 0. The discriminants of the X jets are 0.9, 0.8
    (and 0.2); of the B jets 0.5, 0.25, 0.1 (the class-2 jet is left out).
    Keeping 2 of 3 X jets (cut at 0.8) keeps no B jet; keeping all three
    (cut at 0.2) keeps two of three: 1/eps_B = 1.5.

    >>> labels = [1, 1, 1, 0, 0, 0, 2]
    >>> scores = [[.1, .9, 0], [.2, .8, 0], [.8, .2, 0], [.5, .5, 0], [.6, .2, .2],
    ...           [.9, .1, 0], [0, 0, 1]]
    >>> rejection_against(labels, scores, 1, 0, 2 / 3)
    inf
    >>> rejection_against(labels, scores, 1, 0, 1.0)
    1.5
    """
    labels, scores = check_class_scores(labels, scores)
    n_classes = scores.shape[1]
    for name, k in (("signal", signal), ("background", background)):
        if not (isinstance(k, int | np.integer) and 0 <= k < n_classes):
            raise InputError(f"{name}={k!r} must be a class index 0 to {n_classes - 1}")
    if signal == background:
        raise InputError(f"signal and background are the same class ({signal})")
    keep = (labels == signal) | (labels == background)
    s, b = scores[keep, signal], scores[keep, background]
    total = s + b
    discriminant = np.full(len(s), 0.5)
    np.divide(s, total, out=discriminant, where=total > 0)
    return background_rejection(labels[keep] == signal, discriminant, signal_efficiency)


def jetclass_efficiency(name):
    """The signal efficiency of JetClass's rejection for class ``name`` (50 % by default).

    >>> jetclass_efficiency("Hbb"), jetclass_efficiency("Hqql"), jetclass_efficiency("Tbl")
    (0.5, 0.99, 0.995)
    """
    return JETCLASS_EFFICIENCY.get(str(name), 0.5)


def jetclass_rejections(labels, scores, label_names):
    """JetClass's figure of merit: for each signal class, 1/eps_QCD at its efficiency.

    For every class X other than "QCD" that has jets, :func:`rejection_against`
    X and QCD at :func:`jetclass_efficiency` of X (50 %; 99 % for Hqql,
    99.5 % for Tbl, as arXiv:2202.03772's table of JetClass results).
    Classes without jets are left out.

    Returns a dict: class name -> {"signal_efficiency": eps_X,
    "background_rejection": 1/eps_QCD}. ``label_names`` are the K class names;
    without a "QCD" class, or without QCD jets, InputError.

    >>> labels = [0, 0, 1, 1, 1, 1]
    >>> scores = [[.9, .1, 0], [.3, .7, 0], [.1, .9, 0], [.2, .8, 0], [.4, .6, 0], [.6, .4, 0]]
    >>> jetclass_rejections(labels, scores, ["QCD", "Hbb", "Tbl"])
    {'Hbb': {'signal_efficiency': 0.5, 'background_rejection': inf}}
    """
    labels, scores = check_class_scores(labels, scores)
    names = [str(n) for n in label_names]
    if len(names) != scores.shape[1]:
        raise InputError(f"{len(names)} label_names for {scores.shape[1]} columns of scores")
    if BACKGROUND_CLASS not in names:
        raise InputError(f"no {BACKGROUND_CLASS!r} class among label_names [{', '.join(names)}]: "
                         "the rejections against QCD are not computed")
    qcd = names.index(BACKGROUND_CLASS)
    if not np.any(labels == qcd):
        raise InputError("no QCD jets: the rejections against QCD are not computed")
    out = {}
    for k, name in enumerate(names):
        if k == qcd or not np.any(labels == k):
            continue
        eff = jetclass_efficiency(name)
        out[name] = {"signal_efficiency": eff,
                     "background_rejection": rejection_against(labels, scores, k, qcd, eff)}
    return out


def multiclass_summary(labels, scores, label_names=None):
    """The figures of a K-class tagger as a dict (JetClass's, arXiv:2202.03772).

    Parameters
    ----------
    labels : array-like, (N,)
    scores : array-like, (N, K)
    label_names : sequence of str, optional
        The K class names (default "0", "1", ...).

    Returns
    -------
    dict
        ``n_jets``; ``n_classes`` (K); ``label_names``; ``n_per_class`` (class
        name -> jets, for the classes with jets); ``accuracy``
        (:func:`class_accuracy`); ``confusion_matrix`` (K lists of K counts,
        rows the true class, columns the predicted one); ``auc`` (class name ->
        one-vs-rest AUC, classes with jets); ``auc_mean`` (their mean);
        ``signal_efficiency`` and ``background_rejection`` (class name ->
        eps_X and 1/eps_QCD of :func:`jetclass_rejections`; empty without a
        QCD class or QCD jets); ``notes`` (why a figure was not computed).

    >>> s = multiclass_summary([0, 1, 2], [[.8, .1, .1], [.2, .7, .1], [.5, .1, .4]],
    ...                        ["QCD", "Hbb", "Tbqq"])
    >>> s["accuracy"], s["confusion_matrix"], s["background_rejection"]
    (0.6666666666666666, [[1, 0, 0], [0, 1, 0], [1, 0, 0]], {'Hbb': inf, 'Tbqq': inf})
    """
    labels, scores = check_class_scores(labels, scores)
    n_classes = scores.shape[1]
    names = [str(n) for n in label_names] if label_names is not None else \
        [str(k) for k in range(n_classes)]
    if len(names) != n_classes:
        raise InputError(f"{len(names)} label_names for {n_classes} columns of scores")
    counts = np.bincount(labels, minlength=n_classes)
    aucs = one_vs_rest_auc(labels, scores)
    per_class = {names[k]: float(aucs[k]) for k in range(n_classes) if np.isfinite(aucs[k])}
    notes = []
    try:
        rejections = jetclass_rejections(labels, scores, names)
    except InputError as exc:
        rejections = {}
        notes.append(str(exc))
    return {"n_jets": int(len(labels)), "n_classes": int(n_classes), "label_names": names,
            "n_per_class": {names[k]: int(counts[k]) for k in range(n_classes) if counts[k]},
            "accuracy": class_accuracy(labels, scores),
            "confusion_matrix": confusion_matrix(labels, scores).tolist(),
            "auc": per_class,
            "auc_mean": float(np.mean(list(per_class.values()))) if per_class else float("nan"),
            "signal_efficiency": {k: v["signal_efficiency"] for k, v in rejections.items()},
            "background_rejection": {k: v["background_rejection"]
                                     for k, v in rejections.items()},
            "notes": notes}
