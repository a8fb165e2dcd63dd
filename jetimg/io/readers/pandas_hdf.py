"""The top-tagging reference layout: a pandas DataFrame in an HDF5 file, read with h5py.

The frame (``df.to_hdf(path, key="table")``) has columns ``E_i, PX_i, PY_i,
PZ_i`` for slots i < M and, optionally, the labels ``is_signal_new``; other
columns (``truth_E``, ``ttv``, ...) are ignored. Columns are found by name,
in any order and spread over any blocks (float32, float64 or int64); M is
the number of ``E_<i>`` columns (or ``n_slots``). pandas writes the frame in
one of two formats, each a layout:

``"pandas-fixed"``
    A group ``table`` (attribute ``pandas_type="frame"``) with ``axis0``
    (column names), ``axis1`` (index) and, for each dtype block K,
    ``blockK_items`` (its column names, plain strings) and ``blockK_values``
    (rows x columns). Each read takes the row slice of each needed block in
    one HDF5 call and gathers the columns with precomputed index arrays; when
    ``E_0, PX_0, PY_0, PZ_0, E_1, ...`` lie in order in one float32 block (as
    in the reference files) it is a plain slice and a reshape.
``"pandas-table"``
    ``format="table"``: a group with ``pandas_type="frame_table"`` holding
    the compound dataset ``table/table`` with fields ``index``,
    ``values_block_0``, ``values_block_1``, ... (and one field per data
    column, named by it). Only the fields holding needed columns are read.
    The names of block K's columns are the attribute ``values_block_K_kind``,
    a pickled list, read by :func:`jetimg.io.readers.pickle_names.names_from_pickle`
    without unpickling; their number must equal the width of the block's
    field, or the file is refused (:func:`table_columns`).

Either may be compressed (see :mod:`jetimg.io.readers.hdf5`).
"""

import re

import h5py
import numpy as np

from jetimg.errors import InputError
from jetimg.io.readers.hdf5 import HDF5Source, check_filters, describe_compression
from jetimg.io.readers.pickle_names import names_from_pickle
from jetimg.io.readers.sources import check_slots, short_list

__all__ = ["LAYOUTS", "open_pandas", "table_columns"]

LAYOUTS = ("pandas-fixed", "pandas-table")
LABEL_COLUMN = "is_signal_new"
#: The class names of LABEL_COLUMN, in label order (docs/recipe.md, "Labels").
LABEL_NAMES = ("QCD", "top")
COMPONENTS = ("E", "PX", "PY", "PZ")

_E_COLUMN = re.compile(r"E_(\d+)\Z")


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


class _PandasFixedSource(HDF5Source):
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


class _PandasTableSource(HDF5Source):
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


def open_pandas(path, f, group, key, labels_key, n_slots):
    """Check a pandas frame and return its source.

    Parameters
    ----------
    path : str
        Absolute path of the file, for messages and the source.
    f : h5py.File
        The open file (closed by the caller; the source reopens it).
    group : h5py.Group
        The frame's group: its ``pandas_type`` attribute is ``"frame"``
        ("fixed") or ``"frame_table"`` ("table").
    key : str
        The frame's key, e.g. ``"table"``.
    labels_key : str or None
        The labels column; default ``"is_signal_new"`` if the frame has it.
    n_slots : int or None
        Slots to read; default all (the number of ``E_<i>`` columns).

    Returns
    -------
    JetSource
        Of layout ``"pandas-fixed"`` or ``"pandas-table"``.

    Raises
    ------
    InputError
        Not a DataFrame, missing, duplicate or non-numeric columns, labels
        column not found, unavailable compression filter.
    """
    ptype = _attr_str(group.attrs.get("pandas_type"))
    where = f"table '{key}' of {path}"
    if ptype == "frame":
        columns, n_rows, blocks = _fixed_columns(group, where)
        layout = "pandas-fixed"
    elif ptype == "frame_table":
        columns, n_rows, blocks = table_columns(group, where)
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
                         f"{len(names)} columns: {short_list(names)})")
    n_slots = check_slots(n_slots, full, path)
    needed = needed[:4 * n_slots]
    if labels_key is None and LABEL_COLUMN in index:
        labels_key = LABEL_COLUMN
    if labels_key is not None and labels_key not in index:
        raise InputError(f"labels column '{labels_key}' not found in {where} "
                         f"(found {len(names)} columns: {short_list(names)})")
    used = needed + ([labels_key] if labels_key is not None else [])
    bad = [name for name in used if name in dupes]
    if bad:
        raise InputError(f"duplicate columns {short_list(bad)} in {where}")
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
            check_filters(ds, path)
        source = _PandasFixedSource(
            parts=parts, label_part=label_part, path=path, key=key,
            labels_key=labels_key, n_rows=n_rows, n_slots=n_slots,
            expect={ds.name: ds.shape for ds in datasets},
            compression=describe_compression(datasets))
        source.label_names = _label_names(labels_key)
        return source
    table = group["table"]
    check_filters(table, path)
    fields = {p.name for p in parts} | ({label_part.name} if label_part else set())
    needed_bytes = sum(table.dtype.fields[name][0].itemsize for name in fields)
    source = _PandasTableSource(
        parts=parts, label_part=label_part, table=table.name,
        whole_rows=2 * needed_bytes >= table.dtype.itemsize, path=path,
        key=key, labels_key=labels_key, n_rows=n_rows, n_slots=n_slots,
        expect={table.name: table.shape}, compression=describe_compression([table]))
    source.label_names = _label_names(labels_key)
    return source


def _label_names(labels_key):
    """is_signal_new holds 0 for QCD and 1 for top; another column says no names."""
    return LABEL_NAMES if labels_key == LABEL_COLUMN else None


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


def table_columns(group, where):
    """Columns of a pandas "table" frame, found by name without unpickling.

    Works for any frame written by ``to_hdf(..., format="table")``, e.g. the
    image tables read by :mod:`jetimg.train` as well as jet constituents.

    Parameters
    ----------
    group : h5py.Group
        The frame's group (``pandas_type="frame_table"``), holding the
        compound dataset ``table``.
    where : str
        What the frame is, for messages, e.g. ``"table 'table' of /x/a.h5"``.

    Returns
    -------
    columns : list of (str, str, int, numpy.dtype)
        One ``(name, field, column, dtype)`` per column: column ``column`` of
        the compound field ``field`` (0 for a data column, a scalar field
        named by the column), of element type ``dtype``; the ``index`` field
        is left out.
    n_rows : int
        Rows of the frame.
    blocks : dict
        field -> True (every field is read as rows x columns).

    Raises
    ------
    InputError
        No compound dataset ``table``, a block without its names attribute,
        names that cannot be read without unpickling, or a number of names
        that differs from the block's width.

    Examples
    --------
    >>> import pickle
    >>> import h5py, numpy as np
    >>> f = h5py.File("frame.h5", "w", driver="core", backing_store=False)
    >>> rows = np.zeros(3, [("index", "i8"), ("values_block_0", "f4", (2,)), ("ttv", "i8")])
    >>> table = f.create_group("table").create_dataset("table", data=rows)
    >>> table.attrs["values_block_0_kind"] = np.bytes_(pickle.dumps(["E_0", "PX_0"], 0))
    >>> columns, n_rows, _ = table_columns(f["table"], "the example frame")
    >>> [(name, field, column) for name, field, column, _ in columns], n_rows
    ([('E_0', 'values_block_0', 0), ('PX_0', 'values_block_0', 1), ('ttv', 'ttv', 0)], 3)
    >>> f.close()
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


def _attr_str(value):
    """An HDF5 attribute (bytes, str or absent) as str."""
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
