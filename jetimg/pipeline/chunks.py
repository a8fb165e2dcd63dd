"""The body of every build task: read rows, image them, write them.

:func:`process_chunk` takes only picklable arguments, so any Dask worker (a
thread, a process, a dask.distributed worker) runs it; each worker thread keeps
its read and output buffers from chunk to chunk.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import threading

import numpy as np

from ..core import preprocess
from ..errors import JetimgError, StoreWriteError
from ..io.store import checkpoints, stores
from ..io.readers.jagged import jagged_width, pad_jagged, pad_jagged_values
from ..outputs import empty_outputs
from ..recipe import particle_features

__all__ = ["ChunkJob", "process_chunk", "load_kernel", "writing", "READ_ROWS"]

_local = threading.local()


#: Rows read and imaged at a time inside a chunk on the CPU: the jets buffer
#: (6.4 MB at 200 slots) is reused from cache instead of being 64 MB of fresh
#: memory per worker; the images of the whole chunk are still written at once.
READ_ROWS = 2_000


def _jets_buffer(rows, n_slots):
    """This thread's (rows, n_slots, 4) float32 read buffer, reused from chunk to
    chunk: fresh memory per chunk costs page faults, which on the machines
    measured cost more than the copy."""
    jets = getattr(_local, "jets", None)
    if jets is None or jets.shape[1] != n_slots or len(jets) < rows:
        _local.jets = None  # the old array goes before the new one comes
        _local.jets = jets = np.empty((rows, n_slots, 4), np.float32)
    return jets[:rows]


def _flat_buffer(rows, n_slots):
    """This thread's float32 buffer viewed as (rows, n_slots, 4), for jagged
    sources whose slots change from block to block (grown, never shrunk)."""
    size = rows * n_slots * 4
    flat = getattr(_local, "flat", None)
    if flat is None or len(flat) < size:
        _local.flat = None
        _local.flat = flat = np.empty(size, np.float32)
    return flat[:size].reshape(rows, n_slots, 4)


def _padded(offsets, p4s, lo, hi, kinds=None, charges=None):
    """Rows ``lo:hi`` of a chunk's jagged particles, padded to the block's own
    largest multiplicity in this thread's buffer (and their kinds and
    charges, padded alike, when given)."""
    o = offsets[lo:hi + 1]
    block = _flat_buffer(hi - lo, jagged_width(o))
    jets = pad_jagged(o - o[0], p4s[o[0]:o[-1]], out=block)
    values = [None if v is None else pad_jagged_values(o - o[0], v[o[0]:o[-1]])
              for v in (kinds, charges)]
    return jets, values[0], values[1]


def particle_shape(recipe, has_kinds):
    """``n_particles`` and ``n_features`` of a build's outputs: P and F (17 for
    an input with particle kinds, else 11), or None without particles."""
    if recipe.particles is None:
        return {"n_particles": None, "n_features": None}
    return {"n_particles": recipe.particles,
            "n_features": len(particle_features(has_kinds))}


def _output_buffers(n_jets, npix, n_channels=None, n_particles=None, n_features=None):
    """This thread's output arrays and labels for ``n_jets`` rows: views of
    arrays kept for the largest chunk so far (each chunk is written before its
    task returns)."""
    out = getattr(_local, "out", None)
    shape = (npix, npix) + (() if n_channels is None else (n_channels,))
    parts = None if n_particles is None else (n_particles, n_features)
    if out is None or out["images"].shape[1:] != shape or len(out["images"]) < n_jets \
            or (out["particles"].shape[1:] if "particles" in out else None) != parts:
        _local.out = _local.labels = None
        _local.out = out = empty_outputs(n_jets, npix, n_channels=n_channels,
                                         n_particles=n_particles, n_features=n_features)
        _local.labels = np.empty(n_jets, np.int8)
    return {name: a[:n_jets] for name, a in out.items()}, _local.labels[:n_jets]


@contextlib.contextmanager
def writing(path):
    """Turn the OSError of a write to ``path`` (full disk, quota, permission,
    read-only file system, vanished folder) into :class:`StoreWriteError`,
    which crosses every Dask scheduler (it pickles) and names the cause."""
    from .lock import os_cause

    try:
        yield
    except Exception as exc:
        if isinstance(exc, JetimgError):
            raise
        if not isinstance(exc, OSError):
            if os.path.lexists(path):
                raise
            # the store was deleted under us: Zarr then misses its metadata
            exc = FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))
        raise StoreWriteError(path, os_cause(exc, path), errno=exc.errno) from None


def load_kernel(recipe):
    """Run the serial CPU kernel once on one empty jet (loads it from the cache)."""
    preprocess(np.zeros((1, 1, 4), np.float32), recipe, parallel=False,
               kinds=np.zeros((1, 1), np.int8), charges=np.zeros((1, 1), np.int8))


@dataclasses.dataclass(frozen=True)
class ChunkJob:
    """What every chunk of one build shares: read ``source``, image with ``recipe``
    on ``device``, write to the store at ``target`` (under ``lock`` for HDF5),
    record finished chunks under ``build_id``. Picklable, for Dask's workers."""

    source: object
    target: str
    recipe: object
    lock: object = None
    build_id: str | None = None
    device: str = "cpu"

    def with_lock(self, lock):
        """The same job under ``lock`` (the scheduler's lock for an HDF5 store)."""
        return dataclasses.replace(self, lock=lock)


def process_chunk(job, start, stop):
    """Read rows [start, stop) of ``job.source``, make their images, write them to ``job.target``.

    Returns (rows, invalid jets) of the chunk. This is the body of every Dask
    task of :func:`build`; it takes only picklable arguments. With a
    ``build_id`` the chunk is recorded as finished once its rows are written
    (:mod:`jetimg.io.store.checkpoints`), so an interrupted build can resume.
    The rows go through :func:`jetimg.preprocess` on ``device``: on the CPU
    they are read and imaged :data:`READ_ROWS` at a time into this thread's
    buffers, on CUDA in one piece (one upload and one launch per chunk,
    through this thread's CUDA stream); the chunk is written at once. With
    particles and an input with particle kinds, the kinds and charges are
    read beside the jets (:meth:`JetSource.read_charges`). A
    jagged source (JetClass ROOT) is read once per chunk (reading it block by
    block decompressed each ROOT basket again for every block) and padded per
    block to the block's own largest multiplicity.
    """
    source, recipe, device = job.source, job.recipe, job.device
    n = stop - start
    rows = n if device == "cuda" else min(n, READ_ROWS)
    with_kinds, with_charges = recipe.reads_identity(source.has_kinds)
    out, labels = _output_buffers(n, recipe.npix, recipe.n_channels,
                                  **particle_shape(recipe, source.has_kinds))
    labels = labels if source.has_labels else None
    flat_kinds = flat_charges = None
    if source.jagged:  # one read per chunk: a file's baskets are decompressed once
        if with_charges:
            offsets, p4s, chunk_labels, flat_kinds, flat_charges = source.read_flat(
                start, stop, kinds=True, charges=True)
        elif with_kinds:
            offsets, p4s, chunk_labels, flat_kinds = source.read_flat(start, stop, kinds=True)
        else:
            offsets, p4s, chunk_labels = source.read_flat(start, stop)
    else:
        jets = _jets_buffer(rows, source.n_slots)
    step = max(rows, 1)
    for lo in range(0, n, step):
        hi = min(lo + step, n)
        if source.jagged:
            block, kinds, charges = _padded(offsets, p4s, lo, hi, flat_kinds, flat_charges)
            identity = {"kinds": kinds, "charges": charges}
            block_labels = None if chunk_labels is None else chunk_labels[lo:hi]
        else:
            block, block_labels = source.read(start + lo, start + hi, out=jets[:hi - lo])
            identity = source.read_identity(start + lo, start + hi, with_kinds, with_charges)
        preprocess(block, recipe, **identity, device=device, parallel=False,
                   row_offset=start + lo, out={name: a[lo:hi] for name, a in out.items()})
        if labels is not None:
            labels[lo:hi] = block_labels
    if labels is not None:
        out = {**out, "labels": labels}
    with writing(job.target):
        stores.write_rows(job.target, start, out, lock=job.lock)
        if job.build_id is not None:
            checkpoints.mark_done(job.target, job.build_id, start, stop)
    return stop - start, int(np.count_nonzero(out["valid"] == 0))
