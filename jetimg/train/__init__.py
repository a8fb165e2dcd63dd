"""A thin Keras 3 CNN trainer that streams jet images from a store (extra ``train``).

Shapes: images (N, npix, npix) float32 as the store holds them, or
(N, npix, npix, C) for a store with channels (channel last, named by the
store's recipe); labels (N,) int8 class indices named by the store's
``label_names`` (K classes; without label_names two, 1 for signal (top) and 0
for background (QCD)); scores (N,) float32, the network's signal
probability, for K = 2, and (N, K) softmax scores for K > 2.

* Inputs (:mod:`~jetimg.streams.images`). :func:`open_images` opens an image
  store (Zarr or HDF5, as ``jetimg build`` writes it), the challenge's pandas
  image layout (``--layout pandas-images``), or a constituents file, whose
  images are made on the fly by the kernels with a given recipe.
* Batches (:mod:`~jetimg.streams.batches`, :mod:`~jetimg.train.datasets`).
  :class:`StoreDataset` and :class:`JetDataset` are ``keras.utils.PyDataset`` s
  over them: they read whole chunks of the store (1,000 rows), shuffle the
  chunk order and the rows within a buffer of chunks every epoch, and hold a
  few chunks, never the store. The reading and shuffling is framework-free;
  only the wrappers are Keras'.
* Invalid jets (``valid == 0``: all-zero images) are left out of training and
  validation; :func:`predict` keeps every row, in the store's order.
* Input scaling. Sum-normalised images have pixels near 1e-2 and count
  channels hold integers; the network expects inputs of order 1. :func:`train`
  (:mod:`~jetimg.train.fit`) streams a sample of the training images and sets
  ``input_scale = 1 / RMS(pixel)``, one factor per channel; the model's first
  layer (:mod:`~jetimg.train.models`) is ``Rescaling(input_scale)``, so the
  saved model takes the store's images as they are and applies the same
  scaling to any store.
* Channels. The model takes (npix, npix, C) images for a store with channels
  ((npix, npix) without); training and validation images must have the same
  channels, and :func:`predict` and :func:`evaluate` refuse a store whose
  channels differ from the training store's.
* The model file (:mod:`~jetimg.train.modelfile`, ``.keras``) is
  self-contained: ``keras.saving.load_model`` gives the network, scaling
  included; jetimg's metadata (architecture, npix, channels, input scale, the
  training store's recipe, the training figures) is one more entry of the zip,
  ``jetimg.json`` (:func:`read_metadata`), which Keras ignores.
* Particle taggers (``arch`` "dnn", "pfn", "lola":
  :func:`build_particle_model`) read the ``particles`` (N, P, F) of a store
  built with ``particles=P`` (or made on the fly with a recipe with
  ``particles``) instead of the images; their first layer standardises each
  chosen feature (padding kept at zero), and the metadata records
  ``kind: "particle"``, the features and ``n_particles``.
* Scores and metrics (:mod:`~jetimg.train.scoring`): :func:`predict` and
  :func:`evaluate`, for image and particle models alike.
* Keras and its backend are imported only inside functions. Without
  ``KERAS_BACKEND`` and with a configured backend that is not installed (Keras'
  own default is TensorFlow), jetimg selects JAX.

>>> from jetimg.train import ARCHS, METADATA_NAME
>>> ARCHS, METADATA_NAME
(('challenge', 'deeptop'), 'jetimg.json')
"""

from ..streams.batches import pipeline_rate
from .datasets import _CLASS_NAMES, _dataset_classes
from .fit import TrainResult, train
from ..streams.images import JET_CHUNK_ROWS, input_scale, open_images
from .modelfile import METADATA_NAME, TrainedModel, load_model, read_metadata
from .models import ALL_ARCHS, ARCHS, PARTICLE_ARCHS, build_model, build_particle_model
from .progress import ProgressBar, ProgressLines, TrainStatus
from .scoring import PAPER_CNN, Evaluation, evaluate, predict

__all__ = ["ARCHS", "PARTICLE_ARCHS", "ALL_ARCHS", "build_particle_model", "METADATA_NAME", "PAPER_CNN", "open_images", "StoreDataset", "JetDataset",
           "input_scale", "build_model", "train", "TrainResult", "load_model",
           "read_metadata", "predict", "evaluate", "Evaluation", "pipeline_rate",
           "ProgressBar", "ProgressLines", "TrainStatus"]


def __getattr__(name):
    """StoreDataset and JetDataset on first access (they import Keras)."""
    if name in _CLASS_NAMES:
        return _dataset_classes()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
