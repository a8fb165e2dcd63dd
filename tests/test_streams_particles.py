"""Particles in the framework-free streams (jetimg.streams): a field the sources carry.

A store built with ``particles`` and the same constituents read on the fly with
that recipe give the same particles (toy jets, and the JetClass sample with its
kinds and charges: F = 17); ``read(start, stop, fields=...)`` gives only the
fields named; a store without particles reads as before and refuses
``particles`` in one line naming the build option.
"""

import numpy as np
import pytest

import jetimg
from jetimg import Recipe
from jetimg.data import sample_path
from jetimg.errors import InputError
from jetimg.recipe import particle_features
from jetimg.streams import Batches, JetImages, open_images
from jetimg.toys import toy_jets

P = 9


@pytest.fixture(scope="module")
def toys(tmp_path_factory):
    """Toy constituents (700 jets, labels), their store with particles (Zarr, chunks of
    200) and without (HDF5)."""
    folder = tmp_path_factory.mktemp("streams_particles")
    jets, labels = toy_jets(700, seed=5)
    np.save(folder / "jets.npy", jets)
    np.save(folder / "labels.npy", labels)
    inp, key = folder / "jets.npy", str(folder / "labels.npy")
    jetimg.build(inp, folder / "p.zarr", npix=12, particles=P, labels_key=key, chunk_size=200)
    jetimg.build(inp, folder / "plain.h5", npix=12, labels_key=key, chunk_size=200)
    return {"input": inp, "labels_key": key, "jets": jets, "labels": labels,
            "store": folder / "p.zarr", "plain": folder / "plain.h5"}


def test_store_and_on_the_fly_give_the_same_particles(toys):
    store = open_images(toys["store"])
    fly = JetImages(toys["input"], Recipe(npix=12, particles=P), labels_key=toys["labels_key"])
    assert store.particle_features == fly.particle_features == particle_features(False)
    assert store.n_particles == fly.n_particles == P
    got = store.read(150, 420, fields=("particles",))
    want = fly.read(150, 420, fields=("particles", "images"))
    assert got["particles"].shape == (270, P, 11) and got["particles"].dtype == np.float32
    np.testing.assert_array_equal(got["particles"], want["particles"])
    # the same as one call of preprocess, and not trivially zero
    direct = jetimg.preprocess(toys["jets"][150:420], npix=12, particles=P)["particles"]
    np.testing.assert_array_equal(got["particles"], direct)
    assert np.count_nonzero(direct) > 0
    store.close(), fly.close()


def test_fields_choose_what_is_read(toys):
    store = open_images(toys["store"])
    default = store.read(0, 50)
    assert set(default) == {"images", "labels", "valid"}      # as before particles existed
    only = store.read(0, 50, fields=("particles", "labels", "valid"))
    assert set(only) == {"particles", "labels", "valid"}
    np.testing.assert_array_equal(only["labels"], toys["labels"][:50].astype(np.int8))
    assert set(store.read(0, 50, fields="particles")) == {"particles"}
    with pytest.raises(InputError, match="not a field; choose from images, particles"):
        store.read(0, 5, fields=("pixels",))
    store.close()


def test_a_store_without_particles_reads_as_before(toys):
    store = open_images(toys["plain"])
    assert store.particle_features is None and store.n_particles is None
    data = store.read(0, 30)
    assert set(data) == {"images", "labels", "valid"} and data["images"].shape == (30, 12, 12)
    with pytest.raises(InputError) as err:
        store.read(0, 30, fields=("particles", "labels"))
    message = str(err.value)
    assert "has no particles" in message and "--particles" in message and "\n" not in message
    store.close()
    fly = JetImages(toys["input"], Recipe(npix=12))   # a recipe without particles
    assert fly.particle_features is None
    with pytest.raises(InputError, match="has no particles"):
        fly.read(0, 10, fields=("particles",))
    fly.close()


def test_batches_of_particles_read_no_images(toys):
    class Recording(type(open_images(toys["store"]))):
        asked = []

        def read(self, start, stop, fields=None):
            self.asked.append(fields)
            return super().read(start, stop, fields)

    source = Recording(toys["store"])
    plan = Batches()
    plan.setup_plan(source, 64, False, None, 400, True, True, weights=False, inputs="particles")
    particles, labels, weights = plan.batch(1)
    assert particles.shape == (64, P, 11) and weights is None
    np.testing.assert_array_equal(particles, source.read(64, 128, fields="particles")["particles"])
    np.testing.assert_array_equal(labels, toys["labels"][64:128])
    assert all("images" not in f for f in source.asked[:-1])
    plain = Recording(toys["plain"])
    with pytest.raises(InputError, match="has no particles"):
        Batches().setup_plan(plain, 64, False, None, 400, True, True, weights=False,
                             inputs="particles")
    source.close(), plain.close()


def test_the_jetclass_sample_gives_kind_features_both_ways(tmp_path):
    files = str(sample_path("jetclass") / "*.root")
    out = tmp_path / "jc.zarr"
    jetimg.build(files, out, particles=20, npix=10, chunk_size=100)
    store = open_images(out)
    fly = JetImages(files, Recipe(npix=10, particles=20))
    assert store.particle_features == fly.particle_features == particle_features(True)
    got = store.read(0, 120, fields=("particles",))["particles"]
    want = fly.read(0, 120, fields=("particles",))["particles"]
    assert got.shape == (120, 20, 17)
    np.testing.assert_array_equal(got, want)
    # the kind flags are one-hot on real particles
    real = np.abs(got).sum(axis=2) > 0
    np.testing.assert_array_equal(got[..., 12:][real].sum(axis=1), 1)
    store.close(), fly.close()
