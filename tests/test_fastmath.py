"""The CPU kernels' float64 asinh/atan2 against the math module."""

import math

import numpy as np
import pytest
from numba import njit

from jetimg.kernels.fastmath import fast_asinh, fast_atan2, fast_log


@njit
def _apply_asinh(z):
    out = np.empty_like(z)
    for i in range(z.size):
        out[i] = fast_asinh(z[i])
    return out


@njit
def _apply_log(x):
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = fast_log(x[i])
    return out


@njit
def _apply_atan2(y, x):
    out = np.empty_like(y)
    for i in range(y.size):
        out[i] = fast_atan2(y[i], x[i])
    return out


def test_asinh_matches_math():
    rng = np.random.default_rng(0)
    z = np.concatenate([rng.normal(0, 3, 200_000), np.sinh(rng.uniform(-8, 8, 100_000)),
                        [0.0, -0.0, 1e-300, -1e-300, 1e-8, 1.0, -1.0, 1e6, -1e6, 1e20]])
    want = np.array([math.asinh(v) for v in z])
    got = _apply_asinh(z)
    # absolute error for |eta| of order 1, relative for huge |z|
    assert np.max(np.abs(got - want) / np.maximum(1.0, np.abs(want))) < 4e-15
    big = np.abs(want) > 1e-15
    assert np.all(np.sign(got[big]) == np.sign(want[big]))


def test_log_matches_math_over_many_octaves():
    x = np.exp(np.random.default_rng(1).uniform(-600, 600, 300_000))
    x = np.concatenate([x, [1.0, 2.0, math.sqrt(2.0), np.nextafter(math.sqrt(2.0), 3.0)]])
    want = np.log(x)
    assert np.max(np.abs(_apply_log(x) - want) / np.maximum(1.0, np.abs(want))) < 4e-15


@pytest.mark.parametrize("scale", [1e-30, 1.0, 1e30])
def test_atan2_matches_math_in_every_octant(scale):
    rng = np.random.default_rng(2)
    angle = rng.uniform(-math.pi, math.pi, 300_000)
    r = scale * rng.uniform(0.1, 10.0, angle.size)
    y, x = r * np.sin(angle), r * np.cos(angle)
    special = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, -1.0], [-1.0, 0.0], [1.0, 1.0],
                        [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0], [0.41421356237309503, 1.0]])
    y = np.concatenate([y, special[:, 0] * scale])
    x = np.concatenate([x, special[:, 1] * scale])
    want = np.arctan2(y, x)
    assert np.max(np.abs(_apply_atan2(y, x) - want)) < 2e-15
