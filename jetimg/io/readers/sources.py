"""The interface of every input layout: :class:`JetSource`, and the checks they share.

Whatever the layout, a source gives, for a window of rows ``start:stop``:

* ``jets``: float32, C-contiguous, shape (n, M, 4), one (E, px, py, pz)
  four-vector in GeV per slot, zero-padded, n = stop - start;
* ``labels``: int8, shape (n,), or None when the input has no labels.

A source holds only the path and the layout resolved by its opener (names,
column positions): it pickles in a few hundred bytes, so the build pipeline
ships it to Dask tasks, also on dask.distributed workers in other processes.
The file is opened lazily by the first :meth:`JetSource.read` of each process
and the handle is kept for the next reads (it is dropped when pickled, and
re-opened after a fork). A read touches only the rows asked for, never the
whole file.

A layout module (:mod:`jetimg.io.readers.pandas_hdf`, :mod:`jetimg.io.readers.arrays`)
subclasses :class:`JetSource`, sets ``layout`` and implements ``_open``,
``_read`` and, if its handle needs it, ``_close``; its opener checks the file
with the functions below and returns the source. :func:`jetimg.io.open_jets`
(in :mod:`jetimg.io.readers.layouts`) picks the opener.
"""

import operator
import os
import threading

import numpy as np

from jetimg.errors import InputError

__all__ = ["JetSource", "DEFAULT_KEY", "check_array_shape", "check_labels", "check_slots",
           "short_list"]

# The key of the jets when none is given: pandas' frame, or a Zarr group's array.
DEFAULT_KEY = "table"


class JetSource:
    """Jets of one input file, read by row windows; cheap to pickle.

    Made by :func:`jetimg.io.open_jets`, which checks the layout; do not build
    directly.

    Attributes
    ----------
    path : str
        Absolute path of the input.
    layout : str
        One of :data:`jetimg.io.LAYOUTS`: ``"pandas-fixed"``,
        ``"pandas-table"``, ``"hdf5-array"``, ``"zarr-array"``, ``"npy"``.
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
    label_names : tuple of str or None
        The class names, in label order, when the input says them (see
        docs/recipe.md, "Labels"); None otherwise.
    has_kinds : bool
        Whether the input carries particle identity: :meth:`read_kinds` then
        gives each slot's kind code (:mod:`jetimg.kinds`), and
        :meth:`read_charges` its electric charge.
    jagged : bool
        Whether rows differ in length (``n_slots`` is then 0 and each window
        is padded to its own widest row).
    """

    layout = None
    label_names = None
    has_kinds = False
    #: rows of different lengths (JetClass ROOT): :meth:`read` pads each window
    #: to its own widest row, and ``read_flat`` gives the particles unpadded
    jagged = False

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

    def read_kinds(self, start, stop):
        """The particle kind of every slot of rows ``start:stop``.

        Returns
        -------
        numpy.ndarray
            int8 codes of :data:`jetimg.kinds.KIND_NAMES` (0 for padding),
            shape (stop - start, M) with M the slots :meth:`read` gives for the
            same rows.

        Raises
        ------
        InputError
            The input carries no particle identity (``has_kinds`` is False).
        """
        raise InputError(f"{self.path} carries no particle identity (kinds): "
                         f"its layout {self.layout!r} has none")

    def read_charges(self, start, stop):
        """The electric charge of every slot of rows ``start:stop``.

        JetClass's part_charge as given; from a PDG id, its charge
        (:func:`jetimg.kinds.charges_from_pdg`).

        Returns
        -------
        numpy.ndarray
            int8 charges in units of e (0 for padding), shape (stop - start, M):
            the rows and slots of :meth:`read_kinds` and :meth:`read`.

        Raises
        ------
        InputError
            The input carries no particle identity (``has_kinds`` is False), or
            its charges cannot be read.
        """
        raise InputError(f"{self.path} carries no particle identity (charges): "
                         f"its layout {self.layout!r} has none")

    def read_labels(self, start, stop):
        """The labels of rows ``start:stop`` as :meth:`read` gives them (int8, or
        None without labels); layouts that can read their labels alone override it."""
        return self.read(start, stop)[1]

    def read_identity(self, start, stop, kinds=False, charges=False):
        """``{"kinds": ..., "charges": ...}`` of rows ``start:stop``, as
        :func:`jetimg.preprocess` takes them: each read (:meth:`read_kinds`,
        :meth:`read_charges`) when asked for, None otherwise.
        :meth:`jetimg.Recipe.reads_identity` says which a recipe needs."""
        return {"kinds": self.read_kinds(start, stop) if kinds else None,
                "charges": self.read_charges(start, stop) if charges else None}

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

    def __len__(self):
        """The number of jets N (``n_rows``), so ``len(source)`` works for every input."""
        return self.n_rows

    def __bool__(self):
        return True   # an input of no rows is still an input

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
        """Open the file; return the handle that ``_read`` and ``_close`` take."""
        raise NotImplementedError

    def _close(self, handle):
        """Release a handle made by ``_open`` in this process."""

    def _read(self, handle, start, stop, out=None):
        """``(jets, labels)`` of rows ``start:stop`` (1 <= stop - start), any
        numeric dtype: :meth:`read` casts them. ``jets`` may be ``out``."""
        raise NotImplementedError


# ---------------------------------------------------------------------------
# checks shared by the openers
# ---------------------------------------------------------------------------

def check_array_shape(shape, dtype, where, components="(E, px, py, pz)", kinds="fiub"):
    """Refuse jets that are not a numeric (N, M, 4) array with M >= 1.

    Parameters
    ----------
    shape : tuple of int
    dtype : numpy.dtype
    where : str
        What the array is, for the message (e.g. ``"array in /x/jets.npy"``).
    components : str
        What the last axis holds, for the message.
    kinds : str
        The numpy dtype kinds accepted (default: float, signed and unsigned
        integer, bool).

    Raises
    ------
    InputError
    """
    shape = tuple(shape)
    if len(shape) != 3 or shape[2] != 4:
        raise InputError(f"{where} has shape {shape}, expected (N, M, 4) with "
                         f"{components} along the last axis")
    if shape[1] < 1:
        raise InputError(f"{where} has shape {shape}: no slots (M = 0)")
    if np.dtype(dtype).kind not in kinds:
        raise InputError(f"{where} has dtype {dtype}, expected a float or integer type")


def check_labels(shape, dtype, n_rows, where):
    """Refuse labels that are not a numeric (n_rows,) array.

    Parameters
    ----------
    shape : tuple of int
    dtype : numpy.dtype
    n_rows : int
        Number of jets N.
    where : str
        What the labels are, for the message (e.g. ``"labels 'y' in /x/a.h5"``).

    Raises
    ------
    InputError
    """
    shape = tuple(shape)
    if len(shape) != 1:
        raise InputError(f"{where} have shape {shape}, expected ({n_rows},)")
    if shape[0] != n_rows:
        raise InputError(f"{where} have {shape[0]} rows but the jets have {n_rows}")
    if np.dtype(dtype).kind not in "fiub":
        raise InputError(f"{where} have dtype {dtype}, expected integers")


def check_slots(n_slots, full, path):
    """The number of slots to read: ``n_slots``, or all ``full`` when None.

    Parameters
    ----------
    n_slots : int or None
        Slots asked for (already checked to be an integer >= 1).
    full : int
        Slots M in the file.
    path : str
        The file, for the message.

    Returns
    -------
    int

    Raises
    ------
    InputError
        ``n_slots`` is more than ``full``.
    """
    if n_slots is None:
        return full
    if n_slots > full:
        raise InputError(f"n_slots={n_slots} is more than the {full} slots in {path}")
    return n_slots


def short_list(names, n=6):
    """The first ``n`` of ``names``, comma-separated, for messages.

    >>> short_list(["a", "b", "c"], n=2)
    'a, b, ...'
    >>> short_list([])
    'none'
    """
    names = [str(v) for v in names]
    if not names:
        return "none"
    return ", ".join(names[:n]) + (", ..." if len(names) > n else "")


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


def zarr_open_array(zarr, store, key):
    """A Zarr array of ``store`` (at ``key``, or the store itself) opened to read, or one line."""
    try:
        if key:
            return zarr.open_array(store=store, path=key, mode="r")
        return zarr.open_array(store=store, mode="r")
    except Exception as exc:  # zarr raises many types for bad stores
        raise InputError(f"cannot open Zarr array '{key or '/'}' in {store}: "
                         f"{exc}") from exc


def npy_header(path):
    """(shape, dtype) from a ``.npy`` header, without reading the data."""
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


def is_zarr(path):
    """Whether the directory ``path`` holds Zarr (v3 or v2) metadata."""
    return any(os.path.exists(os.path.join(path, name))
               for name in ("zarr.json", ".zgroup", ".zarray"))
