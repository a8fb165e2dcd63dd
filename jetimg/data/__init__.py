"""Data shipped with jetimg: a small Pythia 8 sample in the top-tagging reference layout.

``sample_jets.h5``: 4,000 jets (2,000 top, 2,000 QCD, shuffled) from pp at
14 TeV, Pythia 8 (no multi-parton interactions, no pile-up) and FastJet
(anti-kT R = 0.8), 550 <= pT < 650 GeV, |eta| < 2, top jets matched to the
hadronic top and its three decay quarks (:mod:`jetimg.simulate`). Made by
``jetimg simulate`` itself (pythia8mc 8.317.2, fastjet 3.5.2)::

    jetimg simulate -o sample_jets.h5 -n 4000 --process top,qcd --seed 2026 \\
        --complib zlib --complevel 9

a pandas HDFStore (key "table", "fixed" layout, zlib): columns E_0, PX_0,
PY_0, PZ_0, ... E_199 ... PZ_199, truth_E, truth_PX, truth_PY, truth_PZ (the
top quark; zeros for QCD), ttv, is_signal_new. Reading it needs no Pythia.

>>> from jetimg.data import sample_path
>>> sample_path().name
'sample_jets.h5'
"""

import importlib.resources
import pathlib

__all__ = ["sample_path", "make_sample", "SAMPLE_SEED", "SAMPLE_SIZE", "SAMPLE_PROCESSES"]

SAMPLE_SEED = 2026
SAMPLE_SIZE = 4000
SAMPLE_PROCESSES = ("top", "qcd")


def sample_path():
    """Path of the shipped sample file (an HDF5 file in the reference layout).

    Returns
    -------
    pathlib.Path
    """
    return pathlib.Path(str(importlib.resources.files(__name__) / "sample_jets.h5"))


def make_sample(path, progress=None):
    """Write the sample again (how ``sample_jets.h5`` was made; needs ``jetimg[sim]``).

    Parameters
    ----------
    path : str or os.PathLike
        File to write; an existing file is replaced.
    progress : callable, optional
        ``progress(done, total)``, as :func:`jetimg.simulate.simulate`.

    Returns
    -------
    str or os.PathLike
        `path`. The same Pythia and FastJet versions give the same jets.
    """
    from jetimg.simulate import simulate

    return simulate(path, SAMPLE_SIZE, SAMPLE_PROCESSES, seed=SAMPLE_SEED, progress=progress,
                    complib="zlib", complevel=9, overwrite=True)
