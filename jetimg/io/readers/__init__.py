"""Input readers: one module per input layout family behind one :class:`JetSource`.

:func:`open_jets` (:mod:`~jetimg.io.readers.layouts`) recognises a file's
layout and returns its source; :func:`open_inputs`
(:mod:`~jetimg.io.readers.multi`) reads several files as one input. The
layouts: :mod:`~jetimg.io.readers.pandas_hdf` (the top-tagging pandas
frames), :mod:`~jetimg.io.readers.arrays` (plain (N, M, 4) arrays in HDF5,
Zarr or .npy, with :mod:`~jetimg.io.readers.pids` for PDG ids beside them),
:mod:`~jetimg.io.readers.root` (JetClass ROOT TTrees, padded by
:mod:`~jetimg.io.readers.jagged`), :mod:`~jetimg.io.readers.npz`
(EnergyFlow quark/gluon); :mod:`~jetimg.io.readers.hdf5` and
:mod:`~jetimg.io.readers.pickle_names` hold what the HDF5 layouts share.
:func:`describe_input` (:mod:`~jetimg.io.readers.describe`) says what an
input holds, for ``jetimg info``.
"""

from jetimg.io.readers.describe import describe_input
from jetimg.io.readers.layouts import LAYOUTS, open_jets
from jetimg.io.readers.multi import open_inputs
from jetimg.io.readers.sources import JetSource

__all__ = ["LAYOUTS", "JetSource", "open_jets", "open_inputs", "describe_input"]
