"""Figures of an image store: average images, single jets, jet kinematics.

Shapes: images (N, npix, npix) float32 as stored (docs/recipe.md), row i along the
rotated phi direction y, column j along the rotated eta direction x; drawn
with ``origin="lower"`` over the extent ``[-npix*dx/2, npix*dx/2] x
[-npix*dy/2, npix*dy/2]`` so that +y points up.

The averages come from :func:`jetimg.plots.averages.average_images`, streamed
over the store's chunks. Invalid jets (``valid == 0``, all-zero images) are
left out of every average and histogram, and the figures say how many were
left out.

Every ``plot_*`` function takes a store path or an open :class:`~jetimg.io.stores.Store`
and returns a :class:`matplotlib.figure.Figure` (never shown); save it with
:func:`jetimg.plots.save_figure`.
"""

import math

import numpy as np

from jetimg.errors import InputError, JetimgError
from jetimg.io import stores
from jetimg.io.completeness import check_complete
from jetimg.plots.averages import (average_images, class_name, class_order,
                                   store_class_names)
from jetimg.plots.style import hep_style

__all__ = ["plot_average", "plot_jets", "plot_kinematics"]

#: Zero pixels are masked (drawn white); the log scale starts at most this far below its top.
_LOG_RANGE = 1e-6
#: Image colour map; masked (zero) pixels are white.
_CMAP = "viridis"
_DIFF_CMAP = "RdBu_r"


def _store_name(store):
    return store.path.name


def _extent(store):
    npix, (dx, dy) = store.recipe.npix, store.recipe.pixel_size
    return (-npix * dx / 2, npix * dx / 2, -npix * dy / 2, npix * dy / 2)


def _intensity_label(store, prefix):
    normalise, intensity = store.recipe.normalise, store.recipe.intensity
    quantity = "$p_T$" if intensity == "pt" else "$E$"
    if normalise == "sum":
        return f"{prefix} (fraction of the jet's {quantity})"
    if normalise == "max":
        return f"{prefix} (fraction of the brightest pixel)"
    return f"{prefix} {quantity} [GeV]"


# ---------------------------------------------------------------------------
# drawing helpers
# ---------------------------------------------------------------------------

def _log_norm(arrays):
    """One LogNorm over all ``arrays``: vmax their largest pixel, vmin their
    smallest positive one but at most ``1/_LOG_RANGE`` below vmax."""
    from matplotlib.colors import LogNorm

    positive = [a[a > 0] for a in arrays]
    positive = [p for p in positive if p.size]
    if not positive:
        return LogNorm(vmin=1e-6, vmax=1.0)
    vmax = max(float(p.max()) for p in positive)
    vmin = max(min(float(p.min()) for p in positive), vmax * _LOG_RANGE)
    return LogNorm(vmin=vmin, vmax=vmax if vmax > vmin else vmin * 10)


def _image_cmap():
    import matplotlib

    cmap = matplotlib.colormaps[_CMAP]
    return cmap.with_extremes(bad="white", under=cmap(0.0))


def _draw_image(ax, image, extent, norm, title):
    """A log-scaled image panel; zero pixels are masked (white)."""
    masked = np.ma.masked_less_equal(np.asarray(image, dtype=np.float64), 0.0)
    im = ax.imshow(masked, origin="lower", extent=extent, norm=norm, cmap=_image_cmap(),
                   interpolation="nearest", aspect="equal")
    ax.set_title(title)
    return im


def _axis_labels(ax, left=True):
    ax.set_xlabel(r"Rotated $\eta'$")
    if left:
        ax.set_ylabel(r"Rotated $\phi'$ [rad]")


def _invalid_note(n_invalid, n_rows, what="jets"):
    if not n_invalid:
        return ""
    return f"; {n_invalid:,} invalid {what} of {n_rows:,} rows left out"


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


def _new_figure(figsize):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, dpi=100, layout="constrained")


# ---------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------

def plot_average(store, n=None, *, by_label=True, class_names=None, difference=True,
                 allow_incomplete=False):
    """Average jet image per class side by side, on one logarithmic colour scale.

    Classes are the label values (top and QCD) or all jets when the store has
    no labels. Axes in the recipe's rotated eta/phi units (extent from npix
    and pixel_size, ``origin="lower"``); titles give class names and jet counts.
    Zero pixels are masked (white) so that the LogNorm never sees them.
    With two classes a last panel shows their difference (first minus second)
    on a diverging map centred at 0 with a symmetric-log scale.

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
    allow_incomplete : bool
        Accept a store of an interrupted build (refused by default); its
        unwritten rows read as invalid jets and are left out.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    JetimgError
        As :func:`average_images` (e.g. a store too small for ``n``).

    >>> plot_average("missing.zarr")
    Traceback (most recent call last):
    ...
    jetimg.errors.InputError: store not found: missing.zarr
    """
    with stores.opened(store) as s:
        averages = average_images(s, by_label=by_label, n=n, class_names=class_names,
                                  allow_incomplete=allow_incomplete)
        extent, name = _extent(s), _store_name(s)
        cbar_label = _intensity_label(s, "Average pixel")
    if isinstance(averages, list):
        return _progression_figure(averages, extent, name, cbar_label)
    return _average_figure(averages, extent, name, cbar_label, difference)


def _average_figure(avg, extent, name, cbar_label, difference):
    from matplotlib.colors import SymLogNorm

    k = len(avg.names)
    with_diff = difference and k == 2
    panels = k + with_diff
    with hep_style():
        fig = _new_figure((4.2 * panels + 1.6, 4.6))
        axes = fig.subplots(1, panels, squeeze=False)[0]
        norm = _log_norm(list(avg.images))
        for i, (ax, image) in enumerate(zip(axes, avg.images)):
            im = _draw_image(ax, image, extent, norm,
                             f"{avg.names[i]} ({avg.counts[i]:,} jets)")
            _axis_labels(ax, left=i == 0)
        fig.colorbar(im, ax=list(axes[:k]), label=cbar_label, shrink=0.9)
        if with_diff:
            ax = axes[-1]
            diff = avg.images[0] - avg.images[1]
            top = float(np.abs(diff).max()) or 1.0
            # Symmetric log: linear within 1e-3 of the largest |difference|, so
            # the core and the faint prongs both show; 0 is the map's centre.
            dnorm = SymLogNorm(linthresh=top * 1e-3, linscale=1.0, vmin=-top, vmax=top, base=10)
            dim = ax.imshow(diff, origin="lower", extent=extent, norm=dnorm, cmap=_DIFF_CMAP,
                            interpolation="nearest", aspect="equal")
            ax.set_title(f"{avg.names[0]} $-$ {avg.names[1]}")
            _axis_labels(ax, left=False)
            decades = range(math.ceil(math.log10(top * 1e-3)), math.floor(math.log10(top)) + 1)
            ticks = [-(10.0 ** d) for d in reversed(decades)] + [0.0] + [10.0 ** d for d in decades]
            fig.colorbar(dim, ax=ax, label="Difference of averages", shrink=0.9, ticks=ticks)
        first = "" if avg.n is None else f", first {avg.n:,} jets per class"
        fig.suptitle(f"Average jet images: {name}{first}"
                     f"{_invalid_note(avg.n_invalid, avg.n_rows)}")
    return fig


def _progression_figure(averages, extent, name, cbar_label):
    k, m = len(averages[0].names), len(averages)
    with hep_style():
        fig = _new_figure((2.9 * m + 1.4, 3.0 * k + 0.6))
        axes = fig.subplots(k, m, squeeze=False, sharex=True, sharey=True)
        norm = _log_norm([image for avg in averages for image in avg.images])
        for col, avg in enumerate(averages):
            for row in range(k):
                ax = axes[row, col]
                im = _draw_image(ax, avg.images[row], extent, norm,
                                 f"{avg.names[row]}, {avg.n:,} jet{'s' if avg.n > 1 else ''}")
                ax.set_xlabel(r"Rotated $\eta'$" if row == k - 1 else "")
                ax.set_ylabel(r"Rotated $\phi'$ [rad]" if col == 0 else "")
        fig.colorbar(im, ax=axes.ravel().tolist(), label=cbar_label, shrink=0.9)
        last = averages[-1]
        fig.suptitle(f"Averages over the first n jets: {name}"
                     f"{_invalid_note(last.n_invalid, last.n_rows)}")
    return fig


def plot_jets(store, rows=(0, 1, 2, 3), *, class_names=None, ncols=5, allow_incomplete=False):
    """Single jet images with their label, jet mass and jet pT, on one log colour scale.

    Parameters
    ----------
    store : str, Path or Store
    rows : sequence of int
        0-based rows of the store.
    class_names : dict, optional
        Label value -> name; default: the store's ``label_names``, else
        :data:`CLASS_NAMES`.
    ncols : int
        Panels per row of the figure.
    allow_incomplete : bool
        Accept a store of an interrupted build (refused by default); a row
        never written is drawn as an invalid jet (all-zero image).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    JetimgError
        No rows, or a row outside the store.

    >>> plot_jets("missing.zarr", rows=[0])
    Traceback (most recent call last):
    ...
    jetimg.errors.InputError: store not found: missing.zarr
    """
    rows = [int(r) for r in rows]
    with stores.opened(store) as s:
        check_complete(s, allow_incomplete)
        class_names = store_class_names(s, class_names)
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
        extent, name = _extent(s), _store_name(s)
        cbar_label = _intensity_label(s, "Pixel")
    ncols = max(1, min(int(ncols), len(rows)))
    nrows = math.ceil(len(rows) / ncols)
    with hep_style():
        fig = _new_figure((3.3 * ncols + 1.4, 3.6 * nrows + 0.5))
        axes = fig.subplots(nrows, ncols, squeeze=False)
        norm = _log_norm(images)
        im = None
        for i, ax in enumerate(axes.ravel()):
            if i >= len(rows):
                ax.set_axis_off()
                continue
            label = "" if labels is None else f": {class_name(labels[i], class_names)}"
            title = (f"row {rows[i]}{label}\n$m$ = {mass[i]:.1f} GeV, "
                     f"$p_T$ = {pt[i]:.0f} GeV")
            im = _draw_image(ax, images[i], extent, norm, title)
            if not valid[i]:
                ax.text(0.5, 0.5, "invalid jet\n(all-zero image)", transform=ax.transAxes,
                        ha="center", va="center")
            ax.set_xlabel(r"Rotated $\eta'$" if i // ncols == nrows - 1 or
                          i + ncols >= len(rows) else "")
            ax.set_ylabel(r"Rotated $\phi'$ [rad]" if i % ncols == 0 else "")
        fig.colorbar(im, ax=axes.ravel().tolist(), label=cbar_label, shrink=0.9)
        fig.suptitle(f"Single jets: {name} (zero pixels white)")
    return fig


def plot_kinematics(store, *, by_label=True, class_names=None, bins=50, allow_incomplete=False):
    """Jet mass and jet pT per class: step histograms on shared bins, unit area.

    Each class is normalised to unit area (fraction of its jets per bin) so
    classes of different sizes compare; the legend gives the counts. Bins
    span the 0.1% to 99.9% quantiles of all valid jets (mass from 0 GeV).

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
        name, n_rows, path = _store_name(s), len(s), s.path
    if not valid.any():
        raise InputError(f"store {path} holds no valid jet: nothing to histogram")
    values = class_order(set(np.unique(labels[valid]).tolist()), class_names)
    titles = {"jet_mass": "Jet mass $m$ [GeV]", "jet_pt": "Jet $p_T$ [GeV]"}
    with hep_style():
        fig = _new_figure((11.0, 4.6))
        axes = fig.subplots(1, 2)
        for ax, (key, data) in zip(axes, columns.items()):
            lo, hi = np.quantile(data[valid], [0.001, 0.999])
            edges = _nice_edges(0.0 if key == "jet_mass" else lo, hi, bins)
            lo, hi = edges[0], edges[-1]
            for value in values:
                chosen = data[valid & (labels == value)]
                label = (f"{class_name(value, class_names)} ({chosen.size:,} jets)" if use_labels
                         else f"all jets ({chosen.size:,})")
                ax.hist(chosen, bins=edges, weights=np.full(chosen.size, 1.0 / chosen.size),
                        histtype="step", linewidth=1.6, label=label)
            ax.set_xlabel(titles[key])
            width = edges[1] - edges[0]
            ax.set_ylabel(f"Fraction of jets / {width:.3g} GeV")
            ax.set_xlim(lo, hi)
            ax.set_ylim(bottom=0)
            ax.legend()
        fig.suptitle(f"Jet kinematics: {name}"
                     f"{_invalid_note(int(np.count_nonzero(~valid)), n_rows)}")
    return fig
