"""Several input files as one input: :func:`open_inputs` and :class:`MultiSource`.

An input is one path, a list of paths, or a glob pattern (``"train/*.h5"``,
expanded here and sorted by full path; a list may mix paths and patterns,
each pattern's matches in their sorted place). The files must share one
layout family (the top-tagging pandas frames, plain arrays, ...) and one set
of ``label_names``; their rows follow each other in the order given, so row n
of the input is row n of the concatenation. Files may differ in M (padding
width): every file is read padded with zero slots to the largest M.

:class:`MultiSource` is a :class:`~jetimg.io.readers.sources.JetSource` over the
files: ``read(start, stop)`` reads across file boundaries, so build tasks
follow the store's chunks, never the files (no two tasks write one chunk).
It pickles as its parts do, by path.

Examples
--------
>>> import os, tempfile
>>> import numpy as np
>>> from jetimg.io.readers.multi import open_inputs
>>> tmp = tempfile.mkdtemp()
>>> np.save(os.path.join(tmp, "a.npy"), np.ones((3, 2, 4), np.float32))
>>> np.save(os.path.join(tmp, "b.npy"), np.ones((4, 5, 4), np.float32))
>>> src = open_inputs(os.path.join(tmp, "*.npy"))
>>> src.n_rows, src.n_slots, [os.path.basename(p) for p in src.paths]
(7, 5, ['a.npy', 'b.npy'])
>>> jets, labels = src.read(2, 5)
>>> jets[0, :, 0].tolist(), jets[1, :, 0].tolist()
([1.0, 1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0, 1.0])
"""

import bisect
import glob
import operator
import os

import numpy as np

from jetimg.errors import InputError
from jetimg.io.readers.jagged import jagged_width, pad_jagged
from jetimg.io.readers.layouts import open_jets
from jetimg.io.readers.sources import JetSource

__all__ = ["open_inputs", "expand_inputs", "MultiSource", "input_names", "layout_family"]

_GLOB_CHARS = frozenset("*?[")

# Layouts that are one input layout in several containers.
_FAMILIES = {"pandas-fixed": "top-tagging (pandas HDF5)",
             "pandas-table": "top-tagging (pandas HDF5)",
             "hdf5-array": "plain (N, M, 4) array", "zarr-array": "plain (N, M, 4) array",
             "npy": "plain (N, M, 4) array"}


def layout_family(layout):
    """The input layout a reader's ``layout`` belongs to (files of one family mix).

    >>> layout_family("npy") == layout_family("hdf5-array")
    True
    """
    return _FAMILIES.get(layout, layout)


def expand_inputs(inputs):
    """The input files of ``inputs``: one path, a glob pattern, or a list of both.

    Parameters
    ----------
    inputs : str, os.PathLike or sequence of them
        A pattern (``*``, ``?`` or ``[`` in a name that does not exist as
        given) is expanded and its matches sorted by full path.

    Returns
    -------
    list of str
        Absolute paths, in input order.

    Raises
    ------
    InputError
        No input, or a pattern that matches nothing.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    paths = []
    for item in inputs:
        text = os.fspath(item)
        if _GLOB_CHARS & set(text) and not os.path.exists(text):
            matches = sorted(os.path.abspath(p) for p in glob.glob(os.path.expanduser(text)))
            if not matches:
                raise InputError(f"no input file matches the pattern {text}")
            paths += matches
        else:
            paths.append(os.path.abspath(os.path.expanduser(text)))
    if not paths:
        raise InputError("no input file given")
    return paths


def input_names(source):
    """The store's ``input`` attribute: the file name, or the list of names."""
    paths = getattr(source, "paths", None)
    if paths is None:
        return os.path.basename(source.path)
    return [os.path.basename(p) for p in paths]


def open_inputs(inputs, key=None, labels_key=None, n_slots=None, pid_key=None):
    """Open one input file, or several as one (see the module docstring).

    Parameters
    ----------
    inputs : str, os.PathLike or sequence of them
        Paths and glob patterns (:func:`expand_inputs`).
    key, labels_key, n_slots, pid_key
        As for :func:`jetimg.io.open_jets`, applied to every file.

    Returns
    -------
    JetSource
        The file's own source for one file, else a :class:`MultiSource`.

    Raises
    ------
    InputError
        A file cannot be opened; a pattern matches nothing; two files differ
        in layout, in having labels, or in ``label_names`` (both named).
    """
    paths = expand_inputs(inputs)
    parts = [open_jets(p, key=key, labels_key=labels_key, n_slots=n_slots, pid_key=pid_key)
             for p in paths]
    if len(parts) == 1:
        return parts[0]
    return MultiSource(parts)


class MultiSource(JetSource):
    """Several :class:`JetSource` of one layout read as one, rows in order.

    Attributes
    ----------
    parts : tuple of JetSource
    paths : tuple of str
        The files, in row order.
    offsets : tuple of int
        First row of each part, and the total rows last.
    """

    def __init__(self, parts):
        parts = tuple(parts)
        if len(parts) < 2:
            raise InputError("a MultiSource needs two files or more")
        first = parts[0]
        for part in parts[1:]:
            what = None
            if layout_family(part.layout) != layout_family(first.layout):
                what = (f"layouts: {layout_family(first.layout)} and "
                        f"{layout_family(part.layout)}")
            elif part.has_labels != first.has_labels:
                what = ("labels: " + ("with labels and without" if first.has_labels
                                      else "without labels and with"))
            elif _names(part) != _names(first):
                what = (f"label_names: {_show(first.label_names)} and "
                        f"{_show(part.label_names)}")
            if what is not None:
                raise InputError(f"input files {first.path} and {part.path} cannot be one "
                                 f"input: they differ in {what}")
        offsets = [0]
        for part in parts:
            offsets.append(offsets[-1] + part.n_rows)
        super().__init__(path=first.path, key=first.key, labels_key=first.labels_key,
                         n_rows=offsets[-1], n_slots=max(p.n_slots for p in parts),
                         compression=first.compression)
        self.parts = parts
        self.paths = tuple(p.path for p in parts)
        self.offsets = tuple(offsets)
        self.layout = first.layout
        self.label_names = _names(first)
        self.has_kinds = all(p.has_kinds for p in parts)
        #: files of jagged rows (JetClass ROOT): read as a jagged source too
        self.jagged = first.jagged

    def _pieces(self, start, stop):
        """(part, part start, part stop, row in the window) of rows start:stop."""
        i = bisect.bisect_right(self.offsets, start) - 1
        row = start
        while row < stop:
            part, base = self.parts[i], self.offsets[i]
            hi = min(stop, self.offsets[i + 1])
            if hi > row:
                yield part, row - base, hi - base, row - start
            row = max(row, hi)
            i += 1

    def read(self, start, stop, out=None):
        """Rows ``start:stop`` across the files (see :meth:`JetSource.read`);
        a file of fewer slots than :attr:`n_slots` is padded with zeros."""
        start, stop = operator.index(start), operator.index(stop)
        if not 0 <= start <= stop <= self.n_rows:
            raise InputError(f"rows {start}:{stop} are outside [0, {self.n_rows}] "
                             f"of the {len(self.parts)} input files {self._where()}")
        n = stop - start
        if self.jagged:  # each window padded to its own largest multiplicity, as each file's
            offsets, p4s, labels = self.read_flat(start, stop)
            m = jagged_width(offsets)
            if out is not None and (not isinstance(out, np.ndarray) or out.shape != (n, m, 4)):
                out = None
            return pad_jagged(offsets, p4s, out), labels
        m = self.n_slots
        if out is not None and (not isinstance(out, np.ndarray) or out.dtype != np.float32
                                or out.shape != (n, m, 4)
                                or not out.flags.c_contiguous or not out.flags.writeable):
            raise InputError(f"out must be a writeable C-contiguous float32 array of shape "
                             f"{(n, m, 4)}")
        jets = np.empty((n, m, 4), np.float32) if out is None else out
        labels = np.empty(n, np.int8) if self.has_labels else None
        for part, a, b, at in self._pieces(start, stop):
            rows = jets[at:at + b - a]
            if part.n_slots == m:
                _, lab = part.read(a, b, out=rows)
            else:
                block, lab = part.read(a, b)
                rows[:, :part.n_slots] = block
                rows[:, part.n_slots:] = 0
            if labels is not None:
                labels[at:at + b - a] = lab
        return jets, labels

    def read_flat(self, start, stop, kinds=False, charges=False):
        """Rows ``start:stop`` of jagged files, unpadded: ``(offsets, p4s, labels)``
        as each file's ``read_flat`` gives them, joined across files (then the
        particles' kinds with ``kinds=True``, and their charges with ``charges=True``)."""
        start, stop = operator.index(start), operator.index(stop)
        if not 0 <= start <= stop <= self.n_rows:
            raise InputError(f"rows {start}:{stop} are outside [0, {self.n_rows}] "
                             f"of the {len(self.parts)} input files {self._where()}")
        if kinds and not self.has_kinds:
            self.read_kinds(start, stop)  # raises, naming the file without kinds
        if charges and not self.has_kinds:
            self.read_charges(start, stop)  # likewise
        asked = {"kinds": bool(kinds), "charges": bool(charges)}
        offsets, p4s, labels, values, base = [np.zeros(1, np.int64)], [], [], [], 0
        for part, a, b, _ in self._pieces(start, stop):
            o, q, lab, *v = (part.read_flat(a, b, **asked) if kinds or charges
                             else part.read_flat(a, b))
            offsets.append(o[1:] + base)
            base += int(o[-1])
            p4s.append(q)
            labels.append(lab)
            values.append(v)
        offsets = np.concatenate(offsets)
        p4s = np.concatenate(p4s) if p4s else np.zeros((0, 4), np.float32)
        labels = (None if not self.has_labels
                  else np.concatenate(labels) if labels else np.zeros(0, np.int8))
        joined = [np.concatenate([v[j] for v in values]) if values else np.zeros(0, np.int8)
                  for j in range(sum(asked.values()))]
        return (offsets, p4s, labels, *joined)

    def read_kinds(self, start, stop):
        """The particle kinds of rows ``start:stop`` across the files, padded with 0."""
        return self._read_slots(start, stop, "kinds")

    def read_charges(self, start, stop):
        """The particle charges of rows ``start:stop`` across the files, padded with 0."""
        return self._read_slots(start, stop, "charges")

    def _read_slots(self, start, stop, what):
        """One int8 value per slot (``what``: "kinds" or "charges") of rows
        ``start:stop``, each file's padded to the common width."""
        if not self.has_kinds:
            without = next(p for p in self.parts if not p.has_kinds)
            raise InputError(f"{without.path} carries no particle identity ({what}): "
                             f"its layout {without.layout!r} has none")
        start, stop = operator.index(start), operator.index(stop)
        if not 0 <= start <= stop <= self.n_rows:
            raise InputError(f"rows {start}:{stop} are outside [0, {self.n_rows}] "
                             f"of the input files {self._where()}")
        blocks = [(at, getattr(part, f"read_{what}")(a, b))
                  for part, a, b, at in self._pieces(start, stop)]
        width = self.n_slots
        if self.jagged:
            width = max((block.shape[1] for _, block in blocks), default=0)
        values = np.zeros((stop - start, width), np.int8)
        for at, block in blocks:
            values[at:at + len(block), :block.shape[1]] = block
        return values

    def describe(self):
        """One line: the files, their layout, rows and slots."""
        labels = f"labels '{self.labels_key}'" if self.has_labels else "no labels"
        return (f"{len(self.parts)} files {self._where()}: {self.layout}, {self.n_rows} jets x "
                f"{self.n_slots} slots (E, px, py, pz), {labels}")

    def close(self):
        """Close every file this process holds open."""
        for part in self.parts:
            part.close()

    def __repr__(self):
        return f"<MultiSource {self.describe()}>"

    def _where(self):
        names = [os.path.basename(p) for p in self.paths]
        shown = ", ".join(names[:3]) + (f", ... ({len(names)} in all)" if len(names) > 3 else "")
        return f"({shown})"


def _names(source):
    names = source.label_names
    return None if names is None else tuple(str(v) for v in names)


def _show(names):
    return "none" if names is None else "[" + ", ".join(names) + "]"
