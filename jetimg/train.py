"""A thin Keras 3 CNN trainer that streams jet images from a store (extra ``train``).

Shapes: images (N, npix, npix) float32 as the store holds them; labels (N,)
int8, 1 for signal (top) and 0 for background (QCD); scores (N,) float32, the
network's signal probability.

* Inputs. :func:`open_images` opens an image store (Zarr or HDF5, as
  ``jetimg build`` writes it), the challenge's pandas image layout
  (``--layout pandas-images``), or a constituents file, whose images are made
  on the fly by the kernels with a given recipe. :class:`StoreDataset` and
  :class:`JetDataset` are ``keras.utils.PyDataset`` s over them: they read
  whole chunks of the store (1,000 rows), shuffle the chunk order and the rows
  within a buffer of chunks every epoch, and hold a few chunks, never the store.
* Invalid jets (``valid == 0``: all-zero images) are left out of training and
  validation; :func:`predict` keeps every row, in the store's order.
* Input scaling. Sum-normalised images have pixels near 1e-2; the network
  expects inputs of order 1. :func:`train` streams a sample of the training
  images and sets ``input_scale = 1 / RMS(pixel)``; the model's first layer is
  ``Rescaling(input_scale)``, so the saved model takes the store's images as
  they are and applies the same scaling to any store.
* The model file (``.keras``) is self-contained: ``keras.saving.load_model``
  gives the network, scaling included; jetimg's metadata (architecture, npix,
  input scale, the training store's recipe, the training figures) is one more
  entry of the zip, ``jetimg.json`` (:func:`read_metadata`), which Keras ignores.
* Keras and its backend are imported only inside functions. Without
  ``KERAS_BACKEND`` and with a configured backend that is not installed (Keras'
  own default is TensorFlow), jetimg selects JAX.

>>> from jetimg.train import ARCHS, METADATA_NAME
>>> ARCHS, METADATA_NAME
(('challenge', 'deeptop'), 'jetimg.json')
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import os
import pathlib
import sys
import threading
import time
import warnings
import zipfile
from collections import OrderedDict

import numpy as np

from ._version import __version__
from .errors import InputError, JetimgError, OutputExistsError
from .recipe import Recipe

__all__ = ["ARCHS", "METADATA_NAME", "PAPER_CNN", "open_images", "StoreDataset", "JetDataset",
           "input_scale", "build_model", "train", "TrainResult", "load_model",
           "read_metadata", "predict", "evaluate", "Evaluation", "pipeline_rate"]

#: Architectures of :func:`build_model`.
ARCHS = ("challenge", "deeptop")
#: Name of jetimg's metadata inside the ``.keras`` zip.
METADATA_NAME = "jetimg.json"
#: The CNN of the top-tagging comparison (arXiv:1902.09914, Table 1; 1.2M training jets).
PAPER_CNN = {"auc": 0.981, "background_rejection": 900.0, "signal_efficiency": 0.3}
#: Rows read per chunk from a constituents file (on-the-fly images).
JET_CHUNK_ROWS = 1000

_BACKEND_MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch",
                    "numpy": "numpy", "openvino": "openvino"}
# keras 3.15 on jax 0.10 warns from inside keras (KerasVariable.__array__) on every save
_KERAS_NOISE = r".*__array__ implementation doesn't accept a copy keyword.*"


# -- keras -----------------------------------------------------------------

def _configured_backend():
    """The backend Keras would pick: KERAS_BACKEND, else keras.json, else tensorflow."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json")) as f:
            return str(json.load(f).get("backend", "tensorflow"))
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def _keras():
    """Import Keras 3, selecting JAX when no installed backend is configured."""
    if "keras" not in sys.modules and not os.environ.get("KERAS_BACKEND"):
        module = _BACKEND_MODULES.get(_configured_backend(), "tensorflow")
        if importlib.util.find_spec(module) is None:
            os.environ["KERAS_BACKEND"] = "jax"
    try:
        import keras
    except ImportError as exc:
        raise JetimgError(f"training needs Keras 3 with a backend (JAX by default): "
                          f"pip install 'jetimg[train]' ({exc})") from None
    if int(keras.__version__.split(".")[0]) < 3:
        raise JetimgError(f"training needs Keras 3 (found {keras.__version__}): "
                          "pip install 'jetimg[train]'")
    return keras


@contextlib.contextmanager
def _quiet_keras():
    """Hide Keras' own deprecation noise (only that message; other warnings stay)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_KERAS_NOISE, category=DeprecationWarning)
        yield


# -- image sources ----------------------------------------------------------

class _Images:
    """Rows of images (and labels, valid flags) read by windows, whatever the file.

    Attributes: path, layout, n_rows, npix, chunk_rows, recipe (dict or None),
    has_labels. ``read(start, stop)`` -> dict with ``images`` (n, npix, npix)
    float32, ``labels`` (n,) int8 or None, ``valid`` (n,) int8 or None.
    ``valid_all()`` gives the valid flag of every row when it is known without
    making the images (a store), else None.
    """

    layout = None
    recipe = None

    def valid_all(self):
        return None

    def labels_all(self):
        """Labels of every row (int8), read chunk by chunk; None without labels."""
        if not self.has_labels:
            return None
        out = np.empty(self.n_rows, np.int8)
        for start in range(0, self.n_rows, self.chunk_rows):
            stop = min(start + self.chunk_rows, self.n_rows)
            out[start:stop] = self._labels(start, stop)
        return out

    def _labels(self, start, stop):
        return self.read(start, stop)["labels"]

    def describe(self):
        labels = "labels" if self.has_labels else "no labels"
        return f"{self.path} ({self.layout}, {self.n_rows} jets, {self.npix}x{self.npix}, {labels})"

    def close(self):
        pass


class _StoreImages(_Images):
    """An image store written by ``jetimg build`` (Zarr group or HDF5 file)."""

    layout = "store"

    def __init__(self, path):
        from .io.stores import open_store

        self.path = str(path)
        self._store = open_store(path)
        images = self._store["images"]
        if images.ndim != 3 or images.shape[1] != images.shape[2]:
            raise InputError(f"store {path}: images have shape {images.shape}, "
                             "not (N, npix, npix)")
        self.n_rows, self.npix = int(images.shape[0]), int(images.shape[1])
        chunks = getattr(images, "chunks", None)
        self.chunk_rows = int(chunks[0]) if chunks else 1000
        self.has_labels = "labels" in self._store
        # look the arrays up once: each Zarr lookup reads metadata
        self._arrays = {name: self._store[name] for name in ("images", "labels", "valid")
                        if name in self._store}
        self.recipe = self._store.attrs.get("recipe")
        if self._store.attrs.get("complete") is False:
            raise InputError(f"store {path} is incomplete (an interrupted or failed build); "
                             "rebuild it")
        self._lock = threading.Lock() if self._store.format == "hdf5" else None

    def read(self, start, stop):
        arrays = self._arrays
        with self._lock or contextlib.nullcontext():
            images = np.asarray(arrays["images"][start:stop], dtype=np.float32)
            labels = (np.asarray(arrays["labels"][start:stop], dtype=np.int8)
                      if "labels" in arrays else None)
            valid = (np.asarray(arrays["valid"][start:stop], dtype=np.int8)
                     if "valid" in arrays else None)
        return {"images": images, "labels": labels, "valid": valid}

    def valid_all(self):
        if "valid" not in self._arrays:
            return None
        return np.asarray(self._arrays["valid"][:], dtype=np.int8)

    def _labels(self, start, stop):
        return np.asarray(self._arrays["labels"][start:stop], dtype=np.int8)

    def close(self):
        self._store.close()


class _PandasImages(_Images):
    """The challenge's image layout: pandas HDFStore "table" with img_0 ... columns.

    Read with h5py, column names found without unpickling (see
    :mod:`jetimg.io.readers`); rows by windows aligned to the HDF5 chunks.
    """

    layout = "pandas-images"

    def __init__(self, path, f):
        from .io.readers import _table_columns

        self.path = str(path)
        group = f["table"]
        columns, n_rows, _ = _table_columns(group, f"table 'table' of {path}")
        where = {name: (field, col) for name, field, col, _ in columns}
        n_img = sum(1 for name in where if name.startswith("img_"))
        npix = int(round(n_img ** 0.5))
        if n_img == 0 or npix * npix != n_img:
            raise InputError(f"{path}: {n_img} img_* columns is not a square image")
        names = [f"img_{i}" for i in range(n_img)]
        missing = [n for n in names if n not in where]
        if missing:
            raise InputError(f"{path}: missing image columns {', '.join(missing[:5])}")
        fields = {where[n][0] for n in names}
        if len(fields) != 1:
            raise InputError(f"{path}: the image columns are spread over {len(fields)} "
                             "blocks; write them as one float block (jetimg build "
                             "--layout pandas-images does)")
        self._field = fields.pop()
        self._cols = np.array([where[n][1] for n in names])
        self._contiguous = bool((self._cols == np.arange(n_img)).all())
        self._label = where.get("is_signal_new")
        self._table = group["table"].name
        self._file = f
        self._lock = threading.Lock()
        self.n_rows, self.npix = int(n_rows), npix
        chunk = (group["table"].chunks or (1000,))[0]
        self.chunk_rows = int(chunk) * max(1, -(-1000 // int(chunk)))
        self.has_labels = self._label is not None

    def read(self, start, stop):
        with self._lock:
            ds = self._file[self._table]
            names = [self._field] + ([self._label[0]] if self._label else [])
            rows = ds.fields(list(dict.fromkeys(names)))[start:stop]
        block = rows[self._field] if rows.dtype.names else rows
        block = block.reshape(stop - start, -1)
        if not self._contiguous:
            block = block[:, self._cols]
        images = np.ascontiguousarray(block, dtype=np.float32).reshape(-1, self.npix, self.npix)
        labels = None
        if self._label:
            values = rows[self._label[0]].reshape(stop - start, -1)[:, self._label[1]]
            labels = values.astype(np.int8)
        return {"images": images, "labels": labels, "valid": None}

    def close(self):
        self._file.close()


class _JetImages(_Images):
    """Images made on the fly from a constituents file with a recipe (invalid jets skipped)."""

    layout = "constituents"

    def __init__(self, path, recipe=None, key=None, labels_key=None, parallel=False):
        from .io.readers import open_jets

        recipe = Recipe() if recipe is None else recipe
        if not isinstance(recipe, Recipe):
            raise InputError(f"recipe must be a jetimg.Recipe, not {type(recipe).__name__}")
        # a bad jet must not stop a training run: it gets valid = 0 (weight 0)
        self._recipe = dataclasses.replace(recipe, invalid="skip")
        self.recipe = self._recipe.to_attrs()
        self._source = open_jets(path, key=key, labels_key=labels_key)
        self.path = str(path)
        self.n_rows, self.npix = self._source.n_rows, self._recipe.npix
        self.chunk_rows = JET_CHUNK_ROWS
        self.has_labels = self._source.has_labels
        self._parallel = parallel

    def read(self, start, stop):
        from .core import preprocess

        jets, labels = self._source.read(start, stop)
        out = preprocess(jets, self._recipe, parallel=self._parallel, row_offset=start)
        return {"images": out["images"], "labels": labels, "valid": out["valid"]}

    def _labels(self, start, stop):
        return self._source.read(start, stop)[1]

    def close(self):
        self._source.close()


def _is_image_store(path):
    """"store", "pandas-images" or None (a constituents file or not a file at all)."""
    import h5py

    path = pathlib.Path(path)
    if path.is_dir():
        if (path / "zarr.json").exists() or (path / ".zgroup").exists():
            try:
                import zarr

                group = zarr.open_group(str(path), mode="r")
                return "store" if "images" in group.array_keys() else None
            except Exception:
                return None
        return None
    if not path.is_file() or not h5py.is_hdf5(path):
        return None
    with h5py.File(path, "r") as f:
        if isinstance(f.get("images"), h5py.Dataset):
            return "store"
        table = f.get("table")
        if isinstance(table, h5py.Group) and isinstance(table.get("table"), h5py.Dataset):
            blob = table["table"].attrs.get("values_block_0_kind")
            if blob is not None:
                from .io.readers import names_from_pickle

                try:
                    return "pandas-images" if "img_0" in names_from_pickle(blob) else None
                except ValueError:
                    return None
    return None


def open_images(path, recipe=None, *, key=None, labels_key=None):
    """Open the images of a file for training or prediction, whatever its layout.

    Parameters
    ----------
    path : str or Path
        An image store (``*.zarr``, ``*.h5`` from ``jetimg build``), the
        challenge's pandas image layout (``jetimg build --layout
        pandas-images``), or a constituents file (any input of
        :func:`jetimg.open_jets`), whose images are made on the fly.
    recipe : Recipe, optional
        The recipe of on-the-fly images (default ``Recipe()``; invalid jets are
        always skipped). Given with an image store, it must be the store's.
    key, labels_key : str, optional
        Passed to :func:`jetimg.open_jets` for constituents files.

    Returns
    -------
    source
        ``.n_rows``, ``.npix``, ``.chunk_rows``, ``.recipe`` (dict or None),
        ``.has_labels``, ``.layout``; ``.read(start, stop)`` gives a dict of
        ``images`` (n, npix, npix) float32, ``labels`` (n,) int8 or None and
        ``valid`` (n,) int8 or None.
    """
    if not os.path.exists(path):
        raise InputError(f"not found: {path}")
    kind = _is_image_store(path)
    if kind is None:
        return _JetImages(path, recipe, key=key, labels_key=labels_key)
    if kind == "store":
        source = _StoreImages(path)
    else:
        import h5py

        source = _PandasImages(path, h5py.File(path, "r"))
    if recipe is not None:
        _check_recipe(recipe.to_attrs(), source, "the recipe given")
    return source


def _recipe_differences(expected, found):
    """Option names where two recipe dicts differ (``invalid`` does not change images)."""
    keys = sorted((set(expected) | set(found)) - {"invalid"})
    return [k for k in keys if expected.get(k) != found.get(k)]


def _check_recipe(expected, source, what):
    """Raise unless ``source``'s images were made like ``expected`` (a recipe dict or None)."""
    if expected is None:
        return
    if int(expected.get("npix", source.npix)) != source.npix:
        raise InputError(f"{source.path} has {source.npix}x{source.npix} images but "
                         f"{what} expects {expected['npix']}x{expected['npix']}: rebuild it "
                         f"with --npix {expected['npix']}")
    if source.recipe is None:
        return  # the pandas image layout stores no recipe: npix is all we can check
    diff = _recipe_differences(expected, source.recipe)
    if diff:
        shown = ", ".join(f"{k}={source.recipe.get(k)!r} (expected {expected.get(k)!r})"
                          for k in diff)
        raise InputError(f"{source.path} was made with another recipe than {what}: "
                         f"{shown}; rebuild it with the same recipe")


# -- datasets -----------------------------------------------------------------

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
        if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) \
                or batch_size < 1:
            raise InputError(f"batch_size={batch_size!r} must be a positive integer")
        if isinstance(buffer_size, bool) or not isinstance(buffer_size, int | np.integer) \
                or buffer_size < 1:
            raise InputError(f"buffer_size={buffer_size!r} must be a positive integer (rows)")
        if labels and not source.has_labels:
            raise InputError(f"{source.path} has no labels: training needs the truth "
                             "(is_signal_new / labels)")
        self.source = source
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = seed
        self.labels = bool(labels)
        self.epoch = 0
        self.npix = source.npix
        self.chunk_rows = source.chunk_rows
        self.buffer_chunks = max(1, int(buffer_size) // self.chunk_rows)
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
        return -(-len(self.rows) // self.batch_size)

    def on_epoch_end(self):
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
        """Arrays of batch ``index``: images, labels (or None), weights (or None)."""
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of {len(self)}")
        rows = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        n = len(rows)
        images = np.empty((n, self.npix, self.npix), np.float32)
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
        images, labels, weights = self.batch(index)
        if labels is None:
            return (images,)
        if weights is None:
            return images, labels
        return images, labels, weights


_CLASSES = {}


def _dataset_classes():
    """StoreDataset and JetDataset, made on first use (they subclass keras.utils.PyDataset)."""
    if _CLASSES:
        return _CLASSES
    keras = _keras()

    class StoreDataset(_Batches, keras.utils.PyDataset):
        """A ``keras.utils.PyDataset`` of (images, labels) batches streamed from an image store.

        Reads whole chunks (1,000 rows in a ``jetimg build`` store), shuffles
        the chunk order and the rows within a buffer of ``buffer_size`` rows
        every epoch (reproducibly with ``seed``), and holds at most about two
        buffers of chunks. Invalid jets (``valid == 0``) are left out unless
        ``drop_invalid=False``.

        Parameters
        ----------
        store : str, Path or source
            A Zarr or HDF5 image store, or the pandas image layout (see
            :func:`open_images`).
        batch_size : int
        shuffle : bool
            Shuffle every epoch (False: the store's row order, for validation).
        seed : int, optional
        buffer_size : int
            Rows mixed together (rounded down to whole chunks, at least one).
        drop_invalid : bool
        labels : bool
            Yield (images, labels) (int32, 1 = signal); False: (images,).
        workers, use_multiprocessing, max_queue_size
            ``keras.utils.PyDataset``'s: ``workers > 1`` reads ahead in threads.

        Attributes
        ----------
        npix, n_jets (rows used per epoch), n_invalid (left out), source, reads
        (chunks read so far).
        """

        def __init__(self, store, batch_size=128, *, shuffle=True, seed=None,
                     buffer_size=10_000, drop_invalid=True, labels=True, workers=1,
                     use_multiprocessing=False, max_queue_size=10):
            source = store if isinstance(store, _Images) else open_images(store)
            if isinstance(source, _JetImages):
                raise InputError(f"{store} is not an image store (no 'images' array, not "
                                 "the pandas image layout); for constituents use JetDataset")
            keras.utils.PyDataset.__init__(self, workers=workers,
                                           use_multiprocessing=use_multiprocessing,
                                           max_queue_size=max_queue_size)
            self._setup(source, batch_size, shuffle, seed, buffer_size, drop_invalid, labels,
                        weights=False)

    class JetDataset(_Batches, keras.utils.PyDataset):
        """A ``keras.utils.PyDataset`` making the images of a constituents file as it goes.

        Reads 1,000 jets at a time (chunks shuffled and mixed in a buffer as
        :class:`StoreDataset`), runs :func:`jetimg.preprocess` with ``recipe``
        and yields (images, labels, weights): invalid jets get weight 0, as
        their validity is known only once their chunk is made. No image store
        is needed; each epoch pays the kernels again (about 400k jets/s per
        core, far above the training rate).

        Parameters
        ----------
        path : str or Path
            Any input of :func:`jetimg.open_jets`.
        recipe : Recipe, optional
            Default ``Recipe()``; ``invalid`` is always "skip".
        batch_size, shuffle, seed, buffer_size, labels, workers, ...
            As :class:`StoreDataset`.
        key, labels_key : str, optional
            As :func:`jetimg.open_jets`.
        """

        def __init__(self, path, recipe=None, batch_size=128, *, shuffle=True, seed=None,
                     buffer_size=10_000, labels=True, key=None, labels_key=None, workers=1,
                     use_multiprocessing=False, max_queue_size=10):
            source = path if isinstance(path, _JetImages) else _JetImages(
                path, recipe, key=key, labels_key=labels_key)
            keras.utils.PyDataset.__init__(self, workers=workers,
                                           use_multiprocessing=use_multiprocessing,
                                           max_queue_size=max_queue_size)
            self._setup(source, batch_size, shuffle, seed, buffer_size, True, labels,
                        weights=True)

    _CLASSES.update(StoreDataset=StoreDataset, JetDataset=JetDataset)
    return _CLASSES


def __getattr__(name):
    if name in ("StoreDataset", "JetDataset"):
        return _dataset_classes()[name]
    raise AttributeError(f"module 'jetimg.train' has no attribute {name!r}")


def _dataset(path, recipe, batch_size, shuffle, seed, buffer_size, workers):
    """A StoreDataset or JetDataset for ``path`` (already opened sources are accepted)."""
    classes = _dataset_classes()
    source = path if isinstance(path, _Images) else open_images(path, recipe)
    cls = classes["JetDataset"] if isinstance(source, _JetImages) else classes["StoreDataset"]
    return cls(source, batch_size=batch_size, shuffle=shuffle, seed=seed,
               buffer_size=buffer_size, workers=workers)


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


# -- scaling and models -----------------------------------------------------------

def input_scale(source, sample_rows=20_000):
    """1 / RMS of the pixel values of a sample of valid images, streamed from ``source``.

    The scaled images have a mean squared pixel of 1, the input scale the
    network's initialisation and ``GaussianNoise(0.1)`` assume. The sample is
    whole chunks spread evenly over the rows (about ``sample_rows`` rows).

    Parameters
    ----------
    source : str, Path or source
        Anything :func:`open_images` opens.
    sample_rows : int

    Returns
    -------
    float
    """
    source = source if isinstance(source, _Images) else open_images(source)
    n_chunks = -(-source.n_rows // source.chunk_rows)
    take = min(n_chunks, max(1, -(-int(sample_rows) // source.chunk_rows)))
    total, count = 0.0, 0
    for c in np.unique(np.linspace(0, n_chunks - 1, take).round().astype(int)):
        start = int(c) * source.chunk_rows
        data = source.read(start, min(start + source.chunk_rows, source.n_rows))
        images = data["images"]
        if data["valid"] is not None:
            images = images[data["valid"] != 0]
        total += float(np.square(images, dtype=np.float64).sum())
        count += images.size
    if count == 0 or total == 0.0:
        raise InputError(f"{source.path}: the sampled images are all zero; cannot scale them")
    return float(1.0 / np.sqrt(total / count))


def build_model(arch="challenge", npix=40, *, input_scale=1.0, noise=0.1):
    """A Keras CNN tagger on (npix, npix) images, with a softmax over (background, signal).

    The first layer is ``Rescaling(input_scale)``, so the model takes the
    store's images as they are.

    Parameters
    ----------
    arch : {"challenge", "deeptop"}
        "challenge": the seeds' winning CNN of the top-tagging challenge:
        GaussianNoise(``noise``); Conv2D 32, 32 (3x3, same, ReLU); max-pool
        3; Conv2D 32, 64; max-pool 3; Dense 100, 200, dropout 0.15, 200,
        dropout 0.3; softmax 2. Needs npix >= 9. "deeptop": DeepTop-style
        (arXiv:1701.08784): Conv2D 8, 8 (4x4, same, ReLU); max-pool 2;
        Conv2D 8, 8; Dense 64, 64, 64; softmax 2.
    npix : int
        Image side.
    input_scale : float
        Factor applied to the pixels first (see :func:`input_scale`).
    noise : float
        Standard deviation of the Gaussian noise on the scaled input during
        training ("challenge" only).

    Returns
    -------
    keras.Model
        Input (npix, npix) float32, output (2,) probabilities; not compiled.
    """
    if arch not in ARCHS:
        raise InputError(f"arch={arch!r} is not valid; choose one of {', '.join(ARCHS)}")
    if isinstance(npix, bool) or not isinstance(npix, int | np.integer) or npix < 1:
        raise InputError(f"npix={npix!r} must be a positive integer")
    if arch == "challenge" and npix < 9:
        raise InputError(f"arch 'challenge' pools by 3 twice and needs npix >= 9 (got {npix})")
    if arch == "deeptop" and npix < 2:
        raise InputError(f"arch 'deeptop' pools by 2 and needs npix >= 2 (got {npix})")
    if not np.isfinite(input_scale) or input_scale <= 0:
        raise InputError(f"input_scale={input_scale!r} must be a positive number")
    keras = _keras()
    layers = keras.layers
    npix = int(npix)
    inputs = keras.Input((npix, npix), name="images")
    x = layers.Rescaling(float(input_scale), name="input_scale")(inputs)
    x = layers.Reshape((npix, npix, 1), name="channel")(x)

    def conv(x, filters, size):
        return layers.Conv2D(filters, size, padding="same", activation="relu")(x)

    if arch == "challenge":
        x = layers.GaussianNoise(float(noise), name="noise")(x)
        x = conv(conv(x, 32, 3), 32, 3)
        x = layers.MaxPooling2D(3)(x)
        x = conv(conv(x, 32, 3), 64, 3)
        x = layers.MaxPooling2D(3)(x)
        x = layers.Flatten()(x)
        x = layers.Dense(100, activation="relu")(x)
        x = layers.Dense(200, activation="relu")(x)
        x = layers.Dropout(0.15)(x)
        x = layers.Dense(200, activation="relu")(x)
        x = layers.Dropout(0.3)(x)
    else:
        x = conv(conv(x, 8, 4), 8, 4)
        x = layers.MaxPooling2D(2)(x)
        x = conv(conv(x, 8, 4), 8, 4)
        x = layers.Flatten()(x)
        for _ in range(3):
            x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(2, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=f"jetimg_{arch}")


# -- training -----------------------------------------------------------------

@dataclasses.dataclass
class TrainResult:
    """What :func:`train` did.

    Attributes
    ----------
    output : str
        The model file (the best epoch by validation loss).
    history : dict
        Per epoch: loss, accuracy, val_loss, val_accuracy (lists).
    best_epoch : int
        1-based epoch of the saved model.
    epochs_run : int
    stopped_early : bool
    n_train, n_val : int
        Jets per epoch (invalid jets left out).
    input_scale : float
    seconds : float
        Wall time of the whole call.
    images_per_second : float
        Training images per second, from the epochs after the first (which
        compiles); the first epoch's when only one ran.
    log, plot : str or None
        The CSV log and the history plot.
    metadata : dict
        What the model file's ``jetimg.json`` holds.
    """

    output: str
    history: dict
    best_epoch: int
    epochs_run: int
    stopped_early: bool
    n_train: int
    n_val: int
    input_scale: float
    seconds: float
    images_per_second: float
    log: str | None
    plot: str | None
    metadata: dict

    @property
    def best_val_loss(self):
        return float(self.history["val_loss"][self.best_epoch - 1])

    @property
    def best_val_accuracy(self):
        return float(self.history["val_accuracy"][self.best_epoch - 1])


def _epoch_callback(keras, epochs, n_train, progress, timings):
    """Per-epoch timings (training part only) and a progress line."""

    class EpochLine(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.best = np.inf

        def on_epoch_begin(self, epoch, logs=None):
            self.started = self.last = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.last = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            now = time.perf_counter()
            timings.append((self.last - self.started, now - self.started))
            val = logs.get("val_loss", np.inf)
            mark = ""
            if val < self.best:
                self.best, mark = val, "  *best"
            if progress is not None:
                train_s, total_s = timings[-1]
                rate = f"  {n_train / train_s:,.0f} img/s" if train_s > 0 else ""
                progress(f"epoch {epoch + 1}/{epochs}  loss {logs.get('loss', np.nan):.4f}  "
                         f"acc {logs.get('accuracy', np.nan):.4f}  val_loss {val:.4f}  "
                         f"val_acc {logs.get('val_accuracy', np.nan):.4f}  "
                         f"{total_s:.1f} s{rate}{mark}")

    return EpochLine()


def _paths(output, log, plot):
    output = pathlib.Path(output)
    if output.suffix != ".keras":
        raise InputError(f"output {output}: a Keras 3 model file must end in .keras")
    log = output.with_name(output.stem + "_log.csv") if log is None else log
    plot = output.with_name(output.stem + "_history.png") if plot is None else plot
    return output, (pathlib.Path(log) if log else None), (pathlib.Path(plot) if plot else None)


def train(train_store, val_store, output, *, epochs=20, batch_size=128, lr=1e-3,
          arch="challenge", patience=5, seed=None, scale=None, log=None, plot=None,
          overwrite=False, recipe=None, buffer_size=10_000, workers=2, progress=None):
    """Train a CNN tagger on a store, keeping the best epoch by validation loss.

    Adam on the categorical cross-entropy (2 classes); early stopping after
    ``patience`` epochs without a lower validation loss; the model of the best
    epoch is written to ``output`` with jetimg's metadata (see the module
    docstring); a CSV log and a plot of loss and accuracy per epoch beside it.

    Parameters
    ----------
    train_store, val_store : str or Path
        Image stores (Zarr, HDF5, pandas image layout) or constituents files
        (images made on the fly with ``recipe``), with labels. Both must share
        one recipe. Invalid jets are left out.
    output : str or Path
        The model file, ``*.keras``; an existing one is an error unless ``overwrite``.
    epochs : int
        Most epochs to run.
    batch_size : int
    lr : float
        Adam's learning rate.
    arch : {"challenge", "deeptop"}
        See :func:`build_model`.
    patience : int
        Epochs without improvement of the validation loss before stopping.
    seed : int, optional
        Seeds Keras (``keras.utils.set_random_seed``: weights, dropout, noise)
        and the shuffling: the same seed gives the same model on one backend.
    scale : float, optional
        Input scale; default :func:`input_scale` of the training images.
    log, plot : str, Path or False, optional
        The CSV log (default ``<output stem>_log.csv``) and the history plot
        (default ``<output stem>_history.png``); False for none.
    overwrite : bool
    recipe : Recipe, optional
        Recipe of on-the-fly images of constituents files.
    buffer_size : int
        Rows shuffled together (see :class:`StoreDataset`).
    workers : int
        Threads reading batches ahead of the training step.
    progress : callable, optional
        ``progress(line)`` after every epoch, with loss, accuracy, time and rate.

    Returns
    -------
    TrainResult
    """
    started = time.perf_counter()
    for name, value in (("epochs", epochs), ("patience", patience), ("workers", workers)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise InputError(f"{name}={value!r} must be a positive integer")
    if not (isinstance(lr, int | float) and np.isfinite(lr) and lr > 0):
        raise InputError(f"lr={lr!r} must be a positive number")
    if arch not in ARCHS:
        raise InputError(f"arch={arch!r} is not valid; choose one of {', '.join(ARCHS)}")
    output, log, plot = _paths(output, log, plot)
    if (output.exists() or output.is_symlink()) and not overwrite:
        raise OutputExistsError(f"output {output} already exists; use overwrite=True "
                                "(--overwrite) to replace it")
    from .io.stores import check_writable

    check_writable(output)
    keras = _keras()
    tmp = output.with_name(f".{output.stem}.jetimg-tmp-{os.getpid()}.keras")
    sources = []
    try:
        train_source = open_images(train_store, recipe)
        sources.append(train_source)
        val_source = open_images(val_store, recipe)
        sources.append(val_source)
        _check_recipe(train_source.recipe or {"npix": train_source.npix}, val_source,
                      f"the training data {train_source.path}")
        if seed is not None:
            keras.utils.set_random_seed(int(seed))
        train_data = _dataset(train_source, recipe, batch_size, True, seed, buffer_size, workers)
        val_data = _dataset(val_source, recipe, batch_size, False, seed, buffer_size, workers)
        scale = input_scale(train_source) if scale is None else float(scale)
        model = build_model(arch, train_source.npix, input_scale=scale)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=float(lr)),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        n_train, n_val = train_data.n_jets, val_data.n_jets
        timings = []
        line = _epoch_callback(keras, int(epochs), n_train, progress, timings)
        callbacks = [keras.callbacks.ModelCheckpoint(str(tmp), monitor="val_loss",
                                                     save_best_only=True, verbose=0),
                     keras.callbacks.EarlyStopping(monitor="val_loss", patience=int(patience)),
                     line]
        logger = keras.callbacks.CSVLogger(str(log)) if log else None
        if logger is not None:
            callbacks.append(logger)
        interrupted = False
        try:
            with _quiet_keras():
                fit = model.fit(train_data, validation_data=val_data, epochs=int(epochs),
                                callbacks=callbacks, verbose=0, shuffle=False)
            history = {k: [float(v) for v in vs] for k, vs in fit.history.items()}
        except KeyboardInterrupt:
            interrupted = True
            history = {k: [float(v) for v in vs] for k, vs in model.history.history.items()} \
                if getattr(model, "history", None) is not None else {}
            if not tmp.exists():
                raise
        finally:
            if logger is not None and logger.csv_file is not None:
                logger.csv_file.close()     # Keras closes it only when training ends well
        epochs_run = len(history.get("loss", []))
        best_epoch = int(np.argmin(history["val_loss"])) + 1 if history.get("val_loss") else 0
        train_times = [t for t, _ in timings]
        rates = [n_train / t for t in (train_times[1:] or train_times) if t > 0]
        rate = float(np.mean(rates)) if rates else float("nan")
        metadata = {
            "jetimg_version": __version__, "arch": arch, "npix": int(train_source.npix),
            "input_scale": scale, "input_scaling": "Rescaling(input_scale) is the model's "
            "first layer: feed the store's images unscaled",
            "classes": ["background", "signal"], "output": "softmax; signal probability = [:, 1]",
            "recipe": train_source.recipe, "train": train_source.path, "val": val_source.path,
            "n_train": n_train, "n_val": n_val, "n_invalid_dropped":
                int(train_data.n_invalid + val_data.n_invalid),
            "epochs": int(epochs), "epochs_run": epochs_run, "best_epoch": best_epoch,
            "best_val_loss": history["val_loss"][best_epoch - 1] if best_epoch else None,
            "best_val_accuracy": (history["val_accuracy"][best_epoch - 1]
                                  if best_epoch and history.get("val_accuracy") else None),
            "batch_size": int(batch_size), "lr": float(lr), "patience": int(patience),
            "seed": seed, "interrupted": interrupted,
            "keras_version": keras.__version__, "backend": keras.backend.backend(),
            "train_images_per_second": rate,
        }
        _write_metadata(tmp, metadata)
        os.replace(tmp, output)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise
    finally:
        for source in sources:
            source.close()
    if plot and history.get("loss"):
        from .plots.style import save_figure
        from .plots.training import plot_history

        save_figure(plot_history(history), plot)
    result = TrainResult(output=str(output), history=history, best_epoch=best_epoch,
                         epochs_run=epochs_run, stopped_early=epochs_run < int(epochs),
                         n_train=n_train, n_val=n_val, input_scale=scale,
                         seconds=time.perf_counter() - started, images_per_second=rate,
                         log=str(log) if log else None, plot=str(plot) if plot else None,
                         metadata=metadata)
    if interrupted:
        exc = KeyboardInterrupt()
        exc.result = result
        raise exc
    return result


# -- the model file ---------------------------------------------------------------

def _write_metadata(path, metadata):
    with zipfile.ZipFile(path, "a") as z:
        z.writestr(METADATA_NAME, json.dumps(metadata, indent=1, allow_nan=True))


def read_metadata(path):
    """jetimg's metadata of a model file (the ``jetimg.json`` entry of the ``.keras`` zip).

    Returns
    -------
    dict
        arch, npix, input_scale, recipe (of the training store; None for the
        pandas image layout), training figures, versions.
    """
    path = pathlib.Path(path)
    if not path.exists():
        raise InputError(f"model not found: {path}")
    try:
        with zipfile.ZipFile(path) as z:
            return json.loads(z.read(METADATA_NAME))
    except zipfile.BadZipFile:
        raise InputError(f"{path} is not a Keras 3 model file (.keras zip)") from None
    except KeyError:
        raise InputError(f"{path} is a Keras model without jetimg's metadata "
                         f"({METADATA_NAME}): train it with jetimg train") from None


@dataclasses.dataclass
class TrainedModel:
    """A loaded model file: the Keras model, jetimg's metadata and the path."""

    model: object
    metadata: dict
    path: str


def load_model(path):
    """Load a model file written by :func:`train`.

    Returns
    -------
    TrainedModel
        ``.model`` (keras.Model, input scaling included), ``.metadata``.
    """
    metadata = read_metadata(path)
    keras = _keras()
    try:
        with _quiet_keras():
            model = keras.saving.load_model(str(path), compile=False)
    except Exception as exc:
        raise InputError(f"cannot load the model {path}: {exc}") from None
    return TrainedModel(model=model, metadata=metadata, path=str(path))


def _scan(source, batch_size, fn, progress=None):
    """Call ``fn(start, data)`` on chunk-aligned windows of every row, in order."""
    step = source.chunk_rows * max(1, int(batch_size) // source.chunk_rows)
    if progress:
        progress(0, source.n_rows)
    for start in range(0, source.n_rows, step):
        stop = min(start + step, source.n_rows)
        fn(start, source.read(start, stop))
        if progress:
            progress(stop, source.n_rows)


def predict(model, store, *, batch_size=1000, progress=None):
    """Signal probability of every jet of a store, in the store's row order.

    Parameters
    ----------
    model : str, Path or TrainedModel
        A model file written by :func:`train`.
    store : str or Path
        An image store or pandas image layout made with the model's recipe (checked:
        npix, and every recipe option when the store records its recipe), or a
        constituents file, whose images are made with the model's recipe.
    batch_size : int
        Rows per forward pass (rounded to whole chunks of the store).
    progress : callable, optional
        ``progress(done, total)`` in rows.

    Returns
    -------
    numpy.ndarray
        float32 (N,), row n for row n of the store; invalid jets (all-zero
        images) are kept and get the score of an empty image.
    """
    trained = model if isinstance(model, TrainedModel) else load_model(model)
    source = _open_for(store, trained.metadata)
    try:
        return _score(trained, source, batch_size, progress)[0]
    finally:
        if source is not store:
            source.close()


def _score(trained, source, batch_size, progress=None):
    """(scores float32, labels int8 or None, valid int8 or None) of every row, one pass."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) \
            or batch_size < 1:
        raise InputError(f"batch_size={batch_size!r} must be a positive integer")
    n = source.n_rows
    scores = np.empty(n, np.float32)
    labels = np.empty(n, np.int8) if source.has_labels else None
    valid = np.empty(n, np.int8)
    known = True
    net = trained.model

    def run(start, data):
        nonlocal known
        images = data["images"]
        stop = start + len(images)
        for s in range(0, len(images), int(batch_size)):
            part = images[s:s + int(batch_size)]
            scores[start + s:start + s + len(part)] = np.asarray(net.predict_on_batch(part))[:, 1]
        if labels is not None:
            labels[start:stop] = data["labels"]
        if data["valid"] is None:
            known = False
        else:
            valid[start:stop] = data["valid"]

    with _quiet_keras():
        _scan(source, batch_size, run, progress)
    return scores, labels, (valid if known else None)


def _open_for(store, meta):
    """Open ``store`` for a model: constituents get the model's recipe; stores are checked."""
    recipe = meta.get("recipe")
    if isinstance(store, _Images):
        source = store
    elif _is_image_store(store) is None and os.path.exists(store):
        if recipe is None:
            raise InputError(f"{store} is a constituents file but the model records no recipe "
                             f"(it was trained on the pandas image layout): build an image "
                             f"store with --npix {meta.get('npix')} first")
        source = _JetImages(store, Recipe.from_attrs(recipe))
    else:
        source = open_images(store)
    _check_recipe(recipe if recipe is not None else {"npix": meta.get("npix")}, source,
                  "the model (its training store's recipe)")
    return source


# -- evaluation -------------------------------------------------------------------

@dataclasses.dataclass
class Evaluation:
    """Metrics of a tagger on a labelled store, and the arrays behind them.

    Attributes
    ----------
    metrics : dict
        :func:`jetimg.metrics.summary` (n_jets, auc, accuracy,
        background_rejection at signal_efficiency) plus ``n_invalid``
        (jets left out) and ``store``.
    labels, scores : numpy.ndarray
        The valid jets' labels (int8) and scores (float32), in row order.
    """

    metrics: dict
    labels: np.ndarray
    scores: np.ndarray


def evaluate(store, *, model=None, scores=None, signal_efficiency=0.3, batch_size=1000,
             progress=None):
    """AUC, accuracy and 1/eps_B of a tagger on a labelled store (invalid jets left out).

    Parameters
    ----------
    store : str or Path
        An image store, pandas image layout or constituents file, with labels.
    model : str, Path or TrainedModel, optional
        Score the store with this model (needs the ``train`` extra) ...
    scores : array-like or str or Path, optional
        ... or use these scores (N,) in the store's row order, or a ``.npy``
        of them (as ``jetimg predict`` writes); needs no Keras.
    signal_efficiency : float
        eps_S of the background rejection (0.3 in arXiv:1902.09914).
    batch_size : int
    progress : callable, optional

    Returns
    -------
    Evaluation
    """
    from . import metrics

    if (model is None) == (scores is None):
        raise InputError("give a model or scores (one of them)")
    trained = None
    if model is not None:
        trained = model if isinstance(model, TrainedModel) else load_model(model)
        source = _open_for(store, trained.metadata)
    else:
        source = open_images(store)
    try:
        if not source.has_labels:
            raise InputError(f"{source.path} has no labels: evaluate needs the truth "
                             "(jetimg predict gives the scores of a store without labels)")
        if trained is not None:
            scores, labels, valid = _score(trained, source, batch_size, progress)
        else:
            if isinstance(scores, str | os.PathLike):
                try:
                    scores = np.load(scores, allow_pickle=False)
                except (OSError, ValueError) as exc:
                    raise InputError(f"cannot read scores {scores}: {exc}") from None
            scores = np.asarray(scores, dtype=np.float32)
            if scores.shape != (source.n_rows,):
                raise InputError(f"scores have shape {scores.shape} but {source.path} holds "
                                 f"{source.n_rows} jets: give one score per row, in its order")
            labels, valid = source.labels_all(), _valid_all(source, batch_size)
    finally:
        source.close()
    keep = np.ones(len(labels), bool) if valid is None else valid != 0
    summary = metrics.summary(labels[keep], scores[keep], signal_efficiency)
    summary["n_invalid"] = int(len(labels) - keep.sum())
    summary["store"] = source.path
    return Evaluation(metrics=summary, labels=labels[keep], scores=scores[keep])


def _valid_all(source, batch_size):
    """Valid flags of every row: the store's, made by the kernels (constituents), or None."""
    valid = source.valid_all()
    if valid is None and isinstance(source, _JetImages):
        valid = np.empty(source.n_rows, np.int8)

        def put(start, data):
            valid[start:start + len(data["valid"])] = data["valid"]

        _scan(source, batch_size, put)
    return valid
