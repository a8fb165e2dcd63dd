"""Pythia 8 events and FastJet clustering: settings, seeds and the event loop.

Every layout (:mod:`.toptag`, :mod:`.jetclass`, :mod:`.qg`) draws its jets
through :func:`generate`, which runs Pythia for one process, clusters the
visible stable final-state particles (``isFinal() and isVisible()``: no
neutrinos) with anti-kT and hands each event to a layout's selection.
"""

import contextlib
import ctypes
import os
import sys

import numpy as np

from ..checks import integer
from ..errors import InputError, JetimgError

__all__ = ["PROCESSES", "PROCESS_SETTINGS", "LAYOUTS", "JETCLASS_SETTINGS", "QG_PROCESSES",
           "QG_SETTINGS", "pythia_settings", "pythia_seed", "sim_available", "generate"]

#: Process names, in the order that fixes each one's Pythia seed.
PROCESSES = ("top", "w", "z", "higgs", "qcd")

#: Output layouts of :func:`jetimg.simulate.simulate`.
LAYOUTS = ("toptag", "jetclass", "qg")

#: Pythia settings of each process, beyond the common ones of
#: :func:`pythia_settings`.
PROCESS_SETTINGS = {
    "top": ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on",
            "24:onMode = off", "24:onIfAny = 1 2 3 4 5"),
    "w": ("WeakDoubleBoson:ffbar2WW = on",
          "24:onMode = off", "24:onIfAny = 1 2 3 4 5"),
    "z": ("WeakDoubleBoson:ffbar2gmZgmZ = on", "WeakZ0:gmZmode = 2",
          "23:onMode = off", "23:onIfAny = 1 2 3 4 5"),
    "higgs": ("HiggsSM:ffbar2HZ = on", "25:onMode = off", "25:onIfMatch = 5 -5",
              "23:onMode = off", "23:onIfAny = 12 14 16"),
    "qcd": ("HardQCD:all = on",),
}

_Z_TO_NUNU = ("WeakZ0:gmZmode = 2", "23:onMode = off", "23:onIfAny = 12 14 16")

#: The JetClass layout's processes: those of the top-tagging layout, but its
#: background is Z(-> nu nu) + jet, as JetClass's ZJetsToNuNu files.
JETCLASS_SETTINGS = {
    **PROCESS_SETTINGS,
    "qcd": ("WeakBosonAndParton:qqbar2gmZg = on", "WeakBosonAndParton:qg2gmZq = on",
            *_Z_TO_NUNU),
}

#: The quark/gluon layout's processes: Z(-> nu nu) + quark and Z(-> nu nu) + gluon.
QG_PROCESSES = ("quark", "gluon")
QG_SETTINGS = {
    "quark": ("WeakBosonAndParton:qg2gmZq = on", *_Z_TO_NUNU),
    "gluon": ("WeakBosonAndParton:qqbar2gmZg = on", *_Z_TO_NUNU),
}

# Per layout: (processes, settings, collision energy in GeV, multi-parton interactions)
_LAYOUT_SETUP = {
    "toptag": (PROCESSES, PROCESS_SETTINGS, 14000.0, False),
    "jetclass": (PROCESSES, JETCLASS_SETTINGS, 13000.0, True),
    "qg": (QG_PROCESSES, QG_SETTINGS, 14000.0, True),
}

E_CM = 14000.0
PTHAT_SCALE = (0.8, 1.2)  # default pTHat window: (0.8 pt_min, 1.2 pt_max)

# Pythia's Random:seed takes 1 .. 900,000,000.
_SEED_MAX = 900_000_000
# Give up when this many events in a row give no jet in the window.
_MAX_EMPTY_EVENTS = 5_000
_MAX_FAILED_EVENTS = 100

_MISSING = ("jetimg simulate needs Pythia 8 and FastJet (the 'sim' extra): "
            "pip install 'jetimg[sim]'")


def sim_available():
    """Whether Pythia 8 and FastJet can be imported.

    Returns
    -------
    bool
    """
    try:
        import_sim()
    except JetimgError:
        return False
    return True


def import_sim():
    """(pythia8 module, fastjet module), or JetimgError naming the extra."""
    try:
        try:
            import pythia8mc as pythia8
        except ImportError:
            import pythia8
        import fastjet
    except ImportError:
        raise JetimgError(_MISSING) from None
    _silence_fastjet_banner(fastjet)
    return pythia8, fastjet


_BANNER_DONE = False


def _silence_fastjet_banner(fastjet):
    """Cluster one particle with stdout closed, so FastJet's banner is spent."""
    global _BANNER_DONE
    if _BANNER_DONE:
        return
    with stdout_to_devnull():
        fastjet.ClusterSequence([fastjet.PseudoJet(1.0, 0.0, 0.0, 2.0)],
                                fastjet.JetDefinition(fastjet.antikt_algorithm, 0.8))
    _BANNER_DONE = True


@contextlib.contextmanager
def stdout_to_devnull():
    """Send C-level writes to file descriptor 1 (std::cout) to /dev/null."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no file descriptor 1: nothing to protect
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        yield
    finally:
        try:
            ctypes.CDLL(None).fflush(None)
        except (OSError, AttributeError):  # pragma: no cover - no C library handle
            pass
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)


def _layout(layout):
    if layout not in _LAYOUT_SETUP:
        raise InputError(f"layout={layout!r}: choose from {', '.join(LAYOUTS)}")
    return _LAYOUT_SETUP[layout]


def pythia_seed(seed, process, layout="toptag"):
    """Pythia's Random:seed for one process, derived from the user's seed.

    Parameters
    ----------
    seed : int
        The seed of the run (>= 0).
    process : str
        One of :data:`PROCESSES` (or :data:`QG_PROCESSES` for layout "qg").
    layout : str
        One of :data:`LAYOUTS`: each layout seeds its processes apart.

    Returns
    -------
    int
        In 1 .. 900,000,000; a pure function of (seed, process, layout), so a
        process's jets do not depend on the other processes asked for.

    Examples
    --------
    >>> pythia_seed(0, "top") == pythia_seed(0, "top") != pythia_seed(0, "qcd")
    True
    """
    processes = _layout(layout)[0]
    entropy = [int(seed), processes.index(process)]
    if layout != "toptag":  # the top-tagging seeds stay as they were
        entropy.append(LAYOUTS.index(layout))
    state = np.random.SeedSequence(entropy).generate_state(1)
    return int(state[0]) % _SEED_MAX + 1


def pythia_settings(process, pt_min=550.0, pt_max=650.0, seed=0, pthat_range=None,
                    layout="toptag"):
    """Every Pythia setting used for one process, in the order given to Pythia.

    Parameters
    ----------
    process : str
        One of :data:`PROCESSES` (or :data:`QG_PROCESSES` for layout "qg").
    pt_min, pt_max : float
        Jet pT window (GeV).
    seed : int
        The seed of the run; see :func:`pythia_seed`.
    pthat_range : (float, float), optional
        Hard-process pT window (GeV); default (0.8 pt_min, 1.2 pt_max).
    layout : str
        "toptag" (14 TeV, no multi-parton interactions), "jetclass" (13 TeV,
        multi-parton interactions on, Z(-> nu nu) + jet as background) or
        "qg" (14 TeV, multi-parton interactions on).

    Returns
    -------
    list of str
        ``readString`` lines.

    Examples
    --------
    >>> [s for s in pythia_settings("qcd") if "pTHat" in s]
    ['PhaseSpace:pTHatMin = 440', 'PhaseSpace:pTHatMax = 780']
    >>> "PartonLevel:MPI = on" in pythia_settings("gluon", 500, 550, layout="qg")
    True
    """
    processes, settings, e_cm, mpi = _layout(layout)
    if process not in processes:
        raise InputError(f"unknown process {process!r} for layout {layout!r}: "
                         f"choose from {', '.join(processes)}")
    lo, hi = _pthat_window(pt_min, pt_max, pthat_range)
    return [
        f"Beams:eCM = {e_cm:g}",
        f"PartonLevel:MPI = {'on' if mpi else 'off'}",
        "Print:quiet = on",
        "Print:errors = off",
        "Next:numberCount = 0",
        "Random:setSeed = on",
        f"Random:seed = {pythia_seed(seed, process, layout)}",
        f"PhaseSpace:pTHatMin = {lo:.10g}",
        f"PhaseSpace:pTHatMax = {hi:.10g}",
        *settings[process],
    ]


def _pthat_window(pt_min, pt_max, pthat_range):
    if pthat_range is None:
        return PTHAT_SCALE[0] * pt_min, PTHAT_SCALE[1] * pt_max
    return float(pthat_range[0]), float(pthat_range[1])


def check_options(n_jets, processes, pt_min, pt_max, eta_max, seed, pthat_range,
                  known=PROCESSES, per_process=False):
    """Checked (n_jets, processes, pt_min, pt_max, eta_max, seed, pthat_range).

    `per_process`: n_jets counts the jets of each process (>= 1), not of all.
    """
    n_jets = integer("n_jets", n_jets)
    if isinstance(processes, str):
        processes = processes.split(",")
    processes = tuple(str(p).strip().lower() for p in processes)
    unknown = [p for p in processes if p not in known]
    if unknown or not processes:
        raise InputError(f"unknown process {', '.join(map(repr, unknown)) or '(none)'}: "
                         f"choose from {', '.join(known)}")
    if len(set(processes)) != len(processes):
        raise InputError(f"processes {', '.join(processes)} name one twice")
    if not per_process and n_jets < len(processes):
        raise InputError(f"n_jets={n_jets} is fewer than the {len(processes)} processes")
    try:
        pt_min, pt_max, eta_max = float(pt_min), float(pt_max), float(eta_max)
    except (TypeError, ValueError):
        raise InputError(f"pt_min={pt_min!r}, pt_max={pt_max!r} and eta_max={eta_max!r} "
                         "must be numbers") from None
    if not (np.isfinite(pt_min) and pt_min > 0):
        raise InputError(f"pt_min={pt_min!r} GeV must be finite and > 0")
    if not (np.isfinite(pt_max) and pt_min < pt_max <= E_CM / 3):
        raise InputError(f"pt_max={pt_max!r} GeV must be above pt_min={pt_min!r} GeV "
                         f"and at most {E_CM / 3:g} GeV")
    if not (np.isfinite(eta_max) and eta_max > 0):
        raise InputError(f"eta_max={eta_max!r} must be finite and > 0")
    seed = integer("seed", seed, minimum=0)
    if pthat_range is not None:
        try:
            lo, hi = (float(v) for v in pthat_range)
        except (TypeError, ValueError):
            raise InputError(f"pthat_range={pthat_range!r} must be two numbers (GeV)") from None
        if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo < hi <= E_CM / 2):
            raise InputError(f"pthat_range={pthat_range!r} must satisfy "
                             f"0 < low < high <= {E_CM / 2:g} GeV")
        pthat_range = (lo, hi)
    return int(n_jets), processes, pt_min, pt_max, eta_max, int(seed), pthat_range


def generate(pythia8, fastjet, process, settings, count, r_jet, select, window):
    """Yield `count` non-None results of ``select(pythia, particles, sequence)``.

    Parameters
    ----------
    pythia8, fastjet : module
        From :func:`import_sim`.
    process : str
        The process's name, for messages.
    settings : list of str
        Pythia's ``readString`` lines (:func:`pythia_settings`).
    count : int
        Results to yield.
    r_jet : float
        Anti-kT radius.
    select : callable
        ``select(pythia, particles, sequence)``: particles is (K, 6) float64,
        one row (E, px, py, pz, PDG id, charge) per visible final-state
        particle, the PseudoJets' user_index its row; sequence the FastJet
        ClusterSequence. Returns None to skip the event.
    window : str
        The jet window, for the message when no event gives a jet.
    """
    pythia = pythia8.Pythia("", False)
    for line in settings:
        if not pythia.readString(line):
            raise JetimgError(f"Pythia does not know the setting {line!r} "
                              f"(process {process!r}); is pythia8mc too old?")
    with stdout_to_devnull():
        started = pythia.init()
    if not started:
        raise JetimgError(f"Pythia failed to start process {process!r} with {settings}")
    definition = fastjet.JetDefinition(fastjet.antikt_algorithm, r_jet)
    made = empty = failed = 0
    while made < count:
        if not pythia.next():
            failed += 1
            if failed > _MAX_FAILED_EVENTS:
                raise JetimgError(f"Pythia failed {failed} events of process {process!r}")
            continue
        pseudojets, rows = [], []
        for particle in pythia.event:
            if particle.isFinal() and particle.isVisible():
                row = (particle.e(), particle.px(), particle.py(), particle.pz(),
                       particle.id(), particle.charge())
                pseudojet = fastjet.PseudoJet(row[1], row[2], row[3], row[0])
                pseudojet.set_user_index(len(rows))
                pseudojets.append(pseudojet)
                rows.append(row)
        particles = np.array(rows, dtype=np.float64).reshape(-1, 6)
        sequence = fastjet.ClusterSequence(pseudojets, definition)
        result = select(pythia, particles, sequence)
        if result is None:
            empty += 1
        else:
            yield result
            made += 1
            empty = 0
        if empty >= _MAX_EMPTY_EVENTS:
            raise JetimgError(f"{empty} events of process {process!r} in a row gave no jet "
                              f"with {window}")
