"""Metrics of K classes in plain NumPy: confusion, accuracy, one-vs-rest AUC, JetClass's rejections.

* ``labels``: (N,) class indices 0 ... K-1;
* ``scores``: (N, K) floats, one column per class (e.g. a softmax over K).

The per-class AUC (:func:`one_vs_rest_auc`) is each class against all others,
on its own column; the rejections (:func:`rejection_against`,
:func:`jetclass_rejections`) are each class against QCD alone, on the
discriminant ``s_k / (s_k + s_QCD)``, as JetClass (arXiv:2202.03772) quotes them.
"""

import numpy as np

from ..errors import InputError
from .binary import auc, background_rejection

__all__ = ["check_class_scores", "confusion_matrix", "class_accuracy", "one_vs_rest_auc",
           "rejection_against", "jetclass_efficiency", "jetclass_rejections",
           "multiclass_summary", "BACKGROUND_CLASS", "JETCLASS_EFFICIENCY"]

#: The background class of JetClass's figure of merit.
BACKGROUND_CLASS = "QCD"

#: Signal efficiency at which arXiv:2202.03772's table of JetClass results quotes the
#: rejection of QCD for each class: 50 %, except H -> l nu q q' (99 %) and t -> b l nu
#: (99.5 %).
JETCLASS_EFFICIENCY = {"Hqql": 0.99, "Tbl": 0.995}


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
