"""Input and output: sources of jet constituents (one module per input layout) and image stores.

Inputs: :func:`open_jets` (:mod:`jetimg.io.layouts`, which lists the
:data:`LAYOUTS` and the module of each) returns a :class:`JetSource`
(:mod:`jetimg.io.sources`); the layouts are read by
:mod:`jetimg.io.pandas_hdf` (the top-tagging reference pandas frames) and
:mod:`jetimg.io.arrays` (plain (N, M, 4) arrays in HDF5, Zarr or .npy).
Several files as one input: :func:`open_inputs` (:mod:`jetimg.io.multi`).
Outputs: :mod:`jetimg.io.stores` for the stores (Zarr v3 group or HDF5 file).
"""

from jetimg.io.layouts import LAYOUTS, open_jets
from jetimg.io.multi import open_inputs
from jetimg.io.sources import JetSource
from jetimg.io.stores import CODECS, Store, open_store

__all__ = ["LAYOUTS", "JetSource", "open_jets", "open_inputs", "CODECS", "Store", "open_store"]
