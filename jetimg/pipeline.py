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
import gc
import hashlib
import multiprocessing
import os
import pathlib
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np

from ._version import __version__
from .core import preprocess
from .outputs import empty_outputs
from .device import resolve_device
from .errors import InputError, JetimgError, OutputExistsError
from .io import checkpoints, stores
from .io import open_jets
from .recipe import Recipe

__all__ = ["build", "build_progress", "BuildResult", "DEFAULT_CHUNK_SIZE", "LAYOUTS",
           "SCHEDULERS"]

DEFAULT_CHUNK_SIZE = 20_000
IMAGE_CHUNK_ROWS = 1_000
LAYOUTS = ("store", "pandas-images")
SCHEDULERS = ("threads", "processes", "synchronous")


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


def _output_buffers(n_jets, npix):
    """This thread's output arrays and labels for ``n_jets`` rows: views of
    arrays kept for the largest chunk so far (each chunk is written before its
    task returns)."""
    out = getattr(_local, "out", None)
    if out is None or out["images"].shape[1] != npix or len(out["images"]) < n_jets:
        _local.out = _local.labels = None
        _local.out = out = empty_outputs(n_jets, npix)
        _local.labels = np.empty(n_jets, np.int8)
    return {name: a[:n_jets] for name, a in out.items()}, _local.labels[:n_jets]


def _load_kernel(recipe):
    """Run the serial CPU kernel once on one empty jet (loads it from the cache)."""
    preprocess(np.zeros((1, 1, 4), np.float32), recipe, parallel=False)


def process_chunk(source, target, start, stop, recipe, lock=None, build_id=None, device="cpu"):
    """Read rows [start, stop) of ``source``, make their images, write them to ``target``.

    Returns (rows, invalid jets) of the chunk. This is the body of every Dask
    task of :func:`build`; it takes only picklable arguments. With a
    ``build_id`` the chunk is recorded as finished once its rows are written
    (:mod:`jetimg.io.checkpoints`), so an interrupted build can resume.
    The rows go through :func:`jetimg.preprocess` on ``device``: on the CPU
    they are read and imaged :data:`READ_ROWS` at a time into this thread's
    buffers, on CUDA in one piece (one upload and one launch per chunk,
    through this thread's CUDA stream); the chunk is written at once.
    """
    n = stop - start
    jets = _jets_buffer(n if device == "cuda" else min(n, READ_ROWS), source.n_slots)
    out, labels = _output_buffers(n, recipe.npix)
    labels = labels if source.has_labels else None
    step = max(len(jets), 1)
    for lo in range(0, n, step):
        hi = min(lo + step, n)
        block, block_labels = source.read(start + lo, start + hi, out=jets[:hi - lo])
        preprocess(block, recipe, device=device, parallel=False, row_offset=start + lo,
                   out={name: a[lo:hi] for name, a in out.items()})
        if labels is not None:
            labels[lo:hi] = block_labels
    if labels is not None:
        out = {**out, "labels": labels}
    stores.write_rows(target, start, out, lock=lock)
    if build_id is not None:
        checkpoints.mark_done(target, build_id, start, stop)
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
          overwrite=False, resume=False, layout="store", codec=stores.DEFAULT_CODEC,
          device="cpu", progress=None, **options):
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
    chunk_size, image_rows = _chunk_rows(chunk_size)
    if workers is not None and (isinstance(workers, bool)
                                or not isinstance(workers, int | np.integer) or workers < 1):
        raise InputError(f"workers={workers!r} must be a positive integer (or None: all cores)")
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
        _check_resumable(output, fmt, layout, overwrite, exists)
    elif exists and not overwrite:
        hint = ("it holds an interrupted build: resume=True (--resume) finishes it, "
                if build_progress(output) is not None else "")
        raise OutputExistsError(f"output {output} already exists; {hint}"
                                "overwrite=True (--overwrite) replaces it")
    stores.check_writable(output)
    source = open_jets(input, key=key, labels_key=labels_key)
    n_rows = source.n_rows
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int | np.integer) or limit < 1:
            raise InputError(f"limit={limit!r} must be a positive integer")
        if limit > source.n_rows:
            raise InputError(f"limit={limit} is beyond the input's {source.n_rows} rows")
        n_rows = int(limit)
    if device == "cpu":  # load the kernel from numba's cache while the store is being made
        threading.Thread(target=_load_kernel, args=(recipe,), daemon=True).start()

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
        record = _resume_record(output, info)
        if record is None:  # already complete
            return BuildResult(output=str(output), n_jets=n_rows,
                               seconds=time.perf_counter() - started,
                               output_bytes=stores.store_size(output),
                               n_invalid=_count_invalid(output), n_made=0)
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
            progress = _Counter(progress, n_rows, n_rows - sum(b - a for a, b in todo))
        with _gc_frozen():
            n_invalid = _run_chunks(source, store, todo, recipe, workers, scheduler, progress,
                                    build_id, device)
        if resume:
            n_invalid = _count_invalid(store)
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
    record = checkpoints.load(output)
    if record is None:
        return None
    done = checkpoints.done_chunks(output, record["build_id"])
    return sum(stop - start for start, stop in done), int(record["n_jets"])


def _check_resumable(output, fmt, layout, overwrite, exists):
    if overwrite:
        raise InputError("resume and overwrite exclude each other: resume finishes the "
                         "interrupted build at the output, overwrite replaces it")
    if fmt != "zarr" or layout != "store":
        raise InputError("only Zarr stores can be resumed: an interrupted HDF5 file may be "
                         "corrupt (HDF5 is not crash-safe) and is removed; rebuild it, or "
                         "build to a .zarr store")
    if not exists:
        raise InputError(f"nothing to resume: {output} does not exist")


def _resume_record(output, info):
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
    differ = [f"recipe option {name}: {getattr(old, name)!r} before, {getattr(new, name)!r} now"
              for name in old.differences(new)]
    names = {"input": "input file name", "input_rows": "input rows", "n_jets": "rows (--limit)",
             "input_fingerprint": "input content (first and last rows)",
             "has_labels": "input labels", "codec": "codec", "jetimg_version": "jetimg version"}
    differ += [f"{what}: {earlier[name]!r} before, {info[name]!r} now"
               for name, what in names.items() if name in earlier and earlier[name] != info[name]]
    if differ:
        raise InputError(f"cannot resume {output}: this run differs from the interrupted "
                         f"one in {'; '.join(differ)}")
    return None if complete else record


def _count_invalid(path):
    with stores.open_store(path) as store:
        valid = store["valid"]
        return sum(int(np.count_nonzero(valid[s:s + 1_000_000] == 0))
                   for s in range(0, len(store), 1_000_000))


def _ignore_signals():
    """Worker processes ignore Ctrl-C and SIGTERM: the parent stops the build and
    lets their running chunk finish (a killed worker only loses its chunk)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


@contextlib.contextmanager
def _gc_frozen():
    """Keep the objects that exist before the chunks run out of the garbage
    collector's passes (``gc.freeze``), and give them back afterwards.

    numba, Dask and Zarr leave hundreds of thousands of objects behind their
    imports; Zarr's writes allocate enough to trigger full collections that
    walk them all, about a tenth of a build's time (measured: 6.2 s -> 5.3 s for
    1.2M jets). Nothing is changed if the caller froze objects already.
    """
    if gc.get_freeze_count():
        yield
        return
    import dask.threaded  # noqa: F401  (imported before the freeze, as zarr is)

    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _run_chunks(source, store, chunks, recipe, workers, scheduler, progress, build_id, device):
    """Run one Dask task per ``(start, stop)`` chunk; return the number of invalid jets."""
    hdf5 = stores.store_format(store) == "hdf5"
    if not isinstance(scheduler, str) or scheduler not in SCHEDULERS:
        return _run_distributed(source, store, chunks, recipe, scheduler, progress, hdf5,
                                build_id, device)
    import dask.local
    import dask.multiprocessing
    import dask.threaded

    lock = FileLock(str(store) + ".lock") if hdf5 else None
    # A plain task graph run by dask's local scheduler with our own pool (the
    # generic dask.compute would import dask.distributed to look for a client).
    graph = {("chunk", i): (process_chunk, source, str(store), start, stop, recipe, lock,
                            build_id, device)
             for i, (start, stop) in enumerate(chunks)}
    keys = list(graph)
    workers = workers or os.cpu_count() or 1
    pool = None
    if scheduler == "threads":
        pool = ThreadPoolExecutor(workers)
    elif scheduler == "processes":
        # forkserver, not fork: this process may run threads (zarr's event
        # loop, numba's, JAX's after training) that a forked child would
        # inherit in whatever state they were, locks included.
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver"),
                                   initializer=_ignore_signals)
    callbacks = _ProgressCallback(progress) if progress else contextlib.nullcontext()
    try:
        with callbacks:
            if scheduler == "threads":
                results = dask.threaded.get(graph, keys, pool=pool, num_workers=workers)
            elif scheduler == "processes":
                results = dask.multiprocessing.get(graph, keys, pool=pool, num_workers=workers)
            else:
                results = dask.local.get_sync(graph, keys)
    finally:
        if pool is not None:  # let running tasks end before the caller cleans up
            pool.shutdown(wait=True, cancel_futures=True)
    return sum(bad for _, bad in results)


class _Counter:
    """Turns per-chunk row counts into ``progress(done, total)`` calls."""

    def __init__(self, progress, total, done=0):
        self.progress, self.total, self.done = progress, total, done
        progress(done, total)

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


def _run_distributed(source, store, chunks, recipe, scheduler, progress, hdf5, build_id,
                     device):
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
        # A worker that dies loses only its running tasks: the scheduler runs
        # them again elsewhere, and they rewrite the same rows.
        futures = [client.submit(process_chunk, source, str(store), start, stop, recipe,
                                 lock, build_id, device, pure=False) for start, stop in chunks]
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

    with stores.open_store(store_path) as store:
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
    with stores.open_store(path) as store:
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
