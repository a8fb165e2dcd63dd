"""The Keras datasets: ``keras.utils.PyDataset`` wrappers of the batch iterator.

:class:`StoreDataset` (image stores, pandas image layout) and
:class:`JetDataset` (images made on the fly from constituents) are made on
first use, so that importing this module does not import Keras.
"""

from ..errors import InputError
from ..streams.batches import Batches
from ..streams.images import ImageSource, JetImages, open_images
from .models import _keras

_CLASS_NAMES = ("StoreDataset", "JetDataset")
_CLASSES = {}


def _dataset_classes():
    """StoreDataset and JetDataset, made on first use (they subclass keras.utils.PyDataset)."""
    if _CLASSES:
        return _CLASSES
    keras = _keras()

    class StoreDataset(Batches, keras.utils.PyDataset):
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
            Yield (images, labels) (labels int32 class indices: 1 = signal for two
            classes, the store's label_names order for more); False: (images,).
        workers, use_multiprocessing, max_queue_size
            ``keras.utils.PyDataset``'s: ``workers > 1`` reads ahead in threads.
        allow_incomplete : bool
            Accept a store of an interrupted build (refused by default); its
            unwritten rows read as invalid jets.
        inputs : {"images", "particles"}
            What the batches hold: images, or the store's particles (n, P, F)
            (a store built with ``--particles``; the images are not read).
        view : (int, tuple of int), optional
            With particles: the leading particles and the features to take
            (:func:`jetimg.streams.particle_view`); default all.

        Attributes
        ----------
        npix, channels (names, or None), image_shape ((npix, npix) or
        (npix, npix, C): batches are (n,) + image_shape), n_jets (rows used
        per epoch), n_invalid (left out), source, reads (chunks read so far).
        """

        def __init__(self, store, batch_size=128, *, shuffle=True, seed=None,
                     buffer_size=10_000, drop_invalid=True, labels=True, workers=1,
                     use_multiprocessing=False, max_queue_size=10, allow_incomplete=False,
                     inputs="images", view=None):
            source = store if isinstance(store, ImageSource) else open_images(
                store, allow_incomplete=allow_incomplete)
            if isinstance(source, JetImages):
                raise InputError(f"{store} is not an image store (no 'images' array, not "
                                 "the pandas image layout); for constituents use JetDataset")
            keras.utils.PyDataset.__init__(self, workers=workers,
                                           use_multiprocessing=use_multiprocessing,
                                           max_queue_size=max_queue_size)
            self.setup_plan(source, batch_size, shuffle, seed, buffer_size, drop_invalid,
                            labels, weights=False, inputs=inputs, view=view)

    class JetDataset(Batches, keras.utils.PyDataset):
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
            Default ``Recipe()``; ``invalid`` is always "skip". With
            ``channels``, images are (npix, npix, C) and the file's particle
            kinds are read beside the jets (a channel that selects a kind
            needs a file with kinds).
        batch_size, shuffle, seed, buffer_size, labels, workers, ...
            As :class:`StoreDataset`.
        key, labels_key : str, optional
            As :func:`jetimg.open_jets`.
        inputs, view
            As :class:`StoreDataset`: ``inputs="particles"`` needs a recipe
            with ``particles`` (the kernels make images and particles in one
            pass either way).
        vary : str or VaryRanges, optional
            A variation drawn afresh for every jet and epoch before the recipe
            (hardened training, docs/systematics.md), e.g. ``"scale=0.9:1.1"``;
            its draws come from its own seed, else ``seed``, else 0.
        """

        def __init__(self, path, recipe=None, batch_size=128, *, shuffle=True, seed=None,
                     buffer_size=10_000, labels=True, key=None, labels_key=None, workers=1,
                     use_multiprocessing=False, max_queue_size=10, inputs="images", view=None,
                     vary=None):
            source = path if isinstance(path, JetImages) else JetImages(
                path, recipe, key=key, labels_key=labels_key, vary=vary, vary_seed=seed)
            keras.utils.PyDataset.__init__(self, workers=workers,
                                           use_multiprocessing=use_multiprocessing,
                                           max_queue_size=max_queue_size)
            self.setup_plan(source, batch_size, shuffle, seed, buffer_size, True, labels,
                            weights=True, inputs=inputs, view=view)

    _CLASSES.update(StoreDataset=StoreDataset, JetDataset=JetDataset)
    return _CLASSES


def __getattr__(name):
    """StoreDataset and JetDataset on first access (they import Keras)."""
    if name in _CLASS_NAMES:
        return _dataset_classes()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _dataset(path, recipe, batch_size, shuffle, seed, buffer_size, workers, inputs="images",
             view=None):
    """A StoreDataset or JetDataset for ``path`` (already opened sources are accepted)."""
    classes = _dataset_classes()
    source = path if isinstance(path, ImageSource) else open_images(path, recipe)
    cls = classes["JetDataset"] if isinstance(source, JetImages) else classes["StoreDataset"]
    return cls(source, batch_size=batch_size, shuffle=shuffle, seed=seed,
               buffer_size=buffer_size, workers=workers, inputs=inputs, view=view)

