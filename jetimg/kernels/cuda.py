"""The recipe on CUDA: the per-jet body under ``numba.cuda.jit(device=True)``.

``fill_images_cuda`` is the twin of ``cpu.fill_images_serial_cpu`` (the same
arguments and a scratch buffer, the same outputs); the body is the one of body.py, compiled with CUDA's
float64 ``asinh`` and ``atan2`` (libdevice).

Threads. One thread owns one jet at a time and writes only that jet's image
and outputs, so nothing needs atomics. The grid is at most the GPU's resident
threads T (SMs x threads per SM) and strides over the chunk: thread t runs
jets t, t + T, t + 2T, ... A chunk below 128 x 128 jets gets smaller blocks and
128 blocks (numba warns below 128 blocks; a small chunk spread over more SMs
also finishes sooner); 128 threads per block otherwise. For sm_90 (CUDA 12.9)
ptxas gives the kernel 92 registers and no spills: 640 threads per SM run at
once, and the grid's further blocks queue behind them.

Scratch. The body's seven (M,) float64 rows are columns of one global buffer
(7, M, T): thread t uses ``scratch[r, :, t]``, so at a given slot the 32 lanes
of a warp touch 32 adjacent words and every scratch access is coalesced (the
interleaving the compiler gives local memory, but for any M without a
compile-time bound). It takes 56 M bytes per thread: 3.0 GB for M = 200 at an
H100's 270,336 resident threads, and only as many columns as jets in a
smaller chunk.

Jets are read where they lie, (N, M, 4): lane t reads its own jet's slots in
order, M x 16 bytes from its neighbours, so a warp load touches 32 sectors that
L1 keeps for the next slot; DRAM moves each jet once. Images are written in
place, (N, npix, npix), by their owner thread.

Transfers. :class:`CudaChunkProcessor` owns a CUDA stream, pinned host buffers
and device buffers (grown to the largest chunk seen, then reused). Per chunk:
copy the jets into the pinned buffer, then on its stream one host-to-device
copy, the launch, and the device-to-host copies into pinned buffers. One
processor per worker thread: each thread's stream runs while the other threads
read, compress and write, and the copy engines overlap one stream's upload with
another's download.

``fill_channels_cuda`` is the same over the channels body (docs/recipe.md step
6): the kinds (N, M) int8 travel beside the jets, and the images are
(N, npix, npix, C). Both write the particles (step 7) when
``options.n_particles`` > 0: (N, P, F) float32, written by the jet's thread
beside its image; the kinds and charges (N, M) int8 travel for particles
with kinds. Unused kinds, charges and particles are one-row device
placeholders.

Shapes: jets (N, M, 4) float32 or float64 (E, px, py, pz) in GeV; images
(N, npix, npix) float32; jet_pt, jet_eta, jet_phi, jet_mass (N,) float32;
n_constituents (N,) int16; valid (N,) int8; codes (N,) int64 (the body's code);
scratch (7, M', T') float64 with M' >= M and T' >= min(threads, N).
"""

import math

import numpy as np
from numba import cuda

import threading

from ..errors import InvalidJetError
from ..outputs import empty_outputs, output_specs
from .body import (N_BASE_FEATURES, N_SCRATCH, describe_invalid, make_channels_body,
                   make_fill_jet, make_fill_jet_channels, make_jet_body)

__all__ = ["fill_images_cuda", "CudaChunkProcessor", "preprocess_cuda", "launch", "launch_grid",
           "resident_threads", "device_outputs", "thread_processor"]

THREADS_PER_BLOCK = 128
MIN_BLOCKS = 128  # numba's NumbaPerformanceWarning threshold

fill_jet_cuda = make_fill_jet(cuda.jit(device=True),
                              make_jet_body(cuda.jit(device=True), math.asinh, math.atan2))
fill_jet_channels_cuda = make_fill_jet_channels(
    cuda.jit(device=True), make_channels_body(cuda.jit(device=True), math.asinh, math.atan2))


@cuda.jit
def fill_images_cuda(jets, kinds, charges, options, images, jet_pt, jet_eta, jet_phi,
                     jet_mass, n_constituents, valid, particles, codes, scratch):
    """The body on every jet, thread t on jets t, t + T, ... (T threads)."""
    t = cuda.grid(1)
    if t >= scratch.shape[2]:
        return
    px_s = scratch[0, :, t]
    py_s = scratch[1, :, t]
    pz_s = scratch[2, :, t]
    w_s = scratch[3, :, t]
    x_s = scratch[4, :, t]
    y_s = scratch[5, :, t]
    s_s = scratch[6, :, t]
    for n in range(t, jets.shape[0], cuda.gridsize(1)):
        fill_jet_cuda(jets, kinds, charges, n, images, particles, px_s, py_s, pz_s, w_s, x_s,
                      y_s, s_s, options, jet_pt, jet_eta, jet_phi, jet_mass, n_constituents,
                      valid, codes)


@cuda.jit
def fill_channels_cuda(jets, kinds, charges, options, chan_qty, chan_mask, images, jet_pt,
                       jet_eta, jet_phi, jet_mass, n_constituents, valid, particles, codes,
                       scratch):
    """The channels body on every jet (kinds (N, M), or (1, 1) zeros: no
    kinds; images (N, npix, npix, C)), thread t on jets t, t + T, ..."""
    t = cuda.grid(1)
    if t >= scratch.shape[2]:
        return
    px_s = scratch[0, :, t]
    py_s = scratch[1, :, t]
    pz_s = scratch[2, :, t]
    w_s = scratch[3, :, t]
    x_s = scratch[4, :, t]
    y_s = scratch[5, :, t]
    s_s = scratch[6, :, t]
    for n in range(t, jets.shape[0], cuda.gridsize(1)):
        fill_jet_channels_cuda(jets, kinds, charges, n, images, particles, px_s, py_s, pz_s,
                               w_s, x_s, y_s, s_s, options, chan_qty, chan_mask, jet_pt,
                               jet_eta, jet_phi, jet_mass, n_constituents, valid, codes)


def resident_threads():
    """Threads the current GPU runs at once: SMs x max threads per SM.

    The simulator's device has neither attribute: 1 SM of 2048 threads.
    """
    device = cuda.current_context().device
    return (getattr(device, "MULTIPROCESSOR_COUNT", 1)
            * getattr(device, "MAX_THREADS_PER_MULTI_PROCESSOR", 2048))


def launch_grid(n_jets, max_threads):
    """``(blocks, threads_per_block)`` for ``n_jets`` jets and at most ``max_threads``
    threads (but never fewer than MIN_BLOCKS blocks of one thread).

    >>> launch_grid(1_000_000, 270_336), launch_grid(50_000, 270_336), launch_grid(1000, 270_336)
    ((2112, 128), (391, 128), (128, 8))
    """
    tpb = max(1, min(THREADS_PER_BLOCK, -(-n_jets // MIN_BLOCKS), max_threads // MIN_BLOCKS))
    return max(MIN_BLOCKS, min(-(-n_jets // tpb), max_threads // tpb)), tpb


def launch(jets, options, out, codes, scratch, grid, stream=0, channels=None, kinds=None,
           charges=None):
    """Launch ``fill_images_cuda`` (or ``fill_channels_cuda`` with
    ``channels``, the device arrays ``(chan_qty, chan_mask)``) on device
    arrays; ``options`` a :class:`~jetimg.kernels.body.KernelOptions`, ``grid``
    from :func:`launch_grid`; ``kinds`` and ``charges`` (N, M) int8 device
    arrays or None; ``out["particles"]`` is written when ``options.n_particles`` > 0.

    ``scratch`` must have at least ``jets.shape[1]`` rows and
    ``min(blocks * threads_per_block, N)`` columns.
    """
    blocks, tpb = grid
    assert scratch.shape[1] >= jets.shape[1] and scratch.shape[2] >= min(blocks * tpb, len(jets))

    def placeholder(shape, dtype):
        return cuda.device_array(shape, dtype, stream=stream)

    kinds = placeholder((1, 1), np.int8) if kinds is None else kinds
    charges = placeholder((1, 1), np.int8) if charges is None else charges
    particles = (out["particles"] if options.n_particles > 0
                 else placeholder((1, 1, 1), np.float32))
    results = (out["images"], out["jet_pt"], out["jet_eta"], out["jet_phi"], out["jet_mass"],
               out["n_constituents"], out["valid"], particles, codes, scratch)
    if channels is None:
        fill_images_cuda[blocks, tpb, stream](jets, kinds, charges, tuple(options), *results)
    else:
        chan_qty, chan_mask = channels
        fill_channels_cuda[blocks, tpb, stream](jets, kinds, charges, tuple(options), chan_qty,
                                                chan_mask, *results)


def raise_first_invalid(valid, codes, jets, row_offset, stream=0):
    """Raise InvalidJetError for the first row with ``valid == 0`` (host array),
    reading its code (and its jet, when on the device) from the device."""
    bad = np.flatnonzero(valid == 0)
    if bad.size:
        n = int(bad[0])
        code = codes[n:n + 1].copy_to_host(stream=stream)[0]
        jet = jets[n] if isinstance(jets, np.ndarray) else jets[n].copy_to_host(stream=stream)
        raise InvalidJetError(row_offset + n, describe_invalid(jet, code))


def as_numba_array(x):
    """A numba device array of device array ``x``, without copying."""
    return x if getattr(x, "__cuda_ndarray__", False) else cuda.as_cuda_array(x)


def device_outputs(n_jets, npix, stream=0, n_channels=None, n_particles=None, n_features=None):
    """Uninitialised device output arrays, as :func:`jetimg.outputs.empty_outputs`."""
    return empty_outputs(n_jets, npix, n_channels=n_channels, n_particles=n_particles,
                         n_features=n_features,
                         empty=lambda shape, dtype: cuda.device_array(shape, dtype, stream=stream))


def _n_channels(channels):
    return None if channels is None else len(channels[0])


def _particle_shape(options, charges):
    """(n_particles, n_features) keywords of the outputs: P and F, or None."""
    if options.n_particles <= 0:
        return {"n_particles": None, "n_features": None}
    return {"n_particles": options.n_particles,
            "n_features": N_BASE_FEATURES + (0 if charges is None else 6)}


def preprocess_cuda(jets, options, *, raise_invalid=True, row_offset=0, out=None,
                    channels=None, kinds=None, charges=None):
    """:func:`jetimg.preprocess` on the GPU, for jets and ``out`` it has checked.

    The twin of :func:`jetimg.kernels.cpu.preprocess_cpu`, with the same
    arguments: ``channels``, for a recipe with channels, is ``(chan_qty,
    chan_mask)`` as :func:`jetimg.core.channel_codes` gives them; ``kinds``
    and ``charges`` (N, M) int8 host arrays or None (particles with kinds:
    F = 17; without charges F = 11).

    Host jets go through the calling thread's :class:`CudaChunkProcessor`
    (its stream, pinned and device buffers are kept from call to call) and
    give host outputs, in ``out`` when given. Device jets give device
    outputs: numba device arrays, or CuPy arrays for CuPy input, filled in
    ``out`` when given (device arrays too); they run on the default stream and
    are not waited for unless ``raise_invalid``.
    """
    if not _is_device_array(jets):
        result = thread_processor().run(jets, options, raise_invalid=raise_invalid,
                                        row_offset=row_offset, channels=channels, kinds=kinds,
                                        charges=charges)
        if out is None:
            return {name: a.copy() for name, a in result.items()}
        for name, a in result.items():
            np.copyto(out[name], a)
        return out
    jets_d = as_numba_array(jets)
    n_jets, n_slots = jets_d.shape[:2]
    out_d = (device_outputs(n_jets, options.npix, n_channels=_n_channels(channels),
                            **_particle_shape(options, charges))
             if out is None else {name: as_numba_array(a) for name, a in out.items()})
    codes = cuda.device_array(n_jets, np.int64)
    if n_jets:
        grid = launch_grid(n_jets, resident_threads())
        scratch = cuda.device_array((N_SCRATCH, n_slots, min(grid[0] * grid[1], n_jets)),
                                    np.float64)
        on_device = [None if a is None else cuda.to_device(a) for a in (kinds, charges)]
        launch(jets_d, options, out_d, codes, scratch, grid,
               channels=None if channels is None else tuple(cuda.to_device(a) for a in channels),
               kinds=on_device[0], charges=on_device[1])
    if raise_invalid:
        raise_first_invalid(out_d["valid"].copy_to_host(), codes, jets_d, row_offset)
    if out is not None:
        return out
    if type(jets).__module__.partition(".")[0] == "cupy":
        import cupy

        return {name: cupy.asarray(a) for name, a in out_d.items()}
    return out_d


def _is_device_array(x):
    return bool(getattr(x, "__cuda_ndarray__", False)) or hasattr(x, "__cuda_array_interface__")


_local = threading.local()


def thread_processor():
    """This thread's :class:`CudaChunkProcessor`, made on first use."""
    if getattr(_local, "processor", None) is None:
        _local.processor = CudaChunkProcessor()
    return _local.processor


class CudaChunkProcessor:
    """Chunks of host jets through the GPU on one CUDA stream, reusing pinned
    and device buffers; one per worker thread (not for concurrent calls).

    Parameters
    ----------
    max_threads : int, optional
        Most threads per launch; default :func:`resident_threads`. The device
        scratch takes 56 bytes x M per thread.

    Examples
    --------
    ``processor = CudaChunkProcessor()`` once per thread, then per chunk
    ``out = processor.run(jets, kernel_options(recipe), row_offset=start)``;
    :func:`jetimg.preprocess` with ``device="cuda"`` does this with
    :func:`thread_processor`.
    """

    def __init__(self, max_threads=None):
        self.stream = cuda.stream()
        self.max_threads = max_threads or resident_threads()
        self._buffers = {}

    def _buffer(self, name, shape, dtype, pinned):
        """The first ``shape[0]`` rows of a kept buffer, reallocated when it
        has fewer rows, other trailing dims or another dtype."""
        buf = self._buffers.get(name)
        if buf is None or buf.shape[0] < shape[0] or buf.shape[1:] != shape[1:] \
                or buf.dtype != dtype:
            buf = (cuda.pinned_array(shape, dtype) if pinned
                   else cuda.device_array(shape, dtype, stream=self.stream))
            self._buffers[name] = buf
        return buf[:shape[0]]

    def _scratch(self, n_slots, n_threads):
        buf = self._buffers.get("scratch")
        if buf is None or buf.shape[1] < n_slots or buf.shape[2] < n_threads:
            shape = (N_SCRATCH, max(n_slots, buf.shape[1] if buf is not None else 0),
                     max(n_threads, buf.shape[2] if buf is not None else 0))
            buf = self._buffers["scratch"] = cuda.device_array(shape, np.float64,
                                                               stream=self.stream)
        return buf

    def run(self, jets, options, *, raise_invalid=True, row_offset=0, channels=None, kinds=None,
            charges=None):
        """Images and per-jet quantities of one chunk of host jets.

        Parameters
        ----------
        jets : ndarray (N, M, 4) of float32 or float64
            Constituent four-vectors (E, px, py, pz) in GeV, on the host,
            C-contiguous (as :func:`jetimg.core.check_jets` returns them).
        options : KernelOptions
            The recipe (:func:`jetimg.core.kernel_options`).
        raise_invalid : bool
            Raise for the first invalid jet (else it gets ``valid = 0``).
        row_offset : int
            The chunk's first row in its input, for :class:`InvalidJetError`.
        channels : tuple, optional
            ``(chan_qty, chan_mask)`` host arrays for a recipe with
            channels (:func:`preprocess_cuda`).
        kinds, charges : ndarray (N, M) of int8, optional
            Host arrays: kinds for channels that select kinds or particles
            with kinds; charges beside them for particles with kinds (F = 17).

        Returns
        -------
        dict of str to ndarray
            As :func:`jetimg.outputs.empty_outputs`: ``images`` (N, npix, npix)
            float32 (with channels (N, npix, npix, C)), ``jet_pt``, ``jet_eta``, ``jet_phi``, ``jet_mass`` (N,)
            float32, ``n_constituents`` (N,) int16, ``valid`` (N,) int8, and
            ``particles`` (N, P, F) float32 when ``options.n_particles`` > 0. They
            are views of this processor's pinned buffers, valid until its
            next ``run``.

        Raises
        ------
        InvalidJetError
            For the first invalid jet when ``raise_invalid``.
        """
        n_jets, n_slots = jets.shape[:2]
        n_channels = _n_channels(channels)
        particle_shape = _particle_shape(options, charges)
        shapes = output_specs(n_jets, options.npix, n_channels, **particle_shape)
        if n_jets == 0:
            return empty_outputs(0, options.npix, n_channels=n_channels, **particle_shape)
        staged = self._buffer("jets_h", jets.shape, jets.dtype, pinned=True)
        np.copyto(staged, jets)
        jets_d = self._buffer("jets_d", jets.shape, jets.dtype, pinned=False)
        jets_d.copy_to_device(staged, stream=self.stream)
        rows = {}
        for name, a in (("kinds", kinds), ("charges", charges)):
            if a is not None:
                a_h = self._buffer(name + "_in_h", a.shape, a.dtype, pinned=True)
                np.copyto(a_h, a)
                rows[name] = self._buffer(name + "_in_d", a.shape, a.dtype, pinned=False)
                rows[name].copy_to_device(a_h, stream=self.stream)
        if channels is not None:
            channels = tuple(cuda.to_device(a, stream=self.stream) for a in channels)
        out_d = {name: self._buffer(name + "_d", shape, dtype, pinned=False)
                 for name, (shape, dtype) in shapes.items()}
        codes = self._buffer("codes_d", (n_jets,), np.int64, pinned=False)
        grid = launch_grid(n_jets, self.max_threads)
        scratch = self._scratch(n_slots, min(grid[0] * grid[1], n_jets))
        launch(jets_d, options, out_d, codes, scratch, grid, self.stream, channels,
               kinds=rows.get("kinds"), charges=rows.get("charges"))
        out = {}
        for name, (shape, dtype) in shapes.items():
            out[name] = self._buffer(name + "_h", shape, dtype, pinned=True)
            out_d[name].copy_to_host(out[name], stream=self.stream)
        self.stream.synchronize()
        if raise_invalid:
            raise_first_invalid(out["valid"], codes, jets, row_offset, self.stream)
        return out
