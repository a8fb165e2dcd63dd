"""The framework-free batch iterator: chunk-aligned reads, a shuffling buffer, batches.

:class:`_Batches` holds the whole input pipeline of training (chunk reads of an
image source, per-epoch shuffling, batches by index); the datasets of
:mod:`jetimg.train.datasets` only add the framework's base class.
:func:`pipeline_rate` times it on its own.
"""

import threading
import time
from collections import OrderedDict

import numpy as np

from ..checks import integer
from ..errors import InputError
from .images import _JetImages

class _Batches:
    """The batch plan of a source: chunk-aligned reads, shuffled every epoch.

    Rows are grouped by the source's chunks. With ``shuffle``, each epoch puts
    the chunks in a random order, cuts that order into buffers of
    ``buffer_size // chunk_rows`` chunks and permutes the rows of each buffer;
    batches are consecutive runs of ``batch_size`` rows of that order, so a
    batch needs at most two buffers, and a few chunks are held at a time.
    Without ``shuffle`` rows come in the store's order.
    """

    def _setup(self, source, batch_size, shuffle, seed, buffer_size, drop_invalid, labels,
               weights):
        """Check the options and plan the first epoch (the datasets' ``__init__`` calls it)."""
        batch_size = integer("batch_size", batch_size)
        buffer_size = integer("buffer_size", buffer_size)
        if labels and not source.has_labels:
            raise InputError(f"{source.path} has no labels: training needs the truth "
                             "(is_signal_new / labels)")
        self.source = source
        self.batch_size = batch_size
        self.shuffle = bool(shuffle)
        self.seed = seed
        self.labels = bool(labels)
        self.epoch = 0
        self.npix = source.npix
        self.channels = source.channels
        self.image_shape = source.image_shape
        self.chunk_rows = source.chunk_rows
        self.buffer_chunks = max(1, buffer_size // self.chunk_rows)
        valid = source.valid_all() if drop_invalid else None
        rows = np.arange(source.n_rows) if valid is None else np.flatnonzero(valid != 0)
        self.n_invalid = 0 if valid is None else int(source.n_rows - len(rows))
        # where valid is known only with the images (constituents), invalid rows get weight 0
        self.weights = bool(weights and drop_invalid and valid is None
                            and isinstance(source, _JetImages))
        if len(rows) == 0:
            raise InputError(f"{source.path} has no valid jets to read")
        self.rows = rows
        self._by_chunk = np.split(rows, np.flatnonzero(np.diff(rows // self.chunk_rows)) + 1)
        self._cache = OrderedDict()
        self._lock = threading.Lock()
        self._loading = {}
        self.reads = 0
        self._plan()

    @property
    def n_jets(self):
        """Rows used per epoch (valid rows of the source)."""
        return int(len(self.rows))

    def _plan(self):
        """The row order of this epoch: chunks and rows within buffers permuted, or as stored."""
        if self.shuffle:
            rng = np.random.default_rng(None if self.seed is None else [int(self.seed), self.epoch])
            chunks = rng.permutation(len(self._by_chunk))
            parts = []
            for b in range(0, len(chunks), self.buffer_chunks):
                rows = np.concatenate([self._by_chunk[c] for c in chunks[b:b + self.buffer_chunks]])
                parts.append(rng.permutation(rows))
            self.order = np.concatenate(parts)
        else:
            self.order = self.rows

    def __len__(self):
        """Batches per epoch."""
        return -(-len(self.rows) // self.batch_size)

    def on_epoch_end(self):
        """Start the next epoch with a new order."""
        self.epoch += 1
        self._plan()

    def _chunk(self, c):
        """The arrays of chunk c, read once and cached (least recently used out)."""
        with self._lock:
            if c in self._cache:
                self._cache.move_to_end(c)
                return self._cache[c]
            event = self._loading.get(c)
            if event is None:
                event = self._loading[c] = threading.Event()
                mine = True
            else:
                mine = False
        if not mine:
            event.wait()
            with self._lock:
                if c in self._cache:
                    return self._cache[c]
            return self._chunk(c)
        try:
            start = c * self.chunk_rows
            data = self.source.read(start, min(start + self.chunk_rows, self.source.n_rows))
            with self._lock:
                self.reads += 1
                self._cache[c] = data
                while len(self._cache) > 2 * self.buffer_chunks + 2:
                    self._cache.popitem(last=False)
        finally:
            with self._lock:
                del self._loading[c]
            event.set()
        return data

    def batch(self, index):
        """Arrays of batch ``index``: images (n, npix, npix) or (n, npix, npix, C) float32,
        labels (or None), weights (or None)."""
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of {len(self)}")
        rows = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        n = len(rows)
        images = np.empty((n,) + self.image_shape, np.float32)
        labels = np.empty(n, np.int32) if self.labels else None
        weights = np.empty(n, np.float32) if self.weights else None
        chunk_of = rows // self.chunk_rows
        for c in np.unique(chunk_of):
            where = np.flatnonzero(chunk_of == c)
            data = self._chunk(int(c))
            local = rows[where] - int(c) * self.chunk_rows
            images[where] = data["images"][local]
            if labels is not None:
                labels[where] = data["labels"][local]
            if weights is not None:
                weights[where] = data["valid"][local] != 0
        return images, labels, weights

    def __getitem__(self, index):
        """Batch ``index`` as Keras takes it: (images,), (images, labels) or with weights."""
        images, labels, weights = self.batch(index)
        if labels is None:
            return (images,)
        if weights is None:
            return images, labels
        return images, labels, weights



def pipeline_rate(dataset, max_batches=None):
    """Images per second the dataset yields on its own (no training), on the calling thread.

    One chunk is read from the source first, untimed (it opens the file and,
    for :class:`JetDataset`, loads numba's compiled kernels); then a fresh
    pass over the batches is timed, chunk reads included.

    Parameters
    ----------
    dataset : StoreDataset or JetDataset
    max_batches : int, optional
        Stop after this many batches (default: one whole epoch).

    Returns
    -------
    float
        Images per second.
    """
    n = len(dataset) if max_batches is None else min(len(dataset), int(max_batches))
    source = dataset.source
    source.read(0, min(source.chunk_rows, source.n_rows))
    with dataset._lock:
        dataset._cache.clear()
    started = time.perf_counter()
    count = 0
    for i in range(n):
        count += len(dataset[i][0])
    return count / (time.perf_counter() - started)

