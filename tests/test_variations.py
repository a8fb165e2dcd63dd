"""Variations (docs/recipe.md "Variations", the recipe's ``vary``) held against the reference.

Chain: tests/reference.py ``reference_vary`` (SplitMix64 on Python integers,
one jet at a time, from SPEC's text) varies the jets; ``reference_preprocess``
and ``reference_particles`` image them; the CPU kernels with ``vary`` must
give the same images, per-jet quantities and particles. Then the draws'
statistics (the clipped g's sd, the fraction dropped, the leading
constituent kept, nested drops, one g at every sigma), the scale
invariances SPEC names, a varied store bit-identical for any chunk size,
worker count, scheduler and resume, and the refusals. The CUDA twin is held
to the CPU in tests/cuda_checks.py.
"""

import dataclasses
import math

import numpy as np
import pytest

import jetimg
from jetimg import InputError, Recipe, RecipeError
from jetimg.io.store.stores import open_store
from jetimg.streams.images import JetImages, open_images
from jetimg.toys import toy_jets
from jetimg.variations import Vary, VaryRanges, vary_arrays

from .helpers import (PARTICLE_ATOL as ATOL, PARTICLE_RTOL as RTOL, StopAfter,
                      assert_bit_identical, invoke, l1, one_line, read_store, toy_kinds)
from .reference import (KIND_CODE, near_pixel_edge, reference_jet, reference_particles,
                        reference_preprocess, reference_uniform, reference_vary, splitmix64)

#: the sd of a standard normal clipped to [-3, 3]: sqrt(E[min(max(Z, -3), 3)^2])
CLIPPED_SD = math.sqrt((math.erf(3 / math.sqrt(2)) - 6 * math.exp(-4.5) / math.sqrt(2 * math.pi))
                       + 9 * math.erfc(3 / math.sqrt(2)))
ROW0 = 1234  # the chunk's first input row: the draws follow it

VARIATIONS = ["scale=1.05", "scale=0.9,seed=2", "smear=0.1,seed=3", "smear=0.3,seed=11",
              "drop=0.3,seed=5", "drop=0.9,seed=6", "neutral_scale=0.8,seed=1",
              "scale=0.95,neutral_scale=1.1,smear=0.2,drop=0.2,seed=4294967295"]


@pytest.fixture(scope="module")
def toys():
    """120 toy jets (a quarter across phi = +-pi), one skipped invalid jet and
    one empty, with kinds and charges."""
    jets = toy_jets(120, seed=21, wrap_fraction=0.25)[0][:, :100].copy()
    jets[7] = 0.0
    kinds, charges = toy_kinds(jets, 21)
    return jets, kinds, charges


def varied_reference(jets, vary, kinds=None, row0=ROW0):
    """The reference's varied jets (N, M, 4) float64."""
    v = Vary.parse(vary).to_attrs()
    return np.stack([reference_vary(jets[n], row0 + n, v, None if kinds is None else kinds[n])
                     for n in range(len(jets))])


def assert_images_agree(got, want, recipe, varied):
    """As tests/test_kernels.py: images within L1 1e-5 (relative to the sum for
    GeV images) but where a constituent sits on a pixel edge; per-jet
    quantities to float32 rounding, counts exactly."""
    dist = l1(got["images"].reshape(len(varied), recipe.npix, -1),
              want["images"].reshape(len(varied), recipe.npix, -1))
    if recipe.normalise == "none":
        dist /= np.maximum(want["images"].reshape(len(varied), -1).sum(axis=1), 1.0)
    for n in np.flatnonzero(dist > 1e-5):
        points = reference_jet(varied[n], recipe, channels=None)["points"]
        assert near_pixel_edge(points, recipe.npix, recipe.pixel_size, 1e-7), (n, dist[n])
    for name in ("jet_pt", "jet_eta", "jet_phi", "jet_mass"):
        np.testing.assert_allclose(got[name], want[name], rtol=2e-6, atol=2e-5, err_msg=name)
    for name in ("n_constituents", "valid"):
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


# ---------------------------------------------------------------------------
# the reference's random numbers


def test_reference_draws_are_splitmix64_as_spec_writes_it():
    # SplitMix64 from state 0: the published first outputs of the generator
    # (state += golden ratio, then mix) are mix(0), mix(golden), ...
    assert splitmix64(0) == 0xE220A8397B1DCDAF
    assert splitmix64(0x9E3779B97F4A7C15) == 0x6E789E6AA1B965F4
    u = [reference_uniform(3, row, slot, t) for row in range(5) for slot in range(5)
         for t in range(3)]
    assert all(0.0 < x < 1.0 for x in u) and len(set(u)) == len(u)
    h = splitmix64(splitmix64(splitmix64(3) ^ 2) ^ (4 * 1 + 2))
    assert reference_uniform(3, 2, 1, 2) == ((h >> 11) + 0.5) / 2 ** 53


# ---------------------------------------------------------------------------
# the option


def test_vary_canonical_form_text_and_recipe_attrs():
    v = Vary.parse("scale=1.05,smear=0.1,seed=3")
    assert v.to_attrs() == {"scale": 1.05, "neutral_scale": 1.0, "smear": 0.1, "drop": 0.0,
                            "seed": 3}
    assert Vary.parse(v.to_text()) == v == Vary.parse(v.to_attrs()) == Vary(**v.to_attrs())
    r = Recipe(vary="scale=1.05,smear=0.1,seed=3")
    assert r.vary == v and r.to_attrs()["vary"] == v.to_attrs()
    assert Recipe.from_attrs(r.to_attrs()) == r
    for nothing in (None, "", {}):
        assert Recipe(vary=nothing).vary is None
    assert Recipe().to_attrs()["vary"] is None
    # stores and models from before variations: no vary key, the nominal jets
    older = {k: v for k, v in Recipe().to_attrs().items() if k != "vary"}
    assert Recipe.from_attrs(older) == Recipe()
    assert Recipe(vary="seed=0").vary == Vary()     # given, so recorded (a no-op)
    assert Recipe(vary="seed=7").differences(Recipe(vary="seed=8")) == ["vary"]
    assert Vary(scale=2).needs_kinds is False and Vary(neutral_scale=0.9).needs_kinds


@pytest.mark.parametrize("text, words", [
    ("scale=0", "scale=0 is not valid; choose a finite number > 0"),
    ("scale=-1", "scale=-1 is not valid"),
    ("scale=inf", "scale=inf is not valid"),
    ("neutral_scale=nan", "neutral_scale=nan is not valid"),
    ("scale=abc", "scale=abc is not a number"),
    ("smear=0.31", "smear=0.31 is not valid; choose sigma from 0 to 0.3"),
    ("smear=-0.1", "smear=-0.1 is not valid"),
    ("drop=1", "drop=1 is not valid; choose a probability from 0 up to (not including) 1"),
    ("drop=-0.01", "drop=-0.01 is not valid"),
    ("seed=-1", "seed=-1 is not valid; choose an integer from 0 to 2**32 - 1"),
    ("seed=1.5", "seed=1.5 is not valid"),
    ("seed=4294967296", "seed=4294967296 is not valid"),
    ("shift=1", "unknown name 'shift'; the names are scale, neutral_scale, smear, drop, seed"),
    ("scale=1.1,scale=1.2", "names scale more than once"),
    ("scale", "'scale' is not name=value"),
    ("scale=1.1,,seed=2", "has an empty entry"),
])
def test_bad_values_are_one_line(text, words):
    with pytest.raises(RecipeError) as err:
        Recipe(vary=text)
    message = str(err.value)
    assert message.startswith(f"vary={text!r}") and words in message and "\n" not in message


@pytest.mark.parametrize("bad", [{"seed": True}, {"seed": 2 ** 32}, {"drop": 1.0}, 3, ["scale"]])
def test_bad_mappings_are_refused(bad):
    with pytest.raises(RecipeError, match="^vary="):
        Recipe(vary=bad)


# ---------------------------------------------------------------------------
# the kernels against the reference


@pytest.mark.parametrize("vary", VARIATIONS)
@pytest.mark.parametrize("options", [{}, dict(normalise="none", intensity="e"),
                                     dict(threshold=3.0, normalise="none", center="jet"),
                                     dict(center="leading", npix=33, pixel_size=0.025)],
                         ids=["default", "gev-e", "threshold", "leading"])
def test_images_equal_the_reference_of_the_varied_jets(toys, vary, options):
    jets, kinds, charges = toys
    recipe = Recipe(**options, vary=vary, invalid="skip")
    kinds_in = kinds if recipe.vary.needs_kinds else None
    varied = varied_reference(jets, vary, kinds_in)
    bad = jets.copy()
    bad[11, 3, 0] = -1.0               # an invalid jet stays invalid (skipped)
    varied[11] = bad[11]
    got = jetimg.preprocess(bad, recipe, kinds=kinds_in, row_offset=ROW0)
    want = reference_preprocess(varied, Recipe(**options, invalid="skip"))
    assert got["valid"][11] == 0 and got["n_constituents"][7] == 0
    assert_images_agree(got, want, recipe, varied)


@pytest.mark.parametrize("vary", VARIATIONS)
def test_channels_and_particles_equal_the_reference(toys, vary):
    jets, kinds, charges = toys
    options = dict(channels=["pt", "neutral_pt", "charged_count"], normalise="none")
    recipe = Recipe(**options, particles=30, vary=vary)
    varied = varied_reference(jets, vary, kinds)
    got = jetimg.preprocess(jets, recipe, kinds=kinds, charges=charges, row_offset=ROW0)
    want = reference_preprocess(varied, Recipe(**options), kinds=kinds)
    assert_images_agree(got, want, recipe, varied)
    parts = np.stack([reference_particles(varied[n], Recipe(), kinds[n], charges[n],
                                          particles=30) for n in range(len(jets))])
    np.testing.assert_allclose(got["particles"], parts, rtol=RTOL, atol=ATOL)
    # without kinds (F = 11) from the same draws, where the variation needs none
    if not recipe.vary.needs_kinds:
        plain = jetimg.preprocess(jets, Recipe(particles=30, vary=vary), row_offset=ROW0)
        np.testing.assert_allclose(plain["particles"], parts[..., :11], rtol=RTOL, atol=ATOL)


def test_the_draws_follow_the_input_row_not_the_chunk(toys):
    jets = toys[0]
    recipe = Recipe(vary="smear=0.2,drop=0.4,seed=9", particles=10)
    whole = jetimg.preprocess(jets, recipe, row_offset=ROW0)
    for lo, hi in ((0, 50), (50, 51), (51, 120)):
        part = jetimg.preprocess(jets[lo:hi], recipe, row_offset=ROW0 + lo, parallel=False)
        for name, a in whole.items():
            np.testing.assert_array_equal(part[name], a[lo:hi], err_msg=name)
    other = jetimg.preprocess(jets, recipe, row_offset=ROW0 + 1)
    assert (other["n_constituents"] != whole["n_constituents"]).mean() > 0.5


# ---------------------------------------------------------------------------
# the draws' statistics


def single_constituent_jets(n, seed=0):
    """n jets of one constituent each, E 100 GeV, at random eta and phi."""
    rng = np.random.default_rng(seed)
    eta, phi = rng.uniform(-2, 2, n), rng.uniform(-np.pi, np.pi, n)
    pt = 100.0 / np.cosh(eta)
    jets = np.zeros((n, 1, 4))
    jets[:, 0] = np.stack([pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi),
                           pt * np.sinh(eta)], axis=1)
    return jets


def smear_g(jets, sigma, seed=0):
    """g of each jet's one constituent: (E' / E - 1) / sigma, from the particle's e."""
    parts = jetimg.preprocess(jets, Recipe(particles=1, vary=dict(smear=sigma, seed=seed)))
    return (parts["particles"][:, 0, 10].astype(np.float64) / jets[:, 0, 0] - 1.0) / sigma


@pytest.mark.slow
def test_the_clipped_gaussian_has_its_sd_and_one_g_serves_every_sigma():
    jets = single_constituent_jets(1_000_000)
    g = smear_g(jets, 0.3)
    assert abs(CLIPPED_SD - 0.9975) < 5e-5
    # sd of a sample sd: about 1 / sqrt(2 N) = 0.0007
    assert abs(g.std() - CLIPPED_SD) < 0.0025 and abs(g.mean()) < 0.004
    assert g.min() >= -3 - 1e-4 and g.max() <= 3 + 1e-4
    clipped = (np.abs(g) > 3 - 1e-4).mean()       # 2 Phi(-3) = 0.0027
    assert 0.0022 < clipped < 0.0032
    few = jets[:2000]
    np.testing.assert_allclose(smear_g(few, 0.05), g[:2000], atol=2e-3)   # float32 e
    other = smear_g(few, 0.3, seed=1)
    assert abs(np.corrcoef(other, g[:2000])[0, 1]) < 0.1  # another seed: independent


def test_drops_keep_the_fraction_the_leading_constituent_and_nest():
    jets = toy_jets(400, seed=4)[0]
    n = (jets != 0).any(axis=2).sum(axis=1)
    nominal = jetimg.preprocess(jets, Recipe(particles=1))
    kept = {}
    for p in (0.1, 0.3, 0.6):
        out = jetimg.preprocess(jets, Recipe(particles=1, vary=dict(drop=p, seed=8)))
        kept[p] = out["n_constituents"].astype(int)
        dropped = (n - kept[p]).sum() / (n - 1).sum()   # the leading one never goes
        assert abs(dropped - p) < 4 * math.sqrt(p * (1 - p) / (n - 1).sum())
        # the leading constituent: the same four-vector, the first particle
        np.testing.assert_array_equal(out["particles"][:, 0, 7:], nominal["particles"][:, 0, 7:])
        assert (kept[p] >= 1).all()
    assert (kept[0.1] >= kept[0.3]).all() and (kept[0.3] >= kept[0.6]).all()


def test_neutral_scale_touches_photons_and_neutral_hadrons_only(toys):
    jets, kinds, charges = toys
    recipe = Recipe(particles=100, vary="neutral_scale=1.5", center="jet", rotate=False,
                    flip=False)
    got = jetimg.preprocess(jets, recipe, kinds=kinds, charges=charges)["particles"]
    base = jetimg.preprocess(jets, Recipe(particles=100, center="jet", rotate=False,
                                          flip=False), kinds=kinds, charges=charges)["particles"]
    neutral = (got[..., 13] + got[..., 14]) > 0        # is_neutral_hadron, is_photon
    present = (got != 0).any(axis=2)
    assert neutral[present].any() and (~neutral[present]).any()
    # every particle's e, matched by (charge, flags) order-free: the summed e by kind
    for flag, factor in ((13, 1.5), (14, 1.5), (12, 1.0), (15, 1.0), (16, 1.0)):
        np.testing.assert_allclose((got[..., 10] * got[..., flag]).sum(axis=1),
                                   factor * (base[..., 10] * base[..., flag]).sum(axis=1),
                                   rtol=1e-5)
    assert KIND_CODE["photon"] == 1 and KIND_CODE["neutral_hadron"] == 5


# ---------------------------------------------------------------------------
# what SPEC says a global scale does


def test_a_global_scale_leaves_sum_normalised_images_and_shifts_the_rest(toys):
    jets, kinds, charges = toys
    s = 1.07
    nominal = jetimg.preprocess(jets, Recipe(particles=30), kinds=kinds, charges=charges)
    scaled = jetimg.preprocess(jets, Recipe(particles=30, vary=dict(scale=s)), kinds=kinds,
                               charges=charges)
    assert l1(scaled["images"], nominal["images"]).max() < 1e-5
    for name in ("jet_pt", "jet_mass"):
        np.testing.assert_allclose(scaled[name], s * nominal[name], rtol=1e-6)
    np.testing.assert_allclose(scaled["jet_eta"], nominal["jet_eta"], atol=1e-6)
    got, want = scaled["particles"], nominal["particles"]
    present = (want != 0).any(axis=2)
    np.testing.assert_allclose(got[..., 7:11], s * want[..., 7:11], rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(got[..., 2:4][present], want[..., 2:4][present] + math.log(s),
                               atol=2e-6)
    for f in (0, 1, 4, 5, 6, 11, 12, 13, 14, 15, 16):   # x, y, _rel, delta_r, kinds
        np.testing.assert_allclose(got[..., f], want[..., f], atol=2e-6)


def test_scale_at_threshold_t_is_threshold_t_over_s(toys):
    jets = toys[0]
    s, t = 1.25, 4.0
    a = jetimg.preprocess(jets, Recipe(vary=dict(scale=s), threshold=t, normalise="none"))
    b = jetimg.preprocess(jets, Recipe(threshold=t / s, normalise="none"))
    dist = l1(a["images"], s * b["images"]) / np.maximum(a["images"].sum(axis=(1, 2)), 1)
    assert dist.max() < 1e-5
    c = jetimg.preprocess(jets, Recipe(vary=dict(scale=s), threshold=t))
    d = jetimg.preprocess(jets, Recipe(threshold=t / s))
    assert l1(c["images"], d["images"]).max() < 1e-5


# ---------------------------------------------------------------------------
# refusals


def test_neutral_scale_without_kinds_is_refused_before_any_compute(tmp_path, toys):
    jets = toys[0]
    with pytest.raises(InputError, match=r"^vary='neutral_scale=0.9,seed=0': neutral_scale "
                                         r"needs particle kinds"):
        jetimg.preprocess(jets, vary="neutral_scale=0.9")
    np.save(tmp_path / "jets.npy", jets)
    with pytest.raises(InputError, match="carries no particle identity"):
        jetimg.build(tmp_path / "jets.npy", tmp_path / "out.zarr", vary="neutral_scale=0.9")
    assert not (tmp_path / "out.zarr").exists()
    # a neutral_scale of 1 changes nothing and needs no kinds
    assert jetimg.preprocess(jets[:3], vary="neutral_scale=1")["valid"].all()


# ---------------------------------------------------------------------------
# varied stores


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vary")
    jets, labels = toy_jets(3000, n_slots=60, seed=17)
    np.save(folder / "jets.npy", jets)
    np.save(folder / "labels.npy", labels)
    return folder


VARY = "scale=1.02,smear=0.15,drop=0.25,seed=77"


def build(source, out, **options):
    return jetimg.build(source / "jets.npy", out, labels_key=str(source / "labels.npy"),
                        npix=16, particles=8, vary=VARY, **options)


@pytest.mark.slow
def test_a_varied_store_is_the_same_for_any_chunks_workers_scheduler_and_resume(source,
                                                                               tmp_path):
    build(source, tmp_path / "ref.zarr", chunk_size=3000, workers=1)
    want = read_store(tmp_path / "ref.zarr")[0]
    jets = np.load(source / "jets.npy")
    direct = jetimg.preprocess(jets, Recipe(npix=16, particles=8, vary=VARY))
    for name, a in direct.items():
        np.testing.assert_array_equal(want[name], a, err_msg=name)
    for name, options in [("a.zarr", dict(chunk_size=250, workers=2)),
                          ("b.zarr", dict(chunk_size=777, scheduler="processes", workers=2)),
                          ("c.zarr", dict(chunk_size=1000, scheduler="synchronous")),
                          ("d.h5", dict(chunk_size=400))]:
        out = tmp_path / name
        build(source, out, **options)
        assert_bit_identical(read_store(out)[0], want)
    # interrupted after 3 chunks, then resumed
    out = tmp_path / "resumed.zarr"
    with pytest.raises(KeyboardInterrupt):
        build(source, out, chunk_size=300, progress=StopAfter(900))
    build(source, out, chunk_size=300, resume=True)
    assert_bit_identical(read_store(out)[0], want)
    # a --limit build is the first rows of the whole
    build(source, tmp_path / "limit.zarr", limit=1000, chunk_size=300)
    got = read_store(tmp_path / "limit.zarr")[0]
    assert_bit_identical(got, {name: a[:1000] for name, a in want.items()})


def test_a_store_without_vary_differs_and_records_it(source, tmp_path):
    jetimg.build(source / "jets.npy", tmp_path / "a.zarr", npix=16, limit=300)
    build(source, tmp_path / "b.zarr", limit=300)
    with open_store(tmp_path / "a.zarr") as a, open_store(tmp_path / "b.zarr") as b:
        assert a.attrs["recipe"]["vary"] is None
        assert b.attrs["recipe"]["vary"] == Vary.parse(VARY).to_attrs()
        assert (a["n_constituents"][:] > b["n_constituents"][:]).mean() > 0.9


def test_cli_build_info_resume_and_verify(source, tmp_path):
    out = tmp_path / "v.zarr"
    args = ["build", str(source / "jets.npy"), "-o", str(out), "--labels-key",
            str(source / "labels.npy"), "--npix", "16", "--limit", "600", "-q"]
    result = invoke(*args, "--vary", "scale=1.05,smear=0.1,seed=3")
    assert result.exit_code == 0, result.output
    info = invoke("info", str(out))
    assert "vary         scale=1.05 neutral_scale=1.0 smear=0.1 drop=0.0 seed=3" in info.output
    verify = invoke("verify", str(out), "--input", str(source / "jets.npy"), "--labels-key",
                    str(source / "labels.npy"))
    assert verify.exit_code == 0 and "recompute" in verify.output, verify.output
    # a resume with another variation is refused in one line, naming both
    again = invoke(*args, "--vary", "scale=1.05,seed=3", "--resume")
    line = one_line(again)
    assert "vary: scale=1.05,smear=0.1,seed=3 before, scale=1.05,seed=3 now" in line
    bad = invoke(*args, "--vary", "smear=0.5", "--overwrite")
    assert one_line(bad) == ("Error: --vary smear=0.5: smear=0.5 is not valid; choose sigma "
                             "from 0 to 0.3")
    assert read_store(out)[1]["recipe"]["vary"]["smear"] == 0.1   # left as it was


# ---------------------------------------------------------------------------
# the NumPy twin (values per jet) and variations drawn per epoch in training


@pytest.mark.parametrize("vary", VARIATIONS)
def test_the_numpy_twin_gives_the_kernels_varied_jets(toys, vary):
    """vary_arrays with one value for every jet is the reference's variation (to an
    ulp of NumPy's against Python's log and cos) and gives the kernels' outputs."""
    jets, kinds, charges = toys
    v = Vary.parse(vary)
    recipe = Recipe(particles=20, normalise="none")
    rows = np.arange(ROW0, ROW0 + len(jets))
    varied = vary_arrays(jets, rows, seed=v.seed, scale=v.scale, neutral_scale=v.neutral_scale,
                         smear=v.smear, drop=v.drop, kinds=kinds)
    np.testing.assert_allclose(varied, varied_reference(jets, vary, kinds), rtol=1e-14)
    got = jetimg.preprocess(jets, dataclasses.replace(recipe, vary=v), kinds=kinds,
                            charges=charges, row_offset=ROW0)
    want = jetimg.preprocess(varied, recipe, kinds=kinds, charges=charges)
    for name, a in want.items():
        np.testing.assert_allclose(got[name], a, rtol=1e-6, atol=1e-6, err_msg=name)
    np.testing.assert_array_equal(got["n_constituents"], want["n_constituents"])


@pytest.mark.parametrize("text, words", [
    ("scale=1.1:0.9", "scale runs from 1.1 down to 0.9; give low:high"),
    ("smear=0:0.5", "smear=0.5 is not valid; choose sigma from 0 to 0.3"),
    ("drop=0.2:1", "drop=1.0 is not valid"),
    ("scale=0:1.1", "scale=0.0 is not valid"),
    ("seed=1:2", "seed=1:2 is not valid"),
    ("scale=a:b", "scale=a is not a number"),
    ("jes=1", "unknown name 'jes'"),
])
def test_bad_ranges_are_one_line(text, words):
    with pytest.raises(RecipeError) as err:
        VaryRanges.parse(text)
    message = str(err.value)
    assert message.startswith(f"vary={text!r}") and words in message and "\n" not in message


def test_ranges_draw_per_jet_and_epoch_reproducibly(toys):
    jets = toys[0]
    r = VaryRanges.parse("scale=0.9:1.1,seed=5")
    assert r.to_attrs() == {"scale": [0.9, 1.1], "neutral_scale": [1.0, 1.0],
                            "smear": [0.0, 0.0], "drop": [0.0, 0.0], "seed": 5}
    assert VaryRanges.from_attrs(r.to_attrs()) == r and VaryRanges.parse(r.to_text()) == r
    rows = np.arange(len(jets))
    e0, e1 = r.apply(jets, rows, epoch=0), r.apply(jets, rows, epoch=1)
    valid = (jets[:, 0, 0] > 0)
    s0 = e0[valid, 0, 0] / jets[valid, 0, 0]
    s1 = e1[valid, 0, 0] / jets[valid, 0, 0]
    assert (0.9 <= s0).all() and (s0 <= 1.1).all() and np.ptp(s0) > 0.1
    assert not np.allclose(s0, s1)                                   # a new draw per epoch
    # one factor per jet: every constituent of a jet scaled alike
    ratio = e0[valid] / np.where(jets[valid] == 0, 1, jets[valid])
    present = jets[valid] != 0
    assert np.allclose(ratio[present].reshape(-1), np.repeat(s0, present.sum(axis=(1, 2))))
    np.testing.assert_array_equal(r.apply(jets[30:], rows[30:], epoch=1), e1[30:])  # by row
    other = VaryRanges.parse("scale=0.9:1.1").apply(jets, rows, epoch=0, seed=5)
    np.testing.assert_array_equal(other, e0)        # the training seed where the ranges give none


def test_on_the_fly_images_vary_per_epoch_and_refuse_what_cannot_vary(source, tmp_path):
    jets = source / "jets.npy"
    stream = JetImages(jets, Recipe(npix=16, normalise="none"), vary="scale=0.8:1.2",
                       vary_seed=3)
    first = stream.read(0, 200)["images"]
    stream.set_epoch(1)
    second = stream.read(0, 200)["images"]
    stream.set_epoch(0)
    np.testing.assert_array_equal(stream.read(0, 200)["images"], first)
    sums = first.sum(axis=(1, 2)) / second.sum(axis=(1, 2))
    assert np.ptp(sums) > 0.1
    nominal = JetImages(jets, Recipe(npix=16, normalise="none")).read(0, 200)["images"]
    ratio = first.sum(axis=(1, 2)) / nominal.sum(axis=(1, 2))
    assert 0.8 - 1e-5 <= ratio.min() and ratio.max() <= 1.2 + 1e-5
    stream.close()
    with pytest.raises(InputError, match="give one variation"):
        JetImages(jets, Recipe(vary="scale=1.1"), vary="smear=0.1")
    with pytest.raises(InputError, match="no particle kinds, which neutral_scale needs"):
        JetImages(jets, vary="neutral_scale=0.9:1.1")
    build(source, tmp_path / "s.zarr", limit=100)
    with pytest.raises(InputError, match=r"^vary='scale=0.9:1.1' varies jets as their images "
                                         r"are made, and .* is an image store"):
        open_images(tmp_path / "s.zarr", vary="scale=0.9:1.1")


def test_torch_on_the_fly_datasets_vary_per_epoch_alike_in_every_worker(source):
    torch = pytest.importorskip("torch")
    from jetimg.torch import JetIterableDataset, JetParticleIterableDataset

    def sums(dataset, workers=0):
        loader = torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=workers)
        out = {int(row): float(image.sum()) for image, row in loader}
        return np.array([out[r] for r in sorted(out)])

    ds = JetIterableDataset(source / "jets.npy", Recipe(npix=16, normalise="none"),
                            labels=False, return_rows=True, seed=4, vary="scale=0.8:1.2",
                            chunk_rows=250, buffer_size=500)
    first = sums(ds)
    assert np.array_equal(sums(ds, workers=2), first)     # the same draws in the workers
    ds.set_epoch(1)
    second = sums(ds)
    ratio = first / second
    assert np.ptp(ratio) > 0.1 and 0.8 / 1.2 - 1e-5 < ratio.min() <= ratio.max() < 1.5 + 1e-5
    ds.set_epoch(0)
    assert np.array_equal(sums(ds), first)
    parts = JetParticleIterableDataset(source / "jets.npy", Recipe(particles=5), labels=False,
                                       seed=4, vary="drop=0.5", chunk_rows=250, shuffle=False)
    first = torch.stack([item["features"] for item in parts])
    parts.set_epoch(1)
    second = torch.stack([item["features"] for item in parts])
    assert (first != second).any(dim=(1, 2)).float().mean() > 0.9    # other particles kept
