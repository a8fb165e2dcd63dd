"""Several files as one input, and labels with ``label_names``.

The parts are written from one set of toy jets; each part keeps its own
number of slots M (the rest of a jet is cut off), and the reference is one
file holding the parts one after the other, padded with zero slots to the
largest M. A build over the parts, with chunks that cross file boundaries,
must equal the build of the reference bit for bit.
"""

import os
import pickle

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

import jetimg
from jetimg.errors import InputError
from jetimg.io import open_jets, open_store
from jetimg.io.readers.multi import MultiSource, expand_inputs, open_inputs
from jetimg.plots.averages import store_class_names
from jetimg.toys import toy_jets, write_toptag
from jetimg_cli.main import cli

from .helpers import KillABusyWorker, StopAfter, assert_bit_identical, read_store

pytest.importorskip("zarr")

NPIX = 12
# name -> (rows, slots M); glob order (by path) is a, b, c
PARTS = {"b_part.h5": (537, 50), "a_part.h5": (410, 30), "c_part.h5": (353, 40)}
ORDER = ["a_part.h5", "b_part.h5", "c_part.h5"]
LABEL_NAMES = ["QCD", "top"]


def write_array(path, jets, labels=None, label_names=None):
    with h5py.File(path, "w") as f:
        f.create_dataset("jets", data=jets)
        if labels is not None:
            f.create_dataset("labels", data=labels)
            if label_names is not None:
                f["labels"].attrs["label_names"] = label_names
    return path


def padded(jets, m):
    out = np.zeros((len(jets), m, 4), np.float32)
    out[:, :jets.shape[1]] = jets
    return out


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    """The parts (HDF5 arrays with labels and label_names), references for
    glob order and for the order (c, a), and their clean builds."""
    folder = tmp_path_factory.mktemp("multi")
    n = sum(rows for rows, _ in PARTS.values())
    jets, labels = toy_jets(n, n_slots=50, seed=3)
    data, start = {}, 0
    for name, (rows, m) in PARTS.items():
        data[name] = (jets[start:start + rows, :m], labels[start:start + rows])
        write_array(folder / name, *data[name], label_names=LABEL_NAMES)
        start += rows

    def reference(names, path):
        write_array(path, np.concatenate([padded(data[k][0], 50) for k in names]),
                    np.concatenate([data[k][1] for k in names]), LABEL_NAMES)
        jetimg.build(path, path.with_suffix(".zarr"), npix=NPIX, chunk_size=100)
        return path.with_suffix(".zarr")

    return {"folder": folder, "data": data, "n": n,
            "clean": reference(ORDER, folder / "all.h5"),
            "clean_ca": reference(["c_part.h5", "a_part.h5"], folder / "ca.h5")}


def same_arrays(path, clean, rows=None):
    got, _ = read_store(path)
    want, _ = read_store(clean)
    if rows is not None:
        want = {k: v[:rows] for k, v in want.items()}
    assert_bit_identical(got, want)


# ---------------------------------------------------------------------------
# the source
# ---------------------------------------------------------------------------

def test_source_reads_across_files_and_pickles(parts):
    folder, data = parts["folder"], parts["data"]
    src = open_inputs(str(folder / "?_part.h5"))
    assert isinstance(src, MultiSource)
    assert [os.path.basename(p) for p in src.paths] == ORDER
    assert (src.n_rows, src.n_slots, src.label_names) == (parts["n"], 50, ("QCD", "top"))
    a, b = data["a_part.h5"], data["b_part.h5"]
    jets, labels = src.read(400, 420)
    assert np.array_equal(jets[:10], padded(a[0][400:], 50))
    assert np.array_equal(jets[10:], b[0][:10])
    assert np.array_equal(labels, np.concatenate([a[1][400:], b[1][:10]]))
    out = np.empty((20, 50, 4), np.float32)
    assert src.read(400, 420, out=out)[0] is out and np.array_equal(out, jets)
    again = pickle.loads(pickle.dumps(src))
    assert np.array_equal(again.read(0, parts["n"])[0], src.read(0, parts["n"])[0])
    with pytest.raises(InputError, match="outside"):
        src.read(0, parts["n"] + 1)
    with pytest.raises(InputError, match="carries no particle identity"):
        src.read_kinds(0, 1)
    # one file stays that file's own source
    assert type(open_inputs(folder / "a_part.h5")) is type(open_jets(folder / "a_part.h5"))


def test_glob_sorted_by_path_and_list_order_kept(parts, tmp_path):
    folder = parts["folder"]
    (tmp_path / "sub").mkdir()
    assert expand_inputs([str(folder / "c_part.h5"), str(folder / "[ab]_part.h5")]) == \
        [str(folder / n) for n in ("c_part.h5", "a_part.h5", "b_part.h5")]
    with pytest.raises(InputError, match=r"no input file matches the pattern .*nothing\*\.h5"):
        open_inputs(str(tmp_path / "nothing*.h5"))
    out = tmp_path / "ca.zarr"
    jetimg.build([folder / "c_part.h5", folder / "a_part.h5"], out, npix=NPIX, chunk_size=64)
    same_arrays(out, parts["clean_ca"])
    assert read_store(out)[1]["input"] == ["c_part.h5", "a_part.h5"]


# ---------------------------------------------------------------------------
# builds
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("fmt,chunk,workers", [("zarr", 7, 1), ("zarr", 128, 2),
                                               ("zarr", 1300, 2), ("h5", 300, 2)])
def test_glob_build_equals_one_file(parts, tmp_path, fmt, chunk, workers):
    out = tmp_path / f"img.{fmt}"
    result = jetimg.build(str(parts["folder"] / "*_part.h5"), out, npix=NPIX, chunk_size=chunk,
                          workers=workers)
    assert result.n_jets == parts["n"]
    same_arrays(out, parts["clean"])
    attrs = read_store(out)[1]
    assert attrs["input"] == ORDER
    assert (attrs["input_rows"], attrs["n_jets"]) == (parts["n"], parts["n"])
    assert attrs["label_names"] == LABEL_NAMES


def test_limit_across_files(parts, tmp_path):
    out = tmp_path / "img.zarr"
    jetimg.build(str(parts["folder"] / "*_part.h5"), out, npix=NPIX, chunk_size=100, limit=600)
    same_arrays(out, parts["clean"], rows=600)
    attrs = read_store(out)[1]
    assert (attrs["input_rows"], attrs["n_jets"]) == (parts["n"], 600)
    with pytest.raises(InputError, match=f"beyond the input's {parts['n']} rows"):
        jetimg.build(str(parts["folder"] / "*_part.h5"), tmp_path / "x.zarr", limit=2000)


def test_pandas_files_and_plain_array_label_names(tmp_path):
    jets, labels = toy_jets(300, n_slots=30, seed=4)
    write_toptag(tmp_path / "p1.h5", jets[:120, :20], labels[:120])
    write_toptag(tmp_path / "p2.h5", jets[120:], labels[120:])
    write_toptag(tmp_path / "whole.h5",
                 np.concatenate([padded(jets[:120, :20], 30), jets[120:]]), labels)
    jetimg.build([tmp_path / "p1.h5", tmp_path / "p2.h5"], tmp_path / "p.zarr", npix=NPIX,
                 chunk_size=50)
    jetimg.build(tmp_path / "whole.h5", tmp_path / "whole.zarr", npix=NPIX)
    same_arrays(tmp_path / "p.zarr", tmp_path / "whole.zarr")
    assert read_store(tmp_path / "p.zarr")[1]["label_names"] == ["QCD", "top"]
    # plain arrays: the labels' own attribute, or none (.npy has none)
    np.save(tmp_path / "j.npy", jets)
    np.save(tmp_path / "l.npy", labels)
    jetimg.build(tmp_path / "j.npy", tmp_path / "n.h5", labels_key=str(tmp_path / "l.npy"))
    assert "label_names" not in read_store(tmp_path / "n.h5")[1]
    three = write_array(tmp_path / "k3.h5", jets, np.arange(300) % 3,
                        ["gluon", "quark", "other"])
    jetimg.build(three, tmp_path / "k3.h5.zarr", npix=NPIX)
    with open_store(tmp_path / "k3.h5.zarr") as store:
        assert store.attrs["label_names"] == ["gluon", "quark", "other"]
        assert store_class_names(store) == {0: "gluon", 1: "quark", 2: "other"}
    with open_store(tmp_path / "p.zarr") as store:
        assert store_class_names(store) == {1: "top", 0: "QCD"}
    with open_store(tmp_path / "n.h5") as store:   # as stores made before label_names
        assert store_class_names(store) == {1: "top", 0: "QCD"}
    with pytest.raises(InputError, match="pandas-images.*two classes.*3: gluon, quark, other"):
        jetimg.build(three, tmp_path / "k3_img.h5", layout="pandas-images")
    assert not (tmp_path / "k3_img.h5").exists()
    # an HDF5 store keeps the list attributes as a zarr one does
    jetimg.build([tmp_path / "p1.h5", tmp_path / "p2.h5"], tmp_path / "p.h5", npix=NPIX)
    attrs = read_store(tmp_path / "p.h5")[1]
    assert (attrs["input"], attrs["label_names"]) == (["p1.h5", "p2.h5"], ["QCD", "top"])


def test_files_that_cannot_be_one_input(parts, tmp_path):
    jets, labels = toy_jets(20, n_slots=10, seed=1)
    a = parts["folder"] / "a_part.h5"
    np.save(tmp_path / "plain.npy", jets)
    write_toptag(tmp_path / "frame.h5", jets, labels)
    write_array(tmp_path / "other_names.h5", jets, labels, ["gluon", "quark"])
    write_array(tmp_path / "no_names.h5", jets, labels)
    write_array(tmp_path / "no_labels.h5", jets)
    cases = [(tmp_path / "frame.h5", "layouts: plain .* and top-tagging"),
             (tmp_path / "other_names.h5", r"label_names: \[QCD, top\] and \[gluon, quark\]"),
             (tmp_path / "no_names.h5", r"label_names: \[QCD, top\] and none"),
             (tmp_path / "no_labels.h5", "labels: with labels and without")]
    for other, why in cases:
        with pytest.raises(InputError, match=f"input files {a} and {other} cannot be one "
                                             f"input: they differ in {why}"):
            jetimg.build([a, other], tmp_path / "x.zarr")
        assert not (tmp_path / "x.zarr").exists()
    # the same family in other containers mixes (.npy without labels, HDF5 without)
    jetimg.build([tmp_path / "plain.npy", tmp_path / "no_labels.h5"], tmp_path / "ok.zarr",
                 npix=NPIX)
    assert read_store(tmp_path / "ok.zarr")[1]["input_rows"] == 40


# ---------------------------------------------------------------------------
# resume, verify, the command line
# ---------------------------------------------------------------------------


def test_resume_across_files_and_a_changed_file(parts, tmp_path):
    import shutil

    folder = tmp_path / "in"
    folder.mkdir()
    for name in ORDER:
        shutil.copy(parts["folder"] / name, folder / name)
    glob = str(folder / "*_part.h5")
    out = tmp_path / "img.zarr"
    kwargs = dict(npix=NPIX, chunk_size=100, workers=2)
    with pytest.raises(KeyboardInterrupt):
        jetimg.build(glob, out, progress=StopAfter(300), **kwargs)
    result = jetimg.build(glob, out, resume=True, **kwargs)
    assert 0 < result.n_made < parts["n"]
    same_arrays(out, parts["clean"])
    # a file that changes between the build and its resume is named
    out2 = tmp_path / "img2.zarr"
    with pytest.raises(KeyboardInterrupt):
        jetimg.build(glob, out2, progress=StopAfter(300), **kwargs)
    with h5py.File(folder / "b_part.h5", "r+") as f:
        f["jets"][0, 0, 0] += 1.0
    with pytest.raises(InputError, match=f"input file {folder / 'b_part.h5'} changed since "
                                         "the interrupted build"):
        jetimg.build(glob, out2, resume=True, **kwargs)
    (folder / "c_part.h5").unlink()
    with pytest.raises(InputError, match=r"input files: 3 before, 2 now \(gone: .*c_part.h5\)"):
        jetimg.build(glob, out2, resume=True, **kwargs)


def test_verify_info_and_cli_over_several_files(parts, tmp_path):
    folder = parts["folder"]
    files = [str(folder / n) for n in ORDER]
    runner = CliRunner()
    out = tmp_path / "img.zarr"
    res = runner.invoke(cli, ["build", *files, "-o", str(out), "--npix", str(NPIX),
                              "--chunk-size", "250", "-q"])
    assert res.exit_code == 0, res.output
    same_arrays(out, parts["clean"])
    res = runner.invoke(cli, ["build", str(folder / "*_part.h5"), "-o", str(tmp_path / "g.zarr"),
                              "--npix", str(NPIX), "--limit", "500", "-q"])
    assert res.exit_code == 0, res.output
    same_arrays(tmp_path / "g.zarr", parts["clean"], rows=500)
    res = runner.invoke(cli, ["build", str(tmp_path / "none*.h5"), "-o", str(tmp_path / "n.zarr")])
    assert res.exit_code == 1
    assert res.output.strip().splitlines() == [
        f"Error: no input file matches the pattern {tmp_path / 'none*.h5'}"]
    assert jetimg.verify(out, str(folder / "*_part.h5")).ok
    res = runner.invoke(cli, ["verify", str(out), *sum((["--input", f] for f in files), [])])
    assert res.exit_code == 0, res.output
    assert "from 3 files (a_part.h5, b_part.h5, c_part.h5)" in res.output
    report = jetimg.verify(out, files[:2])
    assert not report.ok and "2 files (a_part.h5, b_part.h5) has 947 rows" in str(report)
    res = runner.invoke(cli, ["info", str(out)])
    assert res.exit_code == 0, res.output
    assert f"rows         {parts['n']} of {parts['n']} in 3 files (a_part.h5, b_part.h5, " \
           "c_part.h5)" in res.output
    assert "labels       0 QCD: " in res.output and ", 1 top: " in res.output
    assert "name-sorted JetClass glob" in runner.invoke(cli, ["build", "--help"]).output


def test_killed_worker_in_a_distributed_build_over_files(parts, tmp_path, local_cluster):
    from distributed import Client

    out = tmp_path / "img.zarr"
    with Client(local_cluster) as client:
        kill = KillABusyWorker(client, rows=200)
        result = jetimg.build(str(parts["folder"] / "*_part.h5"), out, npix=NPIX,
                              chunk_size=50, scheduler=client, progress=kill)
    assert kill.killed, "no worker was killed during the build"
    assert result.n_made == parts["n"]
    same_arrays(out, parts["clean"])
