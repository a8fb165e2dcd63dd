"""Framework-free streams of jets for training and scoring: sources and epoch plans.

Neither Keras nor PyTorch is imported here; :mod:`jetimg.train` (Keras
``PyDataset`` s) and :mod:`jetimg.torch` (PyTorch datasets) wrap the same
streams, so both frameworks see the same rows, chunks and shuffles.

* Sources (:mod:`~jetimg.streams.images`): :func:`open_images` opens an image
  store, the challenge's pandas image layout or a constituents file whose
  images the kernels make on the fly (:class:`JetImages`); each reads rows by
  windows, ``read(start, stop, fields=...)``: images, labels, valid and, where
  the store or recipe has them, particles. :func:`input_scale` samples a source's
  pixels for the network's input scaling.
* Epoch plans (:mod:`~jetimg.streams.batches`): rows grouped by stored chunk
  (:func:`chunk_groups`), consecutive shares for ranks and workers
  (:func:`share`, :func:`take_share`), rows permuted within buffers of chunks
  (:func:`epoch_buffers`), rows gathered from whole-chunk reads
  (:func:`gather_rows`); :class:`Batches` puts them together into batches by
  index, and :func:`pipeline_rate` times it.

>>> from jetimg.streams import share
>>> [share(10, part, 3) for part in range(3)]
[(0, 4), (4, 7), (7, 10)]
"""

from .batches import (Batches, chunk_groups, epoch_buffers, epoch_rng, gather_rows,
                      pipeline_rate, share, shuffle_buffers, take_share)
from .images import (FIELDS, IMAGE_FIELDS, JET_CHUNK_ROWS, ImageSource, JetImages, PandasImages, StoreImages,
                     channels_text, check_fields, check_recipe, input_scale, open_images,
                     particle_scaling, particle_view, select_particles)

__all__ = ["open_images", "ImageSource", "StoreImages", "PandasImages", "JetImages",
           "JET_CHUNK_ROWS", "FIELDS", "IMAGE_FIELDS", "check_fields", "input_scale",
           "particle_view", "select_particles", "particle_scaling", "check_recipe", "channels_text",
           "Batches", "pipeline_rate", "share", "chunk_groups", "epoch_rng", "take_share",
           "shuffle_buffers", "epoch_buffers", "gather_rows"]
