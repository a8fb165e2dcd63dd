"""Readers of jet constituents, one per input layout, read chunk by chunk.

Whatever the layout, a reader gives, for a window of rows ``start:stop``:

* ``jets``: float32, C-contiguous, shape (n, M, 4), one (E, px, py, pz)
  four-vector in GeV per slot, zero-padded, n = stop - start;
* ``labels``: int8, shape (n,), or None when the input has no labels.

:func:`open_jets` checks the layout once, up front, and returns a
:class:`JetSource` that holds only the path and the resolved layout (names,
column positions): it pickles in a few hundred bytes, so the build pipeline
ships it to Dask tasks, also on dask.distributed workers in other processes.
The file is opened lazily by the first :meth:`JetSource.read` of each process
and the handle is kept for the next reads (it is dropped when pickled, and
re-opened after a fork). A read touches only the rows asked for, never the
whole file.

Layouts
-------
``"pandas-fixed"``
    The top-tagging reference layout as written by pandas' HDFStore
    (``df.to_hdf(path, key="table")``) in its "fixed" format: a group ``table``
    (attribute ``pandas_type="frame"``) with ``axis0`` (column names),
    ``axis1`` (index) and, for each dtype block K, ``blockK_items`` (its
    column names, plain strings) and ``blockK_values`` (rows x columns).
    Columns are found by name: ``E_i, PX_i, PY_i, PZ_i`` for i < M, where M is
    the number of ``E_<i>`` columns (or ``n_slots``), in any order and spread
    over any blocks (float32, float64 or int64); ``is_signal_new`` gives the
    labels when present. Each read takes the row slice of each needed block
    in one HDF5 call and gathers the columns with precomputed index arrays;
    when ``E_0, PX_0, PY_0, PZ_0, E_1, ...`` lie in order in one float32
    block (as in the reference files) it is a plain slice and a reshape.
``"pandas-table"``
    The same frame in pandas' "table" format (``format="table"``): a group
    with ``pandas_type="frame_table"`` holding the compound dataset
    ``table/table`` with fields ``index``, ``values_block_0``,
    ``values_block_1``, ... (and one field per data column, named by it).
    Only the fields holding needed columns are read.
``"hdf5-array"``
    An (N, M, 4) dataset in (E, px, py, pz) order in an HDF5 file: ``key``
    names it, else the file's only 3-D dataset whose last dimension is 4.
    Labels: the 1-D dataset ``labels_key``, else one named ``labels`` or
    ``is_signal_new`` beside the jets (same group).
``"zarr-array"``
    The same in a Zarr store (v3 or v2): ``path`` is the store directory
    (``*.zarr`` or any directory with Zarr metadata), holding the array
    itself or a group (same key and labels rules as for HDF5).
``"npy"``
    An (N, M, 4) ``.npy`` file, memory-mapped; labels from ``labels_key``,
    the path of another ``.npy`` of shape (N,) (relative paths are also
    looked up beside the jets file), else none.

Compression: HDF5 inputs may use any filter HDF5 knows, plus those that
``hdf5plugin`` registers (it is imported here): zlib (gzip), shuffle, lzf,
and PyTables' blosc (filter 32001, all its codecs), as written by
``to_hdf(..., complib="blosc")``. A dataset compressed with a filter that is
not available is refused up front, naming the filter.

Column names of the pandas "table" layout
-----------------------------------------
PyTables stores the column names of block K as the attribute
``values_block_K_kind``, a *pickled* Python list of strings (h5py gives the
raw pickle bytes). Unpickling a user's file could run arbitrary code, so it
is never done: the pickle is disassembled with :func:`pickletools.genops`
(which only parses) and a list is rebuilt by a tiny interpreter that knows
only list construction, string (and integer) constants and the memo;
any other opcode (``GLOBAL``, ``REDUCE``, ``BUILD``, ...) is refused. The
number of names must equal the width of the block's field, or the file is
refused. The "fixed" layout needs no such care: its names are plain string
datasets.

Examples
--------
>>> import os, tempfile
>>> import numpy as np
>>> from jetimg.io import open_jets
>>> tmp = tempfile.mkdtemp()
>>> path = os.path.join(tmp, "jets.npy")
>>> np.save(path, np.ones((10, 3, 4), dtype=np.float32))
>>> src = open_jets(path)
>>> src.layout, src.n_rows, src.n_slots, src.has_labels
('npy', 10, 3, False)
>>> jets, labels = src.read(8, 10)
>>> jets.shape, jets.dtype, labels
((2, 3, 4), dtype('float32'), None)
"""

import operator
import os
import pickletools
import re
import threading

import h5py
import hdf5plugin  # noqa: F401  (registers blosc and other filters with HDF5)
import numpy as np

from jetimg.errors import InputError

__all__ = ["LAYOUTS", "JetSource", "open_jets"]

LAYOUTS = ("pandas-fixed", "pandas-table", "hdf5-array", "zarr-array", "npy")
DEFAULT_KEY = "table"
LABEL_COLUMN = "is_signal_new"
LABEL_NAMES = ("labels", "is_signal_new")
COMPONENTS = ("E", "PX", "PY", "PZ")

_E_COLUMN = re.compile(r"E_(\d+)\Z")
# Chunk cache per open HDF5 file: holds the partial chunks at window edges.
_RDCC_NBYTES = 32 * 1024 * 1024
_FILTER_NAMES = {1: "zlib", 2: "shuffle", 3: "fletcher32", 4: "szip",
                 5: "nbit", 6: "scaleoffset", 307: "bzip2", 32000: "lzf",
                 32001: "blosc", 32004: "lz4", 32008: "bitshuffle",
                 32015: "zstd", 32026: "blosc2"}


def open_jets(path, key=None, labels_key=None, n_slots=None):
    """Open a file of jet constituents and check its layout.

    Parameters
    ----------
    path : str or os.PathLike
        HDF5 file (pandas "fixed" or "table" frame, or an (N, M, 4) array),
        Zarr store directory, or ``.npy`` file.
    key : str, optional
        HDF5: the pandas frame's key (default ``"table"``) or the array's
        dataset; Zarr: the array's path in the group. Default: ``"table"``
        if present, else the only 3-D array with last dimension 4.
    labels_key : str, optional
        pandas: the labels column (default ``"is_signal_new"`` if present);
        HDF5/Zarr: the labels array (default ``labels`` or
        ``is_signal_new`` beside the jets); npy: path of a labels ``.npy``.
    n_slots : int, optional
        Read only the first ``n_slots`` slots (M). Default: all of them.

    Returns
    -------
    JetSource
        Picklable source; ``source.read(start, stop)`` gives the rows.

    Raises
    ------
    InputError
        The file does not exist, is not a known layout, lacks the key or
        columns, has a wrong shape or labels of the wrong length.
    """
    path = os.path.abspath(os.fspath(path))
    if n_slots is not None:
        if isinstance(n_slots, bool) or not isinstance(n_slots, (int, np.integer)):
            raise InputError(f"n_slots must be a positive integer, got {n_slots!r}")
        n_slots = int(n_slots)
        if n_slots < 1:
            raise InputError(f"n_slots must be a positive integer, got {n_slots}")
    if not os.path.exists(path):
        raise InputError(f"input file not found: {path}")
    if os.path.isdir(path):
        if _is_zarr(path):
            return _open_zarr(path, key, labels_key, n_slots)
        raise InputError(f"{path} is a directory but not a Zarr store "
                         "(no zarr.json, .zgroup or .zarray inside)")
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if head.startswith(b"\x93NUMPY"):
        return _open_npy(path, key, labels_key, n_slots)
    if h5py.is_hdf5(path):
        return _open_hdf5(path, key, labels_key, n_slots)
    raise InputError(f"{path} is not a jet file jetimg can read (a pandas "
                     "HDF5 frame, or an (N, M, 4) array in HDF5, Zarr or "
                     f".npy): it looks like {_looks_like(head)}")


class JetSource:
    """Jets of one input file, read by row windows; cheap to pickle.

    Made by :func:`open_jets`, which checks the layout; do not build
    directly.

    Attributes
    ----------
    path : str
        Absolute path of the input.
    layout : str
        One of ``"pandas-fixed"``, ``"pandas-table"``, ``"hdf5-array"``,
        ``"zarr-array"``, ``"npy"``.
    key : str or None
        Where the jets are in the file (frame key, dataset or array path).
    labels_key : str or None
        Column, dataset or file the labels come from; None without labels.
    n_rows : int
        Number of jets N in the input.
    n_slots : int
        Slots M per jet that :meth:`read` returns.
    has_labels : bool
        Whether :meth:`read` returns labels.
    """

    layout = None

    def __init__(self, path, key, labels_key, n_rows, n_slots, compression=""):
        self.path = path
        self.key = key
        self.labels_key = labels_key
        self.n_rows = int(n_rows)
        self.n_slots = int(n_slots)
        self.compression = compression
        self._handle = None
        self._pid = None
        self._lock = threading.Lock()

    @property
    def has_labels(self):
        return self.labels_key is not None

    def read(self, start, stop, out=None):
        """Read the jets (and labels) of rows ``start:stop``.

        Parameters
        ----------
        start, stop : int
            Row window, 0 <= start <= stop <= n_rows.
        out : numpy.ndarray, optional
            A C-contiguous float32 (stop - start, n_slots, 4) array to read the
            jets into, and return: a caller reading chunk after chunk saves
            the page faults of fresh memory (and, for the reference layout,
            a copy).

        Returns
        -------
        jets : numpy.ndarray
            float32, C-contiguous, shape (stop - start, n_slots, 4):
            (E, px, py, pz) in GeV.
        labels : numpy.ndarray or None
            int8, shape (stop - start,); None if the input has no labels.

        Raises
        ------
        InputError
            The window is outside [0, n_rows], or the file cannot be read.
        """
        start, stop = operator.index(start), operator.index(stop)
        if not 0 <= start <= stop <= self.n_rows:
            raise InputError(f"rows {start}:{stop} are outside [0, {self.n_rows}] "
                             f"of {self.path}")
        n = stop - start
        if out is not None and (not isinstance(out, np.ndarray) or out.dtype != np.float32
                                or out.shape != (n, self.n_slots, 4)
                                or not out.flags.c_contiguous or not out.flags.writeable):
            raise InputError(f"out must be a writeable C-contiguous float32 array of shape "
                             f"{(n, self.n_slots, 4)}")
        if n == 0:
            jets = np.empty((0, self.n_slots, 4), np.float32) if out is None else out
            return jets, (np.empty(0, np.int8) if self.has_labels else None)
        handle = self._opened()
        try:
            jets, labels = self._read(handle, start, stop, out)
        except InputError:
            raise
        except (OSError, KeyError, ValueError, RuntimeError) as exc:
            raise InputError(f"cannot read rows {start}:{stop} of {self.path}: "
                             f"{exc}") from exc
        if out is None:
            jets = np.ascontiguousarray(jets, dtype=np.float32)
        elif jets is not out:
            np.copyto(out, jets, casting="same_kind")
            jets = out
        if labels is not None:
            labels = _labels_int8(labels, self, start, stop)
        return jets, labels

    def describe(self):
        """One line saying what the source is, for messages and ``jetimg info``.

        Returns
        -------
        str
        """
        where = f" '{self.key}'" if self.key else ""
        labels = f"labels '{self.labels_key}'" if self.has_labels else "no labels"
        comp = f", {self.compression}" if self.compression else ""
        return (f"{self.path}: {self.layout}{where}, {self.n_rows} jets x "
                f"{self.n_slots} slots (E, px, py, pz), {labels}{comp}")

    def close(self):
        """Close the file handle this process holds, if any."""
        with self._lock:
            handle, pid = self._handle, self._pid
            self._handle = self._pid = None
        if handle is not None and pid == os.getpid():
            self._close(handle)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self):
        return f"<JetSource {self.describe()}>"

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_handle"] = None
        state["_pid"] = None
        del state["_lock"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # -- per-layout parts -------------------------------------------------

    def _opened(self):
        pid = os.getpid()
        with self._lock:
            if self._handle is None or self._pid != pid:
                # A handle inherited through fork is never used (nor closed).
                self._handle = self._open()
                self._pid = pid
            return self._handle

    def _open(self):
        raise NotImplementedError

    def _close(self, handle):
        pass

    def _read(self, handle, start, stop, out=None):
        raise NotImplementedError


# ---------------------------------------------------------------------------
# HDF5 sources
# ---------------------------------------------------------------------------

class _HDF5Source(JetSource):
    """Base of the HDF5 sources: opens the file, re-checks dataset shapes."""

    def __init__(self, path, key, labels_key, n_rows, n_slots, expect,
                 compression=""):
        super().__init__(path, key, labels_key, n_rows, n_slots, compression)
        self._expect = expect   # {dataset name: shape} checked at each open

    def _open(self):
        f = _h5open(self.path)
        datasets = {}
        try:
            for name, shape in self._expect.items():
                ds = f.get(name)
                if not isinstance(ds, h5py.Dataset) or ds.shape != shape:
                    raise InputError(f"{self.path} changed since it was opened: "
                                     f"dataset {name} is no longer {shape}")
                datasets[name] = ds
        except BaseException:
            f.close()
            raise
        return f, datasets

    def _close(self, handle):
        handle[0].close()


class _Part:
    """Columns to take from one block: the plan of one gather.

    ``name`` is a dataset (fixed) or field (table); the block's columns
    ``c0:c1`` are read; columns ``src`` (relative to c0) go to the flat
    slots ``dest`` (4 m + component) of the output; ``label`` is the
    labels' column relative to c0, or None. ``src`` and ``dest`` are None
    when they are both ``range(c1 - c0)`` (the reference layout), which
    keeps the pickle small.
    """

    __slots__ = ("name", "c0", "c1", "src", "dest", "label", "rows_first", "_take")

    def __init__(self, name, c0, c1, src, dest, label=None, rows_first=True):
        self.name = name
        self.c0, self.c1 = int(c0), int(c1)
        src = np.asarray(src, dtype=np.int32)
        dest = np.asarray(dest, dtype=np.int32)
        ident = np.arange(self.c1 - self.c0, dtype=np.int32)
        if np.array_equal(src, ident) and np.array_equal(dest, ident):
            src = dest = None
        self.src, self.dest = src, dest
        self.label = label
        self.rows_first = rows_first
        self._take = None

    @property
    def size(self):
        return self.c1 - self.c0 if self.src is None else self.src.size

    @property
    def take(self):
        """Columns (relative to c0) in output order; None for the identity."""
        if self._take is None and self.src is not None:
            self._take = self.src[np.argsort(self.dest, kind="stable")]
        return self._take

    def __getstate__(self):
        return {s: getattr(self, s) for s in self.__slots__ if s != "_take"}

    def __setstate__(self, state):
        for s, v in state.items():
            setattr(self, s, v)
        self._take = None


def _assemble(source, n, fetch):
    """(jets (n, M, 4), labels) of a pandas source from ``fetch(part)`` -> the
    part's columns of the window; the labels come from a part already read
    when they share it, else from the source's own label part."""
    bufs = [fetch(part) for part in source._parts]
    jets = _gather(bufs, source._parts, n, 4 * source.n_slots)
    labels = None
    if source.has_labels:
        for buf, part in zip(bufs, source._parts):
            if part.label is not None:
                labels = buf[:, part.label]
                break
        else:
            labels = fetch(source._label_part)[:, 0]
    return jets.reshape(n, source.n_slots, 4), labels


def _gather(bufs, parts, n, n_flat):
    """Columns of blocks -> (n, n_flat) array in slot order.

    Parameters
    ----------
    bufs : list of numpy.ndarray
        One (n, c1 - c0) array per part.
    parts : list of _Part
    n, n_flat : int
        Rows, and 4 M.

    Returns
    -------
    numpy.ndarray
        (n, n_flat); a view of the one block (any dtype, cast by the caller)
        when no gather is needed.
    """
    if len(parts) == 1 and parts[0].size == n_flat:
        buf, take = bufs[0], parts[0].take
        if take is None:
            return buf if buf.shape[1] == n_flat else buf[:, :n_flat]
        if np.array_equal(take, np.arange(n_flat)):
            return buf[:, :n_flat]
        return buf[:, take]
    out = np.empty((n, n_flat), np.float32)
    for buf, part in zip(bufs, parts):
        if part.src is None:
            out[:, :part.size] = buf[:, :part.size]
        elif part.src.size:
            out[:, part.dest] = buf[:, part.src]
    return out


class _PandasFixedSource(_HDF5Source):
    layout = "pandas-fixed"

    def __init__(self, parts, label_part, **kw):
        super().__init__(**kw)
        self._parts = parts
        self._label_part = label_part

    def _read(self, handle, start, stop, out=None):
        _, datasets = handle
        n = stop - start
        if out is not None and len(self._parts) == 1:
            # The reference layout: the jets are columns c0:c1 of one float32
            # block, in slot order; HDF5 reads them straight into ``out``.
            part = self._parts[0]
            ds = datasets[part.name]
            if part.rows_first and part.src is None and part.label is None \
                    and part.c1 - part.c0 == 4 * self.n_slots and ds.dtype == np.float32:
                ds.read_direct(out.reshape(n, 4 * self.n_slots),
                               np.s_[start:stop, part.c0:part.c1])
                labels = None
                if self.has_labels:
                    labels = self._block(datasets[self._label_part.name], self._label_part,
                                         start, stop)[:, 0]
                return out, labels
        return _assemble(self, n, lambda part: self._block(datasets[part.name], part,
                                                            start, stop))

    @staticmethod
    def _block(ds, part, start, stop):
        if part.rows_first:
            if part.c0 == 0 and part.c1 == ds.shape[1]:
                return ds[start:stop]
            return ds[start:stop, part.c0:part.c1]
        return ds[part.c0:part.c1, start:stop].T


class _PandasTableSource(_HDF5Source):
    layout = "pandas-table"

    def __init__(self, parts, label_part, table, whole_rows, **kw):
        super().__init__(**kw)
        self._parts = parts
        self._label_part = label_part
        self._table = table
        names = [p.name for p in parts]
        if label_part is not None and label_part.name not in names:
            names.append(label_part.name)
        self._fields = names
        # Reading whole records is faster than HDF5's field selection when
        # the needed fields are most of the record (the reference layout).
        self._whole_rows = whole_rows

    def _read(self, handle, start, stop, out=None):
        _, datasets = handle
        ds = datasets[self._table]
        n = stop - start
        if self._whole_rows:
            rows = ds[start:stop]
        elif len(self._fields) == 1:
            rows = {self._fields[0]: ds.fields(self._fields[0])[start:stop]}
        else:
            rows = ds.fields(self._fields)[start:stop]
        return _assemble(self, n, lambda part: self._columns(rows[part.name], part, n))

    @staticmethod
    def _columns(values, part, n):
        if values.ndim == 1:            # a data column: one scalar field
            return values.reshape(n, 1)
        if part.c0 == 0 and part.c1 == values.shape[1]:
            return values
        return values[:, part.c0:part.c1]


class _HDF5ArraySource(_HDF5Source):
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


def _h5open(path):
    try:
        return h5py.File(path, "r", rdcc_nbytes=_RDCC_NBYTES, rdcc_nslots=10007)
    except OSError as exc:
        raise InputError(f"cannot open HDF5 file {path}: {exc}") from exc


def _open_hdf5(path, key, labels_key, n_slots):
    with _h5open(path) as f:
        node = None
        if key is not None:
            node = f.get(key)
            if node is None:
                raise InputError(f"key '{key}' not found in {path} "
                                 f"(top-level keys: {_short_list(list(f.keys()))})")
        elif DEFAULT_KEY in f:
            node = f[DEFAULT_KEY]
            if isinstance(node, h5py.Group) and "pandas_type" not in node.attrs:
                node = None          # not a frame: search the whole file
            else:
                key = DEFAULT_KEY
        if isinstance(node, h5py.Group) and "pandas_type" in node.attrs:
            return _open_pandas(path, f, node, key, labels_key, n_slots)
        if isinstance(node, h5py.Dataset):
            return _open_hdf5_array(path, f, node, labels_key, n_slots)
        group = node if isinstance(node, h5py.Group) else f
        candidates = []

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.ndim == 3 and obj.shape[-1] == 4:
                candidates.append(obj.name)

        group.visititems(visit)
        if len(candidates) == 1:
            return _open_hdf5_array(path, f, f[candidates[0]], labels_key, n_slots)
        if candidates:
            raise InputError(f"{path} holds several (N, M, 4) arrays: "
                             f"{_short_list(candidates)}; pass key= to pick one")
        where = f"under '{key}' " if key is not None else ""
        raise InputError(f"no pandas frame under key 'table' and no (N, M, 4) "
                         f"array {where}in {path} "
                         f"(top-level keys: {_short_list(list(f.keys()))})")


def _open_hdf5_array(path, f, ds, labels_key, n_slots):
    name = ds.name
    _check_array_shape(ds.shape, ds.dtype, f"dataset '{name}' in {path}")
    n_rows, full = ds.shape[0], ds.shape[1]
    n_slots = _slots(n_slots, full, path)
    _check_filters(ds, path)
    expect = {name: ds.shape}
    lab = None
    if labels_key is not None:
        lab = f.get(labels_key)
        if not isinstance(lab, h5py.Dataset):
            raise InputError(f"labels dataset '{labels_key}' not found in {path} "
                             f"(top-level keys: {_short_list(list(f.keys()))})")
    else:
        parent = ds.parent
        for cand in LABEL_NAMES:
            obj = parent.get(cand)
            if isinstance(obj, h5py.Dataset) and obj.ndim == 1:
                lab = obj
                break
    if lab is not None:
        _check_labels(lab.shape, lab.dtype, n_rows, f"labels '{lab.name}' in {path}")
        _check_filters(lab, path)
        expect[lab.name] = lab.shape
    return _HDF5ArraySource(
        full_slots=full, path=path, key=name,
        labels_key=None if lab is None else lab.name, n_rows=n_rows,
        n_slots=n_slots, expect=expect,
        compression=_compression([ds] + ([lab] if lab is not None else [])))


# -- pandas ------------------------------------------------------------------

def _open_pandas(path, f, group, key, labels_key, n_slots):
    ptype = _attr_str(group.attrs.get("pandas_type"))
    where = f"table '{key}' of {path}"
    if ptype == "frame":
        columns, n_rows, blocks = _fixed_columns(group, where)
        layout = "pandas-fixed"
    elif ptype == "frame_table":
        columns, n_rows, blocks = _table_columns(group, where)
        layout = "pandas-table"
    else:
        raise InputError(f"key '{key}' of {path} holds a pandas '{ptype}', not a "
                         "DataFrame with columns E_0, PX_0, PY_0, PZ_0, ...")
    # columns: (name, block, column in block, dtype); blocks: block -> rows_first
    names = [c[0] for c in columns]
    index, dupes = {}, set()
    for col in columns:
        if col[0] in index:
            dupes.add(col[0])
        index[col[0]] = col
    full = sum(1 for name in names if _E_COLUMN.match(name))
    needed = [f"{c}_{m}" for m in range(max(full, 1)) for c in COMPONENTS]
    missing = [name for name in needed if name not in index]
    if missing:
        shown = ", ".join(missing[:6]) + (" ..." if len(missing) > 6 else "")
        raise InputError(f"missing columns {shown} in {where} (found "
                         f"{len(names)} columns: {_short_list(names)})")
    n_slots = _slots(n_slots, full, path)
    needed = needed[:4 * n_slots]
    if labels_key is None and LABEL_COLUMN in index:
        labels_key = LABEL_COLUMN
    if labels_key is not None and labels_key not in index:
        raise InputError(f"labels column '{labels_key}' not found in {where} "
                         f"(found {len(names)} columns: {_short_list(names)})")
    used = needed + ([labels_key] if labels_key is not None else [])
    bad = [name for name in used if name in dupes]
    if bad:
        raise InputError(f"duplicate columns {_short_list(bad)} in {where}")
    for name in used:
        _, block, _, dtype = index[name]
        if dtype.kind not in "fiub":
            raise InputError(f"column {name} in {where} is not numeric "
                             f"(dtype {dtype})")
        if blocks[block] is None:
            raise InputError(f"column {name} in {where} cannot be read: "
                             f"{block} has an unexpected shape")
    # One part per block: its bounding column range and the gather indices.
    by_block = {}
    for d, name in enumerate(needed):
        _, block, col, _ = index[name]
        by_block.setdefault(block, []).append((col, d))
    label_block = label_col = None
    if labels_key is not None:
        _, label_block, label_col, _ = index[labels_key]
    parts = []
    for block, cols in by_block.items():
        src = np.array([c for c, _ in cols])
        dest = np.array([d for _, d in cols])
        c0, c1 = int(src.min()), int(src.max()) + 1
        label = None
        if block == label_block:
            c0, c1 = min(c0, label_col), max(c1, label_col + 1)
            label = label_col - c0
        parts.append(_Part(block, c0, c1, src - c0, dest, label, blocks[block]))
    label_part = None
    if labels_key is not None and label_block not in by_block:
        label_part = _Part(label_block, label_col, label_col + 1, [0], [0], 0,
                           blocks[label_block])
    if layout == "pandas-fixed":
        datasets = [f[name] for name in dict.fromkeys(
            [p.name for p in parts] + ([label_part.name] if label_part else []))]
        for ds in datasets:
            _check_filters(ds, path)
        return _PandasFixedSource(
            parts=parts, label_part=label_part, path=path, key=key,
            labels_key=labels_key, n_rows=n_rows, n_slots=n_slots,
            expect={ds.name: ds.shape for ds in datasets},
            compression=_compression(datasets))
    table = group["table"]
    _check_filters(table, path)
    fields = {p.name for p in parts} | ({label_part.name} if label_part else set())
    needed_bytes = sum(table.dtype.fields[name][0].itemsize for name in fields)
    return _PandasTableSource(
        parts=parts, label_part=label_part, table=table.name,
        whole_rows=2 * needed_bytes >= table.dtype.itemsize, path=path,
        key=key, labels_key=labels_key, n_rows=n_rows, n_slots=n_slots,
        expect={table.name: table.shape}, compression=_compression([table]))


def _fixed_columns(group, where):
    """Columns of a pandas "fixed" frame.

    Returns
    -------
    columns : list of (name, dataset, column, dtype)
        ``dataset`` is the absolute name of the block's values.
    n_rows : int
    blocks : dict
        dataset -> True (rows x columns), False (columns x rows) or None
        (unexpected shape: refused if a needed column is there).
    """
    if _attr_str(group.attrs.get("axis0_variety")) not in ("regular", ""):
        raise InputError(f"the columns of {where} are a MultiIndex; flatten "
                         "them to names E_0, PX_0, ...")
    try:
        nblocks = int(group.attrs["nblocks"])
        axis1 = group["axis1"]
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{where} is not a complete pandas frame "
                         "(no nblocks attribute or axis1)") from exc
    # pandas writes an empty axis as a 1-element placeholder with a 'shape' attr
    n_rows = 0 if "shape" in axis1.attrs else int(axis1.shape[0])
    encoding = _attr_str(group.attrs.get("encoding")) or "utf-8"
    columns, blocks = [], {}
    for k in range(nblocks):
        items_name, values_name = f"block{k}_items", f"block{k}_values"
        if items_name not in group or values_name not in group:
            raise InputError(f"{where} is not a complete pandas frame "
                             f"(no {items_name} or {values_name})")
        items = _string_array(group[items_name], encoding, f"{items_name} of {where}")
        ds = group[values_name]
        width = len(items)
        if n_rows == 0 or "shape" in ds.attrs:
            rows_first = True        # empty placeholder: never read
        elif ds.ndim == 2 and ds.shape == (n_rows, width) and (
                bool(ds.attrs.get("transposed", True)) or n_rows != width):
            rows_first = True        # pandas stores values.T: rows x columns
        elif ds.ndim == 2 and ds.shape == (width, n_rows):
            rows_first = False
        else:
            rows_first = None        # e.g. pickled objects (strings)
        blocks[ds.name] = rows_first
        for j, name in enumerate(items):
            columns.append((name, ds.name, j, ds.dtype))
    return columns, n_rows, blocks


def _table_columns(group, where):
    """Columns of a pandas "table" frame (see the module docstring).

    Returns
    -------
    columns : list of (name, field, column, dtype)
    n_rows : int
    blocks : dict
        field -> True (all fields are read as rows x columns)
    """
    table = group.get("table")
    if not isinstance(table, h5py.Dataset) or table.dtype.names is None:
        raise InputError(f"{where} is a pandas table without data "
                         "(no compound dataset 'table'; an empty frame?)")
    n_rows = int(table.shape[0])
    columns, blocks = [], {}
    for field in table.dtype.names:
        if field == "index":
            continue
        fdtype = table.dtype.fields[field][0]
        base, shape = (fdtype.subdtype if fdtype.subdtype else (fdtype, ()))
        blocks[field] = True
        if field.startswith("values_block_"):
            blob = table.attrs.get(f"{field}_kind")
            if blob is None:
                raise InputError(f"{where}: no column names for {field} "
                                 f"(attribute {field}_kind missing)")
            try:
                names = names_from_pickle(blob)
            except ValueError as exc:
                raise InputError(f"{where}: cannot read the column names of "
                                 f"{field} without unpickling ({exc})") from exc
            width = shape[0] if len(shape) == 1 else (1 if shape == () else -1)
            if len(names) != width:
                raise InputError(f"{where}: {field} has {width} columns but its "
                                 f"names attribute lists {len(names)}")
            for j, name in enumerate(names):
                columns.append((name, field, j, base))
        elif shape == ():
            columns.append((field, field, 0, base))
    return columns, n_rows, blocks


_STRING_OPS = frozenset({"UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8",
                         "STRING", "BINSTRING", "SHORT_BINSTRING", "BINBYTES",
                         "SHORT_BINBYTES", "BINBYTES8"})
_INT_OPS = frozenset({"INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4"})
_MARK = object()


def names_from_pickle(blob):
    """Strings of a pickled flat list, found without unpickling.

    The pickle is disassembled by :func:`pickletools.genops`, which executes
    nothing; only list building, string and integer constants and the memo
    are interpreted. Anything else is refused.

    Parameters
    ----------
    blob : bytes or numpy.bytes_
        The pickle, e.g. a PyTables ``values_block_0_kind`` attribute.

    Returns
    -------
    list of str

    Raises
    ------
    ValueError
        The pickle is not a plain list of strings.

    Examples
    --------
    >>> names_from_pickle(b"(lp0\\nVE_0\\np1\\naVPX_0\\np2\\na.")
    ['E_0', 'PX_0']
    """
    if isinstance(blob, np.ndarray):
        blob = blob.tobytes()
    elif isinstance(blob, str):
        blob = blob.encode("latin-1")
    blob = bytes(blob)
    stack, memo = [], {}

    def pop_mark():
        for i in range(len(stack) - 1, -1, -1):
            if stack[i] is _MARK:
                items = stack[i + 1:]
                del stack[i:]
                return items
        raise ValueError("MARK missing")

    def top_list():
        if not stack or not isinstance(stack[-1], list):
            raise ValueError("append outside a list")
        return stack[-1]

    try:
        for op, arg, _ in pickletools.genops(blob):
            name = op.name
            if name in ("PROTO", "FRAME"):
                continue
            if name == "STOP":
                break
            if name == "MARK":
                stack.append(_MARK)
            elif name == "EMPTY_LIST":
                stack.append([])
            elif name == "LIST":
                stack.append(pop_mark())
            elif name in _STRING_OPS:
                stack.append(arg.decode("utf-8", "replace")
                             if isinstance(arg, bytes) else str(arg))
            elif name in _INT_OPS:
                stack.append(str(int(arg)))
            elif name == "APPEND":
                value = stack.pop()
                top_list().append(value)
            elif name == "APPENDS":
                items = pop_mark()
                top_list().extend(items)
            elif name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
                memo[len(memo) if name == "MEMOIZE" else arg] = stack[-1]
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                value = memo[arg]
                if not isinstance(value, str):
                    raise ValueError("a memo reference to a non-string")
                stack.append(value)
            else:
                raise ValueError(f"opcode {name} is not part of a list of strings")
    except (KeyError, IndexError) as exc:
        raise ValueError(f"malformed pickle ({type(exc).__name__})") from exc
    if len(stack) != 1 or not isinstance(stack[0], list):
        raise ValueError("not a single list")
    if not all(isinstance(v, str) for v in stack[0]):
        raise ValueError("the list holds something other than strings")
    return stack[0]


# ---------------------------------------------------------------------------
# Zarr
# ---------------------------------------------------------------------------

class _ZarrArraySource(JetSource):
    layout = "zarr-array"

    def __init__(self, full_slots, labels_path, expect, **kw):
        super().__init__(**kw)
        self._full_slots = full_slots
        self._labels_path = labels_path   # (store dir, path in it) or None
        self._expect = expect

    def _open(self):
        import zarr

        jets = _zarr_open_array(zarr, self.path, self.key)
        labels = None
        if self._labels_path is not None:
            labels = _zarr_open_array(zarr, *self._labels_path)
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


def _is_zarr(path):
    return any(os.path.exists(os.path.join(path, name))
               for name in ("zarr.json", ".zgroup", ".zarray"))


def _zarr_open_array(zarr, store, key):
    try:
        if key:
            return zarr.open_array(store=store, path=key, mode="r")
        return zarr.open_array(store=store, mode="r")
    except Exception as exc:  # zarr raises many types for bad stores
        raise InputError(f"cannot open Zarr array '{key or '/'}' in {store}: "
                         f"{exc}") from exc


def _open_zarr(path, key, labels_key, n_slots):
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
                                 f"(top-level keys: {_short_list(top)})") from None
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
                                     f"{_short_list(candidates)}; pass key= to "
                                     "pick one")
                raise InputError(f"no (N, M, 4) array in Zarr store {path} "
                                 f"(top-level keys: {_short_list(top)})")
            node = root[candidates[0]]
        arr_key = node.path
    else:
        if key is not None:
            raise InputError(f"key '{key}' given but {path} is a single Zarr "
                             "array, not a group")
        node, arr_key = root, None
    where = f"array '{arr_key or '/'}' in {path}"
    _check_array_shape(tuple(node.shape), node.dtype, where)
    n_rows, full = node.shape[0], node.shape[1]
    n_slots = _slots(n_slots, full, path)
    lab, labels_path = None, None
    if isinstance(root, zarr.Group):
        parent = arr_key.rpartition("/")[0]
        if labels_key is not None:
            try:
                lab = root[labels_key]
            except KeyError:
                raise InputError(f"labels array '{labels_key}' not found in {path} "
                                 f"(top-level keys: {_short_list(top)})") from None
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
        if not os.path.isdir(store) or not _is_zarr(store):
            raise InputError(f"labels array not found: {labels_key}")
        lab = _zarr_open_array(zarr, store, None)
        labels_path = (store, None)
    if lab is not None:
        if isinstance(lab, zarr.Group):
            raise InputError(f"labels '{labels_key}' in {path} is a group, not an array")
        _check_labels(tuple(lab.shape), lab.dtype, n_rows,
                      f"labels '{lab.path or labels_path[0]}' in {path}")
    labels_name = None
    if labels_path is not None:
        labels_name = labels_path[1] or labels_path[0]
    return _ZarrArraySource(
        full_slots=full, labels_path=labels_path,
        expect=(tuple(node.shape), None if lab is None else tuple(lab.shape)),
        path=path, key=arr_key, labels_key=labels_name, n_rows=n_rows,
        n_slots=n_slots)


# ---------------------------------------------------------------------------
# .npy
# ---------------------------------------------------------------------------

class _NpySource(JetSource):
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


def _npy_header(path):
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path} is not a readable .npy file: {exc}") from exc
    return shape, dtype


def _open_npy(path, key, labels_key, n_slots):
    if key is not None:
        raise InputError(f"key '{key}' given but {path} is a .npy file (no keys)")
    shape, dtype = _npy_header(path)
    _check_array_shape(shape, dtype, f"array in {path}")
    n_rows, full = shape[0], shape[1]
    n_slots = _slots(n_slots, full, path)
    labels_file, labels_shape = None, None
    if labels_key is not None:
        labels_file = os.fspath(labels_key)
        if not os.path.isabs(labels_file) and not os.path.exists(labels_file):
            labels_file = os.path.join(os.path.dirname(path), labels_file)
        labels_file = os.path.abspath(labels_file)
        if not os.path.isfile(labels_file):
            raise InputError(f"labels file not found: {labels_key}")
        labels_shape, labels_dtype = _npy_header(labels_file)
        _check_labels(labels_shape, labels_dtype, n_rows, f"labels {labels_file}")
    return _NpySource(full_slots=full, labels_file=labels_file,
                      expect=(tuple(shape), labels_shape), path=path, key=None,
                      labels_key=labels_file, n_rows=n_rows, n_slots=n_slots)


# ---------------------------------------------------------------------------
# checks and helpers
# ---------------------------------------------------------------------------

def _check_array_shape(shape, dtype, where):
    shape = tuple(shape)
    if len(shape) != 3 or shape[2] != 4:
        raise InputError(f"{where} has shape {shape}, expected (N, M, 4) with "
                         "(E, px, py, pz) along the last axis")
    if shape[1] < 1:
        raise InputError(f"{where} has shape {shape}: no slots (M = 0)")
    if np.dtype(dtype).kind not in "fiub":
        raise InputError(f"{where} has dtype {dtype}, expected a float or "
                         "integer type")


def _check_labels(shape, dtype, n_rows, where):
    shape = tuple(shape)
    if len(shape) != 1:
        raise InputError(f"{where} have shape {shape}, expected ({n_rows},)")
    if shape[0] != n_rows:
        raise InputError(f"{where} have {shape[0]} rows but the jets have {n_rows}")
    if np.dtype(dtype).kind not in "fiub":
        raise InputError(f"{where} have dtype {dtype}, expected integers")


def _labels_int8(raw, src, start, stop):
    """Labels as int8 (n,), refusing values that are not small integers."""
    raw = np.asarray(raw)
    if raw.dtype.kind == "b" or raw.dtype == np.int8:
        return np.ascontiguousarray(raw, dtype=np.int8)
    ok = (raw >= -128) & (raw <= 127)
    if raw.dtype.kind == "f":
        ok &= np.isfinite(raw) & (np.trunc(np.where(ok, raw, 0)) == raw)
    if not ok.all():
        bad = raw[~ok][0]
        raise InputError(f"labels '{src.labels_key}' of {src.path} hold {bad} in "
                         f"rows {start}:{stop}, not a class number in -128..127")
    return raw.astype(np.int8)


def _slots(n_slots, full, path):
    if n_slots is None:
        return full
    if n_slots > full:
        raise InputError(f"n_slots={n_slots} is more than the {full} slots in {path}")
    return n_slots


def _check_filters(ds, path):
    """Refuse a dataset compressed with a filter this HDF5 lacks."""
    plist = ds.id.get_create_plist()
    for i in range(plist.get_nfilters()):
        code, _, _, name = plist.get_filter(i)
        if not h5py.h5z.filter_avail(code):
            label = _FILTER_NAMES.get(code) or name.decode("ascii", "replace")
            raise InputError(f"{ds.name} in {path} is compressed with HDF5 filter "
                             f"{code} ({label}), which is not available here "
                             "(a newer hdf5plugin may have it)")


def _compression(datasets):
    names = []
    for ds in datasets:
        plist = ds.id.get_create_plist()
        for i in range(plist.get_nfilters()):
            code, _, _, name = plist.get_filter(i)
            label = _FILTER_NAMES.get(code) or name.decode("ascii", "replace")
            if label not in ("shuffle", "fletcher32") and label not in names:
                names.append(label)
    return "+".join(names) if names else "uncompressed"


def _attr_str(value):
    if value is None:
        return ""
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def _string_array(ds, encoding, where):
    """Names stored as a string dataset (pandas fixed ``blockK_items``)."""
    if ds.dtype.kind == "S":
        values = ds[()] if ds.ndim == 1 else ds[()].ravel()
        if "shape" in ds.attrs:   # pandas' placeholder of an empty axis
            return []
        return [bytes(v).decode(encoding, "replace") for v in values]
    if ds.dtype.kind in "iuf":
        return [str(v) for v in ds[()]]
    if h5py.check_string_dtype(ds.dtype) is not None:
        return [v.decode(encoding, "replace") if isinstance(v, bytes) else str(v)
                for v in ds[()]]
    raise InputError(f"cannot read the column names in {where}: stored as "
                     f"{ds.dtype} (pickled objects are not read)")


def _short_list(names, n=6):
    names = [str(v) for v in names]
    if not names:
        return "none"
    return ", ".join(names[:n]) + (", ..." if len(names) > n else "")


def _looks_like(head):
    if not head:
        return "an empty file"
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive (an .npz? save one (N, M, 4) array with np.save)"
    if head.startswith(b"root") and any(b < 32 for b in head[4:8]):  # magic + binary version
        return "a ROOT file (convert it to HDF5 or .npy first)"
    if head.startswith(b"PAR1"):
        return "a Parquet file"
    if head.startswith(b"\x1f\x8b"):
        return "a gzip-compressed file (decompress it first)"
    if head.startswith(b"\x89PNG"):
        return "a PNG image"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and all(c.isprintable() or c in "\t\r\n" for c in text):
        first = text.splitlines()[0] if text.splitlines() else text
        return f"a text file starting {first[:40]!r}"
    return f"unrecognised binary data starting {head[:8]!r}"
