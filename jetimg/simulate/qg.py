"""Jets in EnergyFlow's quark/gluon layout: one ``.npz`` of X (pt, y, phi, pid) and y.

Quark jets from qg -> Z q, gluon jets from q qbar -> Z g, the Z decaying to
neutrinos, as EnergyFlow's QG_jets files: pp at 14 TeV, Pythia's default
tune with multi-parton interactions on, anti-kT R = 0.4 jets of the visible
final-state particles, the leading jet of each event kept when
500 <= pT < 550 GeV and |y| < 1.7. Quark jets are light (u, d, s; the hard
process's outgoing quark), as the files without c and b.
"""

import os

import numpy as np

from ..errors import JetimgError, OutputExistsError
from .events import QG_PROCESSES, check_options, generate, import_sim, pythia_settings
from .selection import by_pt, leading_jet

__all__ = ["simulate_qg", "simulate_qg_jets", "QG_WINDOW"]

#: EnergyFlow's jet window: (R, pt_min, pt_max, y_max)
QG_WINDOW = (0.4, 500.0, 550.0, 1.7)

_LIGHT = (1, 2, 3)


def simulate_qg_jets(n_jets, pt_min=500.0, pt_max=550.0, y_max=1.7, seed=0, progress=None,
                     pthat_range=None):
    """Quark and gluon jets (half each, the first quark when odd), shuffled.

    Parameters
    ----------
    n_jets : int
        Total jets N (>= 2).
    pt_min, pt_max : float
        Jet pT window (GeV), pt_min <= pT < pt_max.
    y_max : float
        Jets have |y| < y_max (rapidity).
    seed : int
        Seed (>= 0); the shuffle uses ``np.random.default_rng(seed)``.
    progress : callable, optional
        ``progress(done, total)``.
    pthat_range : (float, float), optional
        Hard-process pT window (GeV); default (0.8 pt_min, 1.2 pt_max).

    Returns
    -------
    X : ndarray, shape (N, M, 4), float64
        (pt [GeV], y, phi in [0, 2 pi), PDG id) per constituent, by decreasing
        pT, zero rows as padding; M the largest multiplicity.
    y : ndarray, shape (N,), float64
        1 quark, 0 gluon.
    """
    n_jets, _, pt_min, pt_max, y_max, seed, pthat_range = check_options(
        n_jets, QG_PROCESSES, pt_min, pt_max, y_max, seed, pthat_range, known=QG_PROCESSES)
    pythia8, fastjet = import_sim()
    counts = (n_jets - n_jets // 2, n_jets // 2)
    rows, labels = [], []
    if progress:
        progress(0, n_jets)
    for process, count in zip(QG_PROCESSES, counts):
        settings = pythia_settings(process, pt_min, pt_max, seed, pthat_range, "qg")
        for jet in _process_jets(pythia8, fastjet, process, settings, count, pt_min, pt_max,
                                 y_max):
            rows.append(jet)
            labels.append(1.0 if process == "quark" else 0.0)
            if progress:
                progress(len(rows), n_jets)
    X = np.zeros((n_jets, max(len(r) for r in rows), 4), np.float64)
    for i, r in enumerate(rows):
        X[i, :len(r)] = r
    order = np.random.default_rng(seed).permutation(n_jets)
    return X[order], np.array(labels, np.float64)[order]


def _process_jets(pythia8, fastjet, process, settings, count, pt_min, pt_max, y_max):
    """Yield `count` (K, 4) float64 (pt, y, phi, pid) of one process, by decreasing pT."""

    def select(pythia, particles, sequence):
        if process == "quark" and not _light_quark(pythia.process):
            return None
        found = leading_jet(pythia.event, sequence, 0, pt_min, pt_max, y_max, fastjet,
                            rapidity=True)
        if found is None:
            return None
        constituents = found[0].constituents()
        rows = particles[[c.user_index() for c in constituents]]
        _, order = by_pt(rows[:, :4])
        out = np.array([(c.pt(), c.rap(), c.phi(), 0.0) for c in constituents], np.float64)
        out[:, 3] = rows[:, 4]
        return out[order]

    window = f"{pt_min:g} <= pT < {pt_max:g} GeV and |y| < {y_max:g}"
    return generate(pythia8, fastjet, process, settings, count, QG_WINDOW[0], select, window)


def _light_quark(process):
    """Whether the hard process's outgoing quark is u, d or s (status 23)."""
    return any(abs(process[i].status()) == 23 and abs(process[i].id()) in _LIGHT
               for i in range(process.size()))


def simulate_qg(output, n_jets, pt_min=500.0, pt_max=550.0, y_max=1.7, seed=0, progress=None,
                pthat_range=None, overwrite=False):
    """Generate quark and gluon jets (:func:`simulate_qg_jets`) into an EnergyFlow ``.npz``.

    Written with :func:`jetimg.io.writers.qg.write_qg` (``np.savez_compressed``:
    X float64 (N, M, 4), y float64 (N,)) to a temporary name, renamed when
    complete.

    Parameters
    ----------
    output : str or os.PathLike
        The ``.npz`` file to write.
    n_jets, pt_min, pt_max, y_max, seed, progress, pthat_range
        As :func:`simulate_qg_jets`.
    overwrite : bool
        Replace an existing `output`; without it, it is refused before
        anything is generated.

    Returns
    -------
    str or os.PathLike
        `output`, as given.
    """
    check_options(n_jets, QG_PROCESSES, pt_min, pt_max, y_max, seed, pthat_range,
                  known=QG_PROCESSES)
    if os.path.lexists(output) and not overwrite:
        raise OutputExistsError(f"output {os.fspath(output)} already exists; "
                                "use overwrite=True to replace it")
    from ..checks import output_file
    from ..io.writers.qg import write_qg

    path = output_file(output, overwrite=True)
    import_sim()
    X, y = simulate_qg_jets(n_jets, pt_min, pt_max, y_max, seed, progress, pthat_range)
    partial = path.with_name(f".{path.name}.partial")
    try:
        write_qg(partial, X, y)
        os.replace(partial, path)
    except OSError as exc:
        raise JetimgError(f"cannot write {path}: {exc}") from None
    finally:
        if partial.exists():
            partial.unlink()
    return output
