"""Figures of an image store: average images, single jets, jet kinematics.

Shapes: images (N, npix, npix) float32 as stored (docs/recipe.md), row i along the
rotated phi direction y, column j along the rotated eta direction x; drawn
with ``origin="lower"`` over the extent ``[-npix*dx/2, npix*dx/2] x
[-npix*dy/2, npix*dy/2]`` so that +y points up.

``average_images`` streams the images through dask chunk by chunk (the
store's own image chunks, 1000 rows in a Zarr store built by jetimg) and
keeps only a float64 sum and a count per class, so memory does not grow with
the store. Invalid jets (``valid == 0``, all-zero images) are left out of
every average and histogram, and the figures say how many were left out.

Every ``plot_*`` function takes a store path or an open :class:`~jetimg.io.stores.Store`
and returns a :class:`matplotlib.figure.Figure` (never shown); save it with
:func:`jetimg.plots.save_figure`.
"""

import dataclasses
import math

import numpy as np

from jetimg.errors import InputError, JetimgError
from jetimg.io import stores
from jetimg.plots.style import hep_style

__all__ = ["Averages", "CLASS_NAMES", "average_images", "plot_average", "plot_jets",
           "plot_kinematics"]

#: Label value -> class name, for the top-tagging reference data (is_signal_new).
CLASS_NAMES = {1: "top", 0: "QCD"}

#: Rows read at a time for the per-jet arrays (labels, valid): 1 or 2 bytes a row.
_STEP = 1_000_000
#: Image rows per dask task at least (a whole number of the store's chunks).
_MIN_TASK_ROWS = 1000
#: Zero pixels are masked (drawn white); the log scale starts at most this far below its top.
_LOG_RANGE = 1e-6
#: Image colour map; masked (zero) pixels are white.
_CMAP = "viridis"
_DIFF_CMAP = "RdBu_r"


@dataclasses.dataclass(frozen=True)
class Averages:
    """Average images per class, from :func:`average_images`.

    Attributes
    ----------
    names : tuple of str
        Class names, e.g. ``("top", "QCD")``, or ``("all jets",)``.
    label_values : tuple of int or None
        The label of each class; None when averaged over all jets.
    images : ndarray, shape (K, npix, npix), float64
        The average image of each class (valid jets only).
    counts : ndarray, shape (K,), int64
        Valid jets averaged in each class.
    n : int or None
        The first ``n`` valid jets of each class were averaged; None: all of them.
    n_invalid : int
        Invalid jets (``valid == 0``) in the rows read, left out.
    n_rows : int
        Rows of the store read (for ``n``: up to the last jet needed).
    """

    names: tuple
    label_values: tuple
    images: np.ndarray
    counts: np.ndarray
    n: int = None
    n_invalid: int = 0
    n_rows: int = 0


# ---------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------

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


def _class_order(values, class_names):
    """Known names first in the order of ``class_names`` (top, QCD), then other labels ascending."""
    known = [v for v in class_names if v in values]
    return known + sorted(v for v in values if v not in class_names)


def _name(value, class_names):
    return class_names.get(value, f"label {value}")


def _scan(store, by_label, n_max):
    """Stream labels and valid: classes, valid counts, invalid count, rows to read.

    A first pass over the whole store finds the classes and their valid
    counts. With ``n_max``, a second pass finds the first row where every
    class holds ``n_max`` valid jets: only the rows before it are read (a
    class short of ``n_max`` is reported by the caller). Labels and valid
    are 1 byte a row, read ``_STEP`` rows at a time.
    """
    n_rows = len(store)
    use_labels = by_label and "labels" in store

    def steps():
        for start in range(0, n_rows, _STEP):
            valid = np.asarray(store["valid"][start:start + _STEP]) != 0
            labels = (np.asarray(store["labels"][start:start + _STEP]) if use_labels
                      else np.zeros(valid.shape, np.int8))
            yield start, valid, labels

    counts, n_invalid = {}, 0
    for _, valid, labels in steps():
        n_invalid += int(np.count_nonzero(~valid))
        values, k = np.unique(labels[valid], return_counts=True)
        for value, c in zip(values.tolist(), k.tolist()):
            counts[value] = counts.get(value, 0) + c
    if n_max is None or not counts or min(counts.values()) < n_max:
        return use_labels, counts, n_invalid, n_rows
    seen, last, n_invalid = dict.fromkeys(counts, 0), {}, 0
    for start, valid, labels in steps():
        for value in counts:
            if value in last:
                continue
            rows = np.flatnonzero(valid & (labels == value))
            if seen[value] + rows.size >= n_max:
                last[value] = start + int(rows[n_max - seen[value] - 1])
            seen[value] += rows.size
        if len(last) == len(counts):
            stop = max(last.values()) + 1
            n_invalid += int(np.count_nonzero(~valid[:stop - start]))
            return use_labels, counts, n_invalid, stop
        n_invalid += int(np.count_nonzero(~valid))
    raise AssertionError("unreachable: every class holds n_max valid jets")  # pragma: no cover


def _dask_rows(array, n_rows):
    """``array[:n_rows]`` as a dask array chunked along rows by whole store chunks."""
    import dask.array as da

    chunks = getattr(array, "chunks", None)
    rows = int(chunks[0]) if chunks else _MIN_TASK_ROWS
    rows *= max(1, math.ceil(_MIN_TASK_ROWS / rows))
    is_hdf5 = type(array).__module__.startswith("h5py")
    # h5py is not thread-safe: dask takes a lock around each read of an HDF5 dataset.
    darr = da.from_array(array, chunks=(rows,) + tuple(array.shape[1:]), lock=is_hdf5,
                         asarray=True, name=False)
    return darr[:n_rows]


def _member_counts(labels, valid, values):
    """Valid jets of each class in one block: (K,) int64."""
    member = np.asarray(valid) != 0
    return np.array([np.count_nonzero(member & (labels == v)) for v in values], np.int64)


def _block_sums(images, labels, valid, offsets, values, ns):
    """Float64 sums and counts of one block of images, one column per (class, n).

    Column ``c * len(ns) + i`` sums the jets of class ``values[c]`` whose rank
    in their class (``offsets[c]`` members before this block) is at most
    ``ns[i]``; without ``ns``, column ``c`` sums every valid jet of the class.
    Returns ``(sums (J, npix*npix), counts (J,))``.
    """
    flat = np.asarray(images).reshape(len(images), -1)
    member_of = [(np.asarray(valid) != 0) & (np.asarray(labels) == v) for v in values]
    chosen = []
    for c, member in enumerate(member_of):
        if ns is None:
            chosen.append(member)
            continue
        rank = offsets[c] + np.cumsum(member)  # 1 for the class's first valid jet
        chosen.extend(member & (rank <= k) for k in ns)
    sums = np.zeros((len(chosen), flat.shape[1]), np.float64)
    counts = np.zeros(len(chosen), np.int64)
    for j, rows in enumerate(chosen):
        counts[j] = np.count_nonzero(rows)
        if counts[j]:
            sums[j] = flat[rows].sum(axis=0, dtype=np.float64)
    return sums, counts


def _add(*parts):
    return sum(p[0] for p in parts), sum(p[1] for p in parts)


def _tree_sum(parts, fan_in=8):
    """Sum delayed ``(sums, counts)`` pairs in a tree, so few partial sums are held at once."""
    import dask

    while len(parts) > 1:
        parts = [dask.delayed(_add)(*parts[i:i + fan_in]) for i in range(0, len(parts), fan_in)]
    return parts[0]


def average_images(store, by_label=True, n=None, *, class_names=None, scheduler="threads"):
    """Average image per class, streamed over the store's chunks with dask.

    Reads the images chunk by chunk (dask, ``scheduler``) and keeps a float64
    sum and a count per class: memory does not grow with the store. Invalid
    jets (``valid == 0``) are left out and counted.

    Parameters
    ----------
    store : str, Path or Store
        An image store (Zarr or HDF5) or an open :class:`~jetimg.io.stores.Store`.
    by_label : bool
        One average per label value (``class_names`` names them, top and QCD by
        default); all jets in one class when False or when the store has no labels.
    n : int or sequence of int, optional
        Average only the first ``n`` valid jets of each class (only the rows
        up to the last jet needed are read). A sequence gives one
        :class:`Averages` per value, all from one pass over the store.
    class_names : dict, optional
        Label value -> name; default :data:`CLASS_NAMES` (1: "top", 0: "QCD").
    scheduler : str
        The dask scheduler ("threads", "synchronous", "processes").

    Returns
    -------
    Averages, or a list of Averages when ``n`` is a sequence

    Raises
    ------
    JetimgError
        The store has no valid jet, ``n`` is below 1, or a class holds fewer
        than ``n`` valid jets (the message names the class and its count).

    >>> import tempfile, numpy as np, jetimg
    >>> from jetimg.toys import toy_jets
    >>> folder = tempfile.mkdtemp()
    >>> jets, labels = toy_jets(300, seed=1)
    >>> np.save(f"{folder}/jets.npy", jets); np.save(f"{folder}/labels.npy", labels)
    >>> _ = jetimg.build(f"{folder}/jets.npy", f"{folder}/img.zarr", npix=16,
    ...                  labels_key=f"{folder}/labels.npy")
    >>> avg = average_images(f"{folder}/img.zarr")
    >>> avg.names, avg.counts.tolist(), avg.images.shape
    (('top', 'QCD'), [150, 150], (2, 16, 16))
    >>> store = jetimg.open_store(f"{folder}/img.zarr")
    >>> images, labels = store["images"][:], store["labels"][:]
    >>> bool(np.allclose(avg.images[0], images[labels == 1].mean(axis=0)))
    True
    >>> [a.counts.tolist() for a in average_images(store, n=[1, 100])]
    [[1, 1], [100, 100]]
    >>> import shutil; shutil.rmtree(folder)
    """
    import dask
    import dask.array as da

    class_names = dict(CLASS_NAMES if class_names is None else class_names)
    ns = None
    if n is not None:
        ns = [int(v) for v in (n if np.ndim(n) else [n])]
        if not ns or min(ns) < 1:
            raise JetimgError(f"n must be whole numbers >= 1, got {n!r}")
    with stores.opened(store) as s:
        if len(s) == 0:
            raise InputError(f"store {s.path} holds no jets")
        use_labels, counts, n_invalid, n_rows = _scan(s, by_label, None if ns is None else max(ns))
        if not counts:
            raise InputError(f"store {s.path} holds no valid jet "
                             f"({n_invalid} invalid jets): nothing to average")
        values = _class_order(counts, class_names) if use_labels else [0]
        names = tuple(_name(v, class_names) for v in values) if use_labels else ("all jets",)
        if ns is not None:
            short = [f"{counts[v]:,} valid {name} jets" for v, name in zip(values, names)
                     if counts[v] < max(ns)]
            if short:
                largest = min(counts.values())
                raise JetimgError(
                    f"store {s.path} is too small for n={max(ns)}: it holds "
                    f"{' and '.join(short)} (n can be at most {largest:,} per class)")

        images = _dask_rows(s["images"], n_rows)
        npix = images.shape[-1]
        row_chunks = (images.chunks[0],)
        valid = _dask_rows(s["valid"], n_rows).rechunk(row_chunks)
        labels = (_dask_rows(s["labels"], n_rows).rechunk(row_chunks) if use_labels
                  else da.zeros_like(valid, dtype=np.int8))
        blocks = list(zip(images.to_delayed().ravel(), labels.to_delayed().ravel(),
                          valid.to_delayed().ravel()))
        offsets = np.zeros((len(blocks), len(values)), np.int64)
        if ns is not None:
            # Members of each class before each block, so a block knows the rank of its jets.
            per_block = dask.compute(*[dask.delayed(_member_counts)(lab, val, values)
                                       for _, lab, val in blocks], scheduler=scheduler)
            offsets[1:] = np.cumsum(per_block, axis=0)[:-1]
        parts = [dask.delayed(_block_sums)(img, lab, val, offsets[b], values, ns)
                 for b, (img, lab, val) in enumerate(blocks)]
        sums, n_used = _tree_sum(parts).compute(scheduler=scheduler)

    def result(columns, k):
        c = n_used[columns].astype(np.int64)
        return Averages(names=names, label_values=tuple(values) if use_labels else None,
                        images=(sums[columns] / c[:, None]).reshape(-1, npix, npix),
                        counts=c, n=k, n_invalid=n_invalid, n_rows=n_rows)

    if ns is None:
        return result(np.arange(len(values)), None)
    per_n = [result(np.arange(len(values)) * len(ns) + i, k) for i, k in enumerate(ns)]
    return per_n if np.ndim(n) else per_n[0]


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

def plot_average(store, n=None, *, by_label=True, class_names=None, difference=True):
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
        averages = average_images(s, by_label=by_label, n=n, class_names=class_names)
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


def plot_jets(store, rows=(0, 1, 2, 3), *, class_names=None, ncols=5):
    """Single jet images with their label, jet mass and jet pT, on one log colour scale.

    Parameters
    ----------
    store : str, Path or Store
    rows : sequence of int
        0-based rows of the store.
    class_names : dict, optional
        Label value -> name; default :data:`CLASS_NAMES`.
    ncols : int
        Panels per row of the figure.

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
    class_names = dict(CLASS_NAMES if class_names is None else class_names)
    rows = [int(r) for r in rows]
    with stores.opened(store) as s:
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
            label = "" if labels is None else f": {_name(labels[i], class_names)}"
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


def plot_kinematics(store, *, by_label=True, class_names=None, bins=50):
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

    Returns
    -------
    matplotlib.figure.Figure

    >>> plot_kinematics("missing.zarr")
    Traceback (most recent call last):
    ...
    jetimg.errors.InputError: store not found: missing.zarr
    """
    class_names = dict(CLASS_NAMES if class_names is None else class_names)
    with stores.opened(store) as s:
        valid = np.asarray(s["valid"][:]) != 0
        use_labels = by_label and "labels" in s
        labels = np.asarray(s["labels"][:]) if use_labels else np.zeros(valid.shape, np.int8)
        columns = {"jet_mass": np.asarray(s["jet_mass"][:], np.float64),
                   "jet_pt": np.asarray(s["jet_pt"][:], np.float64)}
        name, n_rows, path = _store_name(s), len(s), s.path
    if not valid.any():
        raise InputError(f"store {path} holds no valid jet: nothing to histogram")
    values = _class_order(set(np.unique(labels[valid]).tolist()), class_names)
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
                label = (f"{_name(value, class_names)} ({chosen.size:,} jets)" if use_labels
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
