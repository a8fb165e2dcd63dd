"""jetimg: high-throughput jet-image preprocessing for boosted-jet tagging.

The recipe (docs/recipe.md) as numba kernels: centre, rotate, flip, pixelate, crop
and normalise the constituents of each jet; a Dask pipeline from top-tagging
files to Zarr/HDF5 image stores.

>>> import jetimg
>>> jetimg.Recipe().npix
40

Heavy parts (numba, Dask, h5py) load on first use, so ``import jetimg`` and
``jetimg --version`` stay fast.
"""

import importlib

from ._version import __version__
from .errors import (DeviceError, InputError, InvalidJetError, JetimgError, OutputExistsError,
                     RecipeError)
from .recipe import Recipe

_LAZY = {
    "preprocess": "jetimg.core",
    "build": "jetimg.pipeline",
    "BuildResult": "jetimg.pipeline",
    "split": "jetimg.io.split",
    "SplitResult": "jetimg.io.split",
    "BuildSettings": "jetimg.pipeline",
    "open_jets": "jetimg.io",
    "open_store": "jetimg.io.store.stores",
    "toys": "jetimg.toys",
    "verify": "jetimg.integrity",
    "VerifyReport": "jetimg.integrity",
    "train": "jetimg.train",
    "metrics": "jetimg.metrics",
    "plots": "jetimg.plots",
}

__all__ = ["__version__", "Recipe", "JetimgError", "InputError", "InvalidJetError", "DeviceError",
           "OutputExistsError", "RecipeError", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        value = module if module.__name__ == f"jetimg.{name}" else getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'jetimg' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
