"""Plots of image stores and of trained taggers; each function returns a matplotlib Figure.

* images: ``plot_average`` (average image per class, a difference panel, or the
  progression over the first n jets), ``plot_jets`` (single jets),
  ``plot_kinematics`` (jet mass and pT per class).
* averages: ``average_images``, the streamed (dask) average behind them.
* channels: the figures of stores with channels (images (N, npix, npix, C)):
  a grid of channels by classes, single jets one panel per channel.
* training: ``plot_roc``, ``plot_scores``, ``plot_history``; confusion:
  ``plot_confusion``, ``plot_class_scores`` (K classes); colours:
  ``class_colours``, one colour per class name in every figure.
* particles: ``plot_particles`` (multiplicity, pT fraction, positions and
  kinds of a store's particles per class), ``particle_summary`` (the
  streamed histograms behind it).
* robustness: ``plot_robustness`` (a scan of one variation, jetimg robustness).
* style: ``hep_style`` and ``save_figure`` (PNG, PDF or SVG by suffix).

matplotlib loads on first use, so ``import jetimg.plots`` stays cheap.

>>> import jetimg.plots
>>> "plot_average" in dir(jetimg.plots)
True
"""

import importlib

_LAZY = {
    "average_images": "jetimg.plots.averages",
    "Averages": "jetimg.plots.averages",
    "plot_average": "jetimg.plots.images",
    "plot_jets": "jetimg.plots.images",
    "plot_kinematics": "jetimg.plots.images",
    "hep_style": "jetimg.plots.style",
    "save_figure": "jetimg.plots.style",
    "plot_roc": "jetimg.plots.training",
    "plot_scores": "jetimg.plots.training",
    "plot_history": "jetimg.plots.training",
    "plot_confusion": "jetimg.plots.confusion",
    "plot_class_scores": "jetimg.plots.confusion",
    "class_colours": "jetimg.plots.colours",
    "plot_particles": "jetimg.plots.particles",
    "particle_summary": "jetimg.plots.particles",
    "plot_robustness": "jetimg.plots.robustness",
}

__all__ = list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'jetimg.plots' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
