"""The figure of a robustness scan (:func:`jetimg.train.robustness`): each metric against
the variation's value, one band per group of models, a ratio-to-nominal panel beneath.

>>> from jetimg.plots.robustness import default_metrics
>>> default_metrics(["auc", "accuracy", "rejection@0.3", "passing@0.3", "rejection@0.5"])
['auc', 'rejection@0.3', 'rejection@0.5']
"""

import numpy as np

from ..errors import InputError
from .colours import class_colours
from .draw import settle_layout
from .style import hep_style

__all__ = ["plot_robustness", "default_metrics"]

#: axis titles of the metrics
_TITLES = {"auc": "AUC", "accuracy": "accuracy", "auc_mean": "mean one-vs-rest AUC",
           "rejection@0.3": r"$1/\varepsilon_B$ at $\varepsilon_S = 0.3$",
           "rejection@0.5": r"$1/\varepsilon_B$ at $\varepsilon_S = 0.5$"}
#: what a scan's axis means
_AXES = {"scale": "scale (every constituent x s)",
         "neutral_scale": "neutral_scale (photons, neutral hadrons x s)",
         "smear": "smear (sigma of 1 + sigma g)", "drop": "drop (probability p)"}


def default_metrics(metrics):
    """The metrics a figure draws by default: AUC and the rejections (two classes), or
    the accuracy, the mean AUC and every rejection (K classes)."""
    if "auc" in metrics:
        return [m for m in metrics if m == "auc" or m.startswith("rejection@")]
    return [m for m in metrics if m in ("accuracy", "auc_mean") or m.startswith("rejection ")]


def plot_robustness(result, metrics=None):
    """Each metric of ``result`` against the scanned value, with a ratio panel.

    One column per metric. The upper panel draws each group's mean over its
    models as a line with markers and mean +- sd as a band (a group of one
    model: its line); the lower panel the same divided by the group's mean at
    the nominal value (scale 1, smear 0, ...; at the first value when the scan
    leaves the nominal out), so a flat curve at 1 is a tagger that does not
    feel the variation. Infinite rejections (no background jet passing) are
    left out of the line.

    Parameters
    ----------
    result : RobustnessResult
    metrics : sequence of str, optional
        Default :func:`default_metrics` of ``result.metrics``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    metrics = list(metrics) if metrics is not None else default_metrics(result.metrics)
    unknown = [m for m in metrics if m not in result.metrics]
    if unknown or not metrics:
        raise InputError(f"metrics: {unknown[0] if unknown else 'none'} is not a metric of "
                         f"the scan ({', '.join(result.metrics)})")
    from .draw import new_figure

    x = np.asarray(result.values, float)
    ref = result.nominal_index if result.nominal_index is not None else 0
    colours = class_colours(list(result.groups))
    with hep_style():
        fig = new_figure((4.2 * len(metrics), 5.0))
        grid = fig.add_gridspec(2, len(metrics), height_ratios=(3, 1.4))
        for j, metric in enumerate(metrics):
            ax = fig.add_subplot(grid[0, j])
            ratio = fig.add_subplot(grid[1, j], sharex=ax)
            for group in result.groups:
                mean, sd = (np.asarray(v, float) for v in zip(*result.summary[group][metric]))
                finite = np.isfinite(mean)
                colour = colours[group]
                n = len(result.groups[group])
                label = f"{group} ({n} models)" if n > 1 else group
                ax.plot(x[finite], mean[finite], "o-", color=colour, label=label, ms=4)
                if n > 1:
                    ax.fill_between(x[finite], (mean - sd)[finite], (mean + sd)[finite],
                                    color=colour, alpha=0.25, lw=0)
                base = mean[ref]
                if np.isfinite(base) and base != 0:
                    ratio.plot(x[finite], mean[finite] / base, "o-", color=colour, ms=4)
                    if n > 1:
                        ratio.fill_between(x[finite], ((mean - sd) / base)[finite],
                                           ((mean + sd) / base)[finite], color=colour,
                                           alpha=0.25, lw=0)
            if not any(np.isfinite(m).any() for group in result.groups
                       for m in [np.asarray([v[0] for v in result.summary[group][metric]])]):
                ax.text(0.5, 0.5, "infinite at every value:\nno background jet passes",
                        transform=ax.transAxes, ha="center", va="center")
                ax.set_xlim(x.min() - 0.05 * np.ptp(x), x.max() + 0.05 * np.ptp(x))
                ax.set_yticks([])
                ratio.set_yticks([])
            title = _TITLES.get(metric, metric)
            if metric.startswith("rejection "):        # K classes: JetClass's rejections
                title = rf"$1/\varepsilon_{{QCD}}$, {metric.split(' ', 1)[1]}"
            ax.set_ylabel(title)
            ax.tick_params(labelbottom=False)
            ratio.axhline(1.0, color="0.5", lw=0.8, ls="--")
            ratio.set_ylabel(f"/ at {result.values[ref]:g}")
            ratio.set_xlabel(_AXES.get(result.name, result.name))
            if j == 0:
                ax.legend(fontsize="small", loc="best")
        fig.suptitle(f"{result.n_jets} jets of {_short(result.input)}, seed {result.seed}",
                     fontsize="medium")
    return settle_layout(fig)


def _short(path, width=60):
    text = str(path)
    return text if len(text) <= width else "..." + text[-(width - 3):]
