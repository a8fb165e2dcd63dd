"""End-to-end ``jetimg build`` against an I/O floor, on a realistic top-tagging file.

A script, not a test (benchmarks/ stays out of the test run)::

    python benchmarks/bench_build.py [N] [--repeat R] [--scheduler threads|processes]
                                     [--workers W] [--chunk-size C] [--seed S]
                                     [--data-dir DIR] [--inputs uncompressed,zlib]
                                     [--root-files K] [--channels A,B,...]
                                     [--particles P] [--no-quarter] [--json PATH]

Input: N toy jets (``jetimg.toys.toy_jets(N, seed=S)``, 200 slots) written with
``jetimg.toys.write_toptag`` in the reference layout (pandas "fixed",
key "table"), once uncompressed and once zlib-compressed (complevel 5). Both
are cached in ``DIR`` (default ``bench_data/`` in the repository root,
git-ignored) with a JSON sidecar, and reused when N and the seed match.

For each input this times:

* ``build``: the installed ``jetimg build INPUT -o OUT.zarr --quiet`` as a
  subprocess (start-up, imports and numba's cache load included; Zarr output,
  default recipe and codec; ``--scheduler``/``--workers``/``--chunk-size`` only
  passed when given). Peak memory is measured twice: ``tree`` is the largest
  sum of RSS over the command and all its descendants (psutil, polled every
  20 ms; shared pages of forked workers count once per process, so it
  over-counts), ``maxrss`` is ``/usr/bin/time``'s ``%M`` (the largest single
  process among the command and its waited-for descendants).
* ``floor``: everything a build must do but the images, in this process with
  the same scheduler kind (threads or processes) and worker count: each task
  reads its rows with ``jetimg.open_jets(INPUT).read(start, stop)`` (same chunk
  size) and writes the same rows of a Zarr store made by
  ``jetimg.io.store.stores.create_store`` (same shape, chunking and codec) with
  ``write_rows``. The rows written are the real images and per-jet values of
  the file's first chunk (from ``jetimg.preprocess``, made before timing),
  repeated for every chunk, with each chunk's own labels: the compressor does
  the same work as in a build (each store chunk is compressed on its own, so
  repetition gives it no advantage). No start-up cost is included.
* ``floor-proc``: the same floor run as its own program, timed like the
  build from start to exit (``python bench_build.py --floor-job ...``: the
  interpreter's start, the imports of NumPy, h5py, Zarr and numba (which
  ``jetimg.io`` imports; no kernel is loaded), and its own fresh buffers
  included; Dask is not imported).
* ``in-proc``: ``jetimg.build`` called in this process, already warm (the
  kernel loaded, Zarr imported): the build without start-up.

Three ratios are printed: the command against ``floor-proc`` (program against
program, the like-for-like one), ``in-proc`` against ``floor`` (both without
start-up), and the command against ``floor`` (start-up counted on one side
only, the strictest). Every figure is the median of ``--repeat`` runs.

Input ``jetclass`` (``--inputs jetclass``; ``--root-files K``): the same N toy
jets in the JetClass layout, K ROOT files of N/K jets written with
``jetimg.io.writers.jetclass.write_jetclass`` (jagged part_* branches, ten
label_* branches, baskets of 5,000 rows), built as one input through a glob
(``DIR/*.root``). Each particle's kind is drawn on its own with fixed
fractions close to real jets' (charged hadrons 0.55, photons 0.30, neutral
hadrons 0.12, electrons 0.015, muons 0.015; generator seeded by S, apart
from the jets'), written as the part_is* flags, with part_charge following
from the kind (+1 charged hadrons, -1 electrons and muons, 0 otherwise);
the cache folder's name ends in ``_kinds``. Its floor reads the same
branches over the same entries with uproot (``read_flat`` of each file's
source: the particles unpadded, the part_is* flags checked, labels decoded),
then writes the same store. Peak memory for 4 and for 40 files of the same
N shows whether it grows with the number of files.

Channels (``--channels A,B,...``, names as ``jetimg build --channels``):
every build (command, ``--limit N/4`` and in-process) makes images of these
channels, and the floor writes a store of images (N, npix, npix, C) from a
template made with the same channels. A channel that selects particles by
kind (``charged_pt``, ``neutral_count``, ...) makes the build read the
particle kinds, and the floor reads them too: ``read_flat(start, stop,
kinds=True)`` of a ROOT file (part_is* flags and part_charge), ``read_kinds``
of a padded layout. The top-tagging inputs carry no particle kinds: such a
channel with ``--inputs uncompressed`` or ``zlib`` is refused in one line
(channels without a kind, ``pt,e,count``, run on every input). The printed
table and the JSON name the channels.

For the uncompressed input ``build`` also runs with ``--limit N/4`` (same
file), to show that peak memory does not grow with N. The page cache is warm for every
run (the input was just written or read); nothing is flushed between runs.
Outputs are deleted after each run. Targets printed beside the results:
build/floor <= 1.5, 1.2M jets in under 30 s from uncompressed input, peak
memory under 2 GB and flat in N.
"""

import argparse
import concurrent.futures
import datetime
import json
import os
import pathlib
import platform
import re
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import psutil

import jetimg
from jetimg.errors import JetimgError
from jetimg.io import open_inputs
from jetimg.io.store import stores
from jetimg.outputs import output_specs
from jetimg.pipeline import DEFAULT_CHUNK_SIZE, chunk_rows
from jetimg.pipeline.chunks import particle_shape
from jetimg.recipe import particle_features

ROOT = pathlib.Path(__file__).resolve().parent.parent
INPUTS = ("uncompressed", "zlib", "jetclass")
GB = 1e9
TARGET_RATIO = 1.5
TARGET_SECONDS_1M2 = 30.0
TARGET_PEAK_BYTES = 2e9


# ---------------------------------------------------------------------------
# Input files (cached)
# ---------------------------------------------------------------------------

def input_paths(data_dir, n, seed):
    stem = f"toptag_n{n}_seed{seed}"
    return {"uncompressed": data_dir / f"{stem}.h5", "zlib": data_dir / f"{stem}_zlib5.h5"}


def _meta_path(path):
    return path.with_name(path.name + ".json")


def _cached(path, n, seed):
    meta = _meta_path(path)
    if not (path.is_file() and meta.is_file()):
        return False
    try:
        info = json.loads(meta.read_text())
    except ValueError:
        return False
    return info.get("n") == n and info.get("seed") == seed and info.get("bytes") == path.stat().st_size


#: rows per ROOT basket in the jetclass input: a file written by ROOT holds many
#: baskets (a reader decompresses whole baskets), not one per branch
BASKET_ROWS = 5_000

#: fraction of each particle kind in the jetclass input, close to real jets'
#: (by count: charged hadrons about half, photons about a third, then neutral
#: hadrons; few leptons)
KIND_FRACTIONS = {"charged_hadron": 0.55, "photon": 0.30, "neutral_hadron": 0.12,
                  "electron": 0.015, "muon": 0.015}


def toy_kinds(jets, seed):
    """The kind code of every slot of ``jets`` (N, M, 4), drawn with :data:`KIND_FRACTIONS`.

    Each particle's kind is drawn on its own (no dependence on its momentum)
    from a generator seeded with ``seed``, apart from ``toy_jets``' own;
    padding slots (all four components zero) get 0. Charges follow from the
    kinds (``write_jetclass``'s default: +1 for charged hadrons, -1 for
    electrons and muons, 0 for photons and neutral hadrons).
    """
    from jetimg.kinds import KIND_CODE, KIND_DTYPE

    codes = np.array([KIND_CODE[k] for k in KIND_FRACTIONS], KIND_DTYPE)
    edges = np.cumsum(list(KIND_FRACTIONS.values()))
    rng = np.random.default_rng([seed, 0x6B696E64])  # "kind"
    kinds = np.zeros(jets.shape[:2], KIND_DTYPE)
    step = 100_000  # rows at a time: bounded temporaries
    for lo in range(0, len(jets), step):
        real = jets[lo:lo + step].any(axis=2)
        drawn = np.searchsorted(edges, rng.random(int(real.sum())) * edges[-1], side="right")
        kinds[lo:lo + step][real] = codes[np.minimum(drawn, len(codes) - 1)]
    return kinds


def make_jetclass(data_dir, n, seed, n_files):
    """Write (or reuse) N toy jets as ``n_files`` JetClass-layout ROOT files; return the folder.

    The particles' kinds are drawn by :func:`toy_kinds` (the folder name ends
    in ``_kinds``: folders written before the kinds, every particle a charged
    hadron, are not reused).
    """
    from jetimg.io.writers.jetclass import write_jetclass
    from jetimg.toys import toy_jets

    folder = data_dir / f"jetclass_n{n}_k{n_files}_seed{seed}_b{BASKET_ROWS}_kinds"
    done = folder / "done.json"
    if done.is_file():
        print(f"# reusing {folder} ({_input_bytes(folder) / GB:.2f} GB)", flush=True)
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    t0 = time.perf_counter()
    jets, labels = toy_jets(n, seed=seed)
    kinds = toy_kinds(jets, seed)
    classes = np.where(labels == 1, 8, 0)  # top -> Tbqq, QCD -> QCD (JetClass's indices)
    bounds = np.linspace(0, n, n_files + 1).astype(int)
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        write_jetclass(folder / f"part_{i:03d}.root", jets[a:b], classes[a:b],
                       kinds=kinds[a:b], basket_rows=BASKET_ROWS)
    done.write_text(json.dumps({"n": n, "seed": seed, "files": n_files,
                                "kind_fractions": KIND_FRACTIONS}))
    print(f"# wrote {n_files} JetClass-layout files in {folder} "
          f"({_input_bytes(folder) / GB:.2f} GB) in {time.perf_counter() - t0:.1f} s", flush=True)
    return folder


def _input_arg(path):
    """What the build is given: the file, or a glob of a folder's ROOT files."""
    path = pathlib.Path(path)
    return str(path / "*.root") if path.is_dir() else str(path)


def _input_bytes(path):
    path = pathlib.Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.glob("*.root"))
    return path.stat().st_size


def make_inputs(data_dir, n, seed, which, n_files=4):
    """Write (or reuse) the cached input files; return {name: path}."""
    from jetimg.toys import toy_jets, write_toptag

    data_dir.mkdir(parents=True, exist_ok=True)
    paths = {k: v for k, v in input_paths(data_dir, n, seed).items() if k in which}
    if "jetclass" in which:
        paths["jetclass"] = make_jetclass(data_dir, n, seed, n_files)
    paths = {k: paths[k] for k in which}
    if all(k == "jetclass" for k in paths):
        return paths
    missing = [k for k, p in paths.items() if k != "jetclass" and not _cached(p, n, seed)]
    if not missing:
        for k, p in paths.items():
            if k != "jetclass":
                print(f"# reusing {p} ({p.stat().st_size / GB:.2f} GB)", flush=True)
        return paths
    t0 = time.perf_counter()
    jets, labels = toy_jets(n, seed=seed)
    print(f"# toy_jets({n}) in {time.perf_counter() - t0:.1f} s", flush=True)
    for k in missing:
        p = paths[k]
        t0 = time.perf_counter()
        write_toptag(p, jets, labels, format="fixed",
                     complib=None if k == "uncompressed" else "zlib", complevel=5)
        seconds = time.perf_counter() - t0
        _meta_path(p).write_text(json.dumps({
            "n": n, "seed": seed, "bytes": p.stat().st_size, "format": "fixed",
            "complib": None if k == "uncompressed" else "zlib", "complevel": 5,
            "write_seconds": seconds, "jetimg_version": jetimg.__version__}))
        print(f"# wrote {p} ({p.stat().st_size / GB:.2f} GB) in {seconds:.1f} s", flush=True)
    del jets, labels
    return paths


# ---------------------------------------------------------------------------
# The build, as a subprocess
# ---------------------------------------------------------------------------

def _jetimg_command():
    exe = shutil.which("jetimg") or str(pathlib.Path(sys.executable).with_name("jetimg"))
    if not os.path.exists(exe):
        raise SystemExit("the jetimg command is not on PATH: activate the venv")
    return exe


class TreeRSS:
    """Largest sum of RSS over a process and its descendants, polled in a thread."""

    def __init__(self, pid, interval=0.02):
        self.proc = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self.peak_procs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            total, count = 0, 0
            try:
                procs = [self.proc] + self.proc.children(recursive=True)
            except psutil.Error:
                procs = []
            for p in procs:
                try:
                    total += p.memory_info().rss
                    count += 1
                except psutil.Error:
                    pass
            if total > self.peak:
                self.peak, self.peak_procs = total, count
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def run_build(input_path, out_dir, args, limit=None):
    """Time ``jetimg build`` as a subprocess, under ``/usr/bin/time`` for ru_maxrss.

    ``ru_maxrss`` is taken by /usr/bin/time (``%M``, its child's and waited-for
    descendants' largest RSS): a child forked straight from this process would
    inherit this process's high-water mark (Linux accounts the pre-exec memory).
    """
    out = out_dir / f"bench_build_{os.getpid()}.zarr"
    rss_file = out_dir / f"bench_build_{os.getpid()}.maxrss"
    stores.remove_store(out)
    cmd = [_jetimg_command(), "build", _input_arg(input_path), "-o", str(out), "--quiet"]
    if args.scheduler_given:
        cmd += ["--scheduler", args.scheduler]
    if args.workers_given:
        cmd += ["--workers", str(args.workers)]
    if args.chunk_size_given:
        cmd += ["--chunk-size", str(args.chunk_size)]
    if args.recipe.channels is not None:
        cmd += ["--channels", ",".join(args.recipe.channels)]
    if args.recipe.particles is not None:
        cmd += ["--particles", str(args.recipe.particles)]
    if limit is not None:
        cmd += ["--limit", str(limit)]
    wrapped = (["/usr/bin/time", "-f", "%M", "-o", str(rss_file)] + cmd
               if os.path.exists("/usr/bin/time") else cmd)
    t0 = time.perf_counter()
    proc = subprocess.Popen(wrapped, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with TreeRSS(proc.pid) as tree:
        stdout, stderr = proc.communicate()
    seconds = time.perf_counter() - t0
    maxrss = None
    if rss_file.exists():
        try:
            maxrss = int(rss_file.read_text().split()[-1]) * 1024  # KiB
        except (ValueError, IndexError):
            pass
        rss_file.unlink()
    if proc.returncode != 0:
        stores.remove_store(out)
        raise SystemExit(f"jetimg build failed ({proc.returncode}):\n{stdout}\n{stderr}")
    m = re.search(r"in ([0-9.]+) s", stdout)
    size = stores.store_size(out)
    stores.remove_store(out)
    return {"seconds": seconds, "internal_seconds": float(m.group(1)) if m else None,
            "peak_tree_bytes": tree.peak, "peak_tree_procs": tree.peak_procs,
            "maxrss_bytes": maxrss, "output_bytes": size, "command": " ".join(cmd[1:]),
            "stdout": stdout.strip()}


# ---------------------------------------------------------------------------
# The floor: read + write, no images
# ---------------------------------------------------------------------------

_TEMPLATE = {}


def _template(path):
    """The template's arrays, one plain .npy each (an .npz member goes through
    zipfile, which costs the floor process seconds for (chunk, 40, 40, C) images)."""
    if path not in _TEMPLATE:
        _TEMPLATE[path] = {f.stem: np.load(f) for f in sorted(pathlib.Path(path).glob("*.npy"))}
    return _TEMPLATE[path]


def _floor_read(source, start, stop, kinds=False, charges=False):
    """Rows start:stop as the floor reads them: a ROOT file's branches through
    uproot (``read_flat``: particles unpadded), any other layout's ``read``.

    With ``kinds`` (a channel that selects particles by kind) the particle
    kinds too, as a build reads them: ``read_flat(..., kinds=True)`` of a
    ROOT file (its part_is* flags and part_charge), ``read_kinds`` of any
    other layout. With ``charges`` (particles of an input with kinds) the
    charges too (``read_flat(..., charges=True)``, ``read_charges``). Returns
    the labels (or None); the rest is dropped."""
    parts = getattr(source, "parts", None)
    if parts is None:
        if source.jagged:
            return source.read_flat(start, stop, kinds=kinds, charges=charges)[2]
        labels = source.read(start, stop)[1]
        source.read_identity(start, stop, kinds, charges)
        return labels
    labels = []
    for part, offset in zip(parts, source.offsets):
        a, b = max(start - offset, 0), min(stop - offset, part.n_rows)
        if a < b:
            labels.append(_floor_read(part, a, b, kinds, charges))
    return None if labels[0] is None else np.concatenate(labels)


def floor_task(source, store, start, stop, template_path, kinds=False, charges=False):
    labels = _floor_read(source, start, stop, kinds, charges)
    n = stop - start
    out = {k: v[:n] for k, v in _template(template_path).items()}
    if labels is not None:
        out["labels"] = labels
    stores.write_rows(store, start, out)
    return n


def run_floor(input_path, out_dir, args, template_path):
    """Read every chunk as the build reads it (the particle kinds too when a
    channel selects by kind) and write the template's rows to a store of the
    build's shape (images with the channel axis when there are channels)."""
    recipe = args.recipe
    source = open_inputs(_input_arg(input_path))
    n_rows = source.n_rows
    chunk, image_rows = chunk_rows(args.chunk_size)
    store = out_dir / f"bench_floor_{os.getpid()}.zarr"
    stores.remove_store(store)
    t0 = time.perf_counter()
    stores.create_store(store, n_rows=n_rows, npix=recipe.npix, n_channels=recipe.n_channels,
                         has_labels=source.has_labels, attrs={"n_jets": n_rows},
                         chunk_rows=chunk, image_chunk_rows=image_rows,
                         codec=stores.DEFAULT_CODEC,
                         **particle_shape(recipe, source.has_kinds))
    pool_cls = (concurrent.futures.ProcessPoolExecutor if args.scheduler == "processes"
                else concurrent.futures.ThreadPoolExecutor)
    # what a build reads beside the jets: kinds for kind channels, kinds and
    # charges for the particles of an input with kinds
    kinds, charges = recipe.reads_identity(source.has_kinds)
    with pool_cls(args.workers) as pool:
        futures = [pool.submit(floor_task, source, str(store), s, min(s + chunk, n_rows),
                               str(template_path), kinds, charges)
                   for s in range(0, n_rows, chunk)]
        rows = sum(f.result() for f in futures)
    stores.mark_complete(store)
    seconds = time.perf_counter() - t0
    size = stores.store_size(store)
    stores.remove_store(store)
    source.close()
    assert rows == n_rows
    return {"seconds": seconds, "output_bytes": size}


def run_build_inprocess(input_path, out_dir, args):
    """Time ``jetimg.build`` in this (warm) process: the build without start-up."""
    out = out_dir / f"bench_inproc_{os.getpid()}.zarr"
    stores.remove_store(out)
    kw = {name: getattr(args, name) for name in ("scheduler", "workers", "chunk_size")
          if getattr(args, name + "_given")}
    t0 = time.perf_counter()
    jetimg.build(_input_arg(input_path), out, args.recipe, **kw)
    seconds = time.perf_counter() - t0
    stores.remove_store(out)
    return {"seconds": seconds}


def run_floor_process(input_path, out_dir, args, template_path):
    """Time :func:`run_floor` in a fresh interpreter, from its start to its exit."""
    cmd = [sys.executable, str(pathlib.Path(__file__).resolve()), "--floor-job", str(input_path),
           str(template_path), "--data-dir", str(out_dir), "--scheduler", args.scheduler,
           "--workers", str(args.workers), "--chunk-size", str(args.chunk_size)]
    if args.recipe.channels is not None:
        cmd += ["--channels", ",".join(args.recipe.channels)]
    if args.recipe.particles is not None:
        cmd += ["--particles", str(args.recipe.particles)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"floor job failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return {"seconds": seconds, "internal_seconds": json.loads(proc.stdout)["seconds"]}


def warm_up(out_dir, template_path, recipe, has_kinds):
    """Import zarr and write a tiny store once, so the first floor is not charged for it."""
    store = out_dir / f"bench_warm_{os.getpid()}.zarr"
    stores.remove_store(store)
    stores.create_store(store, n_rows=10, npix=recipe.npix, n_channels=recipe.n_channels,
                         has_labels=True, attrs={}, chunk_rows=10, codec=stores.DEFAULT_CODEC,
                         **particle_shape(recipe, has_kinds))
    out = {k: v[:10] for k, v in _template(str(template_path)).items()}
    stores.write_rows(store, 0, {**out, "labels": np.zeros(10, np.int8)})
    stores.remove_store(store)


def make_template(input_path, data_dir, chunk, recipe):
    """The first chunk's real outputs under ``recipe`` (its channels made from
    the particle kinds when they need them), saved for floor tasks (threads or
    processes); images (chunk, npix, npix) or (chunk, npix, npix, C), particles
    (chunk, P, F) with the recipe's particles (F = 17 from an input with kinds)."""
    path = data_dir / f"floor_template_{os.getpid()}"
    path.mkdir(exist_ok=True)
    source = open_inputs(_input_arg(input_path))
    stop = min(chunk, source.n_rows)
    jets, _ = source.read(0, stop)
    identity = source.read_identity(0, stop, *recipe.reads_identity(source.has_kinds))
    has_kinds = source.has_kinds
    source.close()
    out = jetimg.preprocess(jets, recipe, **identity, parallel=False)
    specs = output_specs(len(jets), recipe.npix, recipe.n_channels,
                         **particle_shape(recipe, has_kinds))
    assert {k: (v.shape, v.dtype) for k, v in out.items()} == specs, "template != store rows"
    reps = -(-chunk // len(jets))
    for k, v in out.items():
        np.save(path / f"{k}.npy", np.ascontiguousarray(np.concatenate([v] * reps)[:chunk]))
    return path


# ---------------------------------------------------------------------------

def median_run(runs):
    """The run with the median seconds (the upper median of an even count)."""
    return sorted(runs, key=lambda x: x["seconds"])[len(runs) // 2]


def fmt_bytes(b):
    return "-" if b is None else f"{b / GB:.2f} GB"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=1_200_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--scheduler", choices=["threads", "processes"], default=None)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--chunk-size", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", type=pathlib.Path, default=ROOT / "bench_data")
    parser.add_argument("--inputs", default="uncompressed,zlib",
                        help="comma-separated: uncompressed, zlib (top-tagging HDF5), jetclass")
    parser.add_argument("--root-files", type=int, default=4,
                        help="ROOT files the jetclass input is split into (default 4)")
    parser.add_argument("--no-quarter", action="store_true",
                        help="skip the --limit N/4 build (memory flatness)")
    parser.add_argument("--channels", default=None, metavar="A,B,...",
                        help="build images of these channels (as jetimg build --channels); "
                             "channels by kind (charged_pt, ...) need --inputs jetclass")
    parser.add_argument("--particles", type=int, default=None, metavar="P",
                        help="also write the first P particles of each jet (as jetimg build "
                             "--particles); the floor writes the same particles array")
    parser.add_argument("--json", type=pathlib.Path, default=None)
    parser.add_argument("--floor-job", nargs=2, metavar=("INPUT", "TEMPLATE"),
                        help=argparse.SUPPRESS)  # the floor as its own process
    args = parser.parse_args(argv)
    try:
        args.recipe = jetimg.Recipe(channels=args.channels or None, particles=args.particles)
    except JetimgError as e:
        raise SystemExit(f"error: --channels / --particles: {e}") from None
    if args.floor_job:
        args.scheduler = args.scheduler or "threads"
        args.workers = args.workers or os.cpu_count() or 1
        args.chunk_size = args.chunk_size or DEFAULT_CHUNK_SIZE
        result = run_floor(pathlib.Path(args.floor_job[0]), args.data_dir, args,
                           pathlib.Path(args.floor_job[1]))
        print(json.dumps(result))
        return
    args.scheduler_given = args.scheduler is not None
    args.workers_given = args.workers is not None
    args.chunk_size_given = args.chunk_size is not None
    args.scheduler = args.scheduler or "threads"
    args.workers = args.workers or os.cpu_count() or 1
    args.chunk_size = args.chunk_size or DEFAULT_CHUNK_SIZE
    which = [w.strip() for w in args.inputs.split(",") if w.strip()]
    unknown = [w for w in which if w not in INPUTS]
    if unknown or not which:
        raise SystemExit(f"error: --inputs {args.inputs!r}: choose from {', '.join(INPUTS)}")
    no_kinds = [w for w in which if w != "jetclass"]
    if args.recipe.needs_kinds and no_kinds:
        raise SystemExit(f"error: --channels {args.channels}: channel "
                         f"{args.recipe.needs_kinds[0]} selects particles by kind, but --inputs "
                         f"{no_kinds[0]} (top-tagging HDF5) carries no particle kinds; use "
                         f"--inputs jetclass")
    if args.recipe.particles is not None and no_kinds and len(no_kinds) < len(which):
        raise SystemExit("error: --particles with --inputs jetclass and a top-tagging input: "
                         "their particles differ in features (17 with kinds, 11 without); "
                         "run them apart")
    n = args.n
    channel_list = None if args.recipe.channels is None else list(args.recipe.channels)
    channels = (f"none (one image of {args.recipe.intensity})" if channel_list is None
                else ",".join(channel_list))

    print(f"# jetimg {jetimg.__version__}, python {platform.python_version()}, "
          f"{platform.machine()} {os.cpu_count()} cores, "
          f"{psutil.virtual_memory().total / GB:.1f} GB RAM, device cpu", flush=True)
    print(f"# N={n} seed={args.seed} chunk_size={args.chunk_size} scheduler={args.scheduler} "
          f"workers={args.workers} codec={stores.DEFAULT_CODEC} repeat={args.repeat} "
          f"channels={channels}", flush=True)
    paths = make_inputs(args.data_dir, n, args.seed, which, args.root_files)
    chunk, _ = chunk_rows(args.chunk_size)
    template = make_template(paths[which[0]], args.data_dir, chunk, args.recipe)
    warm_up(args.data_dir, template, args.recipe, which[0] == "jetclass")
    try:
        results = {}
        for name in which:
            builds, floors, procs, inprocs = [], [], [], []
            for _ in range(args.repeat):
                builds.append(run_build(paths[name], args.data_dir, args))
                floors.append(run_floor(paths[name], args.data_dir, args, template))
                procs.append(run_floor_process(paths[name], args.data_dir, args, template))
                inprocs.append(run_build_inprocess(paths[name], args.data_dir, args))
                print(f"#   {name}: build {builds[-1]['seconds']:.2f} s "
                      f"(inside {builds[-1]['internal_seconds']} s), "
                      f"floor {floors[-1]['seconds']:.2f} s, floor-proc "
                      f"{procs[-1]['seconds']:.2f} s, build-inproc "
                      f"{inprocs[-1]['seconds']:.2f} s", flush=True)
            results[name] = {"builds": builds, "floors": floors, "floor_procs": procs,
                             "build_inprocs": inprocs,
                             "input_bytes": _input_bytes(paths[name])}
        quarter = None
        if not args.no_quarter and "uncompressed" in paths and n >= 4:
            quarter = run_build(paths["uncompressed"], args.data_dir, args,
                                         limit=n // 4)
            print(f"#   uncompressed --limit {n // 4}: build {quarter['seconds']:.2f} s",
                  flush=True)
    finally:
        shutil.rmtree(template, ignore_errors=True)

    # ---- report ---------------------------------------------------------
    lines = []
    p = lines.append
    p("")
    p(f"jetimg build vs floor: N={n} jets, chunk {args.chunk_size}, scheduler "
      f"{args.scheduler}, {args.workers} workers, codec {stores.DEFAULT_CODEC}, "
      f"Zarr output, the median run of {args.repeat} (each kind's median seconds; ratios "
      "of medians)")
    shape = "x".join(str(d) for d in output_specs(n, args.recipe.npix,
                                                 args.recipe.n_channels)["images"][0])
    p(f"channels: {channels}; images {shape}"
      + (f"; particle kinds read for {','.join(args.recipe.needs_kinds)}"
         if args.recipe.needs_kinds else "")
      + ("" if args.recipe.particles is None else
         f"; particles {n}x{args.recipe.particles}x"
         f"{len(particle_features(which[0] == 'jetclass'))}"))
    p("build: the jetimg command (start to exit); floor: read + write in this warm process;")
    p("floor-proc: the same floor as its own program (start to exit); in-proc: jetimg.build()")
    p("in this warm process. ratio: build / floor; floor-proc line: build / floor-proc;")
    p("in-proc line: in-proc / floor")
    p(f"{'input':<14}{'run':<10}{'seconds':>9}{'inside s':>11}{'jets/s':>11}"
      f"{'ratio':>7}{'peak tree':>11}{'maxrss':>10}{'out size':>10}")
    summary = {}
    for name, r in results.items():
        b, f, fp, bi = (median_run(r[kind])
                        for kind in ("builds", "floors", "floor_procs", "build_inprocs"))
        ratio = b["seconds"] / f["seconds"]
        ratio_proc = b["seconds"] / fp["seconds"]
        ratio_inproc = bi["seconds"] / f["seconds"]
        peak = max(x["peak_tree_bytes"] for x in r["builds"])
        maxrss = max((x["maxrss_bytes"] or 0) for x in r["builds"])
        inner = b["internal_seconds"]
        p(f"{name:<14}{'build':<10}{b['seconds']:>9.2f}{inner if inner is not None else '-':>11}"
          f"{n / b['seconds']:>11,.0f}{ratio:>7.2f}{fmt_bytes(peak):>11}{fmt_bytes(maxrss):>10}"
          f"{fmt_bytes(b['output_bytes']):>10}")
        p(f"{'':<14}{'floor':<10}{f['seconds']:>9.2f}{'':>11}{n / f['seconds']:>11,.0f}"
          f"{'':>7}{'':>11}{'':>10}{fmt_bytes(f['output_bytes']):>10}")
        p(f"{'':<14}{'floor-proc':<10}{fp['seconds']:>9.2f}{fp['internal_seconds']:>11.2f}"
          f"{n / fp['seconds']:>11,.0f}{ratio_proc:>7.2f}")
        p(f"{'':<14}{'in-proc':<10}{bi['seconds']:>9.2f}{'':>11}"
          f"{n / bi['seconds']:>11,.0f}{ratio_inproc:>7.2f}")
        summary[name] = {"build_seconds": b["seconds"], "build_internal_seconds": inner,
                         "floor_seconds": f["seconds"], "ratio": ratio,
                         "floor_process_seconds": fp["seconds"], "ratio_process": ratio_proc,
                         "build_inprocess_seconds": bi["seconds"], "ratio_inprocess": ratio_inproc,
                         "build_jets_per_s": n / b["seconds"], "floor_jets_per_s": n / f["seconds"],
                         "peak_tree_bytes": peak, "maxrss_bytes": maxrss,
                         "input_bytes": r["input_bytes"],
                         "channels": channel_list}
    if quarter is not None:
        nq = n // 4
        p(f"{'uncompressed':<14}{'N/4':<10}{quarter['seconds']:>9.2f}"
          f"{quarter['internal_seconds'] if quarter['internal_seconds'] is not None else '-':>11}"
          f"{nq / quarter['seconds']:>11,.0f}{'':>7}{fmt_bytes(quarter['peak_tree_bytes']):>11}"
          f"{fmt_bytes(quarter['maxrss_bytes']):>10}{fmt_bytes(quarter['output_bytes']):>10}")
    p("")
    p("targets:")
    if "uncompressed" in summary:
        s = summary["uncompressed"]
        scaled = s["build_seconds"] * 1_200_000 / n
        for key, what in (("ratio_process", "command / floor as its own program"),
                          ("ratio_inprocess", "jetimg.build() / floor, both in this process"),
                          ("ratio", "command / floor in this process")):
            p(f"  build/floor <= {TARGET_RATIO} ({what}): uncompressed {s[key]:.2f} "
              f"[{'met' if s[key] <= TARGET_RATIO else 'NOT met'}]"
              + (f", zlib {summary['zlib'][key]:.2f} "
                 f"[{'met' if summary['zlib'][key] <= TARGET_RATIO else 'NOT met'}]"
                 if "zlib" in summary else ""))
        p(f"  1.2M jets < {TARGET_SECONDS_1M2:.0f} s (uncompressed): "
          + (f"{s['build_seconds']:.1f} s" if n == 1_200_000 else
             f"{scaled:.1f} s scaled linearly from N={n}")
          + f" [{'met' if scaled < TARGET_SECONDS_1M2 else 'NOT met'}]")
    peaks = [s["peak_tree_bytes"] for s in summary.values()]
    p(f"  peak memory < 2 GB: max tree RSS {fmt_bytes(max(peaks))} "
      f"[{'met' if max(peaks) < TARGET_PEAK_BYTES else 'NOT met'}]")
    if quarter is not None and "uncompressed" in summary:
        full = summary["uncompressed"]["peak_tree_bytes"]
        p(f"  flat in N: tree RSS {fmt_bytes(quarter['peak_tree_bytes'])} at N/4 vs "
          f"{fmt_bytes(full)} at N (x{full / quarter['peak_tree_bytes']:.2f}) "
          f"[{'met' if full <= 1.15 * quarter['peak_tree_bytes'] else 'NOT met'}]")
    text = "\n".join(lines)
    print(text, flush=True)

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "jetimg_version": jetimg.__version__, "python": platform.python_version(),
            "cores": os.cpu_count(), "n": n, "seed": args.seed, "chunk_size": args.chunk_size,
            "scheduler": args.scheduler, "workers": args.workers, "codec": stores.DEFAULT_CODEC,
            "repeat": args.repeat, "channels": channel_list,
            "recipe": args.recipe.to_attrs(), "summary": summary, "runs": results,
            "quarter": quarter,
        }, indent=1, default=str))


if __name__ == "__main__":
    main()
