"""Plain (N, M, 4) arrays of (E, px, py, pz) in HDF5, Zarr or .npy, with optional labels.

``"hdf5-array"``
    An (N, M, 4) dataset in an HDF5 file: ``key`` names it, else the file's
    only 3-D dataset whose last dimension is 4 (found by
    :func:`jetimg.io.open_jets`). Labels: the 1-D dataset ``labels_key``,
    else one named ``labels`` or ``is_signal_new`` beside the jets (same
    group).
``"zarr-array"``
    The same in a Zarr store (v3 or v2): ``path`` is the store directory
    (``*.zarr`` or any directory with Zarr metadata), holding the array
    itself or a group (same key and labels rules as for HDF5).
``"npy"``
    An (N, M, 4) ``.npy`` file, memory-mapped; labels from ``labels_key``,
    the path of another ``.npy`` of shape (N,) (relative paths are also
    looked up beside the jets file), else none.

Any numeric dtype is read (and cast to float32); ``n_slots`` < M reads the
first slots only.
"""

import os

import h5py
import numpy as np

from jetimg.errors import InputError
from jetimg.io.readers.hdf5 import HDF5Source, check_filters, describe_compression
from jetimg.io.readers.pids import (PidKinds, find_pid_hdf5, find_pid_npy, find_pid_zarr,
                            with_pid)
from jetimg.io.readers.sources import (DEFAULT_KEY, JetSource, check_array_shape, check_labels,
                               check_slots, is_zarr, npy_header, short_list,
                               zarr_open_array)

__all__ = ["LAYOUTS", "open_hdf5_array", "open_zarr", "open_npy", "label_names_attr"]

LAYOUTS = ("hdf5-array", "zarr-array", "npy")
# Labels found beside the jets when no labels_key is given, in this order.
LABEL_NAMES = ("labels", "is_signal_new")


def label_names_attr(attrs, where):
    """The class names of a labels array: its ``label_names`` attribute, or None.

    Parameters
    ----------
    attrs : mapping
        The labels array's HDF5 or Zarr attributes.
    where : str
        What the labels are, for the message.

    Returns
    -------
    tuple of str or None

    Raises
    ------
    InputError
        The attribute is not a list of names.

    >>> label_names_attr({"label_names": ["gluon", "quark"]}, "y")
    ('gluon', 'quark')
    >>> label_names_attr({}, "y") is None
    True
    """
    if "label_names" not in attrs:
        return None
    raw = attrs["label_names"]
    if isinstance(raw, (str, bytes)) or not hasattr(raw, "__len__"):
        raise InputError(f"the label_names attribute of {where} is {raw!r}, "
                         "expected a list of class names")
    names = tuple(v.decode() if isinstance(v, bytes) else str(v) for v in raw)
    if not names:
        raise InputError(f"the label_names attribute of {where} is empty")
    return names


# ---------------------------------------------------------------------------
# HDF5
# ---------------------------------------------------------------------------

class _HDF5ArraySource(PidKinds, HDF5Source):
    layout = "hdf5-array"

    def __init__(self, full_slots, **kw):
        super().__init__(**kw)
        self._full_slots = full_slots

    def _read(self, handle, start, stop, out=None):
        _, datasets = handle
        ds = datasets[self.key]
        if self.n_slots == self._full_slots:
            jets = ds[start:stop]
        else:
            jets = ds[start:stop, :self.n_slots]
        labels = datasets[self.labels_key][start:stop] if self.has_labels else None
        return jets, labels


def open_hdf5_array(path, f, ds, labels_key, n_slots, pid_key=None):
    """Check an (N, M, 4) HDF5 dataset and its labels; return its source.

    Parameters
    ----------
    path : str
        Absolute path of the file.
    f : h5py.File
        The open file (closed by the caller; the source reopens it).
    ds : h5py.Dataset
        The jets.
    labels_key : str or None
        The labels dataset; default ``labels`` or ``is_signal_new`` beside
        ``ds``, if there is one.
    n_slots : int or None
        Slots to read; default all M.
    pid_key : str or None
        An (N, M) dataset of PDG ids (particle kinds); default ``pid`` beside
        ``ds``, if there is one.

    Returns
    -------
    JetSource
        Of layout ``"hdf5-array"``.

    Raises
    ------
    InputError
        Wrong shape or dtype, labels not found or of the wrong length,
        unavailable compression filter.
    """
    name = ds.name
    check_array_shape(ds.shape, ds.dtype, f"dataset '{name}' in {path}")
    n_rows, full = ds.shape[0], ds.shape[1]
    n_slots = check_slots(n_slots, full, path)
    check_filters(ds, path)
    expect = {name: ds.shape}
    lab = None
    if labels_key is not None:
        lab = f.get(labels_key)
        if not isinstance(lab, h5py.Dataset):
            raise InputError(f"labels dataset '{labels_key}' not found in {path} "
                             f"(top-level keys: {short_list(list(f.keys()))})")
    else:
        parent = ds.parent
        for cand in LABEL_NAMES:
            obj = parent.get(cand)
            if isinstance(obj, h5py.Dataset) and obj.ndim == 1:
                lab = obj
                break
    if lab is not None:
        check_labels(lab.shape, lab.dtype, n_rows, f"labels '{lab.name}' in {path}")
        check_filters(lab, path)
        expect[lab.name] = lab.shape
    pid = find_pid_hdf5(path, f, ds, pid_key)
    if pid is not None:
        expect[pid.name] = pid.shape
    source = _HDF5ArraySource(
        full_slots=full, path=path, key=name,
        labels_key=None if lab is None else lab.name, n_rows=n_rows,
        n_slots=n_slots, expect=expect,
        compression=describe_compression([ds] + ([lab] if lab is not None else [])))
    if lab is not None:
        source.label_names = label_names_attr(lab.attrs, f"labels '{lab.name}' in {path}")
    return with_pid(source, None if pid is None else ("hdf5", pid.name))


# ---------------------------------------------------------------------------
# Zarr
# ---------------------------------------------------------------------------

class _ZarrArraySource(PidKinds, JetSource):
    layout = "zarr-array"

    def __init__(self, full_slots, labels_path, expect, **kw):
        super().__init__(**kw)
        self._full_slots = full_slots
        self._labels_path = labels_path   # (store dir, path in it) or None
        self._expect = expect

    def _open(self):
        import zarr

        jets = zarr_open_array(zarr, self.path, self.key)
        labels = None
        if self._labels_path is not None:
            labels = zarr_open_array(zarr, *self._labels_path)
        for arr, shape in zip((jets, labels), self._expect):
            if arr is not None and tuple(arr.shape) != shape:
                raise InputError(f"{self.path} changed since it was opened: "
                                 f"an array is no longer {shape}")
        return jets, labels

    def _read(self, handle, start, stop, out=None):
        jets, labels = _array_rows(handle, start, stop, self.n_slots, self._full_slots)
        return np.asarray(jets), None if labels is None else np.asarray(labels)


def _array_rows(handle, start, stop, n_slots, full_slots):
    """Rows ``start:stop`` of a (N, M, 4) jets array (its first ``n_slots``
    slots) and of its labels array (or None), from a ``(jets, labels)`` handle."""
    jets_arr, labels_arr = handle
    jets = jets_arr[start:stop] if n_slots == full_slots else jets_arr[start:stop, :n_slots]
    return jets, None if labels_arr is None else labels_arr[start:stop]


def open_zarr(path, key, labels_key, n_slots, pid_key=None):
    """Check an (N, M, 4) array in a Zarr store and its labels; return its source.

    Parameters
    ----------
    path : str
        Absolute path of the store directory.
    key : str or None
        The array's path in the group; default ``"table"`` if present, else
        the only 3-D array with last dimension 4. Must be None when the
        store is a single array.
    labels_key : str or None
        Group: the labels array's path in it (default ``labels`` or
        ``is_signal_new`` beside the jets); single array: another Zarr
        array store (a relative path is also looked up beside ``path``).
    n_slots : int or None
        Slots to read; default all M.
    pid_key : str or None
        An (N, M) array of PDG ids (particle kinds): group: its path (default
        ``pid`` beside the jets); single array: another Zarr array store.

    Returns
    -------
    JetSource
        Of layout ``"zarr-array"``.

    Raises
    ------
    InputError
        Unreadable store, key or labels not found, no or several candidate
        arrays, wrong shape or dtype, labels of the wrong length.
    """
    import zarr

    try:
        root = zarr.open(store=path, mode="r")
    except Exception as exc:  # zarr raises many types for bad stores
        raise InputError(f"cannot open Zarr store {path}: {exc}") from exc
    if isinstance(root, zarr.Group):
        top = sorted(name for name, _ in root.members())
        if key is not None:
            try:
                node = root[key]
            except KeyError:
                raise InputError(f"key '{key}' not found in {path} "
                                 f"(top-level keys: {short_list(top)})") from None
        elif DEFAULT_KEY in top:
            node = root[DEFAULT_KEY]
        else:
            node = root
        if isinstance(node, zarr.Group):
            candidates = sorted(
                (f"{node.path}/{name}" if node.path else name)
                for name, obj in node.members(max_depth=None)
                if not isinstance(obj, zarr.Group) and obj.ndim == 3
                and obj.shape[-1] == 4)
            if len(candidates) != 1:
                if candidates:
                    raise InputError(f"{path} holds several (N, M, 4) arrays: "
                                     f"{short_list(candidates)}; pass key=... to "
                                     "pick one")
                raise InputError(f"no (N, M, 4) array in Zarr store {path} "
                                 f"(top-level keys: {short_list(top)})")
            node = root[candidates[0]]
        arr_key = node.path
    else:
        if key is not None:
            raise InputError(f"key '{key}' given but {path} is a single Zarr "
                             "array, not a group")
        node, arr_key = root, None
    where = f"array '{arr_key or '/'}' in {path}"
    check_array_shape(tuple(node.shape), node.dtype, where)
    n_rows, full = node.shape[0], node.shape[1]
    n_slots = check_slots(n_slots, full, path)
    lab, labels_path = None, None
    if isinstance(root, zarr.Group):
        parent = arr_key.rpartition("/")[0]
        if labels_key is not None:
            try:
                lab = root[labels_key]
            except KeyError:
                raise InputError(f"labels array '{labels_key}' not found in {path} "
                                 f"(top-level keys: {short_list(top)})") from None
            labels_path = (path, lab.path)
        else:
            for cand in LABEL_NAMES:
                name = f"{parent}/{cand}" if parent else cand
                try:
                    obj = root[name]
                except KeyError:
                    continue
                if not isinstance(obj, zarr.Group) and obj.ndim == 1:
                    lab, labels_path = obj, (path, obj.path)
                    break
    elif labels_key is not None:
        store = labels_key
        if not os.path.isabs(store) and not os.path.exists(store):
            store = os.path.join(os.path.dirname(path), labels_key)
        store = os.path.abspath(store)
        if not os.path.isdir(store) or not is_zarr(store):
            raise InputError(f"labels array not found: {labels_key}")
        lab = zarr_open_array(zarr, store, None)
        labels_path = (store, None)
    if lab is not None:
        if isinstance(lab, zarr.Group):
            raise InputError(f"labels '{labels_key}' in {path} is a group, not an array")
        check_labels(tuple(lab.shape), lab.dtype, n_rows,
                      f"labels '{lab.path or labels_path[0]}' in {path}")
    labels_name = None
    if labels_path is not None:
        labels_name = labels_path[1] or labels_path[0]
    source = _ZarrArraySource(
        full_slots=full, labels_path=labels_path,
        expect=(tuple(node.shape), None if lab is None else tuple(lab.shape)),
        path=path, key=arr_key, labels_key=labels_name, n_rows=n_rows,
        n_slots=n_slots)
    if lab is not None:
        source.label_names = label_names_attr(dict(lab.attrs), f"labels '{labels_name}' in {path}")
    pid = find_pid_zarr(zarr, root, path, arr_key, tuple(node.shape), pid_key)
    return with_pid(source, None if pid is None else ("zarr", pid))


# ---------------------------------------------------------------------------
# .npy
# ---------------------------------------------------------------------------

class _NpySource(PidKinds, JetSource):
    layout = "npy"

    def __init__(self, full_slots, labels_file, expect, **kw):
        super().__init__(**kw)
        self._full_slots = full_slots
        self._labels_file = labels_file
        self._expect = expect

    def _open(self):
        arrays = []
        for file, shape in zip((self.path, self._labels_file), self._expect):
            if file is None:
                arrays.append(None)
                continue
            try:
                arr = np.load(file, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise InputError(f"cannot open {file}: {exc}") from exc
            if arr.shape != shape:
                raise InputError(f"{file} changed since it was opened: its shape "
                                 f"is no longer {shape}")
            arrays.append(arr)
        return tuple(arrays)

    def _read(self, handle, start, stop, out=None):
        jets, labels = _array_rows(handle, start, stop, self.n_slots, self._full_slots)
        labels = None if labels is None else np.array(labels)
        if out is not None:  # straight from the memory map into the caller's buffer
            np.copyto(out, jets, casting="same_kind")
            return out, labels
        # a copy: never hand out views of the memory map
        return np.array(jets, dtype=np.float32, order="C"), labels


def open_npy(path, key, labels_key, n_slots, pid_key=None):
    """Check an (N, M, 4) ``.npy`` file and its labels file; return its source.

    Parameters
    ----------
    path : str
        Absolute path of the ``.npy`` file.
    key : None
        A ``.npy`` file has no keys: anything else is refused.
    labels_key : str or os.PathLike or None
        A ``.npy`` file of shape (N,) (a relative path is also looked up
        beside ``path``); default none.
    n_slots : int or None
        Slots to read; default all M.
    pid_key : str or os.PathLike or None
        A ``.npy`` file of PDG ids, shape (N, M) (relative paths also beside
        ``path``); default none.

    Returns
    -------
    JetSource
        Of layout ``"npy"``.

    Raises
    ------
    InputError
        A key given, unreadable header, wrong shape or dtype, labels file not
        found or of the wrong length.
    """
    if key is not None:
        raise InputError(f"key '{key}' given but {path} is a .npy file (no keys)")
    shape, dtype = npy_header(path)
    check_array_shape(shape, dtype, f"array in {path}")
    n_rows, full = shape[0], shape[1]
    n_slots = check_slots(n_slots, full, path)
    labels_file, labels_shape = None, None
    if labels_key is not None:
        labels_file = os.fspath(labels_key)
        if not os.path.isabs(labels_file) and not os.path.exists(labels_file):
            labels_file = os.path.join(os.path.dirname(path), labels_file)
        labels_file = os.path.abspath(labels_file)
        if not os.path.isfile(labels_file):
            raise InputError(f"labels file not found: {labels_key}")
        labels_shape, labels_dtype = npy_header(labels_file)
        check_labels(labels_shape, labels_dtype, n_rows, f"labels {labels_file}")
    pid = find_pid_npy(path, shape, pid_key)
    source = _NpySource(full_slots=full, labels_file=labels_file,
                      expect=(tuple(shape), labels_shape), path=path, key=None,
                      labels_key=labels_file, n_rows=n_rows, n_slots=n_slots)
    return with_pid(source, None if pid is None else ("npy", pid))
