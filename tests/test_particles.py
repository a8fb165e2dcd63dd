"""Particles (docs/recipe.md step 7) held against the float64 reference.

Chain: tests/reference.py ``reference_particles`` (slow, obvious, one jet at
a time) -> the CPU kernels (``jetimg.preprocess(..., particles=P)``) on toy
jets and the shipped samples (top-tagging: F = 11; JetClass layout with
kinds and part_charge: F = 17), every recipe option of the kernel tests and
P in {1, 7, 30, 200}; hand-computed jets; invariances; the store option.
The CUDA twin is held to the CPU in tests/cuda_checks.py.
"""

import math

import numpy as np
import pytest

import jetimg
from jetimg import InputError, InvalidJetError, Recipe, RecipeError
from jetimg.data import sample_path
from jetimg.kernels.body import FLAG_KIND_CODES
from jetimg.kinds import KIND_CODE
from jetimg.recipe import particle_features
from jetimg.toys import jets_from_ptetaphi, toy_jets

from .helpers import (OPTION_MATRIX, PARTICLE_ATOL as ATOL, PARTICLE_RTOL as RTOL, option_id,
                      toy_kinds)
from .reference import KIND_FEATURES, PARTICLE_FEATURES, reference_particles

P_VALUES = (1, 7, 30, 200)


def reference_stack(jets, recipe, P, kinds=None, charges=None):
    return np.stack([reference_particles(
        jets[n], recipe, None if kinds is None else kinds[n],
        None if charges is None else charges[n], particles=P) for n in range(len(jets))])


def assert_particles_agree(jets, options, kinds=None, charges=None, p_values=P_VALUES):
    """The kernel's particles for every P equal the reference's first P rows."""
    top = max(p_values)
    want = reference_stack(jets, Recipe(**options), top, kinds, charges)
    for P in p_values:
        got = jetimg.preprocess(jets, Recipe(**options, particles=P), kinds=kinds,
                                charges=charges)["particles"]
        assert got.shape == (len(jets), P, want.shape[2]) and got.dtype == np.float32
        np.testing.assert_allclose(got, want[:, :P], rtol=RTOL, atol=ATOL,
                                   err_msg=f"P={P} {options}")
    return want


# ---------------------------------------------------------------------------
# names, recipe


def test_feature_names_and_kind_flags_match_the_reference_and_kinds():
    assert particle_features(False) == PARTICLE_FEATURES
    assert particle_features(True) == PARTICLE_FEATURES + KIND_FEATURES
    assert FLAG_KIND_CODES == tuple(KIND_CODE[name[3:]] for name in KIND_FEATURES[1:])


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "many", [3]])
def test_particles_must_be_an_integer_of_at_least_one(bad):
    with pytest.raises(RecipeError) as err:
        Recipe(particles=bad)
    assert str(err.value).startswith("particles=") and "\n" not in str(err.value)


def test_recipe_attrs_round_trip_and_older_attrs_read_as_none():
    r = Recipe(particles=30.0)
    assert r.particles == 30 and r.to_attrs()["particles"] == 30
    assert Recipe.from_attrs(r.to_attrs()) == r
    assert Recipe().to_attrs()["particles"] is None
    older = {k: v for k, v in Recipe().to_attrs().items() if k != "particles"}
    assert Recipe.from_attrs(older) == Recipe() and Recipe.from_attrs(older).particles is None


# ---------------------------------------------------------------------------
# the kernels against the reference


def test_default_recipe_on_2000_toy_jets():
    jets = toy_jets(2000, seed=31)[0]
    want = assert_particles_agree(jets, {}, p_values=(30,))
    n = (jets != 0).any(axis=2).sum(axis=1)
    rows = (want != 0).any(axis=2).sum(axis=1)
    assert (rows == np.minimum(n, 30)).all()


@pytest.mark.parametrize("options", OPTION_MATRIX, ids=option_id)
def test_every_option_and_p_on_toy_jets(options):
    jets = toy_jets(60, seed=5)[0][:, :120]
    assert_particles_agree(jets, options)


@pytest.mark.parametrize("options", [{}, dict(center="jet", rotate=False, flip=False),
                                     dict(intensity="e", channels=["pt", "charged_count"])],
                         ids=option_id)
def test_kind_features_on_toy_jets(options):
    jets = toy_jets(80, seed=8)[0][:, :100]
    kinds, charges = toy_kinds(jets, 8)
    want = assert_particles_agree(jets, options, kinds, charges)
    assert want.shape[2] == 17
    flags = want[..., 12:]
    present = (want != 0).any(axis=2)
    assert (flags.sum(axis=2) == present).all()  # one flag per particle


def test_the_top_tagging_sample_every_option():
    source = jetimg.open_jets(sample_path())
    jets = source.read(0, 40)[0]
    for options in OPTION_MATRIX:
        assert_particles_agree(jets, options, p_values=(7, 200))


def jetclass_rows(per_file=25):
    """Rows of every shipped JetClass-layout file: jets, kinds from the reader,
    and charges from part_charge (read here with uproot), padded alike."""
    import uproot

    jets, kinds, charges = [], [], []
    for path in sorted(sample_path("jetclass").glob("*.root")):
        source = jetimg.open_jets(path)
        rows = min(per_file, source.n_rows) if per_file else source.n_rows
        jets.append(source.read(0, rows)[0])
        kinds.append(source.read_kinds(0, rows))
        with uproot.open(path) as f:
            q = f["tree"]["part_charge"].array(library="np", entry_stop=rows)
        c = np.zeros(kinds[-1].shape, np.int8)
        for n, row in enumerate(q):
            c[n, :len(row)] = row
        charges.append(c)
    width = max(j.shape[1] for j in jets)
    pad = lambda a: np.pad(a, [(0, 0), (0, width - a.shape[1])] + [(0, 0)] * (a.ndim - 2))  # noqa: E731
    return (np.concatenate([pad(j) for j in jets]), np.concatenate([pad(k) for k in kinds]),
            np.concatenate([pad(c) for c in charges]))


def test_the_jetclass_sample_with_kinds_and_charges():
    jets, kinds, charges = jetclass_rows()
    assert charges.any() and (charges[kinds == KIND_CODE["photon"]] == 0).all()
    for options in OPTION_MATRIX[::3] + [dict(channels=["charged_pt", "neutral_pt"])]:
        want = assert_particles_agree(jets, options, kinds, charges, p_values=(1, 30, 200))
    charge_col = want[..., 11]
    assert set(np.unique(charge_col)) <= {-1.0, 0.0, 1.0} and (charge_col != 0).any()


# ---------------------------------------------------------------------------
# hand-computed jets


def test_hand_computed_jet():
    """Three massless constituents at eta 0 (pz = 0), so eta = 0 for all and
    the centroid sits at eta 0; phi 0, 0.1 and -0.1 rad. center="leading",
    rotate=False, flip=False: x = eta = 0, y = dphi.

    ====  ===  =====  ======  ======  ===========  ========  =====
    row   pT   phi    x       y       log_pt       log_pt_rel  delta_r
    ====  ===  =====  ======  ======  ===========  ========  =====
    0     60   0.0    0       0       ln 60        ln(60/S)  0
    1     30   0.1    0       0.1     ln 30        ln(30/S)  0.1
    2     10   -0.1   0       -0.1    ln 10        ln(10/S)  0.1
    ====  ===  =====  ======  ======  ===========  ========  =====

    (slots hold them in the order 10, 60, 30 GeV); S = |sum of the pT vectors|
    = sqrt((60 + 30 cos 0.1 + 10 cos 0.1)^2 + (20 sin 0.1)^2); E = pT, so
    log_e = log_pt and log_e_rel = ln(pT / 100).
    """
    pts = np.array([[10.0, 60.0, 30.0]])
    jets = jets_from_ptetaphi(pts, np.zeros((1, 3)), np.array([[-0.1, 0.0, 0.1]]))
    got = jetimg.preprocess(jets.astype(np.float64), center="leading", rotate=False,
                            flip=False, particles=4)["particles"][0]
    S = math.hypot(60 + 40 * math.cos(0.1), 20 * math.sin(0.1))
    for row, (pt, y) in enumerate([(60, 0.0), (30, 0.1), (10, -0.1)]):
        want = [0.0, y, math.log(pt), math.log(pt), math.log(pt / S), math.log(pt / 100.0),
                abs(y), pt * math.cos(y), pt * math.sin(y), 0.0, pt]
        np.testing.assert_allclose(got[row], want, rtol=1e-6, atol=1e-6, err_msg=f"row {row}")
    assert not got[3].any()


def test_pt_ties_in_slot_order_and_features_by_slot():
    # pT 5 in slots 1 and 3 (as (3, 4) and (4, 3)), pT 2 in slot 0, padding in slot 2
    jets = np.array([[[2.0, 2.0, 0.0, 0.0], [7.0, 3.0, 4.0, 1.0], [0, 0, 0, 0],
                      [6.0, 4.0, 3.0, -1.0]]])
    kinds = np.array([[KIND_CODE["photon"], KIND_CODE["muon"], 0, KIND_CODE["electron"]]])
    charges = np.array([[0, -1, 0, 1]])
    got = jetimg.preprocess(jets, particles=5, kinds=kinds, charges=charges)["particles"][0]
    assert got[:, 7:11].tolist()[:3] == [[3, 4, 1, 7], [4, 3, -1, 6], [2, 0, 0, 2]]
    assert got[:3, 11].tolist() == [-1, 1, 0]
    assert got[:3, 12:].tolist() == [[0, 0, 0, 0, 1], [0, 0, 0, 1, 0], [0, 0, 1, 0, 0]]
    assert not got[3:].any()
    np.testing.assert_allclose(got, reference_particles(jets[0], None, kinds[0], charges[0],
                                                        particles=5), rtol=RTOL, atol=ATOL)


def test_empty_and_skipped_jets_have_zero_rows_and_invalid_jets_still_raise():
    jets = toy_jets(4, seed=3)[0][:, :50]
    jets[1] = 0.0
    jets[2, 7, 0] = np.nan
    got = jetimg.preprocess(jets, invalid="skip", particles=10)
    assert not got["particles"][1:3].any() and got["particles"][[0, 3]].any()
    assert list(got["valid"]) == [1, 1, 0, 1]
    with pytest.raises(InvalidJetError) as err:
        jetimg.preprocess(jets, particles=10)
    assert err.value.row == 2


def test_particles_leave_images_unchanged():
    jets = toy_jets(100, seed=9)[0]
    plain = jetimg.preprocess(jets)
    with_particles = jetimg.preprocess(jets, particles=30)
    assert "particles" not in plain
    for name, a in plain.items():
        np.testing.assert_array_equal(with_particles[name], a, err_msg=name)


# ---------------------------------------------------------------------------
# invariances


def test_phi_rotation_eta_boost_permutation_and_padding():
    jets = toy_jets(30, seed=21, wrap_fraction=0.5)[0][:, :80].astype(np.float64)
    base = jetimg.preprocess(jets, particles=40)["particles"]
    pt = np.hypot(jets[..., 1], jets[..., 2])
    eta = np.arcsinh(np.divide(jets[..., 3], pt, out=np.zeros_like(pt), where=pt > 0))
    phi = np.arctan2(jets[..., 2], jets[..., 1])
    present = pt > 0
    unchanged = [0, 1, 4, 6]  # x, y, log_pt_rel, delta_r
    # a global phi rotation (also carries jets across phi = +-pi) and an eta boost
    for d_eta, d_phi in ((0.0, 2.0), (0.0, math.pi), (0.7, 0.0), (-1.1, -2.5)):
        moved = jets_from_ptetaphi(np.where(present, pt, 0), eta + d_eta, phi + d_phi)
        got = jetimg.preprocess(moved.astype(np.float64), particles=40)["particles"]
        np.testing.assert_allclose(got[..., unchanged], base[..., unchanged], rtol=1e-4,
                                   atol=2e-5, err_msg=f"d_eta={d_eta} d_phi={d_phi}")
    # slot permutation and added padding (toy jets have no pT ties)
    rng = np.random.default_rng(4)
    wide = np.zeros((jets.shape[0], 120, 4))
    for n in range(len(jets)):
        wide[n, rng.permutation(120)[:80]] = jets[n]
    np.testing.assert_array_equal(jetimg.preprocess(wide, particles=40)["particles"], base)


# ---------------------------------------------------------------------------
# refusals


def test_kinds_without_charges_and_bad_charges_are_one_line():
    jets = toy_jets(3, seed=1)[0][:, :20]
    kinds, charges = toy_kinds(jets, 1)
    with pytest.raises(InputError, match="charges=") as err:
        jetimg.preprocess(jets, particles=5, kinds=kinds)
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match=r"charges must have shape \(N, M\)"):
        jetimg.preprocess(jets, particles=5, kinds=kinds, charges=charges[:, :5])
    with pytest.raises(InputError, match="charges must be integers"):
        jetimg.preprocess(jets, particles=5, kinds=kinds, charges=charges + 0.5)
    # without particles, or without kinds, charges play no part
    np.testing.assert_array_equal(jetimg.preprocess(jets, kinds=kinds)["images"],
                                  jetimg.preprocess(jets)["images"])
    assert jetimg.preprocess(jets, particles=5, charges=charges)["particles"].shape == (3, 5, 11)


# ---------------------------------------------------------------------------
# builds and stores


@pytest.fixture(scope="module")
def toy_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("particles")
    jets = toy_jets(60, seed=17)[0][:, :90]
    np.save(folder / "jets.npy", jets)
    return folder / "jets.npy", jets


def stored(path):
    with jetimg.open_store(path) as store:
        return {name: store[name][:] for name in store.keys()}, dict(store.attrs)


@pytest.mark.parametrize("store_name, chunk_size, scheduler",
                         [("a.zarr", 7, "threads"), ("b.h5", 60, "threads"),
                          pytest.param("c.zarr", 13, "processes", marks=pytest.mark.slow)])
def test_build_stores_the_particles_of_preprocess(toy_file, tmp_path, store_name, chunk_size,
                                                  scheduler):
    path, jets = toy_file
    jetimg.build(path, tmp_path / store_name, particles=12, chunk_size=chunk_size,
                 scheduler=scheduler, workers=2)
    arrays, attrs = stored(tmp_path / store_name)
    want = jetimg.preprocess(jets, particles=12)
    assert arrays["particles"].dtype == np.float32 and arrays["particles"].shape == (60, 12, 11)
    for name, a in want.items():
        np.testing.assert_array_equal(arrays[name], a, err_msg=name)
    assert attrs["particle_features"] == list(PARTICLE_FEATURES)
    assert attrs["recipe"]["particles"] == 12
    # a build of a part of the rows equals those rows of the whole
    jetimg.build(path, tmp_path / ("part_" + store_name), particles=12, limit=25, chunk_size=4)
    np.testing.assert_array_equal(stored(tmp_path / ("part_" + store_name))[0]["particles"],
                                  arrays["particles"][:25])


def test_a_resume_refuses_another_number_of_particles(toy_file, tmp_path):
    from .helpers import StopAfter

    path, jets = toy_file
    out = tmp_path / "images.zarr"
    options = dict(chunk_size=10, workers=1)
    with pytest.raises(KeyboardInterrupt):
        jetimg.build(path, out, particles=5, progress=StopAfter(20), **options)
    for other in (6, None):
        with pytest.raises(InputError, match="differs") as err:
            jetimg.build(path, out, particles=other, resume=True, **options)
        assert "particles" in str(err.value)
    jetimg.build(path, out, particles=5, resume=True, **options)
    np.testing.assert_array_equal(stored(out)[0]["particles"],
                                  jetimg.preprocess(jets, particles=5)["particles"])


def test_cli_build_info_verify_and_refusals(toy_file, tmp_path):
    from .helpers import invoke, one_line

    path, _ = toy_file
    out = tmp_path / "cli.zarr"
    result = invoke("build", path, "-o", out, "--particles", "9", "--npix", "16")
    assert result.exit_code == 0, result.output
    info = invoke("info", out)
    assert info.exit_code == 0
    line = next(x for x in info.output.splitlines() if x.startswith("particles"))
    assert "(60, 9, 11)" in line and "up to 9 per jet" in line and "log_pt_rel" in line
    verified = invoke("verify", out, "--input", path)
    assert verified.exit_code == 0, verified.output
    report = jetimg.verify(out, path)
    assert report.ok
    # a changed particle is found by recomputing
    import zarr

    zarr.open_group(str(out), mode="r+")["particles"][31, 0, 2] += 0.5
    assert "particles differs at row 31" in dict(
        (name, detail) for name, ok, detail in jetimg.verify(out, path).checks)["recompute"]
    for bad in ("0", "-2", "many"):
        result = invoke("build", path, "-o", tmp_path / "bad.zarr", "--particles", bad)
        assert result.exit_code == 2 and "--particles" in result.stderr
        assert not (tmp_path / "bad.zarr").exists()
    result = invoke("build", path, "-o", tmp_path / "p.h5", "--layout", "pandas-images",
                    "--particles", "3")
    assert "--particles 3" in one_line(result)


def test_build_of_the_jetclass_sample_has_kind_features(tmp_path):
    from jetimg.io.readers.sources import JetSource

    if not hasattr(JetSource, "read_charges"):
        pytest.skip("needs JetSource.read_charges (particle charges from the readers)")
    jets, kinds, charges = jetclass_rows(per_file=None)  # every row of the sample
    out = tmp_path / "jetclass.zarr"
    files = str(sample_path("jetclass") / "*.root")
    jetimg.build(files, out, particles=40, chunk_size=150)
    arrays, attrs = stored(out)
    assert attrs["particle_features"] == list(PARTICLE_FEATURES + KIND_FEATURES)
    want = jetimg.preprocess(jets, particles=40, kinds=kinds, charges=charges)["particles"]
    np.testing.assert_array_equal(arrays["particles"], want)
    assert jetimg.verify(out, files).ok


def described(compressors):
    """zarr codecs as name and settings, less blosc's typesize (set from the dtype on write)."""
    out = []
    for c in compressors:
        d = c.to_dict()
        out.append((d["name"], {k: v for k, v in d.get("configuration", {}).items()
                                if k != "typesize"}))
    return out


def stored_codecs(path, name):
    """The codec an array of a store was written with: zarr's compressors, or the
    HDF5 filter id and the options that the filter's caller sets."""
    from jetimg.io.store import stores

    if stores.store_format(path) == "zarr":
        import zarr

        return described(zarr.open_group(str(path), mode="r")[name].compressors)
    import h5py

    with h5py.File(path, "r") as f:
        filters = f[name]._filters
    # blosc (32001) fills its first four options itself (version, type size, chunk bytes)
    return {int(k): tuple(v)[4:] if int(k) == 32001 else tuple(v) for k, v in filters.items()}


def codec_of(path, codec):
    """What stored_codecs reads from an array written with ``codec``."""
    from jetimg.io.store import stores

    if stores.store_format(path) == "zarr":
        return described(stores._zarr_codecs(codec) or ())
    filt = stores._hdf5_filter(codec)
    return {filt.filter_id: filt.filter_options[4:] if filt.filter_id == 32001
            else filt.filter_options} if filt else {}


@pytest.mark.parametrize("store_name, codec", [("d.zarr", None), ("d.h5", None),
                                               ("z.zarr", "zstd"), ("b.h5", "blosc-zstd")])
def test_particles_are_compressed_with_the_store_codec(toy_file, tmp_path, store_name, codec):
    """bench_codecs.py's particle table chose the store's codec for particles too
    (benchmarks/README.md): the particles array is written with it and reads back equal."""
    from jetimg.io.store.stores import DEFAULT_CODEC

    path, jets = toy_file
    out = tmp_path / store_name
    jetimg.build(path, out, particles=12, **({"codec": codec} if codec else {}))
    want = codec_of(out, codec or DEFAULT_CODEC)
    assert stored_codecs(out, "particles") == want == stored_codecs(out, "images")
    assert want  # compressed: none of these is codec "none"
    np.testing.assert_array_equal(stored(out)[0]["particles"],
                                  jetimg.preprocess(jets, particles=12)["particles"])
