"""Jets in the top-tagging reference layout: (N, 200, 4) arrays, one pandas HDF5 file.

Shapes used here: jets are (N, M, 4) with M = 200 slots of (E, px, py, pz) in
GeV, the leading constituents by pT, zero-padded; labels are (N,); truth is
(N, 4), the (E, px, py, pz) of the matched resonance in GeV (zeros for QCD).
"""

import os

import numpy as np

from ..errors import InputError, JetimgError, OutputExistsError
from .events import check_options, generate, import_sim, pythia_settings
from .selection import RESONANCES, by_pt, leading_jet

__all__ = ["simulate_jets", "simulate_toptag", "N_SLOTS", "R_JET"]

N_SLOTS = 200
R_JET = 0.8


def simulate_jets(n_jets, processes=("top", "qcd"), pt_min=550.0, pt_max=650.0, eta_max=2.0,
                  seed=0, progress=None, pthat_range=None, return_process=False):
    """Generate jets with Pythia 8 and FastJet, processes in equal numbers, shuffled.

    Parameters
    ----------
    n_jets : int
        Total number of jets N (>= number of processes). Each process gives
        N // P of them, the first N % P processes (in the order given) one
        more.
    processes : sequence of str or str
        Names from :data:`PROCESSES` ("top", "w", "z", "higgs", "qcd"), or
        one comma-separated string.
    pt_min, pt_max : float
        Jet pT window in GeV: ``pt_min <= pT < pt_max``.
    eta_max : float
        Jets have ``|eta| < eta_max`` (pseudorapidity).
    seed : int
        Seed (>= 0). Each process runs Pythia with its own seed
        (:func:`pythia_seed`); the shuffle uses ``np.random.default_rng(seed)``.
        The output is a pure function of all arguments.
    progress : callable, optional
        ``progress(done, total)``: jets made so far and N, called as jets come.
    pthat_range : (float, float), optional
        Hard-process pT window (GeV); default (0.8 pt_min, 1.2 pt_max).
    return_process : bool
        Also return each jet's process, as an index into `processes`.

    Returns
    -------
    jets : ndarray, shape (N, 200, 4), float32
        (E, px, py, pz) in GeV of the 200 leading constituents by pT
        (descending, from the float32 values), zero-padded.
    labels : ndarray, shape (N,), int8
        1 for a signal jet (top, w, z, higgs), 0 for QCD.
    truth : ndarray, shape (N, 4), float32
        (E, px, py, pz) in GeV of the matched resonance; zeros for QCD.
    process : ndarray, shape (N,), int8
        Only with `return_process`.

    Raises
    ------
    InputError
        A bad option (unknown process, pt_min >= pt_max, n_jets < 1, ...).
    JetimgError
        Pythia or FastJet is missing (``pip install 'jetimg[sim]'``), Pythia
        fails to start, or no jet falls in the window.
    """
    n_jets, processes, pt_min, pt_max, eta_max, seed, pthat_range = check_options(
        n_jets, processes, pt_min, pt_max, eta_max, seed, pthat_range)
    pythia8, fastjet = import_sim()
    counts = [n_jets // len(processes) + (i < n_jets % len(processes))
              for i in range(len(processes))]
    jets = np.zeros((n_jets, N_SLOTS, 4), dtype=np.float32)
    truth = np.zeros((n_jets, 4), dtype=np.float32)
    labels = np.zeros(n_jets, dtype=np.int8)
    which = np.zeros(n_jets, dtype=np.int8)
    done = 0
    if progress:
        progress(0, n_jets)
    for index, (process, count) in enumerate(zip(processes, counts)):
        settings = pythia_settings(process, pt_min, pt_max, seed, pthat_range)
        for p4s, p4_truth in _process_jets(pythia8, fastjet, process, settings, count,
                                           pt_min, pt_max, eta_max):
            jets[done, :len(p4s)] = p4s
            truth[done] = p4_truth
            labels[done] = RESONANCES[process] != 0
            which[done] = index
            done += 1
            if progress:
                progress(done, n_jets)
    order = np.random.default_rng(seed).permutation(n_jets)
    out = jets[order], labels[order], truth[order]
    return out + (which[order],) if return_process else out


def _process_jets(pythia8, fastjet, process, settings, count, pt_min, pt_max, eta_max):
    """Yield `count` (p4s (K, 4) float32 sorted by pT, truth (4,)) of one process."""
    pdg = RESONANCES[process]

    def select(pythia, particles, sequence):
        found = leading_jet(pythia.event, sequence, pdg, pt_min, pt_max, eta_max, fastjet)
        if found is None:
            return None
        jet, p4_truth = found
        rows = [c.user_index() for c in jet.constituents()]
        p4s, order = by_pt(particles[rows, :4])
        return p4s[order[:N_SLOTS]], p4_truth

    window = f"{pt_min:g} <= pT < {pt_max:g} GeV and |eta| < {eta_max:g}"
    return generate(pythia8, fastjet, process, settings, count, R_JET, select, window)


def simulate_toptag(output, n_jets, processes=("top", "qcd"), pt_min=550.0, pt_max=650.0,
                    eta_max=2.0, seed=0, progress=None, pthat_range=None, complib=None,
                    complevel=5, overwrite=False):
    """Generate jets (:func:`simulate_jets`) and write them in the reference layout.

    The file is a pandas HDFStore (key "table", "fixed" layout) with columns
    E_0, PX_0, PY_0, PZ_0, ..., PZ_199 (float32), truth_E, truth_PX,
    truth_PY, truth_PZ (the matched resonance, zeros for QCD), ttv (0) and
    is_signal_new (1 signal, 0 QCD), written to a temporary name and renamed
    when complete (:func:`jetimg.io.writers.toptag.write_toptag`).

    Parameters
    ----------
    output : str or os.PathLike
        HDF5 file to write.
    n_jets, processes, pt_min, pt_max, eta_max, seed, progress, pthat_range
        As :func:`simulate_jets`.
    complib : str, optional
        PyTables compression ("zlib", "blosc", ...); None: uncompressed.
    complevel : int
        Compression level 0-9, with `complib`.
    overwrite : bool
        Replace an existing `output` (once the new file is complete); without
        it an existing `output` is refused before anything is generated.

    Returns
    -------
    str or os.PathLike
        `output`, as given.
    """
    check_options(n_jets, processes, pt_min, pt_max, eta_max, seed, pthat_range)
    if os.path.lexists(output) and not overwrite:
        raise OutputExistsError(f"output {os.fspath(output)} already exists; "
                                "use overwrite=True to replace it")
    from ..checks import output_file

    output_file(output, overwrite=True)     # its folder exists and can be written
    import_sim()
    try:
        import pandas  # noqa: F401
        import tables
    except ImportError:
        raise JetimgError("writing the reference layout needs pandas and PyTables: "
                          "pip install 'jetimg[pandas]'") from None
    if complib is not None and complib not in tables.filters.all_complibs:
        raise InputError(f"complib={complib!r} is not one of None, "
                         f"{', '.join(tables.filters.all_complibs)}")
    if (isinstance(complevel, bool) or not isinstance(complevel, (int, np.integer))
            or not 0 <= complevel <= 9):
        raise InputError(f"complevel={complevel!r} must be an integer in 0-9")
    from ..io.writers.toptag import write_toptag

    jets, labels, truth = simulate_jets(n_jets, processes, pt_min, pt_max, eta_max, seed,
                                        progress, pthat_range)
    return write_toptag(output, jets, labels, format="fixed", complib=complib,
                        complevel=complevel, truth=truth)
