"""Image sources for training and prediction: rows of images by windows, whatever the file.

Framework-free (no Keras). :func:`open_images` opens an image store (through
:func:`jetimg.io.store.stores.open_store`), the challenge's pandas image layout, or a
constituents file whose images the kernels make on the fly with a recipe.
Every source reads by row windows: ``read(start, stop)`` gives a dict of
``images`` (n, npix, npix) float32, or (n, npix, npix, C) for a source with
channels (channel last, ``source.channels`` names them), ``labels`` (n,) int8
or None and ``valid`` (n,) int8 or None, and, from a store built with
particles or a constituents file read with a recipe whose ``particles`` is
set, ``particles`` (n, P, F) float32 (``source.particle_features`` names the
F features, ``source.n_particles`` is P). ``read(start, stop, fields=...)``
reads only the fields named (a particle tagger need not read the images).
:func:`input_scale` samples a source's pixels (one factor per channel).
"""

import contextlib
import dataclasses
import os
import threading

import numpy as np

from ..errors import InputError
from ..io.store import stores
from ..recipe import Recipe, particle_features
from ..variations import Vary, VaryRanges

#: Rows read per chunk from a constituents file (on-the-fly images).
JET_CHUNK_ROWS = 1000

#: The fields ``read(start, stop)`` gives by default (as before particles existed).
IMAGE_FIELDS = ("images", "labels", "valid")

#: Every field a source can read.
FIELDS = ("images", "particles", "labels", "valid")


def check_fields(source, fields):
    """The fields to read, checked: a tuple of names out of :data:`FIELDS`.

    None means :data:`IMAGE_FIELDS`. Asking for ``particles`` from a source
    without them is refused, naming the build option that makes them.
    """
    if fields is None:
        return IMAGE_FIELDS
    fields = (fields,) if isinstance(fields, str) else tuple(fields)
    unknown = [f for f in fields if f not in FIELDS]
    if unknown:
        raise InputError(f"fields: {unknown[0]!r} is not a field; choose from "
                         + ", ".join(FIELDS))
    if "particles" in fields and source.particle_features is None:
        raise InputError(f"{source.path} has no particles: build the store with "
                         "jetimg build --particles P (or give a recipe with particles "
                         "for a constituents file)")
    return fields


def channels_text(channels):
    """The channel names of a source or model, for messages.

    >>> channels_text(("charged_pt", "neutral_pt")), channels_text(None)
    ('[charged_pt, neutral_pt]', 'none (one image per jet)')
    """
    return "[" + ", ".join(channels) + "]" if channels else "none (one image per jet)"


def _channel_names(recipe):
    """The channel names a recipe dict records, as a tuple, or None (no channels)."""
    names = (recipe or {}).get("channels")
    return tuple(str(n) for n in names) if names else None


class ImageSource:
    """Rows of images (and labels, valid flags) read by windows, whatever the file.

    ``read(start, stop)`` gives a dict of ``images`` (n, npix, npix) float32
    ((n, npix, npix, C) with channels), ``labels`` (n,) int8 or None and
    ``valid`` (n,) int8 or None.

    Attributes
    ----------
    path : str
    layout : {"store", "pandas-images", "constituents"}
    n_rows, npix, chunk_rows : int
        Rows, image side, rows per read (the file's chunks).
    recipe : dict or None
        :meth:`Recipe.to_attrs` of the images; None where the file records none.
    channels : tuple of str or None
        The channel names, in the order of the images' last axis; None for one
        image per jet (images (n, npix, npix)).
    has_labels : bool
    label_names : tuple of str or None
        The class names, in label order (the store's or input's
        ``label_names``); None where the file names none.
    particle_features : tuple of str or None
        The names of the F features of ``particles`` (n, P, F); None for a
        source without particles.
    n_particles : int or None
        P, the particles kept per jet; None without particles.
    """

    layout = None
    recipe = None
    channels = None
    label_names = None
    particle_features = None
    n_particles = None

    @property
    def image_shape(self):
        """Shape of one image: (npix, npix), or (npix, npix, C) with channels."""
        side = (self.npix, self.npix)
        return side + (len(self.channels),) if self.channels else side

    def valid_all(self):
        """Valid flags of every row (int8) when known without making the images, else None."""
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
        """Labels of rows [start, stop), int8."""
        return self.read(start, stop)["labels"]

    def describe(self):
        """One line: path, layout, jets, image size and whether it has labels."""
        labels = "labels" if self.has_labels else "no labels"
        channels = f", channels {channels_text(self.channels)}" if self.channels else ""
        return (f"{self.path} ({self.layout}, {self.n_rows} jets, {self.npix}x{self.npix}"
                f"{channels}, {labels})")

    def close(self):
        """Close the file (sources that hold none do nothing)."""


class StoreImages(ImageSource):
    """An image store written by ``jetimg build`` (Zarr group or HDF5 file)."""

    layout = "store"

    def __init__(self, path, allow_incomplete=False):
        from ..io.store.completeness import check_complete
        from ..io.store.stores import open_store

        self.path = str(path)
        self._store = open_store(path)
        try:
            self.complete = check_complete(self._store, allow_incomplete)
        except BaseException:
            self._store.close()
            raise
        try:
            self._open()
        except BaseException:
            self._store.close()
            raise
        self._lock = threading.Lock() if self._store.format == "hdf5" else None

    def _open(self):
        """Shape, chunks, arrays, recipe and channels of the store (checked)."""
        path = self.path
        images = self._store["images"]
        self.recipe = self._store.attrs.get("recipe")
        self.channels = _channel_names(self.recipe)
        shape = tuple(images.shape)
        if self.channels:
            if len(shape) != 4 or shape[1] != shape[2] or shape[3] != len(self.channels):
                raise InputError(f"store {path}: images have shape {shape}, not (N, npix, "
                                 f"npix, {len(self.channels)}) for its channels "
                                 f"{channels_text(self.channels)}")
        elif len(shape) != 3 or shape[1] != shape[2]:
            raise InputError(f"store {path}: images have shape {shape}, not (N, npix, npix)"
                             + (" (its recipe names no channels)" if len(shape) == 4 else ""))
        self.n_rows, self.npix = int(shape[0]), int(shape[1])
        chunks = getattr(images, "chunks", None)
        self.chunk_rows = int(chunks[0]) if chunks else 1000
        self.has_labels = "labels" in self._store
        names = self._store.attrs.get("label_names")
        self.label_names = tuple(str(n) for n in names) if names else None
        # look the arrays up once: each Zarr lookup reads metadata
        self._arrays = {name: self._store[name] for name in FIELDS if name in self._store}
        if "particles" in self._arrays:
            names = self._store.attrs.get("particle_features")
            shape = tuple(self._arrays["particles"].shape)
            if not names or len(shape) != 3 or shape[0] != self.n_rows \
                    or shape[2] != len(names):
                raise InputError(f"store {path}: particles have shape {shape}, which does "
                                 f"not match its {len(names or ())} particle_features and "
                                 f"{self.n_rows} jets")
            self.particle_features = tuple(str(n) for n in names)
            self.n_particles = int(shape[1])

    def read(self, start, stop, fields=None):
        """Rows [start, stop) of the fields named (default images, labels, valid).

        ``labels`` and ``valid`` are None where the store has none; ``particles``
        (n, P, F) float32 needs a store built with ``--particles``.
        """
        fields = check_fields(self, fields)
        arrays = self._arrays
        dtypes = {"images": np.float32, "particles": np.float32, "labels": np.int8,
                  "valid": np.int8}
        with self._lock or contextlib.nullcontext():
            return {name: (np.asarray(arrays[name][start:stop], dtype=dtypes[name])
                           if name in arrays else None) for name in fields}

    def valid_all(self):
        if "valid" not in self._arrays:
            return None
        return np.asarray(self._arrays["valid"][:], dtype=np.int8)

    def _labels(self, start, stop):
        return np.asarray(self._arrays["labels"][start:stop], dtype=np.int8)

    def close(self):
        self._store.close()


class PandasImages(ImageSource):
    """The challenge's image layout: pandas HDFStore "table" with img_0 ... columns.

    Read with h5py, column names found without unpickling (see
    :func:`jetimg.io.readers.pandas_hdf.table_columns`); rows by windows aligned to the
    HDF5 chunks.
    """

    layout = "pandas-images"

    def __init__(self, path, f):
        from ..io.readers.pandas_hdf import table_columns

        self.path = str(path)
        group = f["table"]
        columns, n_rows, _ = table_columns(group, f"table 'table' of {path}")
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

    def read(self, start, stop, fields=None):
        fields = check_fields(self, fields)
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
        out = {"images": images, "labels": labels, "valid": None}
        return {name: out[name] for name in fields}

    def close(self):
        self._file.close()


class JetImages(ImageSource):
    """Images made on the fly from a constituents file with a recipe (invalid jets skipped).

    ``path`` is anything :func:`jetimg.io.open_inputs` opens: one file, a
    list of files or a glob pattern, read as one input. With the recipe's
    channels, the particle kinds are read beside the jets
    (``source.read_kinds``); a channel that selects a kind on a file without
    kinds is refused when the file is opened. With the recipe's ``particles``
    = P, ``read`` gives ``particles`` too (F = 17 features with the charges
    and kinds of an input that has particle kinds, else 11, as ``jetimg
    build`` writes them). The kernels make images and particles in one pass,
    so reading only ``particles`` still makes the images (and the reverse):
    ``fields`` saves nothing here but memory.

    ``vary`` (a :class:`~jetimg.variations.VaryRanges`, or its text such as
    ``"scale=0.9:1.1"``) varies every jet afresh in each epoch before the
    recipe (hardened training): the draws of :meth:`set_epoch`'s epoch, by
    input row and slot, from the ranges' seed or else ``vary_seed``. It
    cannot be given with a recipe that has a fixed ``vary`` of its own.
    """

    layout = "constituents"

    def __init__(self, path, recipe=None, key=None, labels_key=None, parallel=False, vary=None,
                 vary_seed=None):
        from ..io import open_inputs

        recipe = Recipe() if recipe is None else recipe
        if not isinstance(recipe, Recipe):
            raise InputError(f"recipe must be a jetimg.Recipe, not {type(recipe).__name__}")
        # a bad jet must not stop a training run: it gets valid = 0 (weight 0)
        self._recipe = dataclasses.replace(recipe, invalid="skip")
        self.recipe = self._recipe.to_attrs()
        self.channels = _channel_names(self.recipe)
        self._source = open_inputs(path, key=key, labels_key=labels_key)
        self.path = (str(path) if isinstance(path, (str, os.PathLike))
                     else ", ".join(str(p) for p in path))
        # kinds are read only for the channels that select particles by kind
        kind_channels = list(self._recipe.needs_kinds)
        has_kinds = bool(getattr(self._source, "has_kinds", False))
        # with particles, an input with kinds gives the six kind features (as a build does)
        self._identity = self._recipe.reads_identity(has_kinds)
        if self._recipe.particles is not None:
            self.particle_features = particle_features(has_kinds)
            self.n_particles = int(self._recipe.particles)
        if kind_channels and not getattr(self._source, "has_kinds", False):
            self._source.close()
            raise InputError(f"{path} has no particle kinds (PDG ids or particle-type flags), "
                             f"which channel {kind_channels[0]} needs"
                             + (f" (and {', '.join(kind_channels[1:])})"
                                if len(kind_channels) > 1 else "")
                             + "; channels pt, e and count need none")
        self._train_vary = VaryRanges.parse(vary)
        self.train_vary = None if self._train_vary is None else self._train_vary.to_attrs()
        self._vary_seed = vary_seed
        self.epoch = 0
        if self._train_vary is not None:
            problem = None
            if self._recipe.vary is not None:
                problem = (f"the recipe varies every epoch alike (vary {self._recipe.vary}); "
                           f"give one variation, fixed or drawn per epoch")
            elif self._train_vary.needs_kinds and not has_kinds:
                problem = (f"{path} has no particle kinds, which neutral_scale needs (photons "
                           f"and neutral hadrons)")
            if problem is not None:
                self._source.close()
                raise InputError(f"vary={self._train_vary.to_text()!r}: {problem}")
        self.n_rows, self.npix = self._source.n_rows, self._recipe.npix
        self.chunk_rows = JET_CHUNK_ROWS
        self.has_labels = self._source.has_labels
        names = getattr(self._source, "label_names", None)
        self.label_names = tuple(str(n) for n in names) if names else None
        self._parallel = parallel

    def set_epoch(self, epoch):
        """Draw the training variation (``vary``) of epoch ``epoch`` from now on."""
        self.epoch = int(epoch)

    def read(self, start, stop, fields=None):
        from ..core import preprocess

        fields = check_fields(self, fields)
        jets, labels = self._source.read(start, stop)
        with_kinds, with_charges = self._identity
        varied = self._train_vary
        identity = self._source.read_identity(
            start, stop, with_kinds or (varied is not None and varied.needs_kinds), with_charges)
        if varied is not None:
            jets = varied.apply(jets, np.arange(start, stop), self.epoch, self._vary_seed,
                                identity["kinds"])
        out = preprocess(jets, self._recipe, parallel=self._parallel, row_offset=start,
                         **identity)
        out["labels"] = labels
        return {name: out[name] for name in fields}

    def _labels(self, start, stop):
        return self._source.read(start, stop)[1]

    def close(self):
        self._source.close()


def open_images(path, recipe=None, *, key=None, labels_key=None, allow_incomplete=False,
                vary=None, vary_seed=None):
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
        always skipped), channels included. Given with an image store, it must
        be the store's (whose channels are its own).
    key, labels_key : str, optional
        Passed to :func:`jetimg.open_jets` for constituents files.
    allow_incomplete : bool
        Accept an image store of an interrupted build (``complete: false``,
        refused by default); its unwritten rows read as invalid jets.
    vary, vary_seed
        A variation drawn per jet and epoch, for constituents files only
        (:class:`JetImages`); refused for an image store, whose images are made.

    Returns
    -------
    source
        ``.n_rows``, ``.npix``, ``.chunk_rows``, ``.recipe`` (dict or None),
        ``.channels`` (tuple of names or None), ``.image_shape``,
        ``.has_labels``, ``.layout``; ``.read(start, stop)`` gives a dict of
        ``images`` (n, npix, npix) float32 ((n, npix, npix, C) with
        channels), ``labels`` (n,) int8 or None and ``valid`` (n,) int8 or None.
    """
    if not os.path.exists(path):
        raise InputError(f"not found: {path}")
    if not os.access(path, os.R_OK):
        raise InputError(f"cannot read {path}: permission denied")
    kind = stores.image_layout(path)
    if kind is None:
        return JetImages(path, recipe, key=key, labels_key=labels_key, vary=vary,
                         vary_seed=vary_seed)
    if vary is not None:
        text = VaryRanges.parse(vary)
        raise InputError(f"vary={str(text)!r} varies jets as their images are made, and {path} "
                         f"is an image store: give its constituents file, or build a varied "
                         f"store with jetimg build --vary")
    if kind == "store":
        source = StoreImages(path, allow_incomplete)
    else:
        import h5py

        source = PandasImages(path, h5py.File(path, "r"))
    if recipe is not None:
        check_recipe(recipe.to_attrs(), source, "the recipe given")
    return source


def check_recipe(expected, source, what, allow_vary=False):
    """Raise unless ``source``'s images were made like ``expected``.

    ``expected`` is a recipe dict (:meth:`Recipe.to_attrs`), ``{"npix": n}``
    where only npix is known (the pandas image layout), or None (no check).
    The channels are compared first (a recipe dict without ``channels``, as
    older stores and models record, means none). ``particles`` is not
    compared: it changes no image, and a particle tagger checks the
    particles it needs itself (:func:`particle_view`). With ``allow_vary``
    (scoring), a source that differs only in its variation (``vary``,
    docs/recipe.md) passes, and the one-line note returned says so; else
    the variation is compared as every other option.

    Returns
    -------
    str or None
        The note on a variation that differs (with ``allow_vary``), else None.
    """
    if expected is None:
        return None
    channels = _channel_names(expected)
    if channels != source.channels:
        raise InputError(f"{source.path} has channels {channels_text(source.channels)} but "
                         f"{what} has {channels_text(channels)}: the channels must be the "
                         "same, in the same order")
    if int(expected.get("npix", source.npix)) != source.npix:
        raise InputError(f"{source.path} has {source.npix}x{source.npix} images but "
                         f"{what} expects {expected['npix']}x{expected['npix']}: rebuild it "
                         f"with npix={expected['npix']}")
    if source.recipe is None:
        return None  # the pandas image layout stores no recipe: npix is all we can check
    ignored = {"invalid", "channels", "particles"} | ({"vary"} if allow_vary else set())
    if set(expected) == {"npix"}:
        # no recipe to compare with (pandas image layout): every option the source records differs
        diff = sorted(set(source.recipe) - {"npix"} - ignored)
        if diff:
            shown = ", ".join(f"{k}={source.recipe.get(k)!r} (expected None)" for k in diff)
            raise InputError(f"{source.path} was made with another recipe than {what}: "
                             f"{shown}; rebuild it with the same recipe")
        return None
    # ``invalid`` does not change the images; the channels are checked above
    found = Recipe.from_attrs(source.recipe)
    want = Recipe.from_attrs(expected)
    diff = sorted(set(want.differences(found)) - ignored)
    if diff:
        shown = ", ".join(f"{k}={_option_text(getattr(found, k))} (expected "
                          f"{_option_text(getattr(want, k))})" for k in diff)
        raise InputError(f"{source.path} was made with another recipe than {what}: "
                         f"{shown}; rebuild it with the same recipe")
    if found.vary != want.vary:
        return (f"{source.path} is {_vary_text(found.vary)} and {what} is "
                f"{_vary_text(want.vary)}: scoring it measures the tagger under that "
                f"variation")
    return None


def _option_text(value):
    """A recipe option as messages show it: a variation as its name=value text."""
    return f"{str(value)!r}" if isinstance(value, Vary) else repr(value)


def _vary_text(vary):
    return "of the nominal jets" if vary is None else f"varied with vary {vary}"


def input_scale(source, sample_rows=20_000):
    """1 / RMS of the pixel values of a sample of valid images, per channel.

    The scaled images have a mean squared pixel of 1 (in each channel), the
    input scale the network's initialisation and ``GaussianNoise(0.1)``
    assume: sum-normalised pixels (~1e-2) and count channels (integers) alike
    end up of order 1. The sample is whole chunks spread evenly over the rows
    (about ``sample_rows`` rows).

    Parameters
    ----------
    source : str, Path or source
        Anything :func:`open_images` opens.
    sample_rows : int

    Returns
    -------
    float or list of float
        One factor for a source without channels; one per channel, in the
        channels' order, for a source with channels (1.0 for a channel that is
        zero in every sampled image).

    Raises
    ------
    InputError
        Every sampled image is all zero.
    """
    opened = not isinstance(source, ImageSource)
    source = open_images(source) if opened else source
    try:
        totals, count = _sum_squares(source, sample_rows)
    finally:
        if opened:
            source.close()
    if count == 0 or not totals.any():
        raise InputError(f"{source.path}: the sampled images are all zero; cannot scale them")
    if not source.channels:
        return float(1.0 / np.sqrt(totals.sum() / count))
    return [float(1.0 / np.sqrt(t / count)) if t > 0 else 1.0 for t in totals]


def _sum_squares(source, sample_rows):
    """(sum of squared pixels per channel (float64 (C,), (1,) without channels), pixels
    per channel) of valid images of evenly spread whole chunks."""
    n_chunks = -(-source.n_rows // source.chunk_rows)
    take = min(n_chunks, max(1, -(-int(sample_rows) // source.chunk_rows)))
    n_channels = len(source.channels) if source.channels else 1
    totals, count = np.zeros(n_channels), 0
    for c in np.unique(np.linspace(0, n_chunks - 1, take).round().astype(int)):
        start = int(c) * source.chunk_rows
        data = source.read(start, min(start + source.chunk_rows, source.n_rows))
        images = data["images"]
        if data["valid"] is not None:
            images = images[data["valid"] != 0]
        images = images.reshape(-1, n_channels)     # channel last: one column per channel
        totals += np.square(images, dtype=np.float64).sum(axis=0)
        count += len(images)
    return totals, count


def particle_view(source, n_particles=None, features=None, *, n_name="n_particles",
                  features_name="features"):
    """(P, indices of the features) to take from ``source``'s particles, checked.

    Parameters
    ----------
    source : source
        With particles (:attr:`ImageSource.particle_features`).
    n_particles : int, optional
        The leading particles to take (default every stored one); at most the
        source's P.
    features : sequence of str, optional
        Feature names, in the order wanted (default every stored one); each
        must be one of the source's ``particle_features``.
    n_name, features_name : str
        What the caller calls these options in messages (``--n-particles``
        and ``--features`` on the command line).

    Returns
    -------
    (int, tuple of int)

    Raises
    ------
    InputError
        One line naming the option and what the source holds.
    """
    check_fields(source, ("particles",))
    stored = source.particle_features
    if n_particles is None:
        n_particles = source.n_particles
    elif isinstance(n_particles, bool) or not isinstance(n_particles, int | np.integer) \
            or n_particles < 1:
        raise InputError(f"{n_name}={n_particles!r} must be an integer >= 1")
    elif n_particles > source.n_particles:
        raise InputError(f"{n_name}={n_particles} is more than the {source.n_particles} "
                         f"particles per jet {source.path} holds")
    names = tuple(stored) if features is None else tuple(features)
    if not names:
        raise InputError(f"{features_name}: give at least one feature")
    missing = [n for n in names if n not in stored]
    if missing:
        raise InputError(f"{features_name}: {missing[0]!r} is not a particle feature of "
                         f"{source.path}, which has {', '.join(stored)}")
    if len(set(names)) != len(names):
        raise InputError(f"{features_name}: {', '.join(names)} names a feature twice")
    return int(n_particles), tuple(stored.index(n) for n in names)


def select_particles(particles, view):
    """The particles (n, P, F) of a ``view`` (:func:`particle_view`): (n, P', F') float32."""
    n_particles, indices = view
    return np.ascontiguousarray(particles[:, :n_particles][:, :, list(indices)],
                                dtype=np.float32)


def particle_scaling(source, view, *, common=False, sample_rows=20_000):
    """Per-feature (offset, scale) that standardise a sample of real particles.

    offset = the mean, scale = 1 / the standard deviation of each feature of
    ``view`` over the real particles (rows not all zero: padding left out) of
    whole chunks spread evenly over the rows (about ``sample_rows`` jets;
    invalid jets left out). With ``common`` (four-vectors, whose Minkowski
    products must keep their meaning) offset 0 and one scale for every
    feature, 1 / the RMS of all of them.

    Returns
    -------
    (list of float, list of float)
        One offset and one scale per feature (a scale of 1 for a feature that
        does not vary).
    """
    n_chunks = -(-source.n_rows // source.chunk_rows)
    take = min(n_chunks, max(1, -(-int(sample_rows) // source.chunk_rows)))
    n_features = len(view[1])
    total, squares, count = np.zeros(n_features), np.zeros(n_features), 0
    for c in np.unique(np.linspace(0, n_chunks - 1, take).round().astype(int)):
        start = int(c) * source.chunk_rows
        data = source.read(start, min(start + source.chunk_rows, source.n_rows),
                           fields=("particles", "valid"))
        stored = data["particles"][:, :view[0]]
        if data["valid"] is not None:
            stored = stored[data["valid"] != 0]
        rows = select_particles(stored, view)[np.any(stored != 0, axis=2)].astype(np.float64)
        total += rows.sum(axis=0)
        squares += np.square(rows).sum(axis=0)
        count += len(rows)
    if count == 0:
        raise InputError(f"{source.path}: the sampled jets have no particles; cannot scale them")
    if common:
        rms = np.sqrt(squares.sum() / (count * n_features))
        return [0.0] * n_features, [float(1.0 / rms) if rms > 0 else 1.0] * n_features
    mean = total / count
    sd = np.sqrt(np.maximum(squares / count - mean ** 2, 0.0))
    return ([float(m) for m in mean],
            [float(1.0 / v) if v > 1e-12 * max(1.0, abs(m)) else 1.0 for v, m in zip(sd, mean)])
