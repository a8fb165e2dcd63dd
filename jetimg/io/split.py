"""Training, validation and test samples from one input: :func:`split`.

Every row of the input goes to exactly one part. For each class (the
labels' values; the whole input is one class when it has no labels) the
rows of the class are counted into the parts by the largest remainder of
``n_class * fraction`` (so the counts are exact and add up to ``n_class``),
and which rows go where is drawn by a seeded permutation
(``numpy.random.default_rng(seed)``, classes in increasing order). Within a
part the rows keep their input order, unless ``shuffle=True`` (a seeded
permutation of the rows of each file written).

Each part is a folder ``output/<name>/`` holding one file per input file,
under the input file's own name and in its own layout, every column, branch
or array of the input copied: a top-tagging HDFStore keeps its format
("fixed" or "table"), compression, index and every column (``truth_*``,
``ttv``, ...); a JetClass ROOT file keeps its tree and every branch; a
quark/gluon ``.npz`` keeps its members, stored or deflated; a plain HDF5
file keeps every dataset with a row per jet (jets, labels, ``pid``, ...)
cut by rows, the others whole, with their attributes (``label_names``); a
plain-array Zarr store the same, each array keeping its Zarr format, chunks,
shards and codecs; a ``.npy`` input (or a Zarr store of one array) also gets
its labels and PDG-id files (stores), under their own names. Every reader,
label and kind rule therefore applies to a part as to its input, and a
build of a part equals the matching rows of a build of the whole.

Beside the parts, ``output/split.json`` records the inputs, the fractions,
seed and counts, and ``output/<name>_rows.npy`` maps each row of a part (in
the order of its files, then of their rows) to the input: a structured
array with fields ``row`` (the row of the whole input), ``file`` (the input
file's position in ``split.json``'s ``inputs``) and ``file_row`` (the row
in that file).

Rows are copied chunk by chunk (``chunk_rows``): memory is bounded by a chunk
and the assignment (about 30 bytes per input row), never by the input. The
input is read once, shuffled or not: a shuffle is a two-pass external
shuffle through temporary files (see :func:`_copy_shuffled`) that hold the
rows of one input file once, uncompressed, until its parts are written. The
parts are written to a temporary folder beside ``output`` and renamed when
complete, so a failed split leaves nothing that looks finished.

Examples
--------
>>> import os, tempfile
>>> import numpy as np
>>> from jetimg.io.split import split
>>> tmp = tempfile.mkdtemp()
>>> rng = np.random.default_rng(0)
>>> np.save(os.path.join(tmp, "jets.npy"), rng.random((10, 3, 4), dtype=np.float32))
>>> np.save(os.path.join(tmp, "labels.npy"), np.array([0] * 5 + [1] * 5, np.int8))
>>> result = split(os.path.join(tmp, "jets.npy"), os.path.join(tmp, "parts"),
...                fractions=(0.6, 0.4), labels_key="labels.npy", seed=1)
>>> result.rows
{'train': 6, 'test': 4}
>>> result.class_counts["test"]
{0: 2, 1: 2}
>>> sorted(os.listdir(os.path.join(tmp, "parts", "test")))
['jets.npy', 'labels.npy']
"""

import dataclasses
import fractions as _fractions
import json
import math
import numbers
import os
import shutil
import tempfile
import time
import zipfile

import numpy as np

from jetimg.checks import integer
from jetimg.errors import InputError, JetimgError, OutputExistsError

__all__ = ["split", "SplitResult", "largest_remainder", "assign_parts", "DEFAULT_NAMES",
           "MAP_FILE", "ROWS_DTYPE"]

#: part names for two and three fractions when none are given
DEFAULT_NAMES = {2: ("train", "test"), 3: ("train", "val", "test")}
#: the record of a split, in its output folder
MAP_FILE = "split.json"
#: one record per row of a part: its row in the whole input, its file and row there
ROWS_DTYPE = np.dtype([("row", "<i8"), ("file", "<i4"), ("file_row", "<i8")])
CHUNK_ROWS = 20_000
_TOLERANCE = 1e-6


@dataclasses.dataclass(frozen=True)
class SplitResult:
    """What :func:`split` wrote.

    Attributes
    ----------
    output : str
        The output folder.
    names : tuple of str
        The parts, in the order of the fractions.
    files : dict
        Part name -> tuple of the files written (absolute paths; one per
        input file, plus the labels and PDG-id files of a ``.npy`` input).
    rows : dict
        Part name -> rows in the part.
    class_counts : dict
        Part name -> {class label: rows} (label 0 holds every row of an
        input without labels).
    label_names : tuple of str or None
        The class names of the labels, when the input says them.
    seconds : float
    """

    output: str
    names: tuple
    files: dict
    rows: dict
    class_counts: dict
    label_names: tuple = None
    seconds: float = 0.0


def largest_remainder(n, fractions):
    """Counts of ``n`` items in parts of ``fractions``: floors, then the
    remainders, largest first (ties to the earlier part).

    Parameters
    ----------
    n : int
    fractions : sequence of numbers
        Positive; normalised to sum to 1.

    Returns
    -------
    list of int
        Summing to ``n``.

    >>> largest_remainder(10, (0.6, 0.2, 0.2))
    [6, 2, 2]
    >>> largest_remainder(7, (0.6, 0.2, 0.2))    # quotas 4.2, 1.4, 1.4
    [4, 2, 1]
    """
    fracs = [_fractions.Fraction(str(f)) if isinstance(f, float) else _fractions.Fraction(f)
             for f in fractions]
    total = sum(fracs)
    quotas = [n * f / total for f in fracs]
    counts = [math.floor(q) for q in quotas]
    left = n - sum(counts)
    order = sorted(range(len(quotas)), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in order[:left]:
        counts[i] += 1
    return counts


def assign_parts(labels, n_rows, fractions, seed):
    """The part of every input row: per class, counts by largest remainder,
    rows drawn by a seeded permutation.

    Parameters
    ----------
    labels : numpy.ndarray or None
        (n_rows,) class labels; None: all rows one class.
    n_rows : int
    fractions : sequence of numbers
    seed : int

    Returns
    -------
    numpy.ndarray
        int8 (n_rows,): the part index of each row.

    >>> part = assign_parts(np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1]), 10, (0.5, 0.5), seed=0)
    >>> np.bincount(part[:4]).tolist(), np.bincount(part[4:]).tolist()
    ([2, 2], [3, 3])
    """
    rng = np.random.default_rng(seed)
    part = np.empty(n_rows, np.int8)
    classes = [None] if labels is None else np.unique(labels)
    for cls in classes:
        rows = np.arange(n_rows) if cls is None else np.flatnonzero(labels == cls)
        bounds = np.cumsum([0] + largest_remainder(len(rows), fractions))
        drawn = rows[rng.permutation(len(rows))]
        for p in range(len(fractions)):
            part[drawn[bounds[p]:bounds[p + 1]]] = p
    return part


def split(inputs, output, fractions=(0.6, 0.2, 0.2), seed=0, names=None, shuffle=False,
          key=None, labels_key=None, pid_key=None, overwrite=False, chunk_rows=CHUNK_ROWS):
    """Split an input into parts (training, validation, test), each in the input's layout.

    See the module docstring (and docs/building.md, "Splitting an input")
    for the rules: exact per-class counts by largest remainder, a seeded
    assignment, input order kept in each part, every column copied.

    Parameters
    ----------
    inputs : str, os.PathLike or sequence of them
        One file, several, or a glob pattern, as :func:`jetimg.build` takes
        them (``"JetClass/train/*.root"``).
    output : str or os.PathLike
        The folder to write: ``output/<name>/<input file name>`` per part
        and input file, ``output/<name>_rows.npy`` and ``output/split.json``.
    fractions : sequence of float
        The share of each part, positive, summing to 1 (within 1e-6).
    seed : int
        Seed of the assignment (and of the shuffle), >= 0.
    names : sequence of str, optional
        The parts' names; default ``train, val, test`` for three fractions,
        ``train, test`` for two, ``part0, part1, ...`` otherwise.
    shuffle : bool
        Shuffle the rows within each file of a part (seeded); default the
        input order. The input is still read once; the rows of the input
        file being copied are held in temporary files in the hidden output
        folder (uncompressed) until its parts are written.
    key, labels_key, pid_key : str, optional
        As for :func:`jetimg.open_jets`: where the jets, labels and PDG ids
        are (the same names then open each part).
    overwrite : bool
        Replace an existing, non-empty ``output`` once the new parts are complete.
    chunk_rows : int
        Rows read and written at a time.

    Returns
    -------
    SplitResult

    Raises
    ------
    InputError
        Bad fractions, names or seed; an input that cannot be read or copied.
    OutputExistsError
        ``output`` exists, is not empty and ``overwrite`` is false.

    Examples
    --------
    >>> import os, tempfile
    >>> from jetimg.data import sample_path
    >>> out = os.path.join(tempfile.mkdtemp(), "parts")
    >>> result = split(sample_path(), out, fractions=(0.6, 0.2, 0.2), seed=1)
    >>> result.rows, result.class_counts["val"]
    ({'train': 2400, 'val': 800, 'test': 800}, {0: 400, 1: 400})
    >>> os.listdir(os.path.join(out, "val"))
    ['sample_jets.h5']
    """
    from jetimg.io.readers.multi import expand_inputs, open_inputs

    started = time.perf_counter()
    fracs = _check_fractions(fractions)
    names = _check_names(names, len(fracs))
    seed = integer("seed", seed, minimum=0)
    chunk_rows = integer("chunk_rows", chunk_rows)
    if not isinstance(shuffle, bool):
        raise InputError(f"shuffle={shuffle!r} must be True or False")
    shown = os.fspath(output)
    output = os.path.abspath(shown)
    paths = expand_inputs(inputs)
    _check_output(output, shown, overwrite, paths)
    source = open_inputs(paths, key=key, labels_key=labels_key, pid_key=pid_key)
    files = list(getattr(source, "parts", [source]))
    base = [os.path.basename(f.path) for f in files]
    dupes = sorted({b for b in base if base.count(b) > 1})
    if dupes:
        raise InputError(f"input files share the name {dupes[0]}: each part holds one file "
                         "per input file under its own name, so the names must differ")
    copiers = [_copier(f) for f in files]   # refuses layouts it cannot copy, up front
    try:
        labels = _all_labels(files, chunk_rows)
        part_of = assign_parts(labels, source.n_rows, fracs, seed)
        parent = os.path.dirname(output)
        tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(output)}.", suffix=".split",
                               dir=parent)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o777 & ~mask)   # a folder as any other, not mkdtemp's private one
        try:
            written = _write_parts(tmp, names, files, copiers, part_of, shuffle, seed,
                                   chunk_rows)
            counts = {}
            for p, name in enumerate(names):
                mine = part_of == p
                if labels is None:
                    counts[name] = {0: int(mine.sum())} if mine.any() else {}
                else:
                    values, n = np.unique(labels[mine], return_counts=True)
                    counts[name] = {int(v): int(c) for v, c in zip(values, n)}
            rows = {name: int((part_of == p).sum()) for p, name in enumerate(names)}
            label_names = source.label_names if labels is not None else None
            _write_record(tmp, source, files, names, fracs, seed, shuffle, written, rows,
                          counts, label_names)
            _replace(tmp, output)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    finally:
        for c in copiers:
            c.close()
        source.close()
    files_out = {name: tuple(os.path.join(output, rel) for rel in written[name])
                 for name in names}
    return SplitResult(output=output, names=names, files=files_out, rows=rows,
                       class_counts=counts,
                       label_names=None if label_names is None else tuple(label_names),
                       seconds=time.perf_counter() - started)


# ---------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------

def _show(values):
    return ",".join(str(v) for v in values)


def _check_fractions(fractions):
    try:
        values = list(fractions)
    except TypeError:
        raise InputError(f"fractions={fractions!r} must be a list of numbers, e.g. "
                         "0.6,0.2,0.2") from None
    if len(values) < 2:
        raise InputError(f"fractions={_show(values)} must give at least two parts, e.g. "
                         "0.6,0.2,0.2")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) \
                or v <= 0:
            raise InputError(f"fractions={_show(values)}: each must be a number > 0, "
                             f"not {v!r}")
    total = float(sum(values))
    if abs(total - 1) > _TOLERANCE:
        raise InputError(f"fractions={_show(values)} sum to {total:g}, not 1")
    return tuple(values)


def _check_names(names, k):
    if names is None:
        return DEFAULT_NAMES.get(k, tuple(f"part{i}" for i in range(k)))
    names = (names.split(",") if isinstance(names, str) else list(names))
    names = tuple(str(n) for n in names)
    if len(names) != k:
        raise InputError(f"names={_show(names)} gives {len(names)} names for {k} fractions")
    for n in names:
        if not n or n in (".", "..") or "/" in n or os.sep in n or n.startswith(".") \
                or n == MAP_FILE:
            raise InputError(f"names={_show(names)}: {n!r} cannot name a part's folder "
                             "(empty, a path, hidden or split.json)")
    if len(set(names)) != k:
        raise InputError(f"names={_show(names)} repeats a name")
    return names


def _check_output(output, shown, overwrite, paths):
    """Refuse an output that is a file, holds an input, or is not empty (without
    ``overwrite``), or whose folder cannot be written; ``shown`` as the user gave it."""
    if os.path.exists(output) or os.path.islink(output):
        if not os.path.isdir(output):
            raise JetimgError(f"output {shown} is a file; split writes a folder")
        inside = [p for p in paths if os.path.commonpath([output, p]) == output]
        if inside:
            raise InputError(f"output {shown} holds the input {inside[0]}; write the parts "
                             "to another folder")
        if os.listdir(output) and not overwrite:
            raise OutputExistsError(f"output {shown} exists and is not empty; use "
                                    "overwrite=True to replace it")
    parent = os.path.dirname(output)
    if not os.path.isdir(parent):
        raise JetimgError(f"cannot write {shown}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise JetimgError(f"cannot write {shown}: folder {parent} is not writable")


def _replace(tmp, output):
    """Put the finished ``tmp`` at ``output`` (an existing one is removed only then)."""
    old = None
    if os.path.isdir(output):
        old = tempfile.mkdtemp(prefix=f".{os.path.basename(output)}.", suffix=".old",
                               dir=os.path.dirname(output))
        os.rmdir(old)
        os.rename(output, old)
    os.rename(tmp, output)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------------------
# the assignment and the copy
# ---------------------------------------------------------------------------

def _all_labels(files, chunk_rows):
    """The labels of every row of the input (int8), or None without labels (each
    file's :meth:`~jetimg.io.readers.sources.JetSource.read_labels`: a ROOT file
    reads its label branches only)."""
    if not files[0].has_labels:
        return None
    out = []
    for f in files:
        for a in range(0, f.n_rows, chunk_rows):
            b = min(a + chunk_rows, f.n_rows)
            out.append(f.read_labels(a, b))
    return np.concatenate(out) if out else np.zeros(0, np.int8)


def _write_parts(tmp, names, files, copiers, part_of, shuffle, seed, chunk_rows):
    """Copy the rows of every input file into its file in each part; write the row maps."""
    from jetimg.io.writers.appenders import NpyAppender

    shuffler = np.random.default_rng([seed, 1])
    k = len(names)
    written = {name: [] for name in names}
    maps = [NpyAppender(os.path.join(tmp, f"{name}_rows.npy"), int((part_of == p).sum()), (),
                        ROWS_DTYPE) for p, name in enumerate(names)]
    for name in names:
        os.mkdir(os.path.join(tmp, name))
    writers = []
    try:
        offset = 0
        for fi, (f, copier) in enumerate(zip(files, copiers)):
            n = f.n_rows
            mine = part_of[offset:offset + n]
            rows = [np.flatnonzero(mine == p) for p in range(k)]
            if shuffle:
                rows = [r[shuffler.permutation(len(r))] for r in rows]
            writers = []
            for p, name in enumerate(names):
                writers.append(copier.writer(os.path.join(tmp, name), len(rows[p])))
                written[name] += [os.path.join(name, b) for b in copier.outputs]
                record = np.empty(len(rows[p]), ROWS_DTYPE)
                record["row"], record["file"], record["file_row"] = rows[p] + offset, fi, rows[p]
                maps[p].append(record)
            if shuffle:
                _copy_shuffled(copier, rows, writers, n, chunk_rows,
                               os.path.join(tmp, f".shuffle{fi}"))
            else:
                for a in range(0, max(n, 1), chunk_rows):
                    b = min(a + chunk_rows, n)
                    block = copier.window(a, b)
                    for p in range(k):
                        i0, i1 = np.searchsorted(rows[p], (a, b))
                        writers[p].append(_take(block, rows[p][i0:i1] - a))
            for w in writers:
                w.close()
            writers = []
            offset += n
        for m in maps:
            m.close()
    except BaseException:
        for w in writers + maps:
            w.abort()
        raise
    return {name: tuple(v) for name, v in written.items()}


def _copy_shuffled(copier, rows, writers, n, chunk_rows, folder):
    """Each part's rows in their shuffled order, by a two-pass external shuffle.

    ``rows[p]`` lists the input rows of part ``p`` in their shuffled order.
    That order is cut into buckets of ``chunk_rows`` consecutive positions.
    Pass 1 reads the input once, window by window in input order, and appends
    the rows of each window to their buckets' files in ``folder`` (so a
    bucket's file holds its rows in input order); pass 2 reads each bucket's
    file whole (at most ``chunk_rows`` rows), puts its rows in their shuffled
    order and appends them to the part. Memory stays at a window and a
    bucket; the input is read once and the temporary files hold it once.

    A bucket's file is a stream of ``.npy`` records (:func:`_pack`: the
    window's columns as plain NumPy arrays, jagged branches as counts and
    contents), opened for each append and closed at once: one file is open
    at a time, however many buckets there are.
    """
    buckets = []   # per part: (bucket of each row in input order, those rows)
    for p, shuffled in enumerate(rows):
        order = np.argsort(shuffled, kind="stable")
        buckets.append((order // chunk_rows, shuffled[order]))
    os.mkdir(folder)
    spec = None   # how every window packs: the same for the whole input
    path = lambda p, j: os.path.join(folder, f"{p}_{j}.npys")   # noqa: E731
    for a in range(0, n, chunk_rows):
        b = min(a + chunk_rows, n)
        block = None
        for p, (bucket, ordered) in enumerate(buckets):
            i0, i1 = np.searchsorted(ordered, (a, b))
            if i0 == i1:
                continue
            if block is None:
                block = copier.window(a, b)
            mine = bucket[i0:i1]
            by_bucket = np.argsort(mine, kind="stable")   # input order within a bucket
            packed = _pack(_take(block, ordered[i0:i1][by_bucket] - a))
            spec = packed[0], len(packed[1])
            mine = mine[by_bucket]
            cuts = np.flatnonzero(np.diff(mine)) + 1
            for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(mine)]):
                with open(path(p, int(mine[lo])), "ab") as fh:
                    for arr in _slice_packed(packed, int(lo), int(hi)):
                        np.lib.format.write_array(fh, arr, allow_pickle=True)
    for p, shuffled in enumerate(rows):
        if not len(shuffled):
            writers[p].append(_take(copier.window(0, 0), np.zeros(0, np.int64)))
        for j, lo in enumerate(range(0, len(shuffled), chunk_rows)):
            chunk = shuffled[lo:lo + chunk_rows]
            block = _read_bucket(path(p, j), *spec)
            os.remove(path(p, j))
            back = np.empty(len(chunk), np.int64)
            back[np.argsort(chunk, kind="stable")] = np.arange(len(chunk))
            writers[p].append(_take(block, back))
    os.rmdir(folder)


def _pack(block):
    """A block as plain NumPy arrays: ``(how, arrays)``.

    ``arrays`` are row arrays (one row per input row) and, for a jagged
    awkward array, its counts (a row array) then its flat contents; ``how``
    says how :func:`_unpack` rebuilds the block. A DataFrame is its index then
    one 2-D array per dtype of its columns (a column that NumPy cannot hold
    as numbers is kept as objects, pickled in the record).
    """
    if isinstance(block, dict):
        import awkward as ak

        how, arrays = [], []
        for k, v in block.items():
            if isinstance(v, np.ndarray):
                how.append((k, "numpy"))
                arrays.append(v)
            elif isinstance(v.type.content, ak.types.ListType):
                how.append((k, "jagged"))
                arrays += [ak.to_numpy(ak.num(v, axis=1)).astype(np.int64),
                           ak.to_numpy(ak.flatten(v, axis=1))]
            else:
                how.append((k, "awkward"))
                arrays.append(ak.to_numpy(v))
        return how, arrays
    groups = {}
    for i, dtype in enumerate(block.dtypes):
        groups.setdefault(dtype if isinstance(dtype, np.dtype) else np.dtype(object),
                          []).append(i)
    arrays = [np.asarray(block.index)]
    for dtype, where in groups.items():
        arrays.append(block.iloc[:, where].to_numpy(dtype=dtype))
    how = ("frame", block.columns, block.index.name, list(groups.values()),
           list(block.dtypes))
    return how, arrays


def _slice_packed(packed, lo, hi):
    """The arrays of rows ``lo:hi`` of a packed block."""
    how, arrays = packed
    if how[0] == "frame":
        return [a[lo:hi] for a in arrays]
    out, i = [], 0
    for _, kind in how:
        if kind == "jagged":
            counts, contents = arrays[i], arrays[i + 1]
            start = int(counts[:lo].sum())
            stop = start + int(counts[lo:hi].sum())
            out += [counts[lo:hi], contents[start:stop]]
            i += 2
        else:
            out.append(arrays[i][lo:hi])
            i += 1
    return out


def _read_bucket(path, how, n_arrays):
    """The block stored in a bucket's file (records of ``n_arrays`` arrays), joined."""
    records = []
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        while fh.tell() < size:
            records.append([np.lib.format.read_array(fh, allow_pickle=True)
                            for _ in range(n_arrays)])
    return _unpack(how, [np.concatenate(col) for col in zip(*records)])


def _unpack(how, arrays):
    """The block that :func:`_pack` packed as ``(how, arrays)``."""
    if how[0] == "frame":
        import pandas as pd

        _, columns, index_name, groups, dtypes = how
        index = pd.Index(arrays[0], name=index_name)
        frame = pd.concat([pd.DataFrame(values, columns=where, index=index, copy=False)
                           for where, values in zip(groups, arrays[1:])], axis=1)
        frame = frame.iloc[:, np.argsort(np.concatenate(groups), kind="stable")]
        frame.columns = columns
        for i, (got, dtype) in enumerate(zip(frame.dtypes, dtypes)):
            if got != dtype:   # a column NumPy held as objects (strings, categories, ...)
                frame.isetitem(i, frame.iloc[:, i].astype(dtype))
        return frame
    import awkward as ak

    out, i = {}, 0
    for k, kind in how:
        if kind == "jagged":
            out[k] = ak.unflatten(arrays[i + 1], arrays[i])
            i += 2
        else:
            out[k] = arrays[i] if kind == "numpy" else ak.Array(arrays[i])
            i += 1
    return out


def _write_record(tmp, source, files, names, fracs, seed, shuffle, written, rows, counts,
                  label_names):
    from jetimg._version import __version__

    record = {
        "jetimg_version": __version__,
        "inputs": [f.path for f in files],
        "input_rows": [f.n_rows for f in files],
        "layout": source.layout,
        "fractions": [float(f) for f in fracs],
        "seed": seed,
        "shuffle": shuffle,
        "label_names": None if label_names is None else list(label_names),
        "parts": {name: {"rows": rows[name], "files": list(written[name]),
                         "rows_map": f"{name}_rows.npy",
                         "classes": {str(c): n for c, n in counts[name].items()}}
                  for name in names},
    }
    with open(os.path.join(tmp, MAP_FILE), "w") as fh:
        json.dump(record, fh, indent=1)
        fh.write("\n")


def _take(block, idx):
    """Rows ``idx`` of a block (a DataFrame, or a dict of NumPy / awkward arrays)."""
    if isinstance(block, dict):
        return {k: v[idx] for k, v in block.items()}
    return block.iloc[idx]


def _concat(blocks):
    if isinstance(blocks[0], dict):
        out = {}
        for k, v in blocks[0].items():
            if isinstance(v, np.ndarray):
                out[k] = np.concatenate([b[k] for b in blocks])
            else:
                import awkward as ak

                out[k] = ak.concatenate([b[k] for b in blocks])
        return out
    import pandas as pd

    return pd.concat(blocks)


# ---------------------------------------------------------------------------
# one copier per layout: every column of a window of rows, and the writer
# ---------------------------------------------------------------------------

def _copier(source):
    layout = source.layout
    if layout in ("pandas-fixed", "pandas-table"):
        return _FrameCopier(source)
    if layout == "jetclass-root":
        return _TreeCopier(source)
    if layout == "qg-npz":
        return _NpzCopier(source)
    if layout == "hdf5-array":
        return _HDF5Copier(source)
    if layout == "npy":
        return _NpyCopier(source)
    if layout == "zarr-array":
        return _ZarrCopier(source)
    raise InputError(f"{source.path} is a {layout} input, which split does not copy yet "
                     "(it copies top-tagging HDFStores, JetClass ROOT files, quark/gluon "
                     ".npz, and plain arrays in HDF5, Zarr or .npy)")


class _FrameCopier:
    """A top-tagging pandas frame: its format, compression, index and every column."""

    def __init__(self, source):
        try:
            import pandas as pd
            import tables  # noqa: F401
        except ImportError as exc:
            raise InputError(f"splitting a pandas HDFStore needs pandas and PyTables "
                             f"({exc.name} is missing): pip install 'jetimg[pandas]'") from None
        self.key = source.key
        self.outputs = (os.path.basename(source.path),)
        try:
            self.store = pd.HDFStore(source.path, mode="r")
            storer = self.store.get_storer(self.key)
            self.format = "table" if storer.is_table else "fixed"
            self.data_columns = list(storer.data_columns) if storer.is_table else None
            self.complib, self.complevel = None, 0
            for leaf in self.store._handle.walk_nodes("/" + self.key.strip("/"), "Leaf"):
                if leaf.filters.complevel:
                    self.complib, self.complevel = leaf.filters.complib, leaf.filters.complevel
                    break
        except Exception as exc:   # PyTables raises many kinds for a damaged file
            raise InputError(f"cannot read the frame '{self.key}' of {source.path} with "
                             f"pandas: {type(exc).__name__}: {exc}".splitlines()[0]) from None
        self.path = source.path

    def window(self, a, b):
        try:
            return self.store.select(self.key, start=a, stop=b)
        except Exception as exc:
            raise InputError(f"cannot read rows {a}:{b} of {self.path}: "
                             f"{type(exc).__name__}: {exc}".splitlines()[0]) from None

    def writer(self, folder, n_rows):
        from jetimg.io.writers.appenders import FrameAppender

        return FrameAppender(os.path.join(folder, self.outputs[0]), n_rows, key=self.key,
                             format=self.format, data_columns=self.data_columns,
                             complib=self.complib, complevel=self.complevel)

    def close(self):
        self.store.close()


class _TreeCopier:
    """A JetClass ROOT file: its tree and every branch (counters rewritten by uproot)."""

    def __init__(self, source):
        from jetimg.io.readers.root import import_root

        uproot, self.ak = import_root()
        self.path, self.key = source.path, source.key
        self.outputs = (os.path.basename(source.path),)
        self.file = uproot.open(source.path, object_cache=None, array_cache=None)
        tree = self.tree = self.file[self.key]
        branches = list(tree.branches)
        counters = {b.count_branch.name for b in branches if b.count_branch is not None}
        self.names = [b.name for b in branches if b.name not in counters]
        by_counter, loose = {}, []
        for b in branches:
            if b.name in counters:
                continue
            interp = b.interpretation
            if isinstance(interp, uproot.AsJagged) and isinstance(interp.content,
                                                                  uproot.AsDtype):
                if b.count_branch is not None:
                    by_counter.setdefault(b.count_branch.name, []).append(b.name)
                else:
                    loose.append(b.name)
            elif not isinstance(interp, uproot.AsDtype):
                raise InputError(f"branch {b.name} of {source.path} is {b.typename}: split "
                                 "copies branches of numbers and of lists of numbers")
        self.groups = {}
        for counter, members in by_counter.items():
            record = counter[1:]
            if counter.startswith("n") and record and \
                    all(m.startswith(record + "_") and len(m) > len(record) + 1
                        for m in members):
                self.groups[record] = members
        by_prefix = {}
        for name in loose:
            if "_" in name.strip("_"):
                by_prefix.setdefault(name.split("_", 1)[0], []).append(name)
        taken = set(self.names) | counters
        for record, members in by_prefix.items():
            if record and "n" + record not in taken and record not in taken \
                    and record not in self.groups:
                self.groups[record] = members

    def window(self, a, b):
        try:
            arrays = self.tree.arrays(self.names, entry_start=a, entry_stop=b, library="ak",
                                      how=dict)
        except Exception as exc:
            raise InputError(f"cannot read rows {a}:{b} of {self.path}: "
                             f"{type(exc).__name__}: {exc}".splitlines()[0]) from None
        ak = self.ak
        for record, members in self.groups.items():
            counts = [ak.to_numpy(ak.num(arrays[m], axis=1)) for m in members]
            for m, c in zip(members[1:], counts[1:]):
                bad = np.flatnonzero(c != counts[0])
                if len(bad):
                    raise InputError(f"row {a + int(bad[0])} of {self.path}: {m} has "
                                     f"{c[bad[0]]} entries but {members[0]} has "
                                     f"{counts[0][bad[0]]}")
        return {name: arrays[name] for name in self.names}

    def writer(self, folder, n_rows):
        from jetimg.io.writers.appenders import TreeAppender

        return TreeAppender(os.path.join(folder, self.outputs[0]), n_rows, tree=self.key,
                            groups=self.groups)

    def close(self):
        self.file.close()


class _NpzCopier:
    """A quark/gluon ``.npz``: every member (row members by rows), stored or deflated."""

    def __init__(self, source):
        self.path, self.n = source.path, source.n_rows
        self.outputs = (os.path.basename(source.path),)
        self.zf = zipfile.ZipFile(source.path)
        self.rows, self.whole, self._fh = {}, {}, {}
        self.compressed = False
        for info in self.zf.infolist():
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            self.compressed |= info.compress_type != zipfile.ZIP_STORED
            with self.zf.open(info) as fh:
                version = np.lib.format.read_magic(fh)
                shape, fortran, dtype = (np.lib.format.read_array_header_1_0(fh)
                                         if version == (1, 0)
                                         else np.lib.format.read_array_header_2_0(fh))
                start = fh.tell()
            if dtype.hasobject or (fortran and len(shape) > 1):
                raise InputError(f"member {info.filename} of {self.path} holds "
                                 f"{'objects' if dtype.hasobject else 'a Fortran-order array'}: "
                                 "split copies C-ordered numeric arrays")
            if len(shape) >= 1 and shape[0] == self.n:
                self.rows[name] = (info, start, tuple(shape[1:]), dtype)
            else:
                with self.zf.open(info) as fh:
                    self.whole[name] = np.lib.format.read_array(fh, allow_pickle=False)

    def window(self, a, b):
        out = {}
        for name, (info, start, tail, dtype) in self.rows.items():
            row_bytes = int(np.prod(tail, dtype=np.int64)) * dtype.itemsize
            fh = self._fh.get(name)
            if fh is None:
                fh = self._fh[name] = self.zf.open(info)
            fh.seek(start + a * row_bytes)   # forward: read on; backward: from the start
            buf = fh.read((b - a) * row_bytes)
            if len(buf) != (b - a) * row_bytes:
                raise InputError(f"member {info.filename} of {self.path} ends early: it is "
                                 "truncated")
            out[name] = np.frombuffer(buf, dtype).reshape((b - a,) + tail)
        return out

    def writer(self, folder, n_rows):
        from jetimg.io.writers.appenders import NpzAppender

        return NpzAppender(os.path.join(folder, self.outputs[0]), n_rows,
                           {k: (v[2], v[3]) for k, v in self.rows.items()}, whole=self.whole,
                           compressed=self.compressed)

    def close(self):
        for fh in self._fh.values():
            fh.close()
        self.zf.close()


class _HDF5Copier:
    """A plain-array HDF5 file: every dataset (those with a row per jet by rows),
    groups and attributes."""

    def __init__(self, source):
        import h5py

        self.path, self.n = source.path, source.n_rows
        self.outputs = (os.path.basename(source.path),)
        self.f = h5py.File(source.path, "r")
        self.row_datasets = []

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.ndim >= 1 and obj.shape[0] == self.n:
                self.row_datasets.append(name)

        self.f.visititems(visit)

    def window(self, a, b):
        return {name: self.f[name][a:b] for name in self.row_datasets}

    def writer(self, folder, n_rows):
        from jetimg.io.writers.appenders import HDF5Appender

        return HDF5Appender(os.path.join(folder, self.outputs[0]), n_rows, self.f,
                            self.row_datasets)

    def close(self):
        self.f.close()


class _ZarrCopier:
    """A plain-array Zarr store: a group (every array with a row per jet by rows,
    the others whole, groups and attributes), or one array with its labels and
    PDG-id stores (each kept under its name)."""

    def __init__(self, source):
        import zarr

        from jetimg.io.readers.sources import zarr_open_array

        self.path, self.n = source.path, source.n_rows
        stores = [source.path]
        root = zarr.open(store=source.path, mode="r")
        if not isinstance(root, zarr.Group):   # labels and ids are stores of their own
            labels = getattr(source, "_labels_path", None)
            if labels is not None:
                stores.append(labels[0])
            pid = getattr(source, "_pid_at", None)
            if pid is not None:
                stores.append(pid[1][0])
        self.outputs = tuple(os.path.basename(s.rstrip(os.sep)) for s in stores)
        if len(set(self.outputs)) != len(self.outputs):
            raise InputError(f"the jets, labels and PDG-id stores of {source.path} share a "
                             "name; each part keeps them under their names, so they must "
                             "differ")
        self.stores, self.rows = {}, {}   # output name -> store; (name, path) -> array
        for name, store in zip(self.outputs, stores):
            node = root if store == source.path else zarr_open_array(zarr, store, None)
            self.stores[name] = node
            if isinstance(node, zarr.Group):
                for path, obj in sorted(node.members(max_depth=None)):
                    if not isinstance(obj, zarr.Group) and obj.ndim >= 1 \
                            and obj.shape[0] == self.n:
                        self.rows[name, path] = obj
            else:
                self.rows[name, ""] = node

    def window(self, a, b):
        try:
            return {k: np.asarray(arr[a:b]) for k, arr in self.rows.items()}
        except Exception as exc:   # zarr and its codecs raise many kinds
            raise InputError(f"cannot read rows {a}:{b} of {self.path}: "
                             f"{type(exc).__name__}: {exc}".splitlines()[0]) from None

    def writer(self, folder, n_rows):
        from jetimg.io.writers.appenders import ZarrAppender

        appenders = {name: ZarrAppender(os.path.join(folder, name), n_rows, node,
                                        [p for (n, p) in self.rows if n == name])
                     for name, node in self.stores.items()}
        return _Several(appenders, pick=lambda block, name: {p: v for (n, p), v in block.items()
                                                             if n == name})

    def close(self):
        self.stores, self.rows = {}, {}


class _NpyCopier:
    """A ``.npy`` input with its labels and PDG-id files (each kept under its name)."""

    def __init__(self, source):
        files = [source.path]
        if source.labels_key is not None:
            files.append(source.labels_key)
        pid = getattr(source, "_pid_at", None)
        if pid is not None:
            files.append(pid[1])
        self.outputs = tuple(os.path.basename(f) for f in files)
        if len(set(self.outputs)) != len(self.outputs):
            raise InputError(f"the jets, labels and PDG-id files of {source.path} share a "
                             "name; each part keeps them under their names, so they must "
                             "differ")
        self.arrays = {}
        for name, f in zip(self.outputs, files):
            try:
                self.arrays[name] = np.load(f, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise InputError(f"cannot open {f}: {exc}") from exc

    def window(self, a, b):
        return {name: np.asarray(arr[a:b]) for name, arr in self.arrays.items()}

    def writer(self, folder, n_rows):
        from jetimg.io.writers.appenders import NpyAppender

        return _Several({name: NpyAppender(os.path.join(folder, name), n_rows,
                                           arr.shape[1:], arr.dtype)
                         for name, arr in self.arrays.items()})

    def close(self):
        self.arrays = {}


class _Several:
    """Appenders of several files fed one block (a dict by file name, or what
    ``pick(block, name)`` takes from it for each)."""

    def __init__(self, appenders, pick=None):
        self.appenders = appenders
        self.pick = pick or (lambda block, name: block[name])

    def append(self, block):
        for name, out in self.appenders.items():
            out.append(self.pick(block, name))

    def close(self):
        for out in self.appenders.values():
            out.close()

    def abort(self):
        for out in self.appenders.values():
            out.abort()
