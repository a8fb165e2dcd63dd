"""Image stores: a Zarr v3 group or an HDF5 file with docs/recipe.md's arrays and attributes.

A store is made in three steps, each opening it by path, so that any Dask
worker (thread, process or dask.distributed worker) can do the middle one:

1. :func:`create_store` makes every array at its full length, chunked and
   compressed, and the attributes with ``complete: false``;
2. :func:`write_rows` writes rows ``[start, start + n)`` of every array (tasks
   write disjoint, chunk-aligned row ranges, so Zarr needs no lock; HDF5 takes
   the lock it is given);
3. :func:`mark_complete` sets ``complete: true``, the last write of a build.

:func:`open_store` reads a store back: a mapping of array names to arrays and
its attributes.

Arrays (N rows): images (N, npix, npix) float32 (N, npix, npix, C with channels), labels (N,) int8 when the
input has labels, jet_pt / jet_eta / jet_phi / jet_mass (N,) float32,
n_constituents (N,) int16, valid (N,) int8.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import pathlib
import shutil

import numpy as np

from ...errors import InputError, JetimgError
from ...outputs import LABEL_DTYPE, output_specs
from ...recipe import Recipe

__all__ = ["CODECS", "DEFAULT_CODEC", "store_format", "create_store", "write_rows",
           "mark_complete", "open_store", "remove_store", "store_size", "store_info",
           "opened", "image_layout"]

#: Compression choices for image stores (measured in benchmarks/bench_codecs.py).
CODECS = ("blosc-lz4", "blosc-lz4-noshuffle", "zstd", "blosc-zstd", "none")
DEFAULT_CODEC = "blosc-lz4-noshuffle"


def store_format(path, role="output"):
    """"zarr" or "hdf5" from the path's suffix, else an error naming ``role`` ("output",
    or "store" for one being read)."""
    suffix = pathlib.Path(str(path).rstrip("/")).suffix.lower()
    if suffix == ".zarr":
        return "zarr"
    if suffix in (".h5", ".hdf5"):
        return "hdf5"
    raise InputError(f"{role} {path}: unknown suffix {suffix or '(none)'!r}; "
                     "use .zarr for a Zarr group or .h5/.hdf5 for an HDF5 file")


def array_specs(n_rows, npix, has_labels, n_channels=None, *, n_particles=None,
                n_features=None):
    """name -> (shape, dtype) of every array of a store (images of
    ``n_channels`` channels, channel last, when given; ``particles`` (N, P, F)
    for ``n_particles`` P and ``n_features`` F)."""
    specs = output_specs(n_rows, npix, n_channels, n_particles=n_particles,
                         n_features=n_features)
    images = specs.pop("images")
    labels = {"labels": ((n_rows,), LABEL_DTYPE)} if has_labels else {}
    return {"images": images, **labels, **specs}


def _zarr_codecs(codec):
    from zarr.codecs import BloscCodec, BloscShuffle, ZstdCodec

    return {
        "blosc-lz4": [BloscCodec(cname="lz4", clevel=5, shuffle=BloscShuffle.shuffle)],
        "blosc-lz4-noshuffle": [BloscCodec(cname="lz4", clevel=5,
                                           shuffle=BloscShuffle.noshuffle)],
        "zstd": [ZstdCodec(level=3)],
        "blosc-zstd": [BloscCodec(cname="zstd", clevel=3, shuffle=BloscShuffle.shuffle)],
        "none": None,
    }[codec]


def _hdf5_filter(codec):
    if codec == "none":
        return {}
    try:
        import hdf5plugin
    except ImportError:
        raise InputError(f"codec={codec!r} in an HDF5 store needs hdf5plugin, which is not "
                         "installed: install it, or choose codec='none' or a .zarr "
                         "store") from None
    return {
        "blosc-lz4": hdf5plugin.Blosc(cname="lz4", clevel=5, shuffle=hdf5plugin.Blosc.SHUFFLE),
        "blosc-lz4-noshuffle": hdf5plugin.Blosc(cname="lz4", clevel=5,
                                                shuffle=hdf5plugin.Blosc.NOSHUFFLE),
        "zstd": hdf5plugin.Zstd(clevel=3),
        "blosc-zstd": hdf5plugin.Blosc(cname="zstd", clevel=3,
                                       shuffle=hdf5plugin.Blosc.SHUFFLE),
    }[codec]


def create_store(path, *, n_rows, npix, has_labels, attrs, chunk_rows, image_chunk_rows=None,
                 codec=DEFAULT_CODEC, n_channels=None, n_particles=None, n_features=None):
    """Make an empty store at ``path`` (which must not exist) with ``complete: false``.

    Parameters
    ----------
    path : str or Path
        ``*.zarr`` (Zarr v3 group) or ``*.h5`` / ``*.hdf5`` (HDF5 file).
    n_rows : int
        Rows (jets) of every array.
    npix : int
        Image side.
    has_labels : bool
        Whether to make the ``labels`` array.
    attrs : dict
        Attributes (jetimg_version, recipe, input, input_rows, n_jets); ``complete``
        is set to false here and only :func:`mark_complete` sets it true.
    chunk_rows : int
        Rows per chunk of the per-jet arrays (writes must be aligned to it).
    image_chunk_rows : int, optional
        Rows per chunk of ``images`` (a divisor of ``chunk_rows``; default the same).
    codec : str
        One of :data:`CODECS`.
    n_channels : int, optional
        Images of this many channels, (n_rows, npix, npix, C): every chunk of
        ``images`` holds whole rows with all their channels.
    n_particles, n_features : int, optional
        With ``n_particles`` P: a ``particles`` array (n_rows, P, F), F =
        ``n_features``, chunked by rows like the images, with the
        same codec (``attrs`` then holds ``particle_features``).
    """
    if codec not in CODECS:
        raise InputError(f"codec={codec!r} is not valid; choose one of {', '.join(CODECS)}")
    fmt = store_format(path)
    attrs = {**attrs, "complete": False}
    specs = array_specs(n_rows, npix, has_labels, n_channels, n_particles=n_particles,
                        n_features=n_features)
    chunk_rows = max(1, min(int(chunk_rows), max(n_rows, 1)))
    image_chunk_rows = max(1, min(int(image_chunk_rows or chunk_rows), chunk_rows))
    rows_of = {name: image_chunk_rows if name in ("images", "particles") else chunk_rows
               for name in specs}
    if fmt == "zarr":
        import zarr

        group = zarr.open_group(str(path), mode="w-", zarr_format=3)
        compressors = _zarr_codecs(codec)
        for name, (shape, dtype) in specs.items():
            # Images in chunks smaller than a write go in shards of one write
            # each: zarr then encodes a write's chunks into one file, where it
            # would otherwise copy each chunk into a fresh fill-valued buffer
            # first and make a file per chunk (half the CPU time of a write).
            shards = None
            if rows_of[name] < chunk_rows:
                shards = (-(-chunk_rows // rows_of[name]) * rows_of[name],) + shape[1:]
            # write_empty_chunks: zarr would otherwise compare every chunk with
            # the fill value before writing it, which slows writes several times.
            group.create_array(name, shape=shape, dtype=dtype,
                               chunks=(rows_of[name],) + shape[1:], shards=shards,
                               fill_value=0, compressors=compressors,
                               config={"write_empty_chunks": True})
        group.attrs.update(attrs)
    else:
        import h5py

        filt = _hdf5_filter(codec)  # before the file exists: refused, it leaves nothing
        with h5py.File(path, "w-") as f:
            for name, (shape, dtype) in specs.items():
                f.create_dataset(name, shape=shape, dtype=dtype, fillvalue=0,
                                 chunks=(rows_of[name],) + shape[1:] if n_rows else None,
                                 **filt)
            for key, value in attrs.items():
                f.attrs[key] = _h5_attr(value)


def _h5_attr(value):
    # Mappings (the recipe) and lists (input names, label_names) are stored as
    # JSON text; open_store decodes them.
    return json.dumps(value) if isinstance(value, (dict, list, tuple)) else value


def write_rows(path, start, outputs, lock=None):
    """Write rows ``[start, start + n)`` of every array in ``outputs`` into the store.

    ``outputs`` maps array names (images, labels, jet_pt, ...) to arrays of n
    rows. ``lock`` (a context manager) guards HDF5 writes; Zarr needs none when
    writers keep to their own chunks.
    """
    n = len(outputs["images"])
    if store_format(path) == "zarr":
        import zarr

        group = zarr.open_group(str(path), mode="r+")
        for name, values in outputs.items():
            # write_empty_chunks is a run-time setting, not stored in zarr.json:
            # set it on every open, or zarr compares each chunk with the fill value.
            group[name].with_config({"write_empty_chunks": True})[start:start + n] = values
        return
    import contextlib

    import h5py

    with lock if lock is not None else contextlib.nullcontext():
        _check_hdf5_space(path, outputs)
        with h5py.File(path, "r+") as f:
            for name, values in outputs.items():
                f[name][start:start + n] = values


#: Room kept free for HDF5's own metadata when checking space before a write.
HDF5_SPACE_MARGIN = 1 << 20


def _check_hdf5_space(path, outputs):
    """Raise ENOSPC before an HDF5 write that might not fit (its uncompressed size).

    HDF5 is not crash-safe: a write that meets a full disk leaves the library
    unable to close the file (it may crash the process), so the space is
    checked first. Zarr needs no such check: each chunk is its own file,
    written whole or not at all.
    """
    need = sum(np.asarray(v).nbytes for v in outputs.values()) + HDF5_SPACE_MARGIN
    try:
        st = os.statvfs(pathlib.Path(path).absolute().parent)
    except OSError:
        return
    if st.f_bavail * st.f_frsize < need:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def set_attrs(path, **attrs):
    """Update attributes of a store in place."""
    if store_format(path) == "zarr":
        import zarr

        zarr.open_group(str(path), mode="r+").attrs.update(attrs)
    else:
        import h5py

        with h5py.File(path, "r+") as f:
            for key, value in attrs.items():
                f.attrs[key] = _h5_attr(value)


def mark_complete(path):
    """Set ``complete: true``: every row has been written."""
    set_attrs(path, complete=True)


class Store:
    """A store opened for reading: ``store["images"]``, ``store.attrs``, ``len(store)``.

    Arrays are the backend's lazy arrays (zarr.Array or h5py.Dataset): index
    them to read rows. Use as a context manager to close an HDF5 file.
    """

    def __init__(self, path):
        self.path = pathlib.Path(path)
        self.format = store_format(path, "store")
        if not self.path.exists():
            raise InputError(f"store not found: {path}")
        if self.format == "zarr":
            import zarr

            try:
                self._group = zarr.open_group(str(path), mode="r")
            except Exception as exc:
                raise InputError(f"{path} is not a Zarr group ({exc})") from None
            self.attrs = dict(self._group.attrs)
            self._file = None
        else:
            import h5py

            try:
                self._file = h5py.File(path, "r")
            except OSError as exc:
                if not _has_hdf5_signature(self.path):
                    raise InputError(f"{path} is not an HDF5 file") from None
                why = str(exc).partition("(")[2].rstrip(")") or str(exc)
                raise InputError(f"{path} is a damaged HDF5 file: it cannot be opened "
                                 f"({why})") from None
            self._group = self._file
            self.attrs = {k: _decode_attr(v) for k, v in self._file.attrs.items()}

    def __getitem__(self, name):
        try:
            return self._group[name]
        except KeyError:
            raise InputError(f"store {self.path} has no array {name!r} "
                             f"(it has {', '.join(self.keys())})") from None

    def __contains__(self, name):
        return name in self.keys()

    def keys(self):
        if self.format == "zarr":
            return sorted(self._group.array_keys())
        return sorted(self._group.keys())

    def __len__(self):
        return int(self["images"].shape[0])

    @property
    def recipe(self):
        """The store's :class:`~jetimg.recipe.Recipe`; for a store without one
        (made by another tool), the default recipe at the images' size."""
        attrs = self.attrs.get("recipe")
        if not attrs:
            return Recipe(npix=int(self["images"].shape[1]))
        return Recipe.from_attrs(attrs)

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def _has_hdf5_signature(path):
    """Whether ``path`` starts as an HDF5 file does (at byte 0, 512, 1024, ...)."""
    import h5py

    try:
        return bool(h5py.is_hdf5(path))
    except OSError:
        return False


def _decode_attr(value):
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str) and value.startswith(("{", "[")):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def open_store(path):
    """Open an image store for reading (see :class:`Store`)."""
    return Store(path)


def image_layout(path):
    """What kind of image file ``path`` is, found from its content (not its name).

    Returns
    -------
    {"store", "pandas-images"} or None
        "store": a Zarr group or HDF5 file with an ``images`` array (whatever
        its name ends in); "pandas-images": the challenge's pandas image
        layout (img_0 ... columns); None: anything else (a constituents file,
        or no file at all).
    """
    import h5py

    path = pathlib.Path(path)
    if path.is_dir():
        if (path / "zarr.json").exists() or (path / ".zgroup").exists():
            try:
                import zarr

                group = zarr.open_group(str(path), mode="r")
                return "store" if "images" in group.array_keys() else None
            except Exception:
                return None
        return None
    if not path.is_file() or not h5py.is_hdf5(path):
        return None
    with h5py.File(path, "r") as f:
        if isinstance(f.get("images"), h5py.Dataset):
            return "store"
        table = f.get("table")
        if isinstance(table, h5py.Group) and isinstance(table.get("table"), h5py.Dataset):
            blob = table["table"].attrs.get("values_block_0_kind")
            if blob is not None:
                from ..readers.pickle_names import names_from_pickle

                try:
                    return "pandas-images" if "img_0" in names_from_pickle(blob) else None
                except ValueError:
                    return None
    return None


@contextlib.contextmanager
def opened(store):
    """``with opened(store) as s``: a path is opened (and closed after); an open
    :class:`Store` is used as it is (and left open)."""
    if isinstance(store, Store):
        yield store
        return
    if not isinstance(store, str | os.PathLike):
        raise TypeError(f"store must be a path or an open Store, not {type(store).__name__}")
    with open_store(store) as s:
        yield s


def remove_store(path):
    """Delete a store (a Zarr directory or an HDF5 file) if it exists."""
    path = pathlib.Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def store_size(path):
    """Bytes on disk of a store (a file, or every file under a directory)."""
    path = pathlib.Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size if path.exists() else 0


def check_writable(path):
    """Raise a clear error if ``path``'s folder does not exist or cannot be written."""
    parent = pathlib.Path(path).resolve().parent
    if not parent.is_dir():
        raise JetimgError(f"cannot write {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        read_only = False
        with contextlib.suppress(OSError):
            read_only = bool(os.statvfs(parent).f_flag & os.ST_RDONLY)
        if read_only:
            raise JetimgError(f"cannot write {path}: read-only file system (folder {parent})")
        raise JetimgError(f"cannot write {path}: folder {parent} is not writable")


def store_info(path):
    """A summary of an image store: format, rows written, completeness, label counts, attributes.

    Reads the labels and ``valid`` arrays chunk by chunk (never the images),
    over the rows written only: an interrupted build's store has arrays of full
    length whose unwritten rows read as zeros.

    Returns
    -------
    dict
        ``format`` ("zarr" or "hdf5"); ``n_rows`` (rows of every array);
        ``n_written`` (rows whose chunks exist in every array: ``n_rows`` for a
        whole store, fewer for an interrupted one); ``complete`` (the build
        finished); ``resumable`` (an interrupted Zarr build with its record of
        finished chunks, which ``jetimg build ... --resume`` completes);
        ``images_shape``; ``particles_shape`` ((N, P, F), or None for a store
        without particles); ``label_counts`` (label -> rows written with it, or
        None without labels) and ``n_invalid`` (rows written with ``valid == 0``),
        both over the written rows that can be read; ``n_unreadable`` (written
        rows of labels or valid that cannot be decoded: ``jetimg.verify``
        names them); ``attrs``.
    """
    from . import checkpoints
    from .rows import complement_ranges, missing_rows

    with open_store(path) as store:
        n = len(store)
        written = complement_ranges(n, missing_rows(store))
        counts = {} if "labels" in store else None
        n_invalid = n_unreadable = 0
        step = 1_000_000
        for first, last in written:
            for start in range(first, last, step):
                stop = min(start + step, last)
                try:
                    labels = store["labels"][start:stop] if counts is not None else None
                    valid = store["valid"][start:stop]
                except Exception:  # a damaged chunk: verify names it
                    n_unreadable += stop - start
                    continue
                if labels is not None:
                    for v, c in zip(*(a.tolist() for a in np.unique(labels, return_counts=True))):
                        counts[v] = counts.get(v, 0) + c
                n_invalid += int(np.count_nonzero(valid == 0))
        complete = bool(store.attrs.get("complete"))
        resumable = (not complete and store.format == "zarr"
                     and checkpoints.load(store.path) is not None)
        return {"format": store.format, "n_rows": n,
                "n_written": sum(stop - start for start, stop in written),
                "complete": complete, "resumable": resumable,
                "images_shape": tuple(store["images"].shape),
                "particles_shape": (tuple(store["particles"].shape) if "particles" in store
                                    else None),
                "label_counts": dict(sorted(counts.items())) if counts is not None else None,
                "n_invalid": n_invalid, "n_unreadable": n_unreadable, "attrs": dict(store.attrs)}
