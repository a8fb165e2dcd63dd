"""The PyTorch datasets (jetimg.torch): every jet once per epoch whatever the workers and
ranks, seeded epochs, invalid jets left out, channel-first tensors, whole-chunk reads,
images made on the fly, class-sorted stores mixed, and docs/torch.md's training loop.

Stores are tiny (a few hundred toy jets at npix 8-16, chunks of odd sizes) so that
DataLoader workers, which are processes, keep the file to seconds.
"""

import pickle
import re
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import jetimg                                          # noqa: E402
import jetimg.data                                     # noqa: E402
from jetimg.errors import InputError                   # noqa: E402
from jetimg.toys import toy_jets                       # noqa: E402
from jetimg.torch import (ChunkSampler, JetIterableDataset, StoreDataset,  # noqa: E402
                          StoreIterableDataset)
from jetimg.streams.batches import epoch_buffers, share  # noqa: E402

from torch.utils.data import DataLoader                # noqa: E402

# three workers on a two-core machine: PyTorch warns, rightly but beside the point here;
# Python 3.12+ warns of fork() in a process with threads (Dask's, numba's: idle while the
# DataLoader starts its workers)
pytestmark = [pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning"),
              pytest.mark.filterwarnings("ignore:This process .* is multi-threaded, use of "
                                         "fork:DeprecationWarning"),
              # JAX, imported by the Keras tests of the same run, warns at every fork;
              # the workers never touch JAX
              pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning")]

NPIX = 8
N_JETS = 500            # 13 chunks of 37 and one of 19
CHUNK = 37
INVALID = (3, 40, 41, 499)
DOCS = Path(__file__).resolve().parent.parent / "docs" / "torch.md"
README = DOCS.parent.parent / "README.md"


def _save(folder, name, jets, labels):
    np.save(folder / f"{name}_jets.npy", jets)
    np.save(folder / f"{name}_labels.npy", labels)
    return folder / f"{name}_jets.npy", str(folder / f"{name}_labels.npy")


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A Zarr store of 500 toy jets in chunks of 37 with four invalid jets; its arrays."""
    folder = tmp_path_factory.mktemp("torch")
    jets, labels = toy_jets(N_JETS, seed=31)
    jets[list(INVALID), 0, 0] = np.inf
    path, labels_key = _save(folder, "toy", jets, labels)
    out = folder / "toy.zarr"
    jetimg.build(path, out, npix=NPIX, labels_key=labels_key, chunk_size=CHUNK,
                 invalid="skip")
    store = jetimg.open_store(out)
    return {"folder": folder, "store": out, "jets": jets, "labels": labels,
            "path": path, "labels_key": labels_key, "images": store["images"][:],
            "valid": store["valid"][:]}


@pytest.fixture(scope="module")
def jetclass(tmp_path_factory):
    """The shipped JetClass-layout sample (five files, classes in blocks) built at npix 16."""
    out = tmp_path_factory.mktemp("jetclass") / "jetclass.zarr"
    jetimg.build(str(jetimg.data.sample_path("jetclass")) + "/*.root", out, npix=16)
    return out


def _epoch(dataset, workers, batch_size=50, sampler=None):
    """(rows, images, labels) of one epoch through a DataLoader, in the order given."""
    if sampler is None:
        loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers)
    else:
        loader = DataLoader(dataset, batch_sampler=sampler, num_workers=workers)
    rows, images, labels = [], [], []
    for x, y, r in loader:
        rows.append(r.numpy())
        images.append(x.numpy())
        labels.append(y.numpy())
    return np.concatenate(rows), np.concatenate(images), np.concatenate(labels)


# ---------------------------------------------------------------------------
# every jet once per epoch
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["iterable", "map"])
@pytest.mark.parametrize("workers", [0, 1, 3])
@pytest.mark.parametrize("world_size", [1, 2, 3])
def test_every_jet_once_per_epoch(toy, kind, workers, world_size):
    valid_rows = np.flatnonzero(toy["valid"])
    assert len(valid_rows) == N_JETS - len(INVALID)
    seen = []
    for rank in range(world_size):
        if kind == "iterable":
            ds = StoreIterableDataset(toy["store"], seed=7, buffer_size=80, rank=rank,
                                      world_size=world_size, return_rows=True)
            rows, images, labels = _epoch(ds, workers)
            assert ds.n_jets == len(rows)
        else:
            ds = StoreDataset(toy["store"], return_rows=True)
            sampler = ChunkSampler(ds, 50, seed=7, buffer_size=80, num_workers=workers,
                                   rank=rank, world_size=world_size)
            rows, images, labels = _epoch(ds, workers, sampler=sampler)
            assert len(sampler) == sum(1 for _ in sampler)
        # the remainder: the first n % world_size ranks take one jet more
        lo, hi = share(len(valid_rows), rank, world_size)
        assert len(rows) == hi - lo
        # each item is the store's jet at its row
        np.testing.assert_array_equal(images[:, 0], toy["images"][rows])
        np.testing.assert_array_equal(labels, toy["labels"][rows])
        assert images.dtype == np.float32 and labels.dtype == np.int64
        seen.append(rows)
    everything = np.concatenate(seen)
    assert len(everything) == len(valid_rows)              # none twice, over all ranks
    np.testing.assert_array_equal(np.sort(everything), valid_rows)    # none lost


def test_shares_of_ranks_and_workers_partition_the_rows():
    """The plan alone: any share counts give each row once, sizes differing by at most one."""
    groups = [np.arange(s, min(s + 7, 101)) for s in range(0, 101, 7)]
    for world_size in (1, 2, 3, 5):
        for workers in (1, 3, 4):
            parts = [np.concatenate(epoch_buffers(groups, seed=2, epoch=1, shuffle=True,
                                                  buffer_chunks=2,
                                                  shares=[(r, world_size), (w, workers)])
                                    or [np.empty(0, int)])
                     for r in range(world_size) for w in range(workers)]
            sizes = [len(p) for p in parts]
            assert max(sizes) - min(sizes) <= 1
            for r in range(world_size):   # a rank's workers: never growing (ChunkSampler's turns)
                mine = sizes[r * workers:(r + 1) * workers]
                assert mine == sorted(mine, reverse=True)
            np.testing.assert_array_equal(np.sort(np.concatenate(parts)), np.arange(101))


# ---------------------------------------------------------------------------
# epochs, buffers, invalid jets, shapes
# ---------------------------------------------------------------------------

def test_set_epoch_reshuffles_reproducibly(toy):
    def order(epoch, workers, seed=5):
        ds = StoreIterableDataset(toy["store"], seed=seed, buffer_size=111, return_rows=True)
        ds.set_epoch(epoch)
        return _epoch(ds, workers)[0]

    first = order(0, 2)
    np.testing.assert_array_equal(first, order(0, 2))          # same seed and epoch
    second = order(1, 2)
    assert not np.array_equal(first, second)
    assert sorted(first.tolist()) == sorted(second.tolist())
    assert not np.array_equal(first, order(0, 2, seed=6))
    # the chunk order is over the whole store, and a buffer (111 rows: three chunks of 37)
    # mixes its chunks: the first 50 rows of worker 0 come from three chunks
    ds = StoreIterableDataset(toy["store"], seed=5, buffer_size=111)
    first_buffer = ds.buffers()[0]
    assert len(np.unique(first_buffer // CHUNK)) == 3
    assert len(np.unique(first_buffer[:50] // CHUNK)) == 3
    starts = set()
    for epoch in range(8):
        ds.set_epoch(epoch)
        starts.add(int(ds.buffers()[0][0] // CHUNK))
    assert len(starts) > 3
    # the map-style sampler too
    ds = StoreDataset(toy["store"])
    sampler = ChunkSampler(ds, 64, seed=5, buffer_size=111)
    epoch0 = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != epoch0
    sampler.set_epoch(0)
    assert list(sampler) == epoch0
    assert list(ChunkSampler(ds, 64, seed=5, buffer_size=111)) == epoch0
    ordered = list(ChunkSampler(ds, 64, shuffle=False))
    assert np.concatenate(ordered).tolist() == list(range(len(ds)))


def test_invalid_jets_left_out(toy):
    ds = StoreIterableDataset(toy["store"], shuffle=False, return_rows=True)
    assert ds.n_invalid == len(INVALID) and ds.n_jets == N_JETS - len(INVALID)
    rows = _epoch(ds, 0)[0]
    assert not set(INVALID) & set(rows.tolist())
    kept = StoreIterableDataset(toy["store"], shuffle=False, drop_invalid=False,
                                return_rows=True)
    np.testing.assert_array_equal(_epoch(kept, 0)[0], np.arange(N_JETS))
    mapped = StoreDataset(toy["store"], return_rows=True)
    assert len(mapped) == N_JETS - len(INVALID) and not set(INVALID) & set(mapped.rows.tolist())
    assert int(mapped[3][2]) == 4 and int(mapped[-1][2]) == 498
    with pytest.raises(IndexError, match="index 496 of a dataset of 496 jets"):
        mapped[496]
    # made on the fly: validity is known once a chunk is made; those jets are left out too
    otf = JetIterableDataset(toy["path"], jetimg.Recipe(npix=NPIX), labels_key=toy["labels_key"],
                             chunk_rows=CHUNK, seed=1, return_rows=True)
    rows = _epoch(otf, 2)[0]
    np.testing.assert_array_equal(np.sort(rows), np.flatnonzero(toy["valid"]))


def test_shapes_and_dtypes_one_and_three_channels(toy):
    channels = ["pt", "e", "count"]
    out = toy["folder"] / "three.h5"
    jetimg.build(toy["path"], out, npix=NPIX, labels_key=toy["labels_key"], chunk_size=CHUNK,
                 invalid="skip", channels=channels)
    stored = jetimg.open_store(out)["images"][:]
    assert stored.shape == (N_JETS, NPIX, NPIX, 3)
    for store, c in ((toy["store"], 1), (out, 3)):
        ds = StoreIterableDataset(store, seed=1)
        assert ds.image_shape == (c, NPIX, NPIX)
        x, y = next(iter(DataLoader(ds, batch_size=32)))
        assert x.shape == (32, c, NPIX, NPIX) and x.dtype == torch.float32
        assert y.shape == (32,) and y.dtype == torch.int64
        image, label = StoreDataset(store)[0]
        assert image.shape == (c, NPIX, NPIX) and image.dtype == torch.float32
        assert label.shape == () and label.dtype == torch.int64
    # channel last in the store, channel first here: the same pixels
    image, _, row = StoreDataset(out, return_rows=True)[10]
    np.testing.assert_array_equal(image.numpy(), np.moveaxis(stored[int(row)], -1, 0))
    assert StoreDataset(out).channels == tuple(channels)
    # labels=False: the image alone
    assert StoreDataset(out, labels=False)[0].shape == (3, NPIX, NPIX)


def test_pandas_image_layout_and_hdf5(toy):
    pytest.importorskip("tables")
    keep = np.flatnonzero(toy["valid"])
    path, labels_key = _save(toy["folder"], "pd", toy["jets"][keep], toy["labels"][keep])
    out = toy["folder"] / "pd_img.h5"
    jetimg.build(path, out, npix=NPIX, labels_key=labels_key, layout="pandas-images")
    ds = StoreDataset(out, return_rows=True)
    assert ds.layout == "pandas-images" and len(ds) == len(keep)
    rows, x, y = _epoch(ds, 2, sampler=ChunkSampler(ds, 100, seed=1, num_workers=2))
    np.testing.assert_array_equal(np.sort(rows), np.arange(len(keep)))
    np.testing.assert_array_equal(x[:, 0], toy["images"][keep][rows])
    np.testing.assert_array_equal(y, toy["labels"][keep][rows])


# ---------------------------------------------------------------------------
# whole-chunk reads
# ---------------------------------------------------------------------------

class _LoggedReads(StoreDataset):
    """A StoreDataset that writes every chunk read (process id, chunk) to a file."""

    log = None

    def _read_chunk(self, c):
        import os

        with open(self.log, "a") as f:
            f.write(f"{os.getpid()} {c}\n")
        return super()._read_chunk(c)


@pytest.mark.parametrize("workers", [0, 3])
def test_map_dataset_with_sampler_reads_whole_chunks_once(toy, workers, tmp_path):
    ds = _LoggedReads(toy["store"], return_rows=True)
    ds.log = tmp_path / "reads.txt"
    sampler = ChunkSampler(ds, 20, seed=3, buffer_size=80, num_workers=workers)
    assert ds.cache_chunks >= 2 * sampler.buffer_chunks
    rows = _epoch(ds, workers, sampler=sampler)[0]
    assert len(rows) == len(ds)
    reads = [tuple(map(int, line.split())) for line in ds.log.read_text().splitlines()]
    chunks = np.unique(ds.rows // CHUNK)
    # each worker reads the chunks of its own share, each once
    lanes = max(1, workers)
    expected = [set(np.unique(ds.rows[np.concatenate(epoch_buffers(
        ds.groups, seed=sampler.seed, epoch=0, shuffle=True, buffer_chunks=sampler.buffer_chunks,
        shares=[(0, 1), (k, lanes)]))] // CHUNK).tolist()) for k in range(lanes)]
    by_process = {}
    for pid, c in reads:
        by_process.setdefault(pid, []).append(c)
    assert sorted(sorted(v) for v in by_process.values()) == sorted(sorted(e) for e in expected)
    assert len(chunks) <= len(reads) <= len(chunks) + lanes - 1
    if workers == 0:
        assert sorted(c for _, c in reads) == chunks.tolist() and ds.reads == len(chunks)


def test_iterable_reads_whole_chunks_once(toy):
    ds = StoreIterableDataset(toy["store"], seed=2, buffer_size=100)
    assert sum(1 for _ in ds) == ds.n_jets
    assert ds.reads == -(-N_JETS // CHUNK)


def test_dataset_pickles_without_its_file(toy):
    ds = StoreIterableDataset(toy["store"], seed=4, return_rows=True)
    ds._source()
    copy = pickle.loads(pickle.dumps(ds))
    assert copy._opened is None
    np.testing.assert_array_equal([int(r) for _, _, r in copy], [int(r) for _, _, r in ds])


# ---------------------------------------------------------------------------
# images made on the fly
# ---------------------------------------------------------------------------

def test_on_the_fly_images_equal_the_store(toy, tmp_path):
    import h5py

    # two files read as one input
    paths = []
    for i, rows in enumerate((slice(0, 230), slice(230, N_JETS))):
        paths.append(tmp_path / f"part{i}.h5")
        with h5py.File(paths[-1], "w") as f:
            f["jets"], f["labels"] = toy["jets"][rows], toy["labels"][rows]
    recipe = jetimg.Recipe(npix=NPIX)
    for world_size in (1, 2):
        seen = []
        for rank in range(world_size):
            ds = JetIterableDataset(paths, recipe, chunk_rows=41, seed=3, rank=rank,
                                    world_size=world_size, return_rows=True)
            assert ds.n_rows == N_JETS and ds.image_shape == (1, NPIX, NPIX)
            rows, images, labels = _epoch(ds, 2)
            np.testing.assert_array_equal(images[:, 0], toy["images"][rows])
            np.testing.assert_array_equal(labels, toy["labels"][rows])
            seen.append(rows)
        np.testing.assert_array_equal(np.sort(np.concatenate(seen)),
                                      np.flatnonzero(toy["valid"]))


def test_on_the_fly_channels_with_kinds(tmp_path):
    """JetClass-layout ROOT files (a glob) with channels that select kinds: the built store's
    images, channel first."""
    inputs = str(jetimg.data.sample_path("jetclass")) + "/*.root"
    recipe = jetimg.Recipe(npix=NPIX, channels=["charged_pt", "neutral_pt", "charged_count"])
    ds = JetIterableDataset(inputs, recipe, chunk_rows=700, seed=1, return_rows=True)
    assert ds.image_shape == (3, NPIX, NPIX) and ds.label_names[0] == "QCD"
    rows, images, labels = _epoch(ds, 2, batch_size=500)
    out = tmp_path / "jc.zarr"
    jetimg.build(inputs, out, recipe)
    store = jetimg.open_store(out)
    np.testing.assert_array_equal(np.sort(rows), np.arange(ds.n_rows))
    np.testing.assert_array_equal(images, np.moveaxis(store["images"][:][rows], -1, 1))
    np.testing.assert_array_equal(labels, store["labels"][:][rows])


# ---------------------------------------------------------------------------
# a class-sorted store
# ---------------------------------------------------------------------------

def test_class_sorted_store_gives_mixed_batches(jetclass):
    labels = jetimg.open_store(jetclass)["labels"][:]
    classes = np.unique(labels)
    assert len(classes) == 5 and np.count_nonzero(np.diff(labels)) == 4   # in class blocks
    in_order = next(iter(DataLoader(StoreIterableDataset(jetclass, shuffle=False),
                                    batch_size=128)))[1]
    assert len(np.unique(in_order)) == 1
    # three chunks of 1,000: one buffer (10,000 rows) mixes all of them, five classes
    ds = StoreIterableDataset(jetclass, seed=1)
    for _, y in DataLoader(ds, batch_size=128):
        if len(y) == 128:
            assert len(np.unique(y.numpy())) >= 4, np.bincount(y.numpy())
    # two workers: each mixes its own 1.5 chunks (three classes of 600 jets)
    for _, y in DataLoader(ds, batch_size=128, num_workers=2):
        if len(y) == 128:
            assert len(np.unique(y.numpy())) >= 3, np.bincount(y.numpy())
    mapped = StoreDataset(jetclass)
    sampler = ChunkSampler(mapped, 128, seed=1, num_workers=2)
    for _, y in DataLoader(mapped, batch_sampler=sampler, num_workers=2):
        if len(y) == 128:
            assert len(np.unique(y.numpy())) >= 3, np.bincount(y.numpy())


def test_rank_and_world_size_from_torch_distributed(toy, tmp_path):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0,
                            world_size=1)
    try:
        ds = StoreIterableDataset(toy["store"], seed=1)
        assert (ds.rank, ds.world_size) == (0, 1)
        with pytest.raises(InputError, match="rank=1 must be below world_size=1"):
            ChunkSampler(StoreDataset(toy["store"]), seed=1, rank=1)
    finally:
        dist.destroy_process_group()


# ---------------------------------------------------------------------------
# refusals
# ---------------------------------------------------------------------------

def test_refusals(toy, tmp_path):
    with pytest.raises(InputError, match="is not an image store .* use JetIterableDataset"):
        StoreDataset(toy["path"])
    with pytest.raises(InputError, match="is not an image store"):
        StoreIterableDataset(toy["path"])
    with pytest.raises(InputError, match="rank=2 must be below world_size=2"):
        StoreIterableDataset(toy["store"], seed=1, rank=2, world_size=2)
    with pytest.raises(InputError, match="world_size=2 needs a seed, the same on every rank"):
        StoreIterableDataset(toy["store"], rank=0, world_size=2)
    with pytest.raises(InputError, match="world_size=2 needs a seed"):
        ChunkSampler(StoreDataset(toy["store"]), rank=1, world_size=2)
    with pytest.raises(InputError, match="batch_size=0 must be an integer >= 1"):
        ChunkSampler(StoreDataset(toy["store"]), batch_size=0)
    with pytest.raises(InputError, match="ChunkSampler needs a jetimg.torch.StoreDataset"):
        ChunkSampler(list(range(10)))
    with pytest.raises(InputError, match="recipe must be a jetimg.Recipe, not dict"):
        JetIterableDataset(toy["path"], {"npix": 8})
    with pytest.raises(InputError, match="not found"):
        StoreDataset(tmp_path / "missing.zarr")
    unlabelled = tmp_path / "nolabels.zarr"
    np.save(tmp_path / "nl.npy", toy["jets"][:50])
    jetimg.build(tmp_path / "nl.npy", unlabelled, npix=NPIX, invalid="skip")
    with pytest.raises(InputError, match="has no labels: .* labels=False gives images only"):
        StoreIterableDataset(unlabelled)
    assert next(iter(StoreIterableDataset(unlabelled, labels=False))).shape == (1, NPIX, NPIX)


# ---------------------------------------------------------------------------
# docs/torch.md's training loop
# ---------------------------------------------------------------------------

def test_docs_training_loop_runs(toy, tmp_path, capsys):
    blocks = [b for b in re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.S)
              if "Conv2d" in b]                # the CNN (the PFN: tests/test_torch_particles.py)
    assert len(blocks) == 1
    code = blocks[0]
    for name in ("train_img.zarr", "test_img.zarr"):
        assert f'"{name}"' in code
    test_path, test_labels = _save(tmp_path, "test", *toy_jets(200, seed=32))
    test_store = tmp_path / "test.zarr"
    jetimg.build(test_path, test_store, npix=NPIX, labels_key=test_labels)
    code = (code.replace('"train_img.zarr"', repr(str(toy["store"])))
            .replace('"test_img.zarr"', repr(str(test_store))))
    namespace = {}
    exec(compile(code, str(DOCS), "exec"), namespace)
    out = capsys.readouterr().out
    assert "epoch 2: loss" in out and "AUC" in out
    assert namespace["figures"]["n_jets"] == 200
    assert namespace["figures"]["auc"] > 0.7        # two epochs on toy jets learn (0.94 here)


def test_readme_pytorch_path_runs(toy, tmp_path, capsys):
    """The README tour's PyTorch block, on toy stores in place of the sample's."""
    blocks = [b for b in re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
              if "jetimg.torch" in b]
    assert len(blocks) == 1
    test_path, test_labels = _save(tmp_path, "test", *toy_jets(200, seed=33))
    test_store = tmp_path / "test.zarr"
    jetimg.build(test_path, test_store, npix=NPIX, labels_key=test_labels)
    code = (blocks[0].replace('"train_img.zarr"', repr(str(toy["store"])))
            .replace('"test_img.zarr"', repr(str(test_store))))
    assert repr(str(toy["store"])) in code and repr(str(test_store)) in code
    namespace = {}
    exec(compile(code, str(README), "exec"), namespace)
    assert "'auc':" in capsys.readouterr().out
    figures = jetimg.metrics.summary(namespace["labels"].numpy(), namespace["scores"].numpy())
    assert figures["n_jets"] == 200 and figures["auc"] > 0.7
