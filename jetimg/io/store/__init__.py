"""Image stores: open, write and describe what ``jetimg build`` writes.

:mod:`~jetimg.io.store.stores` opens, creates and describes Zarr and HDF5
stores; :mod:`~jetimg.io.store.checkpoints` keeps the record of finished
chunks, :mod:`~jetimg.io.store.rows` says which rows a store's chunks hold and
:mod:`~jetimg.io.store.completeness` whether a store is whole;
:mod:`~jetimg.io.store.pandas_images` writes the challenge's pandas image layout.
"""

from jetimg.io.store.stores import CODECS, Store, open_store

__all__ = ["CODECS", "Store", "open_store"]
