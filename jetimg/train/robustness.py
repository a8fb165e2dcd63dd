"""How a tagger holds up: models scored on one input under a scan of one variation.

:func:`robustness` makes the images (or particles) of a constituents input
once per value of one variation (docs/recipe.md "Variations": the same seed
at every value, so a scan moves one knob), with each model's own recipe, and
scores every model on them: AUC and 1/eps_B at eps_S = 0.3 and 0.5 with the
background jets passing each cut (two classes), or the accuracy and
JetClass's rejections of QCD (K classes). Models come in named groups (for
example three seeds of a default and of a hardened training), summarised as
mean and standard deviation per value. :func:`jetimg.plots.plot_robustness`
draws it.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib

import numpy as np

from ..errors import InputError
from ..recipe import Recipe
from ..streams.images import JetImages
from ..variations import Vary
from .modelfile import load_model
from .scoring import _model_classes, _score, _signal

__all__ = ["robustness", "RobustnessResult", "NOMINAL", "parse_scan"]

#: the value of each variation that leaves the jets as they are
NOMINAL = {"scale": 1.0, "neutral_scale": 1.0, "smear": 0.0, "drop": 0.0}
#: the working points of two classes
SIGNAL_EFFICIENCIES = (0.3, 0.5)


def parse_scan(text):
    """``(name, values)`` of ``"scale=0.9,0.95,1,1.05,1.1"``: one variation and its values.

    >>> parse_scan("smear=0,0.1,0.2")
    ('smear', [0.0, 0.1, 0.2])
    """
    name, eq, rest = str(text).partition("=")
    name = name.strip()
    if not eq or name not in NOMINAL:
        raise InputError(f"vary={text!r} is not valid; give one of "
                         f"{', '.join(NOMINAL)} and its values, e.g. "
                         f"'scale=0.9,0.95,1,1.05,1.1'")
    values = []
    for part in rest.split(","):
        try:
            values.append(float(part))
        except ValueError:
            raise InputError(f"vary={text!r}: {part.strip()!r} is not a number") from None
    for v in values:
        Vary.parse({name: v})                        # each value in its range, or one line
    if len(set(values)) != len(values):
        raise InputError(f"vary={text!r} repeats a value")
    return name, values


@dataclasses.dataclass
class RobustnessResult:
    """The scan: one row per model and value, and the groups' summaries.

    Attributes
    ----------
    name : str
        The variation scanned (scale, neutral_scale, smear or drop).
    values : list of float
    seed : int
        The variation's seed, the same at every value.
    groups : dict of str to list of str
        Group name -> its model files.
    rows : list of dict
        Per model and value: ``group``, ``model``, ``value`` and the metrics
        (two classes: ``auc``, ``accuracy``, ``rejection@0.3``,
        ``passing@0.3``, ``rejection@0.5``, ``passing@0.5`` and
        ``n_background``; K classes: ``accuracy``, ``auc_mean`` and
        ``rejection <class>`` for each class JetClass's table names).
    summary : dict
        Group -> metric -> list over values of (mean, sd); sd with ddof 1
        (0 for a group of one model).
    metrics : list of str
        The metrics of ``rows``, in table order.
    n_jets : int
        Valid jets scored at the nominal value (or the first).
    input : str
    """

    name: str
    values: list
    seed: int
    groups: dict
    rows: list
    summary: dict
    metrics: list
    n_jets: int
    input: str

    def to_json(self):
        """A JSON-able dict (infinite rejections as None)."""
        from ..metrics import json_ready

        return json_ready(dataclasses.asdict(self))

    @property
    def nominal_index(self):
        """The index of the nominal value in ``values`` (None when it is not scanned)."""
        nominal = NOMINAL[self.name]
        return next((i for i, v in enumerate(self.values) if v == nominal), None)


def _metrics(labels, scores, names):
    """The figures of one model at one value."""
    from .. import metrics

    if scores.ndim == 1:
        out = {"auc": metrics.auc(labels, scores),
               "accuracy": metrics.accuracy(labels, scores)}
        for eff in SIGNAL_EFFICIENCIES:
            wp = metrics.working_point(labels, scores, eff)
            out[f"rejection@{eff}"] = wp["rejection"]
            out[f"passing@{eff}"] = wp["background_passing"]
        out["n_background"] = int(np.count_nonzero(labels == 0))
        return out
    summary = metrics.multiclass_summary(labels, scores, names)
    out = {"accuracy": summary["accuracy"], "auc_mean": summary["auc_mean"]}
    out.update({f"rejection {k}": v for k, v in summary["background_rejection"].items()})
    return out


def _groups(models):
    """{group: [model paths]} of a mapping, or of a list (each model its own group, named
    by its file's stem)."""
    if isinstance(models, dict):
        groups = {str(k): [str(p) for p in ([v] if isinstance(v, str | os.PathLike) else v)]
                  for k, v in models.items()}
    else:
        models = [models] if isinstance(models, str | os.PathLike) else list(models)
        groups = {}
        for path in models:
            stem = pathlib.Path(str(path)).stem
            name, k = stem, 2
            while name in groups:
                name, k = f"{stem} ({k})", k + 1
            groups[name] = [str(path)]
    if not groups or not all(groups.values()):
        raise InputError("models must name at least one model file (a group of none is empty)")
    return groups


def robustness(models, input, vary, *, seed=0, batch_size=1000, key=None, labels_key=None,
               progress=None):
    """Score models on a constituents input under a scan of one variation.

    Parameters
    ----------
    models : str, Path, list of them, or dict of str to list of them
        Model files (``jetimg train``); a dict names groups (``{"default":
        [a, b, c], "hardened": [d, e, f]}``), summarised as mean and sd per
        value; a list makes each model a group of its own.
    input : str or Path
        A constituents file with labels (any layout :func:`jetimg.open_jets`
        reads, several files or a glob too); each model's images are made
        from it on the fly with the model's own recipe and the variation.
    vary : str or (str, sequence of float)
        The variation and its values: ``"scale=0.9,0.95,1,1.05,1.1"`` or
        ``("scale", [0.9, 1.0, 1.1])``; scale, neutral_scale (needs an input
        with particle kinds), smear or drop.
    seed : int
        The variation's seed, the same at every value (nested drops, one g at
        every smear).
    batch_size : int
        Jets per forward pass.
    key, labels_key : str, optional
        As :func:`jetimg.open_jets`.
    progress : callable, optional
        ``progress(done, total)`` in (model, value) pairs.

    Returns
    -------
    RobustnessResult

    Raises
    ------
    InputError
        One line: a model of another classes or recipe family than the
        others is fine, but a model that records no recipe (trained on the
        pandas image layout), an input without labels, or a bad scan.
    """
    if isinstance(vary, str):
        name, values = parse_scan(vary)
    else:
        name, values = parse_scan(f"{vary[0]}=" + ",".join(repr(float(v)) for v in vary[1]))
    Vary.parse({"seed": seed})
    groups = _groups(models)
    loaded = {}
    for paths in groups.values():
        for path in paths:
            if path not in loaded:
                trained = load_model(path)
                if trained.metadata.get("recipe") is None:
                    raise InputError(f"{path} records no recipe (it was trained on the pandas "
                                     f"image layout): its images cannot be made from {input}")
                loaded[path] = trained
    rows, total, done, n_jets = [], len(loaded) * len(values), 0, None
    nominal = NOMINAL[name]
    first = next((i for i, v in enumerate(values) if v == nominal), 0)
    for path, trained in loaded.items():
        _, names = _model_classes(trained)
        recipe = Recipe.from_attrs(trained.metadata["recipe"])
        for i, value in enumerate(values):
            varied = dataclasses.replace(recipe, vary=Vary.parse({name: value, "seed": seed}))
            source = JetImages(input, varied, key=key, labels_key=labels_key)
            try:
                if not source.has_labels:
                    raise InputError(f"{source.path} has no labels: a scan needs the truth")
                probabilities, labels, valid = _score(trained, source, batch_size)
            finally:
                source.close()
            keep = valid != 0
            scores = _signal(probabilities)[keep]
            figures = _metrics(labels[keep], scores, names or source.label_names)
            if i == first and n_jets is None:
                n_jets = int(keep.sum())
            for group, paths in groups.items():
                if path in paths:
                    rows.append({"group": group, "model": str(path), "value": value,
                                 **figures})
            done += 1
            if progress:
                progress(done, total)
    metric_names = [k for k in rows[0] if k not in ("group", "model", "value")]
    summary = {}
    for group in groups:
        summary[group] = {}
        for metric in metric_names:
            per_value = []
            for value in values:
                xs = [r[metric] for r in rows if r["group"] == group and r["value"] == value]
                with np.errstate(invalid="ignore"):
                    mean = float(np.mean(xs))
                    sd = float(np.std(xs, ddof=1)) if len(xs) > 1 else 0.0
                per_value.append((mean, sd))
            summary[group][metric] = per_value
    return RobustnessResult(name=name, values=values, seed=int(seed), groups=groups, rows=rows,
                            summary=summary, metrics=metric_names, n_jets=n_jets or 0,
                            input=str(input))
