"""The recipe on the CPU: the per-jet body under ``numba.njit``, looped over jets.

``fill_images_serial_cpu`` runs the body over the jets of a chunk on the
calling thread (one scratch block); ``fill_channels_serial_cpu`` is the same
loop over the channels body (several images per jet, docs/recipe.md step 6).
Both also write each jet's particles (step 7) when ``options.n_particles`` > 0.
Both release the GIL and are cached on disk (``cache=True``), so a process
compiles them once. In parallel, :func:`in_blocks` runs the same loops over
contiguous blocks of jets on threads: no second kernel to compile (a numba
``prange`` twin doubled the first-run compile time for no speed).

:func:`preprocess_cpu` is the host side, the twin of
:func:`jetimg.kernels.cuda.preprocess_cuda`: outputs, the loops over blocks of
jets, and the first invalid jet raised.

Shapes: jets (N, M, 4) float32 or float64 (E, px, py, pz) in GeV; options a
:class:`~jetimg.kernels.body.KernelOptions` (the recipe); images
(N, npix, npix) float32; jet_pt, jet_eta, jet_phi, jet_mass (N,) float32;
n_constituents (N,) int16; valid (N,) int8; codes (N,) int64 (the body's code);
kinds and charges (N, M) int8, particles (N, P, F) float32, each a one-row
placeholder ((1, 1), (1, 1, 1)) where the recipe does not read or write it.
"""

import hashlib
import os
import pathlib
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from numba import njit

from ..errors import InvalidJetError
from ..outputs import empty_outputs
from .body import (N_BASE_FEATURES, describe_invalid, make_channels_body, make_fill_jet,
                   make_fill_jet_channels, make_jet_body)
from .fastmath import fast_asinh, fast_atan2

# reassoc lets LLVM vectorise the weighted sums; no nnan/ninf: NaN checks stay.
FASTMATH = {"reassoc", "contract", "nsz"}

# numba's disk cache only notices edits of the file that defines a cached
# function; the loops below close over this hash of the files they inline,
# so an edit of the body or the math also invalidates the cache.
_HERE = pathlib.Path(__file__).parent
SOURCE_HASH = int(hashlib.sha256(b"".join(
    (_HERE / name).read_bytes() for name in ("body.py", "fastmath.py", "cpu.py"))).hexdigest()[:15], 16)

_jit = njit(inline="always", fastmath=FASTMATH, error_model="numpy")
fill_jet_cpu = make_fill_jet(_jit, make_jet_body(_jit, fast_asinh, fast_atan2))
fill_jet_channels_cpu = make_fill_jet_channels(
    _jit, make_channels_body(_jit, fast_asinh, fast_atan2))


@njit(inline="always")
def new_scratch(n_slots):
    """The body's scratch: a tuple of N_SCRATCH separate (M,) float64 rows."""
    return (np.empty(n_slots), np.empty(n_slots), np.empty(n_slots), np.empty(n_slots),
            np.empty(n_slots), np.empty(n_slots), np.empty(n_slots))


# Inlined into the loops below: LLVM then sees that the scratch rows are fresh
# allocations that alias nothing and vectorises the per-constituent passes (as
# a function of its own, taking them as arguments, the serial loop ran 10% slower).
@njit(inline="always", fastmath=FASTMATH, error_model="numpy")
def fill_block(jets, kinds, charges, lo, hi, scratch, options, images, jet_pt, jet_eta,
               jet_phi, jet_mass, n_constituents, valid, particles, codes):
    """Run the body on jets [lo, hi) with one scratch block."""
    for n in range(lo, hi):
        fill_jet_cpu(jets, kinds, charges, n, images, particles, scratch[0], scratch[1],
                     scratch[2], scratch[3], scratch[4], scratch[5], scratch[6], options,
                     jet_pt, jet_eta, jet_phi, jet_mass, n_constituents, valid, codes)


@njit(inline="always", fastmath=FASTMATH, error_model="numpy")
def fill_block_channels(jets, kinds, charges, lo, hi, scratch, options, chan_qty, chan_mask,
                        images, jet_pt, jet_eta, jet_phi, jet_mass, n_constituents, valid,
                        particles, codes):
    """Run the channels body on jets [lo, hi) with one scratch block."""
    for n in range(lo, hi):
        fill_jet_channels_cpu(jets, kinds, charges, n, images, particles, scratch[0],
                              scratch[1], scratch[2], scratch[3], scratch[4], scratch[5],
                              scratch[6], options, chan_qty, chan_mask, jet_pt, jet_eta,
                              jet_phi, jet_mass, n_constituents, valid, codes)


def _make_loops(source_hash):
    # The loops close over nothing but the sources' hash (an int): numba keys
    # its disk cache on the pickled closure, and a dispatcher does not pickle
    # the same way twice; the kernels above are globals.
    @njit(nogil=True, cache=True, fastmath=FASTMATH, error_model="numpy")
    def fill_images_serial_cpu(jets, kinds, charges, options, images, jet_pt, jet_eta,
                               jet_phi, jet_mass, n_constituents, valid, particles, codes):
        assert source_hash >= 0  # the cache key holds the sources' hash
        scratch = new_scratch(jets.shape[1])
        fill_block(jets, kinds, charges, 0, jets.shape[0], scratch, options, images, jet_pt,
                   jet_eta, jet_phi, jet_mass, n_constituents, valid, particles, codes)

    # With channels: kinds (N, M) int8 (or (1, 1) zeros: no kinds), chan_qty and
    # chan_mask (C,) int64 (body.make_channels_body), images (N, npix, npix, C).
    @njit(nogil=True, cache=True, fastmath=FASTMATH, error_model="numpy")
    def fill_channels_serial_cpu(jets, kinds, charges, options, chan_qty, chan_mask, images,
                                 jet_pt, jet_eta, jet_phi, jet_mass, n_constituents, valid,
                                 particles, codes):
        assert source_hash >= 0
        scratch = new_scratch(jets.shape[1])
        fill_block_channels(jets, kinds, charges, 0, jets.shape[0], scratch, options,
                            chan_qty, chan_mask, images, jet_pt, jet_eta, jet_phi, jet_mass,
                            n_constituents, valid, particles, codes)

    return fill_images_serial_cpu, fill_channels_serial_cpu


fill_images_serial_cpu, fill_channels_serial_cpu = _make_loops(SOURCE_HASH)

#: fewest jets worth a thread of their own
MIN_BLOCK_JETS = 64
#: the threads' name prefix (idle between calls; kept for the process's life)
POOL_THREAD_PREFIX = "jetimg-kernel-pool"
_pool = _pool_pid = None
_pool_lock = threading.Lock()


def in_blocks(call, n_jets, n_threads):
    """``call(lo, hi)`` over up to ``n_threads`` contiguous blocks of ``range(n_jets)``,
    the first on the calling thread and the others on a kept thread pool.

    The serial loops release the GIL, so the blocks run at once; this is the
    parallel CPU path, which then needs no kernel compiled of its own.
    Exceptions of any block are raised here once every block has finished.
    """
    global _pool, _pool_pid
    n_blocks = max(1, min(n_threads, n_jets // MIN_BLOCK_JETS))
    bounds = [b * n_jets // n_blocks for b in range(n_blocks + 1)]
    if n_blocks == 1:
        call(0, n_jets)
        return
    with _pool_lock:
        # a forked child inherits the pool but not its threads: it makes its own
        if _pool is None or _pool._max_workers < n_blocks - 1 or _pool_pid != os.getpid():
            _pool = ThreadPoolExecutor(n_blocks - 1, thread_name_prefix=POOL_THREAD_PREFIX)
            _pool_pid = os.getpid()
        pool = _pool
    futures = [pool.submit(call, lo, hi) for lo, hi in zip(bounds[1:-1], bounds[2:])]
    try:
        call(bounds[0], bounds[1])
    finally:
        errors = [f.exception() for f in futures]
    for error in errors:
        if error is not None:
            raise error


def placeholders(kinds, charges, particles):
    """``kinds``, ``charges`` and ``particles`` as the kernels take them: each
    given array, or a one-row placeholder of zeros for one that is None."""
    return (np.zeros((1, 1), np.int8) if kinds is None else kinds,
            np.zeros((1, 1), np.int8) if charges is None else charges,
            np.zeros((1, 1, 1), np.float32) if particles is None else particles)


def n_features(charges):
    """F, the particle features the kernels write: 17 with ``charges`` (and
    kinds) given, else 11 (docs/recipe.md step 7)."""
    return N_BASE_FEATURES if charges is None else N_BASE_FEATURES + 6


def preprocess_cpu(jets, options, *, raise_invalid=True, row_offset=0, out=None,
                   channels=None, kinds=None, charges=None, parallel=True):
    """:func:`jetimg.preprocess` on the CPU, for jets and ``out`` it has checked.

    The twin of :func:`jetimg.kernels.cuda.preprocess_cuda`, with the same
    arguments: ``channels``, for a recipe with channels, is ``(chan_qty,
    chan_mask)`` as :func:`jetimg.core.channel_codes` gives them; ``kinds``
    (N, M) int8, for channels that select kinds or particles with kinds (None:
    no kinds); ``charges`` (N, M) int8 with ``kinds`` for particles with kinds
    (F = 17; None: F = 11). ``options.n_particles`` > 0 adds ``particles``
    (N, P, F) to the outputs. ``parallel`` spreads the jets
    over ``numba.get_num_threads()`` blocks (:func:`in_blocks`); ``False``
    runs them on the calling thread. Fills ``out`` when given, else new arrays.

    Raises
    ------
    InvalidJetError
        For the first invalid jet when ``raise_invalid`` (``row_offset`` added
        to its row).
    """
    n_jets = jets.shape[0]
    with_particles = options.n_particles > 0
    if out is None:
        out = empty_outputs(n_jets, options.npix,
                            n_channels=None if channels is None else len(channels[0]),
                            n_particles=options.n_particles if with_particles else None,
                            n_features=n_features(charges))
    codes = np.empty(n_jets, dtype=np.int64)
    kinds, charges, particles = placeholders(kinds, charges,
                                             out["particles"] if with_particles else None)
    results = (out["images"], out["jet_pt"], out["jet_eta"], out["jet_phi"], out["jet_mass"],
               out["n_constituents"], out["valid"], particles, codes)

    def rows(a, lo, hi):  # a placeholder serves every row
        return a if len(a) == 1 and n_jets != 1 else a[lo:hi]

    if channels is None:
        def call(lo, hi):
            fill_images_serial_cpu(jets[lo:hi], rows(kinds, lo, hi), rows(charges, lo, hi),
                                   options._replace(row0=options.row0 + lo),
                                   *(rows(a, lo, hi) for a in results))
    else:
        chan_qty, chan_mask = channels

        def call(lo, hi):
            fill_channels_serial_cpu(jets[lo:hi], rows(kinds, lo, hi), rows(charges, lo, hi),
                                     options._replace(row0=options.row0 + lo), chan_qty,
                                     chan_mask, *(rows(a, lo, hi) for a in results))
    in_blocks(call, n_jets, numba.get_num_threads() if parallel else 1)
    if raise_invalid:
        bad = np.flatnonzero(codes < 0)
        if bad.size:
            n = int(bad[0])
            raise InvalidJetError(row_offset + n, describe_invalid(jets[n], codes[n]))
    return out
