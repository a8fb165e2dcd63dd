"""Sources of jet constituents (jetimg.io.open_jets and its layouts): every layout, bad inputs.

Fixtures are written with pandas' ``to_hdf`` (fixed and table formats,
uncompressed, zlib and blosc), h5py, zarr and ``np.save``; every read is
compared with the values that were written.
"""

import os
import pickle
import warnings

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jetimg.errors import InputError
from jetimg.io import LAYOUTS, JetSource, open_jets
from jetimg.io.readers.pickle_names import names_from_pickle

pd = pytest.importorskip("pandas")
pytest.importorskip("tables")
zarr = pytest.importorskip("zarr")

COMPONENTS = ("E", "PX", "PY", "PZ")


def make_jets(n, m, seed=0):
    """Zero-padded (n, m, 4) float32 jets and int64 labels."""
    rng = np.random.default_rng(seed)
    jets = rng.normal(size=(n, m, 4)).astype(np.float32)
    jets[..., 0] = np.abs(jets[..., 0]) + 1
    n_const = rng.integers(0, m + 1, n)
    jets[np.arange(m)[None, :] >= n_const[:, None]] = 0
    labels = rng.integers(0, 2, n).astype(np.int64)
    return jets, labels


def make_frame(jets, labels, seed=0):
    """DataFrame in the top-tagging reference column order."""
    n, m, _ = jets.shape
    rng = np.random.default_rng(seed + 1)
    cols = [f"{c}_{i}" for i in range(m) for c in COMPONENTS]
    df = pd.DataFrame(jets.reshape(n, 4 * m), columns=cols)
    for c in ("truth_E", "truth_PX", "truth_PY", "truth_PZ"):
        df[c] = rng.normal(size=n).astype(np.float32)
    df["ttv"] = rng.integers(0, 3, n).astype(np.int64)
    df["is_signal_new"] = labels
    return df.copy()


def write_frame(df, path, fmt="fixed", complib=None):
    kw = {} if complib is None else {"complib": complib, "complevel": 5}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df.to_hdf(path, key="table", mode="w", format=fmt, **kw)
    return path


def expected(df, m):
    cols = [f"{c}_{i}" for i in range(m) for c in COMPONENTS]
    return df[cols].to_numpy(dtype=np.float32).reshape(len(df), m, 4)


def check_windows(src, jets, labels, step=7):
    n = len(jets)
    assert src.n_rows == n
    windows = [(0, n), (0, 1), (n - 1, n), (n, n), (0, 0)]
    windows += [(s, min(n, s + step)) for s in range(0, n, step)]   # last partial
    for start, stop in windows:
        got, lab = src.read(start, stop)
        assert got.dtype == np.float32 and got.flags.c_contiguous
        assert got.shape == (stop - start, src.n_slots, 4)
        np.testing.assert_array_equal(got, jets[start:stop, :src.n_slots])
        # Into a caller's buffer (the pipeline reuses one per thread): same rows.
        buf = np.full((stop - start, src.n_slots, 4), np.nan, np.float32)
        into, lab_into = src.read(start, stop, out=buf)
        assert into is buf
        np.testing.assert_array_equal(buf, got)
        if labels is None:
            assert lab is None and lab_into is None
        else:
            assert lab.dtype == np.int8 and lab.shape == (stop - start,)
            np.testing.assert_array_equal(lab, labels[start:stop])
            np.testing.assert_array_equal(lab_into, lab)


def roundtrip(src):
    blob = pickle.dumps(src)
    assert len(blob) < 4096
    copy = pickle.loads(blob)
    assert isinstance(copy, JetSource)
    assert (copy.layout, copy.n_rows, copy.n_slots, copy.has_labels) == (
        src.layout, src.n_rows, src.n_slots, src.has_labels)
    return copy


# ---------------------------------------------------------------------------
# pandas layouts
# ---------------------------------------------------------------------------

PANDAS = [("fixed", None), ("fixed", "zlib"), ("fixed", "blosc"),
          ("fixed", "blosc:lz4"), ("table", None), ("table", "zlib"),
          ("table", "blosc"), ("table", "blosc:zstd")]


@pytest.fixture(scope="module")
def ref_frame():
    jets, labels = make_jets(23, 5)
    return make_frame(jets, labels)


@pytest.mark.parametrize("fmt,complib", PANDAS)
def test_pandas_reference_order(tmp_path, ref_frame, fmt, complib):
    path = write_frame(ref_frame, tmp_path / "ref.h5", fmt, complib)
    src = open_jets(path)
    assert src.layout == f"pandas-{fmt}"
    assert (src.n_slots, src.has_labels, src.labels_key) == (5, True, "is_signal_new")
    if complib:
        assert complib.split(":")[0] in src.describe()
    jets, labels = expected(ref_frame, 5), ref_frame["is_signal_new"].to_numpy()
    check_windows(src, jets, labels)
    check_windows(roundtrip(src), jets, labels, step=10)   # handle was open


@pytest.mark.parametrize("fmt,complib", [("fixed", None), ("table", "blosc")])
def test_pandas_200_slots(tmp_path, fmt, complib):
    jets, labels = make_jets(12, 200, seed=3)
    df = make_frame(jets, labels)
    src = open_jets(write_frame(df, tmp_path / "m200.h5", fmt, complib))
    assert (src.n_rows, src.n_slots) == (12, 200)
    check_windows(src, jets, labels, step=5)
    assert len(src.describe().splitlines()) == 1


@pytest.mark.parametrize("fmt,complib", PANDAS)
def test_pandas_shuffled_mixed_dtypes(tmp_path, fmt, complib):
    """Columns in random order, over float32/float64/int64 blocks, extras."""
    jets, labels = make_jets(19, 7, seed=5)
    jets[:, 3, 3] = np.round(jets[:, 3, 3] * 10)     # PZ_3 stored as int64
    df = make_frame(jets, labels)
    for i in range(7):
        df[f"PX_{i}"] = df[f"PX_{i}"].astype(np.float64)
    df["PZ_3"] = df["PZ_3"].astype(np.int64)
    df["weight"] = np.linspace(0, 1, len(df))
    df["E_total"] = np.float32(1.5)
    df["n"] = np.arange(len(df))
    rng = np.random.default_rng(7)
    df = df[list(rng.permutation(df.columns))]
    src = open_jets(write_frame(df, tmp_path / "shuffled.h5", fmt, complib))
    assert src.n_slots == 7
    check_windows(src, jets, labels, step=4)
    check_windows(roundtrip(src), jets, labels, step=8)


@pytest.mark.parametrize("fmt", ["fixed", "table"])
def test_pandas_options(tmp_path, ref_frame, fmt):
    path = write_frame(ref_frame, tmp_path / "ref.h5", fmt)
    jets = expected(ref_frame, 5)
    src = open_jets(path, n_slots=2)
    assert src.n_slots == 2
    check_windows(src, jets, ref_frame["is_signal_new"].to_numpy())
    src = open_jets(path, labels_key="ttv")
    check_windows(src, jets, ref_frame["ttv"].to_numpy())
    no_labels = ref_frame.drop(columns="is_signal_new")
    src = open_jets(write_frame(no_labels, tmp_path / "nolab.h5", fmt))
    assert not src.has_labels and "no labels" in src.describe()
    check_windows(src, jets, None)
    other_key = tmp_path / "key.h5"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_frame.to_hdf(other_key, key="jets", format=fmt)
    src = open_jets(other_key, key="jets")
    check_windows(src, jets, ref_frame["is_signal_new"].to_numpy())


def test_pandas_table_data_columns(tmp_path, ref_frame):
    path = tmp_path / "dc.h5"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_frame.to_hdf(path, key="table", format="table",
                         data_columns=["PY_1", "is_signal_new"])
    src = open_jets(path)
    check_windows(src, expected(ref_frame, 5), ref_frame["is_signal_new"].to_numpy())


def test_pandas_empty_frame(tmp_path, ref_frame):
    src = open_jets(write_frame(ref_frame.iloc[:0], tmp_path / "empty.h5"))
    assert (src.n_rows, src.n_slots) == (0, 5)
    jets, labels = src.read(0, 0)
    assert jets.shape == (0, 5, 4) and labels.shape == (0,)


def test_pandas_fixed_columns_first(tmp_path, ref_frame):
    """Blocks stored columns x rows (no ``transposed`` flag) also read."""
    path = write_frame(ref_frame, tmp_path / "cols.h5")
    with h5py.File(path, "r+") as f:
        values = f["table/block0_values"][()]
        del f["table/block0_values"]
        f.create_dataset("table/block0_values", data=values.T.copy())
        f["table/block0_values"].attrs["transposed"] = np.uint8(0)
    src = open_jets(path)
    check_windows(src, expected(ref_frame, 5), ref_frame["is_signal_new"].to_numpy())


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 23), st.integers(0, 23))
def test_pandas_any_window(tmp_path_factory, ref_frame, a, b):
    path = tmp_path_factory.getbasetemp() / "any_window.h5"
    if not path.exists():
        write_frame(ref_frame, path, "table", "zlib")
    start, stop = min(a, b), max(a, b)
    jets, labels = open_jets(path).read(start, stop)
    np.testing.assert_array_equal(jets, expected(ref_frame, 5)[start:stop])
    np.testing.assert_array_equal(labels, ref_frame["is_signal_new"][start:stop])


# ---------------------------------------------------------------------------
# plain arrays
# ---------------------------------------------------------------------------

def test_hdf5_array(tmp_path):
    jets, labels = make_jets(17, 6, seed=9)
    path = tmp_path / "arr.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("jets", data=jets, chunks=(4, 6, 4), compression="gzip")
        f.create_dataset("labels", data=labels)
        f.create_dataset("other", data=np.zeros((17, 3)))
    src = open_jets(path)
    assert src.layout == "hdf5-array" and src.has_labels
    check_windows(src, jets, labels)
    check_windows(roundtrip(src), jets, labels, step=5)
    src = open_jets(path, key="jets", n_slots=3)
    check_windows(src, jets, labels)

    nested = tmp_path / "nested.h5"
    with h5py.File(nested, "w") as f:
        f.create_dataset("data/p4", data=jets.astype(np.float64))
        f.create_dataset("data/is_signal_new", data=labels.astype(np.float32))
        f.create_dataset("truth", data=labels)
    src = open_jets(nested)
    assert (src.key, src.labels_key) == ("/data/p4", "/data/is_signal_new")
    check_windows(src, jets, labels)
    src = open_jets(nested, key="data", labels_key="truth")
    check_windows(src, jets, labels)


def test_hdf5_array_pandas_blosc_next_to_it(tmp_path):
    """h5py reads PyTables' blosc filter (32001) through hdf5plugin."""
    jets, labels = make_jets(9, 4)
    path = tmp_path / "blosc.h5"
    import hdf5plugin

    with h5py.File(path, "w") as f:
        f.create_dataset("jets", data=jets, **hdf5plugin.Blosc(cname="lz4"))
    src = open_jets(path)
    assert "blosc" in src.describe()
    check_windows(src, jets, None)


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_zarr_group(tmp_path, zarr_format):
    jets, labels = make_jets(21, 5, seed=11)
    path = tmp_path / "jets.zarr"
    g = zarr.open_group(path, mode="w", zarr_format=zarr_format)
    g.create_array("jets", data=jets, chunks=(8, 5, 4))
    g.create_array("labels", data=labels, chunks=(8,))
    g.create_array("jet_pt", data=np.zeros(21, np.float32))
    src = open_jets(path)
    assert (src.layout, src.key, src.labels_key) == ("zarr-array", "jets", "labels")
    check_windows(src, jets, labels)
    check_windows(roundtrip(src), jets, labels, step=6)
    check_windows(open_jets(path, key="jets", n_slots=2), jets, labels)
    check_windows(open_jets(path, labels_key="jet_pt"), jets, np.zeros(21))


def test_zarr_single_array(tmp_path):
    jets, labels = make_jets(10, 3, seed=2)
    zarr.create_array(tmp_path / "p4.zarr", data=jets, chunks=(3, 3, 4))
    zarr.create_array(tmp_path / "y.zarr", data=labels)
    src = open_jets(tmp_path / "p4.zarr")
    assert not src.has_labels
    check_windows(src, jets, None)
    src = open_jets(tmp_path / "p4.zarr", labels_key=str(tmp_path / "y.zarr"))
    check_windows(roundtrip(src), jets, labels)


def test_npy(tmp_path):
    jets, labels = make_jets(15, 4, seed=4)
    np.save(tmp_path / "p4.npy", jets.astype(np.float64))
    np.save(tmp_path / "y.npy", labels)
    src = open_jets(tmp_path / "p4.npy")
    assert (src.layout, src.has_labels) == ("npy", False)
    check_windows(src, jets, None)
    src = open_jets(tmp_path / "p4.npy", labels_key="y.npy", n_slots=3)  # beside
    check_windows(src, jets, labels)
    check_windows(roundtrip(src), jets, labels)
    assert src.layout in LAYOUTS


def test_handle_per_process_and_close(tmp_path, ref_frame):
    src = open_jets(write_frame(ref_frame, tmp_path / "ref.h5"))
    with src:
        src.read(0, 3)
        assert src._handle is not None
    assert src._handle is None
    src._pid = -1           # as if inherited through fork: not reused
    src.read(0, 3)
    assert src._pid == os.getpid()


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------

def raises(match, *args, **kwargs):
    with pytest.raises(InputError, match=match) as info:
        open_jets(*args, **kwargs)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_not_found(tmp_path):
    raises("input file not found: .*nope.h5", tmp_path / "nope.h5")


def test_not_a_known_layout(tmp_path):
    (tmp_path / "jets.csv").write_text("E_0,PX_0,PY_0,PZ_0\n1,2,3,4\n")
    raises("not a jet file .* text file starting 'E_0,PX_0", tmp_path / "jets.csv")
    (tmp_path / "empty.h5").write_bytes(b"")
    raises("an empty file", tmp_path / "empty.h5")
    np.savez(tmp_path / "a.npz", x=np.zeros(3))
    raises("has no array 'X'", tmp_path / "a.npz")
    (tmp_path / "junk.h5").write_bytes(bytes(range(200, 256)))
    raises("unrecognised binary data", tmp_path / "junk.h5")
    (tmp_path / "dir.zarr").mkdir()
    raises("directory but not a Zarr store", tmp_path / "dir.zarr")


def test_hdf5_without_key(tmp_path, ref_frame):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=np.zeros((3, 5, 5)))
        f.create_dataset("labels", data=np.zeros(3))
    msg = raises("no pandas frame under key 'table'", path)
    assert "top-level keys: images, labels" in msg
    raises(r"key 'jets' not found in .* \(top-level keys: images, labels\)",
           path, key="jets")
    frame = write_frame(ref_frame, tmp_path / "ref.h5")
    raises(r"key 'df' not found .* \(top-level keys: table\)", frame, key="df")
    two = tmp_path / "two.h5"
    with h5py.File(two, "w") as f:
        f.create_dataset("a", data=np.zeros((3, 2, 4)))
        f.create_dataset("b", data=np.zeros((3, 2, 4)))
    raises("several .* /a, /b; pass key=", two)


def test_missing_columns(tmp_path, ref_frame):
    df = ref_frame.drop(columns=["PX_3", "PY_3", "PZ_2"])
    for fmt in ("fixed", "table"):
        path = write_frame(df, tmp_path / f"{fmt}.h5", fmt)
        raises(r"missing columns PZ_2, PX_3, PY_3 in table 'table' of "
                     r".* \(found 23 columns: E_0, PX_0, PY_0, PZ_0, E_1, PX_1, \.\.\.\)",
                     path)
    nojets = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    raises("missing columns E_0, PX_0, PY_0, PZ_0", write_frame(nojets, tmp_path / "x.h5"))
    path = write_frame(ref_frame, tmp_path / "ok.h5")
    raises("n_slots=6 is more than the 5 slots", path, n_slots=6)
    raises(r"n_slots=0 must be an integer >= 1 \(or None: all slots\)", path, n_slots=0)
    raises(r"n_slots=-2 must be an integer >= 1", path, n_slots=-2)
    raises(r"n_slots=2\.0 must be an integer", path, n_slots=2.0)
    raises(r"n_slots=True must be an integer", path, n_slots=True)
    assert open_jets(path, n_slots=np.int64(3)).n_slots == 3
    raises("labels column 'y' not found", path, labels_key="y")
    series = tmp_path / "series.h5"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_frame["E_0"].to_hdf(series, key="table")
    raises("pandas 'series', not a DataFrame", series)


def test_wrong_shape(tmp_path):
    np.save(tmp_path / "bad.npy", np.zeros((4, 3, 3), np.float32))
    raises(r"shape \(4, 3, 3\), expected \(N, M, 4\)", tmp_path / "bad.npy")
    np.save(tmp_path / "flat.npy", np.zeros((4, 12), np.float32))
    raises(r"shape \(4, 12\), expected \(N, M, 4\)", tmp_path / "flat.npy")
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("jets", data=np.zeros((4, 3, 3)))
    raises(r"dataset '/jets' .* shape \(4, 3, 3\)", path, key="jets")
    zarr.create_array(tmp_path / "bad.zarr", data=np.zeros((4, 3, 5)))
    raises(r"shape \(4, 3, 5\)", tmp_path / "bad.zarr")
    np.save(tmp_path / "strings.npy", np.full((2, 3, 4), "x"))
    raises("dtype <U1, expected a float", tmp_path / "strings.npy")


def test_labels_length_mismatch(tmp_path):
    jets, labels = make_jets(8, 2)
    np.save(tmp_path / "p4.npy", jets)
    np.save(tmp_path / "y.npy", labels[:7])
    raises("labels .* have 7 rows but the jets have 8", tmp_path / "p4.npy",
           labels_key=tmp_path / "y.npy")
    raises("labels file not found: nope.npy", tmp_path / "p4.npy", labels_key="nope.npy")
    path = tmp_path / "arr.h5"
    with h5py.File(path, "w") as f:
        f["jets"] = jets
        f["labels"] = labels[:5]
    raises("labels '/labels' in .* have 5 rows but the jets have 8", path)
    g = zarr.open_group(tmp_path / "z.zarr", mode="w")
    g.create_array("jets", data=jets)
    g.create_array("labels", data=labels[:3])
    raises("have 3 rows but the jets have 8", tmp_path / "z.zarr")


def test_bad_label_values(tmp_path):
    jets, _ = make_jets(4, 2)
    path = tmp_path / "arr.h5"
    with h5py.File(path, "w") as f:
        f["jets"] = jets
        f["labels"] = np.array([0, 1, np.nan, 1.5])
    src = open_jets(path)
    np.testing.assert_array_equal(src.read(0, 2)[1], [0, 1])
    with pytest.raises(InputError, match="hold nan in rows 0:4"):
        src.read(0, 4)


def test_read_into_a_wrong_buffer(tmp_path, ref_frame):
    src = open_jets(write_frame(ref_frame, tmp_path / "ref.h5", "fixed", None))
    for bad in (np.empty((3, 5, 4), np.float64), np.empty((4, 5, 4), np.float32),
                np.empty((3, 4, 5), np.float32).transpose(0, 2, 1)):
        with pytest.raises(InputError, match=r"out must be a writeable C-contiguous float32 "
                                             r"array of shape \(3, 5, 4\)"):
            src.read(0, 3, out=bad)


def test_read_outside(tmp_path, ref_frame):
    src = open_jets(write_frame(ref_frame, tmp_path / "ref.h5"))
    for start, stop in [(0, 24), (-1, 3), (5, 4), (24, 24)]:
        with pytest.raises(InputError, match=rf"rows {start}:{stop} are outside \[0, 23\]"):
            src.read(start, stop)


def test_file_changed_after_open(tmp_path, ref_frame):
    path = write_frame(ref_frame, tmp_path / "ref.h5")
    src = open_jets(path)
    write_frame(ref_frame.iloc[:10], path)
    with pytest.raises(InputError, match="changed since it was opened"):
        src.read(0, 3)


# ---------------------------------------------------------------------------
# column names without unpickling
# ---------------------------------------------------------------------------

def test_names_from_pickle_protocols():
    names = ["E_0", "PX_0", "é", "E_0", "x" * 300]
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        assert names_from_pickle(pickle.dumps(names, protocol)) == names
        shared = "E_0"
        assert names_from_pickle(pickle.dumps([shared, shared], protocol)) == [shared] * 2
    assert names_from_pickle(b"(lp0\nS'E_0'\np1\naS'PX_0'\np2\na.") == ["E_0", "PX_0"]


class Boom:
    def __reduce__(self):
        return (os.system, ("echo unpickled",))


@pytest.mark.parametrize("value", [Boom(), np.array(["E_0"]), ("E_0",), {"E_0": 1},
                                   ["E_0", ["nested"]], None])
def test_names_from_pickle_refuses(value):
    with pytest.raises(ValueError):
        names_from_pickle(pickle.dumps(value, 0))
    with pytest.raises(ValueError):
        names_from_pickle(b"not a pickle")


def test_table_attribute_never_unpickled(tmp_path, ref_frame):
    path = write_frame(ref_frame, tmp_path / "evil.h5", "table")
    marker = tmp_path / "executed"
    payload = pickle.dumps(
        type("P", (), {"__reduce__": lambda self: (open, (str(marker), "w"))})(), 0)
    with h5py.File(path, "r+") as f:
        f["table/table"].attrs["values_block_0_kind"] = np.bytes_(payload)
    raises("cannot read the column names of values_block_0 without unpickling", path)
    assert not marker.exists()
    with h5py.File(path, "r+") as f:   # names that do not fit the block's width
        f["table/table"].attrs["values_block_0_kind"] = np.bytes_(
            pickle.dumps(["E_0", "PX_0"], 0))
    raises("values_block_0 has 24 columns but its names attribute lists 2", path)


def test_read_in_another_process(tmp_path, ref_frame):
    """A pickled source reads in a fresh (spawned) process, as on a worker."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    src = open_jets(write_frame(ref_frame, tmp_path / "ref.h5", "table", "blosc"))
    src.read(0, 1)                      # the parent's open handle is not sent
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        jets, labels = pool.submit(src.read, 4, 23).result(timeout=60)
    np.testing.assert_array_equal(jets, expected(ref_frame, 5)[4:])
    np.testing.assert_array_equal(labels, ref_frame["is_signal_new"][4:])
