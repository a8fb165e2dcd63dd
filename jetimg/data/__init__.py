"""Data shipped with jetimg: a small sample in the top-tagging reference layout.

``sample_jets.h5``: 4,000 toy jets (2,000 top-like, 2,000 QCD-like, shuffled)
made by :func:`jetimg.toys.toy_jets` (seed 2026) and written by
:func:`jetimg.toys.write_toptag` as a pandas HDFStore (key "table", "fixed"
layout, zlib): columns E_0, PX_0, PY_0, PZ_0, ... E_199 ... PZ_199, truth_E,
truth_PX, truth_PY, truth_PZ, ttv, is_signal_new. The toy jets are
physics-flavoured (three-prong top-like jets with masses near 175 GeV, one- or
two-prong QCD-like jets), not a parton-shower simulation.

>>> from jetimg.data import sample_path
>>> sample_path().name
'sample_jets.h5'
"""

import importlib.resources
import pathlib

__all__ = ["sample_path", "SAMPLE_SEED", "SAMPLE_SIZE"]

SAMPLE_SEED = 2026
SAMPLE_SIZE = 4000


def sample_path():
    """Path of the shipped sample file (an HDF5 file in the reference layout)."""
    return pathlib.Path(str(importlib.resources.files(__name__) / "sample_jets.h5"))


def make_sample(path):
    """Write the sample again (how ``sample_jets.h5`` was made)."""
    from jetimg.toys import toy_jets, write_toptag

    jets, labels = toy_jets(SAMPLE_SIZE, seed=SAMPLE_SEED)
    return write_toptag(path, jets, labels, format="fixed", complib="zlib", complevel=9)
