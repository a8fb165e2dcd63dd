"""jetimg.metrics against slow, obvious recomputations: binary (pair by pair) and K classes.

The binary figures (AUC, ROC, 1/eps_B at a signal efficiency, accuracy) are
held to brute force over every signal-background pair and to a hand-computed
case; the K-class figures (confusion, accuracy, one-vs-rest AUC, rejections
of QCD at JetClass's working points) to the slow loops of tests/helpers.py.
"""

import numpy as np
import pytest

from jetimg import metrics
from jetimg.errors import InputError

from .helpers import assert_matches, slow_summary

JETCLASS = ["QCD", "Hbb", "Hcc", "Hgg", "H4q", "Hqql", "Zqq", "Wqq", "Tbqq", "Tbl"]


# ---------------------------------------------------------------------------
# two classes
# ---------------------------------------------------------------------------

def _auc_pairs(labels, scores):
    s, b = scores[labels == 1][:, None], scores[labels == 0][None, :]
    return float(((s > b) + 0.5 * (s == b)).mean())


@pytest.mark.parametrize("seed", range(5))
def test_metrics_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    labels = np.r_[np.ones(10, int), np.zeros(37, int)]
    scores = rng.integers(0, 12, len(labels)).astype(float)   # many ties
    scores[:10] += 3
    assert metrics.auc(labels, scores) == pytest.approx(_auc_pairs(labels, scores))
    # eps_S = 0.3 is three of ten signal jets: the cut at the third-highest signal score
    third = np.sort(scores[:10])[-3]
    eps_b = np.mean(scores[10:] >= third)
    expected = np.inf if eps_b == 0 else 1 / eps_b
    if np.count_nonzero(scores[:10] >= third) == 3:           # 0.3 is a point of the ROC
        assert metrics.background_rejection(labels, scores) == pytest.approx(expected)
    eps_s, eps_b_curve, thresholds = metrics.roc_curve(labels, scores)
    assert np.all(np.diff(eps_s) >= 0) and np.all(np.diff(eps_b_curve) >= 0)
    for t, es, eb in zip(thresholds[1:], eps_s[1:], eps_b_curve[1:]):
        assert es == np.mean(scores[:10] >= t) and eb == np.mean(scores[10:] >= t)
    # the trapezoid under the ROC is the AUC
    assert np.trapezoid(eps_s, eps_b_curve) == pytest.approx(metrics.auc(labels, scores))


def test_metrics_hand_computed():
    labels = [1, 1, 1, 0, 0]
    scores = [0.9, 0.6, 0.3, 0.6, 0.1]
    # pairs (s, b): (.9,.6) 1, (.9,.1) 1, (.6,.6) 1/2, (.6,.1) 1, (.3,.6) 0, (.3,.1) 1 -> 4.5/6
    assert metrics.auc(labels, scores) == 0.75
    # eps_S = 1/3 at the cut 0.9 (no background); 0.3 lies on the way from (0,0) to it
    assert metrics.background_rejection(labels, scores) == np.inf
    # eps_S = 2/3 at 0.6, eps_B = 1/2 there: 1/eps_B = 2
    assert metrics.background_rejection(labels, scores, 2 / 3) == pytest.approx(2.0)
    assert metrics.accuracy(labels, scores) == 0.6
    with pytest.raises(InputError, match="both classes"):
        metrics.auc([1, 1], [0.2, 0.3])
    with pytest.raises(InputError, match="must be 0 .* or 1"):
        metrics.auc([0, 2], [0.2, 0.3])
    with pytest.raises(InputError, match="differ in length"):
        metrics.auc([0, 1], [0.2])


# ---------------------------------------------------------------------------
# K classes
# ---------------------------------------------------------------------------

def test_metrics_against_slow_loops():
    """Ten JetClass classes, some absent; Hqql and Tbl at 99 % and 99.5 % (arXiv:2202.03772)."""
    rng = np.random.default_rng(7)
    counts = {"QCD": 300, "Hbb": 100, "Hqql": 100, "Wqq": 40, "Tbl": 200}
    labels = np.concatenate([np.full(n, JETCLASS.index(c)) for c, n in counts.items()])
    logits = rng.normal(size=(len(labels), 10))
    logits[np.arange(len(labels)), labels] += 1.5
    scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    m = metrics.multiclass_summary(labels, scores, JETCLASS)
    slow = slow_summary(labels, scores, JETCLASS)
    assert_matches(m, slow)
    assert m["signal_efficiency"] == {"Hbb": 0.5, "Hqql": 0.99, "Wqq": 0.5, "Tbl": 0.995}
    assert m["n_per_class"] == counts and m["notes"] == []
    assert m["n_classes"] == 10 and m["label_names"] == JETCLASS
    # the row order does not matter
    perm = rng.permutation(len(labels))
    assert metrics.multiclass_summary(labels[perm], scores[perm], JETCLASS) == m
    # an empty (underflowed) pair of scores gets the discriminant 1/2, not NaN
    zeros = scores.copy()
    zeros[0, [0, 1]] = 0.0
    assert np.isfinite(metrics.rejection_against(labels, zeros, 1, 0, 0.5))
    with pytest.raises(InputError, match="class indices 0 to 9"):
        metrics.confusion_matrix(np.r_[labels[:-1], 10], scores)
    with pytest.raises(InputError, match="not finite"):
        metrics.class_accuracy(labels, np.where(zeros == 0, np.nan, zeros))
