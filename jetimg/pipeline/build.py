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

import contextlib
import dataclasses
import os
import pathlib
import threading
import time

from .._version import __version__
from ..device import resolve_device
from ..errors import InputError, OutputExistsError, StoreWriteError
from ..io.store import checkpoints, stores
from ..io.readers.multi import input_names, open_inputs
from ..io.store.pandas_images import write_pandas_images
from ..recipe import Recipe, particle_features
from .chunks import ChunkJob, load_kernel, particle_shape, writing
from .lock import output_lock
from .resume import (build_progress, check_resumable, count_invalid, input_files,
                     input_fingerprint, resume_record)
from .schedulers import ProgressCounter, gc_frozen, run_chunks
from .settings import DEFAULT_CHUNK_SIZE, LAYOUTS, BuildSettings, chunk_rows

__all__ = ["build", "BuildResult", "BuildSettings", "DEFAULT_CHUNK_SIZE", "LAYOUTS",
           "chunk_rows"]


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


#: Importing numba and loading the kernel from its cache takes about a second
#: (more on a busy machine); longer than this (seconds) means numba is
#: compiling it (the first run, or after an upgrade), which takes about 15 s.
COMPILE_NOTICE_S = 3.0
COMPILE_NOTICE = "compiling the kernels, first run only (about 15 s)..."


class _KernelLoader:
    """Loads the CPU kernel on a thread of its own while the store is made."""

    def __init__(self, recipe):
        self.started = time.monotonic()
        self.thread = threading.Thread(target=self._load, args=(recipe,), daemon=True,
                                       name="jetimg-load-kernel")
        self.thread.start()

    @staticmethod
    def _load(recipe):
        try:
            load_kernel(recipe)
        except Exception:  # noqa: S110  (the chunks meet the same error and report it)
            pass

    def wait(self, notify=None):
        """Wait for the kernel; ``notify(COMPILE_NOTICE)`` once if it is being compiled."""
        self.thread.join(max(0.0, COMPILE_NOTICE_S - (time.monotonic() - self.started)))
        if self.thread.is_alive() and notify is not None:
            notify(COMPILE_NOTICE)
        self.thread.join()

    def join(self):
        self.thread.join()


def _temporary_path(output):
    return output.with_name(f".{output.stem}.jetimg-tmp-{os.getpid()}{output.suffix}")


def build(input, output, recipe=None, settings=None, *, progress=None, notify=None,
          **options):
    """Make the image store of every jet of ``input`` (docs/recipe.md's recipe and layout).

    What each image is comes from ``recipe``, how the build runs from
    ``settings`` (:class:`BuildSettings`); keyword ``options`` override
    fields of either, by name (``npix=32``, ``chunk_size=10_000``), so the
    settings below are keyword arguments too.

    Parameters
    ----------
    input : str, Path, or a list of them
        Constituents: the top-tagging HDF5 layout (pandas "fixed" or "table"),
        or a plain (N, M, 4) array in HDF5, Zarr or .npy (see
        :func:`jetimg.io.open_jets`). Several files (a list, or a glob pattern
        such as ``"train/*.h5"``, expanded and sorted by full path) of one
        layout and one set of label_names are one input, their rows in that
        order; files of fewer slots M are padded to the largest
        (:func:`jetimg.io.readers.multi.open_inputs`).
    output : str or Path
        ``*.zarr`` (Zarr v3 group) or ``*.h5`` / ``*.hdf5`` (HDF5 file).
    recipe : Recipe, optional
        The recipe; keyword ``options`` override its fields.
    settings : BuildSettings, optional
        The build settings below, as one object; keyword ``options`` override
        its fields.
    key, labels_key : str, optional
        Dataset / column names of the jets and labels (see ``open_jets``).
    pid_key : str, optional
        Plain arrays: the (N, M) array of PDG ids beside the jets (particle
        kinds; checked against the jets' shape). Default: ``pid`` beside
        the jets in an HDF5 or Zarr group, when there is one.
    chunk_size : int
        Jets per Dask task (above 1000 rounded up to a multiple of 1000).
    limit : int, optional
        Take only the first ``limit`` rows (of all files together). A
        name-sorted JetClass glob is in class blocks: the first rows are then
        one class.
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
        Compression of the store's chunks, one of ``jetimg.io.store.stores.CODECS``.
    device : {"cpu", "cuda", "auto"}
        Where the kernels run. With "cuda" each worker thread sends its chunks
        through its own CUDA stream (one upload, the kernel, one download), so
        reading, transfers, the kernel and compression overlap; the "processes"
        scheduler cannot share the GPU this way and is refused.
    progress : callable, optional
        ``progress(done, total)``: rows written so far and rows to write; called
        once before the first chunk (``done`` > 0 when resuming) and after every chunk.
    notify : callable, optional
        ``notify(line)``: told, in one line, of what takes time or was found on
        the way: the kernels being compiled (the first run, about 15 s), a stale
        lock of a killed build taken over. Silent by default.

    Returns
    -------
    BuildResult

    Raises
    ------
    InputError, InvalidJetError, OutputExistsError, JetimgError
        Bad input or options, an invalid jet (``.row``), an existing output.
        A failed build removes what it wrote and leaves any existing output.
    OutputBusyError
        Another build is writing ``output``: it holds the lock
        ``{output}.jetimg-lock`` beside it (taken before anything is written,
        removed on every exit; the lock of a build killed on this host is
        taken over, with a ``notify`` line).
    StoreWriteError
        The output cannot be written (full disk, quota, permission, read-only
        file system, a vanished folder): ``.cause`` says which. A fresh Zarr
        build is kept, incomplete (``.resumable``, ``.rows`` written), for
        ``resume`` once that is fixed; other outputs are removed as after a
        failure, and an existing output stays.
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
    names = BuildSettings.names()
    settings = BuildSettings.from_options(
        settings, **{k: v for k, v in options.items() if k in names})
    recipe = Recipe.from_options(recipe, **{k: v for k, v in options.items() if k not in names})
    output = pathlib.Path(output)
    layout = settings.layout
    fmt = stores.store_format(output)
    if layout == "pandas-images" and fmt != "hdf5":
        raise InputError("layout 'pandas-images' is an HDF5 (pandas HDFStore) layout: "
                         "give an output ending in .h5 or .hdf5")
    if layout == "pandas-images" and recipe.channels is not None:
        raise InputError(f"layout 'pandas-images' holds one image per jet (columns img_0 ...), "
                         f"not the {recipe.n_channels} channels {', '.join(recipe.channels)}; "
                         f"build a Zarr or HDF5 store instead")
    if layout == "pandas-images" and recipe.particles is not None:
        raise InputError(f"layout 'pandas-images' holds images only (columns img_0 ...), not "
                         f"particles={recipe.particles}; build a Zarr or HDF5 store instead")
    device = resolve_device(settings.device)
    if device == "cuda" and settings.scheduler == "processes":
        raise InputError("device 'cuda' runs with the threads scheduler (or a dask.distributed "
                         "cluster), not 'processes': forked workers cannot use the GPU "
                         "the parent opened")
    settings = dataclasses.replace(settings, device=device)
    stores.check_writable(output)
    with output_lock(output, notify):
        return _build_locked(input, output, recipe, settings, fmt, progress, notify, started)


def _without_kinds(source):
    """The (first) input file of ``source`` without particle kinds."""
    parts = getattr(source, "parts", [source])
    return next((p.path for p in parts if not p.has_kinds), source.path)


def _build_locked(input, output, recipe, settings, fmt, progress, notify, started):
    """The build once the output's lock is held: what is there, then the chunks."""
    resume, layout, codec, chunk_size = (settings.resume, settings.layout, settings.codec,
                                         settings.chunk_size)
    exists = output.exists() or output.is_symlink()
    if resume:
        check_resumable(output, fmt, layout, settings.overwrite, exists)
    elif exists and not settings.overwrite:
        hint = ("it holds an interrupted build: resume=True finishes it, "
                if build_progress(output) is not None else "")
        raise OutputExistsError(f"output {output} already exists; {hint}"
                                "overwrite=True replaces it")
    source = open_inputs(input, key=settings.key, labels_key=settings.labels_key,
                         pid_key=settings.pid_key)
    with source:  # its file handles close with the build (others' workers: at exit)
        if layout == "pandas-images" and source.label_names is not None \
                and len(source.label_names) > 2:
            raise InputError(f"layout 'pandas-images' holds two classes (its one is_signal_new "
                             f"column) but the input has {len(source.label_names)}: "
                             f"{', '.join(source.label_names)}; build a store instead")
        if recipe.needs_kinds and not source.has_kinds:
            raise InputError(f"channel {recipe.needs_kinds[0]} selects particles by kind, but "
                             f"{_without_kinds(source)} carries no particle identity; kinds "
                             f"come from JetClass ROOT files, quark/gluon .npz files, or a "
                             f"pid array beside plain arrays (pid_key=)")
        if recipe.vary is not None and recipe.vary.needs_kinds and not source.has_kinds:
            raise InputError(f"vary={recipe.vary.to_text()!r}: neutral_scale scales photons "
                             f"and neutral hadrons, but {_without_kinds(source)} carries no "
                             f"particle identity; kinds come from JetClass ROOT files, "
                             f"quark/gluon .npz files, or a pid array beside plain arrays "
                             f"(pid_key=)")
        n_rows = source.n_rows
        if settings.limit is not None:
            if settings.limit > source.n_rows:
                raise InputError(f"limit={settings.limit} is beyond the input's "
                                 f"{source.n_rows} rows")
            n_rows = settings.limit

        attrs = {"jetimg_version": __version__, "recipe": recipe.to_attrs(),
                 "input": input_names(source), "input_rows": int(source.n_rows),
                 "n_jets": int(n_rows)}
        if source.label_names is not None:
            attrs["label_names"] = list(source.label_names)
        if recipe.particles is not None:  # F = 17 for an input with particle kinds
            attrs["particle_features"] = list(particle_features(source.has_kinds))
        target = output if resume or not (exists or layout == "pandas-images") \
            else _temporary_path(output)
        store = target if layout == "store" else target.with_suffix(".zarr")
        # Only a Zarr store built at its final path can be resumed; the others are
        # removed when interrupted, so they need no record of finished chunks.
        resumable = fmt == "zarr" and layout == "store" and target == output
        if resumable:
            info = {**attrs, "has_labels": source.has_labels, "codec": codec,
                    "input_fingerprint": input_fingerprint(source, n_rows)}
            files = input_files(source)
            if files is not None:
                info["input_files"] = files
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
        # Load the kernel from numba's cache while the store is being made: only
        # now, after every check, and joined on every way out (a thread still
        # running when the interpreter exits can hang it or crash it).
        loader = _KernelLoader(recipe) if settings.device == "cpu" else None
        try:
            if not resume:
                made.append(store)
                with writing(store):
                    checkpoints.clear(store)
                    stores.create_store(store, n_rows=n_rows, npix=recipe.npix,
                                         n_channels=recipe.n_channels,
                                         **particle_shape(recipe, source.has_kinds),
                                         has_labels=source.has_labels, attrs=attrs,
                                         chunk_rows=chunk_size,
                                         image_chunk_rows=settings.image_chunk_rows,
                                         codec=codec)
                    if resumable:
                        build_id = checkpoints.start(store, {**info, "chunk_size": chunk_size})
            if loader is not None:
                loader.wait(notify)
            if progress:
                progress = ProgressCounter(progress, n_rows, n_rows - sum(b - a for a, b in todo))
            with gc_frozen():
                job = ChunkJob(source, str(store), recipe, build_id=build_id,
                               device=settings.device)
                n_invalid = run_chunks(job, todo, settings, progress)
            if resume:
                n_invalid = count_invalid(store)
            with writing(store):
                stores.mark_complete(store)
                checkpoints.clear(store)
            if layout == "pandas-images":
                made.append(target)
                with writing(target):
                    write_pandas_images(store, target)
                stores.remove_store(store)
                made.remove(store)
            if target != output:
                with writing(output):
                    stores.remove_store(output)
                    checkpoints.clear(output)
                    os.replace(target, output)
        except BaseException as exc:
            write_error = isinstance(exc, StoreWriteError)
            # A Zarr store at its final path with its record of finished chunks is
            # kept, incomplete, for resume (after Ctrl-C or a failed write); all
            # else that this call made is removed, and an existing output stays.
            keep = (resumable and (write_error or isinstance(exc, KeyboardInterrupt))
                    and build_id is not None and checkpoints.load(store) is not None)
            if not keep:
                for path in made:
                    with contextlib.suppress(OSError):
                        stores.remove_store(path)
                        checkpoints.clear(path)
            if write_error:
                rows = None
                if keep:
                    rows = sum(b - a for a, b in checkpoints.done_chunks(store, build_id))
                raise StoreWriteError(output, exc.cause, resumable=keep, rows=rows, n_rows=n_rows,
                                      errno=exc.errno) from None
            raise
        finally:
            if loader is not None:
                loader.join()
            lock = pathlib.Path(str(store) + ".lock")
            with contextlib.suppress(OSError):
                lock.unlink()
        return BuildResult(output=str(output), n_jets=n_rows, seconds=time.perf_counter() - started,
                           output_bytes=stores.store_size(output), n_invalid=n_invalid,
                           n_made=sum(stop - start for start, stop in todo))
