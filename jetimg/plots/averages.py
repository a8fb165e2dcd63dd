"""Average images per class, streamed through dask over the store's chunks.

``average_images`` reads the images chunk by chunk (the store's own image
chunks, 1000 rows in a Zarr store built by jetimg) and keeps only a float64 sum
and a count per class, so memory does not grow with the store. Invalid jets
(``valid == 0``, all-zero images) are left out of every average. Images with
channels, (N, npix, npix, C), are summed per class and per channel.
"""

import dataclasses
import math

import numpy as np

from jetimg.errors import InputError, JetimgError
from jetimg.io.store import stores
from jetimg.io.store.completeness import check_complete

__all__ = ["Averages", "CLASS_NAMES", "average_images", "class_order", "class_name",
           "store_class_names", "store_channels", "select_channels"]

#: Label value -> class name, for the top-tagging reference data (is_signal_new).
CLASS_NAMES = {1: "top", 0: "QCD"}

#: Rows read at a time for the per-jet arrays (labels, valid): 1 or 2 bytes a row.
STEP = 1_000_000
#: Image rows per dask task at least (a whole number of the store's chunks).
_MIN_TASK_ROWS = 1000


@dataclasses.dataclass(frozen=True)
class Averages:
    """Average images per class, from :func:`average_images`.

    Attributes
    ----------
    names : tuple of str
        Class names, e.g. ``("top", "QCD")``, or ``("all jets",)``.
    label_values : tuple of int or None
        The label of each class; None when averaged over all jets.
    images : ndarray, shape (K, npix, npix) or (K, npix, npix, C), float64
        The average image of each class (valid jets only); channel last for
        a store with channels.
    counts : ndarray, shape (K,), int64
        Valid jets averaged in each class.
    n : int or None
        The first ``n`` valid jets of each class were averaged; None: all of them.
    n_invalid : int
        Invalid jets (``valid == 0``) in the rows read, left out.
    n_rows : int
        Rows of the store read (for ``n``: up to the last jet needed).
    channels : tuple of str or None
        The channel of each image's last axis, e.g. ``("charged_pt",
        "neutral_pt")``; None for a store of one image per jet.
    """

    names: tuple
    label_values: tuple
    images: np.ndarray
    counts: np.ndarray
    n: int = None
    n_invalid: int = 0
    n_rows: int = 0
    channels: tuple = None


def class_order(values, class_names):
    """Known names first in the order of ``class_names`` (top, QCD), then other labels ascending."""
    known = [v for v in class_names if v in values]
    return known + sorted(v for v in values if v not in class_names)


def store_class_names(store, class_names=None):
    """Label value -> class name for the plots of ``store`` (an open Store).

    ``class_names`` when given; else the store's ``label_names`` attribute
    (two classes: the second, the signal, first, as :data:`CLASS_NAMES`);
    else, for stores made before label_names, :data:`CLASS_NAMES`.
    """
    if class_names is not None:
        return dict(class_names)
    names = store.attrs.get("label_names")
    if not isinstance(names, (list, tuple)) or not names:
        return dict(CLASS_NAMES)
    order = [1, 0] if len(names) == 2 else range(len(names))
    return {i: str(names[i]) for i in order}


def class_name(value, class_names):
    return class_names.get(value, f"label {value}")


def store_channels(store):
    """The channel names of an open store's images; None for one image per jet.

    Images of shape (N, npix, npix, C) hold the channels of the store's
    recipe, in order; a store without channel names in its recipe (made by
    another tool) gets ``"channel 0"``, ``"channel 1"``, ...
    """
    shape = store["images"].shape
    if len(shape) != 4:
        return None
    names = store.recipe.channels
    if names is None or len(names) != shape[-1]:
        names = [f"channel {c}" for c in range(shape[-1])]
    return tuple(str(c) for c in names)


def select_channels(store, channels=None):
    """``(names, indices)`` of the chosen channels of an open store.

    ``channels``: names as in the store's recipe (a sequence, or one
    comma-separated string), or None for every channel. A store of one image
    per jet gives ``(None, None)``, and refuses ``channels``.

    Raises
    ------
    InputError
        A channel the store does not have (the message lists the store's
        channels), a channel given twice, or channels for a store without them.
    """
    names = store_channels(store)
    if channels is None:
        return names, (None if names is None else list(range(len(names))))
    if isinstance(channels, str):
        channels = [c.strip() for c in channels.split(",") if c.strip()]
    channels = [str(c) for c in channels]
    if names is None:
        raise InputError(f"store {store.path} has no channels (one image per jet); "
                         "leave out channels=")
    if not channels:
        raise InputError(f"no channels given; store {store.path} has channels "
                         f"{', '.join(names)}")
    for c in channels:
        if c not in names:
            raise InputError(f"store {store.path} has no channel {c!r}; its channels are "
                             f"{', '.join(names)}")
    repeated = sorted({c for c in channels if channels.count(c) > 1})
    if repeated:
        raise InputError(f"channel {', '.join(repeated)} given more than once")
    return tuple(channels), [names.index(c) for c in channels]


def _scan(store, by_label, n_max):
    """Stream labels and valid: classes, valid counts, invalid count, rows to read.

    A first pass over the whole store finds the classes and their valid
    counts. With ``n_max``, a second pass finds the first row where every
    class holds ``n_max`` valid jets: only the rows before it are read (a
    class short of ``n_max`` is reported by the caller). Labels and valid
    are 1 byte a row, read ``STEP`` rows at a time.
    """
    n_rows = len(store)
    use_labels = by_label and "labels" in store

    def steps():
        for start in range(0, n_rows, STEP):
            valid = np.asarray(store["valid"][start:start + STEP]) != 0
            labels = (np.asarray(store["labels"][start:start + STEP]) if use_labels
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


def block_rows(array):
    """Rows of a block read at once from a store's ``array``: whole stored chunks,
    at least :data:`_MIN_TASK_ROWS` rows (one chunk's rows are too few to pay a task)."""
    chunks = getattr(array, "chunks", None)
    rows = int(chunks[0]) if chunks else _MIN_TASK_ROWS
    return rows * max(1, math.ceil(_MIN_TASK_ROWS / rows))


def _dask_rows(array, n_rows):
    """``array[:n_rows]`` as a dask array chunked along rows by whole store chunks."""
    import dask.array as da

    rows = block_rows(array)
    is_hdf5 = type(array).__module__.startswith("h5py")
    # h5py is not thread-safe: dask takes a lock around each read of an HDF5 dataset.
    darr = da.from_array(array, chunks=(rows,) + tuple(array.shape[1:]), lock=is_hdf5,
                         asarray=True, name=False)
    return darr[:n_rows]


def _member_counts(labels, valid, values):
    """Valid jets of each class in one block: (K,) int64."""
    member = np.asarray(valid) != 0
    return np.array([np.count_nonzero(member & (labels == v)) for v in values], np.int64)


def _block_sums(images, labels, valid, offsets, values, ns, take=None):
    """Float64 sums and counts of one block of images, one column per (class, n).

    Column ``c * len(ns) + i`` sums the jets of class ``values[c]`` whose rank
    in their class (``offsets[c]`` members before this block) is at most
    ``ns[i]``; without ``ns``, column ``c`` sums every valid jet of the class.
    ``take``: the channels (last axis) kept of images with channels.
    Returns ``(sums (J, npix*npix[*C]), counts (J,))``.
    """
    images = np.asarray(images)
    if take is not None and list(take) != list(range(images.shape[-1])):
        images = images[..., take]
    flat = images.reshape(len(images), -1)
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


def average_images(store, by_label=True, n=None, *, class_names=None, channels=None,
                   scheduler="threads", allow_incomplete=False):
    """Average image per class, streamed over the store's chunks with dask.

    Reads the images chunk by chunk (dask, ``scheduler``) and keeps a float64
    sum and a count per class: memory does not grow with the store. Invalid
    jets (``valid == 0``) are left out and counted. Images with channels,
    (N, npix, npix, C), give averages per class and per channel.

    Parameters
    ----------
    store : str, Path or Store
        An image store (Zarr or HDF5) or an open :class:`~jetimg.io.store.stores.Store`.
    by_label : bool
        One average per label value (``class_names`` names them, top and QCD by
        default); all jets in one class when False or when the store has no labels.
    n : int or sequence of int, optional
        Average only the first ``n`` valid jets of each class (only the rows
        up to the last jet needed are read). A sequence gives one
        :class:`Averages` per value, all from one pass over the store.
    class_names : dict, optional
        Label value -> name; default: the store's ``label_names``, else
        :data:`CLASS_NAMES` (1: "top", 0: "QCD").
    channels : sequence of str or str, optional
        A store with channels: average only these channels, in this order
        (names as in the store's recipe, or one comma-separated string);
        default every channel.
    scheduler : str
        The dask scheduler ("threads", "synchronous", "processes").
    allow_incomplete : bool
        Accept a store of an interrupted build (refused by default); its
        unwritten rows read as invalid jets and are left out.

    Returns
    -------
    Averages, or a list of Averages when ``n`` is a sequence

    Raises
    ------
    JetimgError
        The store has no valid jet, ``n`` is below 1, a class holds fewer
        than ``n`` valid jets (the message names the class and its count), or
        a channel is not one of the store's (the message lists them).

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

    ns = None
    if n is not None:
        ns = [int(v) for v in (n if np.ndim(n) else [n])]
        if not ns or min(ns) < 1:
            raise JetimgError(f"n={n!r} is not valid: give whole numbers >= 1")
    with stores.opened(store) as s:
        check_complete(s, allow_incomplete)
        class_names = store_class_names(s, class_names)
        channel_names, take = select_channels(s, channels)
        if len(s) == 0:
            raise InputError(f"store {s.path} holds no jets")
        use_labels, counts, n_invalid, n_rows = _scan(s, by_label, None if ns is None else max(ns))
        if not counts:
            raise InputError(f"store {s.path} holds no valid jet "
                             f"({n_invalid} invalid jets): nothing to average")
        values = class_order(counts, class_names) if use_labels else [0]
        names = tuple(class_name(v, class_names) for v in values) if use_labels else ("all jets",)
        if ns is not None:
            short = [f"{counts[v]:,} valid {name} jets" for v, name in zip(values, names)
                     if counts[v] < max(ns)]
            if short:
                largest = min(counts.values())
                raise JetimgError(
                    f"store {s.path} is too small for n={max(ns)}: it holds "
                    f"{' and '.join(short)} (n can be at most {largest:,} per class)")

        images = _dask_rows(s["images"], n_rows)
        shape = tuple(images.shape[1:3]) + (() if take is None else (len(take),))
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
        parts = [dask.delayed(_block_sums)(img, lab, val, offsets[b], values, ns, take)
                 for b, (img, lab, val) in enumerate(blocks)]
        sums, n_used = _tree_sum(parts).compute(scheduler=scheduler)

    def result(columns, k):
        c = n_used[columns].astype(np.int64)
        return Averages(names=names, label_values=tuple(values) if use_labels else None,
                        images=(sums[columns] / c[:, None]).reshape((-1,) + shape),
                        counts=c, n=k, n_invalid=n_invalid, n_rows=n_rows,
                        channels=channel_names)

    if ns is None:
        return result(np.arange(len(values)), None)
    per_n = [result(np.arange(len(values)) * len(ns) + i, k) for i, k in enumerate(ns)]
    return per_n if np.ndim(n) else per_n[0]
