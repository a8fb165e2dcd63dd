"""What the PyTorch datasets share: the guarded import, one open file per process, chunks.

Shapes: a chunk of images is read as the file holds it, (n, npix, npix) or
(n, npix, npix, C) channel last, and handed on channel first as PyTorch
convolutions take it: (n, C, npix, npix) float32, C = 1 for one image per jet.
Labels are int64 class indices, store rows int64.

The classes here are defined even without PyTorch (their bases are then
``object``), so that importing the module never fails; making a dataset
without PyTorch says what to install.
"""

import functools
import os
from collections import OrderedDict

import numpy as np

from ..checks import integer
from ..errors import InputError, JetimgError
from ..streams.images import JetImages, open_images

try:
    import torch
    from torch.utils.data import Dataset, IterableDataset, Sampler
except ImportError:                       # pragma: no cover - the tests need torch
    torch = None
    Dataset = IterableDataset = Sampler = object

__all__ = ["Dataset", "IterableDataset", "Sampler", "require_torch", "resolve_ranks",
           "resolve_seed", "channel_first"]


def require_torch():
    """Raise :class:`JetimgError` naming the extra to install when PyTorch is missing."""
    if torch is None:
        raise JetimgError("jetimg.torch needs PyTorch: pip install 'jetimg[torch]'")


def resolve_ranks(rank, world_size):
    """(rank, world_size) checked; missing ones from ``torch.distributed`` when it is
    initialised, else 0 and 1.

    Raises
    ------
    InputError
        ``world_size`` is not an integer >= 1, ``rank`` not one in [0, world_size).
    """
    dist = getattr(torch, "distributed", None)
    if dist is not None and dist.is_available() and dist.is_initialized():
        rank = dist.get_rank() if rank is None else rank
        world_size = dist.get_world_size() if world_size is None else world_size
    world_size = integer("world_size", 1 if world_size is None else world_size)
    rank = integer("rank", 0 if rank is None else rank, minimum=0)
    if rank >= world_size:
        raise InputError(f"rank={rank} must be below world_size={world_size} "
                         f"(ranks are 0 ... {world_size - 1})")
    return rank, world_size


def resolve_seed(seed, shuffle, world_size):
    """The seed to shuffle with: ``seed`` checked, or one drawn now when None.

    Every DataLoader worker gets a copy of the dataset, drawn seed included, so
    the workers agree on the epoch's order. Ranks are separate programs: with
    ``world_size > 1`` they must be given one seed, or they would share the
    jets out by different orders.
    """
    if seed is None:
        if shuffle and world_size > 1:
            raise InputError(f"world_size={world_size} needs a seed, the same on every rank, "
                             "so that the ranks order the chunks alike and each jet goes to "
                             "one rank")
        return int(np.random.SeedSequence().entropy % 2**63)
    return integer("seed", seed, minimum=0)


def channel_first(images):
    """(n, npix, npix) or (n, npix, npix, C) images as a contiguous (n, C, npix, npix)
    float32 array.

    >>> channel_first(np.zeros((2, 4, 4))).shape, channel_first(np.zeros((2, 4, 4, 3))).shape
    ((2, 1, 4, 4), (2, 3, 4, 4))
    """
    images = images[:, None] if images.ndim == 3 else np.moveaxis(images, -1, 1)
    return np.ascontiguousarray(images, dtype=np.float32)


def open_store(store, allow_incomplete):
    """The image source of ``store`` (module level, so that it pickles)."""
    return open_images(store, allow_incomplete=allow_incomplete)


def store_only(source):
    """Refuse a constituents source where an image store is read (the store
    datasets' ``_checked``)."""
    if isinstance(source, JetImages):
        raise InputError(f"{source.path} is not an image store (no 'images' array, not "
                         "the pandas image layout); for constituents use "
                         "JetIterableDataset")


class ImageFile:
    """An image source opened once per process, read by whole chunks.

    A DataLoader worker gets a copy of the dataset (forked, or pickled without
    the open file) and opens the file again on first use, so no file handle is
    shared between processes.

    Attributes
    ----------
    path : str
    n_rows, npix, chunk_rows : int
        Rows of the file, image side, rows per stored chunk (one read).
    channels : tuple of str or None
        Channel names; None for one image per jet.
    image_shape : tuple of int
        (C, npix, npix) of one image as the dataset gives it.
    label_names : tuple of str or None
        Class names in label order, where the file names them.
    layout : str
        "store", "pandas-images" or "constituents".
    reads : int
        Chunks this process has read so far.
    """

    def _open_file(self, opener, labels):
        """Open the file once here for its shape and labels (then close it: each
        process opens its own)."""
        self._opener = opener
        self._opened, self._pid = None, None
        source = self._source()
        try:
            self._checked(source)
            if labels and not source.has_labels:
                raise InputError(f"{source.path} has no labels: training needs the truth "
                                 "(is_signal_new / labels); labels=False gives images only")
            self.path = source.path
            self.layout = source.layout
            self.n_rows, self.npix, self.chunk_rows = (source.n_rows, source.npix,
                                                       source.chunk_rows)
            self.channels = source.channels
            self.image_shape = (len(self.channels) if self.channels else 1, self.npix,
                                self.npix)
            self.label_names = getattr(source, "label_names", None)
            self.labels = bool(labels)
            valid = source.valid_all()
        finally:
            self.close()
        return valid

    def _checked(self, source):
        """Refuse a source of the wrong kind (subclasses)."""

    def _store_rows(self, store, allow_incomplete, labels, drop_invalid):
        """Open an image store; the store rows of the jets given (all, or the valid ones
        with ``drop_invalid``), setting ``n_invalid``."""
        valid = self._open_file(functools.partial(open_store, store, allow_incomplete),
                                labels)
        keep = valid is not None and drop_invalid
        rows = np.flatnonzero(valid != 0) if keep else np.arange(self.n_rows)
        self.n_invalid = self.n_rows - len(rows)
        if len(rows) == 0:
            raise InputError(f"{self.path} has no valid jets to read")
        return rows

    def _source(self):
        """This process's open source (opened on first use in each process)."""
        pid = os.getpid()
        if getattr(self, "_process", None) != pid:     # a new process: its own cache and count
            self._process, self._cache, self.reads = pid, OrderedDict(), 0
        if self._opened is None or self._pid != pid:
            self._opened, self._pid = self._opener(), pid
        return self._opened

    def close(self):
        """Close this process's file (the next read opens it again)."""
        if self._opened is not None and self._pid == os.getpid():
            self._opened.close()
        self._opened = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state.update(_opened=None, _pid=None, _process=None, _cache=OrderedDict())
        return state

    def _read_chunk(self, c):
        """Chunk ``c`` read whole: images (n, C, npix, npix) float32, labels int64 (or
        None), valid int8 (or None)."""
        start = c * self.chunk_rows
        data = self._source().read(start, min(start + self.chunk_rows, self.n_rows))
        self.reads += 1
        labels = data["labels"]
        return {"images": channel_first(data["images"]),
                "labels": None if labels is None else np.asarray(labels, np.int64),
                "valid": data["valid"]}

    def _names(self):
        """The arrays an item is made of."""
        return ("images", "labels") if self.labels else ("images",)

    def _items(self, data, rows):
        """The items of gathered arrays: image, (image, label), with the row last when
        ``return_rows``."""
        fields = [torch.from_numpy(data["images"]).unbind(0)]
        if self.labels:
            fields.append(torch.from_numpy(data["labels"]).unbind(0))
        if self.return_rows:
            fields.append(torch.from_numpy(np.asarray(rows, np.int64)).unbind(0))
        return list(fields[0]) if len(fields) == 1 else list(zip(*fields))
