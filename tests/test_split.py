"""``jetimg split``: exact per-class counts, every row in one part, the input's layout kept.

Inputs are written in their real layouts with their own tools (pandas
``to_hdf``, uproot ``mktree`` through jetimg.io.writers.jetclass, ``np.savez``,
h5py, ``np.save``). For each layout a part holds, column by column, the input
rows its row map names; the reader opens it with the same labels, class
names and kinds; and a build of the part equals those rows of a build of the
whole input.
"""

import json
import os
import pathlib
import re
import subprocess
import sys

import h5py
import numpy as np
import pytest

import jetimg
from jetimg.io.split import ROWS_DTYPE, assign_parts, largest_remainder, split
from jetimg.io.writers.jetclass import write_jetclass
from jetimg.io.writers.qg import toy_qg, write_qg
from jetimg.recipe import Recipe

from .helpers import invoke, listing, one_line, read_store, snapshot

pd = pytest.importorskip("pandas")
uproot = pytest.importorskip("uproot")
ak = pytest.importorskip("awkward")

RECIPE = Recipe(npix=12)


def toy(n, m, seed):
    """Toy (E, px, py, pz) jets with zero padding, and a random multiplicity."""
    jets, _ = jetimg.toys.toy_jets(n, n_slots=m, seed=seed)
    return jets


# ---------------------------------------------------------------------------
# the assignment
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("n, fractions, want", [
    (10, (0.6, 0.2, 0.2), [6, 2, 2]),
    (7, (0.6, 0.2, 0.2), [4, 2, 1]),        # quotas 4.2, 1.4, 1.4: the tie to the earlier
    (10, (1 / 3, 1 / 3, 1 / 3), [4, 3, 3]),  # 3.33 each: one left, to the first
    (5, (0.5, 0.25, 0.25), [3, 1, 1]),      # 2.5, 1.25, 1.25: the largest remainder is 0.5
    (3, (0.7, 0.1, 0.2), [2, 0, 1]),        # 2.1, 0.3, 0.6
    (0, (0.5, 0.5), [0, 0]),
])
def test_largest_remainder_by_hand(n, fractions, want):
    assert largest_remainder(n, fractions) == want


def test_counts_add_up_and_stay_within_one_of_the_quota():
    rng = np.random.default_rng(5)
    for _ in range(200):
        k = int(rng.integers(2, 6))
        fracs = rng.dirichlet(np.ones(k)) + 1e-3
        fracs = fracs / fracs.sum()
        n = int(rng.integers(0, 1000))
        counts = largest_remainder(n, fracs)
        assert sum(counts) == n
        assert all(abs(c - n * f) < 1 for c, f in zip(counts, fracs))


def test_assignment_exact_per_class_and_seeded():
    labels = np.repeat(np.array([3, 0, 1], np.int8), [17, 101, 40])
    labels = labels[np.random.default_rng(2).permutation(len(labels))]
    fracs = (0.6, 0.25, 0.15)
    part = assign_parts(labels, len(labels), fracs, seed=7)
    assert part.shape == labels.shape and set(np.unique(part)) == {0, 1, 2}
    for cls in (0, 1, 3):
        got = np.bincount(part[labels == cls], minlength=3).tolist()
        assert got == largest_remainder(int((labels == cls).sum()), fracs)
    assert np.array_equal(part, assign_parts(labels, len(labels), fracs, seed=7))
    assert not np.array_equal(part, assign_parts(labels, len(labels), fracs, seed=8))
    one = assign_parts(None, 11, (0.5, 0.5), seed=0)
    assert np.bincount(one).tolist() == [6, 5]


# ---------------------------------------------------------------------------
# inputs in every layout
# ---------------------------------------------------------------------------

def toptag_frame(n, m, seed):
    """A top-tagging frame: E_i, PX_i, ..., truth_*, ttv, is_signal_new, a shuffled index."""
    rng = np.random.default_rng(seed)
    jets = toy(n, m, seed)
    frame = pd.DataFrame(jets.reshape(n, 4 * m),
                         columns=[f"{c}_{i}" for i in range(m) for c in ("E", "PX", "PY", "PZ")])
    for c in ("E", "PX", "PY", "PZ"):
        frame[f"truth_{c}"] = rng.normal(size=n).astype(np.float32)
    frame["ttv"] = rng.integers(0, 3, n)
    frame["is_signal_new"] = (rng.random(n) < 0.3).astype(np.int64)
    frame.index = rng.permutation(10 * n)[:n]
    return frame


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("split_inputs")
    out = {}
    # top-tagging: "fixed" compressed, and "table" with a data column
    frame = toptag_frame(230, 6, seed=1)
    out["fixed"] = folder / "toptag_fixed.h5"
    frame.to_hdf(out["fixed"], key="table", format="fixed", complib="zlib", complevel=5)
    out["table"] = folder / "toptag_table.h5"
    frame.to_hdf(out["table"], key="table", format="table", data_columns=["is_signal_new"])
    # JetClass: one class per file, as the released files
    jc = folder / "jetclass"
    jc.mkdir()
    rng = np.random.default_rng(3)
    for name, cls, n in (("HToBB_000.root", 1, 70), ("TTBar_000.root", 8, 55),
                         ("ZJetsToNuNu_000.root", 0, 90)):
        jets = toy(n, 9, seed=cls)
        kinds = rng.integers(1, 6, jets.shape[:2]).astype(np.int8)
        write_jetclass(jc / name, jets, np.full(n, cls), kinds=kinds, basket_rows=25)
    out["jetclass"] = jc
    # quark/gluon .npz: deflated and stored
    X, y = toy_qg(150, seed=4)
    out["qg"] = folder / "QG_jets.npz"
    write_qg(out["qg"], X, y)
    out["qg_stored"] = folder / "QG_stored.npz"
    write_qg(out["qg_stored"], X, y, compressed=False)
    # plain HDF5: jets, labels with label_names, pid, a non-row dataset, attributes
    n = 160
    jets = toy(n, 7, seed=5)
    out["hdf5"] = folder / "plain.h5"
    with h5py.File(out["hdf5"], "w") as f:
        f.attrs["source"] = "toy"
        f.create_dataset("jets", data=jets, chunks=(32, 7, 4), compression="gzip")
        lab = f.create_dataset("labels", data=np.arange(n) % 3)
        lab.attrs["label_names"] = ["a", "b", "c"]
        f.create_dataset("pid", data=rng.choice([22, 211, -211, 130, 11], (n, 7)))
        f.create_dataset("meta/weights", data=np.array([1.0, 2.0, 3.0]))
    # .npy with a labels and a PDG-id file beside it
    n = 120
    out["npy"] = folder / "npy" / "jets.npy"
    out["npy"].parent.mkdir()
    np.save(out["npy"], toy(n, 5, seed=6))
    np.save(out["npy"].parent / "labels.npy", (np.arange(n) % 2).astype(np.int8))
    np.save(out["npy"].parent / "pid.npy", rng.choice([22, 211, 2112], (n, 5)))
    # Zarr: a group (format 3, chunks, shards, a compressor) with labels, label_names, pid,
    # a non-row array and attributes; and one array (format 2) with labels and PDG-id stores
    out.update(write_zarr_inputs(folder, rng))
    return out


def write_zarr_inputs(folder, rng):
    zarr = pytest.importorskip("zarr")
    from zarr.codecs import ZstdCodec

    out = {}
    n = 140
    out["zarr"] = folder / "plain.zarr"
    root = zarr.open_group(store=out["zarr"], mode="w", zarr_format=3,
                           attributes={"source": "toy"})
    root.create_array("jets", data=toy(n, 7, seed=7), chunks=(16, 7, 4), shards=(64, 7, 4),
                      compressors=ZstdCodec(level=3))
    lab = root.create_array("labels", data=(np.arange(n) % 3).astype(np.int16), chunks=(50,))
    lab.attrs["label_names"] = ["a", "b", "c"]
    root.create_array("pid", data=rng.choice([22, 211, -211, 130, 11], (n, 7)).astype(np.int32),
                      chunks=(40, 7))
    root.create_group("meta", attributes={"what": "weights"})
    root.create_array("meta/weights", data=np.array([1.0, 2.0, 3.0]))
    n = 90
    single = folder / "single"
    single.mkdir()
    out["zarr_single"] = single / "jets.zarr"
    zarr.save_array(str(out["zarr_single"]), toy(n, 5, seed=8), zarr_format=2)
    zarr.save_array(str(single / "labels.zarr"), (np.arange(n) % 2).astype(np.int8),
                    zarr_format=2)
    zarr.save_array(str(single / "pid.zarr"), rng.choice([22, 211, 2112], (n, 5)),
                    zarr_format=2)
    return out


def part_rows(parts, name):
    rows = np.load(parts / f"{name}_rows.npy")
    assert rows.dtype == ROWS_DTYPE
    return rows


def check_parts(parts, n_rows, labels, fractions, names):
    """Every row in exactly one part, exact counts per class, input order within a file."""
    record = json.loads((parts / "split.json").read_text())
    seen = np.concatenate([part_rows(parts, name)["row"] for name in names])
    assert np.array_equal(np.sort(seen), np.arange(n_rows))
    classes = np.unique(labels)
    for p, name in enumerate(names):
        rows = part_rows(parts, name)
        assert record["parts"][name]["rows"] == len(rows)
        for f in np.unique(rows["file"]):
            assert np.all(np.diff(rows["row"][rows["file"] == f]) > 0)   # order kept
        for cls in classes:
            want = largest_remainder(int((labels == cls).sum()), fractions)[p]
            assert int((labels[rows["row"]] == cls).sum()) == want
    return record


def build_matches(tmp_path, whole_input, part_input, rows, **kw):
    """A build of the part equals the rows of a build of the whole."""
    whole, part = tmp_path / "whole.zarr", tmp_path / "part.zarr"
    jetimg.build(whole_input, whole, RECIPE, **kw)
    jetimg.build(part_input, part, RECIPE, **kw)
    (want, want_attrs), (got, got_attrs) = read_store(whole), read_store(part)
    assert sorted(got) == sorted(want)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name][rows], err_msg=name)
    assert got_attrs.get("label_names") == want_attrs.get("label_names")


# ---------------------------------------------------------------------------
# per layout
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["fixed", "table"])
def test_toptag_every_column_and_build(inputs, tmp_path, fmt):
    path = inputs[fmt]
    parts = tmp_path / "parts"
    result = split(path, parts, fractions=(0.6, 0.2, 0.2), seed=3)
    frame = pd.read_hdf(path, "table")
    labels = frame["is_signal_new"].to_numpy()
    check_parts(parts, len(frame), labels, (0.6, 0.2, 0.2), ("train", "val", "test"))
    assert result.label_names == ("QCD", "top")
    for name in result.names:
        got = pd.read_hdf(parts / name / path.name, "table")
        want = frame.iloc[part_rows(parts, name)["file_row"]]
        pd.testing.assert_frame_equal(got, want)          # every column, dtype and the index
        with pd.HDFStore(parts / name / path.name, "r") as store:
            assert store.get_storer("table").is_table == (fmt == "table")
    with pd.HDFStore(parts / "val" / path.name, "r") as store:
        storer = store.get_storer("table")
        if fmt == "table":
            assert storer.data_columns == ["is_signal_new"]
        else:
            assert storer.group.block0_values.filters.complib == "zlib"
    src = jetimg.open_jets(parts / "val" / path.name)
    assert (src.layout, src.label_names, len(src)) == (f"pandas-{fmt}", ("QCD", "top"),
                                                       result.rows["val"])
    build_matches(tmp_path, path, parts / "val" / path.name, part_rows(parts, "val")["row"])


@pytest.mark.parametrize("shuffle", [False, True])
def test_an_empty_part_of_a_table_frame_is_written(tmp_path, shuffle):
    """pandas writes nothing for an empty "table" frame: the part still opens, empty."""
    path = tmp_path / "toptag_table.h5"
    frame = toptag_frame(3, 2, seed=3)
    frame.to_hdf(path, key="table", format="table", data_columns=["is_signal_new"])
    result = split(path, tmp_path / "parts", fractions=(0.9, 0.1), seed=0, shuffle=shuffle)
    empty = tmp_path / "parts" / "test" / path.name
    assert result.rows["test"] == 0
    got = pd.read_hdf(empty, "table")
    pd.testing.assert_frame_equal(got, frame.iloc[:0], check_index_type=False)
    with pd.HDFStore(empty, "r") as store:
        assert store.get_storer("table").is_table
    assert len(jetimg.open_jets(empty)) == 0


def test_jetclass_glob_every_branch_and_build(inputs, tmp_path):
    parts = tmp_path / "parts"
    pattern = str(inputs["jetclass"] / "*.root")
    result = split(pattern, parts, fractions=(0.5, 0.3, 0.2), seed=1)
    files = sorted(inputs["jetclass"].glob("*.root"))
    source = jetimg.io.readers.multi.open_inputs(pattern)
    assert len(source) == source.n_rows == 215        # len() of a multi-file input
    labels = source.read(0, len(source))[1]
    check_parts(parts, len(source), labels, (0.5, 0.3, 0.2), result.names)
    for name in result.names:
        assert sorted(os.listdir(parts / name)) == [f.name for f in files]
        rows = part_rows(parts, name)
        for fi, f in enumerate(files):
            tin, tout = uproot.open(f)["tree"], uproot.open(parts / name / f.name)["tree"]
            assert tout.keys() == tin.keys()
            assert {k: tout[k].typename for k in tout.keys()} == \
                {k: tin[k].typename for k in tin.keys()}
            a, b = tin.arrays(library="ak"), tout.arrays(library="ak")
            take = rows["file_row"][rows["file"] == fi]
            assert len(b) == len(take) > 0                 # every class in every part
            for k in tin.keys():
                assert ak.to_list(a[k][take]) == ak.to_list(b[k]), (name, f.name, k)
    part = jetimg.io.readers.multi.open_inputs(str(parts / "test" / "*.root"))
    assert (part.label_names, part.has_kinds) == (source.label_names, True)
    build_matches(tmp_path, pattern, str(parts / "test" / "*.root"),
                  part_rows(parts, "test")["row"])
    kinds = RECIPE.__class__(npix=12, channels=("charged_pt", "neutral_pt"))
    whole, one = tmp_path / "wk.zarr", tmp_path / "pk.zarr"
    jetimg.build(pattern, whole, kinds)
    jetimg.build(str(parts / "test" / "*.root"), one, kinds)
    np.testing.assert_array_equal(read_store(one)[0]["images"],
                                  read_store(whole)[0]["images"][part_rows(parts, "test")["row"]])


def test_jetclass_counter_per_branch_round_trips(tmp_path):
    """Jagged branches with a counter each (npart_energy, ...) keep their names and counters."""
    path = tmp_path / "in" / "WToQQ_000.root"
    path.parent.mkdir()
    write_jetclass(path, toy(40, 6, seed=2), np.full(40, 7), counter="per-branch")
    split(path, tmp_path / "parts", fractions=(0.5, 0.5), seed=0)
    tin = uproot.open(path)["tree"]
    tout = uproot.open(tmp_path / "parts" / "test" / path.name)["tree"]
    assert {k: tout[k].typename for k in tout.keys()} == {k: tin[k].typename for k in tin.keys()}
    assert "npart_energy" in tout.keys() and tout.num_entries == 20
    take = part_rows(tmp_path / "parts", "test")["row"]
    a, b = tin.arrays(library="ak"), tout.arrays(library="ak")
    for k in tin.keys():
        assert ak.to_list(a[k][take]) == ak.to_list(b[k]), k


@pytest.mark.parametrize("which", ["qg", "qg_stored"])
def test_qg_npz_members_and_build(inputs, tmp_path, which):
    path = inputs[which]
    parts = tmp_path / "parts"
    result = split(path, parts, fractions=(0.7, 0.3), seed=2)
    assert result.names == ("train", "test")
    data = np.load(path)
    check_parts(parts, len(data["y"]), data["y"], (0.7, 0.3), result.names)
    for name in result.names:
        got = np.load(parts / name / path.name)
        rows = part_rows(parts, name)["row"]
        assert sorted(got.files) == sorted(data.files)
        for member in data.files:
            assert got[member].dtype == data[member].dtype
            np.testing.assert_array_equal(got[member], data[member][rows])
    with __import__("zipfile").ZipFile(parts / "test" / path.name) as zf:
        methods = {i.compress_type for i in zf.infolist()}
    assert methods == ({8} if which == "qg" else {0})
    src = jetimg.open_jets(parts / "test" / path.name)
    assert (src.label_names, src.has_kinds) == (("gluon", "quark"), True)
    build_matches(tmp_path, path, parts / "test" / path.name, part_rows(parts, "test")["row"])


def test_plain_hdf5_datasets_attributes_and_build(inputs, tmp_path):
    path = inputs["hdf5"]
    parts = tmp_path / "parts"
    split(path, parts, fractions=(0.6, 0.2, 0.2), seed=4, chunk_rows=50)
    with h5py.File(path, "r") as f:
        labels = f["labels"][()]
        check_parts(parts, len(labels), labels, (0.6, 0.2, 0.2), ("train", "val", "test"))
        for name in ("train", "val", "test"):
            rows = part_rows(parts, name)["row"]
            with h5py.File(parts / name / path.name, "r") as g:
                assert dict(g.attrs) == dict(f.attrs)
                for key in ("jets", "labels", "pid"):
                    np.testing.assert_array_equal(g[key][()], f[key][()][rows])
                    assert g[key].dtype == f[key].dtype
                assert list(g["labels"].attrs["label_names"]) == ["a", "b", "c"]
                assert g["jets"].compression == "gzip"
                np.testing.assert_array_equal(g["meta/weights"][()], f["meta/weights"][()])
    src = jetimg.open_jets(parts / "val" / path.name)
    assert (src.label_names, src.has_kinds) == (("a", "b", "c"), True)
    build_matches(tmp_path, path, parts / "val" / path.name, part_rows(parts, "val")["row"])


def test_npy_with_labels_and_pid_files(inputs, tmp_path):
    path = inputs["npy"]
    parts = tmp_path / "parts"
    result = split(path, parts, fractions=(0.5, 0.5), names=("a", "b"), seed=0,
                   labels_key=path.parent / "labels.npy", pid_key=path.parent / "pid.npy")
    assert sorted(os.listdir(parts / "a")) == ["jets.npy", "labels.npy", "pid.npy"]
    assert len(result.files["a"]) == 3
    labels = np.load(path.parent / "labels.npy")
    check_parts(parts, len(labels), labels, (0.5, 0.5), ("a", "b"))
    rows = part_rows(parts, "b")["row"]
    for member in ("jets.npy", "labels.npy", "pid.npy"):
        np.testing.assert_array_equal(np.load(parts / "b" / member),
                                      np.load(path.parent / member)[rows])
    src = jetimg.open_jets(parts / "b" / "jets.npy", labels_key=parts / "b" / "labels.npy",
                           pid_key=parts / "b" / "pid.npy")
    assert src.has_labels and src.has_kinds
    build_matches(tmp_path, path, parts / "b" / "jets.npy", rows)   # no labels: one class


def test_plain_zarr_arrays_attributes_codecs_and_build(inputs, tmp_path):
    zarr = pytest.importorskip("zarr")
    path = inputs["zarr"]
    parts = tmp_path / "parts"
    result = split(path, parts, fractions=(0.6, 0.2, 0.2), seed=4, chunk_rows=50)
    assert result.label_names == ("a", "b", "c")
    f = zarr.open_group(store=path, mode="r")
    labels = f["labels"][:]
    check_parts(parts, len(labels), labels, (0.6, 0.2, 0.2), ("train", "val", "test"))
    for name in ("train", "val", "test"):
        assert os.listdir(parts / name) == [path.name]
        rows = part_rows(parts, name)["row"]
        g = zarr.open_group(store=parts / name / path.name, mode="r")
        assert g.metadata.zarr_format == 3 and dict(g.attrs) == dict(f.attrs)
        assert sorted(k for k, _ in g.members(max_depth=None)) == \
            sorted(k for k, _ in f.members(max_depth=None))
        for key in ("jets", "labels", "pid"):
            assert g[key].dtype == f[key].dtype and g[key].shape[1:] == f[key].shape[1:]
            assert (g[key].chunks, g[key].shards) == (f[key].chunks, f[key].shards)
            assert g[key].compressors == f[key].compressors
            np.testing.assert_array_equal(g[key][:], f[key][:][rows])
        assert g["labels"].attrs["label_names"] == ["a", "b", "c"]
        assert dict(g["meta"].attrs) == {"what": "weights"}
        np.testing.assert_array_equal(g["meta/weights"][:], f["meta/weights"][:])
    src = jetimg.open_jets(parts / "val" / path.name)
    assert (src.layout, src.label_names, src.has_kinds, len(src)) == \
        ("zarr-array", ("a", "b", "c"), True, result.rows["val"])
    build_matches(tmp_path, path, parts / "val" / path.name, part_rows(parts, "val")["row"])


def test_zarr_single_array_with_label_and_pid_stores(inputs, tmp_path):
    zarr = pytest.importorskip("zarr")
    path = inputs["zarr_single"]
    parts = tmp_path / "parts"
    result = split(path, parts, fractions=(0.5, 0.5), seed=0, labels_key="labels.zarr",
                   pid_key="pid.zarr")
    assert sorted(os.listdir(parts / "test")) == ["jets.zarr", "labels.zarr", "pid.zarr"]
    assert len(result.files["test"]) == 3
    labels = zarr.open_array(store=path.parent / "labels.zarr", mode="r")[:]
    check_parts(parts, len(labels), labels, (0.5, 0.5), ("train", "test"))
    rows = part_rows(parts, "test")["row"]
    for store in ("jets.zarr", "labels.zarr", "pid.zarr"):
        a = zarr.open_array(store=path.parent / store, mode="r")
        b = zarr.open_array(store=parts / "test" / store, mode="r")
        assert (b.metadata.zarr_format, b.dtype, b.chunks, b.compressors) == \
            (2, a.dtype, a.chunks, a.compressors)
        np.testing.assert_array_equal(b[:], a[:][rows])
    src = jetimg.open_jets(parts / "test" / "jets.zarr", labels_key="labels.zarr",
                           pid_key="pid.zarr")
    assert src.has_labels and src.has_kinds and len(src) == result.rows["test"]
    build_matches(tmp_path, path, parts / "test" / "jets.zarr", rows)


# ---------------------------------------------------------------------------
# shuffle, the record, the CLI
# ---------------------------------------------------------------------------

def test_shuffle_is_seeded_and_keeps_the_assignment(inputs, tmp_path):
    path = inputs["hdf5"]
    plain = tmp_path / "plain"
    split(path, plain, seed=9, chunk_rows=40)
    runs = []
    for i in range(2):
        out = tmp_path / f"shuffled{i}"
        split(path, out, seed=9, shuffle=True, chunk_rows=40)
        runs.append(out)
    assert snapshot(runs[0]) == snapshot(runs[1])
    with h5py.File(path, "r") as f:
        jets = f["jets"][()]
    for name in ("train", "val", "test"):
        ordered, shuffled = part_rows(plain, name), part_rows(runs[0], name)
        assert np.array_equal(np.sort(shuffled["row"]), ordered["row"])   # same rows
        assert not np.array_equal(shuffled["row"], ordered["row"])        # another order
        with h5py.File(runs[0] / name / path.name, "r") as g:
            np.testing.assert_array_equal(g["jets"][()], jets[shuffled["row"]])
    other = tmp_path / "other"
    split(path, other, seed=10, shuffle=True)
    assert not np.array_equal(part_rows(other, "train")["row"],
                              part_rows(runs[0], "train")["row"])


def part_contents(folder):
    """Every row-wise column, branch, member or array of the files of a part, by name."""
    zarr = pytest.importorskip("zarr")
    out = {}
    for f in sorted(os.listdir(folder)):
        path = folder / f
        if f.endswith(".root"):
            tree = uproot.open(path)["tree"]
            out.update({(f, k): v for k, v in tree.arrays(library="ak", how=dict).items()})
        elif f.endswith(".npz"):
            with np.load(path) as data:
                out.update({(f, k): data[k] for k in data.files})
        elif f.endswith(".npy"):
            out[f] = np.load(path)
        elif f.endswith(".zarr"):
            node = zarr.open(store=path, mode="r")
            members = node.members(max_depth=None) if isinstance(node, zarr.Group) \
                else [("", node)]
            out.update({(f, k): v[:] for k, v in members if isinstance(v, zarr.Array)})
        elif f.startswith("toptag"):
            out[f] = pd.read_hdf(path, "table")
        else:
            with h5py.File(path, "r") as h:
                h.visititems(lambda k, v: out.__setitem__((f, k), v[()])
                             if isinstance(v, h5py.Dataset) else None)
    return out


def assert_rows_equal(got, want, idx):
    """``got`` equals the rows ``idx`` of ``want`` (a frame, an array or an awkward array)."""
    if isinstance(want, pd.DataFrame):
        pd.testing.assert_frame_equal(got, want.iloc[idx])
    elif isinstance(want, ak.Array):
        assert got.type == want.type and ak.to_list(got) == ak.to_list(want[idx])
    elif len(want) == len(idx):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want[idx])
    else:   # not a row array: copied whole
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("which", ["fixed", "table", "jetclass", "qg", "hdf5", "npy", "zarr",
                                   "zarr_single"])
def test_shuffle_permutes_the_ordered_parts_by_their_maps(inputs, tmp_path, which):
    """Two passes through bucket files give exactly the seeded permutation, in every layout."""
    path = inputs[which]
    if which == "jetclass":
        path = str(path / "*.root")
    kw = {"npy": {"labels_key": "labels.npy", "pid_key": "pid.npy"},
          "zarr_single": {"labels_key": "labels.zarr", "pid_key": "pid.zarr"}}.get(which, {})
    names = ("train", "val", "test")
    ordered, shuffled, again = tmp_path / "ordered", tmp_path / "shuffled", tmp_path / "again"
    split(path, ordered, seed=6, chunk_rows=8, **kw)
    # chunks of 8 rows: each part's order is cut into several buckets, filled from
    # several windows of the input
    split(path, shuffled, seed=6, shuffle=True, chunk_rows=8, **kw)
    stamped = which in ("jetclass", "fixed", "table")   # files with time stamps
    if not stamped:
        split(path, again, seed=6, shuffle=True, chunk_rows=8, **kw)
    for name in names:
        a, b = part_rows(ordered, name), part_rows(shuffled, name)
        assert len(b) > 2 * 8 and not np.array_equal(a["row"], b["row"])
        for fi in np.unique(a["file"]):
            order_a = a["file_row"][a["file"] == fi]
            order_b = b["file_row"][b["file"] == fi]
            assert np.array_equal(np.sort(order_b), order_a)     # the same rows, in the file
        got, want = part_contents(shuffled / name), part_contents(ordered / name)
        assert sorted(got, key=str) == sorted(want, key=str)
        files = sorted({k[0] if isinstance(k, tuple) else k for k in want})
        for key in want:
            f = key[0] if isinstance(key, tuple) else key
            fi = files.index(f) if which == "jetclass" else 0
            order_a = a["file_row"][a["file"] == fi]
            order_b = b["file_row"][b["file"] == fi]
            assert_rows_equal(got[key], want[key], np.searchsorted(order_a, order_b))
        if not stamped:   # the same seed: the same bytes
            assert snapshot(shuffled / name) == snapshot(again / name)
            assert np.array_equal(part_rows(again, name), b)
    assert not (set(os.listdir(shuffled)) - set(os.listdir(ordered)))   # no bucket left


def test_record_says_what_was_split(inputs, tmp_path):
    parts = tmp_path / "parts"
    result = split(inputs["qg"], parts, fractions=(0.8, 0.2), names=("fit", "check"), seed=5)
    record = json.loads((parts / "split.json").read_text())
    assert record["inputs"] == [str(inputs["qg"])]
    assert (record["fractions"], record["seed"], record["shuffle"]) == ([0.8, 0.2], 5, False)
    assert record["label_names"] == ["gluon", "quark"]
    assert record["parts"]["check"]["files"] == ["check/QG_jets.npz"]
    assert record["parts"]["check"]["classes"] == {str(k): v for k, v in
                                                   result.class_counts["check"].items()}
    assert sorted(os.listdir(parts)) == ["check", "check_rows.npy", "fit", "fit_rows.npy",
                                         "split.json"]


def test_cli_splits_the_shipped_sample(tmp_path):
    parts = tmp_path / "parts"
    result = invoke("split", "--sample", "-o", parts, "--fractions", "0.5,0.25,0.25",
                    "--seed", "1")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"train: 2,000 jets (QCD 1,000, top 1,000) -> {parts}/train/sample_jets.h5"
    assert lines[1].startswith("val: 1,000 jets (QCD 500, top 500)")
    assert len(jetimg.open_jets(parts / "test" / "sample_jets.h5")) == 1000


def test_cli_refusals_leave_nothing(inputs, tmp_path):
    path = inputs["hdf5"]
    out = tmp_path / "out"
    for args, words in (
        (["--fractions", "0.6,0.2,0.3"], "--fractions 0.6,0.2,0.3 sum to 1.1, not 1"),
        (["--fractions", "0.6,x"], "--fractions 0.6,x: expected numbers"),
        (["--fractions", "1.2,-0.2"], "each must be a number > 0"),
        (["--fractions", "1"], "at least two parts"),
        (["--names", "a,b"], "--names a,b gives 2 names for 3 fractions"),
        (["--names", "a,a,b"], "repeats a name"),
        (["--seed", "-1"], "--seed -1 must be an integer >= 0"),
        (["--labels-key", "nope"], "labels dataset 'nope' not found"),
    ):
        line = one_line(invoke("split", path, "-o", out, *args))
        assert words in line, line
    assert listing(tmp_path) == []
    assert "input file not found" in one_line(invoke("split", tmp_path / "no.h5", "-o", out))
    assert listing(tmp_path) == []


def test_existing_output_is_kept_unless_overwrite(inputs, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    line = one_line(invoke("split", inputs["hdf5"], "-o", out))
    assert line == f"Error: output {out} exists and is not empty; use --overwrite to replace it"
    assert listing(out) == ["keep.txt"]
    file = tmp_path / "file"
    file.write_text("x")
    assert "is a file" in one_line(invoke("split", inputs["hdf5"], "-o", file))
    assert "holds the input" in one_line(invoke("split", inputs["hdf5"], "-o",
                                                inputs["hdf5"].parent, "--overwrite"))
    result = invoke("split", inputs["hdf5"], "-o", out, "--overwrite")
    assert result.exit_code == 0, result.output
    assert "keep.txt" not in listing(out) and "split.json" in listing(out)
    assert listing(tmp_path) == ["file", "out"]


def test_a_failed_copy_leaves_the_old_output(tmp_path):
    """A basket damaged mid-file: the labels read, the copy fails; nothing half-written."""
    path = tmp_path / "in" / "HToBB_000.root"
    path.parent.mkdir()
    write_jetclass(path, toy(200, 9, seed=1), np.ones(200, int), basket_rows=40)
    seek = int(uproot.open(path)["tree"]["part_px"].member("fBasketSeek")[3])
    with open(path, "r+b") as fh:
        fh.seek(seek + 90)
        fh.write(b"\xff" * 64)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    line = one_line(invoke("split", path, "-o", out, "--overwrite"))
    assert f"{path}" in line
    assert listing(out) == ["keep.txt"]
    assert listing(tmp_path) == ["in", "out"]


def test_unexpected_error_is_one_line(inputs, tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("jetimg.split", boom)
    line = one_line(invoke("split", inputs["hdf5"], "-o", tmp_path / "out"))
    assert line == ("Error: internal error: RuntimeError: boom; rerun with --debug for the "
                    "traceback and report it")


# ---------------------------------------------------------------------------
# the README's tour
# ---------------------------------------------------------------------------

@pytest.mark.slow
def test_readme_tour_splits_the_sample_and_builds_every_part(tmp_path):
    """The README's split block, run as written (bash), in a fresh folder: three parts
    of the shipped sample, each class in its proportion, and a store of each part."""
    readme = (pathlib.Path(__file__).resolve().parent.parent / "README.md").read_text()
    (block,) = [b for b in re.findall(r"```bash\n(.*?)```", readme, re.S)
                if "jetimg split --sample" in b]
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep
           + os.environ.get("PATH", "")}
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    sizes = {}
    for part in ("train", "val", "test"):
        with jetimg.open_store(tmp_path / f"{part}_img.zarr") as store:
            labels = np.asarray(store["labels"][:])
        sizes[part] = (len(labels), int(labels.sum()))
    # 4,000 jets, half top: 60/20/20 of each class
    assert sizes == {"train": (2400, 1200), "val": (800, 400), "test": (800, 400)}
