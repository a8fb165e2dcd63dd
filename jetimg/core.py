"""``preprocess``: jets in, images and per-jet quantities out (docs/recipe.md).

It checks its input, then is the one place that picks the CPU host side
(:func:`jetimg.kernels.cpu.preprocess_cpu`) or its CUDA twin
(:func:`jetimg.kernels.cuda.preprocess_cuda`), by ``device`` (jetimg/device.py);
the build runs every chunk through it too. Host arrays in give host arrays out; device arrays
(numba, CuPy) in give device arrays out.

Shapes: jets (N, M, 4) (E, px, py, pz) in GeV; images (N, npix, npix);
kinds and charges (N, M); particles (N, P, F).
"""

import numpy as np

from .device import device_array_info, is_device_array, resolve_device
from .errors import InputError
from .kernels.body import KernelOptions
from .kinds import GROUPS, KIND_CODE, KIND_DTYPE, KIND_NAMES
from .outputs import output_specs
from .recipe import (CENTER_CODE, INTENSITY_CODE, NORMALISE_CODE, QUANTITIES, Recipe,
                     parse_channel, particle_features)

__all__ = ["preprocess", "check_jets", "check_kinds", "check_charges", "kernel_options",
           "channel_codes"]


def check_jets(jets):
    """Return ``jets`` as a C-contiguous float32/float64 (N, M, 4) array or raise.

    A device array is checked the same way and returned as it is (the CUDA
    kernel takes any strides).
    """
    on_device = is_device_array(jets)
    if on_device:
        shape, dtype, _ = device_array_info(jets)
    elif hasattr(jets, "shape") and hasattr(jets, "dtype"):
        shape, dtype = tuple(jets.shape), jets.dtype
    else:
        raise InputError(f"jets must be an array of shape (N, M, 4), not {type(jets).__name__}")
    if len(shape) != 3 or shape[2] != 4:
        raise InputError(f"jets must have shape (N, M, 4) in (E, px, py, pz) order; "
                         f"got shape {shape}")
    if dtype not in (np.float32, np.float64):
        raise InputError(f"jets must be float32 or float64; got dtype {dtype}")
    if shape[1] == 0:
        raise InputError("jets have no constituent slots (M = 0)")
    return jets if on_device else np.ascontiguousarray(jets)


def check_kinds(kinds, jets_shape, recipe):
    """The kinds the channels kernel takes: ``kinds`` as C-contiguous int8
    (N, M), or a (1, 1) array of 0 when the recipe's channels select no kind.

    Raises
    ------
    InputError
        A channel selects a kind and ``kinds`` is None (naming the channel),
        or ``kinds`` is not (N, M) integers of :data:`jetimg.kinds.KIND_NAMES`.
    """
    if not recipe.needs_kinds:
        return np.zeros((1, 1), KIND_DTYPE)
    if kinds is None:
        raise InputError(f"channel {recipe.needs_kinds[0]} needs particle kinds, and the "
                         f"jets come without them (give kinds=, or an input with particle "
                         f"identity)")
    return _kinds_array(kinds, jets_shape)


def _kinds_array(kinds, jets_shape):
    """``kinds`` checked as (N, M) integer kind codes, as C-contiguous int8."""
    if not hasattr(kinds, "shape") or tuple(kinds.shape) != tuple(jets_shape[:2]):
        raise InputError(f"kinds must have shape (N, M) = {tuple(jets_shape[:2])} like the "
                         f"jets; got {getattr(kinds, 'shape', type(kinds).__name__)}")
    kinds = np.asarray(kinds)
    if kinds.dtype.kind not in "iub" or (kinds.size and not (
            0 <= kinds.min() and kinds.max() < len(KIND_NAMES))):
        raise InputError(f"kinds must be integer codes 0 to {len(KIND_NAMES) - 1} "
                         f"({', '.join(KIND_NAMES)})")
    return np.ascontiguousarray(kinds, dtype=KIND_DTYPE)


def check_charges(charges, jets_shape):
    """``charges`` as C-contiguous int8 (N, M): electric charges in units of e.

    Raises
    ------
    InputError
        ``charges`` is None (particles with kinds need them), not (N, M)
        like the jets, or not integers from -127 to 127.
    """
    if charges is None:
        raise InputError("particles with kinds need charges= beside kinds= (the electric "
                         "charge of every slot); leave out kinds= for particles without "
                         "the kind features")
    if not hasattr(charges, "shape") or tuple(charges.shape) != tuple(jets_shape[:2]):
        raise InputError(f"charges must have shape (N, M) = {tuple(jets_shape[:2])} like the "
                         f"jets; got {getattr(charges, 'shape', type(charges).__name__)}")
    charges = np.asarray(charges)
    if charges.dtype.kind not in "iub" or (charges.size and not (
            -127 <= charges.min() and charges.max() <= 127)):
        raise InputError(f"charges must be integers from -127 to 127 (units of e); "
                         f"got dtype {charges.dtype}")
    return np.ascontiguousarray(charges, dtype=np.int8)


def channel_codes(recipe):
    """``(chan_qty, chan_mask)``, the recipe's channels as the kernels take them:
    int64 (C,) quantity codes (pt 0, e 1, count 2) and kind bit masks
    (bit ``1 << code`` of each :mod:`jetimg.kinds` code a channel takes).

    >>> [a.tolist() for a in channel_codes(Recipe(channels=["pt", "charged_count"]))]
    [[0, 2], [63, 28]]
    """
    every = sum(1 << code for code in range(len(KIND_NAMES)))
    qty, mask = [], []
    for name in recipe.channels or ():
        group, quantity = parse_channel(name)
        qty.append(QUANTITIES.index(quantity))
        mask.append(every if group is None
                    else sum(1 << KIND_CODE[kind] for kind in GROUPS[group]))
    return np.array(qty, np.int64), np.array(mask, np.int64)


def _check_out(out, n_jets, npix, on_device=False, n_channels=None, n_particles=None,
               n_features=None):
    """Raise unless ``out`` holds every output array: host arrays, or device
    arrays when ``on_device``."""
    specs = output_specs(n_jets, npix, n_channels, n_particles=n_particles,
                         n_features=n_features)
    for name, (shape, dtype) in specs.items():
        a = out.get(name)
        if on_device:
            ok = is_device_array(a) and device_array_info(a) == (shape, dtype, True)
        else:
            ok = isinstance(a, np.ndarray) and a.shape == shape and a.dtype == dtype \
                and a.flags.c_contiguous and a.flags.writeable
        if not ok:
            raise InputError(f"out[{name!r}] must be a writeable C-contiguous {dtype} "
                             f"{'device ' if on_device else ''}array of shape {shape}")


def kernel_options(recipe, row0=0):
    """The recipe as the kernels take it: a :class:`~jetimg.kernels.body.KernelOptions`
    record, strings as their integer codes; ``row0`` is the input row of the
    first jet given (a variation draws by input row).

    >>> kernel_options(Recipe(npix=32)).npix
    32
    """
    vary = recipe.vary
    varied = (() if vary is None else
              (True, vary.scale, vary.neutral_scale, vary.smear, vary.drop, vary.seed))
    return KernelOptions(CENTER_CODE[recipe.center], recipe.rotate, recipe.flip, recipe.npix,
                         recipe.pixel_size[0], recipe.pixel_size[1],
                         INTENSITY_CODE[recipe.intensity], recipe.threshold,
                         NORMALISE_CODE[recipe.normalise], recipe.particles or 0,
                         *varied)._replace(row0=int(row0))


def preprocess(jets, recipe=None, *, kinds=None, charges=None, device="cpu", parallel=True,
               row_offset=0, out=None, **options):
    """Jet images and per-jet quantities of a chunk of jets, as docs/recipe.md defines them.

    Parameters
    ----------
    jets : array (N, M, 4) of float32 or float64
        Constituent four-vectors (E, px, py, pz) in GeV, zero-padded; any M.
        A NumPy array, or a device array (numba, CuPy, anything with
        ``__cuda_array_interface__``) with ``device="cuda"`` or ``"auto"``.
    recipe : Recipe, optional
        The recipe; defaults to ``Recipe()``. Keyword ``options`` (``npix=32``,
        ``normalise="max"``, ...) override its fields.
    kinds : array (N, M) of int, optional
        The particle kind of every slot (:mod:`jetimg.kinds` codes, 0 for
        padding), for channels that select kinds (``charged_pt``, ...) and
        for the kind features of particles: with the recipe's ``particles``,
        giving ``kinds`` gives F = 17 features per particle, leaving it out
        F = 11. Host arrays only.
    charges : array (N, M) of int, optional
        The electric charge of every slot in units of e (0 for padding):
        needed with ``kinds`` when the recipe has ``particles``; ignored
        otherwise. Host arrays only.
    device : {"cpu", "cuda", "auto"}
        Where the kernels run; ``"auto"`` takes CUDA when a usable GPU is
        present. Both compute docs/recipe.md to float32 rounding.
    parallel : bool
        CPU only: spread the jets over ``numba.get_num_threads()`` threads
        (default). ``False`` runs on the calling thread, for callers that
        bring their own threads.
    row_offset : int
        The input row of ``jets[0]`` (the chunk's first row in the whole
        input): added to the row named in an :class:`InvalidJetError`, and
        the row a variation's draws follow (docs/recipe.md "Variations").
    out : dict, optional
        Arrays to fill instead of new ones, as
        :func:`jetimg.outputs.empty_outputs` makes them (reusing them saves
        the page faults of fresh memory per chunk); device arrays when
        ``jets`` is one. Host jets on CUDA go through the calling thread's
        CUDA stream and pinned buffers, kept from call to call.

    Returns
    -------
    dict of str to array
        ``images`` (N, npix, npix) float32, or (N, npix, npix, C) with the
        recipe's C ``channels`` (channel last, in their order); ``jet_pt``, ``jet_eta``,
        ``jet_phi``, ``jet_mass`` (N,) float32 (GeV, rad); ``n_constituents``
        (N,) int16; ``valid`` (N,) int8; with the recipe's ``particles`` P,
        ``particles`` (N, P, F) float32 (F = 11, or 17 with ``kinds``; the
        names are :func:`jetimg.recipe.particle_features`). NumPy arrays for host ``jets``;
        for device ``jets`` numba device arrays (CuPy arrays for CuPy input),
        not waited for unless ``invalid="raise"``.

    Raises
    ------
    InvalidJetError
        A jet holds NaN/Inf, a negative energy, or E > 0 with pT = 0 (unless
        ``invalid="skip"``); ``.row`` is its 0-based row.
    DeviceError
        ``device="cuda"`` where CUDA is not usable (no GPU, driver or toolkit).
    InputError
        Bad ``jets``, ``kinds``, ``charges`` or ``out``, device ``jets`` with
        ``device="cpu"``, a channel that selects kinds without ``kinds``, or
        particles with ``kinds`` but without ``charges``.

    Examples
    --------
    >>> import numpy as np, jetimg
    >>> jets = np.zeros((1, 3, 4), np.float32)
    >>> jets[0, 0] = (100.0, 100.0, 0.0, 0.0)     # pT 100 GeV at eta 0, phi 0
    >>> out = jetimg.preprocess(jets, npix=5)
    >>> out["images"][0].nonzero(), float(out["images"][0, 2, 2]), int(out["n_constituents"][0])
    ((array([2]), array([2])), 1.0, 1)
    >>> parts = jetimg.preprocess(jets, npix=5, particles=2)["particles"]
    >>> parts.shape, parts[0, 0, :3].tolist(), bool(parts[0, 1].any())   # x, y, log(100)
    ((1, 2, 11), [0.0, 0.0, 4.605170249938965], False)
    """
    recipe = Recipe.from_options(recipe, **options)
    device = resolve_device(device)
    on_device = is_device_array(jets)
    if on_device and device == "cpu":
        raise InputError("jets are a device (GPU) array: use device='cuda' or 'auto', "
                         "or copy them to the host for device='cpu'")
    jets = check_jets(jets)
    shape = tuple(jets.shape)
    n_channels, channels = recipe.n_channels, None
    kinds_in, charges_in = kinds, None
    kinds = None
    if n_channels is not None:
        if on_device and recipe.needs_kinds:
            raise InputError("channels that select kinds take host jets and kinds; copy the "
                             "jets to the host")
        channels = channel_codes(recipe)
        if recipe.needs_kinds:
            kinds = check_kinds(kinds_in, shape, recipe)
    if recipe.vary is not None and recipe.vary.needs_kinds:
        if kinds_in is None:
            raise InputError(f"vary={recipe.vary.to_text()!r}: neutral_scale needs particle "
                             f"kinds, and the jets come without them (give kinds=, or an input "
                             f"with particle identity)")
        if on_device:
            raise InputError("vary neutral_scale takes host jets and kinds; copy the jets to "
                             "the host")
        kinds = _kinds_array(kinds_in, shape) if kinds is None else kinds
    n_features = None
    if recipe.particles is not None and kinds_in is not None:
        # particles with kinds: F = 17, the kinds and charges read by the kernels
        kinds = _kinds_array(kinds_in, shape) if kinds is None else kinds
        charges_in = check_charges(charges, shape)
    if recipe.particles is not None:
        n_features = len(particle_features(charges_in is not None))
    if out is not None:
        _check_out(out, shape[0], recipe.npix, on_device, n_channels,
                   n_particles=recipe.particles, n_features=n_features)
    twin = dict(raise_invalid=recipe.invalid == "raise", row_offset=row_offset, out=out,
                channels=channels, kinds=kinds, charges=charges_in)
    if device == "cuda":
        from .kernels.cuda import preprocess_cuda

        return preprocess_cuda(jets, kernel_options(recipe, row_offset), **twin)
    from .kernels.cpu import preprocess_cpu

    return preprocess_cpu(jets, kernel_options(recipe, row_offset), parallel=parallel, **twin)
