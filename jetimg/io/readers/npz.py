"""EnergyFlow's quark/gluon jets (QG_jets*.npz): layout ``"qg-npz"``.

An ``.npz`` (a zip of ``.npy`` members, as ``np.savez`` or
``np.savez_compressed`` write it) holding

* ``X``: (N, M, 4), (pt, y, phi, pid) per particle (GeV, rapidity, rad, PDG
  id), all-zero rows as padding; each released file pads to its own
  largest multiplicity, so files differ in M;
* ``y``: (N,), the labels, 0 gluon and 1 quark (``label_names``).

Four-vectors (float64, then float32): px = pt cos(phi), py = pt sin(phi),
mT = sqrt(pt^2 + m^2), E = mT cosh(y), pz = mT sinh(y), with m the mass of
the PDG id (:func:`jetimg.kinds.masses_from_pdg`); kinds and charges from
the id (:func:`jetimg.kinds.kinds_from_pdg`, :func:`jetimg.kinds.charges_from_pdg`:
``read_kinds`` and ``read_charges`` of the rows just read reuse the ids
that read kept). A particle with a non-finite value gets a NaN four-vector,
so the kernel reports its jet as invalid (the row), or zeroes it with
``invalid="skip"``.

Reading: a stored member (``np.savez``) is read at its offset in the file;
a deflated one (``np.savez_compressed``) can only be decompressed in order,
so each process keeps a few decompressing streams and serves a window from
the stream that stopped at or just before it (a build reads its rows in
order, so each stream decompresses the file about once; see
benchmarks/README.md). Memory stays at the rows asked for: the file is
never decompressed whole.

>>> import os, tempfile
>>> import numpy as np
>>> from jetimg.io.writers.qg import write_qg, toy_qg
>>> path = os.path.join(tempfile.mkdtemp(), "QG_jets.npz")
>>> X, y = toy_qg(20, seed=1)
>>> write_qg(path, X, y)
>>> src = open_qg(path)
>>> src.layout, src.n_rows, src.label_names, src.has_kinds
('qg-npz', 20, ('gluon', 'quark'), True)
>>> jets, labels = src.read(0, 5)
>>> jets.shape == (5, X.shape[1], 4), labels.tolist() == y[:5].tolist()
(True, True)
"""

import struct
import threading
import zipfile

import numpy as np

from jetimg.errors import InputError
from jetimg.io.readers.sources import (JetSource, check_array_shape, check_labels, check_slots,
                               short_list)
from jetimg.kinds import (CHARGE_DTYPE, KIND_DTYPE, charges_from_pdg, kinds_from_pdg,
                          masses_from_pdg)

__all__ = ["LAYOUTS", "LABEL_NAMES", "open_qg", "is_zip", "p4s_from_qg"]

LAYOUTS = ("qg-npz",)
LABEL_NAMES = ("gluon", "quark")
# Decompressing streams kept per process and file (each ~100 kB).
_MAX_STREAMS = 8


def is_zip(head):
    """Whether a file's first bytes are a zip archive's (an ``.npz``)."""
    return head.startswith(b"PK\x03\x04")


def p4s_from_qg(X, kinds=True):
    """Four-vectors and particle kinds of (pt, y, phi, pid) particles.

    Parameters
    ----------
    X : array_like, shape (..., M, 4)
        (pt [GeV], rapidity, phi [rad], PDG id); all-zero rows are padding.
    kinds : bool
        Also give the kinds (False: ``kinds`` is None, which saves time).

    Returns
    -------
    jets : numpy.ndarray
        float32, shape (..., M, 4), (E, px, py, pz) in GeV, computed in
        float64; a particle with a non-finite value is all NaN.
    kinds : numpy.ndarray
        int8, shape (..., M): :func:`jetimg.kinds.kinds_from_pdg` of the id,
        0 where the four-vector is padding (all zero).

    >>> jets, kinds = p4s_from_qg([[[10.0, 0.0, 0.0, 211.0], [0, 0, 0, 0]]])
    >>> [round(float(v), 3) for v in jets[0, 0]], kinds.tolist()
    ([10.001, 10.0, 0.0, 0.0], [[4, 0]])
    """
    X = np.asarray(X, dtype=np.float64)
    pt, rap, phi, pid = X[..., 0], X[..., 1], X[..., 2], X[..., 3]
    mass = masses_from_pdg(pid)
    mt = np.sqrt(pt * pt + mass * mass)
    p4 = np.empty(X.shape, np.float64)
    p4[..., 0] = mt * np.cosh(rap)
    p4[..., 1] = pt * np.cos(phi)
    p4[..., 2] = pt * np.sin(phi)
    p4[..., 3] = mt * np.sinh(rap)
    bad = ~np.isfinite(X).all(axis=-1)
    if bad.any():
        p4[bad] = np.nan
    jets = p4.astype(np.float32)
    if not kinds:
        return jets, None
    return jets, _kinds(pid, (jets == 0).all(axis=-1))


def _kinds(pid, padding):
    kinds = kinds_from_pdg(pid)
    kinds[padding] = 0
    return kinds.astype(KIND_DTYPE, copy=False)


def _charges(pid, padding):
    charges = charges_from_pdg(pid)
    charges[padding] = 0
    return charges.astype(CHARGE_DTYPE, copy=False)


class _Streams:
    """Open decompressing streams of one member, each at a known row."""

    def __init__(self, zf, name, data_offset, row_bytes):
        self.zf, self.name = zf, name
        self.data_offset, self.row_bytes = data_offset, row_bytes
        self.idle = []          # [row, stream] not in use
        self.lock = threading.Lock()
        self.restarts = 0       # streams opened from the start (for benchmarks)

    def take(self, row):
        """A stream positioned at ``row`` (the closest one at or before it)."""
        with self.lock:
            before = [s for s in self.idle if s[0] <= row]
            if before:
                entry = max(before, key=lambda s: s[0])
                self.idle.remove(entry)
            else:
                entry = None
                if len(self.idle) >= _MAX_STREAMS:  # drop the one furthest ahead
                    far = max(self.idle, key=lambda s: s[0])
                    self.idle.remove(far)
                    far[1].close()
                self.restarts += 1
        if entry is None:
            stream = self.zf.open(self.name)
            stream.seek(self.data_offset)
            entry = [0, stream]
        if entry[0] < row:
            entry[1].seek(self.data_offset + row * self.row_bytes)
            entry[0] = row
        return entry

    def give(self, entry):
        with self.lock:
            self.idle.append(entry)

    def close(self):
        with self.lock:
            for _, stream in self.idle:
                stream.close()
            self.idle = []


def _read_exact(fh, buf, what):
    view = memoryview(buf).cast("B")
    got = 0
    while got < len(view):
        n = fh.readinto(view[got:])
        if not n:
            raise InputError(f"{what} ends early: it is truncated")
        got += n


class _QGSource(JetSource):
    layout = "qg-npz"
    label_names = LABEL_NAMES
    has_kinds = True

    def __init__(self, member, header, **kw):
        super().__init__(**kw)
        self._member = member      # (X member, y member, stored, data offset or None)
        self._header = header      # (shape, dtype str, npy header length)
        self._last = None          # (start, stop, pid, padding) of the last read

    def _open(self):
        name, labels_member, stored, _ = self._member
        shape, dtype, npy_len = self._header
        row_bytes = int(np.prod(shape[1:])) * np.dtype(dtype).itemsize
        try:
            zf = zipfile.ZipFile(self.path)
            with zf.open(labels_member) as fh:
                labels = np.lib.format.read_array(fh, allow_pickle=False)
            with zf.open(name) as fh:
                got = _npy_member_header(fh, self.path, name)
        except (OSError, zipfile.BadZipFile, KeyError, ValueError) as exc:
            raise InputError(f"cannot open {self.path}: {exc}") from exc
        if got[:2] != (tuple(shape), np.dtype(dtype)) or labels.shape != (shape[0],):
            zf.close()
            raise InputError(f"{self.path} changed since it was opened: X is no longer "
                             f"{tuple(shape)}")
        if stored:
            return zf, labels, open(self.path, "rb"), row_bytes, threading.Lock()
        return zf, labels, _Streams(zf, name, npy_len, row_bytes), row_bytes, None

    def _close(self, handle):
        zf, _, reader, _, _ = handle
        reader.close()
        zf.close()

    def _raw(self, handle, start, stop):
        _, _, reader, row_bytes, lock = handle
        shape, dtype, _ = self._header
        raw = np.empty((stop - start,) + tuple(shape[1:]), np.dtype(dtype))
        what = f"X in {self.path}"
        if lock is not None:     # stored: read at the offset
            with lock:
                reader.seek(self._member[3] + start * row_bytes)
                _read_exact(reader, raw, what)
        else:
            entry = reader.take(start)
            try:
                _read_exact(entry[1], raw, what)
                entry[0] = stop
            except BaseException:
                entry[1].close()
                raise
            reader.give(entry)
        return raw[:, :self.n_slots]

    def _read(self, handle, start, stop, out=None):
        raw = self._raw(handle, start, stop)
        jets, _ = p4s_from_qg(raw, kinds=False)
        # kept for read_kinds of the same rows: a deflated file cannot seek back
        self._last = (start, stop, raw[..., 3].copy(), (jets == 0).all(axis=-1))
        return jets, handle[1][start:stop]

    def read_kinds(self, start, stop):
        return _kinds(*self._pid_column(start, stop))

    def read_charges(self, start, stop):
        return _charges(*self._pid_column(start, stop))

    def _pid_column(self, start, stop):
        """``(pid, padding)`` of rows ``start:stop``: kept by the last :meth:`read`
        of these rows, else read again."""
        last = self._last
        if last is not None and last[:2] == (start, stop):
            return last[2], last[3]
        if not 0 <= start <= stop <= self.n_rows:
            raise InputError(f"rows {start}:{stop} are outside [0, {self.n_rows}] "
                             f"of {self.path}")
        if start == stop:
            return np.zeros((0, self.n_slots)), np.zeros((0, self.n_slots), bool)
        raw = self._raw(self._opened(), start, stop)
        jets, _ = p4s_from_qg(raw, kinds=False)
        pid, padding = raw[..., 3].copy(), (jets == 0).all(axis=-1)
        self._last = (start, stop, pid, padding)
        return pid, padding

    def __getstate__(self):
        state = super().__getstate__()
        state["_last"] = None
        return state


def _npy_member_header(fh, path, name):
    """(shape, dtype, header length) of a ``.npy`` member, read from its start."""
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
    except ValueError as exc:
        raise InputError(f"member {name} of {path} is not a readable .npy array: "
                         f"{exc}") from exc
    if fortran and len(shape) > 1:
        raise InputError(f"member {name} of {path} is in Fortran order; save it "
                         "C-ordered (np.ascontiguousarray)")
    return tuple(shape), dtype, fh.tell()


def _stored_offset(path, info, npy_len):
    """Absolute offset in the file of a stored member's array data."""
    with open(path, "rb") as fh:
        fh.seek(info.header_offset)
        local = fh.read(30)
    if len(local) != 30 or local[:4] != b"PK\x03\x04":
        raise InputError(f"{path} is a damaged zip file (member {info.filename})")
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    return info.header_offset + 30 + name_len + extra_len + npy_len


def open_qg(path, key=None, labels_key=None, n_slots=None):
    """Check an EnergyFlow quark/gluon ``.npz`` file; return its source.

    Parameters
    ----------
    path : str
        Absolute path of the ``.npz`` file.
    key : str, optional
        The particles' member (default ``"X"``).
    labels_key : str, optional
        The labels' member (default ``"y"``).
    n_slots : int, optional
        Slots to read; default all M.

    Returns
    -------
    JetSource
        Of layout ``"qg-npz"``, with kinds and ``label_names`` ("gluon", "quark").

    Raises
    ------
    InputError
        Not a zip file, X or y missing, X not (N, M, 4), y not (N,).
    """
    key = "X" if key is None else key
    labels_key = "y" if labels_key is None else labels_key
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path} is not a readable .npz (zip) file: {exc}") from exc
    with zf:
        names = zf.namelist()
        members = {n[:-4] if n.endswith(".npy") else n: n for n in names}
        for want, what in ((key, "particles (pt, y, phi, pid)"), (labels_key, "labels")):
            if want not in members:
                raise InputError(f"{path} has no array '{want}' (the {what} of a "
                                 f"quark/gluon file); it holds: "
                                 f"{short_list(sorted(members))}")
        info = zf.getinfo(members[key])
        if info.flag_bits & 0x1:
            raise InputError(f"{path}: member {info.filename} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise InputError(f"{path}: member {info.filename} is compressed with zip "
                             f"method {info.compress_type}; only stored and deflated "
                             "(np.savez, np.savez_compressed) are read")
        try:
            with zf.open(info) as fh:
                shape, dtype, npy_len = _npy_member_header(fh, path, info.filename)
            with zf.open(members[labels_key]) as fh:
                lshape, ldtype, _ = _npy_member_header(fh, path, members[labels_key])
        except (OSError, zipfile.BadZipFile, RuntimeError) as exc:
            raise InputError(f"cannot read {path}: {exc}") from exc
    check_array_shape(shape, dtype, f"X ('{key}') in {path}", components="(pt, y, phi, pid)",
                      kinds="fiu")
    check_labels(lshape, ldtype, shape[0], f"labels '{labels_key}' in {path}")
    n_slots = check_slots(n_slots, shape[1], path)
    stored = info.compress_type == zipfile.ZIP_STORED
    offset = _stored_offset(path, info, npy_len) if stored else None
    return _QGSource(member=(info.filename, members[labels_key], stored, offset),
                     header=(tuple(shape), np.dtype(dtype).str, npy_len),
                     path=path, key=key, labels_key=labels_key, n_rows=shape[0],
                     n_slots=n_slots, compression="" if stored else "deflate")

