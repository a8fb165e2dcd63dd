"""The framework-free batch iterator: chunk-aligned reads, a shuffling buffer, batches.

:class:`Batches` holds the whole input pipeline of training (chunk reads of an
image source, per-epoch shuffling, batches by index); the Keras datasets of
:mod:`jetimg.train.datasets` only add the framework's base class and call
:meth:`Batches.setup_plan`.
:func:`pipeline_rate` times it on its own.

The epoch plan is made of small functions that the PyTorch datasets
(:mod:`jetimg.torch`) share: :func:`chunk_groups` (rows grouped by stored
chunk), :func:`epoch_rng` (one random stream per seed, epoch and share),
:func:`take_share` (consecutive shares of the rows, for ranks and workers),
:func:`shuffle_buffers` (rows permuted within runs of chunks),
:func:`epoch_buffers` (all of them, for one share of one epoch) and
:func:`gather_rows` (rows in any order from whole-chunk reads).
"""

import threading
import time
from collections import OrderedDict

import numpy as np

from ..checks import integer
from ..errors import InputError
from .images import JetImages, check_fields, select_particles


def share(n, part, parts):
    """Rows ``[lo, hi)`` of share ``part`` when ``n`` rows are cut into ``parts`` consecutive shares.

    Every row is in exactly one share; sizes differ by at most one row, the
    first ``n % parts`` shares taking one more.

    >>> [share(10, p, 3) for p in range(3)]
    [(0, 4), (4, 7), (7, 10)]
    """
    base, extra = divmod(int(n), int(parts))
    lo = part * base + min(part, extra)
    return lo, lo + base + (1 if part < extra else 0)


def chunk_groups(rows, chunk_rows):
    """Sorted row numbers grouped by the stored chunk that holds them, chunks in order.

    Parameters
    ----------
    rows : ndarray of int, (n,)
        Row numbers, ascending (e.g. the valid rows of a store).
    chunk_rows : int
        Rows per chunk.

    Returns
    -------
    list of ndarray
        One array per chunk holding rows (chunks without rows are absent).

    >>> [g.tolist() for g in chunk_groups(np.array([0, 2, 3, 5, 9]), 3)]
    [[0, 2], [3, 5], [9]]
    """
    rows = np.asarray(rows)
    if len(rows) == 0:
        return []
    return np.split(rows, np.flatnonzero(np.diff(rows // chunk_rows)) + 1)


def epoch_rng(seed, epoch, *stream):
    """The random generator of an epoch (and of one share of it, ``stream``).

    The same ``seed``, ``epoch`` and ``stream`` give the same numbers in every
    process; ``seed=None`` gives fresh entropy.
    """
    if seed is None:
        return np.random.default_rng()
    return np.random.default_rng([int(seed), int(epoch), *(int(s) for s in stream)])


def take_share(groups, part, parts):
    """Share ``part`` of ``parts`` of the rows of ``groups``, taken in the order given.

    The rows of every group, one group after another, are cut by :func:`share`
    (sizes differ by at most one row); a group cut by a share's edge is split
    between the two shares.

    Parameters
    ----------
    groups : list of ndarray
        Rows (or indices) of one chunk each, in reading order.
    part, parts : int

    Returns
    -------
    list of ndarray
        The share's pieces, each within one group, in order.

    >>> groups = [np.array([0, 1, 2]), np.array([5, 6]), np.array([9])]
    >>> [[g.tolist() for g in take_share(groups, p, 2)] for p in range(2)]
    [[[0, 1, 2]], [[5, 6], [9]]]
    """
    sizes = np.fromiter((len(g) for g in groups), np.int64, len(groups))
    ends = np.cumsum(sizes)
    lo, hi = share(int(ends[-1]) if len(ends) else 0, part, parts)
    pieces = []
    for group, end, size in zip(groups, ends.tolist(), sizes.tolist()):
        start = end - size
        a, b = max(start, lo), min(end, hi)
        if a < b:
            pieces.append(group[a - start:b - start])
    return pieces


def shuffle_buffers(groups, buffer_chunks, rng=None):
    """The rows of each run of ``buffer_chunks`` consecutive groups, permuted together.

    Parameters
    ----------
    groups : list of ndarray
        Rows of one chunk each (or part of one), in reading order.
    buffer_chunks : int
        Groups per buffer.
    rng : numpy.random.Generator, optional
        Permutes the rows of each buffer; None keeps them in order.

    Returns
    -------
    list of ndarray
        One array of rows per buffer, in reading order.
    """
    buffers = []
    for b in range(0, len(groups), buffer_chunks):
        rows = np.concatenate(groups[b:b + buffer_chunks])
        buffers.append(rows if rng is None else rng.permutation(rows))
    return buffers


def epoch_buffers(groups, *, seed, epoch, shuffle, buffer_chunks, shares=()):
    """The buffers of rows of one share of one epoch, as a reader takes them.

    With ``shuffle``, the chunks are put in a random order over the whole
    store, the same in every process for one ``seed`` and ``epoch``
    (:func:`epoch_rng`; ``seed=None`` draws a new order); without it they keep the store's order. Then, for each
    ``(part, parts)`` of ``shares`` in turn (e.g. the rank among the ranks,
    then the worker among a rank's workers), only that consecutive share of
    the rows is kept (:func:`take_share`). The rows of each run of
    ``buffer_chunks`` chunks of what is left are permuted together, with a
    stream of its own per share (:func:`shuffle_buffers`).

    Parameters
    ----------
    groups : list of ndarray
        Rows (or indices) of one stored chunk each, in the store's order.
    seed : int or None
    epoch : int
    shuffle : bool
    buffer_chunks : int
    shares : sequence of (int, int)

    Returns
    -------
    list of ndarray
        The share's rows, one array per buffer, in reading order.

    >>> groups = chunk_groups(np.arange(10), 3)
    >>> [b.tolist() for b in epoch_buffers(groups, seed=0, epoch=0, shuffle=False,
    ...                                    buffer_chunks=1, shares=[(1, 2)])]
    [[5], [6, 7, 8], [9]]
    """
    order = epoch_rng(seed, epoch).permutation(len(groups)) if shuffle else range(len(groups))
    pieces = [groups[c] for c in order]
    stream = []
    for part, parts in shares:
        pieces = take_share(pieces, part, parts)
        stream += [part, parts]
    if not pieces:
        return []
    # a stream apart from the chunk order's ([seed, epoch]), one per share
    rng = epoch_rng(seed, epoch, 0, *stream) if shuffle else None
    return shuffle_buffers(pieces, buffer_chunks, rng)


def gather_rows(rows, chunk_rows, chunk, names):
    """Arrays of ``rows`` (in the order given) from whole chunks.

    Parameters
    ----------
    rows : ndarray of int, (n,)
        Row numbers, any order.
    chunk_rows : int
        Rows per chunk.
    chunk : callable
        ``chunk(c)`` gives the dict of arrays of chunk ``c`` (rows
        ``c * chunk_rows`` on); each chunk is asked for once.
    names : sequence of str
        The arrays to gather; a name whose array is None is left out.

    Returns
    -------
    dict
        name -> array (n, ...), row i being ``rows[i]``.
    """
    rows = np.asarray(rows)
    chunk_of = rows // chunk_rows
    order = np.argsort(chunk_of, kind="stable")
    cuts = np.flatnonzero(np.diff(chunk_of[order])) + 1
    out = {}
    for where in np.split(order, cuts) if len(rows) else ():
        c = int(chunk_of[where[0]])
        data = chunk(c)
        local = rows[where] - c * chunk_rows
        for name in names:
            array = data.get(name)
            if array is None:
                continue
            if name not in out:
                out[name] = np.empty((len(rows),) + array.shape[1:], array.dtype)
            out[name][where] = array[local]
    return out

class Batches:
    """The batch plan of a source: chunk-aligned reads, shuffled every epoch.

    Rows are grouped by the source's chunks. With ``shuffle``, each epoch puts
    the chunks in a random order, cuts that order into buffers of
    ``buffer_size // chunk_rows`` chunks and permutes the rows of each buffer;
    batches are consecutive runs of ``batch_size`` rows of that order, so a
    batch needs at most two buffers, and a few chunks are held at a time.
    Without ``shuffle`` rows come in the store's order. The batches' inputs
    are the source's ``images`` or, with ``inputs="particles"``, its
    ``particles`` (n, P, F); only that field (and labels, valid) is read.
    ``view`` (:func:`~jetimg.streams.images.particle_view`) takes the leading
    particles and chosen features of them.
    """

    inputs = "images"

    def setup_plan(self, source, batch_size, shuffle, seed, buffer_size, drop_invalid, labels,
                   weights, inputs="images", view=None):
        """Check the options and plan the first epoch (the datasets' ``__init__`` calls it)."""
        batch_size = integer("batch_size", batch_size)
        if inputs not in ("images", "particles"):
            raise InputError(f"inputs={inputs!r} is not valid; choose 'images' or 'particles'")
        check_fields(source, (inputs,))
        self.inputs = inputs
        self.view = view
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
                            and isinstance(source, JetImages))
        if len(rows) == 0:
            raise InputError(f"{source.path} has no valid jets to read")
        self.rows = rows
        self._by_chunk = chunk_groups(rows, self.chunk_rows)
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
            rng = epoch_rng(self.seed, self.epoch)
            chunks = rng.permutation(len(self._by_chunk))
            self.order = np.concatenate(shuffle_buffers([self._by_chunk[c] for c in chunks],
                                                        self.buffer_chunks, rng))
        else:
            self.order = self.rows

    def __len__(self):
        """Batches per epoch."""
        return -(-len(self.rows) // self.batch_size)

    def on_epoch_end(self):
        """Start the next epoch with a new order (and, for a source that varies its
        jets per epoch, the next epoch's jets: its chunks are read again)."""
        self.epoch += 1
        if getattr(self.source, "train_vary", None) is not None:
            self.source.set_epoch(self.epoch)
            with self._lock:
                self._cache.clear()
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
            fields = (self.inputs,) + (("labels",) if self.labels else ()) + (
                ("valid",) if self.weights else ())
            data = self.source.read(start, min(start + self.chunk_rows, self.source.n_rows),
                                    fields=fields)
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
        """Arrays of batch ``index``: images (n, npix, npix) or (n, npix, npix, C) float32
        (particles (n, P, F) with ``inputs="particles"``), labels (or None), weights (or None)."""
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of {len(self)}")
        rows = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        names = (self.inputs,) + (("labels",) if self.labels else ()) + (
            ("valid",) if self.weights else ())
        data = gather_rows(rows, self.chunk_rows, self._chunk, names)
        labels = data["labels"].astype(np.int32) if self.labels else None
        weights = (data["valid"] != 0).astype(np.float32) if self.weights else None
        inputs = data[self.inputs]
        if self.view is not None:
            inputs = select_particles(inputs, self.view)
        return inputs, labels, weights

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

