"""Writing jets in the layout of the Top Quark Tagging Reference Dataset.

A pandas HDFStore file, key "table", columns E_0, PX_0, PY_0, PZ_0, ...,
truth_E, truth_PX, truth_PY, truth_PZ, ttv, is_signal_new, in pandas' "fixed"
or "table" format (:mod:`jetimg.io.readers.pandas_hdf` reads it). Toy jets
(:mod:`jetimg.toys`) and simulated jets (:mod:`jetimg.simulate`) are written
with it. Only NumPy is imported here; pandas and PyTables (the ``pandas``
extra) are imported by :func:`write_toptag` when it runs.
"""

import os
import warnings

import numpy as np

from ...checks import integer

__all__ = ["FORMATS", "toptag_columns", "write_toptag"]

FORMATS = ("fixed", "table")


def toptag_columns(n_slots=200, labels=True):
    """Column names of the top-tagging reference layout, in order.

    Parameters
    ----------
    n_slots : int
        Constituent slots M.
    labels : bool
        Whether the last column, is_signal_new, is present.

    Returns
    -------
    list of str
        E_0, PX_0, PY_0, PZ_0, ..., PZ_{M-1}, truth_E, truth_PX, truth_PY,
        truth_PZ, ttv[, is_signal_new].

    Examples
    --------
    >>> toptag_columns(2, labels=False)[:5]
    ['E_0', 'PX_0', 'PY_0', 'PZ_0', 'E_1']
    >>> toptag_columns(2)[-6:]
    ['truth_E', 'truth_PX', 'truth_PY', 'truth_PZ', 'ttv', 'is_signal_new']
    """
    names = [f"{c}_{i}" for i in range(n_slots) for c in ("E", "PX", "PY", "PZ")]
    names += ["truth_E", "truth_PX", "truth_PY", "truth_PZ", "ttv"]
    if labels:
        names.append("is_signal_new")
    return names


def write_toptag(
    path,
    jets,
    labels=None,
    format="fixed",
    complib=None,
    complevel=5,
    truth=None,
    chunk_rows=100_000,
):
    """Write jets as a Top Quark Tagging Reference Dataset HDF5 file.

    The file is a pandas HDFStore with key "table" and columns E_0, PX_0,
    PY_0, PZ_0, ..., PZ_{M-1}, truth_E, truth_PX, truth_PY, truth_PZ
    (float32), ttv (int64, 0) and is_signal_new (int64, the labels). It is
    written to a temporary name beside `path` and renamed when complete.
    "table" is appended in chunks of `chunk_rows` rows (then the row index is
    built, as pandas does by default). "fixed" with more than `chunk_rows`
    rows is written by pandas for its first two rows, to get pandas' exact
    layout and attributes; then PyTables replaces the row-dependent arrays
    (axis1, blockI_values) by full-length ones of the same atom, filters and
    attributes and fills them chunk by chunk. Either way
    ``pandas.read_hdf(path, "table")`` reads back what pandas would have
    written in one go.

    Parameters
    ----------
    path : str or os.PathLike
        Output file; an existing file is replaced.
    jets : array_like, shape (N, M, 4)
        (E, px, py, pz) in GeV, stored as float32.
    labels : array_like of int, shape (N,), optional
        1 = top, 0 = QCD, stored as int64 column is_signal_new; omitted
        when None.
    format : {"fixed", "table"}
        pandas' storage format. "table" needs N >= 1.
    complib : str, optional
        PyTables compression library ("zlib", "blosc", "blosc:lz4", "lzo",
        "bzip2", ...); None writes uncompressed.
    complevel : int
        Compression level 0-9, used when `complib` is given.
    truth : array_like, shape (N, 4), optional
        Truth four-vector (E, px, py, pz) in GeV per jet; zeros when None.
    chunk_rows : int
        Rows per chunk written (bounds the extra memory to about
        chunk_rows * (4 M + 4) * 4 bytes, twice that for "table").

    Returns
    -------
    str or os.PathLike
        `path`, as given.
    """
    pd, tables = _import_toys_extra()
    jets = np.asarray(jets)
    if jets.ndim != 3 or jets.shape[2] != 4 or jets.shape[1] < 1:
        raise ValueError(f"jets must have shape (N, M, 4) with M >= 1, got {jets.shape}")
    if not np.issubdtype(jets.dtype, np.number) or np.iscomplexobj(jets):
        raise TypeError(f"jets must be real numbers, got dtype {jets.dtype}")
    n, m = jets.shape[:2]
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (n,):
            raise ValueError(f"labels must have shape ({n},), got {labels.shape}")
        if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == bool):
            raise TypeError(f"labels must be integers, got dtype {labels.dtype}")
    if truth is not None:
        truth = np.asarray(truth)
        if truth.shape != (n, 4):
            raise ValueError(f"truth must have shape ({n}, 4), got {truth.shape}")
    if format not in FORMATS:
        raise ValueError(f"format={format!r} is not one of {', '.join(map(repr, FORMATS))}")
    if complib is not None and complib not in tables.filters.all_complibs:
        raise ValueError(
            f"complib={complib!r} is not one of None, {', '.join(tables.filters.all_complibs)}"
        )
    complevel = integer("complevel", complevel, minimum=0)
    if complevel > 9:
        raise ValueError(f"complevel={complevel!r} must be in 0-9")
    chunk_rows = integer("chunk_rows", chunk_rows)
    if format == "table" and n == 0:
        raise ValueError('format="table" cannot store 0 jets (pandas writes no table)')

    source = _ToptagRows(pd, jets, labels, truth)
    store_kw = {} if complib is None else {"complib": complib, "complevel": complevel}
    target = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(target))
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", tables.NaturalNameWarning)
            warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
            if format == "table":
                _write_table(pd, tmp, source, store_kw, chunk_rows)
            elif n <= chunk_rows:
                with pd.HDFStore(tmp, mode="w", **store_kw) as store:
                    store.put("table", source.frame(0, n), format="fixed", track_times=False)
            else:
                _write_fixed_chunked(pd, tables, tmp, source, store_kw, chunk_rows)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def _import_toys_extra():
    try:
        import pandas as pd
        import tables
    except ImportError as err:
        raise ImportError(
            "write_toptag needs pandas and PyTables (tables); "
            "install them with: pip install 'jetimg[pandas]'"
        ) from err
    return pd, tables


class _ToptagRows:
    """Rows [start, stop) of the top-tagging columns as arrays or a frame."""

    def __init__(self, pd, jets, labels, truth):
        self.pd, self.jets, self.labels, self.truth = pd, jets, labels, truth
        self.n, m = jets.shape[:2]
        names = toptag_columns(m, labels is not None)
        self.float_names = names[: 4 * m + 4]
        self.int_names = names[4 * m + 4 :]

    def floats(self, start, stop):
        rows = stop - start
        out = np.empty((rows, len(self.float_names)), dtype=np.float32)
        out[:, :-4] = self.jets[start:stop].reshape(rows, out.shape[1] - 4)
        out[:, -4:] = 0.0 if self.truth is None else self.truth[start:stop]
        return out

    def ints(self, start, stop):
        out = np.zeros((stop - start, len(self.int_names)), dtype=np.int64)
        if self.labels is not None:
            out[:, 1] = self.labels[start:stop]
        return out

    def frame(self, start, stop):
        pd = self.pd
        index = pd.RangeIndex(start, stop)
        parts = [
            pd.DataFrame(self.floats(start, stop), index=index, columns=self.float_names),
            pd.DataFrame(self.ints(start, stop), index=index, columns=self.int_names),
        ]
        return pd.concat(parts, axis=1)

    def block(self, items, start, stop):
        """Values of the named columns, rows first, from whichever part holds them."""
        for names, get in ((self.float_names, self.floats), (self.int_names, self.ints)):
            if set(items) <= set(names):
                values = get(start, stop)
                if list(items) == names:
                    return values
                return values[:, [names.index(item) for item in items]]
        raise RuntimeError(f"pandas mixed float and int columns in one block: {items}")


def _write_table(pd, tmp, source, store_kw, chunk_rows):
    with pd.HDFStore(tmp, mode="w", **store_kw) as store:
        for start in range(0, source.n, chunk_rows):
            stop = min(start + chunk_rows, source.n)
            store.append(
                "table",
                source.frame(start, stop),
                format="table",
                index=False,
                expectedrows=source.n,
            )
        store.create_table_index("table")


def _write_fixed_chunked(pd, tables, tmp, source, store_kw, chunk_rows):
    n = source.n
    with pd.HDFStore(tmp, mode="w", **store_kw) as store:
        store.put("table", source.frame(0, 2), format="fixed", track_times=False)
    with tables.open_file(tmp, mode="a") as h5:
        group = h5.get_node("/table")
        fills = [("axis1", None)]
        for i in range(int(group._v_attrs.nblocks)):
            items = [x.decode() for x in h5.get_node(group, f"block{i}_items").read()]
            fills.append((f"block{i}_values", items))
        for key, items in fills:
            old = h5.get_node(group, key)
            attrs = {k: old._v_attrs[k] for k in old._v_attrs._f_list("user")}
            rows_first = key == "axis1" or bool(attrs.get("transposed", False))
            shape = (n,) + old.shape[1:] if rows_first else old.shape[:-1] + (n,)
            if key == "axis1" and attrs.get("kind") != "integer":
                raise RuntimeError(f"unexpected pandas index layout: kind={attrs.get('kind')!r}")
            chunked = isinstance(old, tables.CArray)
            atom, filters = old.atom, old.filters
            old._f_remove()
            if chunked:
                new = h5.create_carray(
                    group, key, atom=atom, shape=shape, filters=filters, track_times=False
                )
                step = max(chunk_rows // new.chunkshape[0 if rows_first else -1], 1)
                step *= new.chunkshape[0 if rows_first else -1]
            else:
                new = h5.create_array(group, key, atom=atom, shape=shape, track_times=False)
                step = chunk_rows
            for k, v in attrs.items():
                new._v_attrs[k] = v
            for start in range(0, n, step):
                stop = min(start + step, n)
                if items is None:
                    values = np.arange(start, stop, dtype=atom.dtype)
                    new[start:stop] = values
                elif rows_first:
                    new[start:stop] = source.block(items, start, stop)
                else:
                    new[..., start:stop] = source.block(items, start, stop).T
