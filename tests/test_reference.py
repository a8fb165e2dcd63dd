"""The float64 reference (tests/reference.py) against jets computed by hand.

Constituents are massless four-vectors built from (pT, eta, phi):
E = pT cosh(eta), px = pT cos(phi), py = pT sin(phi), pz = pT sinh(eta).

Default grid: dx = 5.2/180 = 0.0288889, dy = 2 pi/180 = 0.0349066, npix = 40,
so column j = floor(x'/dx + 20) and row i = floor(y'/dy + 20) (x' = 0 -> 20).
Useful quotients: 0.05/dx = 1.7308, 0.1/dx = 3.4615, 0.15/dx = 5.1923,
0.2/dx = 6.9231; 0.05/dy = 1.4324, 0.1/dy = 2.8648, 0.15/dy = 4.2972,
1.0/dy = 28.648.
"""

import math
from types import SimpleNamespace

import numpy as np
import pytest

try:  # tests/ as a package, or (pytest's default rootdir-less layout) on sys.path
    from .reference import (DEFAULTS, ReferenceInvalidJet, near_pixel_edge,
                            reference_jet, reference_preprocess, wrap_phi)
except ImportError:
    from reference import (DEFAULTS, ReferenceInvalidJet, near_pixel_edge,
                           reference_jet, reference_preprocess, wrap_phi)

DX, DY = DEFAULTS["pixel_size"]
PAD = (0.0, 0.0, 0.0, 0.0)


def p4(pt, eta, phi):
    """A massless (E, px, py, pz) from (pT, eta, phi)."""
    return (pt * math.cosh(eta), pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta))


def make_jet(*constituents, slots=None, pad_to=None):
    """A (M, 4) float64 jet from (pT, eta, phi) triples or raw 4-tuples (len 4).

    ``pad_to`` appends zero padding up to M slots.
    """
    rows = [c if len(c) == 4 else p4(*c) for c in constituents]
    if pad_to is not None:
        rows += [PAD] * (pad_to - len(rows))
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


def pixels_of(image):
    """{(row, col): value} of the nonzero pixels."""
    return {(int(i), int(j)): float(image[i, j]) for i, j in zip(*np.nonzero(image))}


def assert_pixels(image, expected, rel=1e-12):
    got = pixels_of(image)
    assert set(got) == set(expected), (got, expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=rel, abs=1e-15), (key, got[key], value)


# --------------------------------------------------------------------------
# one and two constituents


@pytest.mark.parametrize("pt, eta, phi", [(250.0, 0.7, 1.2), (3.0, -2.1, -3.1), (1e3, 0.0, math.pi)])
def test_one_constituent_lands_on_the_centre_pixel(pt, eta, phi):
    """| constituent | x, y | (row, col) | value |
    | any          | 0, 0 | (20, 20)   | 1 ("sum") |
    """
    r = reference_jet(make_jet((pt, eta, phi), pad_to=5))
    assert_pixels(r["image"], {(20, 20): 1.0})
    assert r["valid"] == 1 and r["n_constituents"] == 1
    assert r["rotated"] is False  # one constituent: no principal axis
    assert r["jet_pt"] == pytest.approx(pt, rel=1e-14)
    assert r["jet_eta"] == pytest.approx(eta, rel=1e-12, abs=1e-14)
    assert r["jet_mass"] == pytest.approx(0.0, abs=1e-4 * pt)
    r = reference_jet(make_jet((pt, eta, phi)), normalise="none")
    assert_pixels(r["image"], {(20, 20): pt})


def test_equal_pair_along_eta_is_turned_vertical():
    """pT 100 at eta 0.5 -+ 0.1, phi 0.3 (same phi: the two pT are identical).

    Centroid eta_c = 0.5, phi_c = 0: x = -0.1, +0.1; y = 0, 0.
    Sxx = 2*100*0.01 = 2, Syy = Sxy = 0: alpha = 0.5 atan2(0, 2) = 0,
    beta = pi/2: x' = x cos(pi/2) ~ 6e-18 * sign(x) (snapped to 0), y' = x.
    Flips: x' weights 100 vs 100, y' weights 100 vs 100: ties, no flips.

    | slot | (pT, eta, phi)  | x', y'   | (row, col)                 | value |
    | 0    | (100, 0.4, 0.3) | 0, -0.1  | (floor(20-2.8648)=17, 20)  | 0.5   |
    | 1    | (100, 0.6, 0.3) | 0, +0.1  | (floor(20+2.8648)=22, 20)  | 0.5   |
    """
    r = reference_jet(make_jet((100.0, 0.4, 0.3), (100.0, 0.6, 0.3)))
    assert_pixels(r["image"], {(17, 20): 0.5, (22, 20): 0.5})
    assert r["rotated"] and r["alpha"] == 0.0 and r["beta"] == pytest.approx(math.pi / 2)
    assert r["flipped"] == (False, False)
    assert r["points"][:, 1] == pytest.approx([-0.1, 0.1], abs=1e-12)
    assert np.abs(r["points"][:, 0]).max() < 1e-15
    assert r["pixels"].tolist() == [[17, 20], [22, 20]]


def test_unequal_pair_in_phi():
    """pT 300 at (0.2, 1.0), pT 100 at (0.2, 1.2).

    phi_ref = 1.0 (the 300); dphi = 0, 0.2; phi_c = 100*0.2/400 = 0.05;
    eta_c = 0.2: x = 0, 0 (up to rounding), y = -0.05, +0.15.
    Syy = 300*0.0025 + 100*0.0225 = 3, Sxx ~ Sxy ~ 0: alpha = +-pi/2 (the sign of
    2 Sxy ~ +-0 decides), beta = 0 or pi. beta = 0: y' = -0.05 (300), +0.15 (100)
    -> 300 below, 100 above -> y flip. beta = pi: y' = +0.05, -0.15 -> no flip.
    Either way:

    | slot | pT  | y'    | (row, col)                  | value |
    | 0    | 300 | +0.05 | (floor(20+1.4324)=21, 20)   | 0.75  |
    | 1    | 100 | -0.15 | (floor(20-4.2972)=15, 20)   | 0.25  |
    """
    r = reference_jet(make_jet((300.0, 0.2, 1.0), (100.0, 0.2, 1.2)))
    assert_pixels(r["image"], {(21, 20): 0.75, (15, 20): 0.25})
    assert r["phi_ref"] == pytest.approx(1.0) and r["phi_c"] == pytest.approx(0.05)
    assert r["points"][:, 1] == pytest.approx([0.05, -0.15])
    assert r["points"][:, 2] == pytest.approx([300.0, 100.0])


def test_unequal_pair_in_eta():
    """pT 300 at (0.2, 1.0), pT 100 at (0.4, 1.0).

    eta_c = (300*0.2 + 100*0.4)/400 = 0.25: x = -0.05, +0.15; y = 0, 0 (exactly).
    Sxx = 300*0.0025 + 100*0.0225 = 3, Syy = Sxy = 0: alpha = 0, beta = pi/2:
    y' = x = -0.05 (300), +0.15 (100) -> more below -> y flip;
    x' ~ -3e-18 (300), +9e-18 (100): 100 > 300 is false -> no x flip.

    | slot | pT  | y' (flipped) | (row, col) | value |
    | 0    | 300 | +0.05        | (21, 20)   | 0.75  |
    | 1    | 100 | -0.15        | (15, 20)   | 0.25  |
    """
    r = reference_jet(make_jet((300.0, 0.2, 1.0), (100.0, 0.4, 1.0)))
    assert_pixels(r["image"], {(21, 20): 0.75, (15, 20): 0.25})
    assert r["alpha"] == 0.0 and r["flipped"] == (False, True)
    assert r["eta_c"] == pytest.approx(0.25)


def test_x_flip_without_rotation():
    """pT 300 at (1.0, -0.4), pT 100 at (0.8, -0.4); rotate=False.

    eta_c = (300 + 80)/400 = 0.95: x = +0.05 (300), -0.15 (100); y = 0.
    flip=False: cols floor(20+1.7308)=21, floor(20-5.1923)=14.
    flip=True: more intensity at x > 0 -> x -> -x: cols floor(20-1.7308)=18,
    floor(20+5.1923)=25. y' = 0 both: no y flip, row 20.
    """
    jet = make_jet((300.0, 1.0, -0.4), (100.0, 0.8, -0.4))
    r = reference_jet(jet, rotate=False, flip=False)
    assert_pixels(r["image"], {(20, 21): 0.75, (20, 14): 0.25})
    r = reference_jet(jet, rotate=False)
    assert_pixels(r["image"], {(20, 18): 0.75, (20, 25): 0.25})
    assert r["flipped"] == (True, False)


# --------------------------------------------------------------------------
# three constituents

THREE = [(200.0, 1.0, 0.5), (100.0, 1.1, 0.6), (50.0, 0.8, 0.45)]


def test_three_constituents_no_rotation_no_flip():
    """Centroid, rotate=False, flip=False.

    sum w = 350; eta_c = (200*1.0 + 100*1.1 + 50*0.8)/350 = 350/350 = 1.0;
    phi_ref = 0.5, dphi = 0, 0.1, -0.05; phi_c = (10 - 2.5)/350 = 3/140 = 0.0214286.

    | slot | pT  | x    | y              | col                  | row                  | value  |
    | 0    | 200 | 0    | -3/140=-0.0214 | 20                   | floor(20-0.6139)=19  | 4/7    |
    | 1    | 100 | 0.1  | 11/140=0.0786  | floor(20+3.4615)=23  | floor(20+2.2509)=22  | 2/7    |
    | 2    | 50  | -0.2 | -10/140=-0.0714| floor(20-6.9231)=13  | floor(20-2.0463)=17  | 1/7    |
    """
    r = reference_jet(make_jet(*THREE), rotate=False, flip=False)
    assert_pixels(r["image"], {(19, 20): 4 / 7, (22, 23): 2 / 7, (17, 13): 1 / 7})
    assert r["eta_c"] == pytest.approx(1.0) and r["phi_c"] == pytest.approx(3 / 140)
    assert r["rotated"] is False and math.isnan(r["alpha"])


def test_three_constituents_defaults():
    """Same jet, defaults (rotate and flip).

    Moments (x, y from the table above, y in units of 1/140):
    Sxx = 100*0.01 + 50*0.04 = 3;  Sxy = 100*0.1*11/140 + 50*0.2*10/140 = 1.5;
    Syy = (200*9 + 100*121 + 50*100)/140^2 = 18900/19600 = 27/28.
    tan(2 alpha) = 2*1.5/(3 - 27/28) = 28/19: alpha = 27.920 deg, beta = 62.080 deg.
    (cos b, sin b) = (0.46824, 0.88360):
    x' = x cos b - y sin b = (0.018934, -0.022602, -0.030534)
    y' = x sin b + y cos b = (-0.010034, 0.125150, -0.210166)
    x' > 0: 200, x' < 0: 150 -> x flip;  y' < 0: 250, y' > 0: 100 -> y flip.

    | slot | pT  | x'        | y'        | col                  | row                 | value |
    | 0    | 200 | -0.018934 | +0.010034 | floor(20-0.6554)=19  | floor(20+0.2874)=20 | 4/7   |
    | 1    | 100 | +0.022602 | -0.125150 | floor(20+0.7824)=20  | floor(20-3.5853)=16 | 2/7   |
    | 2    | 50  | +0.030534 | +0.210166 | floor(20+1.0569)=21  | floor(20+6.0208)=26 | 1/7   |
    """
    r = reference_jet(make_jet(*THREE))
    assert_pixels(r["image"], {(20, 19): 4 / 7, (16, 20): 2 / 7, (26, 21): 1 / 7})
    assert r["alpha"] == pytest.approx(0.5 * math.atan(28 / 19))
    assert r["flipped"] == (True, True)
    assert r["points"][:, :2] == pytest.approx(
        np.array([[-0.018934, 0.010034], [0.022602, -0.125150], [0.030534, 0.210166]]), abs=2e-6)
    # the same with the points moved by a global phi rotation and the slots permuted
    moved = [(pt, eta, phi - 2.9) for pt, eta, phi in THREE[::-1]]
    r2 = reference_jet(make_jet(PAD, *moved, PAD))
    np.testing.assert_allclose(r2["image"], r["image"], rtol=0, atol=1e-14)


def test_three_constituents_normalise_max_none_and_threshold():
    """rotate=False, flip=False pixels: (19,20) 200, (22,23) 100, (17,13) 50 GeV."""
    jet = make_jet(*THREE)
    kw = dict(rotate=False, flip=False)
    assert_pixels(reference_jet(jet, normalise="max", **kw)["image"],
                  {(19, 20): 1.0, (22, 23): 0.5, (17, 13): 0.25})
    assert_pixels(reference_jet(jet, normalise="none", **kw)["image"],
                  {(19, 20): 200.0, (22, 23): 100.0, (17, 13): 50.0})
    # threshold 100: 50 < 100 removed, 100 is not below 100 and stays
    assert_pixels(reference_jet(jet, normalise="none", threshold=100.0, **kw)["image"],
                  {(19, 20): 200.0, (22, 23): 100.0})
    # threshold on raw GeV, before normalisation: sum = 300 after threshold
    assert_pixels(reference_jet(jet, threshold=60.0, **kw)["image"],
                  {(19, 20): 2 / 3, (22, 23): 1 / 3})
    assert_pixels(reference_jet(jet, threshold=60.0, normalise="max", **kw)["image"],
                  {(19, 20): 1.0, (22, 23): 0.5})
    # a threshold above every pixel: all zero, not NaN
    for normalise in ("sum", "max", "none"):
        r = reference_jet(jet, threshold=1e4, normalise=normalise)
        assert not r["image"].any() and r["valid"] == 1 and r["n_constituents"] == 3


def test_threshold_applies_to_pixel_sums():
    """Two 40 GeV constituents in one pixel make 80 GeV >= 60: kept; a 30 GeV one is cut.

    center="leading" (ties: slot 0), rotate/flip off: eta_c = 0.5, phi_c = 0.
    | (pT, eta, phi)    | x, y        | (row, col)                      |
    | (40, 0.5, 0.3)    | 0, 0        | (20, 20)                        |
    | (40, 0.505, 0.3)  | 0.005, 0    | (20, floor(20+0.173)=20)        |
    | (30, 0.5, 0.45)   | 0, 0.15     | (floor(20+4.297)=24, 20)        |
    """
    jet = make_jet((40.0, 0.5, 0.3), (40.0, 0.505, 0.3), (30.0, 0.5, 0.45))
    kw = dict(center="leading", rotate=False, flip=False, normalise="none")
    assert_pixels(reference_jet(jet, **kw)["image"], {(20, 20): 80.0, (24, 20): 30.0})
    assert_pixels(reference_jet(jet, threshold=60.0, **kw)["image"], {(20, 20): 80.0})


def test_center_leading_and_intensity_e():
    """center="leading": eta_c = 1.0 (the 200), phi_c = 0; rotate/flip off.

    | slot | x    | y     | (row, col)                       | E = pT cosh(eta) | E/sum E  |
    | 0    | 0    | 0     | (20, 20)                         | 308.6161         | 0.5690458 |
    | 1    | 0.1  | 0.1   | (floor(20+2.8648)=22, 23)        | 166.8519         | 0.3076519 |
    | 2    | -0.2 | -0.05 | (floor(20-1.4324)=18, 13)        | 66.8717          | 0.1233023 |
    """
    jet = make_jet(*THREE)
    kw = dict(center="leading", rotate=False, flip=False)
    assert_pixels(reference_jet(jet, **kw)["image"],
                  {(20, 20): 4 / 7, (22, 23): 2 / 7, (18, 13): 1 / 7})
    r = reference_jet(jet, intensity="e", **kw)
    assert_pixels(r["image"], {(20, 20): 0.5690458, (22, 23): 0.3076519, (18, 13): 0.1233023},
                  rel=1e-6)
    assert r["points"][:, 2] == pytest.approx([308.6161, 166.8519, 66.8717], rel=1e-6)


def test_leading_is_by_pt_even_with_intensity_e():
    """A: pT 100 at eta 0 (E = 100); B: pT 90 at eta 2 (E = 90 cosh 2 = 338.6).

    The leading constituent is A (largest pT), so eta_c = 0 with center="leading";
    B at x = 2 -> col 20 + 69.2: cropped. "sum" after cropping: A alone = 1.
    """
    jet = make_jet((90.0, 2.0, 0.1), (100.0, 0.0, 0.1))
    r = reference_jet(jet, intensity="e", center="leading", rotate=False, flip=False)
    assert_pixels(r["image"], {(20, 20): 1.0})
    assert r["pixels"].tolist() == [[-1, -1], [20, 20]]


def test_leading_ties_take_the_first_slot():
    """pT 100 at eta 0.5 and 0.6, same phi (identical pT): center="leading", no rotation/flip.

    0.5 first: eta_c = 0.5, x = 0, +0.1 -> cols 20, floor(20+3.46)=23.
    0.6 first: eta_c = 0.6, x = 0, -0.1 -> cols 20, floor(20-3.46)=16.
    """
    kw = dict(center="leading", rotate=False, flip=False)
    a, b = (100.0, 0.5, 0.3), (100.0, 0.6, 0.3)
    assert_pixels(reference_jet(make_jet(a, b), **kw)["image"], {(20, 20): 0.5, (20, 23): 0.5})
    assert_pixels(reference_jet(make_jet(b, a), **kw)["image"], {(20, 20): 0.5, (20, 16): 0.5})


def test_center_jet():
    """center="jet", rotate/flip off: the summed four-vector of THREE.

    P = sum p4 = (542.3397, 303.0724, 174.0976, 413.0103) (E, px, py, pz):
    pT = 349.5181, eta_J = asinh(pz/pT) = 1.004177, phi_J = atan2(py, px) = 0.521415;
    eta_c = 1.004177, phi_c = phi_J - phi_ref = 0.021415.

    | slot | x         | y         | col                  | row                 |
    | 0    | -0.004177 | -0.021415 | floor(20-0.1446)=19  | floor(20-0.6135)=19 |
    | 1    | 0.095823  | 0.078585  | floor(20+3.3170)=23  | floor(20+2.2513)=22 |
    | 2    | -0.204177 | -0.071415 | floor(20-7.0677)=12  | floor(20-2.0459)=17 |
    """
    r = reference_jet(make_jet(*THREE), center="jet", rotate=False, flip=False)
    assert_pixels(r["image"], {(19, 19): 4 / 7, (22, 23): 2 / 7, (17, 12): 1 / 7})
    assert r["eta_c"] == pytest.approx(1.004177, abs=1e-6)
    assert r["phi_c"] == pytest.approx(0.021415, abs=1e-6)
    assert r["jet_pt"] == pytest.approx(349.5181, rel=1e-6)


def test_center_jet_with_zero_jet_pt():
    """Back to back: (E, px, py, pz) = (100 cosh .5, +-100, 0, 100 sinh .5), eta 0.5 each.

    Summed pT = 0 -> eta_c = 0 ("eta_c = 0 if its pT is 0"), jet_eta = 0;
    phi_c = wrap(atan2(0, 0) - phi_ref) = 0. rotate/flip off:
    slot 0: x = 0.5, y = 0 -> (20, floor(20+17.31)=37); slot 1: y = -pi -> cropped.
    jet_mass = sqrt((200 cosh .5)^2 - (200 sinh .5)^2) = 200.
    """
    c, s = 100 * math.cosh(0.5), 100 * math.sinh(0.5)
    jet = make_jet((c, 100.0, 0.0, s), (c, -100.0, 0.0, s))
    r = reference_jet(jet, center="jet", rotate=False, flip=False)
    assert_pixels(r["image"], {(20, 37): 1.0})
    assert r["eta_c"] == 0.0 and r["phi_c"] == 0.0
    assert r["jet_pt"] == 0.0 and r["jet_eta"] == 0.0 and r["jet_phi"] == 0.0
    assert r["jet_mass"] == pytest.approx(200.0, rel=1e-12)


# --------------------------------------------------------------------------
# the rotation skip rule, wrap-around, crop


def test_isotropic_jet_skips_rotation():
    """Equal pT 80 on an equilateral triangle of radius 0.12 about (0.4, -1.0).

    Offsets (x, y) = (0, 0.12), (-0.103923, -0.06), (0.103923, -0.06):
    Sxx = Syy = 80*3*0.12^2/2, Sxy = 0 (to rounding): no principal axis, no rotation
    (a rotation by any beta other than a multiple of 120 deg would move the points).
    x flip: mirror-symmetric, either way the same pixels; y: 160 below -> flip.

    | x', y' (after flips)  | (row, col)                                     |
    | 0, -0.12              | (floor(20-3.4377)=16, 20)                      |
    | -+0.103923, +0.06     | (floor(20+1.7189)=21, floor(20-+3.5973)=16, 23)|
    """
    jet = make_jet(*[(80.0, 0.4 + 0.12 * math.cos(t), -1.0 + 0.12 * math.sin(t))
                     for t in np.radians([90.0, 210.0, 330.0])])
    r = reference_jet(jet)
    assert r["rotated"] is False
    assert_pixels(r["image"], {(16, 20): 1 / 3, (21, 16): 1 / 3, (21, 23): 1 / 3}, rel=1e-9)


@pytest.mark.parametrize("center", ["centroid", "jet", "leading"])
def test_jet_straddling_phi_pi(center):
    """pT 150 at (0.3, pi - 0.05), pT 100 at (0.35, -pi + 0.05) is the jet
    (0.3, -0.05), (0.35, +0.05) turned by pi: same image.

    Centroid: dphi = 0, 0.1 (wrap(-2 pi + 0.1)); phi_c = 0.04, eta_c = 0.32:
    (x, y) = (-0.02, -0.04), (0.03, 0.06), on the line y = 2x.
    Rotation puts that line vertical: y' = -0.044721 (150), +0.067082 (100);
    150 below -> y flip: y' = +0.044721 -> row floor(20+1.2812)=21,
    -0.067082 -> row floor(20-1.9218)=18; x' ~ 0 -> col 20.
    """
    around_pi = make_jet((150.0, 0.3, math.pi - 0.05), (100.0, 0.35, -math.pi + 0.05))
    around_0 = make_jet((150.0, 0.3, -0.05), (100.0, 0.35, 0.05))
    r_pi = reference_jet(around_pi, center=center)
    r_0 = reference_jet(around_0, center=center)
    np.testing.assert_allclose(r_pi["image"], r_0["image"], rtol=0, atol=1e-12)
    assert pixels_of(r_pi["image"]).keys() == pixels_of(r_0["image"]).keys()
    if center == "centroid":
        assert_pixels(r_pi["image"], {(21, 20): 0.6, (18, 20): 0.4}, rel=1e-9)
    # per-jet phi: (px, py) = (-250 cos .05, +50 sin .05) around pi, (250 cos .05, -50 sin .05) around 0
    phi_0 = -math.atan2(50 * math.sin(0.05), 250 * math.cos(0.05))
    assert r_0["jet_phi"] == pytest.approx(phi_0, rel=1e-12)
    assert r_pi["jet_phi"] == pytest.approx(phi_0 + math.pi, rel=1e-12)
    assert r_pi["jet_pt"] == pytest.approx(r_0["jet_pt"], rel=1e-12)


def test_wrap_phi():
    assert wrap_phi(math.pi) == -math.pi
    assert wrap_phi(-math.pi) == -math.pi
    assert wrap_phi(2 * math.pi - 0.1) == pytest.approx(-0.1)
    assert wrap_phi(-2 * math.pi + 0.1) == pytest.approx(0.1)
    assert wrap_phi(0.0) == 0.0
    for a in np.linspace(-2 * math.pi, 2 * math.pi, 101):
        assert -math.pi <= wrap_phi(a) < math.pi


def test_everything_cropped_stays_zero():
    """pT 100 at eta 0.5 -+ 1.0: rotated to y' = -+1.0 -> rows 20 -+ 28.6, both cropped."""
    jet = make_jet((100.0, -0.5, 0.2), (100.0, 1.5, 0.2))
    for normalise in ("sum", "max", "none"):
        r = reference_jet(jet, normalise=normalise)
        assert not r["image"].any() and not np.isnan(r["image"]).any()
        assert r["valid"] == 1 and r["n_constituents"] == 2 and r["jet_pt"] > 0
        assert r["pixels"].tolist() == [[-1, -1], [-1, -1]]


# --------------------------------------------------------------------------
# npix and pixel_size


def test_odd_npix_and_pixel_size():
    """THREE, rotate/flip off (x = 0, 0.1, -0.2; y = -0.0214, 0.0786, -0.0714).

    npix=5, pixel_size=(0.1, 0.05): col = floor(x/0.1 + 2.5), row = floor(y/0.05 + 2.5)
    | slot | col             | row                | value |
    | 0    | floor(2.5)=2    | floor(2.0714)=2    | 4/7   |
    | 1    | floor(3.5)=3    | floor(4.0714)=4    | 2/7   |
    | 2    | floor(0.5)=0    | floor(1.0714)=1    | 1/7   |
    pixel_size=(0.05, 0.05): cols floor(2.5)=2, floor(4.5)=4, floor(-1.5): cropped;
    the sum after cropping is 300: 2/3, 1/3.
    """
    jet = make_jet(*THREE)
    kw = dict(rotate=False, flip=False, npix=5)
    r = reference_jet(jet, pixel_size=(0.1, 0.05), **kw)
    assert r["image"].shape == (5, 5)
    assert_pixels(r["image"], {(2, 2): 4 / 7, (4, 3): 2 / 7, (1, 0): 1 / 7})
    r = reference_jet(jet, pixel_size=(0.05, 0.05), **kw)
    assert_pixels(r["image"], {(2, 2): 2 / 3, (4, 4): 1 / 3})
    # one constituent: the middle pixel of an odd grid, (2, 2); npix=1: (0, 0)
    assert_pixels(reference_jet(make_jet((50.0, 1.0, 2.0)), npix=5)["image"], {(2, 2): 1.0})
    assert_pixels(reference_jet(make_jet((50.0, 1.0, 2.0)), npix=1)["image"], {(0, 0): 1.0})


@pytest.mark.parametrize("npix, pixel_size", [(10, (0.235, 0.239)), (6, (0.175, 0.181)),
                                              (40, (0.401, 0.47))])
def test_centre_pixel_whatever_the_rounding(npix, pixel_size):
    """For these d, fl(npix*d/2)/d rounds just below npix/2, so the literal floor
    would give npix//2 - 1; SPEC says a centred constituent lands on npix//2."""
    for d in pixel_size:
        assert math.floor((npix * d / 2) / d) == npix // 2 - 1  # the hazard is real
    r = reference_jet(make_jet((70.0, -0.3, 0.4), (0.0, -0.0, 0.0, 0.0)), npix=npix,
                      pixel_size=pixel_size)
    assert_pixels(r["image"], {(npix // 2, npix // 2): 1.0})


def test_collinear_pair_lands_on_the_centre_pixel():
    """Two constituents in the same direction: x = y = 0 up to rounding -> (20, 20)."""
    r = reference_jet(make_jet((30.0, 0.77, -2.2), (60.0, 0.77, -2.2)))
    assert_pixels(r["image"], {(20, 20): 1.0})


# --------------------------------------------------------------------------
# padding and invalid input


def test_padding_anywhere_and_negative_zero():
    compact = reference_jet(make_jet(*THREE))
    variants = [
        make_jet(PAD, *THREE),
        make_jet(THREE[0], PAD, THREE[1], PAD, PAD, THREE[2], PAD),
        make_jet((-0.0, 0.0, -0.0, -0.0), *THREE, (0.0, -0.0, -0.0, 0.0)),
        make_jet(*THREE, pad_to=200),
    ]
    for jet in variants:
        r = reference_jet(jet)
        np.testing.assert_array_equal(r["image"], compact["image"])
        assert r["n_constituents"] == 3
        for name in ("jet_pt", "jet_eta", "jet_phi", "jet_mass"):
            assert r[name] == compact[name]


@pytest.mark.parametrize("jet", [make_jet(PAD, PAD, PAD), make_jet((-0.0, -0.0, -0.0, -0.0)),
                                 np.zeros((0, 4))])
def test_all_padding_is_valid_and_zero(jet):
    r = reference_jet(jet)
    assert r["valid"] == 1 and r["n_constituents"] == 0
    assert r["image"].shape == (40, 40) and not r["image"].any()
    assert (r["jet_pt"], r["jet_eta"], r["jet_phi"], r["jet_mass"]) == (0.0, 0.0, 0.0, 0.0)


BAD_SLOTS = [
    ((math.nan, 1.0, 1.0, 1.0), "E=nan not finite"),
    ((10.0, math.inf, 1.0, 1.0), "px=inf not finite"),
    ((10.0, 1.0, 1.0, -math.inf), "pz=-inf not finite"),
    ((10.0, 1.0, math.nan, math.inf), "py=nan, pz=inf not finite"),
    ((-5.0, 1.0, 1.0, 1.0), "negative energy E=-5.0"),
    ((0.0, 1.0, 0.0, 0.0), "E=0.0 is not > 0"),
    ((10.0, 0.0, 0.0, 10.0), "pT=0"),       # along the beam
    ((10.0, 0.0, -0.0, 0.0), "pT=0"),       # E > 0, no momentum
]


@pytest.mark.parametrize("slot_values, reason", BAD_SLOTS)
def test_invalid_slots(slot_values, reason):
    jet = make_jet(*THREE[:2], PAD, slot_values, THREE[2])  # the bad one in slot 3
    with pytest.raises(ValueError, match="slot 3") as info:
        reference_jet(jet)
    assert reason in str(info.value)
    assert isinstance(info.value, ReferenceInvalidJet) and info.value.slot == 3
    r = reference_jet(jet, invalid="skip")
    assert r["valid"] == 0 and r["n_constituents"] == 0 and not r["image"].any()
    assert (r["jet_pt"], r["jet_eta"], r["jet_phi"], r["jet_mass"]) == (0.0, 0.0, 0.0, 0.0)


# --------------------------------------------------------------------------
# per-jet quantities


def test_per_jet_quantities_of_a_massless_pair():
    """pT 100 at (0.5, 0.2), pT 50 at (-0.3, 0.9).

    m^2 = 2 pT1 pT2 (cosh(deta) - cos(dphi)) = 10000 (cosh 0.8 - cos 0.7)
        = 10000 (1.3374349 - 0.7648422) = 5725.93  -> m = 75.66986
    pT^2 = 100^2 + 50^2 + 2*100*50 cos 0.7 = 20148.42 -> pT = 141.94514
    px = 100 cos .2 + 50 cos .9 = 129.0872, py = 100 sin .2 + 50 sin .9 = 59.0333,
    phi = atan2(py, px) = 0.428919; pz = 100 sinh .5 + 50 sinh(-.3) = 36.8835,
    eta = asinh(pz/pT) = 0.257005.
    """
    r = reference_jet(make_jet((100.0, 0.5, 0.2), (50.0, -0.3, 0.9), pad_to=4))
    m = math.sqrt(2 * 100 * 50 * (math.cosh(0.8) - math.cos(0.7)))
    assert m == pytest.approx(75.66986, abs=1e-5)
    assert r["jet_mass"] == pytest.approx(m, rel=1e-10)
    pt = math.sqrt(100**2 + 50**2 + 2 * 100 * 50 * math.cos(0.7))
    assert r["jet_pt"] == pytest.approx(pt, rel=1e-13)
    assert r["jet_pt"] == pytest.approx(141.94514, abs=1e-5)
    assert r["jet_phi"] == pytest.approx(0.428919, abs=1e-6)
    assert r["jet_eta"] == pytest.approx(0.257005, abs=1e-6)
    assert r["n_constituents"] == 2 and r["valid"] == 1


def test_jet_phi_is_in_minus_pi_pi_closed_above():
    """px = -100, py = -0.0: atan2 alone would say -pi; SPEC's range (-pi, pi] says +pi."""
    r = reference_jet(make_jet((100.0, -100.0, -0.0, 0.0)))
    assert r["jet_phi"] == math.pi
    assert_pixels(r["image"], {(20, 20): 1.0})


def test_jet_mass_of_a_massive_constituent_and_clamp():
    """E = 5, p = (3, 0, 0): m = 4. E slightly below |p| (rounding): m = 0, not NaN."""
    assert reference_jet(make_jet((5.0, 3.0, 0.0, 0.0)))["jet_mass"] == 4.0
    r = reference_jet(make_jet((5.0, 3.0, 0.0, 4.0000001)))
    assert r["jet_mass"] == 0.0


# --------------------------------------------------------------------------
# reference_preprocess, options, near_pixel_edge


def test_reference_preprocess_rows_and_dtypes():
    jets = np.zeros((4, 6, 4))
    jets[0, :3] = make_jet(*THREE)
    jets[1, 2] = p4(80.0, -1.0, 3.0)
    jets[3, [1, 4]] = make_jet((300.0, 0.2, 1.0), (100.0, 0.2, 1.2))
    out = reference_preprocess(jets)
    dtypes = {"images": "float32", "jet_pt": "float32", "jet_eta": "float32", "jet_phi": "float32",
              "jet_mass": "float32", "n_constituents": "int16", "valid": "int8"}
    assert {k: v.dtype.name for k, v in out.items()} == dtypes
    assert out["images"].shape == (4, 40, 40)
    assert out["n_constituents"].tolist() == [3, 1, 0, 2]
    assert out["valid"].tolist() == [1, 1, 1, 1]
    assert not out["images"][2].any()
    for n in range(4):
        r = reference_jet(jets[n])
        np.testing.assert_array_equal(out["images"][n], r["image"].astype(np.float32))
        assert out["jet_mass"][n] == np.float32(r["jet_mass"])
    assert out["images"][3][21, 20] == np.float32(0.75)

    jets[2, 5] = (1.0, 0.0, 0.0, 1.0)  # E > 0, pT = 0
    with pytest.raises(ValueError, match=r"row 2: slot 5: pT=0") as info:
        reference_preprocess(jets)
    assert info.value.row == 2 and info.value.slot == 5
    out = reference_preprocess(jets, invalid="skip")
    assert out["valid"].tolist() == [1, 1, 0, 1]
    assert out["n_constituents"].tolist() == [3, 1, 0, 2]
    assert not out["images"][2].any() and out["jet_pt"][2] == 0

    empty = reference_preprocess(np.zeros((0, 200, 4)), npix=7)
    assert empty["images"].shape == (0, 7, 7)


def test_options_from_recipe_like_objects():
    jet = make_jet(*THREE)
    recipe = SimpleNamespace(**{**DEFAULTS, "rotate": False, "flip": False, "normalise": "none"})
    assert_pixels(reference_jet(jet, recipe)["image"],
                  {(19, 20): 200.0, (22, 23): 100.0, (17, 13): 50.0})
    # keywords override the recipe
    assert_pixels(reference_jet(jet, recipe, normalise="max")["image"],
                  {(19, 20): 1.0, (22, 23): 0.5, (17, 13): 0.25})
    with pytest.raises(TypeError, match="normalize"):
        reference_jet(jet, normalize="sum")
    for bad in (dict(center="middle"), dict(npix=0), dict(pixel_size=(0.1, -1)),
                dict(threshold=-1.0), dict(intensity="E"), dict(invalid="ignore")):
        with pytest.raises(ValueError):
            reference_jet(jet, **bad)
    with pytest.raises(ValueError, match="shape"):
        reference_jet(np.zeros((3, 3)))


def test_near_pixel_edge():
    kw = dict(npix=40, pixel_size=(DX, DY), tol=1e-9)
    assert not near_pixel_edge(np.zeros((0, 3)), **kw)
    assert not near_pixel_edge([[0.5 * DX, 0.5 * DY, 1.0]], **kw)
    assert near_pixel_edge([[3 * DX, 0.5 * DY, 1.0]], **kw)        # a column edge
    assert near_pixel_edge([[0.5 * DX, -7 * DY + 1e-10, 1.0]], **kw)  # a row edge
    assert near_pixel_edge([[0.5 * DX, 20 * DY, 1.0]], **kw)       # the crop border
    assert not near_pixel_edge([[0.5 * DX, 100.5 * DY, 1.0]], **kw)  # far outside: no edge matters
    assert near_pixel_edge([[1.0000000001e-9, 0.5 * DY, 1.0]], **kw)  # the snap band
    assert not near_pixel_edge([[0.0, 0.5 * DY, 1.0]], npix=40, pixel_size=(DX, DY), tol=1e-10)
    assert near_pixel_edge([[0.0, 0.5 * DY, 1.0]], npix=40, pixel_size=(DX, DY), tol=1e-6)
    # the three-constituent jet with defaults is nowhere near an edge
    r = reference_jet(make_jet(*THREE))
    assert not near_pixel_edge(r["points"], 40, (DX, DY), 1e-6)
