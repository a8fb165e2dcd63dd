"""Data shipped with jetimg: small Pythia 8 samples in the top-tagging and JetClass layouts.

``sample_jets.h5`` (``sample_path()``, ``sample_path("toptag")``): 4,000 jets
(2,000 top, 2,000 QCD, shuffled) from pp at 14 TeV, Pythia 8 (no
multi-parton interactions, no pile-up) and FastJet (anti-kT R = 0.8),
550 <= pT < 650 GeV, |eta| < 2, top jets matched to the hadronic top and its
three decay quarks (:mod:`jetimg.simulate`). Made by ``jetimg simulate``
itself (pythia8mc 8.317.2, fastjet 3.5.2)::

    jetimg simulate -o sample_jets.h5 -n 4000 --process top,qcd --seed 2026 \\
        --complib zlib --complevel 9

a pandas HDFStore (key "table", "fixed" layout, zlib): columns E_0, PX_0,
PY_0, PZ_0, ... E_199 ... PZ_199, truth_E, truth_PX, truth_PY, truth_PZ (the
top quark; zeros for QCD), ttv, is_signal_new. Reading it needs no Pythia.

``sample_jetclass/`` (``sample_path("jetclass")``, ``sample_files("jetclass")``):
3,000 jets in JetClass's layout, 600 per class in five ROOT files
(TTBar_000.root: Tbqq, WToQQ_000.root: Wqq, ZToQQ_000.root: Zqq,
HToBB_000.root: Hbb, ZJetsToNuNu_000.root: QCD), tree "tree", from pp at
13 TeV, Pythia 8 with multi-parton interactions (no pile-up, no detector)
and FastJet (anti-kT R = 0.8), 500 <= pT < 1000 GeV, |eta| < 2, the leading
jet of each event, signal jets matched to the resonance and its decay
quarks; every constituent with its charge and part_is* kind, all ten
label_* branches. Made by ``jetimg simulate`` itself (pythia8mc 8.317.2,
fastjet 3.5.2, uproot 5.7.7, awkward 2.14.0)::

    jetimg simulate --layout jetclass -o sample_jetclass -n 600 \\
        --process top,w,z,higgs,qcd --seed 2026

Reading it needs the ``root`` extra (uproot, awkward), not Pythia.

>>> from jetimg.data import sample_path, sample_files
>>> sample_path().name
'sample_jets.h5'
>>> [p.rsplit("/", 1)[-1] for p in sample_files("jetclass")][:2]
['HToBB_000.root', 'TTBar_000.root']
"""

import importlib.resources
import pathlib

__all__ = ["sample_path", "sample_files", "make_sample", "SAMPLES", "SAMPLE_SEED",
           "SAMPLE_SIZE", "SAMPLE_PROCESSES", "JETCLASS_SAMPLE_SIZE"]

SAMPLE_SEED = 2026
SAMPLE_SIZE = 4000
SAMPLE_PROCESSES = ("top", "qcd")
#: jets per class (per file) of the JetClass-layout sample
JETCLASS_SAMPLE_SIZE = 600

#: the shipped samples: name -> file or folder under jetimg/data
SAMPLES = {"toptag": "sample_jets.h5", "jetclass": "sample_jetclass"}


def _name(name):
    from jetimg.errors import InputError

    if name not in SAMPLES:
        raise InputError(f"no sample {name!r}: choose from {', '.join(SAMPLES)}")
    return name


def sample_path(name="toptag"):
    """Path of a shipped sample: the HDF5 file ("toptag") or the folder of ROOT files ("jetclass").

    Parameters
    ----------
    name : str
        "toptag" (the top-tagging reference layout) or "jetclass".

    Returns
    -------
    pathlib.Path
    """
    return pathlib.Path(str(importlib.resources.files(__name__) / SAMPLES[_name(name)]))


def sample_files(name="toptag"):
    """The files of a shipped sample, sorted by path, as ``jetimg.build`` takes them.

    Parameters
    ----------
    name : str
        "toptag" or "jetclass".

    Returns
    -------
    list of str
        One file ("toptag") or the five ROOT files ("jetclass").
    """
    path = sample_path(name)
    if path.is_dir():
        return sorted(str(p) for p in path.glob("*.root"))
    return [str(path)]


def make_sample(path, progress=None, name="toptag"):
    """Write a sample again (how it was made; needs ``jetimg[sim]``).

    Parameters
    ----------
    path : str or os.PathLike
        File ("toptag") or folder ("jetclass") to write; existing files are
        replaced.
    progress : callable, optional
        ``progress(done, total)``, as :func:`jetimg.simulate.simulate`.
    name : str
        "toptag" or "jetclass".

    Returns
    -------
    str or os.PathLike or list of pathlib.Path
        As :func:`jetimg.simulate.simulate`. The same Pythia and FastJet
        versions give the same jets.
    """
    from jetimg.simulate import PROCESSES, simulate

    if _name(name) == "jetclass":
        return simulate(path, JETCLASS_SAMPLE_SIZE, PROCESSES, seed=SAMPLE_SEED,
                        progress=progress, overwrite=True, layout="jetclass")
    return simulate(path, SAMPLE_SIZE, SAMPLE_PROCESSES, seed=SAMPLE_SEED, progress=progress,
                    complib="zlib", complevel=9, overwrite=True)
