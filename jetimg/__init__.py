"""jetimg: high-throughput jet-image preprocessing for boosted-jet tagging.

The recipe (SPEC.md) as numba kernels: centre, rotate, flip, pixelate, crop
and normalise the constituents of each jet.

>>> import jetimg
>>> jetimg.Recipe().npix
40
"""

from ._version import __version__
from .core import preprocess
from .errors import InputError, InvalidJetError, JetimgError, RecipeError
from .recipe import Recipe

__all__ = ["__version__", "preprocess", "Recipe", "JetimgError", "InputError",
           "InvalidJetError", "RecipeError"]
