"""Jets in the JetClass layout: one ROOT file per class, as JetClass's files.

Each process gives one file with JetClass's name (:data:`JETCLASS_FILES`),
written through :func:`jetimg.io.writers.jetclass.write_jetclass`: every
constituent of the jet (no padding, no cap), sorted by decreasing pT, with
its charge and kind from Pythia's particle id
(:func:`jetimg.kinds.kinds_from_pdg`: photon, electron, muon, charged or
neutral hadron, as the part_is* flags), and all ten label_* branches, the
file's class true.
"""

import os

import numpy as np

from ..errors import InputError, JetimgError, OutputExistsError
from ..kinds import kinds_from_pdg
from .events import (JETCLASS_SETTINGS, check_options, generate, import_sim,
                     pythia_settings)
from .selection import RESONANCES, by_pt, leading_jet

__all__ = ["simulate_jetclass", "JETCLASS_FILES", "JETCLASS_WINDOW"]

#: process -> (JetClass's file name stem, its class: the label_* branch that is true)
JETCLASS_FILES = {"top": ("TTBar", "Tbqq"), "w": ("WToQQ", "Wqq"), "z": ("ZToQQ", "Zqq"),
                  "higgs": ("HToBB", "Hbb"), "qcd": ("ZJetsToNuNu", "QCD")}

#: JetClass's jet window: (R, pt_min, pt_max, eta_max)
JETCLASS_WINDOW = (0.8, 500.0, 1000.0, 2.0)


def jetclass_names(processes):
    """The file name of each process, ``<Name>_000.root``."""
    return [f"{JETCLASS_FILES[p][0]}_000.root" for p in processes]


def simulate_jetclass(output, n_jets, processes=tuple(JETCLASS_SETTINGS), pt_min=500.0,
                      pt_max=1000.0, eta_max=2.0, seed=0, progress=None, pthat_range=None,
                      overwrite=False):
    """Generate jets with Pythia 8 and FastJet into JetClass-layout ROOT files.

    Parameters
    ----------
    output : str or os.PathLike
        Folder for the files (made if missing): one ``<Name>_000.root`` per
        process (TTBar, WToQQ, ZToQQ, HToBB, ZJetsToNuNu), tree "tree".
    n_jets : int
        Jets per file (per process), >= 1.
    processes : sequence of str or str
        Names from :data:`PROCESSES`; "qcd" is Z(-> nu nu) + jet here.
    pt_min, pt_max, eta_max : float
        Jet window: pt_min <= pT < pt_max GeV, |eta| < eta_max; JetClass's
        500-1000 GeV and 2 by default.
    seed : int
        Seed (>= 0); a process's file is a pure function of (seed, process
        and the window).
    progress : callable, optional
        ``progress(done, total)`` over all files' jets.
    pthat_range : (float, float), optional
        Hard-process pT window (GeV); default (0.8 pt_min, 1.2 pt_max).
    overwrite : bool
        Replace existing files (each once its new one is complete); without
        it any existing file is refused before anything is generated.

    Returns
    -------
    list of pathlib.Path
        The files written, in the order of `processes`.

    Raises
    ------
    InputError, JetimgError
        A bad option; Pythia, FastJet or uproot missing; no jet in the window.
    OutputExistsError
        A file exists and `overwrite` is false.
    """
    import pathlib

    n_jets, processes, pt_min, pt_max, eta_max, seed, pthat_range = check_options(
        n_jets, processes, pt_min, pt_max, eta_max, seed, pthat_range, per_process=True)
    folder = pathlib.Path(output)
    if folder.exists() and not folder.is_dir():
        raise JetimgError(f"output {folder} is a file: layout 'jetclass' writes a folder")
    paths = [folder / name for name in jetclass_names(processes)]
    existing = [p.name for p in paths if os.path.lexists(p)]
    if existing and not overwrite:
        raise OutputExistsError(f"output {folder} already holds {', '.join(existing)}; "
                                "use overwrite=True to replace them")
    pythia8, fastjet = import_sim()
    from ..io.readers.root import CLASSES, import_root
    from ..io.writers.jetclass import write_jetclass

    import_root()
    folder.mkdir(parents=True, exist_ok=True)
    total = n_jets * len(processes)
    if progress:
        progress(0, total)
    for k, (process, path) in enumerate(zip(processes, paths)):
        settings = pythia_settings(process, pt_min, pt_max, seed, pthat_range, "jetclass")
        jets, kinds, charges = [], [], []
        for p4s, pids, charge in _process_jets(pythia8, fastjet, process, settings, n_jets,
                                               pt_min, pt_max, eta_max):
            jets.append(p4s)
            kinds.append(kinds_from_pdg(pids))
            charges.append(charge)
            if progress:
                progress(k * n_jets + len(jets), total)
        label = CLASSES.index(JETCLASS_FILES[process][1])
        partial = path.with_name(f".{path.name}.partial")
        try:
            write_jetclass(partial, jets, np.full(n_jets, label), kinds=kinds, charges=charges)
            os.replace(partial, path)
        finally:
            if partial.exists():
                partial.unlink()
    return paths


def _process_jets(pythia8, fastjet, process, settings, count, pt_min, pt_max, eta_max):
    """Yield `count` (p4s (K, 4) float32, pids (K,) int32, charges (K,) float32) sorted by pT."""
    if process not in RESONANCES:
        raise InputError(f"unknown process {process!r}")
    pdg = RESONANCES[process]

    def select(pythia, particles, sequence):
        found = leading_jet(pythia.event, sequence, pdg, pt_min, pt_max, eta_max, fastjet)
        if found is None:
            return None
        rows = particles[[c.user_index() for c in found[0].constituents()]]
        p4s, order = by_pt(rows[:, :4])
        return (p4s[order], rows[order, 4].astype(np.int32),
                rows[order, 5].astype(np.float32))

    window = f"{pt_min:g} <= pT < {pt_max:g} GeV and |eta| < {eta_max:g}"
    return generate(pythia8, fastjet, process, settings, count, JETCLASS_WINDOW[0], select,
                    window)
