"""PyTorch datasets of jet images (extra ``torch``): image stores, or images made on the fly.

Items are ``(image, label)``: image a (C, npix, npix) float32 tensor, channel
first (C = 1 for one image per jet; a store's (npix, npix, C) images are
transposed), label a 0-d int64 tensor holding the class index (the store's
``label_names`` name them). A DataLoader stacks them into (B, C, npix, npix)
and (B,).

* :class:`StoreDataset` (map-style) with :class:`ChunkSampler` (its batch
  sampler): the valid jets of a Zarr or HDF5 store or the pandas image
  layout, by index, read by whole chunks into a small cache per worker.
* :class:`StoreIterableDataset`: the same jets streamed.
* :class:`JetIterableDataset`: images made from constituents (one file, several,
  a glob) by the kernels, chunk by chunk, with a recipe; no store needed.

All of them share one plan per epoch (:mod:`jetimg.streams.batches`, which the
Keras datasets use too): the chunks in a random order over the whole file,
fixed by ``seed`` and the epoch (``set_epoch(n)``); one consecutive share of
the rows per rank (``rank``, ``world_size``, for distributed data parallel
training) and, within it, per DataLoader worker; rows permuted within
buffers of whole chunks. Every jet is given once per epoch by exactly one
worker of one rank; shares differ by at most one jet (the first
``n % world_size`` ranks take the remainder, one jet each). Jets with
``valid == 0`` are left out.

Particles (stores built with ``--particles P``, or made on the fly with a
recipe whose ``particles`` is set) come as dicts of channel-first tensors,
``points`` (2, P), ``features`` (F, P), ``vectors`` (4, P), ``mask`` (1, P)
and ``label``: :class:`StoreParticleDataset` (map-style, with
:class:`ChunkSampler`), :class:`StoreParticleIterableDataset` and
:class:`JetParticleIterableDataset` (:mod:`jetimg.torch.particles`), with the
same epoch plan.

Only this package imports PyTorch; without it the classes still import, and
making one names the extra to install. docs/torch.md has a training loop.
"""

from .iterable import JetIterableDataset, StoreIterableDataset
from .mapstyle import ChunkSampler, StoreDataset
from .particles import (JetParticleIterableDataset, StoreParticleDataset,
                        StoreParticleIterableDataset)

__all__ = ["StoreDataset", "ChunkSampler", "StoreIterableDataset", "JetIterableDataset",
           "StoreParticleDataset", "StoreParticleIterableDataset", "JetParticleIterableDataset"]
