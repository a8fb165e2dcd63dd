"""Tagger metrics in plain NumPy (no Keras, no scikit-learn), so ``jetimg evaluate
--scores`` works without the ``train`` extra.

* :mod:`~jetimg.metrics.binary`: two classes, (N,) labels 1 for signal and (N,)
  scores: :func:`roc_curve`, :func:`auc`, :func:`background_rejection` (1/eps_B
  at a signal efficiency, arXiv:1902.09914's figure), :func:`working_point`
  (it, and the background jets passing its cut), :func:`accuracy`, :func:`summary`.
* :mod:`~jetimg.metrics.multiclass`: K classes, (N,) class indices and (N, K)
  scores: :func:`confusion_matrix`, :func:`class_accuracy`,
  :func:`one_vs_rest_auc`, :func:`rejection_against` and
  :func:`jetclass_rejections` (each class against QCD, at JetClass's working
  points), :func:`multiclass_summary`.

>>> from jetimg.metrics import auc
>>> auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
0.75
"""

from .binary import (accuracy, auc, background_rejection, check_scores, json_ready, roc_curve,
                     summary, working_point)
from .multiclass import (BACKGROUND_CLASS, JETCLASS_EFFICIENCY, check_class_scores,
                         class_accuracy, confusion_matrix, jetclass_efficiency,
                         jetclass_rejections, multiclass_summary, one_vs_rest_auc,
                         rejection_against)

__all__ = ["check_scores", "roc_curve", "auc", "background_rejection", "accuracy", "summary",
           "working_point", "json_ready",
           "check_class_scores", "confusion_matrix", "class_accuracy", "one_vs_rest_auc",
           "rejection_against", "jetclass_efficiency", "jetclass_rejections",
           "multiclass_summary", "BACKGROUND_CLASS", "JETCLASS_EFFICIENCY"]
