"""``jetimg.build``: input files -> image stores, read back and compared.

Every input layout of SPEC.md (pandas "fixed" uncompressed and zlib, pandas
"table" with blosc, plain (N, M, 4) arrays in HDF5, Zarr and .npy) is written
once per session; each store read back must equal ``jetimg.preprocess`` on
the same rows bit for bit, whatever the chunk size, worker count, scheduler
(threads, processes, a ``distributed.LocalCluster``) or store format. Failed
builds must leave an existing output untouched and nothing else behind.

The inputs (the ``inputs`` fixture of tests/conftest.py) and the store
reading and comparisons (tests/helpers.py) are shared with tests/test_cli.py,
which runs the same checks through the command line.
"""

import numpy as np
import pytest

import jetimg
from jetimg.errors import InputError, InvalidJetError, JetimgError, OutputExistsError
from jetimg.recipe import Recipe

from .helpers import (EMPTY_ROW, LAYOUTS, MID_BAD_ROW, N_JETS, assert_bit_identical,
                      check_attrs, check_pandas_images, check_store_layout, expected_outputs,
                      invalid_input, listing, mid_build_input, read_store, snapshot)

zarr = pytest.importorskip("zarr")


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
    check_attrs(attrs, recipe=recipe, input_name="fixed.h5", input_rows=N_JETS, n_jets=321,
                label_names=("QCD", "top"))
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
    from jetimg.pipeline import chunks

    monkeypatch.setattr(chunks, "READ_ROWS", 7)
    out = tmp_path / "images.zarr"
    jetimg.build(inputs.files[layout].path, out, chunk_size=1000, **inputs.files[layout].kwargs)
    arrays, _ = read_store(out)
    assert_bit_identical(arrays, inputs.expected())


def test_invalid_jet_in_a_later_block_names_its_row(tmp_path_factory, tmp_path, monkeypatch):
    from jetimg.pipeline import chunks

    monkeypatch.setattr(chunks, "READ_ROWS", 3)
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
                                          (0, "limit=0 must be an integer >= 1"),
                                          (-3, "must be an integer >= 1")])
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
