"""Which layout a file of jet constituents is in, and the module that reads it.

:func:`open_jets` looks at the path once, up front, and hands it to the
opener of its layout family, which checks it and returns a
:class:`~jetimg.io.readers.sources.JetSource` (the interface of every layout):

==================  ==========================  ==============================
layout              file                        module
==================  ==========================  ==============================
``"pandas-fixed"``  HDF5, pandas frame "fixed"  :mod:`jetimg.io.readers.pandas_hdf`
``"pandas-table"``  HDF5, pandas frame "table"  :mod:`jetimg.io.readers.pandas_hdf`
``"hdf5-array"``    HDF5, (N, M, 4) dataset     :mod:`jetimg.io.readers.arrays`
``"zarr-array"``    Zarr store directory        :mod:`jetimg.io.readers.arrays`
``"npy"``           ``.npy`` file               :mod:`jetimg.io.readers.arrays`
``"jetclass-root"`` ROOT file, JetClass TTree   :mod:`jetimg.io.readers.root`
``"qg-npz"``        ``.npz``, EnergyFlow q/g    :mod:`jetimg.io.readers.npz`
==================  ==========================  ==============================

A directory is a Zarr store; a file is recognised by its first bytes
(zip, i.e. ``.npz``, then ``.npy`` magic, ROOT magic, then HDF5); in an HDF5 file, ``key`` (default ``"table"``)
names a pandas frame or a dataset, else the file's only (N, M, 4) dataset is
the jets. A new layout family is one module beside these (a
:class:`~jetimg.io.readers.sources.JetSource` subclass and its opener), its names in
:data:`LAYOUTS` and one branch in :func:`open_jets`.

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

import os

import h5py

from jetimg.checks import integer
from jetimg.errors import InputError
from jetimg.io.readers import arrays, npz, pandas_hdf, root
from jetimg.io.readers.arrays import open_hdf5_array, open_npy, open_zarr
from jetimg.io.readers.hdf5 import h5open
from jetimg.io.readers.pandas_hdf import open_pandas
from jetimg.io.readers.sources import DEFAULT_KEY, is_zarr, short_list

__all__ = ["LAYOUTS", "open_jets"]

LAYOUTS = pandas_hdf.LAYOUTS + arrays.LAYOUTS + npz.LAYOUTS + root.LAYOUTS


def open_jets(path, key=None, labels_key=None, n_slots=None, pid_key=None):
    """Open a file of jet constituents and check its layout.

    Parameters
    ----------
    path : str or os.PathLike
        HDF5 file (pandas "fixed" or "table" frame, or an (N, M, 4) array),
        Zarr store directory, ``.npy`` file, or EnergyFlow quark/gluon
        ``.npz`` (X of (pt, y, phi, pid), y).
    key : str, optional
        HDF5: the pandas frame's key (default ``"table"``) or the array's
        dataset; Zarr: the array's path in the group. Default: ``"table"``
        if present, else the only 3-D array with last dimension 4; .npz: the
        particles' member (default ``"X"``).
    labels_key : str, optional
        pandas: the labels column (default ``"is_signal_new"`` if present);
        HDF5/Zarr: the labels array (default ``labels`` or
        ``is_signal_new`` beside the jets); npy: path of a labels ``.npy``;
        .npz: the labels' member (default ``"y"``).
    n_slots : int, optional
        Read only the first ``n_slots`` slots (M). Default: all of them.
    pid_key : str, optional
        Plain arrays: an (N, M) array of PDG ids giving the particle kinds
        (HDF5/Zarr: default ``pid`` beside the jets; npy: path of a ``.npy``).

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
    n_slots = integer("n_slots", n_slots, none_means="all slots")
    # One branch per file kind, each to the opener of its layout family.
    if not os.path.exists(path):
        raise InputError(f"input file not found: {path}")
    if os.path.isdir(path):
        if is_zarr(path):
            return open_zarr(path, key, labels_key, n_slots, pid_key)
        raise InputError(f"{path} is a directory but not a Zarr store "
                         "(no zarr.json, .zgroup or .zarray inside)")
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if npz.is_zip(head):
        _no_pid_key(pid_key, path, "a quark/gluon .npz (its kinds come from X's pid)")
        return npz.open_qg(path, key, labels_key, n_slots)
    if head.startswith(b"\x93NUMPY"):
        return open_npy(path, key, labels_key, n_slots, pid_key)
    if root.is_root(head):
        _no_pid_key(pid_key, path, "a JetClass ROOT file (its kinds come from part_is*)")
        return root.open_root(path, key, labels_key, n_slots)
    if h5py.is_hdf5(path):
        return _open_hdf5(path, key, labels_key, n_slots, pid_key)
    raise InputError(f"{path} is not a jet file jetimg can read (a pandas "
                     "HDF5 frame, an (N, M, 4) array in HDF5, Zarr or .npy, a "
                     f"quark/gluon .npz or a JetClass ROOT file): it looks like {_looks_like(head)}")


def _no_pid_key(pid_key, path, what):
    if pid_key is not None:
        raise InputError(f"pid_key='{pid_key}' is for plain (N, M, 4) arrays, but {path} "
                         f"is {what}")


def _open_hdf5(path, key, labels_key, n_slots, pid_key=None):
    """An HDF5 file: the pandas frame or the (N, M, 4) dataset at ``key``,
    else the frame under ``"table"``, else the file's only (N, M, 4) dataset."""
    with h5open(path) as f:
        node = None
        if key is not None:
            node = f.get(key)
            if node is None:
                raise InputError(f"key '{key}' not found in {path} "
                                 f"(top-level keys: {short_list(list(f.keys()))})")
        elif DEFAULT_KEY in f:
            node = f[DEFAULT_KEY]
            if isinstance(node, h5py.Group) and "pandas_type" not in node.attrs:
                node = None          # not a frame: search the whole file
            else:
                key = DEFAULT_KEY
        if isinstance(node, h5py.Group) and "pandas_type" in node.attrs:
            _no_pid_key(pid_key, path, "a pandas frame")
            return open_pandas(path, f, node, key, labels_key, n_slots)
        if isinstance(node, h5py.Dataset):
            return open_hdf5_array(path, f, node, labels_key, n_slots, pid_key)
        group = node if isinstance(node, h5py.Group) else f
        candidates = []

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.ndim == 3 and obj.shape[-1] == 4:
                candidates.append(obj.name)

        group.visititems(visit)
        if len(candidates) == 1:
            return open_hdf5_array(path, f, f[candidates[0]], labels_key, n_slots,
                                   pid_key)
        if candidates:
            raise InputError(f"{path} holds several (N, M, 4) arrays: "
                             f"{short_list(candidates)}; pass key=... to pick one")
        where = f"under '{key}' " if key is not None else ""
        raise InputError(f"no pandas frame under key 'table' and no (N, M, 4) "
                         f"array {where}in {path} "
                         f"(top-level keys: {short_list(list(f.keys()))})")


def _looks_like(head):
    """What a file that is no known layout seems to be, from its first bytes."""
    if not head:
        return "an empty file"
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
