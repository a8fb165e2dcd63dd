"""``preprocess``: jets in, images and per-jet quantities out (SPEC.md).

Shapes: jets (N, M, 4) (E, px, py, pz) in GeV; images (N, npix, npix).
"""

import numpy as np

from .errors import InputError, InvalidJetError
from .kernels.body import decode_invalid
from .recipe import CENTER_CODE, INTENSITY_CODE, NORMALISE_CODE, Recipe

__all__ = ["preprocess", "OUTPUT_DTYPES", "empty_outputs"]

#: name -> dtype of every per-jet output array besides ``images`` (float32).
OUTPUT_DTYPES = {
    "jet_pt": np.float32, "jet_eta": np.float32, "jet_phi": np.float32,
    "jet_mass": np.float32, "n_constituents": np.int16, "valid": np.int8,
}


def check_jets(jets):
    """Return ``jets`` as a C-contiguous float32/float64 (N, M, 4) array or raise."""
    if not hasattr(jets, "shape") or not hasattr(jets, "dtype"):
        raise InputError(f"jets must be an array of shape (N, M, 4), not {type(jets).__name__}")
    if jets.ndim != 3 or jets.shape[2] != 4:
        raise InputError(f"jets must have shape (N, M, 4) in (E, px, py, pz) order; "
                         f"got shape {tuple(jets.shape)}")
    if jets.dtype not in (np.float32, np.float64):
        raise InputError(f"jets must be float32 or float64; got dtype {jets.dtype}")
    if jets.shape[1] == 0:
        raise InputError("jets have no constituent slots (M = 0)")
    return np.ascontiguousarray(jets)


def empty_outputs(n_jets, npix):
    """Uninitialised output arrays for ``n_jets`` jets (the kernels fill every entry)."""
    out = {"images": np.empty((n_jets, npix, npix), dtype=np.float32)}
    for name, dtype in OUTPUT_DTYPES.items():
        out[name] = np.empty(n_jets, dtype=dtype)
    return out


def _check_out(out, n_jets, npix):
    want = {"images": ((n_jets, npix, npix), np.float32),
            **{name: ((n_jets,), dtype) for name, dtype in OUTPUT_DTYPES.items()}}
    for name, (shape, dtype) in want.items():
        a = out.get(name)
        if not isinstance(a, np.ndarray) or a.shape != shape or a.dtype != dtype \
                or not a.flags.c_contiguous or not a.flags.writeable:
            raise InputError(f"out[{name!r}] must be a writeable C-contiguous {np.dtype(dtype)} "
                             f"array of shape {shape}")


def invalid_reason(jet, code):
    """The human-readable reason of a negative kernel code for ``jet`` (M, 4)."""
    slot, reason = decode_invalid(code)
    e, px, py, pz = (float(v) for v in jet[slot])
    return f"slot {slot}: {reason} (E={e:g}, px={px:g}, py={py:g}, pz={pz:g} GeV)"


def preprocess(jets, recipe=None, *, parallel=True, row_offset=0, out=None, **options):
    """Jet images and per-jet quantities of a chunk of jets, as SPEC.md defines them.

    Parameters
    ----------
    jets : array (N, M, 4) of float32 or float64
        Constituent four-vectors (E, px, py, pz) in GeV, zero-padded; any M.
    recipe : Recipe, optional
        The recipe; defaults to ``Recipe()``. Keyword ``options`` (``npix=32``,
        ``normalise="max"``, ...) override its fields.
    parallel : bool
        Spread the jets over numba's threads (default). ``False`` runs on the
        calling thread, for callers that bring their own threads (Dask).
    row_offset : int
        Added to the row named in an :class:`InvalidJetError` (the chunk's
        first row in its file).
    out : dict, optional
        Arrays to fill instead of new ones, as :func:`empty_outputs` makes
        them (reusing them saves the page faults of fresh memory per chunk).

    Returns
    -------
    dict of str to ndarray
        ``images`` (N, npix, npix) float32; ``jet_pt``, ``jet_eta``,
        ``jet_phi``, ``jet_mass`` (N,) float32 (GeV, rad); ``n_constituents``
        (N,) int16; ``valid`` (N,) int8.

    Raises
    ------
    InvalidJetError
        A jet holds NaN/Inf, a negative energy, or E > 0 with pT = 0 (unless
        ``invalid="skip"``); ``.row`` is its 0-based row.

    Examples
    --------
    >>> import numpy as np, jetimg
    >>> jets = np.zeros((1, 3, 4), np.float32)
    >>> jets[0, 0] = (100.0, 100.0, 0.0, 0.0)     # pT 100 GeV at eta 0, phi 0
    >>> out = jetimg.preprocess(jets, npix=5)
    >>> out["images"][0].nonzero(), float(out["images"][0, 2, 2]), int(out["n_constituents"][0])
    ((array([2]), array([2])), 1.0, 1)
    """
    recipe = Recipe.from_options(recipe, **options)
    jets = check_jets(jets)
    import numba

    from .kernels.cpu import fill_images_cpu, fill_images_serial_cpu

    if out is None:
        out = empty_outputs(jets.shape[0], recipe.npix)
    else:
        _check_out(out, jets.shape[0], recipe.npix)
    codes = np.empty(jets.shape[0], dtype=np.int64)
    args = (jets, CENTER_CODE[recipe.center], recipe.rotate, recipe.flip, recipe.npix,
            recipe.pixel_size[0], recipe.pixel_size[1], INTENSITY_CODE[recipe.intensity],
            recipe.threshold, NORMALISE_CODE[recipe.normalise], out["images"],
            out["jet_pt"], out["jet_eta"], out["jet_phi"], out["jet_mass"],
            out["n_constituents"], out["valid"], codes)
    if parallel:
        fill_images_cpu(*args, numba.get_num_threads())
    else:
        fill_images_serial_cpu(*args)
    if recipe.invalid == "raise":
        bad = np.flatnonzero(codes < 0)
        if bad.size:
            n = int(bad[0])
            raise InvalidJetError(row_offset + n, invalid_reason(jets[n], codes[n]))
    return out
