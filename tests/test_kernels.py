"""The numba kernels (jetimg.preprocess) held against the float64 reference.

Chain: tests/reference.py (slow, obvious float64) -> CPU kernel, on thousands
of toy jets and every recipe option; then invariances with hypothesis, the
properties of rotation and flips, and edge cases.
"""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import jetimg
from jetimg import InputError, InvalidJetError, Recipe
from jetimg.toys import jets_from_ptetaphi, toy_jets

from .helpers import OPTION_MATRIX, l1, option_id
from .reference import near_pixel_edge, reference_jet, reference_preprocess

OUTPUTS = ("jet_pt", "jet_eta", "jet_phi", "jet_mass", "n_constituents", "valid")


def assert_agrees_with_reference(jets, recipe, min_fraction=0.999, edge_tol=1e-7):
    """>= min_fraction of images within L1 1e-5 of the reference (relative to
    the image sum for raw GeV images); every other image explained by a
    constituent within edge_tol of a pixel edge."""
    got = jetimg.preprocess(jets, recipe)
    want = reference_preprocess(jets, recipe)
    dist = l1(got["images"], want["images"])
    if recipe.normalise == "none":  # raw GeV: compare relative to the image's sum
        dist /= np.maximum(want["images"].sum(axis=(1, 2), dtype=np.float64), 1.0)
    bad = np.flatnonzero(dist > 1e-5)
    assert 1 - bad.size / len(jets) >= min_fraction, (bad.size, dist[bad][:5])
    for n in bad:
        points = reference_jet(jets[n], recipe)["points"]
        assert near_pixel_edge(points, recipe.npix, recipe.pixel_size, edge_tol), \
            f"jet {n} differs by L1 {dist[n]:.3g} with no constituent on a pixel edge"
    for name in OUTPUTS:
        np.testing.assert_allclose(got[name], want[name], rtol=2e-6, atol=2e-5, err_msg=name)
        assert got[name].dtype == want[name].dtype
    return got


def test_default_recipe_agrees_with_reference_on_5000_toy_jets(toys_5k):
    jets, _ = toys_5k
    got = assert_agrees_with_reference(jets, Recipe())
    assert got["images"].shape == (5000, 40, 40) and got["images"].dtype == np.float32
    np.testing.assert_allclose(got["images"].sum(axis=(1, 2)), 1.0, rtol=1e-5)


@pytest.mark.parametrize("options", OPTION_MATRIX, ids=option_id)
def test_every_option_agrees_with_reference(toys_small, options):
    jets, _ = toys_small
    assert_agrees_with_reference(jets, Recipe(**options))


def test_float64_input_and_serial_loop_give_the_same_images(toys_small):
    jets, _ = toys_small
    a = jetimg.preprocess(jets)
    b = jetimg.preprocess(jets.astype(np.float64))
    c = jetimg.preprocess(jets, parallel=False)
    for name in ("images",) + OUTPUTS:
        np.testing.assert_array_equal(a[name], b[name])
        np.testing.assert_array_equal(a[name], c[name])


def test_chunks_give_bit_identical_results(toys_small):
    jets, _ = toys_small
    whole = jetimg.preprocess(jets)
    for size in (1, 7, 100):
        parts = [jetimg.preprocess(jets[i:i + size]) for i in range(0, len(jets), size)]
        for name in whole:
            np.testing.assert_array_equal(whole[name], np.concatenate([p[name] for p in parts]))


# --------------------------------------------------------------------------
# hand-computed jets (the arithmetic is in tests/test_reference.py)

DX, DY = Recipe().pixel_size


def one_jet(*constituents, pad_to=6):
    pts, etas, phis = (np.array([c[i] for c in constituents] + [0.0] * (pad_to - len(constituents)))
                       for i in range(3))
    return jets_from_ptetaphi(pts, etas, phis)[None]


def pixels(image):
    return {(int(i), int(j)): float(image[i, j]) for i, j in zip(*np.nonzero(image))}


def assert_pixels(image, expected):
    got = pixels(image)
    assert set(got) == set(expected), got
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-6), key


def test_one_constituent_lands_on_the_centre_pixel():
    for npix in (40, 5, 1):
        out = jetimg.preprocess(one_jet((250.0, 0.7, 1.2)), npix=npix)
        assert_pixels(out["images"][0], {(npix // 2, npix // 2): 1.0})
        assert out["n_constituents"][0] == 1 and out["valid"][0] == 1


def test_centre_pixel_where_the_grid_formula_rounds_down():
    # fl(npix*dx/2)/dx < npix/2 for dx = 0.235, npix = 10: the centre is still npix//2
    out = jetimg.preprocess(one_jet((100.0, 0.0, 0.0)), npix=10, pixel_size=(0.235, 0.47))
    assert_pixels(out["images"][0], {(5, 5): 1.0})


def test_two_equal_constituents_along_eta_turn_vertical():
    """pT 100 at eta 0.4 and 0.6, phi 0.3: alpha = 0 so beta = pi/2, the pair
    lies along y at -+0.1; rows floor(-+0.1/dy + 20) = 17 and 22, column 20;
    equal weights tie, so neither flip happens."""
    out = jetimg.preprocess(one_jet((100.0, 0.4, 0.3), (100.0, 0.6, 0.3)))
    assert_pixels(out["images"][0], {(17, 20): 0.5, (22, 20): 0.5})


def test_unequal_pair_in_phi():
    """pT 300 at phi 0, 100 at phi 0.2: centroid at phi 0.05, the pair already
    vertical; y = -0.05 (300) and +0.15 (100). The y flip (more weight at y<0)
    gives +0.05 -> row 21 and -0.15 -> row 15."""
    out = jetimg.preprocess(one_jet((300.0, 0.2, 0.0), (100.0, 0.2, 0.2)))
    assert_pixels(out["images"][0], {(21, 20): 0.75, (15, 20): 0.25})


def test_three_constituents_with_and_without_rotation():
    """(pT, eta, phi) = (200, 1.0, 0.5), (100, 1.1, 0.6), (50, 0.8, 0.45);
    centroid (émean) eta 1.0, phi 0.5214286. Without rotation and flips the
    pixels are (19, 20), (22, 23), (17, 13); with both, tan(2 alpha) = 28/19
    and the flips put them at (20, 19), (16, 20), (26, 21)."""
    jet = one_jet((200.0, 1.0, 0.5), (100.0, 1.1, 0.6), (50.0, 0.8, 0.45))
    plain = jetimg.preprocess(jet, rotate=False, flip=False)["images"][0]
    assert_pixels(plain, {(19, 20): 4 / 7, (22, 23): 2 / 7, (17, 13): 1 / 7})
    full = jetimg.preprocess(jet)["images"][0]
    assert_pixels(full, {(20, 19): 4 / 7, (16, 20): 2 / 7, (26, 21): 1 / 7})
    assert_pixels(jetimg.preprocess(jet, normalise="max")["images"][0],
                  {(20, 19): 1.0, (16, 20): 0.5, (26, 21): 0.25})
    assert_pixels(jetimg.preprocess(jet, normalise="none", threshold=60.0)["images"][0],
                  {(20, 19): 200.0, (16, 20): 100.0})


def test_per_jet_quantities_of_a_pair():
    """m^2 = 2 pT1 pT2 (cosh deta - cos dphi) for two massless constituents."""
    out = jetimg.preprocess(one_jet((100.0, 0.5, 0.2), (50.0, -0.3, 0.9)))
    assert out["jet_mass"][0] == pytest.approx(math.sqrt(10000 * (math.cosh(0.8) - math.cos(0.7))), rel=1e-6)
    assert out["jet_pt"][0] == pytest.approx(141.94514, rel=1e-6)
    assert out["jet_phi"][0] == pytest.approx(0.428919, rel=1e-5)
    assert out["jet_eta"][0] == pytest.approx(0.257005, rel=1e-5)


# --------------------------------------------------------------------------
# invariances (float64 jets, so the transformed inputs round the same)

def ptetaphi(jet):
    pt = np.hypot(jet[:, 1], jet[:, 2])
    real = pt > 0
    eta = np.where(real, np.arcsinh(np.divide(jet[:, 3], pt, where=real, out=np.zeros_like(pt))), 0)
    return pt, eta, np.arctan2(jet[:, 2], jet[:, 1])


def image_of(jet, **options):
    return jetimg.preprocess(jet[None], **options)["images"][0].astype(np.float64)


def clear_of_edges(jet, recipe=Recipe(), tol=1e-6):
    ref = reference_jet(jet, recipe)
    pts = ref["points"]
    # no pT ties (the leading constituent decides phi_ref) and no point on an edge
    pt = np.hypot(jet[:, 1], jet[:, 2])
    pt = pt[pt > 0]
    return (len(np.unique(pt)) == len(pt)
            and not near_pixel_edge(pts, recipe.npix, recipe.pixel_size, tol))


toy_seeds = st.integers(0, 2**31 - 1)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def toy(seed, kind="mixed"):
    jets, _ = toy_jets(1, kind=kind, n_slots=120, seed=seed)
    return jets[0].astype(np.float64)


@SETTINGS
@given(seed=toy_seeds, shift=st.floats(-math.pi, math.pi))
def test_global_phi_rotation_leaves_the_image(seed, shift):
    jet = toy(seed)
    assume(clear_of_edges(jet))
    pt, eta, phi = ptetaphi(jet)
    moved = jets_from_ptetaphi(pt, eta, phi + shift)
    assert np.abs(image_of(moved) - image_of(jet)).sum() < 1e-5


@SETTINGS
@given(seed=toy_seeds, boost=st.floats(-1.5, 1.5), center=st.sampled_from(["centroid", "leading"]))
def test_eta_boost_leaves_the_image(seed, boost, center):
    jet = toy(seed)
    recipe = Recipe(center=center)
    assume(clear_of_edges(jet, recipe))
    pt, eta, phi = ptetaphi(jet)
    boosted = jets_from_ptetaphi(pt, np.where(pt > 0, eta + boost, 0.0), phi)
    assert np.abs(image_of(boosted, recipe=recipe) - image_of(jet, recipe=recipe)).sum() < 1e-5


@SETTINGS
@given(seed=toy_seeds, perm_seed=toy_seeds, extra=st.integers(0, 50))
def test_permuting_slots_and_adding_padding_leave_the_image(seed, perm_seed, extra):
    jet = toy(seed)
    assume(clear_of_edges(jet))
    shuffled = np.concatenate([jet, np.zeros((extra, 4))])
    shuffled = shuffled[np.random.default_rng(perm_seed).permutation(len(shuffled))]
    a, b = jetimg.preprocess(jet[None]), jetimg.preprocess(shuffled[None])
    assert np.abs(a["images"] - b["images"]).sum() < 1e-5
    assert a["n_constituents"][0] == b["n_constituents"][0]
    np.testing.assert_allclose(a["jet_mass"], b["jet_mass"], rtol=1e-6)


@SETTINGS
@given(seed=toy_seeds, side=st.sampled_from([-1.0, 1.0]), offset=st.floats(0.0, 0.3))
def test_jet_across_phi_pi_gives_the_image_it_has_at_phi_zero(seed, side, offset):
    jet = toy(seed)
    pt, eta, phi = ptetaphi(jet)
    lead = np.argmax(pt)
    at_zero = jets_from_ptetaphi(pt, eta, phi - phi[lead])
    assume(clear_of_edges(at_zero))
    across = jets_from_ptetaphi(pt, eta, phi - phi[lead] + side * (math.pi - offset))
    # the jet does straddle: constituents on both sides of +-pi
    p = np.arctan2(across[:, 2], across[:, 1])[pt > 0]
    assume(p.min() < -2.5 and p.max() > 2.5)
    for center in ("centroid", "jet", "leading"):
        assert np.abs(image_of(across, center=center) - image_of(at_zero, center=center)).sum() < 1e-5


@SETTINGS
@given(seed=toy_seeds, scale=st.floats(1e-3, 1e3))
def test_scaling_all_four_vectors_leaves_normalised_images(seed, scale):
    jet = toy(seed)
    assume(clear_of_edges(jet))
    for normalise in ("sum", "max"):
        a = image_of(jet, normalise=normalise)
        b = image_of(jet * scale, normalise=normalise)
        assert np.abs(a - b).sum() < 1e-5


@SETTINGS
@given(seed=toy_seeds, npix=st.integers(1, 50), threshold=st.floats(0, 20))
def test_sum_normalised_images_sum_to_one_or_are_zero(seed, npix, threshold):
    jets, _ = toy_jets(3, seed=seed, n_slots=100)
    images = jetimg.preprocess(jets, npix=npix, threshold=threshold)["images"]
    sums = images.sum(axis=(1, 2), dtype=np.float64)
    assert np.all((np.abs(sums - 1) < 1e-5) | (sums == 0))
    assert np.isfinite(images).all() and (images >= 0).all()


def image_moments(image, dx, dy):
    npix = image.shape[0]
    centres_x = (np.arange(npix) - npix / 2 + 0.5) * dx
    centres_y = (np.arange(npix) - npix / 2 + 0.5) * dy
    x, y = np.meshgrid(centres_x, centres_y)  # x varies along columns, y along rows
    w = image / image.sum()
    mx, my = (w * x).sum(), (w * y).sum()
    return ((w * (x - mx) ** 2).sum(), (w * (y - my) ** 2).sum(),
            (w * (x - mx) * (y - my)).sum())


def test_after_rotation_the_principal_axis_is_vertical(toys_small):
    """On a fine, wide grid (little pixelation, nothing cropped) the image's
    major axis points along y for every elongated jet."""
    jets, _ = toys_small
    d = 0.004
    images = jetimg.preprocess(jets, npix=500, pixel_size=d, flip=False)["images"].astype(np.float64)
    checked = 0
    for image in images:
        sxx, syy, sxy = image_moments(image, d, d)
        if syy < 1.5 * sxx:
            continue  # not elongated enough for the axis to be well defined
        angle = 0.5 * math.atan2(2 * sxy, sxx - syy)   # from +x
        assert abs(abs(angle) - math.pi / 2) < 0.02, angle
        checked += 1
    assert checked > 100


def test_after_the_flips_x_negative_and_y_positive_carry_more(toys_small):
    jets, _ = toys_small
    npix = 400  # wide enough that nothing is cropped: halves are exact
    images = jetimg.preprocess(jets, npix=npix, pixel_size=0.005)["images"].astype(np.float64)
    half = npix // 2
    left, right = images[:, :, :half].sum(axis=(1, 2)), images[:, :, half:].sum(axis=(1, 2))
    top, bottom = images[:, half:, :].sum(axis=(1, 2)), images[:, :half, :].sum(axis=(1, 2))
    # column half holds x in [0, dx): x = 0 exactly is rare for a centroid centre
    assert np.all(left >= right - 1e-6)
    assert np.all(top >= bottom - 1e-6)
    unflipped = jetimg.preprocess(jets, npix=npix, pixel_size=0.005, flip=False)["images"]
    assert np.mean(unflipped[:, :, :half].sum(axis=(1, 2)) < 0.5) > 0.2  # flips did work


# --------------------------------------------------------------------------
# edge cases

def test_no_valid_constituent_gives_a_zero_image_and_valid_jet():
    jets = np.zeros((3, 10, 4), np.float32)
    jets[1, 4] = (-0.0, 0.0, -0.0, 0.0)
    out = jetimg.preprocess(jets)
    assert not out["images"].any() and np.isfinite(out["images"]).all()
    assert list(out["valid"]) == [1, 1, 1] and not out["n_constituents"].any()
    for name in ("jet_pt", "jet_eta", "jet_phi", "jet_mass"):
        assert not out[name].any()


def test_everything_cropped_is_zero_not_nan():
    jet = one_jet((100.0, 0.0, 0.0), (100.0, 2.0, 0.0))   # 2 apart: both off a 40-pixel grid
    for normalise in ("sum", "max", "none"):
        out = jetimg.preprocess(jet, normalise=normalise)
        assert not out["images"].any() and np.isfinite(out["images"]).all()
        assert out["n_constituents"][0] == 2 and out["valid"][0] == 1


def test_pt_tie_takes_the_first_slot_as_leading():
    a = one_jet((100.0, 0.0, 0.0), (100.0, 0.3, 0.5), (20.0, 0.1, 0.2))
    b = one_jet((100.0, 0.3, 0.5), (100.0, 0.0, 0.0), (20.0, 0.1, 0.2))
    for jet in (a, b):
        want = reference_jet(jet[0], center="leading")["image"]
        got = jetimg.preprocess(jet, center="leading")["images"][0]
        assert np.abs(got - want).sum() < 1e-6
    assert not np.array_equal(jetimg.preprocess(a, center="leading")["images"],
                              jetimg.preprocess(b, center="leading")["images"])


def test_200_constituents_and_other_slot_counts():
    for n_slots in (200, 1, 17, 350):
        jets, _ = toy_jets(50, n_slots=n_slots, seed=n_slots)
        assert_agrees_with_reference(jets, Recipe(), min_fraction=1.0)
    full = toy_jets(20, n_slots=200, seed=3)[0]
    rng = np.random.default_rng(0)
    full[:, :, 0] = np.where(full[:, :, 0] == 0, 1.0, full[:, :, 0])  # every slot filled
    full[:, :, 1] = np.where(full[:, :, 1] == 0, rng.uniform(0.1, 0.5, full.shape[:2]), full[:, :, 1])
    out = assert_agrees_with_reference(full, Recipe(), min_fraction=1.0)
    assert (out["n_constituents"] == 200).all()


@pytest.mark.parametrize("slot_value, reason", [
    ((np.nan, 1.0, 1.0, 1.0), "not finite"),
    ((np.inf, 1.0, 1.0, 1.0), "not finite"),
    ((10.0, 1.0, -np.inf, 1.0), "not finite"),
    ((-5.0, 1.0, 1.0, 1.0), "negative energy"),
    ((0.0, 1.0, 0.0, 0.0), "zero energy"),
    ((10.0, 0.0, 0.0, 10.0), "zero transverse momentum"),
    ((10.0, 0.0, -0.0, 0.0), "zero transverse momentum"),
])
def test_invalid_jets_raise_with_row_and_reason_or_are_skipped(toys_small, slot_value, reason):
    jets = toys_small[0][:20].copy()
    jets[13, 5] = slot_value
    with pytest.raises(InvalidJetError) as err:
        jetimg.preprocess(jets)
    assert err.value.row == 13 and reason in err.value.reason and "slot 5" in err.value.reason
    assert "row 13" in str(err.value)
    with pytest.raises(InvalidJetError) as err:
        jetimg.preprocess(jets, row_offset=1000)
    assert err.value.row == 1013
    out = jetimg.preprocess(jets, invalid="skip")
    assert out["valid"][13] == 0 and not out["images"][13].any()
    assert out["n_constituents"][13] == 0 and out["jet_pt"][13] == 0
    assert out["valid"].sum() == 19
    ok = jetimg.preprocess(np.delete(jets, 13, axis=0))
    np.testing.assert_array_equal(np.delete(out["images"], 13, axis=0), ok["images"])


def test_first_invalid_row_is_named():
    jets = toy_jets(30, seed=1)[0]
    jets[21, 0, 0] = np.nan
    jets[8, 3, 0] = -1.0
    with pytest.raises(InvalidJetError, match="row 8"):
        jetimg.preprocess(jets)


@pytest.mark.parametrize("bad, words", [
    (np.zeros((5, 10, 3), np.float32), "shape (N, M, 4)"),
    (np.zeros((10, 4), np.float32), "shape (N, M, 4)"),
    (np.zeros((5, 10, 4), np.int32), "float32 or float64"),
    (np.zeros((5, 0, 4), np.float32), "M = 0"),
    ([[1, 2, 3, 4]], "array of shape"),
])
def test_bad_arrays_are_refused_before_compute(bad, words):
    with pytest.raises(InputError) as err:
        jetimg.preprocess(bad)
    assert words in str(err.value)


def test_bad_options_list_the_valid_ones():
    with pytest.raises(jetimg.RecipeError, match="'centroid', 'jet', 'leading'"):
        jetimg.preprocess(np.zeros((1, 2, 4), np.float32), center="middle")
    with pytest.raises(jetimg.RecipeError, match="valid options are"):
        jetimg.preprocess(np.zeros((1, 2, 4), np.float32), colour="red")


def test_empty_chunk():
    out = jetimg.preprocess(np.zeros((0, 200, 4), np.float32))
    assert out["images"].shape == (0, 40, 40)


@pytest.mark.parametrize("options", [{}, {"normalise": "max"}, {"normalise": "none"},
                                     {"threshold": 5.0}, {"threshold": 5.0, "normalise": "none"}])
def test_no_pixel_is_negative_zero(toys_small, options):
    # Pixels are marked by their sign while they are summed and normalised; a
    # thresholded pixel hit twice, or a weight below float32's smallest (it
    # rounds to -0.0 when accumulated negated), must still come out +0.0.
    jets = np.zeros((2, 3, 4), np.float64)
    jets[0, 0] = (100.0, 100.0, 0.0, 0.0)
    jets[0, 1] = (1e-50, 1e-50 * math.cos(0.1), 1e-50 * math.sin(0.1), 0.0)  # its own pixel
    jets[1, 0] = (100.0, 100.0, 0.0, 0.0)
    jets[1, 1] = jets[1, 2] = (1.0, 0.8, 0.6, 0.0)   # twice in one pixel, below 5 GeV
    for chunk in (jets, toys_small[0][:200]):
        images = jetimg.preprocess(chunk, **options)["images"]
        assert not np.signbit(images).any()
