"""Builds of multi-channel images (SPEC.md "Step 6: channels"), read back and compared.

A channels build makes images (N, npix, npix, C), one channel per name, and
must hold, bit for bit, ``jetimg.preprocess(jets, recipe, kinds=kinds)`` of
the same rows read through ``jetimg.io.open_inputs`` (``read`` and
``read_kinds``), whatever the chunk size (also across file boundaries),
worker count or store format. Inputs with particle kinds: the shipped
JetClass-layout sample (five ROOT files, kinds from part_is*), a quark/gluon
``.npz`` (kinds from X's PDG ids) and plain (N, M, 4) arrays with a PDG-id
array beside them (.npy with ``pid_key``, HDF5 with a ``pid_key`` dataset,
Zarr with ``pid`` found beside the jets), whose kinds are written out by hand
here. Also: ``verify`` recomputes channels stores (and names the row of a
changed pixel), an interrupted channels build resumes to the same arrays,
``info`` shows the channels, and what is refused is refused in one line
before anything is written.
"""

import h5py
import numpy as np
import pytest

import jetimg
from jetimg.data import sample_path
from jetimg.errors import InputError, RecipeError
from jetimg.io import open_inputs
from jetimg.io.writers.qg import toy_qg, write_qg
from jetimg.pipeline import build_progress
from jetimg.recipe import Recipe
from jetimg.toys import toy_jets

from .helpers import (StopAfter, assert_bit_identical, check_attrs, invoke, listing, one_line, read_store)
from .reference import KIND_CODE

zarr = pytest.importorskip("zarr")
pytest.importorskip("uproot")

NPIX = 16
#: channels of the JetClass-layout builds: by kind, one count, one of every particle
CHANNELS = ["charged_pt", "neutral_pt", "charged_count", "e"]
#: channels of the quark/gluon and plain-array builds: every kind group touched
KIND_CHANNELS = ["charged_pt", "neutral_pt", "photon_e", "muon_count", "electron_pt",
                 "neutral_hadron_count", "count"]
JETCLASS_ROWS = 3000
JETCLASS_FILES = ["HToBB_000.root", "TTBar_000.root", "WToQQ_000.root",
                  "ZJetsToNuNu_000.root", "ZToQQ_000.root"]
JETCLASS_NAMES = ["QCD", "Hbb", "Hcc", "Hgg", "H4q", "Hqql", "Zqq", "Wqq", "Tbqq", "Tbl"]


def expected_from(source, recipe, n_rows):
    """What a store of rows 0:n_rows of ``source`` must hold: its jets and kinds
    as ``read`` / ``read_kinds`` give them, through ``jetimg.preprocess``, and
    its labels."""
    jets, labels = source.read(0, n_rows)
    kinds = source.read_kinds(0, n_rows)
    assert kinds.shape == jets.shape[:2]
    out = {name: np.asarray(a) for name, a in
           jetimg.preprocess(jets, recipe, kinds=kinds).items()}
    out["labels"] = np.asarray(labels).astype(np.int8)
    return out


def check_channels_store(arrays, n_rows, n_channels):
    assert arrays["images"].shape == (n_rows, NPIX, NPIX, n_channels)
    assert arrays["images"].dtype == np.float32


# ---------------------------------------------------------------------------
# the JetClass-layout sample: five ROOT files of 600 jets
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def jetclass():
    """The sample's quoted glob, the recipe and what every build of all its rows holds."""
    pattern = str(sample_path("jetclass")) + "/*.root"
    recipe = Recipe(npix=NPIX, channels=CHANNELS)
    with open_inputs(pattern) as source:
        assert (source.n_rows, source.has_kinds) == (JETCLASS_ROWS, True)
        want = expected_from(source, recipe, JETCLASS_ROWS)
    # The channels are what their names say: charged + neutral pt sum to one
    # ("sum" of the pt over every constituent), counts are whole numbers.
    images = want["images"].astype(np.float64)
    sums = images[..., 0].sum(axis=(1, 2)) + images[..., 1].sum(axis=(1, 2))
    np.testing.assert_allclose(sums, 1.0, rtol=1e-5)
    assert np.array_equal(images[..., 2], np.round(images[..., 2])) and images[..., 2].max() > 1
    return pattern, recipe, want


@pytest.mark.parametrize("fmt, chunk_size, workers", [
    ("zarr", 700, 1),      # chunks across every file boundary (600, 1200, ...)
    ("zarr", 3000, 2),     # one chunk of all five files
    ("h5", 1000, 2),       # three chunks, two of them across boundaries
    ("h5", 700, 1),
])
def test_jetclass_channels_store_equals_preprocess(jetclass, tmp_path, fmt, chunk_size,
                                                  workers):
    pattern, recipe, want = jetclass
    out = tmp_path / f"images.{fmt}"
    result = jetimg.build(pattern, out, recipe, chunk_size=chunk_size, workers=workers)
    assert (result.n_jets, result.n_invalid) == (JETCLASS_ROWS, 0)
    arrays, attrs = read_store(out)
    check_channels_store(arrays, JETCLASS_ROWS, len(CHANNELS))
    assert_bit_identical(arrays, want)
    check_attrs(attrs, recipe=recipe, input_name=JETCLASS_FILES, input_rows=JETCLASS_ROWS,
                n_jets=JETCLASS_ROWS, label_names=JETCLASS_NAMES)
    assert list(attrs["recipe"]["channels"]) == CHANNELS
    assert listing(tmp_path) == [out.name]


def test_jetclass_limit_and_one_intensity_channel(jetclass, tmp_path):
    # channels=[the intensity] is the image without channels, with a last axis of 1
    pattern, _, _ = jetclass
    jetimg.build(pattern, tmp_path / "one.zarr", npix=NPIX, channels=["pt"], limit=650,
                 chunk_size=500)
    jetimg.build(pattern, tmp_path / "plain.zarr", npix=NPIX, limit=650, chunk_size=500)
    one, attrs = read_store(tmp_path / "one.zarr")
    plain, _ = read_store(tmp_path / "plain.zarr")
    assert one["images"].shape == (650, NPIX, NPIX, 1) and attrs["n_jets"] == 650
    # the same pixels to float32 rounding (a channel adds pT / sum, the single
    # image divides the sum of pT), every other array bit for bit
    single = plain.pop("images")
    np.testing.assert_allclose(one.pop("images")[..., 0], single, rtol=1e-6,
                               atol=1e-7 * single.max())
    assert_bit_identical(one, plain)


# ---------------------------------------------------------------------------
# quark/gluon .npz and plain arrays with PDG ids
# ---------------------------------------------------------------------------

#: PDG ids drawn for the plain arrays, and their kinds by hand (SPEC Step 6)
PDG_KINDS = {22: "photon", 11: "electron", -11: "electron", 13: "muon", -13: "muon",
             211: "charged_hadron", -211: "charged_hadron", 321: "charged_hadron",
             2212: "charged_hadron", -3312: "charged_hadron", 130: "neutral_hadron",
             2112: "neutral_hadron", 310: "neutral_hadron", 3122: "neutral_hadron",
             0: "neutral_hadron", 111: "neutral_hadron"}
PLAIN_ROWS, PLAIN_SLOTS = 600, 100


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """Toy jets with PDG ids in three plain layouts: .npy with a pid .npy, HDF5 with
    the ids under a name found only with pid_key, a Zarr group with ``pid`` beside
    the jets (found by itself); and the kinds of every slot by hand."""
    folder = tmp_path_factory.mktemp("plain")
    jets, labels = toy_jets(PLAIN_ROWS, n_slots=PLAIN_SLOTS, seed=21)
    rng = np.random.default_rng(21)
    ids = np.array(list(PDG_KINDS))
    pid = rng.choice(ids, size=jets.shape[:2]).astype(np.int64)
    padding = ~jets.any(axis=2)
    assert padding.any() and not padding.all()
    pid[padding & (rng.random(padding.shape) < 0.5)] = 0
    pid[padding & (pid != 0)] = 211     # an id on padding: padding all the same
    kinds = np.vectorize(lambda p: KIND_CODE[PDG_KINDS[int(p)]], otypes=[np.int8])(pid)
    kinds[padding] = 0
    np.save(folder / "jets.npy", jets)
    np.save(folder / "labels.npy", labels)
    np.save(folder / "pid.npy", pid)
    with h5py.File(folder / "arrays.h5", "w") as f:
        f.create_dataset("jets", data=jets)
        f.create_dataset("labels", data=labels.astype(np.int64))
        f.create_dataset("pdg", data=pid.astype(np.int32))
    group = zarr.open_group(str(folder / "jets.zarr"), mode="w")
    group.create_array("jets", data=jets, chunks=(128, PLAIN_SLOTS, 4))
    group.create_array("labels", data=labels)
    group.create_array("pid", data=pid)
    inputs = {
        "npy": (folder / "jets.npy", dict(labels_key=str(folder / "labels.npy"),
                                          pid_key=str(folder / "pid.npy"))),
        "hdf5": (folder / "arrays.h5", dict(key="jets", labels_key="labels", pid_key="pdg")),
        "zarr": (folder / "jets.zarr", {}),
    }
    return jets, labels, kinds, inputs


@pytest.fixture(scope="module")
def qg(tmp_path_factory):
    """A quark/gluon .npz of 500 toy jets."""
    path = tmp_path_factory.mktemp("qg") / "QG_jets.npz"
    X, y = toy_qg(500, seed=8)
    write_qg(path, X, y)
    return path, X, y


def plain_expected(plain, recipe):
    """What a store of the plain arrays holds: their jets with the kinds by hand."""
    jets, labels, kinds, _ = plain
    want = {name: np.asarray(a) for name, a in
            jetimg.preprocess(jets, recipe, kinds=kinds).items()}
    want["labels"] = labels.astype(np.int8)
    return want


@pytest.mark.parametrize("layout", ["npy", "hdf5", "zarr"])
def test_plain_arrays_with_pdg_ids(plain, tmp_path, layout):
    _, _, kinds, inputs = plain
    path, kwargs = inputs[layout]
    recipe = Recipe(npix=NPIX, channels=KIND_CHANNELS)
    with open_inputs(path, **kwargs) as source:
        assert source.has_kinds
        for start, stop in [(0, PLAIN_ROWS), (5, 9), (130, 400)]:    # read again and again
            np.testing.assert_array_equal(source.read_kinds(start, stop), kinds[start:stop])
            source.read(start, stop)
    want = plain_expected(plain, recipe)
    for fmt, chunk_size, workers in [("zarr", 90, 2), ("h5", 250, 1)]:
        out = tmp_path / f"{layout}.{fmt}"
        jetimg.build(path, out, recipe, chunk_size=chunk_size, workers=workers, **kwargs)
        arrays, attrs = read_store(out)
        check_channels_store(arrays, PLAIN_ROWS, len(KIND_CHANNELS))
        assert_bit_identical(arrays, want)
        check_attrs(attrs, recipe=recipe, input_name=path.name, input_rows=PLAIN_ROWS,
                    n_jets=PLAIN_ROWS, label_names=None)
    # every kind channel holds something: the ids reach every group
    assert all(want["images"][..., c].any() for c in range(len(KIND_CHANNELS)))


def test_pdg_ids_reach_the_worker_processes(plain, tmp_path):
    # the processes scheduler pickles the source: where its ids are goes with it
    path, kwargs = plain[3]["hdf5"]
    recipe = Recipe(npix=NPIX, channels=KIND_CHANNELS)
    out = tmp_path / "p.zarr"
    jetimg.build(path, out, recipe, chunk_size=150, workers=2, scheduler="processes", **kwargs)
    assert_bit_identical(read_store(out)[0], plain_expected(plain, recipe))


def test_quark_gluon_npz(qg, tmp_path):
    path, X, y = qg
    recipe = Recipe(npix=NPIX, channels=KIND_CHANNELS)
    with open_inputs(path) as source:
        want = expected_from(source, recipe, len(y))
    for fmt, chunk_size, workers in [("zarr", 500, 1), ("zarr", 33, 2), ("h5", 120, 2)]:
        out = tmp_path / f"qg-{chunk_size}.{fmt}"
        jetimg.build(path, out, recipe, chunk_size=chunk_size, workers=workers)
        arrays, attrs = read_store(out)
        check_channels_store(arrays, len(y), len(KIND_CHANNELS))
        assert_bit_identical(arrays, want)
        check_attrs(attrs, recipe=recipe, input_name=path.name, input_rows=len(y),
                    n_jets=len(y), label_names=["gluon", "quark"])
    # the photons of X (id 22) are the photon_e channel's: none without them
    photon = KIND_CHANNELS.index("photon_e")
    has_photon = ((X[..., 3] == 22) & (X[..., 0] > 0)).any(axis=1)
    assert has_photon.any()
    assert not want["images"][~has_photon, ..., photon].any()


# ---------------------------------------------------------------------------
# verify and info
# ---------------------------------------------------------------------------

def test_cli_build_verify_and_info_of_a_jetclass_store(jetclass, tmp_path):
    pattern, recipe, want = jetclass
    out = tmp_path / "jc.zarr"
    result = invoke("build", pattern, "-o", out, "--npix", NPIX, "--channels", ",".join(CHANNELS),
                    "--chunk-size", 1000, "-q")
    assert result.exit_code == 0, result.output
    assert_bit_identical(read_store(out)[0], want)

    report = jetimg.verify(out, pattern)
    assert report.ok, str(report)
    checks = {name: detail for name, _, detail in report.checks}
    assert "recompute" in checks and f"x {len(CHANNELS)} channels" in checks["arrays"]

    result = invoke("verify", out, "--input", pattern)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == f"{out}: OK"
    assert "ok    recompute" in result.output

    result = invoke("info", out)
    assert result.exit_code == 0, result.output
    lines = {line[:13].strip(): line[13:] for line in result.output.splitlines()}
    assert lines["images"] == f"({JETCLASS_ROWS}, {NPIX}, {NPIX}, {len(CHANNELS)}) float32"
    assert "channels=" in lines["recipe"]
    shown = lines["recipe"].split("channels=", 1)[1]
    at = [shown.index(f"'{name}'") for name in CHANNELS]     # each one, in order
    assert at == sorted(at), shown


@pytest.mark.parametrize("layout, pid_key", [("npy", "pid.npy"), ("hdf5", "pdg")])
def test_verify_plain_arrays_with_pid_key(plain, tmp_path, layout, pid_key):
    _, _, _, inputs = plain
    path, kwargs = inputs[layout]
    out = tmp_path / "s.h5"
    jetimg.build(path, out, npix=NPIX, channels=KIND_CHANNELS, chunk_size=200, **kwargs)
    assert jetimg.verify(out, path, **kwargs).ok
    extra = ["--labels-key", kwargs["labels_key"]]
    extra += ["--key", kwargs["key"]] if "key" in kwargs else []
    pid = str(path.parent / pid_key) if layout == "npy" else pid_key
    result = invoke("verify", out, "--input", path, "--pid-key", pid, *extra)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == f"{out}: OK"
    # Without the ids the kinds cannot be recomputed: a failed check naming the
    # channel and the option that gives them.
    result = invoke("verify", out, "--input", path, *extra)
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    failed = [line for line in result.output.splitlines() if line.startswith("FAIL")]
    assert len(failed) == 1 and "recompute" in failed[0], result.output
    assert "channel charged_pt" in failed[0] and "--pid-key" in failed[0], failed[0]


def test_verify_names_the_row_of_a_changed_channel(qg, tmp_path):
    path, _, y = qg
    out = tmp_path / "s.h5"
    jetimg.build(path, out, npix=NPIX, channels=KIND_CHANNELS, chunk_size=200)
    assert jetimg.verify(out, path, n_sample=len(y)).ok
    row, channel = 417, KIND_CHANNELS.index("neutral_pt")
    with h5py.File(out, "r+") as f:
        image = f["images"][row]
        image[NPIX // 2, NPIX // 2, channel] += 0.25
        f["images"][row] = image
    report = jetimg.verify(out, path, n_sample=len(y))
    assert not report.ok
    failed = [detail for name, ok, detail in report.checks if not ok]
    assert failed == [f"images differs at row {row}"], failed


# ---------------------------------------------------------------------------
# interrupted and resumed
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["jetclass", "npy"])
def test_interrupted_channels_build_resumes_bit_identical(jetclass, plain, tmp_path, which):
    if which == "jetclass":
        path, recipe, want = jetclass
        kwargs, n_rows, chunk = {}, JETCLASS_ROWS, 250
        names, label_names = JETCLASS_FILES, JETCLASS_NAMES
    else:
        path, kwargs = plain[3]["npy"]
        recipe = Recipe(npix=NPIX, channels=KIND_CHANNELS)
        want = plain_expected(plain, recipe)
        n_rows, chunk, names, label_names = PLAIN_ROWS, 50, path.name, None
    out = tmp_path / "images.zarr"
    options = dict(chunk_size=chunk, workers=1, **kwargs)
    with pytest.raises(KeyboardInterrupt):
        jetimg.build(path, out, recipe, progress=StopAfter(2 * chunk), **options)
    done, total = build_progress(out)
    assert 2 * chunk <= done < total == n_rows
    with jetimg.open_store(out) as store:
        assert store.attrs["complete"] is False
    # Other channels, or the same in another order, are another recipe: refused,
    # and the interrupted store is left as it is.
    for other in (CHANNELS[::-1] if which == "jetclass" else KIND_CHANNELS[::-1],
                  ["pt"]):
        with pytest.raises(InputError, match="differs"):
            jetimg.build(path, out, recipe, resume=True, channels=other, **options)
        assert build_progress(out) == (done, total)
    result = jetimg.build(path, out, recipe, resume=True, **options)
    assert (result.n_jets, result.n_made) == (n_rows, n_rows - done)
    arrays, attrs = read_store(out)
    assert_bit_identical(arrays, want)
    check_attrs(attrs, recipe=recipe, input_name=names, input_rows=n_rows, n_jets=n_rows,
                label_names=label_names)
    assert listing(tmp_path) == ["images.zarr"]


# ---------------------------------------------------------------------------
# refusals: one line, before anything is written
# ---------------------------------------------------------------------------

def test_kind_channel_on_the_top_tagging_sample_is_refused(tmp_path):
    out = tmp_path / "x.zarr"
    line = one_line(invoke("build", "--sample", "-o", out, "--channels", "pt,charged_pt"))
    assert "charged_pt" in line and "--pid-key" in line and "pid_key" not in line, line
    assert listing(tmp_path) == []
    with pytest.raises(InputError, match="charged_pt") as info:
        jetimg.build(sample_path(), out, channels=["pt", "charged_pt"])
    assert "pid_key=" in str(info.value)
    assert listing(tmp_path) == []


def test_kind_channel_on_plain_arrays_without_ids_is_refused(plain, tmp_path):
    _, _, _, inputs = plain
    path, _ = inputs["npy"]
    out = tmp_path / "x.h5"
    line = one_line(invoke("build", path, "-o", out, "--channels", "count,neutral_hadron_e"))
    assert "neutral_hadron_e" in line and "--pid-key" in line, line
    assert listing(tmp_path) == []


def test_channels_without_kinds_on_the_top_tagging_sample(tmp_path):
    # pt, e and count select no kind: the top-tagging layout builds them
    path = sample_path()
    recipe = Recipe(npix=NPIX, channels=["e", "count", "pt"])
    jetimg.build(path, tmp_path / "a.zarr", recipe, limit=300, chunk_size=128)
    arrays, _ = read_store(tmp_path / "a.zarr")
    with open_inputs(path) as source:
        jets, labels = source.read(0, 300)
    want = {name: np.asarray(a) for name, a in jetimg.preprocess(jets, recipe).items()}
    assert_bit_identical(arrays, {**want, "labels": labels.astype(np.int8)})


def test_pandas_images_with_channels_is_refused(plain, tmp_path):
    _, _, _, inputs = plain
    path, kwargs = inputs["npy"]
    out = tmp_path / "img.h5"
    line = one_line(invoke("build", path, "-o", out, "--layout", "pandas-images",
                           "--channels", "pt,e", "--pid-key", kwargs["pid_key"]))
    assert "pandas-images" in line and "pt, e" in line, line
    assert listing(tmp_path) == []
    with pytest.raises(InputError, match="pandas-images"):
        jetimg.build(path, out, layout="pandas-images", channels=["charged_pt"], **kwargs)
    assert listing(tmp_path) == []


@pytest.mark.parametrize("channels, bad, words", [
    ("pt,charged_ptt", "charged_ptt", "is not a channel name"),
    ("Charged_pt", "Charged_pt", "is not a channel name"),
    ("pt,e,pt", "pt,e,pt", "names pt more than once"),
    ("charged_count,photon_e,charged_count", "charged_count,photon_e,charged_count",
     "names charged_count more than once"),
])
def test_bad_channel_names_are_refused(qg, tmp_path, channels, bad, words):
    path, _, _ = qg
    out = tmp_path / "x.zarr"
    line = one_line(invoke("build", path, "-o", out, "--channels", channels))
    assert f"Error: --channels {bad} {words}" in line, line
    assert listing(tmp_path) == []
    with pytest.raises(RecipeError) as info:
        jetimg.build(path, out, channels=channels.split(","))
    assert str(info.value).startswith(f"channels='{bad}' {words}"), info.value
    assert listing(tmp_path) == []
