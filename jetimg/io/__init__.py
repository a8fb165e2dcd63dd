"""Input and output, in three rooms by role.

* :mod:`jetimg.io.readers`: sources of jet constituents, one module per input
  layout behind one :class:`JetSource`; :func:`open_jets` opens one file,
  :func:`open_inputs` several as one input.
* :mod:`jetimg.io.store`: the image stores (Zarr v3 group or HDF5 file) that
  builds write and everything downstream reads (:func:`open_store`).
* :mod:`jetimg.io.writers`: the input layouts written (top-tagging pandas,
  JetClass ROOT, quark/gluon ``.npz``), for ``simulate``, toys and tests.
"""

from jetimg.io.readers.layouts import LAYOUTS, open_jets
from jetimg.io.readers.multi import open_inputs
from jetimg.io.readers.sources import JetSource
from jetimg.io.store.stores import CODECS, Store, open_store

__all__ = ["LAYOUTS", "JetSource", "open_jets", "open_inputs", "CODECS", "Store", "open_store"]
