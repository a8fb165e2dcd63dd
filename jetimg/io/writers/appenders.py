"""Files of an input layout written chunk by chunk: the parts that ``jetimg split`` writes.

Each appender is made with the number of rows it will hold, takes rows with
``append(block)`` (in order, any number of calls) and finishes the file with
``close()`` (``abort()`` closes it after a failure, for the caller to remove);
memory stays at the block handed in.

* :class:`FrameAppender`: a pandas HDFStore frame (the top-tagging layout),
  in pandas' "fixed" or "table" format, every column kept;
* :class:`TreeAppender`: a ROOT TTree through uproot's ``mktree`` and
  ``extend``, every branch kept (uproot writes a counter branch beside
  jagged branches);
* :class:`NpyAppender`: one ``.npy`` file; :class:`NpzAppender`: an ``.npz``
  (EnergyFlow's quark/gluon layout), stored or deflated, its members first
  written as ``.npy`` files beside it;
* :class:`HDF5Appender`: the datasets of a plain-array HDF5 file, with their
  attributes (``label_names``), compression and groups;
* :class:`ZarrAppender`: the arrays of a Zarr store (a group or one array),
  with their attributes, chunks, shards, codecs and Zarr format.

>>> import os, tempfile
>>> import numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "a.npy")
>>> out = NpyAppender(path, 5, (2,), np.float32)
>>> out.append(np.ones((3, 2), np.float32)); out.append(np.zeros((2, 2), np.float32))
>>> out.close()
>>> np.load(path).sum(axis=1).tolist()
[2.0, 2.0, 2.0, 0.0, 0.0]
"""

import os
import shutil
import warnings
import zipfile

import numpy as np

__all__ = ["FrameAppender", "TreeAppender", "NpyAppender", "NpzAppender", "HDF5Appender",
           "ZarrAppender"]


class _Rows:
    """Counts the rows appended against the rows promised."""

    def __init__(self, path, n_rows):
        self.path, self.n_rows, self.done = os.fspath(path), int(n_rows), 0

    def _advance(self, n):
        if self.done + n > self.n_rows:
            raise ValueError(f"{self.path}: {self.done + n} rows appended, "
                             f"{self.n_rows} promised")
        start = self.done
        self.done += n
        return start

    def abort(self):
        """Close what is open, after a failure (the caller removes the file)."""

    def _check_full(self):
        if self.done != self.n_rows:
            raise ValueError(f"{self.path}: {self.done} rows appended, {self.n_rows} promised")


# ---------------------------------------------------------------------------
# .npy and .npz
# ---------------------------------------------------------------------------

class NpyAppender(_Rows):
    """A ``.npy`` file of ``n_rows`` rows of shape ``tail``, written in order.

    Parameters
    ----------
    path : str or os.PathLike
    n_rows : int
    tail : tuple of int
        The shape of one row.
    dtype : numpy.dtype
    """

    def __init__(self, path, n_rows, tail, dtype):
        super().__init__(path, n_rows)
        self.tail, self.dtype = tuple(tail), np.dtype(dtype)
        self._fh = open(self.path, "wb")
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
                  "shape": (self.n_rows,) + self.tail}
        np.lib.format.write_array_header_2_0(self._fh, header)

    def append(self, rows):
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        if rows.shape[1:] != self.tail:
            raise ValueError(f"{self.path}: rows of shape {rows.shape[1:]}, expected {self.tail}")
        self._advance(len(rows))
        self._fh.write(rows.tobytes())

    def close(self):
        self._fh.close()
        self._check_full()

    def abort(self):
        self._fh.close()


class NpzAppender:
    """An ``.npz`` whose members are written by rows (and whole arrays kept as given).

    Parameters
    ----------
    path : str or os.PathLike
    n_rows : int
        Rows of every row member.
    rows : dict
        Member name (``"X"``) -> (row shape, dtype) of the members written by rows.
    whole : dict, optional
        Member name -> array, written as they are.
    compressed : bool
        Deflate the members (``np.savez_compressed``); False stores them (``np.savez``).
    """

    def __init__(self, path, n_rows, rows, whole=None, compressed=True):
        self.path = os.fspath(path)
        self.whole = dict(whole or {})
        self.compressed = compressed
        self._members = {name: NpyAppender(f"{self.path}.{name}.npy", n_rows, tail, dtype)
                         for name, (tail, dtype) in rows.items()}

    def append(self, block):
        """Append rows: ``block`` maps every row member to its rows."""
        for name, out in self._members.items():
            out.append(block[name])

    def close(self):
        """Zip the members into ``path`` (the ``.npy`` files beside it are removed)."""
        try:
            for out in self._members.values():
                out.close()
            method = zipfile.ZIP_DEFLATED if self.compressed else zipfile.ZIP_STORED
            with zipfile.ZipFile(self.path, "w", compression=method, allowZip64=True) as zf:
                for name, out in self._members.items():
                    with open(out.path, "rb") as src, \
                            zf.open(name + ".npy", "w", force_zip64=True) as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                for name, value in self.whole.items():
                    with zf.open(name + ".npy", "w", force_zip64=True) as dst:
                        np.lib.format.write_array(dst, np.asarray(value), allow_pickle=False)
        finally:
            self.abort()

    def abort(self):
        """Close and remove the members' ``.npy`` files."""
        for out in self._members.values():
            out.abort()
            if os.path.exists(out.path):
                os.remove(out.path)


# ---------------------------------------------------------------------------
# HDF5 datasets
# ---------------------------------------------------------------------------

class HDF5Appender(_Rows):
    """An HDF5 file copying the layout of another: its groups, attributes and
    datasets, those of ``n_rows`` rows written by rows.

    Parameters
    ----------
    path : str or os.PathLike
    n_rows : int
    like : h5py.File
        The file whose layout is copied (open; read only here).
    row_datasets : sequence of str
        Dataset names written by rows (their first axis is the row); every
        other dataset is copied whole.
    """

    def __init__(self, path, n_rows, like, row_datasets):
        import h5py

        super().__init__(path, n_rows)
        self._f = h5py.File(self.path, "w")
        self.row_datasets = tuple(row_datasets)
        _copy_attrs(like, self._f)

        def visit(name, obj):
            if isinstance(obj, h5py.Group):
                _copy_attrs(obj, self._f.require_group(name))
            elif name in self.row_datasets:
                kw = {}
                if obj.chunks is not None:
                    kw["chunks"] = (max(1, min(obj.chunks[0], self.n_rows)),) + obj.chunks[1:]
                    kw.update(compression=obj.compression, compression_opts=obj.compression_opts,
                              shuffle=obj.shuffle, fletcher32=obj.fletcher32)
                if self.n_rows == 0 and "chunks" in kw:
                    kw["maxshape"] = (None,) + obj.shape[1:]
                ds = self._f.create_dataset(name, shape=(self.n_rows,) + obj.shape[1:],
                                            dtype=obj.dtype, **kw)
                _copy_attrs(obj, ds)
            else:
                like.copy(obj, self._f, name=name)

        like.visititems(visit)

    def append(self, block):
        """Append rows: ``block`` maps every row dataset to its rows."""
        n = len(block[self.row_datasets[0]])
        start = self._advance(n)
        if n:
            for name in self.row_datasets:
                self._f[name][start:start + n] = block[name]

    def close(self):
        self._f.close()
        self._check_full()

    def abort(self):
        self._f.close()


def _copy_attrs(src, dst):
    for key, value in src.attrs.items():
        dst.attrs[key] = value


# ---------------------------------------------------------------------------
# Zarr stores
# ---------------------------------------------------------------------------

class ZarrAppender(_Rows):
    """A Zarr store copying the layout of another: its groups, attributes and
    arrays, those of ``n_rows`` rows written by rows.

    Each array keeps the Zarr format, dtype, chunks, shards, filters,
    compressors, serializer (Zarr 3), fill value, order (Zarr 2), chunk key
    encoding and dimension names of the one it copies.

    Parameters
    ----------
    path : str or os.PathLike
        The store folder to write (must not exist).
    n_rows : int
    like : zarr.Group or zarr.Array
        The store whose layout is copied (open; read only here).
    row_arrays : sequence of str
        Paths in ``like`` of the arrays written by rows (their first axis is
        the row; ``""`` when ``like`` is one array); every other array is
        copied whole.
    """

    def __init__(self, path, n_rows, like, row_arrays):
        import zarr

        super().__init__(path, n_rows)
        self.row_arrays = tuple(row_arrays)
        self._arrays = {}
        if isinstance(like, zarr.Array):
            self._arrays[""] = self._create(zarr, self.path, None, like)
            return
        fmt = like.metadata.zarr_format
        zarr.open_group(store=self.path, mode="w-", zarr_format=fmt,
                        attributes=dict(like.attrs))
        for name, obj in sorted(like.members(max_depth=None)):
            if isinstance(obj, zarr.Group):
                zarr.open_group(store=self.path, path=name, mode="w-", zarr_format=fmt,
                                attributes=dict(obj.attrs))
            else:
                self._arrays[name] = self._create(zarr, self.path, name, obj)

    def _create(self, zarr, store, name, like):
        rows = (name or "") in self.row_arrays
        meta = like.metadata
        fmt = meta.zarr_format
        if fmt == 2:
            kw = {"order": like.order,
                  "chunk_key_encoding": {"name": "v2", "separator": meta.dimension_separator}}
        else:
            kw = {"serializer": like.serializer, "chunk_key_encoding": meta.chunk_key_encoding,
                  "dimension_names": meta.dimension_names}
        out = zarr.create_array(
            store, name=name, shape=((self.n_rows,) + like.shape[1:]) if rows else like.shape,
            dtype=like.dtype, chunks=like.chunks, shards=like.shards,
            filters=like.filters or None, compressors=like.compressors or None,
            fill_value=like.fill_value, zarr_format=fmt, attributes=dict(like.attrs), **kw)
        if not rows and like.size:
            out[...] = like[...]
        return out

    def append(self, block):
        """Append rows: ``block`` maps the path of every row array to its rows."""
        n = len(block[self.row_arrays[0]])
        start = self._advance(n)
        if n:
            for name in self.row_arrays:
                self._arrays[name][start:start + n] = block[name]

    def close(self):
        self._check_full()


# ---------------------------------------------------------------------------
# pandas HDFStore frames
# ---------------------------------------------------------------------------

class FrameAppender(_Rows):
    """A pandas frame in an HDFStore, written by chunks of rows.

    "table" appends each chunk (pandas' own ``append``). "fixed" cannot be
    appended to by pandas: the first rows are written by pandas (its exact
    layout and attributes), then PyTables replaces the row arrays (the index
    ``axis1`` and each ``blockK_values``) by ones of ``n_rows`` rows of the
    same atom, filters and attributes, filled chunk by chunk.

    Parameters
    ----------
    path : str or os.PathLike
    n_rows : int
    key : str
        The frame's key ("table").
    format : {"fixed", "table"}
    data_columns : list of str, optional
        "table": the columns stored as their own fields (kept from the input).
    complib : str, optional
    complevel : int
    """

    def __init__(self, path, n_rows, key="table", format="fixed", data_columns=None,
                 complib=None, complevel=0):
        super().__init__(path, n_rows)
        self.key, self.format = key, format
        self.data_columns = data_columns or None
        self.store_kw = {"complib": complib, "complevel": complevel} if complib else {}
        self._blocks = None   # fixed: [(array name, columns or None, rows first)]
        self._empty = None

    def append(self, frame):
        """Append the rows of a DataFrame (the input's columns, its index kept)."""
        import pandas as pd

        n = len(frame)
        start = self._advance(n)
        if n == 0:
            self._empty = frame   # written by close() if no row ever comes
            return
        if self.format == "table":
            with pd.HDFStore(self.path, mode="w" if start == 0 else "a",
                             **self.store_kw) as store:
                store.append(self.key, frame, format="table", index=False,
                             data_columns=self.data_columns, expectedrows=self.n_rows)
            return
        if self._blocks is None:
            self._start_fixed(frame)
        self._fill_fixed(frame, start)

    def _start_fixed(self, frame):
        import tables

        import pandas as pd

        with warnings.catch_warnings():   # pandas' PerformanceWarning on object blocks
            warnings.simplefilter("ignore")
            with pd.HDFStore(self.path, mode="w", **self.store_kw) as store:
                store.put(self.key, frame.iloc[:2], format="fixed", track_times=False)
        blocks = []
        with tables.open_file(self.path, mode="a") as h5:
            group = h5.get_node("/" + self.key)
            fills = [("axis1", None)]
            for i in range(int(group._v_attrs.nblocks)):
                items = [x.decode() if isinstance(x, bytes) else str(x)
                         for x in h5.get_node(group, f"block{i}_items").read()]
                fills.append((f"block{i}_values", items))
            for name, items in fills:
                old = h5.get_node(group, name)
                attrs = {k: old._v_attrs[k] for k in old._v_attrs._f_list("user")}
                rows_first = name == "axis1" or bool(attrs.get("transposed", False))
                shape = ((self.n_rows,) + old.shape[1:] if rows_first
                         else old.shape[:-1] + (self.n_rows,))
                chunked = isinstance(old, tables.CArray)
                atom, filters = old.atom, old.filters
                old._f_remove()
                if chunked and self.n_rows:
                    new = h5.create_carray(group, name, atom=atom, shape=shape, filters=filters,
                                           track_times=False)
                else:
                    new = h5.create_array(group, name, atom=atom, shape=shape,
                                          track_times=False)
                for k, v in attrs.items():
                    new._v_attrs[k] = v
                blocks.append((name, items, rows_first))
        self._blocks = blocks

    def _fill_fixed(self, frame, start):
        import tables

        stop = start + len(frame)
        with tables.open_file(self.path, mode="a") as h5:
            group = h5.get_node("/" + self.key)
            for name, items, rows_first in self._blocks:
                node = h5.get_node(group, name)
                if items is None:
                    values = np.asarray(frame.index, dtype=node.atom.dtype)
                else:
                    values = frame[items].to_numpy(dtype=node.atom.dtype)
                if rows_first:
                    node[start:stop] = values
                else:
                    node[..., start:stop] = values.T

    def close(self):
        import pandas as pd

        self._check_full()
        if self.n_rows == 0 and self.format == "table":
            # pandas writes nothing for an empty frame in "table": write one row of
            # zeros of the columns' dtypes, then remove it (the empty table stays)
            empty = self._empty
            one = pd.DataFrame({i: np.zeros(1, dtype) for i, dtype in enumerate(empty.dtypes)},
                               index=pd.Index(np.zeros(1, empty.index.dtype),
                                              name=empty.index.name))
            one.columns = empty.columns
            with pd.HDFStore(self.path, mode="w", **self.store_kw) as store:
                store.append(self.key, one, format="table", index=False,
                             data_columns=self.data_columns)
                store.remove(self.key, start=0, stop=1)
        elif self.n_rows == 0:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._empty.to_hdf(self.path, key=self.key, mode="w", format=self.format,
                                   data_columns=self.data_columns, **self.store_kw)
        elif self.format == "table":
            with pd.HDFStore(self.path, mode="a") as store:
                store.create_table_index(self.key)


# ---------------------------------------------------------------------------
# ROOT TTrees
# ---------------------------------------------------------------------------

class TreeAppender(_Rows):
    """A ROOT TTree written with uproot's ``mktree``, then ``extend`` per chunk.

    Jagged branches sharing one counter ``n<prefix>`` (as uproot writes a
    record ``<prefix>``) or, without a counter (``std::vector`` branches of
    the released JetClass files), sharing a name prefix ``<prefix>_`` and
    their lengths, are written as one record: branches ``<prefix>_<field>``
    and the counter ``n<prefix>``; other jagged branches get a counter of
    their own, ``n<branch>``. Scalar branches are written as they are.

    Parameters
    ----------
    path : str or os.PathLike
    n_rows : int
    tree : str
        The tree's name.
    groups : dict
        Record name -> list of jagged branch names written as its fields
        (each named ``<record>_<field>``); a jagged branch in no group gets
        its own counter.
    """

    def __init__(self, path, n_rows, tree="tree", groups=None):
        from jetimg.io.readers.root import import_root

        super().__init__(path, n_rows)
        self.uproot, self.ak = import_root()
        self.tree_name = tree
        self.groups = {k: list(v) for k, v in (groups or {}).items()}
        self._file = self._tree = None

    def _data(self, block):
        ak = self.ak
        grouped = {b for names in self.groups.values() for b in names}
        data = {}
        for record, names in self.groups.items():
            cut = len(record) + 1
            data[record] = ak.zip({b[cut:]: block[b] for b in names})
        for name, values in block.items():
            if name not in grouped:
                data[name] = values
        return data

    def append(self, block):
        """Append rows: ``block`` maps every branch to its rows (awkward or NumPy)."""
        ak = self.ak
        data = self._data(block)
        n = len(next(iter(data.values()))) if data else 0
        self._advance(n)
        if self._tree is None:
            types = {}
            for name, values in data.items():
                if isinstance(values, ak.Array):
                    if values.ndim == 1 and not values.fields:
                        values = data[name] = ak.to_numpy(values)
                    else:
                        types[name] = values.type.content
                        continue
                values = np.asarray(values)
                data[name] = values
                types[name] = np.dtype((values.dtype, values.shape[1:]))
            self._file = self.uproot.recreate(self.path)
            self._tree = self._file.mktree(self.tree_name, types,
                                           counter_name=lambda counted: "n" + counted)
        if n:
            self._tree.extend({k: (ak.to_numpy(v) if isinstance(v, ak.Array) and v.ndim == 1
                                   and not v.fields else v) for k, v in data.items()})

    def close(self):
        self.abort()
        self._check_full()

    def abort(self):
        if self._file is not None:
            self._file.close()
            self._file = self._tree = None
