"""jetimg.simulate: Pythia 8 + FastJet jets, and physics sanity of the shipped sample.

The sample tests and the option checks need no Pythia; the generation tests
are skipped without the ``sim`` extra (pythia8mc, fastjet).
"""

import os

import numpy as np
import pytest

import jetimg
from jetimg.data import SAMPLE_SIZE, sample_path
from jetimg.errors import InputError, JetimgError, OutputExistsError
from jetimg.simulate import PROCESSES, pythia_seed, pythia_settings, sim_available, simulate_jets

needs_sim = pytest.mark.skipif(not sim_available(),
                               reason="needs the sim extra (pythia8mc, fastjet)")

MASSES = {"top": (150, 200), "w": (65, 100), "z": (75, 110), "higgs": (100, 140)}


def masses_of(jets):
    """Mass (GeV) of the summed four-vector of each jet, float64."""
    p4 = jets.astype(np.float64).sum(axis=1)
    return np.sqrt(np.maximum(p4[:, 0] ** 2 - (p4[:, 1:] ** 2).sum(axis=1), 0.0))


def pts_etas_of(jets):
    p4 = jets.astype(np.float64).sum(axis=1)
    pts = np.hypot(p4[:, 1], p4[:, 2])
    return pts, np.arcsinh(p4[:, 3] / pts)


def rapidity_phi(p4):
    p4 = np.asarray(p4, dtype=np.float64)
    return 0.5 * np.log((p4[..., 0] + p4[..., 3]) / (p4[..., 0] - p4[..., 3])), \
        np.arctan2(p4[..., 2], p4[..., 1])


def delta_r(a, b):
    ya, pa = rapidity_phi(a)
    yb, pb = rapidity_phi(b)
    return np.hypot(ya - yb, (pa - pb + np.pi) % (2 * np.pi) - np.pi)


def check_jets(jets, labels, truth, pt_min=550.0, pt_max=650.0, eta_max=2.0, min_count=3):
    """Layout and selection of generated jets (float32 rounding allowed)."""
    n = len(labels)
    assert jets.shape == (n, 200, 4) and jets.dtype == np.float32
    assert labels.dtype == np.int8 and truth.shape == (n, 4)
    present = jets[:, :, 0] > 0
    # Constituents first, then zero padding; sorted by pT.
    assert not (np.diff(present.astype(np.int8), axis=1) > 0).any()
    assert (jets[~present] == 0).all()
    pts = np.hypot(jets[..., 1].astype(np.float64), jets[..., 2].astype(np.float64))
    assert (np.diff(pts, axis=1) <= 0).all()
    assert (pts[present] > 0).all() and np.isfinite(jets).all()
    counts = present.sum(axis=1)
    assert (counts >= min_count).all() and (counts <= 200).all()
    jet_pts, jet_etas = pts_etas_of(jets)
    assert (jet_pts > pt_min * (1 - 1e-5)).all() and (jet_pts < pt_max * (1 + 1e-5)).all()
    assert (np.abs(jet_etas) < eta_max + 1e-4).all()
    assert (truth[labels == 0] == 0).all()
    signal = labels == 1
    if signal.any():
        jet_p4 = jets[signal].astype(np.float64).sum(axis=1)
        assert (delta_r(jet_p4, truth[signal]) < 0.8 + 1e-4).all()


# ---- the shipped sample: no Pythia needed ----------------------------------------------

@pytest.fixture(scope="module")
def sample():
    source = jetimg.open_jets(sample_path())
    jets, labels = source.read(0, source.n_rows)
    pd = pytest.importorskip("pandas")
    frame = pd.read_hdf(sample_path(), "table")
    return jets, labels, frame[["truth_E", "truth_PX", "truth_PY", "truth_PZ", "ttv"]]


def test_sample_is_small_and_balanced(sample):
    jets, labels, truth = sample
    assert os.path.getsize(sample_path()) < 10e6
    assert len(labels) == SAMPLE_SIZE and int(labels.sum()) == SAMPLE_SIZE // 2
    assert (truth["ttv"] == 0).all()
    # Shuffled: neither half is all one class.
    half = SAMPLE_SIZE // 2
    assert 0 < labels[:half].sum() < half


def test_sample_layout_and_selection(sample):
    jets, labels, truth = sample
    check_jets(jets, labels, truth.to_numpy()[:, :4].astype(np.float32), min_count=5)


def test_sample_top_mass_peaks_near_the_top(sample):
    jets, labels, truth = sample
    top = masses_of(jets[labels == 1])
    assert 150 < np.median(top) < 200
    hist, edges = np.histogram(top, bins=np.arange(0, 301, 10))
    assert 150 <= edges[hist.argmax()] < 200
    truth_mass = masses_of(truth.to_numpy()[labels == 1, None, :4].astype(np.float32))
    assert 165 < np.median(truth_mass) < 180


def test_sample_qcd_mass_falls(sample):
    jets, labels, _ = sample
    qcd = masses_of(jets[labels == 0])
    top = masses_of(jets[labels == 1])
    assert np.median(qcd) < 110 and np.median(qcd) < np.median(top) - 60
    hist, _ = np.histogram(qcd, bins=[0, 50, 100, 150, 200, 250, 300])
    assert hist[1] == hist.max()  # peaks at low mass (50-100 GeV)...
    assert (np.diff(hist[1:]) < 0).all()  # ...and falls from there


def test_sample_builds(tmp_path):
    result = jetimg.build(sample_path(), tmp_path / "img.zarr", limit=100)
    store = jetimg.open_store(tmp_path / "img.zarr")
    assert result.n_jets == 100 and store.attrs["complete"] is True
    assert (store["valid"][:] == 1).all()
    assert np.allclose(store["images"][:].sum(axis=(1, 2)), 1.0, atol=1e-5)


def test_jetclass_sample_five_classes():
    pytest.importorskip("uproot")
    from jetimg.data import JETCLASS_SAMPLE_SIZE, sample_files, sample_path

    files = sample_files("jetclass")
    assert [os.path.basename(f) for f in files] == [
        "HToBB_000.root", "TTBar_000.root", "WToQQ_000.root", "ZJetsToNuNu_000.root",
        "ZToQQ_000.root"]
    assert sum(os.path.getsize(f) for f in files) < 5e6
    assert sample_path("jetclass").is_dir()
    from jetimg.io.readers.multi import open_inputs

    source = open_inputs(files)
    assert source.n_rows == 5 * JETCLASS_SAMPLE_SIZE
    jets, labels = source.read(0, source.n_rows)
    names = [source.label_names[i] for i in np.unique(labels)]
    assert names == ["QCD", "Hbb", "Zqq", "Wqq", "Tbqq"]
    assert (np.bincount(labels) [np.unique(labels)] == JETCLASS_SAMPLE_SIZE).all()
    masses = masses_of(jets)
    medians = {source.label_names[c]: np.median(masses[labels == c]) for c in np.unique(labels)}
    assert 140 < medians["Tbqq"] < 200 and 65 < medians["Wqq"] < 100
    assert 75 < medians["Zqq"] < 110 and 100 < medians["Hbb"] < 140 and medians["QCD"] < 110
    with pytest.raises(InputError, match="no sample 'x'"):
        sample_path("x")


def test_build_sample_option(tmp_path):
    pytest.importorskip("uproot")
    from click.testing import CliRunner

    from jetimg_cli.build import build

    runner = CliRunner()
    result = runner.invoke(build, ["--sample", "jetclass", "-o", str(tmp_path / "jc.zarr"),
                                   "-q", "--limit", "50"])
    assert result.exit_code == 0, result.output
    store = jetimg.open_store(tmp_path / "jc.zarr")
    assert list(store.attrs["label_names"])[:2] == ["QCD", "Hbb"]
    result = runner.invoke(build, ["--sample", "-o", str(tmp_path / "tt.zarr"), "-q",
                                   "--limit", "20"])
    assert result.exit_code == 0, result.output
    assert list(jetimg.open_store(tmp_path / "tt.zarr").attrs["label_names"]) == ["QCD", "top"]
    bad = runner.invoke(build, ["--sample", "nope", "-o", str(tmp_path / "b.zarr")])
    assert bad.exit_code == 2 and "nope" in bad.output


# ---- options: checked before Pythia is imported -----------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    (dict(processes=("top", "photon")), "unknown process 'photon'"),
    (dict(processes="top,,qcd"), "unknown process"),
    (dict(processes=()), "unknown process"),
    (dict(processes=("top", "top")), "twice"),
    (dict(pt_min=650.0, pt_max=550.0), "pt_max"),
    (dict(pt_min=600.0, pt_max=600.0), "pt_max"),
    (dict(pt_min=-1.0), "pt_min"),
    (dict(eta_max=0.0), "eta_max"),
    (dict(seed=-1), "seed"),
    (dict(pthat_range=(700.0, 500.0)), "pthat_range"),
])
def test_bad_options(kwargs, match):
    with pytest.raises(InputError, match=match):
        simulate_jets(10, **kwargs)


@pytest.mark.parametrize("n", [0, -3, 1.5, True])
def test_bad_n_jets(n):
    with pytest.raises(InputError, match="n_jets"):
        simulate_jets(n)


def test_missing_extra_names_it(monkeypatch, tmp_path):
    import sys

    for name in ("pythia8mc", "pythia8", "fastjet"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(JetimgError, match=r"pip install 'jetimg\[sim\]'"):
        simulate_jets(4)
    with pytest.raises(JetimgError, match=r"pip install 'jetimg\[sim\]'"):
        jetimg.simulate.simulate(tmp_path / "x.h5", 4)
    assert not sim_available()
    assert not list(tmp_path.iterdir())


def test_seeds_and_settings():
    seeds = {pythia_seed(s, p) for s in (0, 1, 2**40) for p in PROCESSES}
    assert len(seeds) == 3 * len(PROCESSES)
    assert all(1 <= s <= 900_000_000 for s in seeds)
    settings = pythia_settings("top", 1000, 1200, seed=5)
    assert "PartonLevel:MPI = off" in settings and "Beams:eCM = 14000" in settings
    assert "PhaseSpace:pTHatMin = 800" in settings and "PhaseSpace:pTHatMax = 1440" in settings
    assert f"Random:seed = {pythia_seed(5, 'top')}" in settings


# ---- generation: needs pythia8mc and fastjet ---------------------------------------------

@needs_sim
@pytest.mark.parametrize("process", PROCESSES)
def test_each_process(process):
    jets, labels, truth = simulate_jets(24, [process], seed=3)
    check_jets(jets, labels, truth)
    assert (labels == (process != "qcd")).all()
    masses = masses_of(jets)
    if process == "qcd":
        assert np.median(masses) < 130
    else:
        lo, hi = MASSES[process]
        assert lo < np.median(masses) < hi
        truth_mass = masses_of(truth[:, None, :])
        assert np.allclose(np.median(truth_mass), {"top": 172.5, "w": 80.4, "z": 91.2,
                                                   "higgs": 125.0}[process], rtol=0.03)


@needs_sim
def test_reproducible_and_shuffled():
    a = simulate_jets(40, ("top", "qcd"), seed=9, return_process=True)
    b = simulate_jets(40, ("top", "qcd"), seed=9, return_process=True)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    jets, labels, truth, process = a
    assert int(labels.sum()) == 20 and (process == 1 - labels).all()
    assert 0 < labels[:20].sum() < 20
    c = simulate_jets(40, ("top", "qcd"), seed=10)
    assert not np.array_equal(c[0], jets)
    # A process's jets depend on the seed and that process only.
    top = simulate_jets(20, ["top"], seed=9)[0]
    key = np.lexsort(top[:, 0, :].T)
    mixed_top = jets[labels == 1]
    np.testing.assert_array_equal(top[key], mixed_top[np.lexsort(mixed_top[:, 0, :].T)])


@needs_sim
def test_uneven_counts_and_window():
    jets, labels, truth, process = simulate_jets(
        7, ("w", "qcd"), pt_min=300, pt_max=400, eta_max=1.0, seed=2, return_process=True)
    assert np.bincount(process).tolist() == [4, 3]
    check_jets(jets, labels, truth, pt_min=300, pt_max=400, eta_max=1.0)


@needs_sim
def test_simulate_writes_the_reference_layout(tmp_path, capfd):
    pd = pytest.importorskip("pandas")
    out = tmp_path / "jets.h5"
    calls = []
    assert jetimg.simulate.simulate(out, 30, ("z", "qcd"), seed=4,
                                    progress=lambda d, t: calls.append((d, t))) == out
    assert capfd.readouterr().out == ""  # no Pythia or FastJet banner
    assert calls[0] == (0, 30) and calls[-1] == (30, 30)
    assert [p.name for p in tmp_path.iterdir()] == ["jets.h5"]
    frame = pd.read_hdf(out, "table")
    assert len(frame) == 30 and frame.shape[1] == 200 * 4 + 6
    assert frame["E_0"].dtype == np.float32 and (frame["ttv"] == 0).all()
    source = jetimg.open_jets(out)
    jets, labels = source.read(0, 30)
    expected = simulate_jets(30, ("z", "qcd"), seed=4)
    np.testing.assert_array_equal(jets, expected[0])
    np.testing.assert_array_equal(labels, expected[1])
    np.testing.assert_array_equal(
        frame[["truth_E", "truth_PX", "truth_PY", "truth_PZ"]].to_numpy(), expected[2])
    result = jetimg.build(out, tmp_path / "img.h5")
    assert result.n_jets == 30
    with pytest.raises(OutputExistsError):
        jetimg.simulate.simulate(out, 30, ("z", "qcd"))


@needs_sim
def test_cli(tmp_path):
    from click.testing import CliRunner

    from jetimg_cli.simulate import simulate

    out = tmp_path / "jets.h5"
    runner = CliRunner()
    result = runner.invoke(simulate, ["-o", str(out), "-n", "12", "--process", "higgs,qcd",
                                      "--seed", "1", "--complib", "zlib"])
    assert result.exit_code == 0, result.output
    assert "12 jets" in result.output and out.exists()
    assert jetimg.open_jets(out).n_rows == 12
    again = runner.invoke(simulate, ["-o", str(out), "-n", "12"])
    assert again.exit_code == 1 and "already exists" in again.output
    bad = runner.invoke(simulate, ["-o", str(tmp_path / "b.h5"), "-n", "4", "--process", "top,x"])
    assert bad.exit_code == 1 and bad.output.count("\n") == 1 and "unknown process 'x'" in bad.output
    half = runner.invoke(simulate, ["-o", str(tmp_path / "c.h5"), "-n", "4", "--pthat-min", "400"])
    assert half.exit_code == 2 and "--pthat-max" in half.output


# ---- the JetClass and quark/gluon layouts ---------------------------------------------

JETCLASS_NAMES = {"top": ("TTBar_000.root", "Tbqq"), "w": ("WToQQ_000.root", "Wqq"),
                  "z": ("ZToQQ_000.root", "Zqq"), "higgs": ("HToBB_000.root", "Hbb"),
                  "qcd": ("ZJetsToNuNu_000.root", "QCD")}


def test_layout_options_checked_first(tmp_path):
    with pytest.raises(InputError, match="layout='csv'"):
        jetimg.simulate.simulate(tmp_path / "x", 4, layout="csv")
    with pytest.raises(InputError, match="takes no processes"):
        jetimg.simulate.simulate(tmp_path / "x.npz", 4, ("top",), layout="qg")
    with pytest.raises(InputError, match="complib"):
        jetimg.simulate.simulate(tmp_path / "x", 4, layout="jetclass", complib="zlib")
    assert not list(tmp_path.iterdir())


def test_layout_settings():
    jc = pythia_settings("qcd", 500, 1000, layout="jetclass")
    assert "Beams:eCM = 13000" in jc and "PartonLevel:MPI = on" in jc
    assert "WeakBosonAndParton:qg2gmZq = on" in jc and "23:onIfAny = 12 14 16" in jc
    assert "PhaseSpace:pTHatMin = 400" in jc and "PhaseSpace:pTHatMax = 1200" in jc
    quark = pythia_settings("quark", 500, 550, layout="qg")
    gluon = pythia_settings("gluon", 500, 550, layout="qg")
    assert "PartonLevel:MPI = on" in quark and "Beams:eCM = 14000" in quark
    assert "WeakBosonAndParton:qg2gmZq = on" in quark
    assert "WeakBosonAndParton:qqbar2gmZg = on" in gluon
    # the top-tagging seeds are unchanged; each layout seeds apart
    assert pythia_seed(0, "top") == pythia_seed(0, "top", "toptag")
    assert pythia_seed(0, "top", "jetclass") != pythia_seed(0, "top")
    with pytest.raises(InputError, match="unknown process 'top' for layout 'qg'"):
        pythia_settings("top", layout="qg")


@needs_sim
def test_jetclass_layout(tmp_path):
    pytest.importorskip("uproot")
    from jetimg.io.readers.root import CLASSES
    from jetimg.kinds import KIND_CODE

    out = tmp_path / "jc"
    calls = []
    paths = jetimg.simulate.simulate(out, 6, "top,w,z,higgs,qcd", seed=2, layout="jetclass",
                                     progress=lambda d, t: calls.append((d, t)))
    assert calls[0] == (0, 30) and calls[-1] == (30, 30)
    assert [p.name for p in paths] == [JETCLASS_NAMES[p][0] for p in PROCESSES]
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths)
    from jetimg.io.readers.multi import open_inputs

    source = open_inputs([str(p) for p in paths])
    assert source.n_rows == 30 and list(source.label_names) == list(CLASSES)
    jets, labels = source.read(0, 30)
    expected = [CLASSES.index(JETCLASS_NAMES[p][1]) for p in PROCESSES]
    assert labels.tolist() == [c for c in expected for _ in range(6)]
    p4 = jets.astype(np.float64).sum(axis=1)
    pts, etas = np.hypot(p4[:, 1], p4[:, 2]), np.arcsinh(p4[:, 3] / np.hypot(p4[:, 1], p4[:, 2]))
    assert (pts > 500 * (1 - 1e-5)).all() and (pts < 1000 * (1 + 1e-5)).all()
    assert (np.abs(etas) < 2 + 1e-4).all()
    kinds = source.read_kinds(0, 30)
    present = jets[..., 0] > 0
    assert (kinds[present] > 0).all() and (kinds[~present] == 0).all()
    for kind in ("photon", "charged_hadron", "neutral_hadron"):
        assert (kinds == KIND_CODE[kind]).any()
    import uproot

    with uproot.open(paths[0]) as f:
        tree = f["tree"]
        labels_found = [k for k in tree.keys() if k.startswith("label_")]
        assert len(labels_found) == 10
        arrays = tree.arrays(["part_charge", "part_isChargedHadron", "part_isElectron",
                              "part_isMuon", "label_Tbqq", "label_QCD"], library="np")
    assert (arrays["label_Tbqq"] == 1).all() and (arrays["label_QCD"] == 0).all()
    charges = np.concatenate(arrays["part_charge"])
    charged = np.concatenate(arrays["part_isChargedHadron"]) + np.concatenate(
        arrays["part_isElectron"]) + np.concatenate(arrays["part_isMuon"])
    assert ((charges != 0) == (charged == 1)).all()
    # top jets are heavy, Z + jet jets are not
    masses = masses_of(jets)
    assert np.median(masses[labels == CLASSES.index("Tbqq")]) > 140
    assert np.median(masses[labels == 0]) < 130
    # the same seed, one process: the same file contents
    again = jetimg.simulate.simulate(tmp_path / "again", 6, ["top"], seed=2, layout="jetclass")
    np.testing.assert_array_equal(jetimg.open_jets(str(again[0])).read(0, 6)[0],
                                  jetimg.open_jets(str(paths[0])).read(0, 6)[0])
    with pytest.raises(OutputExistsError, match="TTBar_000.root"):
        jetimg.simulate.simulate(out, 6, ["top"], layout="jetclass")


@needs_sim
def test_qg_layout(tmp_path):
    out = tmp_path / "qg.npz"
    assert jetimg.simulate.simulate(out, 12, seed=3, layout="qg") == out
    with np.load(out) as f:
        X, y = f["X"], f["y"]
    assert X.dtype == np.float64 and X.shape[0] == 12 and X.shape[2] == 4
    assert y.dtype == np.float64 and int(y.sum()) == 6 and set(y.tolist()) == {0.0, 1.0}
    present = X[..., 0] > 0
    assert (X[~present] == 0).all() and (np.diff(X[..., 0], axis=1) <= 0).all()
    assert ((X[..., 2][present] >= 0) & (X[..., 2][present] < 2 * np.pi)).all()
    pids = np.abs(X[..., 3][present])
    assert np.isin(pids, (22, 211, 321, 130, 2212, 2112, 11, 13, 3122, 3112, 3222, 3312,
                          3322, 3334, 310)).mean() > 0.95 and (pids == 22).any()
    source = jetimg.open_jets(out)
    jets, labels = source.read(0, 12)
    assert list(source.label_names) == ["gluon", "quark"]
    np.testing.assert_array_equal(labels, y.astype(np.int8))
    p4 = jets.astype(np.float64).sum(axis=1)
    pts = np.hypot(p4[:, 1], p4[:, 2])
    rap = 0.5 * np.log((p4[:, 0] + p4[:, 3]) / (p4[:, 0] - p4[:, 3]))
    assert (pts > 500 * (1 - 1e-4)).all() and (pts < 550 * (1 + 1e-4)).all()
    assert (np.abs(rap) < 1.7 + 1e-4).all()
    # gluon jets have more constituents
    counts = present.sum(axis=1)
    assert counts[y == 0].mean() > counts[y == 1].mean()


@needs_sim
def test_cli_layouts(tmp_path):
    from click.testing import CliRunner

    from jetimg_cli.simulate import simulate

    runner = CliRunner()
    result = runner.invoke(simulate, ["--layout", "jetclass", "-o", str(tmp_path / "jc"),
                                      "-n", "3", "--process", "w,qcd", "--seed", "1", "-q"])
    assert result.exit_code == 0, result.output
    assert "6 jets (w,qcd)" in result.output and "WToQQ_000.root" in result.output
    assert sorted(p.name for p in (tmp_path / "jc").iterdir()) == ["WToQQ_000.root",
                                                                    "ZJetsToNuNu_000.root"]
    result = runner.invoke(simulate, ["--layout", "qg", "-o", str(tmp_path / "qg.npz"),
                                      "-n", "4", "-q"])
    assert result.exit_code == 0, result.output and "4 jets (quark,gluon)" in result.output
    bad = runner.invoke(simulate, ["--layout", "qg", "-o", str(tmp_path / "b.npz"), "-n", "4",
                                   "--process", "top"])
    assert bad.exit_code == 1 and "takes no processes" in bad.output
