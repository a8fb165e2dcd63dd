"""EnergyFlow quark/gluon .npz files, PDG ids -> kinds, pid arrays beside plain arrays."""

import math
import zipfile

import h5py
import numpy as np
import pytest

from jetimg import preprocess
from jetimg.errors import InputError
from jetimg.io import open_jets
from jetimg.io.writers.qg import toy_qg, write_qg
from jetimg.kinds import KIND_CODE, kinds_from_pdg, masses_from_pdg

K = KIND_CODE
PDG_TABLE = [  # id, kind by hand
    (22, "photon"), (11, "electron"), (-11, "electron"), (13, "muon"), (-13, "muon"),
    (211, "charged_hadron"), (-211, "charged_hadron"), (321, "charged_hadron"),
    (-321, "charged_hadron"), (2212, "charged_hadron"), (-2212, "charged_hadron"),
    (3222, "charged_hadron"), (3112, "charged_hadron"), (3312, "charged_hadron"),
    (3334, "charged_hadron"), (-3334, "charged_hadron"), (15, "charged_hadron"),
    (130, "neutral_hadron"), (310, "neutral_hadron"), (2112, "neutral_hadron"),
    (-2112, "neutral_hadron"), (3122, "neutral_hadron"), (111, "neutral_hadron"),
    (0, "neutral_hadron"), (12, "neutral_hadron"), (99, "neutral_hadron"),
    (9999999, "neutral_hadron"), (-111, "neutral_hadron"), (213, "charged_hadron"),
    (421, "neutral_hadron"), (411, "charged_hadron"), (521, "charged_hadron"),
    (1000010020, "charged_hadron"),
]


def test_kinds_from_pdg_table():
    ids = np.array([p for p, _ in PDG_TABLE])
    want = [K[k] for _, k in PDG_TABLE]
    assert kinds_from_pdg(ids).tolist() == want
    assert kinds_from_pdg(ids.astype(np.float64)).tolist() == want
    assert kinds_from_pdg(ids.reshape(-1, 1)).shape == (len(ids), 1)


def test_masses():
    got = masses_from_pdg([211, -211, 321, -321, 130, 2212, -2212, 2112, 11, -11, 13, -13,
                           22, 310, 0])
    assert got.tolist() == [0.13957, 0.13957, 0.493677, 0.493677, 0.497611, 0.938272,
                            0.938272, 0.939565, 0.000511, 0.000511, 0.105658, 0.105658,
                            0.0, 0.0, 0.0]


@pytest.fixture(scope="module")
def qg(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("qg")
    X, y = toy_qg(60, seed=4)
    paths = {}
    for comp in (True, False):
        paths[comp] = tmp / f"QG_{'deflated' if comp else 'stored'}.npz"
        write_qg(paths[comp], X, y, compressed=comp)
    return X, y, paths


def by_hand(X):
    out = np.zeros(X.shape, np.float64)
    masses = {211: 0.13957, 321: 0.493677, 130: 0.497611, 2212: 0.938272, 2112: 0.939565,
              11: 0.000511, 13: 0.105658}
    for i, j in np.ndindex(X.shape[:2]):
        pt, rap, phi, pid = X[i, j]
        m = masses.get(abs(int(pid)), 0.0)
        mt = math.sqrt(pt * pt + m * m)
        out[i, j] = (mt * math.cosh(rap), pt * math.cos(phi), pt * math.sin(phi),
                     mt * math.sinh(rap))
    return out.astype(np.float32)


@pytest.mark.parametrize("compressed", [True, False])
def test_read_qg(qg, compressed, request):
    X, y, paths = qg
    src = open_jets(paths[compressed])
    request.addfinalizer(src.close)
    assert (src.layout, src.n_rows, src.n_slots) == ("qg-npz", 60, X.shape[1])
    assert src.label_names == ("gluon", "quark") and src.has_kinds
    want = by_hand(X)
    for a, b in [(0, 7), (7, 30), (3, 10), (30, 60), (0, 60)]:   # backwards too
        jets, labels = src.read(a, b)
        np.testing.assert_allclose(jets, want[a:b], rtol=1e-6, atol=1e-6)
        assert labels.tolist() == y[a:b].astype(int).tolist()
        kinds = src.read_kinds(a, b)
        pad = (X[a:b] == 0).all(-1)
        assert (kinds[pad] == 0).all()
        assert (kinds[~pad] == kinds_from_pdg(X[a:b][..., 3])[~pad]).all()
    assert src.read_kinds(5, 9).tolist() == src.read_kinds(5, 9).tolist()


def test_images_equal_preprocess(qg):
    X, _, paths = qg
    from tests.reference import reference_preprocess

    jets, _ = open_jets(paths[True]).read(0, 20)
    got = preprocess(jets)
    want = reference_preprocess(jets.astype(np.float64))
    np.testing.assert_allclose(got["images"], want["images"], atol=2e-5)


def test_non_finite_row_is_invalid(tmp_path):
    X, y = toy_qg(5, seed=1)
    X[3, 0, 1] = np.nan
    path = tmp_path / "bad.npz"
    write_qg(path, X, y)
    jets, _ = open_jets(path).read(0, 5)
    assert not np.isfinite(jets[3, 0]).any() and np.isfinite(jets[[0, 1, 2, 4]]).all()
    from jetimg.errors import InvalidJetError

    with pytest.raises(InvalidJetError) as err:
        preprocess(jets)
    assert err.value.row == 3
    out = preprocess(jets, invalid="skip")
    assert out["valid"].tolist() == [1, 1, 1, 0, 1]


def test_bad_inputs(tmp_path):
    X, y = toy_qg(4, seed=2)
    cases = {
        "noX": ({"y": y}, "no array 'X'"),
        "noy": ({"X": X}, "no array 'y'"),
        "shape": ({"X": X[..., :3], "y": y}, r"expected \(N, M, 4\)"),
        "ylen": ({"X": X, "y": y[:3]}, "3 rows but the jets have 4"),
    }
    for name, (arrays, match) in cases.items():
        p = tmp_path / f"{name}.npz"
        np.savez_compressed(p, **arrays)
        with pytest.raises(InputError, match=match):
            open_jets(p)
    bad = tmp_path / "junk.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(InputError, match="not a readable .npz"):
        open_jets(bad)
    with zipfile.ZipFile(tmp_path / "noX.npz") as zf:
        assert zf.namelist() == ["y.npy"]


def test_pid_arrays(tmp_path):
    jets = np.zeros((6, 3, 4), np.float32)
    jets[:, :2] = [10.0, 6.0, 8.0, 0.0]
    pid = np.array([[211, 22, 0]] * 6)
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f["jets"] = jets
        f["pid"] = pid
        f["bad"] = pid[:, :2]
    src = open_jets(tmp_path / "a.h5")
    assert src.has_kinds
    assert src.read_kinds(1, 3).tolist() == [[K["charged_hadron"], K["photon"], 0]] * 2
    with pytest.raises(InputError, match=r"PDG ids '/bad' .* expected \(6, 3\)"):
        open_jets(tmp_path / "a.h5", pid_key="bad")
    np.save(tmp_path / "j.npy", jets)
    np.save(tmp_path / "p.npy", pid)
    np.save(tmp_path / "q.npy", pid[:5])
    src = open_jets(tmp_path / "j.npy", pid_key="p.npy")
    assert src.read_kinds(0, 1).tolist() == [[K["charged_hadron"], K["photon"], 0]]
    assert not open_jets(tmp_path / "j.npy").has_kinds
    with pytest.raises(InputError, match="expected"):
        open_jets(tmp_path / "j.npy", pid_key="q.npy")


def test_builds_of_qg_files_agree_whatever_the_chunks(qg, tmp_path):
    import jetimg
    from tests.helpers import read_store

    X, y, paths = qg
    stores = {}
    for comp, chunk, workers in [(True, 60, 1), (True, 7, 2), (False, 13, 2)]:
        out = tmp_path / f"{comp}-{chunk}-{workers}.zarr"
        jetimg.build(paths[comp], out, chunk_size=chunk, workers=workers)
        stores[out.name] = read_store(out)
    (first, attrs), *rest = stores.values()
    for arrays, _ in rest:
        for name, a in first.items():
            np.testing.assert_array_equal(arrays[name], a, err_msg=name)
    jets, labels = open_jets(paths[True]).read(0, len(y))
    np.testing.assert_array_equal(first["images"], preprocess(jets)["images"])
    np.testing.assert_array_equal(first["labels"], labels)
    assert list(attrs["label_names"]) == ["gluon", "quark"]


def test_cli_bad_qg_and_pid_inputs_are_one_line(tmp_path):
    from click.testing import CliRunner

    from jetimg_cli.main import cli

    X, y = toy_qg(4, seed=2)
    np.savez_compressed(tmp_path / "noX.npz", y=y)
    jets = np.zeros((6, 3, 4), np.float32)
    jets[:, :2] = [10.0, 6.0, 8.0, 0.0]
    np.save(tmp_path / "j.npy", jets)
    np.save(tmp_path / "q.npy", np.zeros((5, 3), np.int64))
    write_qg(tmp_path / "qg.npz", X, y)
    cases = [
        (["build", str(tmp_path / "noX.npz"), "-o", str(tmp_path / "a.zarr")], "no array 'X'"),
        (["build", str(tmp_path / "j.npy"), "--pid-key", str(tmp_path / "q.npy"),
          "-o", str(tmp_path / "b.zarr")], "expected"),
        (["build", str(tmp_path / "qg.npz"), "--pid-key", "pid", "-o", str(tmp_path / "c.zarr")],
         "--pid-key"),
    ]
    for args, words in cases:
        result = CliRunner().invoke(cli, args)
        lines = result.output.strip().splitlines()
        assert result.exit_code == 1, result.output
        assert len(lines) == 1 and lines[0].startswith("Error: ") and words in lines[0], lines
        assert not (tmp_path / args[-1]).exists()
