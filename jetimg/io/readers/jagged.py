"""Jagged rows (one entry per particle, no padding) to the padded jets the kernels take.

A jagged source (:attr:`JetSource.jagged`, e.g. JetClass ROOT files) gives a
window of rows as ``offsets`` (n + 1,) int64 and ``p4s`` (P, 4) float32, the
(E, px, py, pz) of every particle of the window in row order: row i holds
``p4s[offsets[i]:offsets[i + 1]]``. :func:`pad_jagged` pads them to
(n, M, 4) with M the window's largest multiplicity, so the number of slots
follows the data of each block and no particle is ever cut.

>>> import numpy as np
>>> offsets = np.array([0, 2, 2, 3])
>>> p4s = np.arange(12, dtype=np.float32).reshape(3, 4)
>>> jets = pad_jagged(offsets, p4s)
>>> jets.shape, jets[0, 1].tolist(), bool(jets[1].any()), jets[2, 1].tolist()
((3, 2, 4), [4.0, 5.0, 6.0, 7.0], False, [0.0, 0.0, 0.0, 0.0])
"""

import functools

import numpy as np

__all__ = ["jagged_width", "pad_jagged", "pad_jagged_values"]


def jagged_width(offsets):
    """The largest multiplicity of the rows ``offsets`` describe, at least 1.

    Parameters
    ----------
    offsets : numpy.ndarray
        (n + 1,) non-decreasing integers.

    Returns
    -------
    int
    """
    if len(offsets) < 2:
        return 1
    return max(int(np.diff(offsets).max()), 1)


def pad_jagged(offsets, p4s, out=None):
    """Zero-padded (n, M, 4) jets from jagged rows.

    Parameters
    ----------
    offsets : numpy.ndarray
        (n + 1,) int, row i is ``p4s[offsets[i]:offsets[i + 1]]``;
        ``offsets[0]`` may be non-zero.
    p4s : numpy.ndarray
        (P, 4) float32 (E, px, py, pz) in GeV.
    out : numpy.ndarray, optional
        A writeable C-contiguous float32 array to fill: (n, M, 4) with
        M >= the largest multiplicity (default: a new one with M =
        :func:`jagged_width`).

    Returns
    -------
    numpy.ndarray
        float32 (n, M, 4), ``out`` when given.
    """
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    if out is None:
        out = np.empty((len(offsets) - 1, jagged_width(offsets), 4), np.float32)
    if len(offsets) > 1:
        _loops().pad_rows(offsets, np.ascontiguousarray(p4s, dtype=np.float32), out)
    return out


def pad_jagged_values(offsets, values, out=None):
    """Zero-padded (n, M) per-particle values (e.g. particle kinds).

    As :func:`pad_jagged` for one value per particle: ``values`` is (P,) of
    any integer or float dtype and ``out`` (n, M) of the same dtype.
    """
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    values = np.ascontiguousarray(values)
    if out is None:
        out = np.empty((len(offsets) - 1, jagged_width(offsets)), values.dtype)
    if len(offsets) > 1:
        _loops().pad_values(offsets, values, out)
    return out


@functools.cache
def _loops():
    """The compiled padding loops, made on first use (so that importing
    jetimg.io does not import numba), cached on disk like the kernels: a
    boolean-mask assignment in NumPy builds the (n, M) mask and gathers
    through it, which cost as much as imaging the block."""
    import types

    import numba

    @numba.njit(cache=True, nogil=True)
    def pad_rows(offsets, p4s, out):
        m = out.shape[1]
        for i in range(len(offsets) - 1):
            first = offsets[i]
            count = min(offsets[i + 1] - first, m)
            for s in range(count):
                for k in range(4):
                    out[i, s, k] = p4s[first + s, k]
            for s in range(count, m):
                for k in range(4):
                    out[i, s, k] = 0.0

    # Two loops, not one over a trailing axis of any width: with the width a
    # run-time value the four-vector loop took 10 ms per 20,000 jets, not 3.
    @numba.njit(cache=True, nogil=True)
    def pad_values(offsets, values, out):
        m = out.shape[1]
        for i in range(len(offsets) - 1):
            first = offsets[i]
            count = min(offsets[i + 1] - first, m)
            for s in range(count):
                out[i, s] = values[first + s]
            for s in range(count, m):
                out[i, s] = 0

    return types.SimpleNamespace(pad_rows=pad_rows, pad_values=pad_values)
