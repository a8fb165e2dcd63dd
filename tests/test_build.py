"""``jetimg.build``: input files -> image stores, read back and compared.

Every input layout of SPEC.md (pandas "fixed" uncompressed and zlib, pandas
"table" with blosc, plain (N, M, 4) arrays in HDF5, Zarr and .npy) is written
once per session; each store read back must equal ``jetimg.preprocess`` on
the same rows bit for bit, whatever the chunk size, worker count, scheduler
(threads, processes, a ``distributed.LocalCluster``) or store format. Failed
builds must leave an existing output untouched and nothing else behind.

The helpers here (inputs, store reading, comparisons) are shared with
tests/test_cli.py, which runs the same checks through the command line.
"""

import dataclasses
import hashlib
import json
import os
import pathlib

import h5py
import numpy as np
import pytest

import jetimg
from jetimg.errors import InputError, InvalidJetError, JetimgError, OutputExistsError
from jetimg.io.stores import open_store
from jetimg.recipe import Recipe
from jetimg.toys import toy_jets, write_toptag

zarr = pytest.importorskip("zarr")

N_JETS = 2_500
N_SLOTS = 200
EMPTY_ROW = 3            # an all-padding jet: valid, all-zero image
MID_ROWS, MID_BAD_ROW = 20_000, 15_000

#: Input layouts of SPEC.md, each written by ``shared_inputs``.
LAYOUTS = ("pandas-fixed", "pandas-fixed-zlib", "pandas-table-blosc",
           "hdf5-array", "zarr-array", "npy")

#: name -> (shape without N, dtype) of every array of a store (SPEC.md).
PER_JET = {"jet_pt": np.float32, "jet_eta": np.float32, "jet_phi": np.float32,
           "jet_mass": np.float32, "n_constituents": np.int16, "valid": np.int8}
ATTR_KEYS = {"jetimg_version", "recipe", "input", "input_rows", "n_jets", "complete"}


# ---------------------------------------------------------------------------
# inputs, written once per session (shared with test_cli.py)
# ---------------------------------------------------------------------------

@dataclasses.dataclass
class Input:
    """One input file: where it is and how to name its jets and labels."""

    path: pathlib.Path
    key: str = None
    labels_key: str = None

    @property
    def kwargs(self):
        """Keyword arguments of ``jetimg.build``."""
        return {"key": self.key, "labels_key": self.labels_key}

    @property
    def args(self):
        """The same as command-line arguments."""
        out = [str(self.path)]
        if self.key:
            out += ["--key", self.key]
        if self.labels_key:
            out += ["--labels-key", self.labels_key]
        return out


@dataclasses.dataclass
class Inputs:
    folder: pathlib.Path
    jets: np.ndarray            # (N_JETS, N_SLOTS, 4) float32
    labels: np.ndarray          # (N_JETS,) int8
    files: dict                 # layout -> Input (all hold jets and labels)
    no_labels: dict             # name -> Input without labels (same jets)
    _expected: dict = dataclasses.field(default_factory=dict)

    def expected(self, rows=None, recipe=None):
        """``jetimg.preprocess`` of the first ``rows`` jets, plus labels (cached)."""
        rows = N_JETS if rows is None else rows
        key = (rows, recipe)
        if key not in self._expected:
            self._expected[key] = expected_outputs(self.jets[:rows], self.labels[:rows], recipe)
        return self._expected[key]


_CACHE = {}


def shared_inputs(tmp_path_factory):
    """The session's input files in every layout (written on first use)."""
    if "inputs" in _CACHE:
        return _CACHE["inputs"]
    folder = tmp_path_factory.mktemp("inputs")
    jets, labels = toy_jets(N_JETS, n_slots=N_SLOTS, seed=11)
    jets[EMPTY_ROW] = 0.0
    files = {}
    files["pandas-fixed"] = Input(write_toptag(folder / "fixed.h5", jets, labels))
    files["pandas-fixed-zlib"] = Input(write_toptag(folder / "fixed_zlib.h5", jets, labels,
                                                    complib="zlib"))
    files["pandas-table-blosc"] = Input(write_toptag(folder / "table_blosc.h5", jets, labels,
                                                     format="table", complib="blosc"))
    # Names that are not found without --key / --labels-key: a second (N, M, 4)
    # array makes the jets ambiguous, and "truth" is not a default labels name.
    with h5py.File(folder / "arrays.h5", "w") as f:
        f.create_dataset("data/constituents", data=jets, compression="gzip")
        f.create_dataset("data/truth", data=labels.astype(np.int64))
        f.create_dataset("other/decoy", data=np.ones((7, 2, 4), np.float32))
    files["hdf5-array"] = Input(folder / "arrays.h5", key="data/constituents",
                                labels_key="data/truth")
    group = zarr.open_group(str(folder / "jets.zarr"), mode="w")
    group.create_array("jets", data=jets, chunks=(500, N_SLOTS, 4))
    group.create_array("labels", data=labels)
    files["zarr-array"] = Input(folder / "jets.zarr")
    np.save(folder / "jets.npy", jets)
    np.save(folder / "labels.npy", labels)
    files["npy"] = Input(folder / "jets.npy", labels_key=str(folder / "labels.npy"))
    no_labels = {"npy": Input(folder / "jets.npy"),
                 "pandas-fixed": Input(write_toptag(folder / "nolabels.h5", jets))}
    _CACHE["inputs"] = Inputs(folder, jets, labels, files, no_labels)
    return _CACHE["inputs"]


def mid_build_input(tmp_path_factory):
    """20,000 jets with a NaN at row 15,000: fails late in a chunked build."""
    if "mid" not in _CACHE:
        folder = tmp_path_factory.mktemp("mid")
        jets, _ = toy_jets(MID_ROWS, n_slots=20, seed=5)
        jets[MID_BAD_ROW, 2, 0] = np.nan
        np.save(folder / "mid.npy", jets)
        _CACHE["mid"] = folder / "mid.npy"
    return _CACHE["mid"]


def invalid_input(tmp_path_factory):
    """60 jets (pandas fixed layout) with a NaN (row 7), an Inf (row 23) and E < 0
    (row 41); returns (path, jets, labels, bad rows)."""
    if "invalid" not in _CACHE:
        folder = tmp_path_factory.mktemp("invalid")
        jets, labels = toy_jets(60, n_slots=30, seed=9)
        jets[7, 4, 1] = np.nan
        jets[23, 0, 3] = np.inf
        jets[41, 2, 0] = -abs(jets[41, 2, 0])
        path = write_toptag(folder / "invalid.h5", jets, labels)
        _CACHE["invalid"] = (path, jets, labels, [7, 23, 41])
    return _CACHE["invalid"]


@pytest.fixture(scope="session")
def inputs(tmp_path_factory):
    return shared_inputs(tmp_path_factory)


# ---------------------------------------------------------------------------
# reading and comparing stores (shared with test_cli.py)
# ---------------------------------------------------------------------------

def expected_outputs(jets, labels, recipe=None):
    """What a store of ``jets`` must hold: ``jetimg.preprocess`` and the labels."""
    out = {name: np.array(values) for name, values in jetimg.preprocess(jets, recipe).items()}
    if labels is not None:
        out["labels"] = np.asarray(labels).astype(np.int8)
    return out


def read_store(path):
    """Every array (as NumPy) and the attributes of a store, via ``open_store``."""
    with open_store(path) as store:
        arrays = {name: np.asarray(store[name][...]) for name in store.keys()}
        return arrays, dict(store.attrs)


def assert_bit_identical(got, want):
    """Same array names, shapes, dtypes and bytes; names the rows that differ."""
    assert sorted(got) == sorted(want)
    for name, b in want.items():
        a = got[name]
        assert (a.shape, a.dtype) == (b.shape, b.dtype), name
        ua = a.view(f"u{a.dtype.itemsize}").reshape(len(a), -1)
        ub = b.view(f"u{b.dtype.itemsize}").reshape(len(b), -1)
        rows = np.flatnonzero((ua != ub).any(axis=1))
        assert rows.size == 0, f"{name}: {rows.size} rows differ, first {rows[:10].tolist()}"


def check_store_layout(path, n_jets, npix, has_labels):
    """Array names, shapes and dtypes exactly as SPEC.md says, read with zarr / h5py."""
    want = {"images": ((n_jets, npix, npix), np.dtype(np.float32))}
    if has_labels:
        want["labels"] = ((n_jets,), np.dtype(np.int8))
    want.update({name: ((n_jets,), np.dtype(dtype)) for name, dtype in PER_JET.items()})
    path = pathlib.Path(path)
    if path.suffix == ".zarr":
        group = zarr.open_group(str(path), mode="r")
        found = {name: (tuple(a.shape), np.dtype(a.dtype)) for name, a in group.arrays()}
        assert list(group.group_keys()) == []
        recipe = dict(group.attrs)["recipe"]
    else:
        with h5py.File(path, "r") as f:
            assert all(isinstance(f[name], h5py.Dataset) for name in f)
            found = {name: (f[name].shape, f[name].dtype) for name in f}
            recipe = f.attrs["recipe"]
        recipe = json.loads(recipe)    # HDF5 holds the mapping as JSON text
    assert found == want
    assert isinstance(recipe, dict)


def check_attrs(attrs, *, recipe, input_name, input_rows, n_jets):
    """The store's attributes as SPEC.md's table says."""
    assert set(attrs) == ATTR_KEYS
    assert attrs["jetimg_version"] == jetimg.__version__
    stored = attrs["recipe"]
    assert isinstance(stored, dict)
    assert set(stored) == {f.name for f in dataclasses.fields(Recipe)}
    assert stored == recipe.to_attrs()
    assert list(stored["pixel_size"]) == [recipe.pixel_size[0], recipe.pixel_size[1]]
    assert Recipe.from_attrs(stored) == recipe
    assert attrs["input"] == input_name
    assert attrs["input_rows"] == input_rows
    assert attrs["n_jets"] == n_jets
    assert attrs["complete"] is True


def snapshot(path):
    """Relative path -> sha256 of every file of a store (a file or a directory)."""
    path = pathlib.Path(path)
    if path.is_file():
        return {".": hashlib.sha256(path.read_bytes()).hexdigest()}
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            if p.is_file() else "dir" for p in sorted(path.rglob("*"))}


def listing(folder):
    return sorted(os.listdir(folder))


# ---------------------------------------------------------------------------
# every layout, both store formats
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["zarr", "h5"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_store_equals_preprocess(inputs, tmp_path, layout, fmt):
    src = inputs.files[layout]
    out = tmp_path / f"images.{fmt}"
    result = jetimg.build(src.path, out, **src.kwargs)
    assert (result.n_jets, result.n_invalid, result.output) == (N_JETS, 0, str(out))
    assert result.output_bytes > 0
    arrays, attrs = read_store(out)
    assert_bit_identical(arrays, inputs.expected())
    assert arrays["valid"].all() and arrays["n_constituents"][EMPTY_ROW] == 0
    assert not arrays["images"][EMPTY_ROW].any()
    check_store_layout(out, N_JETS, 40, has_labels=True)
    check_attrs(attrs, recipe=Recipe(), input_name=src.path.name, input_rows=N_JETS,
                n_jets=N_JETS)
    assert listing(tmp_path) == [out.name]      # no lock or temporary files


@pytest.mark.parametrize("fmt", ["zarr", "h5"])
def test_limit_and_recipe_attrs(inputs, tmp_path, fmt):
    recipe = Recipe(npix=24, pixel_size=(0.02, 0.03), center="leading", rotate=False,
                    normalise="max", threshold=0.5, intensity="e")
    out = tmp_path / f"images.{fmt}"
    result = jetimg.build(inputs.files["pandas-fixed"].path, out, recipe, limit=321)
    assert result.n_jets == 321
    arrays, attrs = read_store(out)
    assert_bit_identical(arrays, inputs.expected(321, recipe))
    check_store_layout(out, 321, 24, has_labels=True)
    check_attrs(attrs, recipe=recipe, input_name="fixed.h5", input_rows=N_JETS, n_jets=321)
    assert attrs["recipe"]["pixel_size"] == [0.02, 0.03]


def test_options_override_recipe(inputs, tmp_path):
    out = tmp_path / "images.zarr"
    jetimg.build(inputs.files["npy"].path, out, Recipe(npix=20), limit=50, npix=16,
                 flip=False)
    arrays, attrs = read_store(out)
    assert attrs["recipe"] == Recipe(npix=16, flip=False).to_attrs()
    assert_bit_identical(arrays, expected_outputs(inputs.jets[:50], None,
                                                  Recipe(npix=16, flip=False)))


@pytest.mark.parametrize("fmt", ["zarr", "h5"])
@pytest.mark.parametrize("name", ["npy", "pandas-fixed"])
def test_no_labels_no_labels_array(inputs, tmp_path, name, fmt):
    out = tmp_path / f"images.{fmt}"
    jetimg.build(inputs.no_labels[name].path, out, limit=100)
    arrays, _ = read_store(out)
    assert "labels" not in arrays
    assert_bit_identical(arrays, expected_outputs(inputs.jets[:100], None))
    check_store_layout(out, 100, 40, has_labels=False)


# ---------------------------------------------------------------------------
# chunking, workers, schedulers, formats
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("chunk_size, rows", [(1, 60), (7, 300), (1000, N_JETS)])
@pytest.mark.parametrize("fmt", ["zarr", "h5"])
def test_chunk_sizes_and_workers_bit_identical(inputs, tmp_path, fmt, chunk_size, rows,
                                               workers):
    # Chunk sizes 1 and 7 make one Dask task per 1 or 7 jets (and as many
    # store writes): fewer rows keep them quick; 1000 runs 3 tasks, one partial.
    out = tmp_path / f"images.{fmt}"
    limit = None if rows == N_JETS else rows
    jetimg.build(inputs.files["pandas-fixed"].path, out, chunk_size=chunk_size, limit=limit,
                 workers=workers)
    arrays, attrs = read_store(out)
    assert_bit_identical(arrays, inputs.expected(rows))
    assert attrs["complete"] is True and attrs["n_jets"] == rows


@pytest.mark.parametrize("layout", ["pandas-fixed", "pandas-table-blosc", "npy"])
def test_chunks_read_in_blocks_bit_identical(inputs, tmp_path, monkeypatch, layout):
    # A CPU task reads and images its chunk READ_ROWS rows at a time (2,000 by
    # default); 7 makes 143 blocks per 1000-row chunk, the last one partial.
    from jetimg import pipeline

    monkeypatch.setattr(pipeline, "READ_ROWS", 7)
    out = tmp_path / "images.zarr"
    jetimg.build(inputs.files[layout].path, out, chunk_size=1000, **inputs.files[layout].kwargs)
    arrays, _ = read_store(out)
    assert_bit_identical(arrays, inputs.expected())


def test_invalid_jet_in_a_later_block_names_its_row(tmp_path_factory, tmp_path, monkeypatch):
    from jetimg import pipeline

    monkeypatch.setattr(pipeline, "READ_ROWS", 3)
    path, jets, labels, bad = invalid_input(tmp_path_factory)
    with pytest.raises(InvalidJetError, match=r"row 7: slot 4: not finite \(E="):
        jetimg.build(path, tmp_path / "a.zarr", chunk_size=1000)
    result = jetimg.build(path, tmp_path / "b.zarr", chunk_size=1000, invalid="skip")
    arrays, _ = read_store(tmp_path / "b.zarr")
    assert result.n_invalid == len(bad)
    assert_bit_identical(arrays, expected_outputs(jets, labels, Recipe(invalid="skip")))


@pytest.mark.parametrize("fmt", ["zarr", "h5"])
def test_schedulers_identical(inputs, tmp_path, fmt):
    src = inputs.files["pandas-table-blosc"]
    stores = {}
    for scheduler in ("threads", "processes", "synchronous"):
        out = tmp_path / f"{scheduler}.{fmt}"
        jetimg.build(src.path, out, chunk_size=600, workers=2, scheduler=scheduler)
        stores[scheduler] = read_store(out)
    for scheduler, (arrays, attrs) in stores.items():
        assert_bit_identical(arrays, inputs.expected())
        assert attrs == stores["threads"][1], scheduler
    assert sorted(p for p in listing(tmp_path)) == sorted(f"{s}.{fmt}" for s in stores)


def test_zarr_and_hdf5_agree(inputs, tmp_path):
    src = inputs.files["hdf5-array"]
    jetimg.build(src.path, tmp_path / "a.zarr", chunk_size=700, **src.kwargs)
    jetimg.build(src.path, tmp_path / "a.h5", chunk_size=700, **src.kwargs)
    (zarrays, zattrs), (harrays, hattrs) = read_store(tmp_path / "a.zarr"), \
        read_store(tmp_path / "a.h5")
    assert_bit_identical(zarrays, harrays)
    assert zattrs == hattrs


def test_progress_reports_every_row(inputs, tmp_path):
    calls = []
    jetimg.build(inputs.files["npy"].path, tmp_path / "a.zarr", chunk_size=1000,
                 progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (0, N_JETS) and calls[-1] == (N_JETS, N_JETS)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


# ---------------------------------------------------------------------------
# the challenge's pandas image layout
# ---------------------------------------------------------------------------

def check_pandas_images(path, arrays, has_labels=True):
    """A pandas-images file equals a store's images (row-major), labels and jet_mass."""
    pd = pytest.importorskip("pandas")
    frame = pd.read_hdf(path, "table")
    n, npix = arrays["images"].shape[:2]
    columns = [f"img_{i}" for i in range(npix * npix)]
    columns += ["is_signal_new"] if has_labels else []
    assert list(frame.columns) == columns + ["mass"]
    assert len(frame) == n
    assert frame.index.tolist() == list(range(n))
    images = frame[columns[:npix * npix]].to_numpy()
    assert images.dtype == np.float32
    assert_bit_identical({"images": images}, {"images": arrays["images"].reshape(n, -1)})
    np.testing.assert_array_equal(frame["mass"].to_numpy(),
                                  arrays["jet_mass"].astype(np.float64))
    if has_labels:
        np.testing.assert_array_equal(frame["is_signal_new"].to_numpy(), arrays["labels"])


def test_pandas_images_layout(inputs, tmp_path):
    out = tmp_path / "train_img.h5"
    src = inputs.files["pandas-fixed-zlib"]
    result = jetimg.build(src.path, out, layout="pandas-images", chunk_size=1000)
    assert result.n_jets == N_JETS
    assert listing(tmp_path) == ["train_img.h5"]     # the staging store is gone
    check_pandas_images(out, inputs.expected())


def test_pandas_images_without_labels_and_overwrite(inputs, tmp_path):
    out = tmp_path / "img.h5"
    jetimg.build(inputs.no_labels["npy"].path, out, layout="pandas-images", limit=30, npix=8)
    jetimg.build(inputs.no_labels["npy"].path, out, layout="pandas-images", limit=40, npix=6,
                 overwrite=True)
    check_pandas_images(out, expected_outputs(inputs.jets[:40], None, Recipe(npix=6)),
                        has_labels=False)
    assert listing(tmp_path) == ["img.h5"]


def test_pandas_images_needs_hdf5(inputs, tmp_path):
    with pytest.raises(InputError, match="pandas-images.*h5"):
        jetimg.build(inputs.files["npy"].path, tmp_path / "img.zarr", layout="pandas-images")
    with pytest.raises(InputError, match="layout='table'.*pandas-images"):
        jetimg.build(inputs.files["npy"].path, tmp_path / "img.h5", layout="table")
    assert listing(tmp_path) == []


# ---------------------------------------------------------------------------
# dask.distributed
# ---------------------------------------------------------------------------

def test_distributed_local_cluster(inputs, tmp_path, local_cluster):
    from distributed import Client

    src = inputs.files["pandas-fixed"]
    address = local_cluster.scheduler_address
    out = tmp_path / "dist.zarr"
    jetimg.build(src.path, out, chunk_size=500, scheduler=address)
    arrays, attrs = read_store(out)
    assert_bit_identical(arrays, inputs.expected())
    check_attrs(attrs, recipe=Recipe(), input_name="fixed.h5", input_rows=N_JETS,
                n_jets=N_JETS)
    with Client(local_cluster) as client:
        jetimg.build(src.path, tmp_path / "client.zarr", chunk_size=1000, limit=1500,
                     scheduler=client)
    assert_bit_identical(read_store(tmp_path / "client.zarr")[0], inputs.expected(1500))
    assert listing(tmp_path) == ["client.zarr", "dist.zarr"]


def test_distributed_local_cluster_hdf5(inputs, tmp_path, local_cluster):
    # Regression test (fixed): jetimg/pipeline.py _run_distributed makes the HDF5 write
    # lock with ``distributed.Lock(name, client=client)``, but
    # distributed.Lock takes (name, scheduler_rpc, loop): every HDF5 build on
    # a dask.distributed scheduler dies with "TypeError: Lock.__init__() got an
    # unexpected keyword argument 'client'". Fails until that is fixed.
    out = tmp_path / "dist.h5"
    jetimg.build(inputs.files["npy"].path, out, chunk_size=500, limit=2000,
                 labels_key=inputs.files["npy"].labels_key,
                 scheduler=local_cluster.scheduler_address)
    assert_bit_identical(read_store(out)[0], inputs.expected(2000))
    assert listing(tmp_path) == ["dist.h5"]


# ---------------------------------------------------------------------------
# invalid jets
# ---------------------------------------------------------------------------

def test_invalid_jet_raises_naming_row(tmp_path_factory, tmp_path):
    # With several chunks in flight the error names one of the invalid rows
    # (whichever task fails first), each with its reason.
    path, _, _, bad = invalid_input(tmp_path_factory)
    with pytest.raises(InvalidJetError) as info:
        jetimg.build(path, tmp_path / "a.zarr", chunk_size=5)
    assert info.value.row in bad
    assert f"invalid jet at row {info.value.row}: slot " in str(info.value)
    with pytest.raises(InvalidJetError, match=r"row 7: slot 4: not finite \(E="):
        jetimg.build(path, tmp_path / "a.zarr", chunk_size=1000)   # one chunk: the first
    assert listing(tmp_path) == []


@pytest.mark.parametrize("fmt", ["zarr", "h5"])
def test_skip_invalid(tmp_path_factory, tmp_path, fmt):
    path, jets, labels, bad = invalid_input(tmp_path_factory)
    out = tmp_path / f"a.{fmt}"
    result = jetimg.build(path, out, chunk_size=7, invalid="skip")
    assert result.n_invalid == len(bad)
    arrays, attrs = read_store(out)
    assert np.flatnonzero(arrays["valid"] == 0).tolist() == bad
    for name, values in arrays.items():
        if name != "labels":
            assert not values[bad].any(), name
    assert_bit_identical(arrays, expected_outputs(jets, labels, Recipe(invalid="skip")))
    assert attrs["recipe"]["invalid"] == "skip" and attrs["complete"] is True


# ---------------------------------------------------------------------------
# existing outputs, failures part-way, bad arguments
# ---------------------------------------------------------------------------

def make_old_store(inputs, folder, fmt):
    old = folder / f"old.{fmt}"
    jetimg.build(inputs.files["npy"].path, old, limit=100, npix=12)
    return old, snapshot(old)


@pytest.mark.parametrize("fmt", ["zarr", "h5"])
def test_existing_output_refused_and_untouched(inputs, tmp_path, fmt):
    old, before = make_old_store(inputs, tmp_path, fmt)
    with pytest.raises(OutputExistsError, match="already exists.*overwrite"):
        jetimg.build(inputs.files["npy"].path, old, limit=200)
    assert snapshot(old) == before
    assert listing(tmp_path) == [old.name]


@pytest.mark.parametrize("fmt", ["zarr", "h5"])
def test_overwrite_replaces(inputs, tmp_path, fmt):
    old, _ = make_old_store(inputs, tmp_path, fmt)
    jetimg.build(inputs.files["pandas-fixed"].path, old, limit=200, overwrite=True)
    arrays, attrs = read_store(old)
    assert_bit_identical(arrays, inputs.expected(200))
    assert attrs["n_jets"] == 200 and attrs["input"] == "fixed.h5"
    assert listing(tmp_path) == [old.name]


@pytest.mark.parametrize("fmt", ["zarr", "h5"])
def test_overwrite_failing_midway_keeps_old_output(inputs, tmp_path_factory, tmp_path, fmt):
    old, before = make_old_store(inputs, tmp_path, fmt)
    with pytest.raises(InvalidJetError, match=f"row {MID_BAD_ROW}"):
        jetimg.build(mid_build_input(tmp_path_factory), old, chunk_size=1000, overwrite=True)
    assert snapshot(old) == before
    assert listing(tmp_path) == [old.name]         # no temporary store, no lock file
    assert read_store(old)[1]["complete"] is True


@pytest.mark.parametrize("scheduler", ["threads", "processes"])
@pytest.mark.parametrize("fmt", ["zarr", "h5"])
def test_fresh_output_failing_midway_leaves_nothing(tmp_path_factory, tmp_path, fmt,
                                                   scheduler):
    with pytest.raises(InvalidJetError, match=f"row {MID_BAD_ROW}"):
        jetimg.build(mid_build_input(tmp_path_factory), tmp_path / f"new.{fmt}",
                     chunk_size=1000, workers=2, scheduler=scheduler)
    assert listing(tmp_path) == []


def test_output_folder_missing(inputs, tmp_path):
    with pytest.raises(JetimgError, match="does not exist"):
        jetimg.build(inputs.files["npy"].path, tmp_path / "nowhere" / "a.zarr")
    assert listing(tmp_path) == []


@pytest.mark.parametrize("limit, match", [(N_JETS + 1, f"beyond the input's {N_JETS} rows"),
                                          (0, "limit=0 must be a positive integer"),
                                          (-3, "positive integer")])
def test_bad_limit(inputs, tmp_path, limit, match):
    with pytest.raises(InputError, match=match):
        jetimg.build(inputs.files["pandas-fixed"].path, tmp_path / "a.h5", limit=limit)
    assert listing(tmp_path) == []


@pytest.mark.parametrize("options, match", [
    ({"npix": 0}, "npix=0"), ({"center": "middle"}, "center='middle'"),
    ({"pixel_size": (0.0, 0.1)}, r"pixel_size\[0\]"), ({"colour": "red"}, "colour"),
    ({"chunk_size": 0}, "chunk_size=0"), ({"codec": "gzip9"}, "codec='gzip9'"),
])
def test_bad_options(inputs, tmp_path, options, match):
    with pytest.raises(JetimgError, match=match):
        jetimg.build(inputs.files["npy"].path, tmp_path / "a.zarr", **options)
    assert listing(tmp_path) == []


@pytest.mark.parametrize("workers", [0, -1])
def test_bad_workers(inputs, tmp_path, workers):
    # Regression test (fixed): jetimg/pipeline.py takes ``workers or os.cpu_count()``:
    # workers=0 silently means "all cores" and workers=-1 reaches
    # ThreadPoolExecutor, whose ValueError is no JetimgError (the CLI prints a
    # traceback). Fails until build() checks workers like chunk_size.
    with pytest.raises(InputError, match=f"workers={workers}"):
        jetimg.build(inputs.files["npy"].path, tmp_path / "a.zarr", limit=10, workers=workers)
    assert listing(tmp_path) == []


def test_bad_scheduler_name(inputs, tmp_path):
    # Regression test (fixed): a scheduler that is neither a local name nor an address
    # ("thread", a typo) goes to distributed.Client, whose ValueError ("missing
    # port number") is no JetimgError (the CLI prints a traceback). Fails until
    # _run_distributed turns ValueError into a JetimgError naming the choices.
    with pytest.raises(JetimgError, match="thread"):
        jetimg.build(inputs.files["npy"].path, tmp_path / "a.zarr", limit=10, scheduler="thread")
    assert listing(tmp_path) == []


def test_missing_and_unreadable_inputs(tmp_path):
    (tmp_path / "notes.h5").write_text("E_0,PX_0\n1,2\n")
    with pytest.raises(InputError, match="not found"):
        jetimg.build(tmp_path / "absent.h5", tmp_path / "a.zarr")
    with pytest.raises(InputError, match="text file"):
        jetimg.build(tmp_path / "notes.h5", tmp_path / "a.zarr")
    assert listing(tmp_path) == ["notes.h5"]
