"""The arrays a jet image is made of: one table, used by the kernels, ``preprocess``
and the image stores alike (docs/recipe.md, "Per-jet quantities" and "Store").

Shapes: images (N, npix, npix) float32; every per-jet array (N,).

>>> {name: a.shape for name, a in empty_outputs(3, 5).items()}["images"]
(3, 5, 5)
>>> output_specs(3, 5)["n_constituents"]
((3,), dtype('int16'))
"""

import numpy as np

__all__ = ["IMAGE_DTYPE", "LABEL_DTYPE", "PER_JET_DTYPES", "output_specs", "empty_outputs"]

IMAGE_DTYPE = np.dtype(np.float32)
#: labels are class indices 0 ... K-1
LABEL_DTYPE = np.dtype(np.int8)

#: name -> dtype of every per-jet array stored beside the images, in store order.
PER_JET_DTYPES = {
    "jet_pt": np.dtype(np.float32), "jet_eta": np.dtype(np.float32),
    "jet_phi": np.dtype(np.float32), "jet_mass": np.dtype(np.float32),
    "n_constituents": np.dtype(np.int16), "valid": np.dtype(np.int8),
}


def output_specs(n_jets, npix):
    """name -> (shape, dtype) of the images and every per-jet array of ``n_jets`` jets."""
    return {"images": ((n_jets, npix, npix), IMAGE_DTYPE),
            **{name: ((n_jets,), dtype) for name, dtype in PER_JET_DTYPES.items()}}


def empty_outputs(n_jets, npix, empty=np.empty):
    """Uninitialised output arrays for ``n_jets`` jets (the kernels fill every entry).

    Parameters
    ----------
    n_jets, npix : int
    empty : callable, optional
        ``empty(shape, dtype)`` makes one array: host memory by default; the
        CUDA kernels pass an allocator of device arrays.

    Returns
    -------
    dict of str to array
        ``images`` and every name of :data:`PER_JET_DTYPES`.
    """
    specs = output_specs(n_jets, npix)
    return {name: empty(shape, dtype) for name, (shape, dtype) in specs.items()}
