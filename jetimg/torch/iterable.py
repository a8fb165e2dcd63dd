"""Iterable datasets: the jets of an image store, or images made on the fly from constituents.

Both stream an epoch as :func:`jetimg.streams.batches.epoch_buffers` plans it:
the chunks in a random order over the whole file (the same in every process
for one seed and epoch), this rank's consecutive share of the rows, this
DataLoader worker's consecutive share of that (``get_worker_info``), rows
permuted within buffers of whole chunks. Each chunk of a worker's share is
read once, whole; every row goes to exactly one worker of one rank.
"""

import dataclasses
import functools

import numpy as np

from ..checks import integer
from ..errors import InputError
from ..recipe import Recipe
from ..streams.batches import chunk_groups, epoch_buffers, gather_rows, share
from ..streams.images import JetImages
from .base import (ImageFile, IterableDataset, require_torch, resolve_ranks, resolve_seed,
                   store_only, torch)

__all__ = ["StoreIterableDataset", "JetIterableDataset"]


class _Stream(ImageFile, IterableDataset):
    """The epoch plan and the iteration shared by the iterable datasets."""

    def _plan(self, rows, shuffle, seed, buffer_size, rank, world_size):
        self.rank, self.world_size = resolve_ranks(rank, world_size)
        self.shuffle = bool(shuffle)
        self.seed = resolve_seed(seed, self.shuffle, self.world_size)
        self.buffer_chunks = max(1, integer("buffer_size", buffer_size) // self.chunk_rows)
        self.epoch = 0
        self.groups = chunk_groups(rows, self.chunk_rows)
        lo, hi = share(len(rows), self.rank, self.world_size)
        self.n_rank_rows = hi - lo

    def set_epoch(self, epoch):
        """Order the next iteration as epoch ``epoch`` (same seed and epoch, same order).

        Call it on the dataset given to the DataLoader before each epoch; the
        workers take a copy of the dataset when an epoch starts, so with
        ``persistent_workers=True`` they would keep the epoch they started with.
        """
        self.epoch = integer("epoch", epoch, minimum=0)

    def buffers(self, worker=0, num_workers=1):
        """The store rows a worker reads this epoch, one array per shuffling buffer."""
        return epoch_buffers(self.groups, seed=self.seed, epoch=self.epoch,
                             shuffle=self.shuffle, buffer_chunks=self.buffer_chunks,
                             shares=[(self.rank, self.world_size), (worker, num_workers)])

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        source = self._source()
        if getattr(source, "train_vary", None) is not None:
            source.set_epoch(self.epoch)     # a variation drawn per epoch (vary=)
        names = self._names() + (("valid",) if self._valid_after else ())
        for rows in self.buffers(worker, workers):
            data = gather_rows(rows, self.chunk_rows, self._read_chunk, names)
            if self._valid_after:
                keep = data.pop("valid") != 0
                if not keep.all():
                    data = {name: array[keep] for name, array in data.items()}
                    rows = rows[keep]
            yield from self._items(data, rows)


class StoreIterableDataset(_Stream):
    """A ``torch.utils.data.IterableDataset`` of the valid jets of an image store.

    Items are ``(image, label)``: image a (C, npix, npix) float32 tensor
    (C = 1 for a store without channels; channel-last store images are
    transposed), label a 0-d int64 tensor; ``labels=False`` gives the image
    alone, ``return_rows=True`` appends the store row (0-d int64). Jets with
    ``valid == 0`` are left out unless ``drop_invalid=False``.

    Every epoch the chunks are put in a random order over the whole store,
    the rows of this rank and then of each DataLoader worker are consecutive
    shares of that order (sizes differing by at most one jet: the first
    ``n % world_size`` ranks take one jet more), and each worker reads its
    chunks whole, once, permuting their rows within buffers of
    ``buffer_size`` rows (whole chunks). Every jet is given once per epoch
    by exactly one worker of one rank, whatever the number of workers. Each
    worker's last batch may be short, and ranks may make one batch more than
    others (PyTorch's ``DistributedDataParallel.join()`` takes uneven inputs).

    Parameters
    ----------
    store : str or Path
        A Zarr or HDF5 image store or the pandas image layout.
    shuffle : bool
        False: the store's order within each worker's share (with
        ``return_rows`` to put scores back in order).
    seed : int, optional
        Fixes the order of every epoch; drawn when None (then required with
        ``world_size > 1``: the same on every rank).
    buffer_size : int
        Rows permuted together, rounded down to whole chunks (at least one).
    rank, world_size : int, optional
        This process's share for distributed data parallel training; default
        from ``torch.distributed`` when initialised, else 0 and 1.
    drop_invalid, labels, return_rows, allow_incomplete : bool
        As :class:`jetimg.torch.StoreDataset`.

    Attributes
    ----------
    n_jets : int
        Jets this rank gives per epoch. There is no ``len``: with workers, a
        DataLoader makes more batches than ``n_jets / batch_size`` (each
        worker's last one may be short).
    n_invalid : int
        Jets of the store left out.
    seed, epoch, rank, world_size, buffer_chunks
    path, n_rows, npix, chunk_rows, channels, image_shape, label_names, reads
        See :class:`~jetimg.torch.base.ImageFile`.
    """

    _valid_after = False

    def __init__(self, store, *, shuffle=True, seed=None, buffer_size=10_000, rank=None,
                 world_size=None, drop_invalid=True, labels=True, return_rows=False,
                 allow_incomplete=False):
        require_torch()
        self.return_rows = bool(return_rows)
        rows = self._store_rows(store, allow_incomplete, labels, drop_invalid)
        self._plan(rows, shuffle, seed, buffer_size, rank, world_size)

    _checked = staticmethod(store_only)

    @property
    def n_jets(self):
        """Jets this rank gives per epoch."""
        return int(self.n_rank_rows)


def _open_jets(inputs, recipe, key, labels_key, chunk_rows, vary=None, vary_seed=None):
    """The on-the-fly image source of ``inputs`` (module level, so that it pickles)."""
    source = JetImages(inputs, recipe, key=key, labels_key=labels_key, vary=vary,
                       vary_seed=vary_seed)
    source.chunk_rows = chunk_rows
    return source


class JetIterableDataset(_Stream):
    """A ``torch.utils.data.IterableDataset`` making jet images from constituents as it goes.

    No image store is needed: each worker reads ``chunk_rows`` jets at a time
    from the input, makes their images with :func:`jetimg.preprocess` and
    ``recipe`` (reading the particle kinds beside the jets when the recipe's
    channels select kinds), and gives them as :class:`StoreIterableDataset`
    does, with the same epoch plan over the input's chunks (shuffling, shares
    per rank and per worker). Invalid jets are left out (their validity is
    known once their chunk is made, so ``n_rows`` bounds the jets given).
    Every epoch makes the images again.

    Parameters
    ----------
    inputs : str, Path, or a list of them
        Constituents: one file, several, or a glob pattern, of any layout
        :func:`jetimg.io.open_inputs` reads, rows in that order.
    recipe : Recipe, optional
        Default ``Recipe()``; ``invalid`` is always "skip". With ``channels``,
        images are (C, npix, npix).
    chunk_rows : int
        Jets read and made together.
    key, labels_key : str, optional
        As :func:`jetimg.open_jets`.
    shuffle, seed, buffer_size, rank, world_size, labels, return_rows
        As :class:`StoreIterableDataset`.
    vary : str or VaryRanges, optional
        Hardened training (docs/systematics.md): a variation drawn afresh for
        every jet in every epoch before the recipe, each name a value or a
        range (``"scale=0.9:1.1,smear=0:0.1"``), from its own seed, else
        ``seed``, else 0: :meth:`set_epoch` gives each epoch its own draw,
        the same in every worker and rank.

    Attributes
    ----------
    recipe : Recipe
    seed, epoch, rank, world_size, buffer_chunks
    path, n_rows, npix, chunk_rows, channels, image_shape, label_names, reads
        See :class:`~jetimg.torch.base.ImageFile`.
    """

    _valid_after = True

    def __init__(self, inputs, recipe=None, *, chunk_rows=1000, shuffle=True, seed=None,
                 buffer_size=10_000, rank=None, world_size=None, labels=True,
                 return_rows=False, key=None, labels_key=None, vary=None):
        require_torch()
        recipe = Recipe() if recipe is None else recipe
        if not isinstance(recipe, Recipe):
            raise InputError(f"recipe must be a jetimg.Recipe, not {type(recipe).__name__}")
        self.recipe = dataclasses.replace(recipe, invalid="skip")
        self.return_rows = bool(return_rows)
        chunk_rows = integer("chunk_rows", chunk_rows)
        self._open_file(functools.partial(_open_jets, inputs, self.recipe, key, labels_key,
                                          chunk_rows, vary), labels)
        self._plan(np.arange(self.n_rows), shuffle, seed, buffer_size, rank, world_size)
        # the variation's draws follow the shuffling's seed (drawn above when None)
        self.close()
        self._opener = functools.partial(self._opener, vary_seed=self.seed)
        # make one image here: the kernels load now, once, and forked workers start warm
        if self.n_rows:
            self._source().read(0, 1)
            self.close()
