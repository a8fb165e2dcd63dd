"""The record of a Zarr build's finished chunks, so an interrupted build can resume.

A resumable build keeps a folder beside its store, ``{store}.jetimg-build/``:

* ``build.json``: the build's id, the options a resume must repeat (recipe,
  input name, rows and fingerprint, chunk size, codec, jetimg version) and the
  identity (inode, mtime) of the store's ``images/zarr.json``, which ties the
  record to this very store: a store deleted and made again does not match.
* one empty file ``{build_id}.{start}-{stop}`` per finished chunk, created by
  its task only after every array of its rows has been written. A chunk with a
  file is complete in the store; a chunk whose task was killed part-way has
  none and is made again. Files of any other build id never count.

The record sits beside the store, not inside it: docs/recipe.md fixes the store's
arrays and attributes, and Zarr warns about foreign folders inside a group.
It is removed once the store is complete.
"""

import json
import os
import pathlib
import re
import shutil
import uuid

__all__ = ["record_dir", "start", "load", "mark_done", "done_chunks", "clear"]

_CHUNK = re.compile(r"^([0-9a-f]{32})\.([0-9]+)-([0-9]+)$")


def record_dir(store):
    """The record folder of ``store``: ``{store}.jetimg-build`` beside it."""
    store = pathlib.Path(store)
    return store.with_name(store.name + ".jetimg-build")


def _identity(store):
    st = (pathlib.Path(store) / "images" / "zarr.json").stat()
    return [st.st_ino, st.st_mtime_ns]


def start(store, info):
    """Begin the record of the freshly created ``store``; returns the new build id.

    ``info`` is a JSON-able dict of what a resume must find unchanged.
    """
    clear(store)
    folder = record_dir(store)
    folder.mkdir()
    build_id = uuid.uuid4().hex
    record = {"build_id": build_id, "store_identity": _identity(store), **info}
    tmp = folder / "build.json.tmp"
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, folder / "build.json")
    return build_id


def load(store):
    """The record of ``store`` as :func:`start` wrote it, or None if it has none
    (or the record belongs to another store at the same path)."""
    try:
        record = json.loads((record_dir(store) / "build.json").read_text())
        return record if record.get("store_identity") == _identity(store) else None
    except (OSError, ValueError):
        return None


def mark_done(store, build_id, start, stop):
    """Record that rows ``[start, stop)`` of ``store`` are written (call after the writes)."""
    path = record_dir(store) / f"{build_id}.{int(start)}-{int(stop)}"
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))


def done_chunks(store, build_id):
    """The set of ``(start, stop)`` chunks recorded as written by build ``build_id``."""
    folder = record_dir(store)
    if not folder.is_dir():
        return set()
    done = set()
    for entry in os.scandir(folder):
        m = _CHUNK.match(entry.name)
        if m and m.group(1) == build_id:
            done.add((int(m.group(2)), int(m.group(3))))
    return done


def clear(store):
    """Remove the record of ``store`` (once complete, or before a fresh build)."""
    shutil.rmtree(record_dir(store), ignore_errors=True)
