"""Input and output: readers of constituents (one per input layout) and image stores.

See :mod:`jetimg.io.readers` for the layouts :func:`open_jets` understands and
:mod:`jetimg.io.stores` for the stores (Zarr v3 group or HDF5 file).
"""

from jetimg.io.readers import LAYOUTS, JetSource, open_jets
from jetimg.io.stores import CODECS, Store, open_store

__all__ = ["LAYOUTS", "JetSource", "open_jets", "CODECS", "Store", "open_store"]
