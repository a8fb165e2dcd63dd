"""The PyTorch particle datasets (jetimg.torch.particles): channel-first shapes and dtypes,
the mask against n_constituents, chosen features, every jet once per epoch with two
DataLoader workers and two ranks, made on the fly equal to read from the store, the
refusals, and docs/torch.md's Particle Flow Network example learning.

The input holds toy jets with PDG ids (so F = 17 with kinds) and four invalid jets;
the store is built from it with particles, in chunks of 37 rows.
"""

import re
from pathlib import Path

import h5py
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import jetimg                                          # noqa: E402
from jetimg.errors import InputError                   # noqa: E402
from jetimg.toys import toy_jets                       # noqa: E402
from jetimg.torch import (ChunkSampler, JetParticleIterableDataset,  # noqa: E402
                          StoreParticleDataset, StoreParticleIterableDataset)

from torch.utils.data import DataLoader                # noqa: E402

pytestmark = [pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning"),
              pytest.mark.filterwarnings("ignore:This process .* is multi-threaded, use of "
                                         "fork:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning")]

N_JETS, CHUNK, P, NPIX = 300, 37, 80, 8   # toy jets hold 36 to 98 constituents
INVALID = (2, 38, 299)
DOCS = Path(__file__).resolve().parent.parent / "docs" / "torch.md"
FIELDS = ("points", "features", "vectors", "mask", "label", "row")


def _write(path, n_jets, seed, invalid=()):
    jets, labels = toy_jets(n_jets, seed=seed)
    jets[list(invalid), 0, 0] = np.inf
    pid = np.random.default_rng(seed).choice(np.array([211, -211, 22, 130, 11, -13]),
                                             size=jets.shape[:2])
    with h5py.File(path, "w") as f:
        f["jets"], f["labels"], f["pid"] = jets, labels, pid.astype(np.int32)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("torch_particles")
    source, store = folder / "jets.h5", folder / "p.zarr"
    _write(source, N_JETS, seed=7, invalid=INVALID)
    recipe = jetimg.Recipe(npix=NPIX, particles=P, invalid="skip")
    jetimg.build(source, store, recipe=recipe, chunk_size=CHUNK)
    s = jetimg.open_store(store)
    arrays = {k: np.asarray(s[k][:]) for k in ("particles", "labels", "valid",
                                               "n_constituents")}
    return {"folder": folder, "source": source, "store": store, "recipe": recipe,
            "names": list(s.attrs["particle_features"]), **arrays}


def _stack(items):
    return {k: torch.stack([item[k] for item in items]).numpy() for k in items[0]}


def _collect(loader):
    """Every batch of a loader, concatenated per field (numpy)."""
    out = {}
    for batch in loader:
        for k, v in batch.items():
            out.setdefault(k, []).append(v.numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def _expected(toy, rows, features=None, n=P):
    """What an item of store row ``rows`` must hold, from the store's arrays."""
    names = toy["names"]
    parts = toy["particles"][rows, :n]
    cols = [names.index(f) for f in (features or names)]
    n_const = toy["n_constituents"][rows]
    return {"points": parts[:, :, [names.index("x"), names.index("y")]].transpose(0, 2, 1),
            "features": parts[:, :, cols].transpose(0, 2, 1),
            "vectors": parts[:, :, [names.index(v) for v in ("px", "py", "pz", "e")]]
            .transpose(0, 2, 1),
            # a row holds a particle exactly when its index < min(n_constituents, P)
            "mask": (np.arange(n)[None, :] < np.minimum(n_const, n)[:, None])[:, None]
            .astype(np.float32),
            "label": toy["labels"][rows].astype(np.int64)}


def _assert_items(toy, got, features=None, n=P):
    want = _expected(toy, got["row"], features, n)
    for k, v in want.items():
        assert got[k].dtype == v.dtype, k
        assert np.array_equal(got[k], v), k


def test_items_channel_first_with_mask(toy):
    ds = StoreParticleDataset(toy["store"], return_rows=True)
    assert len(ds) == N_JETS - len(INVALID) and len(toy["names"]) == 17
    assert ds.features == tuple(toy["names"]) and ds.n_particles == P
    got = _stack(ds.__getitems__(list(range(len(ds)))))
    assert set(got) == set(FIELDS)
    assert got["points"].shape == (len(ds), 2, P) and got["features"].shape == (len(ds), 17, P)
    assert got["vectors"].shape == (len(ds), 4, P) and got["mask"].shape == (len(ds), 1, P)
    assert got["points"].dtype == np.float32 and got["mask"].dtype == np.float32
    assert got["label"].shape == (len(ds),) and got["label"].dtype == np.int64
    assert np.array_equal(got["row"], np.flatnonzero(toy["valid"]))
    _assert_items(toy, got)
    assert 0 < got["mask"].mean() < 1                 # both particles and padding present
    assert np.all(got["features"] * (1 - got["mask"]) == 0)   # padding is all zero


def test_features_chosen_by_name_and_fewer_particles(toy):
    ds = StoreParticleDataset(toy["store"], features="delta_r, log_pt_rel,is_photon",
                              n_particles=5, return_rows=True)
    got = _stack(ds.__getitems__(list(range(40))))
    assert got["features"].shape == (40, 3, 5)
    _assert_items(toy, got, features=["delta_r", "log_pt_rel", "is_photon"], n=5)
    got = _stack(StoreParticleDataset(toy["store"], labels=False, return_rows=True)
                 .__getitems__([0, 1]))
    assert "label" not in got


def _epoch(dataset, workers, sampler=None):
    if sampler is None:
        loader = DataLoader(dataset, batch_size=16, num_workers=workers)
    else:
        loader = DataLoader(dataset, batch_sampler=sampler, num_workers=workers)
    return _collect(loader)


@pytest.mark.parametrize("kind", ["store iterable", "map-style", "on the fly"])
def test_every_jet_once_per_epoch_two_workers_two_ranks(toy, kind):
    valid_rows = np.flatnonzero(toy["valid"])
    orders = []
    for epoch in (0, 1):
        parts = []
        for rank in (0, 1):
            common = dict(seed=3, rank=rank, world_size=2)
            if kind == "store iterable":
                ds = StoreParticleIterableDataset(toy["store"], return_rows=True,
                                                  buffer_size=2 * CHUNK, **common)
                ds.set_epoch(epoch)
                got = _epoch(ds, 2)
            elif kind == "map-style":
                ds = StoreParticleDataset(toy["store"], return_rows=True)
                sampler = ChunkSampler(ds, 16, num_workers=2, buffer_size=2 * CHUNK, **common)
                sampler.set_epoch(epoch)
                got = _epoch(ds, 2, sampler)
            else:
                ds = JetParticleIterableDataset(toy["source"], toy["recipe"], chunk_rows=CHUNK,
                                                return_rows=True, buffer_size=2 * CHUNK,
                                                **common)
                ds.set_epoch(epoch)
                got = _epoch(ds, 2)
            _assert_items(toy, got)
            parts.append(got["row"])
        rows = np.concatenate(parts)
        assert np.array_equal(np.sort(rows), valid_rows)      # each valid jet exactly once
        assert abs(len(parts[0]) - len(parts[1])) <= 1
        orders.append(rows)
    assert not np.array_equal(orders[0], orders[1])          # set_epoch gives a new order


def test_on_the_fly_equals_the_store(toy):
    fly = JetParticleIterableDataset(toy["source"], toy["recipe"], chunk_rows=CHUNK,
                                     shuffle=False, return_rows=True)
    stored = StoreParticleDataset(toy["store"], return_rows=True)
    assert fly.particle_features == stored.particle_features
    got = _collect(DataLoader(fly, batch_size=50))
    want = _stack(stored.__getitems__(list(range(len(stored)))))
    assert set(got) == set(want)
    for k in want:
        assert np.array_equal(got[k], want[k]), k


def test_refusals(toy, tmp_path):
    plain = tmp_path / "plain.zarr"
    jetimg.build(toy["source"], plain, npix=NPIX, invalid="skip")
    for make in (StoreParticleDataset, StoreParticleIterableDataset):
        with pytest.raises(InputError, match="holds no particles: .*jetimg build --particles"):
            make(plain)
    with pytest.raises(InputError, match="features: .* has no particle feature 'pt'; its "
                                         "features are x, y, log_pt"):
        StoreParticleDataset(toy["store"], features=["x", "pt"])
    with pytest.raises(InputError, match="features: x given more than once"):
        StoreParticleDataset(toy["store"], features="x,x")
    with pytest.raises(InputError, match=f"n_particles={P + 1} is more than the {P} particles"):
        StoreParticleIterableDataset(toy["store"], n_particles=P + 1)
    with pytest.raises(InputError, match="recipe has no particles"):
        JetParticleIterableDataset(toy["source"], jetimg.Recipe(npix=NPIX))


# ---------------------------------------------------------------------------
# docs/torch.md's Particle Flow Network
# ---------------------------------------------------------------------------

def test_docs_particle_flow_network_learns(toy, tmp_path, capsys):
    blocks = [b for b in re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.S)
              if "class PFN" in b]
    assert len(blocks) == 1
    code = blocks[0]
    assert '"train_p30.zarr"' in code
    train = tmp_path / "train.h5"
    _write(train, 600, seed=8)
    store = tmp_path / "train_p.zarr"
    jetimg.build(train, store, recipe=jetimg.Recipe(npix=NPIX, particles=P), chunk_size=100)
    # in this process (no DataLoader workers: forking them five times is most of the time)
    assert "num_workers=2" in code
    code = code.replace('"train_p30.zarr"', repr(str(store))).replace("num_workers=2",
                                                                       "num_workers=0")
    namespace = {}
    exec(compile(code, str(DOCS), "exec"), namespace)
    losses = namespace["losses"]
    assert len(losses) >= 2 and "epoch" in capsys.readouterr().out
    assert losses[-1] < 0.8 * losses[0], losses          # the loss falls: it learns
