"""PDG ids beside plain arrays: the particle kinds of an (N, M, 4) array's slots.

An optional (N, M) integer array of PDG ids sits beside the jets (``pid_key``;
by default ``pid`` beside them in an HDF5 or Zarr group; for ``.npy``, the
path of another ``.npy``). :class:`PidKinds` gives the plain-array sources of
:mod:`jetimg.io.readers.arrays` their ``read_kinds`` and ``read_charges`` from it
(:func:`jetimg.kinds.kinds_from_pdg`, :func:`jetimg.kinds.charges_from_pdg`). One
read of the ids gives both: the one not asked for is kept for the next call
on the same rows (``read_kinds`` then ``read_charges`` of a window read the
ids and the jets once).
"""

import os

import h5py
import numpy as np

from jetimg.errors import InputError
from jetimg.io.readers.sources import JetSource, is_zarr, npy_header, short_list, zarr_open_array

__all__ = ["PidKinds", "with_pid", "find_pid_hdf5", "find_pid_zarr", "find_pid_npy"]


class PidKinds:
    """Kinds and charges of a plain-array source from the PDG-id array beside its jets."""

    _pid_at = None  # ("hdf5" | "zarr" | "npy", where the ids are), set by _with_pid
    _pid_spare = None  # (start, stop, "kinds" | "charges", values) of the last read

    def read_kinds(self, start, stop):
        return _pid_read(self, start, stop, "kinds")

    def read_charges(self, start, stop):
        return _pid_read(self, start, stop, "charges")

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_pid_spare", None)
        return state


#: the (N, M) array of PDG ids found beside the jets when no pid_key is given
PID_NAME = "pid"


def _check_pid(shape, dtype, jets_shape, where):
    """Refuse a PDG-id array that is not an integer (N, M) array matching the jets."""
    shape, want = tuple(shape), tuple(jets_shape[:2])
    if shape != want:
        raise InputError(f"{where} has shape {shape}, expected {want}: one PDG id per "
                         "slot of the jets")
    if np.dtype(dtype).kind not in "iuf":
        raise InputError(f"{where} has dtype {dtype}, expected integer PDG ids")


def _pid_values(source, pids, start, stop):
    """Kind codes and charges of rows ``start:stop`` from their ids; 0 where the jets pad."""
    from jetimg.kinds import kinds_and_charges_from_pdg

    jets, _ = source.read(start, stop)
    kinds, charges = kinds_and_charges_from_pdg(np.asarray(pids)[:, :source.n_slots])
    padding = (jets == 0).all(axis=-1)
    kinds[padding] = 0
    charges[padding] = 0
    return {"kinds": kinds, "charges": charges}


def _pid_read(source, start, stop, what):
    """:meth:`JetSource.read_kinds` (``what`` "kinds") or ``read_charges`` ("charges")
    of the plain-array sources with a pid array."""
    if not source.has_kinds:
        return getattr(JetSource, f"read_{what}")(source, start, stop)
    spare = source._pid_spare
    if spare is not None and spare[:3] == (start, stop, what):
        source._pid_spare = None
        return spare[3]
    if not 0 <= start <= stop <= source.n_rows:
        raise InputError(f"rows {start}:{stop} are outside [0, {source.n_rows}] "
                         f"of {source.path}")
    where, key = source._pid_at
    try:
        if where == "hdf5":
            pids = source._opened()[1][key][start:stop]
        elif where == "zarr":
            import zarr

            pids = zarr_open_array(zarr, *key)[start:stop]
        else:
            pids = np.load(key, mmap_mode="r", allow_pickle=False)[start:stop]
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(f"cannot read the PDG ids of rows {start}:{stop} of "
                         f"{source.path}: {exc}") from exc
    values = _pid_values(source, pids, start, stop)
    other = "charges" if what == "kinds" else "kinds"
    source._pid_spare = (start, stop, other, values[other])
    return values[what]


def with_pid(source, pid):
    """``source`` reading kinds from ``pid`` (("hdf5"|"zarr"|"npy", where)), if any."""
    if pid is not None:
        source._pid_at = pid
        source.has_kinds = True
    return source


def find_pid_hdf5(path, f, ds, pid_key):
    """The PDG-id dataset of an HDF5 jets dataset: ``pid_key``, else ``pid`` beside it.

    Returns
    -------
    h5py.Dataset or None
    """
    if pid_key is not None:
        obj = f.get(pid_key)
        if not isinstance(obj, h5py.Dataset):
            raise InputError(f"PDG-id dataset '{pid_key}' not found in {path} "
                             f"(top-level keys: {short_list(list(f.keys()))})")
    else:
        obj = ds.parent.get(PID_NAME)
        if not isinstance(obj, h5py.Dataset):
            return None
    _check_pid(obj.shape, obj.dtype, ds.shape, f"PDG ids '{obj.name}' in {path}")
    return obj


def _beside(path, name):
    """``name`` as given if it exists, else relative to the folder of ``path``."""
    found = os.fspath(name)
    if not os.path.isabs(found) and not os.path.exists(found):
        found = os.path.join(os.path.dirname(path), found)
    return os.path.abspath(found)


def find_pid_zarr(zarr, root, path, arr_key, jets_shape, pid_key):
    """Where the PDG ids of Zarr jets are: ``(store, path in it)`` or None.

    A group: ``pid_key`` in it, else ``pid`` beside the jets; a single array:
    ``pid_key`` is another Zarr array store.
    """
    if isinstance(root, zarr.Group):
        if pid_key is None:
            parent = arr_key.rpartition("/")[0]
            name = f"{parent}/{PID_NAME}" if parent else PID_NAME
            try:
                obj = root[name]
            except KeyError:
                return None
            if isinstance(obj, zarr.Group):
                return None
        else:
            try:
                obj = root[pid_key]
            except KeyError:
                raise InputError(f"PDG-id array '{pid_key}' not found in {path} (top-level "
                                 f"keys: {short_list(sorted(n for n, _ in root.members()))})"
                                 ) from None
            if isinstance(obj, zarr.Group):
                raise InputError(f"PDG ids '{pid_key}' in {path} is a group, not an array")
        where = (path, obj.path)
    elif pid_key is None:
        return None
    else:
        store = _beside(path, pid_key)
        if not os.path.isdir(store) or not is_zarr(store):
            raise InputError(f"PDG-id array not found: {pid_key}")
        obj, where = zarr_open_array(zarr, store, None), (store, None)
    _check_pid(tuple(obj.shape), obj.dtype, jets_shape,
               f"PDG ids '{where[1] or where[0]}' in {path}")
    return where


def find_pid_npy(path, jets_shape, pid_key):
    """The ``.npy`` file of PDG ids ``pid_key`` (beside ``path`` if relative), or None."""
    if pid_key is None:
        return None
    found = _beside(path, pid_key)
    if not os.path.isfile(found):
        raise InputError(f"PDG-id file not found: {pid_key}")
    shape, dtype = npy_header(found)
    _check_pid(shape, dtype, jets_shape, f"PDG ids {found}")
    return found
