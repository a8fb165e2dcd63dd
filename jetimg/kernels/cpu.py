"""The recipe on the CPU: the per-jet body under ``numba.njit``, looped over jets.

``fill_images_cpu`` runs the jets of a chunk in parallel over ``n_threads``
of numba's threads (``prange`` over contiguous blocks of jets, one scratch
block per thread);
``fill_images_serial_cpu`` is the same loop on the calling thread, for callers
such as Dask's threads that bring their own parallelism. Both release the GIL
and are cached on disk (``cache=True``), so a process compiles them once.

``fill_channels_cpu`` and ``fill_channels_serial_cpu`` are the same loops over
the channels body (several images per jet, docs/recipe.md step 6).

Shapes: jets (N, M, 4) float32 or float64 (E, px, py, pz) in GeV; options a
:class:`~jetimg.kernels.body.KernelOptions` (the recipe); images
(N, npix, npix) float32; jet_pt, jet_eta, jet_phi, jet_mass (N,) float32;
n_constituents (N,) int16; valid (N,) int8; codes (N,) int64 (the body's code).
"""

import hashlib
import pathlib

import numpy as np
from numba import njit, prange

from .body import (N_SCRATCH, make_channels_body, make_fill_jet, make_fill_jet_channels,
                   make_jet_body)
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


@njit(inline="always", fastmath=FASTMATH, error_model="numpy")
def fill_block(jets, lo, hi, scratch, options, images, jet_pt, jet_eta, jet_phi, jet_mass,
               n_constituents, valid, codes):
    """Run the body on jets [lo, hi) with one scratch block."""
    for n in range(lo, hi):
        fill_jet_cpu(jets, n, images, scratch[0], scratch[1], scratch[2], scratch[3],
                     scratch[4], scratch[5], scratch[6], options, jet_pt, jet_eta, jet_phi,
                     jet_mass, n_constituents, valid, codes)


@njit(inline="always", fastmath=FASTMATH, error_model="numpy")
def fill_block_channels(jets, kinds, lo, hi, scratch, options, chan_qty, chan_mask, images,
                        jet_pt, jet_eta, jet_phi, jet_mass, n_constituents, valid, codes):
    """Run the channels body on jets [lo, hi) with one scratch block."""
    for n in range(lo, hi):
        fill_jet_channels_cpu(jets, kinds, n, images, scratch[0], scratch[1], scratch[2],
                              scratch[3], scratch[4], scratch[5], scratch[6], options,
                              chan_qty, chan_mask, jet_pt, jet_eta, jet_phi, jet_mass,
                              n_constituents, valid, codes)


def _make_loops(source_hash):
    # The loops close over nothing but the sources' hash (an int): numba keys
    # its disk cache on the pickled closure, and a dispatcher does not pickle
    # the same way twice; the kernels above are globals.
    @njit(parallel=True, nogil=True, cache=True, fastmath=FASTMATH, error_model="numpy")
    def fill_images_cpu(jets, options, images, jet_pt, jet_eta, jet_phi, jet_mass,
                        n_constituents, valid, codes, n_threads):
        assert source_hash >= 0  # the cache key holds the sources' hash
        n_jets = jets.shape[0]
        n_blocks = min(n_threads, max(n_jets, 1))
        for b in prange(n_blocks):
            scratch = new_scratch(jets.shape[1])
            fill_block(jets, b * n_jets // n_blocks, (b + 1) * n_jets // n_blocks,
                       scratch, options, images, jet_pt, jet_eta, jet_phi, jet_mass,
                       n_constituents, valid, codes)

    @njit(nogil=True, cache=True, fastmath=FASTMATH, error_model="numpy")
    def fill_images_serial_cpu(jets, options, images, jet_pt, jet_eta, jet_phi, jet_mass,
                               n_constituents, valid, codes):
        assert source_hash >= 0
        scratch = new_scratch(jets.shape[1])
        fill_block(jets, 0, jets.shape[0], scratch, options, images, jet_pt, jet_eta,
                   jet_phi, jet_mass, n_constituents, valid, codes)

    # With channels: kinds (N, M) int8 (or (1, 1) zeros: no kinds), chan_qty and
    # chan_mask (C,) int64 (body.make_channels_body), images (N, npix, npix, C).
    @njit(parallel=True, nogil=True, cache=True, fastmath=FASTMATH, error_model="numpy")
    def fill_channels_cpu(jets, kinds, options, chan_qty, chan_mask, images, jet_pt, jet_eta,
                          jet_phi, jet_mass, n_constituents, valid, codes, n_threads):
        assert source_hash >= 0
        n_jets = jets.shape[0]
        n_blocks = min(n_threads, max(n_jets, 1))
        for b in prange(n_blocks):
            scratch = new_scratch(jets.shape[1])
            fill_block_channels(jets, kinds, b * n_jets // n_blocks,
                                (b + 1) * n_jets // n_blocks, scratch, options, chan_qty,
                                chan_mask, images, jet_pt, jet_eta, jet_phi, jet_mass,
                                n_constituents, valid, codes)

    @njit(nogil=True, cache=True, fastmath=FASTMATH, error_model="numpy")
    def fill_channels_serial_cpu(jets, kinds, options, chan_qty, chan_mask, images, jet_pt,
                                 jet_eta, jet_phi, jet_mass, n_constituents, valid, codes):
        assert source_hash >= 0
        scratch = new_scratch(jets.shape[1])
        fill_block_channels(jets, kinds, 0, jets.shape[0], scratch, options, chan_qty,
                            chan_mask, images, jet_pt, jet_eta, jet_phi, jet_mass,
                            n_constituents, valid, codes)

    return fill_images_cpu, fill_images_serial_cpu, fill_channels_cpu, fill_channels_serial_cpu


(fill_images_cpu, fill_images_serial_cpu,
 fill_channels_cpu, fill_channels_serial_cpu) = _make_loops(SOURCE_HASH)
