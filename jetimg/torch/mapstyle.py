"""The map-style dataset of an image store and its chunk-aware batch sampler.

:class:`StoreDataset` gives the valid jets of a store by index, reading whole
chunks into a small cache of its own in each process; :class:`ChunkSampler`
makes batches of indices so that each DataLoader worker's batches come from a
few chunks of its own, shuffled by chunk over the whole store and within a
buffer every epoch. Together, each worker reads each chunk of its share once
per epoch.
"""

from collections import OrderedDict

import numpy as np

from ..checks import integer
from ..errors import InputError
from ..streams.batches import chunk_groups, epoch_buffers, gather_rows
from .base import (Dataset, ImageFile, Sampler, require_torch, resolve_ranks, resolve_seed,
                   store_only)

__all__ = ["StoreDataset", "ChunkSampler"]


class StoreDataset(ImageFile, Dataset):
    """A map-style ``torch.utils.data.Dataset`` of the valid jets of an image store.

    Index ``i`` is the ``i``-th valid jet in store order (store row
    ``rows[i]``). Items are ``(image, label)``: image a (C, npix, npix)
    float32 tensor (C = 1 for a store without channels; a store's
    channel-last images are transposed), label a 0-d int64 tensor (the class
    index); with ``labels=False`` the image alone; ``return_rows=True``
    appends the store row (0-d int64).

    Reads are whole stored chunks, kept in a cache of ``cache_chunks`` chunks
    per process (each DataLoader worker has its own). A batch of indices
    (``__getitems__``, which the DataLoader calls with a batch sampler) reads
    each of its chunks once. Use it with :class:`ChunkSampler`, whose batches
    keep the reads to one per chunk per epoch; a plain random sampler works
    too, reading a chunk for most items.

    Parameters
    ----------
    store : str or Path
        A Zarr or HDF5 image store (``jetimg build``) or the pandas image
        layout (see :func:`jetimg.train.open_images`).
    drop_invalid : bool
        Leave out jets with ``valid == 0`` (default), as Keras training does.
    labels : bool
        Items carry the label; False gives images only (a store without labels).
    return_rows : bool
        Append the store row to every item (to put scores back in store order).
    cache_chunks : int
        Chunks kept per process (a :class:`ChunkSampler` raises it to what its
        buffers need).
    allow_incomplete : bool
        Accept a store of an interrupted build (refused by default); its
        unwritten rows read as invalid jets.

    Attributes
    ----------
    rows : ndarray of int64
        The store row of every index.
    groups : list of ndarray
        The indices of each stored chunk, in store order.
    n_jets, n_invalid : int
        Jets given (``len``), jets left out.
    path, n_rows, npix, chunk_rows, channels, image_shape, label_names, reads
        See :class:`~jetimg.torch.base.ImageFile`.
    """

    def __init__(self, store, *, drop_invalid=True, labels=True, return_rows=False,
                 cache_chunks=4, allow_incomplete=False):
        require_torch()
        self.cache_chunks = integer("cache_chunks", cache_chunks)
        self.return_rows = bool(return_rows)
        self.rows = self._store_rows(store, allow_incomplete, labels, drop_invalid)
        cuts = np.cumsum([len(g) for g in chunk_groups(self.rows, self.chunk_rows)])[:-1]
        self.groups = np.split(np.arange(len(self.rows)), cuts)
        self._cache = OrderedDict()

    _checked = staticmethod(store_only)

    @property
    def n_jets(self):
        """Jets given per epoch."""
        return int(len(self.rows))

    def __len__(self):
        return int(len(self.rows))

    def _chunk(self, c):
        """Chunk ``c`` from this process's cache, read whole when missing (least
        recently used out)."""
        self._source()                       # a new process starts with an empty cache
        cache = self._cache
        if c in cache:
            cache.move_to_end(c)
            return cache[c]
        data = cache[c] = self._read_chunk(c)
        while len(cache) > self.cache_chunks:
            cache.popitem(last=False)
        return data

    def __getitems__(self, indices):
        """The items of a batch of indices (each chunk read at most once)."""
        indices = np.asarray(indices, dtype=np.int64)
        n = len(self.rows)
        if indices.size and (indices.min() < -n or indices.max() >= n):
            bad = indices[(indices < -n) | (indices >= n)][0]
            raise IndexError(f"index {bad} of a dataset of {n} jets")
        rows = self.rows[indices]
        return self._items(gather_rows(rows, self.chunk_rows, self._chunk, self._names()),
                           rows)

    def __getitem__(self, index):
        return self.__getitems__([index])[0]


class ChunkSampler(Sampler):
    """Batches of :class:`StoreDataset` indices that read whole chunks, once per epoch.

    Every epoch (:meth:`set_epoch`) the chunks are put in a random order over
    the whole store (``seed`` and the epoch fix it), this rank's share of the
    jets is taken, and it is cut into one consecutive share per DataLoader
    worker; each worker's rows are permuted within buffers of ``buffer_size``
    rows (rounded down to whole chunks, at least one) and cut into batches.
    The batches are handed out in turn, worker 0 first, as the DataLoader
    hands batches to its workers, so each worker reads the chunks of its own
    share, each once (a chunk cut by a share's edge is read by both sides).
    The sampler raises the dataset's ``cache_chunks`` to hold two buffers.

    Every jet is in exactly one batch of one rank per epoch. Shares of ranks
    (and of workers) differ by at most one jet: the first ``n % world_size``
    ranks take one jet more, so ranks may make one batch more than others
    (PyTorch's ``DistributedDataParallel.join()`` takes uneven inputs). Each
    worker's last batch may be short.

    Parameters
    ----------
    dataset : StoreDataset
    batch_size : int
    shuffle : bool
        False: store order (workers' shares in turn), for scoring.
    seed : int, optional
        Fixes the order of every epoch; drawn when None (then required with
        ``world_size > 1``: the same on every rank).
    buffer_size : int
        Rows permuted together.
    num_workers : int
        The DataLoader's ``num_workers``.
    rank, world_size : int, optional
        This process's share for distributed data parallel training; default
        from ``torch.distributed`` when initialised, else 0 and 1.

    Examples
    --------
    ``DataLoader(ds, batch_sampler=ChunkSampler(ds, 128, seed=1, num_workers=2),
    num_workers=2)``, calling ``sampler.set_epoch(epoch)`` before each epoch.
    """

    def __init__(self, dataset, batch_size=128, *, shuffle=True, seed=None,
                 buffer_size=10_000, num_workers=0, rank=None, world_size=None):
        require_torch()
        if not isinstance(dataset, StoreDataset):
            raise InputError(f"ChunkSampler needs a jetimg.torch.StoreDataset, not "
                             f"{type(dataset).__name__}")
        self.dataset = dataset
        self.batch_size = integer("batch_size", batch_size)
        buffer_size = integer("buffer_size", buffer_size)
        self.num_workers = integer("num_workers", num_workers, minimum=0)
        self.rank, self.world_size = resolve_ranks(rank, world_size)
        self.shuffle = bool(shuffle)
        self.seed = resolve_seed(seed, self.shuffle, self.world_size)
        self.buffer_chunks = max(1, buffer_size // dataset.chunk_rows)
        self.epoch = 0
        batch_chunks = -(-self.batch_size // dataset.chunk_rows) + 1
        dataset.cache_chunks = max(dataset.cache_chunks,
                                   2 * max(self.buffer_chunks, batch_chunks) + 1)

    def set_epoch(self, epoch):
        """Order the next iteration as epoch ``epoch`` (same seed and epoch, same batches)."""
        self.epoch = integer("epoch", epoch, minimum=0)

    def _lanes(self):
        """The batches of each worker's share, this epoch."""
        lanes = max(1, self.num_workers)
        out = []
        for lane in range(lanes):
            buffers = epoch_buffers(self.dataset.groups, seed=self.seed, epoch=self.epoch,
                                    shuffle=self.shuffle, buffer_chunks=self.buffer_chunks,
                                    shares=[(self.rank, self.world_size), (lane, lanes)])
            order = np.concatenate(buffers) if buffers else np.empty(0, np.int64)
            out.append([order[b:b + self.batch_size]
                        for b in range(0, len(order), self.batch_size)])
        return out

    def __iter__(self):
        lanes = self._lanes()
        for turn in range(max(len(batches) for batches in lanes)):
            for batches in lanes:          # lane sizes never grow: worker k gets lane k
                if turn < len(batches):
                    yield batches[turn].tolist()

    def __len__(self):
        """Batches this rank makes this epoch."""
        return sum(len(batches) for batches in self._lanes())
