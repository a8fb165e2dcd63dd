"""PyTorch datasets of particles (docs/recipe.md, step 7), channel first as particle taggers take them.

A store built with ``--particles P`` holds ``particles`` (N, P, F) float32,
the features named by its ``particle_features``; a constituents file read
with a recipe whose ``particles`` is P gives the same rows on the fly. An
item is a dict of tensors, channel first over the P particles, as
ParticleNet (arXiv:1902.08570) and ParT (arXiv:2202.03772) read them:

* ``points`` (2, P) float32: x, y (ParticleNet's coordinates);
* ``features`` (F', P) float32: the chosen features, by name, in the order
  given (default all F, in store order);
* ``vectors`` (4, P) float32: px, py, pz, e in GeV (ParT's pair features);
* ``mask`` (1, P) float32: 1 for a particle (index < min(n_constituents, P)),
  0 for padding (whose rows are all zero everywhere);
* ``label`` 0-d int64 (unless ``labels=False``), ``row`` 0-d int64 (with
  ``return_rows=True``).

A DataLoader stacks them into (B, 2, P), (B, F', P), (B, 4, P), (B, 1, P)
and (B,). The epoch plan is that of the image datasets
(:mod:`jetimg.torch`): every jet once per epoch across DataLoader workers
and ranks, ``set_epoch`` for a new order.
"""

import numpy as np

from ..checks import integer
from ..errors import InputError
from .base import ImageFile, torch
from .iterable import JetIterableDataset, StoreIterableDataset
from .mapstyle import StoreDataset

__all__ = ["ParticleFile", "StoreParticleDataset", "StoreParticleIterableDataset",
           "JetParticleIterableDataset", "POINTS", "VECTORS"]

#: The features of ``points`` and of ``vectors``.
POINTS = ("x", "y")
VECTORS = ("px", "py", "pz", "e")
_READ = ("particles", "labels", "valid")


class ParticleFile(ImageFile):
    """What the particle datasets add to :class:`~jetimg.torch.base.ImageFile`: the
    features chosen, and chunks read as particles, channel first.

    Attributes
    ----------
    particle_features : tuple of str
        The F features of the file's particles, in stored order.
    features : tuple of str
        The features of ``features`` (F', P), in the order given.
    n_particles : int
        P, the particles per item (the file's, or fewer when asked).
    """

    def _setup_particles(self, features, n_particles):
        """Check ``features`` and ``n_particles`` against the source's particles."""
        try:
            source = self._source()
            names = source.particle_features
            if names is None:
                raise InputError(f"{source.path} holds no particles: build the store with "
                                 "particles (jetimg build --particles P, or "
                                 "jetimg.build(..., particles=P))")
            stored = int(source.n_particles)
        finally:
            self.close()
        self.particle_features = tuple(names)
        if features is None:
            features = self.particle_features
        elif isinstance(features, str):
            features = [f.strip() for f in features.split(",") if f.strip()]
        features = tuple(str(f) for f in features)
        if not features:
            raise InputError(f"features: give at least one of {', '.join(names)}")
        for name in features + POINTS + VECTORS:
            if name not in names:
                raise InputError(f"features: {self.path} has no particle feature {name!r}; "
                                 f"its features are {', '.join(names)}")
        twice = sorted({f for f in features if features.count(f) > 1})
        if twice:
            raise InputError(f"features: {', '.join(twice)} given more than once")
        self.features = features
        self.n_particles = stored if n_particles is None else integer("n_particles",
                                                                      n_particles)
        if self.n_particles > stored:
            raise InputError(f"n_particles={self.n_particles} is more than the {stored} "
                             f"particles per jet that {self.path} holds")
        self._columns = {"points": [names.index(n) for n in POINTS],
                         "features": [names.index(n) for n in features],
                         "vectors": [names.index(n) for n in VECTORS]}
        self.particle_shapes = {"points": (2, self.n_particles),
                                "features": (len(features), self.n_particles),
                                "vectors": (4, self.n_particles),
                                "mask": (1, self.n_particles)}

    def _read_chunk(self, c):
        """Chunk ``c`` read whole: points, features, vectors, mask (n, ., P) float32,
        labels int64 (or None), valid int8 (or None)."""
        start = c * self.chunk_rows
        data = self._source().read(start, min(start + self.chunk_rows, self.n_rows),
                                   fields=_READ)
        self.reads += 1
        particles = np.asarray(data["particles"], np.float32)[:, :self.n_particles]
        out = {name: np.ascontiguousarray(particles[:, :, cols].transpose(0, 2, 1))
               for name, cols in self._columns.items()}
        out["mask"] = np.any(particles != 0, axis=2)[:, None, :].astype(np.float32)
        labels = data["labels"]
        out["labels"] = None if labels is None else np.asarray(labels, np.int64)
        out["valid"] = data["valid"]
        return out

    def _names(self):
        names = ("points", "features", "vectors", "mask")
        return names + (("labels",) if self.labels else ())

    def _items(self, data, rows):
        """One dict of tensors per row."""
        columns = {name: torch.from_numpy(data[name]).unbind(0)
                   for name in ("points", "features", "vectors", "mask")}
        if self.labels:
            columns["label"] = torch.from_numpy(data["labels"]).unbind(0)
        if self.return_rows:
            columns["row"] = torch.from_numpy(np.asarray(rows, np.int64)).unbind(0)
        keys = list(columns)
        return [dict(zip(keys, values)) for values in zip(*columns.values())]


class StoreParticleDataset(ParticleFile, StoreDataset):
    """A map-style dataset of the particles of the valid jets of a store.

    As :class:`~jetimg.torch.StoreDataset` (index ``i`` is the ``i``-th
    valid jet; whole chunks read into a cache per process; use it with
    :class:`~jetimg.torch.ChunkSampler`), with items the dicts of
    :mod:`jetimg.torch.particles`.

    Parameters
    ----------
    store : str or Path
        A Zarr or HDF5 store built with particles (``jetimg build --particles P``).
    features : sequence of str or str, optional
        The features of ``features``, by name (a sequence or one
        comma-separated string), in that order; default all of the store's
        ``particle_features``.
    n_particles : int, optional
        Give only the first ``n_particles`` particles of each jet (at most the
        store's P); default all.
    drop_invalid, labels, return_rows, cache_chunks, allow_incomplete
        As :class:`~jetimg.torch.StoreDataset`.

    Raises
    ------
    InputError
        The store holds no particles (the message names ``jetimg build
        --particles``), a feature it does not have (the message lists its
        features), or ``n_particles`` above its P.

    >>> import tempfile, numpy as np, jetimg
    >>> from jetimg.toys import toy_jets
    >>> folder = tempfile.mkdtemp()
    >>> jets, labels = toy_jets(100, seed=1)
    >>> np.save(f"{folder}/jets.npy", jets); np.save(f"{folder}/labels.npy", labels)
    >>> _ = jetimg.build(f"{folder}/jets.npy", f"{folder}/p.zarr", particles=30,
    ...                  labels_key=f"{folder}/labels.npy")
    >>> ds = StoreParticleDataset(f"{folder}/p.zarr", features=["log_pt_rel", "delta_r"])
    >>> item = ds[0]
    >>> {name: tuple(t.shape) for name, t in item.items()}
    {'points': (2, 30), 'features': (2, 30), 'vectors': (4, 30), 'mask': (1, 30), 'label': ()}
    >>> import shutil; shutil.rmtree(folder)
    """

    def __init__(self, store, *, features=None, n_particles=None, drop_invalid=True,
                 labels=True, return_rows=False, cache_chunks=4, allow_incomplete=False):
        super().__init__(store, drop_invalid=drop_invalid, labels=labels,
                         return_rows=return_rows, cache_chunks=cache_chunks,
                         allow_incomplete=allow_incomplete)
        self._setup_particles(features, n_particles)


class StoreParticleIterableDataset(ParticleFile, StoreIterableDataset):
    """An iterable dataset of the particles of the valid jets of a store.

    As :class:`~jetimg.torch.StoreIterableDataset` (the epoch plan: chunks in
    a random order, shares per rank and per DataLoader worker, buffers;
    ``set_epoch``), with items the dicts of :mod:`jetimg.torch.particles`.

    Parameters
    ----------
    store : str or Path
        A Zarr or HDF5 store built with particles.
    features, n_particles
        As :class:`StoreParticleDataset`.
    shuffle, seed, buffer_size, rank, world_size, drop_invalid, labels, return_rows, allow_incomplete
        As :class:`~jetimg.torch.StoreIterableDataset`.
    """

    def __init__(self, store, *, features=None, n_particles=None, shuffle=True, seed=None,
                 buffer_size=10_000, rank=None, world_size=None, drop_invalid=True,
                 labels=True, return_rows=False, allow_incomplete=False):
        super().__init__(store, shuffle=shuffle, seed=seed, buffer_size=buffer_size,
                         rank=rank, world_size=world_size, drop_invalid=drop_invalid,
                         labels=labels, return_rows=return_rows,
                         allow_incomplete=allow_incomplete)
        self._setup_particles(features, n_particles)


class JetParticleIterableDataset(ParticleFile, JetIterableDataset):
    """An iterable dataset of particles made from constituents as it goes.

    As :class:`~jetimg.torch.JetIterableDataset` (each worker reads
    ``chunk_rows`` jets at a time and runs :func:`jetimg.preprocess` with
    ``recipe``; the same epoch plan), with a recipe whose ``particles`` is
    set; items are the dicts of :mod:`jetimg.torch.particles`, equal to those
    of a store built from the same input with the same recipe. An input with
    particle kinds gives F = 17 features (charges and kinds, as ``jetimg
    build`` writes them), else 11. The kernels make the images in the same
    pass (they are not handed on).

    Parameters
    ----------
    inputs : str, Path, or a list of them
        Constituents, as :class:`~jetimg.torch.JetIterableDataset`.
    recipe : Recipe
        With ``particles`` = P (``jetimg.Recipe(particles=30)``).
    features, n_particles
        As :class:`StoreParticleDataset`.
    chunk_rows, shuffle, seed, buffer_size, rank, world_size, labels, return_rows, key, labels_key
    vary
        As :class:`~jetimg.torch.JetIterableDataset`.
    """

    def __init__(self, inputs, recipe, *, features=None, n_particles=None, chunk_rows=1000,
                 shuffle=True, seed=None, buffer_size=10_000, rank=None, world_size=None,
                 labels=True, return_rows=False, key=None, labels_key=None, vary=None):
        if getattr(recipe, "particles", None) is None:
            raise InputError("recipe has no particles: give one with particles, e.g. "
                             "jetimg.Recipe(particles=30)")
        super().__init__(inputs, recipe, chunk_rows=chunk_rows, shuffle=shuffle, seed=seed,
                         buffer_size=buffer_size, rank=rank, world_size=world_size,
                         labels=labels, return_rows=return_rows, key=key,
                         labels_key=labels_key, vary=vary)
        self._setup_particles(features, n_particles)
