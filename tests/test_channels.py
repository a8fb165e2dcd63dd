"""Multi-channel jet images (SPEC.md "Step 6: channels") held against the reference.

Chain: ``reference_channels`` (tests/reference.py, float64, from SPEC.md) is
first checked against the single-image reference; then the CPU kernel
(``jetimg.preprocess(jets, recipe, kinds=kinds)``) is held to it on the
JetClass-layout sample (kinds from its part_is* flags) and on toy jets with
random kinds, for every normalise, threshold and intensity and several
channel lists; hand-computed jets pin the readings of Step 6 (the mask, the
denominators, the kinds); invariances hold channel by channel; the CUDA twin
equals the CPU kernel under numba's CUDA simulator.
"""

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import jetimg
from jetimg import InputError, InvalidJetError, Recipe
from jetimg.errors import RecipeError
from jetimg.toys import jets_from_ptetaphi, toy_jets

from .helpers import PER_JET_FLOATS
from .reference import (CHANNEL_NAMES, DEFAULTS, KIND_CODE, KIND_SELECTS, QUANTITIES,
                        near_pixel_edge, parse_channel, reference_channels, reference_geometry,
                        reference_jet, reference_preprocess)

ROOT = Path(__file__).resolve().parent.parent
DX, DY = DEFAULTS["pixel_size"]
PER_JET = PER_JET_FLOATS + ("n_constituents", "valid")

#: every channel name (24), in the reference's order: pt, e, count, charged_pt, ...
ALL = list(CHANNEL_NAMES)
#: channel lists checked beside ALL (each against the columns of ALL's reference)
LISTS = [
    ["pt"],
    ["charged_pt", "neutral_pt", "charged_count"],
    ["e", "photon_e", "neutral_hadron_pt", "muon_count", "electron_pt", "count"],
    ["neutral_hadron_count", "charged_hadron_e", "muon_pt", "photon_count", "electron_e",
     "neutral_e", "charged_e"],
]
#: a channel's values within float32 rounding of the reference's: |got - want| <=
#: RTOL |want| + ATOL * (the largest pixel of the all-kinds image of its quantity)
RTOL, ATOL = 1e-5, 1e-6
#: how close (eta/phi units) to a pixel edge a point may be before its pixel is
#: fragile under float32 rounding (as tests/test_kernels.py)
EDGE_TOL = 1e-7


def random_kinds(jets, seed):
    """A kind code 1..5 for every non-padding slot of jets (N, M, 4), 0 for padding."""
    kinds = np.random.default_rng(seed).integers(1, 6, jets.shape[:2]).astype(np.int8)
    kinds[~jets.any(axis=2)] = 0
    return kinds


def quantity(name):
    """The QUANTITY of a channel name: "pt", "e" or "count"."""
    return parse_channel(name)[1]


# --------------------------------------------------------------------------
# the reference against itself and the library's kind codes


def test_reference_kind_codes_and_names_are_the_library_s():
    from jetimg.kinds import GROUPS, KIND_CODE as LIBRARY_CODES
    from jetimg.recipe import CHANNEL_NAMES as LIBRARY_NAMES

    assert LIBRARY_CODES == KIND_CODE
    assert {k: set(v) for k, v in GROUPS.items()} == {k: set(v) for k, v in KIND_SELECTS.items()}
    assert set(LIBRARY_NAMES) == set(CHANNEL_NAMES) and len(CHANNEL_NAMES) == 24


@pytest.mark.parametrize("options", [
    {}, dict(intensity="e"), dict(normalise="max"), dict(normalise="none"),
    dict(threshold=3.0), dict(threshold=3.0, normalise="max", intensity="e"),
    dict(center="jet", rotate=False, npix=25, pixel_size=(0.03, 0.04)),
    dict(center="leading", flip=False, normalise="none", threshold=1.0),
])
def test_reference_intensity_channel_is_the_single_image(options):
    """channels=[intensity] (no kinds) gives the single image of reference_jet;
    a count channel gives the number of constituents per unmasked pixel."""
    jets, _ = toy_jets(40, n_slots=80, seed=5)
    name = options.get("intensity", "pt")
    for jet in jets:
        single = reference_jet(jet, **options)
        r = reference_channels(jet, channels=[name, "count"], **options)
        assert r["image"].shape == (single["image"].shape + (2,))
        np.testing.assert_allclose(r["image"][:, :, 0], single["image"], rtol=1e-13, atol=0)
        counts = np.zeros_like(single["image"])
        for row, col in r["pixels"]:
            if row >= 0:
                counts[row, col] += 1
        counts[r["masked"]] = 0
        assert counts.sum() > 0
        np.testing.assert_array_equal(r["image"][:, :, 1], counts)
        assert r["jet_mass"] == single["jet_mass"] and r["valid"] == single["valid"]


def test_reference_kind_channels_add_up():
    """charged + neutral = all, per pixel, for each quantity (every constituent has a kind)."""
    jets, _ = toy_jets(20, n_slots=80, seed=6)
    kinds = random_kinds(jets, 6)
    for normalise in ("sum", "max", "none"):
        for jet, k in zip(jets, kinds):
            image = reference_channels(jet, k, channels=ALL, normalise=normalise,
                                       threshold=2.0)["image"]
            for q in QUANTITIES:
                at = {name: ALL.index(name) for name in ALL}
                total = image[:, :, at[q]]
                np.testing.assert_allclose(image[:, :, at[f"charged_{q}"]]
                                           + image[:, :, at[f"neutral_{q}"]], total,
                                           rtol=1e-12, atol=1e-12)
                parts = sum(image[:, :, at[f"{kind}_{q}"]] for kind in
                            ("photon", "electron", "muon", "charged_hadron", "neutral_hadron"))
                np.testing.assert_allclose(parts, total, rtol=1e-12, atol=1e-12)


def test_reference_refusals():
    jet = jets_from_ptetaphi([100.0, 50.0, 0.0], [0.1, 0.2, 0.0], [0.0, 0.1, 0.0])
    with pytest.raises(ValueError, match="'photon_pt' needs particle kinds"):
        reference_channels(jet, channels=["pt", "photon_pt"])
    with pytest.raises(ValueError, match="kinds have shape"):
        reference_channels(jet, [1, 1], channels=["photon_pt"])
    for bad in (["PT"], ["pt", "pt"], ["charged"], ["hadron_pt"], "pt"):
        with pytest.raises(ValueError):
            reference_channels(jet, [1, 1, 0], channels=bad)
    with pytest.raises(ValueError, match="reference_channels"):
        reference_jet(jet, channels=["pt"])
    assert reference_preprocess(jet[None], channels=[])["images"].shape == (1, 40, 40)


# --------------------------------------------------------------------------
# the CPU kernel against the reference


class Sample:
    """Jets (N, M, 4) float32 and their kinds (N, M) int8, with the reference's
    steps 1-4 of each jet computed once per geometry (they do not depend on
    threshold, normalise or channels)."""

    def __init__(self, jets, kinds):
        self.jets, self.kinds = jets, kinds
        self._geometries = {}

    def geometry(self, n, recipe):
        key = (n, recipe.center, recipe.rotate, recipe.flip, recipe.npix, recipe.pixel_size,
               recipe.intensity, recipe.invalid)
        if key not in self._geometries:
            self._geometries[key] = reference_geometry(self.jets[n], recipe)
        return self._geometries[key]


@pytest.fixture(scope="module")
def samples():
    """"jetclass": every tenth jet of the shipped JetClass-layout sample (300, all
    five classes), kinds read from its files; "toys": 200 toy jets, random kinds."""
    out = {}
    toys, _ = toy_jets(200, n_slots=120, seed=31)
    out["toys"] = Sample(toys, random_kinds(toys, 31))
    try:
        import uproot  # noqa: F401  (the root extra)
    except ImportError:
        return out
    from jetimg.data import sample_files
    from jetimg.io import open_inputs

    source = open_inputs(sample_files("jetclass"))
    try:
        assert source.has_kinds
        jets, _ = source.read(0, source.n_rows)
        kinds = source.read_kinds(0, source.n_rows)
    finally:
        source.close()
    out["jetclass"] = Sample(jets[::10], kinds[::10])
    return out


def fragile(geometry, recipe):
    """Whether rounding may legitimately move this jet's pixels or its mask:
    a point within EDGE_TOL of a pixel edge, or a raw pixel of w within
    float32 rounding of the threshold."""
    if near_pixel_edge(geometry["points"], recipe.npix, recipe.pixel_size, EDGE_TOL):
        return True
    raw = geometry["image"]
    t = recipe.threshold
    return t > 0 and bool(np.any((raw > 0) & (np.abs(raw - t) <= 1e-5 * t)))


def channels_differ(got, want, names, scale):
    """Names of the channels of one jet whose float32 image ``got`` (npix, npix, C)
    is not ``want`` (float64) to float32 rounding; count channels must be equal.
    ``scale``: quantity -> the largest pixel of its all-kinds image."""
    counts = np.array([quantity(name) == "count" for name in names])
    rtol = np.where(counts, 0.0, RTOL)
    atol = np.array([0.0 if quantity(name) == "count" else ATOL * scale[quantity(name)]
                     for name in names])
    ok = np.abs(got.astype(np.float64) - want) <= rtol * np.abs(want) + atol
    return [names[c] for c in np.flatnonzero(~ok.all(axis=(0, 1)))]


def assert_agrees_with_reference(sample, recipe, lists=(), min_fraction=0.999):
    """The kernel's images with ``recipe`` (channels ALL) and with each list of
    ``lists`` equal the reference's, channel by channel, on >= min_fraction of
    the jets, every other jet explained by ``fragile``; per-jet quantities
    exactly as without channels. Returns the kernel's output with ALL."""
    jets, kinds = sample.jets, sample.kinds
    runs = {tuple(ALL): jetimg.preprocess(jets, recipe, kinds=kinds)}
    for names in lists:
        runs[tuple(names)] = jetimg.preprocess(jets, Recipe.from_options(recipe, channels=names),
                                               kinds=kinds)
    plain = jetimg.preprocess(jets, Recipe.from_options(recipe, channels=None))
    npix = recipe.npix
    for names, got in runs.items():
        assert got["images"].shape == (len(jets), npix, npix, len(names)), names
        assert got["images"].dtype == np.float32
        for name in PER_JET:
            np.testing.assert_array_equal(got[name], plain[name], err_msg=name)
            assert got[name].dtype == plain[name].dtype
    bad, unexplained = [], []
    for n in range(len(jets)):
        geometry = sample.geometry(n, recipe)
        want = reference_channels(jets[n], kinds[n], recipe, geometry=geometry)["image"]
        scale = {q: max(float(want[:, :, ALL.index(q)].max()), 1e-30) for q in QUANTITIES}
        differ = []
        for names, got in runs.items():
            columns = want[:, :, [ALL.index(name) for name in names]]
            differ += channels_differ(got["images"][n], columns, names, scale)
        if differ:
            bad.append(n)
            if not fragile(geometry, recipe):
                unexplained.append((n, sorted(set(differ))))
    assert not unexplained, f"jets differing from the reference, on no pixel edge or " \
                            f"threshold (jet, channels): {unexplained[:5]}"
    assert 1 - len(bad) / len(jets) >= min_fraction, (len(bad), bad[:10])
    return runs[tuple(ALL)]


@pytest.mark.parametrize("threshold", [0.0, 2.0])
@pytest.mark.parametrize("normalise", ["sum", "max", "none"])
@pytest.mark.parametrize("intensity", ["pt", "e"])
def test_channels_agree_with_reference(samples, intensity, normalise, threshold):
    """Every channel (ALL) on the JetClass-layout sample and on the toys; the
    channel lists LISTS as well where the threshold is on."""
    recipe = Recipe(channels=ALL, intensity=intensity, normalise=normalise, threshold=threshold)
    if "jetclass" not in samples:
        pytest.skip("the JetClass-layout sample needs the root extra (uproot)")
    for sample in samples.values():
        out = assert_agrees_with_reference(sample, recipe, LISTS if threshold > 0 else ())
        images = out["images"]
        counts = images[..., [ALL.index(c) for c in ALL if quantity(c) == "count"]]
        assert np.array_equal(counts, np.round(counts)) and counts.max() >= 2
        if normalise == "sum":  # pt and e channels: the all-kinds one sums to 1 (or 0)
            for q in ("pt", "e"):
                sums = images[..., ALL.index(q)].sum(axis=(1, 2), dtype=np.float64)
                assert np.all((np.abs(sums - 1) < 1e-5) | (sums == 0)) and sums.max() > 0


@pytest.mark.parametrize("options", [
    dict(center="jet", rotate=False, npix=33, pixel_size=(0.02, 0.025), threshold=1.0),
    dict(center="leading", flip=False, npix=17, normalise="max"),
    dict(npix=1, pixel_size=(2.0, 2.0), normalise="none", intensity="e"),
])
def test_channels_agree_with_reference_on_other_grids(samples, options):
    assert_agrees_with_reference(samples["toys"], Recipe(channels=ALL, **options), LISTS[1:2])


def test_invalid_jets_with_channels():
    jets, _ = toy_jets(6, n_slots=30, seed=3)
    kinds = random_kinds(jets, 3)
    jets[4, 2, 0] = np.nan
    recipe = Recipe(channels=["charged_pt", "count"], invalid="skip")
    with pytest.raises(InvalidJetError, match="row 4"):
        jetimg.preprocess(jets, Recipe(channels=["charged_pt", "count"]), kinds=kinds)
    out = jetimg.preprocess(jets, recipe, kinds=kinds)
    assert out["valid"].tolist() == [1, 1, 1, 1, 0, 1] and not out["images"][4].any()
    want = reference_preprocess(jets, recipe, kinds=kinds)
    np.testing.assert_allclose(out["images"], want["images"], rtol=1e-5, atol=1e-7)


def test_empty_and_all_padding_jets_with_channels():
    jets = np.zeros((3, 10, 4), np.float32)
    kinds = np.zeros((3, 10), np.int8)
    for normalise in ("sum", "max", "none"):
        out = jetimg.preprocess(jets, channels=["pt", "neutral_count"], kinds=kinds,
                                normalise=normalise)
        assert out["images"].shape == (3, 40, 40, 2) and not out["images"].any()
        assert np.isfinite(out["images"]).all() and out["valid"].tolist() == [1, 1, 1]
    empty = jetimg.preprocess(jets[:0], channels=["pt", "e"], npix=12)
    assert empty["images"].shape == (0, 12, 12, 2)


def test_float64_serial_chunks_and_out_give_the_same_channels(samples):
    """Serial, chunked and out= runs are bit-identical; float64 jets within rounding."""
    sample = samples["toys"]
    jets, kinds = sample.jets[:120], sample.kinds[:120]
    recipe = Recipe(channels=LISTS[2], threshold=1.0)
    whole = jetimg.preprocess(jets, recipe, kinds=kinds)
    out = jetimg.outputs.empty_outputs(len(jets), recipe.npix, n_channels=len(recipe.channels))
    assert jetimg.preprocess(jets, recipe, kinds=kinds, out=out) is out
    # float64 jets hold the same values: the same images to float32 rounding
    f64 = jetimg.preprocess(jets.astype(np.float64), recipe, kinds=kinds)
    np.testing.assert_allclose(f64["images"], whole["images"], rtol=3e-7, atol=0)
    for name in PER_JET:
        np.testing.assert_array_equal(f64[name], whole[name], err_msg=name)
    others = [jetimg.preprocess(jets, recipe, kinds=kinds, parallel=False), out,
              {name: np.concatenate([jetimg.preprocess(jets[i:i + 7], recipe,
                                                       kinds=kinds[i:i + 7])[name]
                                     for i in range(0, len(jets), 7)]) for name in whole}]
    for other in others:
        for name in whole:
            np.testing.assert_array_equal(other[name], whole[name], err_msg=name)


# --------------------------------------------------------------------------
# hand-computed jets

#: (pT, eta, phi, kind) of the hand-computed jet HAND; slot 3 is padding.
HAND = [(200.0, 0.5, 1.0, "charged_hadron"),   # a charged pion
        (10.0, 0.505, 1.003, "muon"),
        (40.0, 0.612, 1.09, "photon"),
        (0.0, 0.0, 0.0, "none"),
        (30.0, 0.616, 1.092, "electron"),
        (50.0, 0.77, 0.92, "neutral_hadron")]
#: E = pT cosh(eta) of its constituents (slots 0, 1, 2, 4, 5)
E_HAND = [225.52519, 11.302455, 47.727624, 35.874116, 65.569483]
HAND_CHANNELS = ["pt", "charged_pt", "neutral_pt", "photon_pt", "charged_hadron_pt",
                 "neutral_hadron_pt", "count", "charged_count", "neutral_count",
                 "electron_count", "muon_count", "e", "photon_e"]


def hand_jet():
    """HAND as a float64 (6, 4) jet and its kind codes (6,)."""
    pts, etas, phis, names = zip(*HAND)
    jet = jets_from_ptetaphi(pts, etas, phis)
    return jet, np.array([KIND_CODE[k] for k in names], np.int8)


def hand_images(**options):
    """The reference's and the kernel's image of HAND, {channel: {(row, col): value}} each."""
    jet, kinds = hand_jet()
    options = dict(channels=HAND_CHANNELS, rotate=False, **options)
    images = [reference_channels(jet, kinds, **options)["image"],
              jetimg.preprocess(jet[None], kinds=kinds[None], **options)["images"][0]]
    out = []
    for image in images:
        out.append({name: {(int(i), int(j)): float(image[i, j, c])
                           for i, j in zip(*np.nonzero(image[:, :, c]))}
                    for c, name in enumerate(HAND_CHANNELS)})
    return out


def assert_hand(got, expected):
    """Each channel's nonzero pixels as ``expected`` says (a channel left out is all zero)."""
    for name in HAND_CHANNELS:
        pixels, want = got[name], expected.get(name, {})
        assert set(pixels) == set(want), (name, pixels, want)
        for key, value in want.items():
            assert pixels[key] == pytest.approx(value, rel=1e-6), (name, key)


A, B, C = (20, 17), (17, 21), (22, 27)   # HAND's pixels with intensity="pt", rotate=False


def test_hand_jet_raw_channels_and_threshold_mask():
    """HAND, intensity "pt", rotate=False (centroid, flips on).

    sum pT = 330; eta_c = (100 + 5.05 + 24.48 + 18.48 + 38.5)/330 = 0.565182;
    phi_ref = 1.0 (the pion): dphi = 0, .003, .09, .092, -.08;
    phi_c = (0 + .03 + 3.6 + 2.76 - 4)/330 = 0.0072424.

    | slot | kind  | pT  | x = eta - eta_c | y = dphi - phi_c |
    | 0    | pion  | 200 | -0.065182       | -0.007242        |
    | 1    | muon  | 10  | -0.060182       | -0.004242        |
    | 2    | gamma | 40  | +0.046818       | +0.082758        |
    | 4    | e     | 30  | +0.050818       | +0.084758        |
    | 5    | n.h.  | 50  | +0.204818       | -0.087242        |

    x flip: pT at x > 0 is 120, at x < 0 210: none. y flip: 260 at y < 0 > 70: y -> -y.
    col = floor(x/dx + 20): 17.74, 17.92, 21.62, 21.76, 27.09 -> 17, 17, 21, 21, 27;
    row = floor(-y/dy + 20): 20.21, 20.12, 17.63, 17.57, 22.50 -> 20, 20, 17, 17, 22.
    A = (20, 17): pion + muon, B = (17, 21): photon + electron, C = (22, 27): n.h.

    threshold 55 masks C (w = 50) in every channel, counts too, and keeps B
    (w = 70) whole although its photon (40) and electron (30) are each below 55.
    """
    e_a, e_b, e_c = E_HAND[0] + E_HAND[1], E_HAND[2] + E_HAND[3], E_HAND[4]
    raw = {"pt": {A: 210.0, B: 70.0, C: 50.0}, "charged_pt": {A: 210.0, B: 30.0},
           "neutral_pt": {B: 40.0, C: 50.0}, "photon_pt": {B: 40.0},
           "charged_hadron_pt": {A: 200.0}, "neutral_hadron_pt": {C: 50.0},
           "count": {A: 2.0, B: 2.0, C: 1.0}, "charged_count": {A: 2.0, B: 1.0},
           "neutral_count": {B: 1.0, C: 1.0}, "electron_count": {B: 1.0},
           "muon_count": {A: 1.0}, "e": {A: e_a, B: e_b, C: e_c}, "photon_e": {B: E_HAND[2]}}
    masked = {name: {key: v for key, v in pixels.items() if key != C}
              for name, pixels in raw.items()}
    for got in hand_images(normalise="none"):
        assert_hand(got, raw)
    for got in hand_images(normalise="none", threshold=55.0):
        assert_hand(got, masked)


def test_hand_jet_sum_and_max_denominators():
    """Threshold 55 (C masked). "sum": pt / 280 (= 210 + 70 unmasked), e / (E of
    A and B); "max": pt / 210 (A, the all-kinds peak), even for photon_pt whose
    own peak is 40, e / E(A). Counts stay raw. Threshold 0, "max": neutral_pt
    is 40/210 at B and 50/210 at C (its own peak 50 is not the denominator)."""
    e_a, e_b = E_HAND[0] + E_HAND[1], E_HAND[2] + E_HAND[3]
    counts = {"count": {A: 2.0, B: 2.0}, "charged_count": {A: 2.0, B: 1.0},
              "neutral_count": {B: 1.0}, "electron_count": {B: 1.0}, "muon_count": {A: 1.0}}
    for normalise, pt_d, e_d in (("sum", 280.0, e_a + e_b), ("max", 210.0, e_a)):
        expected = {"pt": {A: 210 / pt_d, B: 70 / pt_d}, "charged_pt": {A: 210 / pt_d, B: 30 / pt_d},
                    "neutral_pt": {B: 40 / pt_d}, "photon_pt": {B: 40 / pt_d},
                    "charged_hadron_pt": {A: 200 / pt_d}, "e": {A: e_a / e_d, B: e_b / e_d},
                    "photon_e": {B: E_HAND[2] / e_d}, **counts}
        for got in hand_images(normalise=normalise, threshold=55.0):
            assert_hand(got, expected)
    for got in hand_images(normalise="max"):
        assert got["neutral_pt"] == pytest.approx({B: 40 / 210, C: 50 / 210}, rel=1e-6)
        assert got["neutral_count"] == {B: 1.0, C: 1.0}
        assert got["photon_pt"] == pytest.approx({B: 40 / 210}, rel=1e-6)


def test_hand_jet_intensity_e_with_pt_channels():
    """intensity="e": the centre, flips and mask use E even for pt channels.

    sum E = 385.99887; eta_c = sum(E eta)/sum E = 0.570641, phi_c = 0.0061768:
    x = -0.070641, -0.065641, 0.041359, 0.045359, 0.199359 ->
    cols floor(17.55, 17.73, 21.43, 21.57, 26.90) = 17, 17, 21, 21, 26 (n.h. moves
    from column 27 to 26); rows (y flip again) 20, 20, 17, 17, 22.
    The n.h. pixel has E = 65.57 >= 55 though its pT = 50 < 55: kept. "sum":
    the pt denominator is every unmasked pT, 330.
    """
    c_e = (22, 26)
    for got in hand_images(intensity="e", normalise="sum", threshold=55.0):
        assert got["pt"] == pytest.approx({A: 210 / 330, B: 70 / 330, c_e: 50 / 330}, rel=1e-6)
        assert got["neutral_hadron_pt"] == pytest.approx({c_e: 50 / 330}, rel=1e-6)
        assert got["neutral_count"] == {B: 1.0, c_e: 1.0}
        assert got["e"] == pytest.approx({A: (E_HAND[0] + E_HAND[1]) / sum(E_HAND),
                                          B: (E_HAND[2] + E_HAND[3]) / sum(E_HAND),
                                          c_e: E_HAND[4] / sum(E_HAND)}, rel=1e-6)
    # the same pT channel with intensity "pt" (threshold 55 on pT): C masked, column 27
    for got in hand_images(intensity="pt", normalise="sum", threshold=55.0):
        assert got["neutral_hadron_pt"] == {}
        assert got["pt"] == pytest.approx({A: 0.75, B: 0.25}, rel=1e-6)


def test_hand_jet_with_rotation_keeps_its_groups():
    """With rotation (defaults) the same constituents share pixels (pion + muon,
    photon + electron, the n.h. alone), none on a pixel edge: the values are
    those of the unrotated table, wherever the pixels are."""
    jet, kinds = hand_jet()
    geometry = reference_geometry(jet)
    assert geometry["rotated"] and not near_pixel_edge(geometry["points"], 40, (DX, DY), 1e-3)
    pixels = [tuple(p) for p in geometry["pixels"]]
    assert pixels[0] == pixels[1] and pixels[2] == pixels[3] and len(set(pixels)) == 3
    recipe = Recipe(channels=["charged_pt", "neutral_pt", "photon_e", "charged_count"],
                    normalise="max", threshold=55.0)
    want = reference_channels(jet, kinds, recipe)["image"]
    got = jetimg.preprocess(jet[None], recipe, kinds=kinds[None])["images"][0]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)
    for image in (want, got):
        values = [sorted(image[:, :, c][image[:, :, c] > 0].tolist()) for c in range(4)]
        assert values[0] == pytest.approx([30 / 210, 1.0])
        assert values[1] == pytest.approx([40 / 210])
        assert values[2] == pytest.approx([E_HAND[2] / (E_HAND[0] + E_HAND[1])])
        assert values[3] == [1.0, 2.0]


def test_kind_channels_select_by_kind():
    """One constituent of each kind, each in its own pixel (no rotation, leading
    centre far from all): each KIND channel holds exactly the kinds SPEC names."""
    names = ["photon", "electron", "muon", "charged_hadron", "neutral_hadron"]
    # pT 100 (leading, photon) at the centre; the others 0.1 apart in eta
    jet = jets_from_ptetaphi([100.0, 20.0, 20.0, 20.0, 20.0], [0.0, 0.1, 0.2, -0.1, -0.2],
                             [0.0, 0.0, 0.0, 0.0, 0.0])
    kinds = np.array([KIND_CODE[k] for k in names], np.int8)
    recipe = Recipe(channels=[f"{k}_count" for k in KIND_SELECTS] + ["count"],
                    rotate=False, flip=False, center="leading", normalise="none")
    got = jetimg.preprocess(jet[None], recipe, kinds=kinds[None])["images"][0]
    want = reference_channels(jet, kinds, recipe)["image"]
    np.testing.assert_array_equal(got, want)
    for c, kind in enumerate(KIND_SELECTS):
        assert got[:, :, c].sum() == len(KIND_SELECTS[kind]), kind
    assert got[:, :, -1].sum() == 5


def test_jetclass_particle_without_flag_is_a_charged_hadron_when_charged(tmp_path):
    """SPEC Input layouts: no part_is* flag set and part_charge != 0 is a
    charged_hadron, charge 0 a neutral_hadron: through kinds_from_flags and a
    JetClass ROOT file read back, into the channels."""
    from jetimg.kinds import kinds_from_flags

    no = [0, 0, 0]
    kinds, several = kinds_from_flags(no, no, no, no, no, [1.0, -1.0, 0.0])
    assert kinds.tolist() == [KIND_CODE["charged_hadron"]] * 2 + [KIND_CODE["neutral_hadron"]]
    assert not several.any()
    pytest.importorskip("uproot")
    from jetimg.io import open_jets
    from jetimg.io.writers.jetclass import write_jetclass

    jet, _ = hand_jet()
    written = np.zeros((1, 6), np.int8)          # no flag set on any particle
    charges = np.array([[1.0, -1.0, 0.0, 0.0, 1.0, 0.0]], np.float32)
    path = write_jetclass(tmp_path / "noflags.root", jet[None].astype(np.float32), [0],
                          kinds=written, charges=charges)
    source = open_jets(path)
    jets, read = source.read(0, 1)[0], source.read_kinds(0, 1)
    source.close()
    h, n = KIND_CODE["charged_hadron"], KIND_CODE["neutral_hadron"]
    assert read.tolist() == [[h, h, n, h, n]]   # padding slot 3 is not written
    recipe = Recipe(channels=["charged_hadron_pt", "neutral_hadron_pt", "charged_count"],
                    rotate=False, normalise="none")
    got = jetimg.preprocess(jets, recipe, kinds=read)["images"][0]
    nonzero = [{(int(i), int(j)): float(got[i, j, c]) for i, j in zip(*np.nonzero(got[:, :, c]))}
               for c in range(3)]
    assert nonzero[0] == pytest.approx({A: 210.0, B: 30.0}, rel=1e-6)   # pion, muon; electron
    assert nonzero[1] == pytest.approx({B: 40.0, C: 50.0}, rel=1e-6)    # photon; n.h.
    assert nonzero[2] == {A: 2.0, B: 1.0}


# --------------------------------------------------------------------------
# sums, the intensity channel, no channels


def test_charged_plus_neutral_is_all(samples):
    for sample in samples.values():
        jets, kinds = sample.jets, sample.kinds
        for normalise in ("sum", "max", "none"):
            recipe = Recipe(channels=["charged_pt", "neutral_pt", "pt", "charged_e",
                                      "neutral_e", "e", "charged_count", "neutral_count",
                                      "count"], normalise=normalise, threshold=1.0)
            images = jetimg.preprocess(jets, recipe, kinds=kinds)["images"].astype(np.float64)
            for c in (0, 3):
                total = images[..., c + 2]
                top = total.max(axis=(1, 2), keepdims=True)
                assert np.all(np.abs(images[..., c] + images[..., c + 1] - total)
                              <= 1e-6 * np.maximum(total, 1e-6 * top))
            np.testing.assert_array_equal(images[..., 6] + images[..., 7], images[..., 8])
            if normalise == "sum":
                sums = images[..., 2].sum(axis=(1, 2))
                assert np.all((np.abs(sums - 1) < 1e-5) | (sums == 0)) and sums.max() > 0


@pytest.mark.parametrize("intensity", ["pt", "e"])
@pytest.mark.parametrize("options", [{}, dict(normalise="max", threshold=2.0),
                                     dict(normalise="none", center="jet")])
def test_intensity_channel_gives_the_single_image(samples, intensity, options):
    sample = samples["toys"]
    jets, kinds = sample.jets[:150], sample.kinds[:150]
    single = jetimg.preprocess(jets, intensity=intensity, **options)
    for k in (None, kinds):
        one = jetimg.preprocess(jets, channels=[intensity], intensity=intensity, kinds=k,
                                **options)
        assert one["images"].shape == single["images"].shape + (1,)
        np.testing.assert_allclose(one["images"][..., 0], single["images"], rtol=1e-6,
                                   atol=1e-7 * single["images"].max())
        for name in PER_JET:
            np.testing.assert_array_equal(one[name], single[name])


def test_without_channels_nothing_changes(samples):
    sample = samples["toys"]
    jets, kinds = sample.jets[:100], sample.kinds[:100]
    plain = jetimg.preprocess(jets)
    assert plain["images"].shape == (100, 40, 40)
    for recipe in (Recipe(), Recipe(channels=None), Recipe(channels=[]), Recipe(channels=())):
        assert recipe.channels is None and recipe.to_attrs()["channels"] is None
        assert recipe == Recipe()
        for k in (None, kinds):
            out = jetimg.preprocess(jets, recipe, kinds=k)
            for name in plain:
                np.testing.assert_array_equal(out[name], plain[name])
    recipe = Recipe(channels=["charged_pt", "count"])
    assert recipe.channels == ("charged_pt", "count")
    assert recipe.to_attrs()["channels"] == ["charged_pt", "count"]
    assert Recipe.from_attrs(recipe.to_attrs()) == recipe


# --------------------------------------------------------------------------
# invariances (float64 jets, so the transformed inputs round the same)

SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
toy_seeds = st.integers(0, 2**31 - 1)
#: channels a boost along the beam leaves alone (E changes with eta)
NOT_E = [c for c in ALL if quantity(c) != "e"]


def toy(seed):
    jets, _ = toy_jets(1, n_slots=120, seed=seed)
    return jets[0].astype(np.float64), random_kinds(jets, seed)[0]


def ptetaphi(jet):
    pt = np.hypot(jet[:, 1], jet[:, 2])
    real = pt > 0
    eta = np.where(real, np.arcsinh(np.divide(jet[:, 3], pt, where=real, out=np.zeros_like(pt))), 0)
    return pt, eta, np.arctan2(jet[:, 2], jet[:, 1])


def clear_of_edges(jet, recipe, tol=1e-6):
    """No pT ties (the leading constituent sets phi_ref) and no point near a pixel edge."""
    pt = np.hypot(jet[:, 1], jet[:, 2])
    pt = pt[pt > 0]
    points = reference_geometry(jet, recipe)["points"]
    return len(np.unique(pt)) == len(pt) and not near_pixel_edge(points, recipe.npix,
                                                                 recipe.pixel_size, tol)


def channel_images(jet, kinds, recipe):
    return jetimg.preprocess(jet[None], recipe, kinds=kinds[None])["images"][0].astype(np.float64)


def assert_same_channels(a, b, names):
    """Per channel: counts equal; pt and e channels within L1 1e-5 of their scale."""
    for c, name in enumerate(names):
        if quantity(name) == "count":
            np.testing.assert_array_equal(a[:, :, c], b[:, :, c], err_msg=name)
        else:
            scale = max(np.abs(b[:, :, c]).sum(), 1.0)
            assert np.abs(a[:, :, c] - b[:, :, c]).sum() < 1e-5 * scale, name


normalises = st.sampled_from(["sum", "max", "none"])


@SETTINGS
@given(seed=toy_seeds, shift=st.floats(-math.pi, math.pi), normalise=normalises)
def test_global_phi_rotation_leaves_every_channel(seed, shift, normalise):
    jet, kinds = toy(seed)
    recipe = Recipe(channels=ALL, normalise=normalise)
    assume(clear_of_edges(jet, recipe))
    pt, eta, phi = ptetaphi(jet)
    moved = jets_from_ptetaphi(pt, eta, phi + shift)
    assert_same_channels(channel_images(moved, kinds, recipe), channel_images(jet, kinds, recipe),
                         ALL)


@SETTINGS
@given(seed=toy_seeds, boost=st.floats(-1.5, 1.5), center=st.sampled_from(["centroid", "leading"]),
       normalise=normalises)
def test_eta_boost_leaves_pt_and_count_channels(seed, boost, center, normalise):
    jet, kinds = toy(seed)
    recipe = Recipe(channels=NOT_E, center=center, normalise=normalise)
    assume(clear_of_edges(jet, recipe))
    pt, eta, phi = ptetaphi(jet)
    boosted = jets_from_ptetaphi(pt, np.where(pt > 0, eta + boost, 0.0), phi)
    assert_same_channels(channel_images(boosted, kinds, recipe),
                         channel_images(jet, kinds, recipe), NOT_E)


@SETTINGS
@given(seed=toy_seeds, perm_seed=toy_seeds, extra=st.integers(0, 30), normalise=normalises)
def test_permuting_slots_with_their_kinds_leaves_every_channel(seed, perm_seed, extra, normalise):
    jet, kinds = toy(seed)
    recipe = Recipe(channels=ALL, normalise=normalise, threshold=1.0)
    assume(clear_of_edges(jet, recipe))
    assume(not np.any(np.abs(reference_geometry(jet, recipe)["image"] - 1.0) < 1e-4))
    order = np.random.default_rng(perm_seed).permutation(len(jet) + extra)
    shuffled = np.concatenate([jet, np.zeros((extra, 4))])[order]
    shuffled_kinds = np.concatenate([kinds, np.zeros(extra, np.int8)])[order]
    assert_same_channels(channel_images(shuffled, shuffled_kinds, recipe),
                         channel_images(jet, kinds, recipe), ALL)


@SETTINGS
@given(seed=toy_seeds, side=st.sampled_from([-1.0, 1.0]), offset=st.floats(0.0, 0.3))
def test_jet_across_phi_pi_has_the_channels_it_has_at_phi_zero(seed, side, offset):
    jet, kinds = toy(seed)
    pt, eta, phi = ptetaphi(jet)
    lead = np.argmax(pt)
    at_zero = jets_from_ptetaphi(pt, eta, phi - phi[lead])
    assume(clear_of_edges(at_zero, Recipe()))
    across = jets_from_ptetaphi(pt, eta, phi - phi[lead] + side * (math.pi - offset))
    p = np.arctan2(across[:, 2], across[:, 1])[pt > 0]
    assume(p.min() < -2.5 and p.max() > 2.5)   # the jet does straddle +-pi
    for center in ("centroid", "jet", "leading"):
        recipe = Recipe(channels=ALL, center=center)
        assert_same_channels(channel_images(across, kinds, recipe),
                             channel_images(at_zero, kinds, recipe), ALL)


# --------------------------------------------------------------------------
# refusals


@pytest.mark.parametrize("channels, words", [
    (["pt", "charged_ptt"], ["'charged_ptt'"]),
    (["PT"], ["'PT'"]),
    (["Charged_pt"], ["'Charged_pt'"]),
    (["charged"], ["'charged'"]),
    (["hadron_pt"], ["'hadron_pt'"]),
    (["pt", "charged_pt", "pt"], ["pt", "more than once"]),
])
def test_bad_channel_names_are_refused(channels, words):
    for make in (lambda: Recipe(channels=channels),
                 lambda: jetimg.preprocess(np.zeros((1, 2, 4), np.float32), channels=channels)):
        with pytest.raises(RecipeError) as err:
            make()
        message = str(err.value)
        assert "\n" not in message
        for word in words:
            assert word in message, message
        if "more than once" not in words:   # an unknown name: the valid ones are listed
            for word in list(QUANTITIES) + list(KIND_SELECTS):
                assert word in message, (word, message)


def test_kind_channel_without_kinds_names_the_channel():
    jets, _ = toy_jets(3, n_slots=20, seed=2)
    with pytest.raises(InputError) as err:
        jetimg.preprocess(jets, channels=["pt", "photon_e", "count"])
    assert "photon_e" in str(err.value) and "\n" not in str(err.value)
    out = jetimg.preprocess(jets, channels=["pt", "e", "count"])   # no KIND: no kinds needed
    assert out["images"].shape == (3, 40, 40, 3)


@pytest.mark.parametrize("shape", [(3, 21), (2, 20), (3,), (3, 20, 1)])
def test_kinds_of_the_wrong_shape_are_refused(shape):
    jets, _ = toy_jets(3, n_slots=20, seed=2)
    with pytest.raises(InputError) as err:
        jetimg.preprocess(jets, channels=["charged_pt"], kinds=np.ones(shape, np.int8))
    assert "kinds" in str(err.value) and "\n" not in str(err.value)


# --------------------------------------------------------------------------
# the CUDA twin (numba's CUDA simulator here, a GPU with pytest --gpu)

SIMULATOR_JETS = 8


def cuda_twin_checks(n_jets):
    """The CUDA twin against the CPU kernel, with channels, on ``n_jets`` toy jets
    with random kinds (one of them invalid where the recipe skips it). Runs
    where device="cuda" works: a GPU, or NUMBA_ENABLE_CUDASIM=1 set before numba
    is imported."""
    jets, _ = toy_jets(n_jets, n_slots=60, seed=41)
    kinds = random_kinds(jets, 41)
    recipes = [Recipe(channels=ALL),
               Recipe(channels=LISTS[2], intensity="e", normalise="max", threshold=2.0),
               Recipe(channels=LISTS[1], center="leading", npix=17, normalise="none",
                      invalid="skip")]
    for recipe in recipes:
        chunk = jets.copy()
        if recipe.invalid == "skip":
            chunk[1, 2, 0] = np.nan
        got = jetimg.preprocess(chunk, recipe, kinds=kinds, device="cuda")
        want = jetimg.preprocess(chunk, recipe, kinds=kinds)
        for name, a in want.items():
            assert isinstance(got[name], np.ndarray), name
            assert (got[name].shape, got[name].dtype) == (a.shape, a.dtype), name
        for name in PER_JET_FLOATS:
            np.testing.assert_allclose(got[name], want[name], rtol=2.5e-7, atol=1e-6, err_msg=name)
        for name in ("n_constituents", "valid"):
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)
        bad = []
        for n in range(len(chunk)):
            w = want["images"][n].astype(np.float64)
            scale = {q: max(float(w[:, :, [i for i, c in enumerate(recipe.channels)
                                             if quantity(c) == q]].max(initial=0.0)), 1e-30)
                     for q in QUANTITIES}
            if channels_differ(got["images"][n], w, recipe.channels, scale):
                bad.append(n)
        assert len(bad) <= 0.001 * len(chunk), (recipe, bad)


def test_cuda_twin_equals_the_cpu_under_the_simulator():
    base = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    code = ("import tests.test_channels as t; "
            f"t.cuda_twin_checks({SIMULATOR_JETS}); print('cuda twin checks passed')")
    run = subprocess.run([sys.executable, "-c", code], env={**base, "NUMBA_ENABLE_CUDASIM": "1"},
                         cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    assert "cuda twin checks passed" in run.stdout


@pytest.mark.gpu
def test_gpu_channels_equal_the_cpu():
    cuda_twin_checks(3000)
