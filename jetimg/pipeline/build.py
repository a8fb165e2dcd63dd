"""``build``: a constituents file -> an image store, chunk by chunk with Dask.

Each Dask task reads rows ``[start, stop)`` of the input, runs the recipe's
kernel on them (on its own thread: the kernel releases the GIL) and writes the
same rows of the output, so memory holds a few chunks whatever the file's size.
Row n of the output is row n of the input.

Schedulers: ``"threads"`` (default; measured fastest here, see
benchmarks/README.md), ``"processes"``, ``"synchronous"``, or the address of a
dask.distributed scheduler (``"tcp://host:8786"``) or a ``distributed.Client``:
workers then read the input and write the output by path, so both must sit on
storage that every worker sees.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import threading
import time

from .._version import __version__
from ..checks import integer
from ..device import resolve_device
from ..errors import InputError, OutputExistsError
from ..io import checkpoints, open_jets, stores
from ..io.pandas_images import write_pandas_images
from ..recipe import Recipe
from .chunks import load_kernel
from .resume import (build_progress, check_resumable, count_invalid, input_fingerprint,
                     resume_record)
from .schedulers import SCHEDULERS, ProgressCounter, gc_frozen, run_chunks

__all__ = ["build", "BuildResult", "DEFAULT_CHUNK_SIZE", "LAYOUTS", "chunk_rows"]

DEFAULT_CHUNK_SIZE = 20_000
IMAGE_CHUNK_ROWS = 1_000
LAYOUTS = ("store", "pandas-images")


@dataclasses.dataclass(frozen=True)
class BuildResult:
    """What a build did: the store has ``n_jets`` rows, ``n_invalid`` of them
    skipped jets; this call made ``n_made`` of them (fewer when resuming) in ``seconds``."""

    output: str
    n_jets: int
    seconds: float
    output_bytes: int
    n_invalid: int
    n_made: int

    @property
    def jets_per_second(self):
        """Rows made per second by this call."""
        return self.n_made / self.seconds if self.seconds > 0 else float("inf")


def chunk_rows(chunk_size):
    """Pipeline chunk size and images' store-chunk rows (aligned to each other)."""
    chunk_size = integer("chunk_size", chunk_size)
    if chunk_size <= IMAGE_CHUNK_ROWS:
        return chunk_size, chunk_size
    chunk_size = -(-chunk_size // IMAGE_CHUNK_ROWS) * IMAGE_CHUNK_ROWS  # round up
    return chunk_size, IMAGE_CHUNK_ROWS


def _temporary_path(output):
    return output.with_name(f".{output.stem}.jetimg-tmp-{os.getpid()}{output.suffix}")


def build(input, output, recipe=None, *, key=None, labels_key=None,
          chunk_size=DEFAULT_CHUNK_SIZE, limit=None, workers=None, scheduler="threads",
          overwrite=False, resume=False, layout="store", codec=stores.DEFAULT_CODEC,
          device="cpu", progress=None, **options):
    """Make the image store of every jet of ``input`` (docs/recipe.md's recipe and layout).

    Parameters
    ----------
    input : str or Path
        Constituents: the top-tagging HDF5 layout (pandas "fixed" or "table"),
        or a plain (N, M, 4) array in HDF5, Zarr or .npy (see
        :func:`jetimg.io.open_jets`).
    output : str or Path
        ``*.zarr`` (Zarr v3 group) or ``*.h5`` / ``*.hdf5`` (HDF5 file).
    recipe : Recipe, optional
        The recipe; keyword ``options`` override its fields.
    key, labels_key : str, optional
        Dataset / column names of the jets and labels (see ``open_jets``).
    chunk_size : int
        Jets per Dask task (above 1000 rounded up to a multiple of 1000).
    limit : int, optional
        Take only the first ``limit`` rows.
    workers : int, optional
        Local threads or processes (default: the machine's cores).
    scheduler : str or distributed.Client
        "threads", "processes", "synchronous", or a dask.distributed address / Client.
    overwrite : bool
        Replace an existing ``output``. The new store is built beside it and
        only replaces it once complete, so a failed build leaves the old one.
    resume : bool
        Finish the interrupted Zarr build at ``output``: only the chunks not
        recorded as written are made (with the chunk size of the first run).
        Refused when the recipe, input, rows or codec differ from that run;
        a complete store is left as it is.
    layout : {"store", "pandas-images"}
        "pandas-images" writes the challenge's image-file layout instead
        (pandas HDFStore "table": img_0 ... img_{npix^2-1}, is_signal_new, mass).
    codec : str
        Compression of the store's chunks, one of ``jetimg.io.stores.CODECS``.
    device : {"cpu", "cuda", "auto"}
        Where the kernels run. With "cuda" each worker thread sends its chunks
        through its own CUDA stream (one upload, the kernel, one download), so
        reading, transfers, the kernel and compression overlap; the "processes"
        scheduler cannot share the GPU this way and is refused.
    progress : callable, optional
        ``progress(done, total)``: rows written so far and rows to write; called
        once before the first chunk (``done`` > 0 when resuming) and after every chunk.

    Returns
    -------
    BuildResult

    Raises
    ------
    InputError, InvalidJetError, OutputExistsError, JetimgError
        Bad input or options, an invalid jet (``.row``), an existing output.
        A failed build removes what it wrote and leaves any existing output.
    KeyboardInterrupt
        Ctrl-C (and SIGTERM under the CLI). The running chunks finish first; a
        fresh Zarr build at ``output`` is then kept, incomplete, for ``resume``;
        other outputs are removed as after a failure.

    Examples
    --------
    >>> import numpy, jetimg, tempfile, pathlib
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> numpy.save(tmp / "jets.npy", jetimg.toys.toy_jets(100, seed=1)[0])
    >>> result = jetimg.build(tmp / "jets.npy", tmp / "images.zarr", npix=32)
    >>> result.n_jets, jetimg.open_store(tmp / "images.zarr")["images"].shape
    (100, (100, 32, 32))
    """
    started = time.perf_counter()
    recipe = Recipe.from_options(recipe, **options)
    output = pathlib.Path(output)
    if layout not in LAYOUTS:
        raise InputError(f"layout={layout!r} is not valid; choose one of {', '.join(LAYOUTS)}")
    fmt = stores.store_format(output)
    if layout == "pandas-images" and fmt != "hdf5":
        raise InputError("layout 'pandas-images' is an HDF5 (pandas HDFStore) layout: "
                         "give an output ending in .h5 or .hdf5")
    if codec not in stores.CODECS:
        raise InputError(f"codec={codec!r} is not valid; choose one of {', '.join(stores.CODECS)}")
    chunk_size, image_rows = chunk_rows(chunk_size)
    workers = integer("workers", workers, none_means="all cores")
    if isinstance(scheduler, str) and scheduler not in SCHEDULERS and "://" not in scheduler:
        raise InputError(f"scheduler={scheduler!r} is not valid; choose one of "
                         f"{', '.join(SCHEDULERS)} or a dask.distributed address (tcp://host:8786)")
    device = resolve_device(device)
    if device == "cuda" and scheduler == "processes":
        raise InputError("device 'cuda' runs with the threads scheduler (or a dask.distributed "
                         "cluster), not 'processes': forked workers cannot use the GPU "
                         "the parent opened")
    exists = output.exists() or output.is_symlink()
    if resume:
        check_resumable(output, fmt, layout, overwrite, exists)
    elif exists and not overwrite:
        hint = ("it holds an interrupted build: resume=True finishes it, "
                if build_progress(output) is not None else "")
        raise OutputExistsError(f"output {output} already exists; {hint}"
                                "overwrite=True replaces it")
    stores.check_writable(output)
    source = open_jets(input, key=key, labels_key=labels_key)
    n_rows = source.n_rows
    if limit is not None:
        limit = integer("limit", limit)
        if limit > source.n_rows:
            raise InputError(f"limit={limit} is beyond the input's {source.n_rows} rows")
        n_rows = limit
    if device == "cpu":  # load the kernel from numba's cache while the store is being made
        threading.Thread(target=load_kernel, args=(recipe,), daemon=True).start()

    attrs = {"jetimg_version": __version__, "recipe": recipe.to_attrs(),
             "input": pathlib.Path(str(input)).name, "input_rows": int(source.n_rows),
             "n_jets": int(n_rows)}
    target = output if resume or not (exists or layout == "pandas-images") \
        else _temporary_path(output)
    store = target if layout == "store" else target.with_suffix(".zarr")
    # Only a Zarr store built at its final path can be resumed; the others are
    # removed when interrupted, so they need no record of finished chunks.
    resumable = fmt == "zarr" and layout == "store" and target == output
    if resumable:
        info = {**attrs, "has_labels": source.has_labels, "codec": codec,
                "input_fingerprint": input_fingerprint(source, n_rows)}
    if resume:
        record = resume_record(output, info)
        if record is None:  # already complete
            return BuildResult(output=str(output), n_jets=n_rows,
                               seconds=time.perf_counter() - started,
                               output_bytes=stores.store_size(output),
                               n_invalid=count_invalid(output), n_made=0)
        build_id, chunk_size = record["build_id"], int(record["chunk_size"])
        done = checkpoints.done_chunks(store, build_id)
    else:
        build_id, done = None, set()
    chunks = [(s, min(s + chunk_size, n_rows)) for s in range(0, n_rows, chunk_size)]
    todo = [c for c in chunks if c not in done]
    made = []
    try:
        if not resume:
            checkpoints.clear(store)
            stores.create_store(store, n_rows=n_rows, npix=recipe.npix,
                                 has_labels=source.has_labels, attrs=attrs,
                                 chunk_rows=chunk_size, image_chunk_rows=image_rows, codec=codec)
            made.append(store)
            if resumable:
                build_id = checkpoints.start(store, {**info, "chunk_size": chunk_size})
        if progress:
            progress = ProgressCounter(progress, n_rows, n_rows - sum(b - a for a, b in todo))
        with gc_frozen():
            n_invalid = run_chunks(source, store, todo, recipe, workers, scheduler, progress,
                                    build_id, device)
        if resume:
            n_invalid = count_invalid(store)
        stores.mark_complete(store)
        checkpoints.clear(store)
        if layout == "pandas-images":
            made.append(target)
            write_pandas_images(store, target)
            stores.remove_store(store)
            made.remove(store)
        if target != output:
            stores.remove_store(output)
            checkpoints.clear(output)
            os.replace(target, output)
    except BaseException as exc:
        if not (resumable and isinstance(exc, KeyboardInterrupt)):
            for path in made:
                stores.remove_store(path)
                checkpoints.clear(path)
        raise
    finally:
        lock = pathlib.Path(str(store) + ".lock")
        if lock.exists():
            lock.unlink()
    return BuildResult(output=str(output), n_jets=n_rows, seconds=time.perf_counter() - started,
                       output_bytes=stores.store_size(output), n_invalid=n_invalid,
                       n_made=sum(stop - start for start, stop in todo))
