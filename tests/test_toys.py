"""Tests of jetimg.toys: toy jets and the top-tagging file writer."""

import os
import sys

import numpy as np
import pytest

from jetimg.toys import jets_from_ptetaphi, toptag_columns, toy_jets, write_toptag

try:
    import pandas as pd
    import tables
except ImportError:  # the writer tests need the `toys` extra
    pd = tables = None

needs_toys = pytest.mark.skipif(pd is None, reason="needs pandas and tables: jetimg[toys]")


@pytest.fixture(scope="module")
def sample():
    """4000 mixed jets, shared by the statistical tests."""
    return toy_jets(4000, seed=11)


def kinematics(jets):
    """Float64 pT, phi, validity mask and summed-four-vector mass."""
    p4s = jets.astype(np.float64)
    pts = np.hypot(p4s[..., 1], p4s[..., 2])
    phis = np.arctan2(p4s[..., 2], p4s[..., 1])
    valid = p4s[..., 0] > 0
    tot = p4s.sum(axis=1)
    masses = np.sqrt(np.maximum(tot[:, 0] ** 2 - (tot[:, 1:] ** 2).sum(axis=1), 0.0))
    return pts, phis, valid, masses


def straddles(jets):
    """Whether each jet has constituents on both sides of phi = +-pi.

    A jet spans less than 1.6 in phi, so its constituents' atan2 phi values
    spread over more than pi exactly when the jet crosses the seam.
    """
    _, phis, valid, _ = kinematics(jets)
    hi = np.where(valid, phis, -np.inf).max(axis=1)
    lo = np.where(valid, phis, np.inf).min(axis=1)
    return hi - lo > np.pi


# ---------------------------------------------------------------- toy_jets


def test_deterministic_by_seed():
    a, la = toy_jets(300, seed=5)
    b, lb = toy_jets(300, seed=5)
    c, lc = toy_jets(300, seed=6)
    assert np.array_equal(a, b) and np.array_equal(la, lb)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("kind, label", [("top", 1), ("qcd", 0)])
def test_shapes_dtypes_and_kinds(kind, label):
    jets, labels = toy_jets(37, kind=kind, seed=1)
    assert jets.shape == (37, 200, 4) and jets.dtype == np.float32
    assert labels.shape == (37,) and labels.dtype == np.int8
    assert (labels == label).all()


def test_empty():
    jets, labels = toy_jets(0, n_slots=9)
    assert jets.shape == (0, 9, 4) and labels.shape == (0,)


def test_constituents_sorted_valid_and_padding_zero(sample):
    jets, _ = sample
    pts, _, valid, _ = kinematics(jets)
    assert np.isfinite(jets).all()
    # Constituents first, then padding only.
    assert (np.diff(valid.astype(np.int8), axis=1) <= 0).all()
    assert (pts[valid] > 0).all() and (jets[..., 0][valid] > 0).all()
    # Padding is exactly +0.0 in all four components.
    pad = jets[~valid]
    assert (pad == 0).all() and not np.signbit(pad).any()
    # Sorted by pT (from the stored float32 values) descending.
    assert (np.diff(pts, axis=1) <= 0).all()


def test_massless(sample):
    p4s = sample[0].astype(np.float64)
    e2 = p4s[..., 0] ** 2
    p2 = (p4s[..., 1:] ** 2).sum(axis=-1)
    assert (np.abs(e2 - p2) <= 1e-5 * e2).all()


def test_label_balance_and_shuffle():
    _, labels = toy_jets(1001, seed=3)
    assert labels.sum() == 500
    assert set(np.unique(labels)) == {0, 1}
    assert 0 < labels[:500].sum() < 500  # shuffled, not half then half


def test_straddle_fraction(sample):
    jets, _ = sample
    assert 0.15 <= straddles(jets).mean() <= 0.35


def test_constituents_within_jet_radius(sample):
    jets, _ = sample
    p4s = jets.astype(np.float64)
    pts, phis, valid, _ = kinematics(jets)
    etas = np.arcsinh(np.divide(p4s[..., 3], pts, out=np.zeros_like(pts), where=valid))
    tot = p4s.sum(axis=1)
    jet_eta = np.arcsinh(tot[:, 3] / np.hypot(tot[:, 1], tot[:, 2]))
    jet_phi = np.arctan2(tot[:, 2], tot[:, 1])
    dphi = np.mod(phis - jet_phi[:, None] + np.pi, 2 * np.pi) - np.pi
    dr = np.hypot(etas - jet_eta[:, None], dphi)
    assert (dr[valid] < 1.0).all()


def test_constituent_counts(sample):
    jets, labels = sample
    counts = (jets[..., 0] > 0).sum(axis=1)
    top, qcd = counts[labels == 1].mean(), counts[labels == 0].mean()
    assert 60 <= top <= 85
    assert 40 <= qcd < top
    assert counts.min() >= 15 and counts.max() <= 200


def test_masses(sample):
    jets, labels = sample
    masses = kinematics(jets)[3]
    top, qcd = masses[labels == 1], masses[labels == 0]
    assert top.mean() > qcd.mean() + 50
    assert 140 <= np.median(top) <= 210
    assert 20 <= np.median(qcd) <= 100


def test_jet_pt_and_eta(sample):
    tot = sample[0].astype(np.float64).sum(axis=1)
    jet_pt = np.hypot(tot[:, 1], tot[:, 2])
    assert 570 <= jet_pt.mean() <= 630 and jet_pt.std() < 60
    jet_eta = np.arcsinh(tot[:, 3] / jet_pt)
    assert np.abs(jet_eta).max() < 2.3 and jet_eta.min() < -1.5 and jet_eta.max() > 1.5


@pytest.mark.parametrize("n_slots", [1, 30, 250])
def test_other_slot_counts_truncate_softest(n_slots):
    full, labels = toy_jets(200, seed=2)
    jets, labels_m = toy_jets(200, n_slots=n_slots, seed=2)
    assert jets.shape == (200, n_slots, 4)
    assert np.array_equal(labels, labels_m)
    keep = min(n_slots, 200)
    assert np.array_equal(jets[:, :keep], full[:, :keep])
    assert (jets[:, keep:] == 0).all()


@pytest.mark.parametrize("fraction", [0.0, 0.3, 1.0])
def test_wrap_fraction_is_exact(fraction):
    jets, _ = toy_jets(500, n_slots=40, seed=4, wrap_fraction=fraction)
    assert straddles(jets).sum() == round(fraction * 500)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"kind": "gluon"}, ValueError),
        ({"n_slots": 0}, ValueError),
        ({"n_slots": 2.5}, ValueError),
        ({"wrap_fraction": 1.5}, ValueError),
        ({"pt": -1.0}, ValueError),
    ],
)
def test_bad_arguments(kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        toy_jets(3, **kwargs)


# ---------------------------------------------------------- jets_from_ptetaphi


def test_jets_from_ptetaphi_by_hand():
    pts = np.array([[10.0, 2.0, 0.0]])
    etas = np.array([[0.0, 1.0, 3.0]])
    phis = np.array([[np.pi / 2, np.pi, -1.0]])
    p4s = jets_from_ptetaphi(pts, etas, phis)
    assert p4s.shape == (1, 3, 4) and p4s.dtype == np.float64
    expected = [
        [10.0, 0.0, 10.0, 0.0],
        [2 * np.cosh(1.0), -2.0, 0.0, 2 * np.sinh(1.0)],
        [0.0, 0.0, 0.0, 0.0],
    ]
    np.testing.assert_allclose(p4s[0], expected, atol=1e-12)
    assert not np.signbit(p4s[0, 2]).any()


def test_jets_from_ptetaphi_broadcasts():
    p4s = jets_from_ptetaphi(np.ones((2, 5)), 0.0, np.zeros(5))
    assert p4s.shape == (2, 5, 4)
    assert (p4s[..., 0] == 1).all() and (p4s[..., 3] == 0).all()


# ------------------------------------------------------------- write_toptag

@pytest.fixture(scope="module")
def small():
    jets, labels = toy_jets(57, n_slots=12, seed=8)
    truth = np.random.default_rng(0).normal(size=(57, 4)).astype(np.float32)
    return jets, labels, truth


def check_read_back(path, jets, labels, truth=None):
    df = pd.read_hdf(path, "table")
    n, m = jets.shape[:2]
    names = toptag_columns(m, labels is not None)
    assert list(df.columns) == names
    assert df.shape == (n, len(names))
    assert list(df.index) == list(range(n))
    for name in names[: 4 * m + 4]:
        assert df[name].dtype == np.float32, name
    assert df["ttv"].dtype == np.int64 and (df["ttv"] == 0).all()
    values = df[names[: 4 * m]].to_numpy()
    assert np.array_equal(values, jets.reshape(n, 4 * m))
    assert np.array_equal(values.reshape(n, m, 4)[:, :, 1], jets[:, :, 1])  # PX_i
    t = df[["truth_E", "truth_PX", "truth_PY", "truth_PZ"]].to_numpy()
    assert np.array_equal(t, np.zeros((n, 4)) if truth is None else truth)
    if labels is not None:
        assert df["is_signal_new"].dtype == np.int64
        assert np.array_equal(df["is_signal_new"].to_numpy(), labels)


@needs_toys
@pytest.mark.parametrize("chunk_rows", [10, 100_000])
@pytest.mark.parametrize("complib", [None, "zlib"])
def test_write_fixed_round_trip(tmp_path, small, complib, chunk_rows):
    jets, labels, truth = small
    path = tmp_path / "toy.h5"
    out = write_toptag(path, jets, labels, complib=complib, truth=truth, chunk_rows=chunk_rows)
    assert out == path
    assert os.listdir(tmp_path) == ["toy.h5"]
    check_read_back(path, jets, labels, truth)
    with tables.open_file(path) as h5:
        values = h5.get_node("/table/block0_values")
        assert values.shape == (57, 12 * 4 + 4)
        if complib is None:
            assert not isinstance(values, tables.CArray)
        else:
            assert values.filters.complib == complib and values.filters.complevel == 5


@needs_toys
def test_write_fixed_chunked_matches_pandas(tmp_path, small):
    """The chunked "fixed" writer gives pandas' own layout, node for node."""
    jets, labels, truth = small
    write_toptag(tmp_path / "a.h5", jets, labels, complib="blosc", chunk_rows=7)
    write_toptag(tmp_path / "b.h5", jets, labels, complib="blosc", chunk_rows=1000)

    def layout(path):
        with tables.open_file(path) as h5:
            return {
                node._v_pathname: (
                    type(node).__name__,
                    getattr(node, "shape", None),
                    getattr(node, "chunkshape", None),
                    str(getattr(node, "filters", None)),
                    {k: str(node._v_attrs[k]) for k in node._v_attrs._f_list("all")},
                )
                for node in h5.walk_nodes("/")
            }

    assert layout(tmp_path / "a.h5") == layout(tmp_path / "b.h5")


@needs_toys
def test_write_table_blosc_round_trip(tmp_path, small):
    jets, labels, _ = small
    path = tmp_path / "toy_table.h5"
    write_toptag(str(path), jets, labels, format="table", complib="blosc", chunk_rows=20)
    check_read_back(path, jets, labels)
    with tables.open_file(path) as h5:
        table = h5.get_node("/table/table")
        assert table.nrows == 57 and table.filters.complib == "blosc"


@needs_toys
def test_write_without_labels_and_other_m(tmp_path):
    jets, _ = toy_jets(9, n_slots=3, seed=1)
    for fmt in ("fixed", "table"):
        path = tmp_path / f"{fmt}.h5"
        write_toptag(path, jets, format=fmt, chunk_rows=4)
        check_read_back(path, jets, None)
        assert "is_signal_new" not in pd.read_hdf(path, "table").columns


@needs_toys
def test_write_replaces_existing(tmp_path, small):
    jets, labels, _ = small
    path = tmp_path / "toy.h5"
    path.write_text("old")
    write_toptag(path, jets[:5], labels[:5])
    check_read_back(path, jets[:5], labels[:5])


@needs_toys
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"format": "parquet"}, "format"),
        ({"complib": "gzip"}, "complib"),
        ({"chunk_rows": 0}, "chunk_rows"),
        ({"labels": np.zeros(3)}, "labels"),
        ({"truth": np.zeros((57, 3))}, "truth"),
    ],
)
def test_write_bad_arguments(tmp_path, small, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        write_toptag(tmp_path / "x.h5", small[0], **kwargs)
    assert os.listdir(tmp_path) == []


def test_write_names_the_extra_when_pandas_is_missing(tmp_path, small, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"pip install 'jetimg\[pandas\]'"):
        write_toptag(tmp_path / "x.h5", small[0])
