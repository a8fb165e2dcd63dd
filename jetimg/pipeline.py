"""``build``: a constituents file -> an image store, chunk by chunk with Dask.

Each Dask task reads rows ``[start, stop)`` of the input, runs the recipe's
kernel on them (on its own thread: the kernel releases the GIL) and writes the
same rows of the output, so memory holds a few chunks whatever the file's size.
Row n of the output is row n of the input.

Schedulers: ``"threads"`` (default; measured fastest here, see the README),
``"processes"``, ``"synchronous"``, or the address of a dask.distributed
scheduler (``"tcp://host:8786"``) or a ``distributed.Client``: workers then
read the input and write the output by path, so both must sit on storage that
every worker sees.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import pathlib
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np

from ._version import __version__
from .core import empty_outputs, preprocess
from .errors import InputError, JetimgError, OutputExistsError
from .io import writers
from .io.readers import open_jets
from .recipe import Recipe

__all__ = ["build", "BuildResult", "DEFAULT_CHUNK_SIZE", "LAYOUTS", "SCHEDULERS"]

DEFAULT_CHUNK_SIZE = 50_000
IMAGE_CHUNK_ROWS = 1_000
LAYOUTS = ("store", "pandas-images")
SCHEDULERS = ("threads", "processes", "synchronous")


@dataclasses.dataclass(frozen=True)
class BuildResult:
    """What a build did: ``n_jets`` rows in ``seconds``, ``n_invalid`` skipped."""

    output: str
    n_jets: int
    seconds: float
    output_bytes: int
    n_invalid: int

    @property
    def jets_per_second(self):
        return self.n_jets / self.seconds if self.seconds > 0 else float("inf")


class FileLock:
    """An inter-process and inter-thread lock on ``path`` (``flock``); picklable.

    Each acquisition opens its own descriptor, so threads sharing one FileLock
    exclude each other as processes do.
    """

    def __init__(self, path):
        self.path = str(path)
        self._local = threading.local()

    def __enter__(self):
        fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._local.fd = fd
        return self

    def __exit__(self, *exc_info):
        fd = self._local.fd
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __getstate__(self):
        return {"path": self.path}

    def __setstate__(self, state):
        self.__init__(state["path"])


_local = threading.local()


def _buffers(n_jets, npix):
    """Output arrays of this thread, reused from chunk to chunk (the write
    finishes before the task returns): fresh memory per chunk costs page faults."""
    key = (n_jets, npix)
    if getattr(_local, "key", None) != key:
        _local.key, _local.out = key, empty_outputs(n_jets, npix)
    return _local.out


def process_chunk(source, target, start, stop, recipe, lock=None):
    """Read rows [start, stop) of ``source``, make their images, write them to ``target``.

    Returns (rows, invalid jets) of the chunk. This is the body of every Dask
    task of :func:`build`; it takes only picklable arguments.
    """
    jets, labels = source.read(start, stop)
    out = preprocess(jets, recipe, parallel=False, row_offset=start,
                     out=_buffers(stop - start, recipe.npix))
    if labels is not None:
        out = {**out, "labels": labels}
    writers.write_rows(target, start, out, lock=lock)
    return stop - start, int(np.count_nonzero(out["valid"] == 0))


def _chunk_rows(chunk_size):
    """Pipeline chunk size and images' store-chunk rows (aligned to each other)."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int | np.integer) or chunk_size < 1:
        raise InputError(f"chunk_size={chunk_size!r} must be a positive integer")
    chunk_size = int(chunk_size)
    if chunk_size <= IMAGE_CHUNK_ROWS:
        return chunk_size, chunk_size
    chunk_size = -(-chunk_size // IMAGE_CHUNK_ROWS) * IMAGE_CHUNK_ROWS  # round up
    return chunk_size, IMAGE_CHUNK_ROWS


def _temporary_path(output):
    return output.with_name(f".{output.stem}.jetimg-tmp-{os.getpid()}{output.suffix}")


def build(input, output, recipe=None, *, key=None, labels_key=None,
          chunk_size=DEFAULT_CHUNK_SIZE, limit=None, workers=None, scheduler="threads",
          overwrite=False, layout="store", codec=writers.DEFAULT_CODEC, progress=None,
          **options):
    """Make the image store of every jet of ``input`` (SPEC.md's recipe and layout).

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
    layout : {"store", "pandas-images"}
        "pandas-images" writes the challenge's image-file layout instead
        (pandas HDFStore "table": img_0 ... img_{npix^2-1}, is_signal_new, mass).
    codec : str
        Compression of the store's chunks, one of ``jetimg.io.writers.CODECS``.
    progress : callable, optional
        ``progress(done, total)``: rows written so far and rows to write; called
        once with ``done = 0`` before the first chunk and after every chunk.

    Returns
    -------
    BuildResult

    Raises
    ------
    InputError, InvalidJetError, OutputExistsError, JetimgError
        Bad input or options, an invalid jet (``.row``), an existing output.
        A failed build removes what it wrote and leaves any existing output.

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
    fmt = writers.store_format(output)
    if layout == "pandas-images" and fmt != "hdf5":
        raise InputError("layout 'pandas-images' is an HDF5 (pandas HDFStore) layout: "
                         "give an output ending in .h5 or .hdf5")
    if codec not in writers.CODECS:
        raise InputError(f"codec={codec!r} is not valid; choose one of {', '.join(writers.CODECS)}")
    chunk_size, image_rows = _chunk_rows(chunk_size)
    if workers is not None and (isinstance(workers, bool)
                                or not isinstance(workers, int | np.integer) or workers < 1):
        raise InputError(f"workers={workers!r} must be a positive integer (or None: all cores)")
    if isinstance(scheduler, str) and scheduler not in SCHEDULERS and "://" not in scheduler:
        raise InputError(f"scheduler={scheduler!r} is not valid; choose one of "
                         f"{', '.join(SCHEDULERS)} or a dask.distributed address (tcp://host:8786)")
    exists = output.exists() or output.is_symlink()
    if exists and not overwrite:
        raise OutputExistsError(f"output {output} already exists; "
                                "use overwrite=True (--overwrite) to replace it")
    writers.check_writable(output)
    source = open_jets(input, key=key, labels_key=labels_key)
    n_rows = source.n_rows
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int | np.integer) or limit < 1:
            raise InputError(f"limit={limit!r} must be a positive integer")
        if limit > source.n_rows:
            raise InputError(f"limit={limit} is beyond the input's {source.n_rows} rows")
        n_rows = int(limit)

    target = _temporary_path(output) if (exists or layout == "pandas-images") else output
    store = target if layout == "store" else target.with_suffix(".zarr")
    attrs = {"jetimg_version": __version__, "recipe": recipe.to_attrs(),
             "input": pathlib.Path(str(input)).name, "input_rows": int(source.n_rows),
             "n_jets": int(n_rows)}
    made = []
    try:
        writers.create_store(store, n_rows=n_rows, npix=recipe.npix,
                             has_labels=source.has_labels, attrs=attrs,
                             chunk_rows=chunk_size, image_chunk_rows=image_rows, codec=codec)
        made.append(store)
        if progress:
            progress(0, n_rows)
            progress = _Counter(progress, n_rows)
        n_invalid = _run_chunks(source, store, n_rows, chunk_size, recipe, workers,
                                scheduler, progress)
        writers.mark_complete(store)
        if layout == "pandas-images":
            made.append(target)
            write_pandas_images(store, target)
            writers.remove_store(store)
            made.remove(store)
        if target != output:
            writers.remove_store(output)
            os.replace(target, output)
    except BaseException:
        for path in made:
            writers.remove_store(path)
        raise
    finally:
        lock = pathlib.Path(str(store) + ".lock")
        if lock.exists():
            lock.unlink()
    return BuildResult(output=str(output), n_jets=n_rows, seconds=time.perf_counter() - started,
                       output_bytes=writers.store_size(output), n_invalid=n_invalid)


def _run_chunks(source, store, n_rows, chunk_size, recipe, workers, scheduler, progress):
    """Run one Dask task per chunk; return the number of invalid (skipped) jets."""
    import dask

    starts = range(0, n_rows, chunk_size)
    hdf5 = writers.store_format(store) == "hdf5"
    if not isinstance(scheduler, str) or scheduler not in SCHEDULERS:
        return _run_distributed(source, store, n_rows, chunk_size, recipe, scheduler,
                                progress, hdf5)
    lock = FileLock(str(store) + ".lock") if hdf5 else None
    tasks = [dask.delayed(process_chunk, pure=False)(
        source, str(store), s, min(s + chunk_size, n_rows), recipe, lock) for s in starts]
    workers = workers or os.cpu_count() or 1
    pool = None
    if scheduler == "threads":
        pool = ThreadPoolExecutor(workers)
    elif scheduler == "processes":
        pool = ProcessPoolExecutor(workers)
    callbacks = _ProgressCallback(progress) if progress else contextlib.nullcontext()
    try:
        with callbacks:
            results = dask.compute(*tasks, scheduler=scheduler, pool=pool) \
                if pool is not None else dask.compute(*tasks, scheduler=scheduler)
    finally:
        if pool is not None:  # let running tasks end before the caller cleans up
            pool.shutdown(wait=True, cancel_futures=True)
    return sum(bad for _, bad in results)


class _Counter:
    """Turns per-chunk row counts into ``progress(done, total)`` calls."""

    def __init__(self, progress, total):
        self.progress, self.total, self.done = progress, total, 0

    def __call__(self, rows):
        self.done += rows
        self.progress(self.done, self.total)


class _ProgressCallback:
    """A Dask callback calling ``progress(rows)`` as each chunk task finishes."""

    def __new__(cls, progress):
        from dask.callbacks import Callback

        def posttask(key, result, dsk, state, worker_id):
            if isinstance(result, tuple) and len(result) == 2:
                progress(result[0])

        return Callback(posttask=posttask)


def _run_distributed(source, store, n_rows, chunk_size, recipe, scheduler, progress, hdf5):
    try:
        from distributed import Client, Lock, as_completed
    except ImportError:
        raise JetimgError("a dask.distributed scheduler needs the 'distributed' extra: "
                          "pip install 'jetimg[distributed]'") from None
    own = not isinstance(scheduler, Client)
    try:
        client = Client(scheduler, timeout="20s") if own else scheduler
    except (OSError, TimeoutError, ValueError) as exc:
        raise JetimgError(f"cannot reach the dask scheduler at {scheduler}: {exc}") from None
    try:
        lock = Lock(f"jetimg-{os.path.abspath(store)}") if hdf5 else None
        futures = [client.submit(process_chunk, source, str(store), s,
                                 min(s + chunk_size, n_rows), recipe, lock, pure=False)
                   for s in range(0, n_rows, chunk_size)]
        n_invalid = 0
        try:
            for future in as_completed(futures):
                rows, bad = future.result()
                n_invalid += bad
                if progress:
                    progress(rows)
        except BaseException:
            client.cancel(futures)
            _wait_idle(client)
            raise
        return n_invalid
    finally:
        if own:
            client.close()


def _wait_idle(client, timeout=60.0):
    """Wait until no worker runs a task (cancelled tasks still finish their write)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(client.processing().values()):
            return
        time.sleep(0.1)


def write_pandas_images(store_path, output):
    """Copy a finished store into the challenge's image-file layout.

    A pandas HDFStore (key "table", format "table") with columns img_0 ...
    img_{npix^2-1} (the row-major image), is_signal_new (when the store has
    labels) and mass (jet_mass, GeV), written chunk by chunk.
    """
    try:
        import pandas as pd
        import tables  # noqa: F401
    except ImportError:
        raise JetimgError("layout 'pandas-images' needs pandas and PyTables: "
                          "pip install 'jetimg[pandas]'") from None
    import warnings

    with writers.open_store(store_path) as store:
        images = store["images"]
        n, npix = images.shape[0], images.shape[1]
        columns = [f"img_{i}" for i in range(npix * npix)]
        step = max(1, 2_000_000 // max(npix * npix, 1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PyTables' PerformanceWarning on wide tables
            with pd.HDFStore(output, mode="w") as out:
                for start in range(0, n, step):
                    stop = min(start + step, n)
                    frame = pd.DataFrame(images[start:stop].reshape(stop - start, -1),
                                         columns=columns, index=np.arange(start, stop))
                    if "labels" in store:
                        frame["is_signal_new"] = store["labels"][start:stop].astype(np.int64)
                    frame["mass"] = store["jet_mass"][start:stop].astype(np.float64)
                    out.append("table", frame, format="table", index=False)


def store_info(path):
    """A summary of an image store: format, rows, completeness, label counts, attributes.

    Reads the labels and ``valid`` arrays chunk by chunk (never the images).
    """
    with writers.open_store(path) as store:
        n = len(store)
        counts = None
        step = 1_000_000
        if "labels" in store:
            counts = {}
            for start in range(0, n, step):
                values, k = np.unique(store["labels"][start:start + step], return_counts=True)
                for v, c in zip(values.tolist(), k.tolist()):
                    counts[v] = counts.get(v, 0) + c
            counts = dict(sorted(counts.items()))
        n_invalid = sum(int(np.count_nonzero(store["valid"][s:s + step] == 0))
                        for s in range(0, n, step))
        return {"format": store.format, "n_rows": n, "complete": bool(store.attrs.get("complete")),
                "images_shape": tuple(store["images"].shape), "label_counts": counts,
                "n_invalid": n_invalid, "attrs": dict(store.attrs)}
