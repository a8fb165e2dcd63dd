"""The arrays a jet image is made of: one table, used by the kernels, ``preprocess``
and the image stores alike (docs/recipe.md, "Per-jet quantities" and "Store").

Shapes: images (N, npix, npix) float32, or (N, npix, npix, C) with C channels
(channel last); every per-jet array (N,); with particles (docs/recipe.md,
step 7) ``particles`` (N, P, F) float32.

>>> {name: a.shape for name, a in empty_outputs(3, 5).items()}["images"]
(3, 5, 5)
>>> output_specs(3, 5)["n_constituents"]
((3,), dtype('int16'))
>>> output_specs(3, 5, n_particles=30, n_features=11)["particles"]
((3, 30, 11), dtype('float32'))
"""

import numpy as np

__all__ = ["IMAGE_DTYPE", "LABEL_DTYPE", "PARTICLE_DTYPE", "PER_JET_DTYPES", "image_shape", "output_specs",
           "empty_outputs"]

IMAGE_DTYPE = np.dtype(np.float32)
#: labels are class indices 0 ... K-1
LABEL_DTYPE = np.dtype(np.int8)
#: the particles' features (docs/recipe.md, step 7)
PARTICLE_DTYPE = np.dtype(np.float32)

#: name -> dtype of every per-jet array stored beside the images, in store order.
PER_JET_DTYPES = {
    "jet_pt": np.dtype(np.float32), "jet_eta": np.dtype(np.float32),
    "jet_phi": np.dtype(np.float32), "jet_mass": np.dtype(np.float32),
    "n_constituents": np.dtype(np.int16), "valid": np.dtype(np.int8),
}


def image_shape(n_jets, npix, n_channels=None):
    """(N, npix, npix), or (N, npix, npix, C) for ``n_channels`` C.

    >>> image_shape(2, 5), image_shape(2, 5, 3)
    ((2, 5, 5), (2, 5, 5, 3))
    """
    return (n_jets, npix, npix) + (() if n_channels is None else (n_channels,))


def output_specs(n_jets, npix, n_channels=None, *, n_particles=None, n_features=None):
    """name -> (shape, dtype) of the images and every per-jet array of ``n_jets``
    jets (images of ``n_channels`` channels when given), and ``particles``
    (N, P, F) for ``n_particles`` P and ``n_features`` F when P is given."""
    specs = {"images": (image_shape(n_jets, npix, n_channels), IMAGE_DTYPE),
             **{name: ((n_jets,), dtype) for name, dtype in PER_JET_DTYPES.items()}}
    if n_particles is not None:
        specs["particles"] = ((n_jets, n_particles, n_features), PARTICLE_DTYPE)
    return specs


def empty_outputs(n_jets, npix, empty=np.empty, n_channels=None, *, n_particles=None,
                  n_features=None):
    """Uninitialised output arrays for ``n_jets`` jets (the kernels fill every entry).

    Parameters
    ----------
    n_jets, npix : int
    empty : callable, optional
        ``empty(shape, dtype)`` makes one array: host memory by default; the
        CUDA kernels pass an allocator of device arrays.
    n_channels : int, optional
        Images of this many channels, (N, npix, npix, C); default one image
        per jet, (N, npix, npix).
    n_particles, n_features : int, optional
        With ``n_particles`` P: also ``particles`` (N, P, F) for F ``n_features``.

    Returns
    -------
    dict of str to array
        ``images``, every name of :data:`PER_JET_DTYPES`, and ``particles``
        when ``n_particles`` is given.
    """
    specs = output_specs(n_jets, npix, n_channels, n_particles=n_particles,
                         n_features=n_features)
    return {name: empty(shape, dtype) for name, (shape, dtype) in specs.items()}
