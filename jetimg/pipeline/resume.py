"""Resuming an interrupted Zarr build: its record, and the checks that this run matches it.

The record of finished chunks sits beside the store (:mod:`jetimg.io.store.checkpoints`);
:func:`resume_record` refuses a run whose recipe, input, rows or codec differ
from the interrupted one, naming each difference.
"""

from __future__ import annotations

import hashlib
import os
import pathlib

import numpy as np

from ..errors import InputError, JetimgError
from ..io.store import checkpoints, stores
from ..io.store.completeness import rows_written
from ..recipe import Recipe
from ..variations import Vary

__all__ = ["input_fingerprint", "input_files", "build_progress", "check_resumable", "resume_record",
           "count_invalid"]


def input_fingerprint(source, n_rows, rows=64):
    """A digest of the first and last ``rows`` jets (and labels) of the first ``n_rows``.

    Stored with a build, so ``resume`` notices an input that changed under the
    same name without reading it whole.
    """
    digest = hashlib.sha256()
    for start, stop in sorted({(0, min(rows, n_rows)), (max(0, n_rows - rows), n_rows)}):
        jets, labels = source.read(start, stop)
        digest.update(np.ascontiguousarray(jets).tobytes())
        if labels is not None:
            digest.update(np.ascontiguousarray(labels).tobytes())
    return digest.hexdigest()[:32]


def _file_stamp(part):
    """What tells a changed file: its size and modification time (read from the
    file system, not the data: reading the first and last rows of each of many
    ROOT files decompresses two baskets of each, 0.14 s a file). A directory
    (a Zarr store) is stamped by its first and last rows instead."""
    if os.path.isdir(part.path):
        return input_fingerprint(part, part.n_rows)
    st = os.stat(part.path)
    return f"{st.st_size}:{st.st_mtime_ns}"


def input_files(source):
    """``[path, rows, stamp]`` of every file of a several-file input, else None.

    Stored with a build, so ``resume`` names the file that changed since (the
    whole input's first and last rows are compared too, as for one file).
    """
    parts = getattr(source, "parts", None)
    if parts is None:
        return None
    return [[part.path, int(part.n_rows), _file_stamp(part)] for part in parts]


def _changed_files(before, now):
    """What differs between two ``input_files`` lists, naming the files."""
    paths_before, paths_now = [f[0] for f in before], [f[0] for f in now]
    if paths_before != paths_now:
        gone = [p for p in paths_before if p not in paths_now]
        new = [p for p in paths_now if p not in paths_before]
        what = "; ".join(filter(None, (
            f"gone: {', '.join(gone)}" if gone else "",
            f"new: {', '.join(new)}" if new else "",
            "" if gone or new else "the same files in another order")))
        return [f"input files: {len(paths_before)} before, {len(paths_now)} now ({what})"]
    changed = []
    for (path, rows, digest), (_, rows_now, digest_now) in zip(before, now):
        if rows != rows_now:
            changed.append(f"input file {path} changed since the interrupted build "
                           f"({rows} rows before, {rows_now} now)")
        elif digest != digest_now:
            changed.append(f"input file {path} changed since the interrupted build "
                           "(its size or modification time differ)")
    return changed


def build_progress(output):
    """``(rows written, rows)`` of the interrupted, resumable build at ``output``.

    None when ``output`` holds no such build (missing, complete, HDF5, or
    without the record of finished chunks that ``resume`` needs).
    """
    try:
        if stores.store_format(output) != "zarr" or not pathlib.Path(output).is_dir():
            return None
        with stores.open_store(output) as store:
            if store.attrs.get("complete") is not False:
                return None
    except JetimgError:
        return None
    return rows_written(output)


def check_resumable(output, fmt, layout, overwrite, exists):
    if overwrite:
        raise InputError("resume and overwrite exclude each other: resume finishes the "
                         "interrupted build at the output, overwrite replaces it")
    if fmt != "zarr" or layout != "store":
        raise InputError("only Zarr stores can be resumed: an interrupted HDF5 file may be "
                         "corrupt (HDF5 is not crash-safe) and is removed; rebuild it, or "
                         "build to a .zarr store")
    if not exists:
        raise InputError(f"nothing to resume: {output} does not exist")


def resume_record(output, info):
    """The build record of the store to resume, or None if the store is complete,
    after checking that this run matches the interrupted one (say where not)."""
    with stores.open_store(output) as store:
        stored = dict(store.attrs)
    complete = stored.get("complete") is True
    record = checkpoints.load(output)
    if record is None and not complete:
        raise InputError(f"cannot resume {output}: it has no record of finished chunks "
                         f"({checkpoints.record_dir(output).name} beside it is missing or "
                         "belongs to another store); rebuild it with --overwrite")
    earlier = record if record is not None else stored
    try:
        old = Recipe.from_attrs(earlier.get("recipe", {}))
    except JetimgError as exc:
        raise InputError(f"cannot resume {output}: its recipe does not parse ({exc})") from None
    new = Recipe.from_attrs(info["recipe"])
    def shown(value):  # a variation as the command line writes it
        return str(value) if isinstance(value, Vary) else repr(value)

    differ = [f"recipe option {name}: {shown(getattr(old, name))} before, "
              f"{shown(getattr(new, name))} now" for name in old.differences(new)]
    names = {"input": "input file name", "input_rows": "input rows", "n_jets": "rows (limit=)",
             "input_fingerprint": "input content (first and last rows)",
             "has_labels": "input labels", "label_names": "label names", "codec": "codec",
             "jetimg_version": "jetimg version"}
    files = None
    if "input_files" in earlier and "input_files" in info:
        files = _changed_files(earlier["input_files"], info["input_files"])
    if files:
        # the files say which one changed: the digests of the whole input add nothing
        names = {k: v for k, v in names.items()
                 if k not in ("input", "input_rows", "input_fingerprint")}
        differ += files
    differ += [f"{what}: {earlier[name]!r} before, {info[name]!r} now"
               for name, what in names.items()
               if name in earlier and name in info and earlier[name] != info[name]]
    if differ:
        earlier_build = "the build that made it" if complete else "the interrupted one"
        raise InputError(f"cannot resume {output}: this run differs from {earlier_build} "
                         f"in {'; '.join(differ)}")
    return None if complete else record


def count_invalid(path):
    with stores.open_store(path) as store:
        valid = store["valid"]
        return sum(int(np.count_nonzero(valid[s:s + 1_000_000] == 0))
                   for s in range(0, len(store), 1_000_000))
