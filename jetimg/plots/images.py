"""Figures of an image store: average images, single jets, jet kinematics.

Shapes: images (N, npix, npix) float32 as stored (docs/recipe.md), or
(N, npix, npix, C) with channels (channel last; the figures of such stores
are drawn by :mod:`jetimg.plots.channels`), row i along the
rotated phi direction y, column j along the rotated eta direction x; drawn
with ``origin="lower"`` over the extent ``[-npix*dx/2, npix*dx/2] x
[-npix*dy/2, npix*dy/2]`` so that +y points up.

The averages come from :func:`jetimg.plots.averages.average_images`, streamed
over the store's chunks. Invalid jets (``valid == 0``, all-zero images) are
left out of every average and histogram, and the figures say how many were
left out.

Every ``plot_*`` function takes a store path or an open :class:`~jetimg.io.store.stores.Store`
and returns a :class:`matplotlib.figure.Figure` (never shown); save it with
:func:`jetimg.plots.save_figure`.
"""

import math

import numpy as np

from jetimg.errors import InputError, JetimgError
from jetimg.io.store import stores
from jetimg.io.store.completeness import check_complete
from jetimg.plots.averages import (average_images, class_name, class_order,
                                   select_channels, store_class_names)
from jetimg.plots.colours import class_colours
from jetimg.plots.draw import (axis_labels, channel_label, colour_norm, column_width, draw_diff,
                               draw_image, image_extent, intensity_label, invalid_note,
                               new_figure, settle_layout, store_name)
from jetimg.plots.style import hep_style

__all__ = ["plot_average", "plot_jets", "plot_kinematics"]

def _nice_edges(lo, hi, bins):
    """About ``bins`` bins of the nearest round width (1, 2, 2.5, 5 x 10^k) covering [lo, hi].

    >>> _nice_edges(0.0, 297.0, 50)[:3].tolist(), len(_nice_edges(0.0, 297.0, 50))
    ([0.0, 5.0, 10.0], 61)
    """
    hi = hi if hi > lo else lo + 1.0
    raw = (hi - lo) / max(int(bins), 1)
    power = 10.0 ** math.floor(math.log10(raw))
    width = min((f * power for f in (1, 2, 2.5, 5, 10)), key=lambda w: abs(math.log(w / raw)))
    start, stop = math.floor(lo / width), math.ceil(hi / width)
    return np.arange(start, stop + 1) * width


# ---------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------

def plot_average(store, n=None, *, by_label=True, class_names=None, difference=True,
                 channels=None, log=True, allow_incomplete=False):
    """Average jet image per class side by side, on one logarithmic colour scale.

    Classes are the label values (named by the store's ``label_names``; top
    and QCD for stores without them) or all jets when the store has no
    labels. Axes in the recipe's rotated eta/phi units (extent from npix
    and pixel_size, ``origin="lower"``); titles give class names and jet counts.
    Zero pixels are masked (white) so that the LogNorm never sees them.
    With two classes a last panel shows their difference (first minus second)
    on a diverging map centred at 0 with a symmetric-log scale.

    A store with channels (images (N, npix, npix, C)) gives a grid: one row
    per channel, one column per class (and the difference column for two
    classes), one colour scale and colour bar per channel row. A progression
    (``n`` a sequence) there has one row per channel and class, one column
    per n, one colour scale per channel.

    Parameters
    ----------
    store : str, Path or Store
    n : int or sequence of int, optional
        An int: average the first ``n`` valid jets of each class. A sequence
        (e.g. ``[1, 10, 100, 1000, 10000]``): the progression, one row per
        class and one column per n, on one shared colour scale.
    by_label, class_names
        As in :func:`average_images`.
    difference : bool
        Draw the difference panel (two classes only; not for a progression).
    channels : sequence of str or str, optional
        A store with channels: draw only these channels, in this order
        (names as in the store's recipe, or one comma-separated string);
        default every channel.
    log : bool
        Logarithmic colour scales (default); False: linear from 0 (the
        difference panel linear from -max to +max).
    allow_incomplete : bool
        Accept a store of an interrupted build (refused by default); its
        unwritten rows read as invalid jets and are left out.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    JetimgError
        As :func:`average_images` (e.g. a store too small for ``n``, or a
        channel the store does not have).

    >>> plot_average("missing.zarr")
    Traceback (most recent call last):
    ...
    jetimg.errors.InputError: store not found: missing.zarr
    """
    with stores.opened(store) as s:
        averages = average_images(s, by_label=by_label, n=n, class_names=class_names,
                                  channels=channels, allow_incomplete=allow_incomplete)
        ext, name = image_extent(s), store_name(s)
        first = averages[0] if isinstance(averages, list) else averages
        if first.channels is None:
            cbar_label = intensity_label(s, "Average pixel")
        else:
            cbar_label = [channel_label(c, s.recipe.normalise, average=True)
                          for c in first.channels]
    if first.channels is not None:
        from jetimg.plots import channels as multi

        if isinstance(averages, list):
            return multi.progression_figure(averages, ext, name, cbar_label, log)
        return multi.average_figure(averages, ext, name, cbar_label, difference, log)
    if isinstance(averages, list):
        return _progression_figure(averages, ext, name, cbar_label, log)
    return _average_figure(averages, ext, name, cbar_label, difference, log)


def _average_figure(avg, extent, name, cbar_label, difference, log):
    k = len(avg.names)
    with_diff = difference and k == 2
    panels = k + with_diff
    titles = ([f"{avg.names[i]} ({avg.counts[i]:,} jets)" for i in range(k)]
              + ([f"{avg.names[0]} $-$ {avg.names[1]}"] if with_diff else []))
    with hep_style():
        fig = new_figure((column_width(titles, 4.2) * panels + 1.6, 4.6))
        axes = fig.subplots(1, panels, squeeze=False)[0]
        norm = colour_norm(list(avg.images), log)
        for i, (ax, image) in enumerate(zip(axes, avg.images)):
            im = draw_image(ax, image, extent, norm, titles[i])
            axis_labels(ax, left=i == 0)
        fig.colorbar(im, ax=list(axes[:k]), label=cbar_label, shrink=0.9)
        if with_diff:
            ax = axes[-1]
            dim, ticks = draw_diff(ax, avg.images[0] - avg.images[1], extent, log)
            ax.set_title(titles[-1])
            axis_labels(ax, left=False)
            fig.colorbar(dim, ax=ax, label="Difference of averages", shrink=0.9, ticks=ticks)
        first = "" if avg.n is None else f", first {avg.n:,} jets per class"
        fig.suptitle(f"Average jet images: {name}{first}"
                     f"{invalid_note(avg.n_invalid, avg.n_rows)}")
    return settle_layout(fig)


def _progression_figure(averages, extent, name, cbar_label, log):
    k, m = len(averages[0].names), len(averages)
    titles = [[f"{avg.names[row]}, {avg.n:,} jet{'s' if avg.n > 1 else ''}" for avg in averages]
              for row in range(k)]
    with hep_style():
        fig = new_figure((column_width([t for row in titles for t in row], 2.9) * m + 1.4,
                          3.0 * k + 0.6))
        axes = fig.subplots(k, m, squeeze=False, sharex=True, sharey=True)
        norm = colour_norm([image for avg in averages for image in avg.images], log)
        for col, avg in enumerate(averages):
            for row in range(k):
                ax = axes[row, col]
                im = draw_image(ax, avg.images[row], extent, norm, titles[row][col])
                ax.set_xlabel(r"Rotated $\eta'$" if row == k - 1 else "")
                ax.set_ylabel(r"Rotated $\phi'$ [rad]" if col == 0 else "")
        fig.colorbar(im, ax=axes.ravel().tolist(), label=cbar_label, shrink=0.9)
        last = averages[-1]
        fig.suptitle(f"Averages over the first n jets: {name}"
                     f"{invalid_note(last.n_invalid, last.n_rows)}")
    return settle_layout(fig)


def plot_jets(store, rows=(0, 1, 2, 3), *, class_names=None, ncols=5, channels=None, log=True,
              allow_incomplete=False):
    """Single jet images with their label, jet mass and jet pT, on one log colour scale.

    A store with channels gives one row of panels per channel, one column
    per jet, one colour scale and colour bar per channel (shared by the jets).

    Parameters
    ----------
    store : str, Path or Store
    rows : sequence of int
        0-based rows of the store.
    class_names : dict, optional
        Label value -> name; default: the store's ``label_names``, else
        :data:`CLASS_NAMES`.
    ncols : int
        Panels per row of the figure (a store without channels).
    channels : sequence of str or str, optional
        A store with channels: draw only these channels, in this order;
        default every channel.
    log : bool
        Logarithmic colour scales (default); False: linear from 0.
    allow_incomplete : bool
        Accept a store of an interrupted build (refused by default); a row
        never written is drawn as an invalid jet (all-zero image).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    JetimgError
        No rows, a row outside the store, or a channel the store does not have.

    >>> plot_jets("missing.zarr", rows=[0])
    Traceback (most recent call last):
    ...
    jetimg.errors.InputError: store not found: missing.zarr
    """
    rows = [int(r) for r in rows]
    with stores.opened(store) as s:
        check_complete(s, allow_incomplete)
        class_names = store_class_names(s, class_names)
        names, take = select_channels(s, channels)
        n_rows = len(s)
        if not rows:
            raise JetimgError("no rows to plot")
        bad = [r for r in rows if not 0 <= r < n_rows]
        if bad:
            raise JetimgError(f"row {bad[0]} is outside store {s.path} "
                              f"(rows 0 to {n_rows - 1})")
        images = [np.asarray(s["images"][r]) for r in rows]
        mass = [float(s["jet_mass"][r]) for r in rows]
        pt = [float(s["jet_pt"][r]) for r in rows]
        valid = [bool(s["valid"][r]) for r in rows]
        labels = [int(s["labels"][r]) for r in rows] if "labels" in s else None
        ext, name = image_extent(s), store_name(s)
        if names is None:
            cbar_label = intensity_label(s, "Pixel")
        else:
            cbar_label = [channel_label(c, s.recipe.normalise, average=False) for c in names]
    titles = []
    for i, row in enumerate(rows):
        label = "" if labels is None else f": {class_name(labels[i], class_names)}"
        titles.append((f"row {row}{label}", f"$m$ = {mass[i]:.1f} GeV\n$p_T$ = {pt[i]:.0f} GeV"))
    if names is not None:
        from jetimg.plots import channels as multi

        images = [image[..., take] for image in images]
        return multi.jets_figure(images, names, titles, valid, ext, name, cbar_label, log)
    ncols = max(1, min(int(ncols), len(rows)))
    nrows = math.ceil(len(rows) / ncols)
    with hep_style():
        width = column_width(["\n".join(t) for t in titles], 3.3)
        fig = new_figure((width * ncols + 1.4, 3.9 * nrows + 0.5))
        axes = fig.subplots(nrows, ncols, squeeze=False)
        norm = colour_norm(images, log)
        im = None
        for i, ax in enumerate(axes.ravel()):
            if i >= len(rows):
                ax.set_axis_off()
                continue
            im = draw_image(ax, images[i], ext, norm, "\n".join(titles[i]))
            if not valid[i]:
                ax.text(0.5, 0.5, "invalid jet\n(all-zero image)", transform=ax.transAxes,
                        ha="center", va="center")
            ax.set_xlabel(r"Rotated $\eta'$" if i // ncols == nrows - 1 or
                          i + ncols >= len(rows) else "")
            ax.set_ylabel(r"Rotated $\phi'$ [rad]" if i % ncols == 0 else "")
        fig.colorbar(im, ax=axes.ravel().tolist(), label=cbar_label, shrink=0.9)
        fig.suptitle(f"Single jets: {name} (zero pixels white)")
    return settle_layout(fig)


def plot_kinematics(store, *, by_label=True, class_names=None, bins=50, allow_incomplete=False):
    """Jet mass and jet pT per class: step histograms on shared bins, unit area.

    Each class is normalised to unit area (fraction of its jets per bin) so
    classes of different sizes compare; the legend gives the counts. Bins
    span the 0.1% to 99.9% quantiles of all valid jets (mass from 0 GeV).
    Each class is drawn in its colour of :mod:`jetimg.plots.colours` (the
    same as in the score and ROC plots of the store's classes).

    Parameters
    ----------
    store : str, Path or Store
    by_label, class_names
        As in :func:`average_images`.
    bins : int
        Bins per histogram.
    allow_incomplete : bool
        Accept a store of an interrupted build (refused by default); its
        unwritten rows read as invalid jets and are left out.

    Returns
    -------
    matplotlib.figure.Figure

    >>> plot_kinematics("missing.zarr")
    Traceback (most recent call last):
    ...
    jetimg.errors.InputError: store not found: missing.zarr
    """
    with stores.opened(store) as s:
        check_complete(s, allow_incomplete)
        class_names = store_class_names(s, class_names)
        valid = np.asarray(s["valid"][:]) != 0
        use_labels = by_label and "labels" in s
        labels = np.asarray(s["labels"][:]) if use_labels else np.zeros(valid.shape, np.int8)
        columns = {"jet_mass": np.asarray(s["jet_mass"][:], np.float64),
                   "jet_pt": np.asarray(s["jet_pt"][:], np.float64)}
        name, n_rows, path = store_name(s), len(s), s.path
    if not valid.any():
        raise InputError(f"store {path} holds no valid jet: nothing to histogram")
    values = class_order(set(np.unique(labels[valid]).tolist()), class_names)
    names = {v: class_name(v, class_names) if use_labels else "all jets"
             for v in sorted(set(class_names) | set(values))}
    colours = class_colours(names.values())
    titles = {"jet_mass": "Jet mass $m$ [GeV]", "jet_pt": "Jet $p_T$ [GeV]"}
    with hep_style():
        fig = new_figure((11.0, 4.6))
        axes = fig.subplots(1, 2)
        for ax, (key, data) in zip(axes, columns.items()):
            lo, hi = np.quantile(data[valid], [0.001, 0.999])
            edges = _nice_edges(0.0 if key == "jet_mass" else lo, hi, bins)
            lo, hi = edges[0], edges[-1]
            for value in values:
                chosen = data[valid & (labels == value)]
                label = (f"{names[value]} ({chosen.size:,} jets)" if use_labels
                         else f"all jets ({chosen.size:,})")
                ax.hist(chosen, bins=edges, weights=np.full(chosen.size, 1.0 / chosen.size),
                        histtype="step", linewidth=1.6, label=label, color=colours[names[value]])
            ax.set_xlabel(titles[key])
            width = edges[1] - edges[0]
            ax.set_ylabel(f"Fraction of jets / {width:.3g} GeV")
            ax.set_xlim(lo, hi)
            ax.set_ylim(bottom=0)
            ax.legend()
        fig.suptitle(f"Jet kinematics: {name}"
                     f"{invalid_note(int(np.count_nonzero(~valid)), n_rows)}")
    return fig
