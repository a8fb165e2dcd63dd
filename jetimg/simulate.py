"""Jets from Pythia 8 and FastJet in the top-tagging reference layout.

Shapes used here: jets are (N, M, 4) with M = 200 slots of (E, px, py, pz) in
GeV, the leading constituents by pT, zero-padded; labels are (N,); truth is
(N, 4), the (E, px, py, pz) of the matched resonance in GeV (zeros for QCD).

Events: pp at 14 TeV, no multi-parton interactions and no pile-up, Pythia's
default tune, each tagged resonance decaying hadronically. Jets: anti-kT, R = 0.8
(FastJet, E-scheme) over the visible stable final-state particles
(``isFinal() and isVisible()``: no neutrinos). As in 1902.09914, only the
leading jet of each event is considered: it is kept when
``pt_min <= pT < pt_max`` and ``|eta| < eta_max``, and for a signal process
when it lies within Delta R = 0.8 (rapidity-azimuth, as the clustering) of
the resonance's last copy before its decay and of each of its decay quarks
(top: the b and the two quarks from the W). An event gives at most one jet,
so no two rows share an event.

The hard processes (:data:`PROCESS_SETTINGS`) give boosted hadronic
resonances efficiently: Pythia generates unweighted events in a window of
the hard-process pT (pTHat), so every event is spent near the jet window.

* ``top``: ``Top:gg2ttbar`` and ``Top:qqbar2ttbar``, W -> q q' forced (both
  tops decay hadronically, so either can make the leading jet).
* ``w``: ``WeakDoubleBoson:ffbar2WW`` with W -> q q' forced: two boosted W
  per event, back to back, about 2.2 times the jets per second of W + jet
  (``WeakBosonAndParton:qqbar2Wg``), whose recoiling parton jet is wasted.
* ``z``: ``WeakDoubleBoson:ffbar2gmZgmZ`` with ``WeakZ0:gmZmode = 2`` (pure
  Z, no photon) and Z -> q qbar (d, u, s, c, b) forced: two Z per event.
* ``higgs``: ``HiggsSM:ffbar2HZ`` with H -> b bbar and Z -> nu nubar forced,
  the boosted ZH -> nunu bb channel: the only jets near the window are the
  Higgs jet and initial-state radiation. About 1.7 times the jets per second
  of gluon-fusion H + jet (``HiggsSM:gg2Hg(l:t)`` and friends), which needs
  the top loop and wastes the recoiling jet.
* ``qcd``: ``HardQCD:all`` (gg, gq, qq -> dijets), label 0.

The pTHat window is ``[0.8 pt_min, 1.2 pt_max]`` by default (440-780 GeV for
550-650 GeV jets): jets above pTHat need hard initial-state radiation, jets
far below it lose much of the decay or lie outside the window. The cut
is not free: with pTHat from 300 GeV instead, 16% of the QCD jets and 12%
of the top jets in 550-650 GeV come from pTHat below 440 GeV (events whose
hard radiation adds to the jet), so the default window trades that part of
the spectrum for 5 to 6 times the jets per second; ``pthat_range`` widens
it.

Pythia 8 (``pythia8mc``) and FastJet (``fastjet``) come with the ``sim``
extra: ``pip install 'jetimg[sim]'``.
"""

import contextlib
import ctypes
import os
import sys

import numpy as np

from .checks import integer
from .errors import InputError, JetimgError, OutputExistsError

__all__ = ["PROCESSES", "PROCESS_SETTINGS", "simulate", "simulate_jets", "pythia_settings",
           "pythia_seed", "sim_available"]

#: Process names, in the order that fixes each one's Pythia seed.
PROCESSES = ("top", "w", "z", "higgs", "qcd")

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

# PDG id of each process's resonance (0: none, a background process).
_RESONANCES = {"top": 6, "w": 24, "z": 23, "higgs": 25, "qcd": 0}

N_SLOTS = 200
R_JET = 0.8
MATCH_DR = 0.8
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
        _import_sim()
    except JetimgError:
        return False
    return True


def _import_sim():
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
    with _stdout_to_devnull():
        fastjet.ClusterSequence([fastjet.PseudoJet(1.0, 0.0, 0.0, 2.0)],
                                fastjet.JetDefinition(fastjet.antikt_algorithm, R_JET))
    _BANNER_DONE = True


@contextlib.contextmanager
def _stdout_to_devnull():
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


def pythia_seed(seed, process):
    """Pythia's Random:seed for one process, derived from the user's seed.

    Parameters
    ----------
    seed : int
        The seed of the run (>= 0).
    process : str
        One of :data:`PROCESSES`.

    Returns
    -------
    int
        In 1 .. 900,000,000; a pure function of (seed, process), so a
        process's jets do not depend on the other processes asked for.

    Examples
    --------
    >>> pythia_seed(0, "top") == pythia_seed(0, "top") != pythia_seed(0, "qcd")
    True
    """
    state = np.random.SeedSequence([int(seed), PROCESSES.index(process)]).generate_state(1)
    return int(state[0]) % _SEED_MAX + 1


def pythia_settings(process, pt_min=550.0, pt_max=650.0, seed=0, pthat_range=None):
    """Every Pythia setting used for one process, in the order given to Pythia.

    Parameters
    ----------
    process : str
        One of :data:`PROCESSES`.
    pt_min, pt_max : float
        Jet pT window (GeV).
    seed : int
        The seed of the run; see :func:`pythia_seed`.
    pthat_range : (float, float), optional
        Hard-process pT window (GeV); default (0.8 pt_min, 1.2 pt_max).

    Returns
    -------
    list of str
        ``readString`` lines.

    Examples
    --------
    >>> [s for s in pythia_settings("qcd") if "pTHat" in s]
    ['PhaseSpace:pTHatMin = 440', 'PhaseSpace:pTHatMax = 780']
    """
    lo, hi = _pthat_window(pt_min, pt_max, pthat_range)
    return [
        f"Beams:eCM = {E_CM:g}",
        "PartonLevel:MPI = off",
        "Print:quiet = on",
        "Print:errors = off",
        "Next:numberCount = 0",
        "Random:setSeed = on",
        f"Random:seed = {pythia_seed(seed, process)}",
        f"PhaseSpace:pTHatMin = {lo:.10g}",
        f"PhaseSpace:pTHatMax = {hi:.10g}",
        *PROCESS_SETTINGS[process],
    ]


def _pthat_window(pt_min, pt_max, pthat_range):
    if pthat_range is None:
        return PTHAT_SCALE[0] * pt_min, PTHAT_SCALE[1] * pt_max
    return float(pthat_range[0]), float(pthat_range[1])


def _check(n_jets, processes, pt_min, pt_max, eta_max, seed, pthat_range):
    """Checked (n_jets, processes, pt_min, pt_max, eta_max, seed, pthat_range)."""
    n_jets = integer("n_jets", n_jets)
    if isinstance(processes, str):
        processes = processes.split(",")
    processes = tuple(str(p).strip().lower() for p in processes)
    unknown = [p for p in processes if p not in PROCESSES]
    if unknown or not processes:
        raise InputError(f"unknown process {', '.join(map(repr, unknown)) or '(none)'}: "
                         f"choose from {', '.join(PROCESSES)}")
    if len(set(processes)) != len(processes):
        raise InputError(f"processes {', '.join(processes)} name one twice")
    if n_jets < len(processes):
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
    n_jets, processes, pt_min, pt_max, eta_max, seed, pthat_range = _check(
        n_jets, processes, pt_min, pt_max, eta_max, seed, pthat_range)
    pythia8, fastjet = _import_sim()
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
            labels[done] = _RESONANCES[process] != 0
            which[done] = index
            done += 1
            if progress:
                progress(done, n_jets)
    order = np.random.default_rng(seed).permutation(n_jets)
    out = jets[order], labels[order], truth[order]
    return out + (which[order],) if return_process else out


def _process_jets(pythia8, fastjet, process, settings, count, pt_min, pt_max, eta_max):
    """Yield `count` (p4s (K, 4) float32 sorted by pT, truth (4,)) of one process."""
    pythia = pythia8.Pythia("", False)
    for line in settings:
        if not pythia.readString(line):
            raise JetimgError(f"Pythia does not know the setting {line!r} "
                              f"(process {process!r}); is pythia8mc too old?")
    with _stdout_to_devnull():
        started = pythia.init()
    if not started:
        raise JetimgError(f"Pythia failed to start process {process!r} with {settings}")
    definition = fastjet.JetDefinition(fastjet.antikt_algorithm, R_JET)
    pdg = _RESONANCES[process]
    made = empty = failed = 0
    while made < count:
        if not pythia.next():
            failed += 1
            if failed > _MAX_FAILED_EVENTS:
                raise JetimgError(f"Pythia failed {failed} events of process {process!r}")
            continue
        event = pythia.event
        particles, p4s = [], []
        for particle in event:
            if particle.isFinal() and particle.isVisible():
                p4 = (particle.e(), particle.px(), particle.py(), particle.pz())
                pseudojet = fastjet.PseudoJet(p4[1], p4[2], p4[3], p4[0])
                pseudojet.set_user_index(len(p4s))
                particles.append(pseudojet)
                p4s.append(p4)
        p4s = np.array(p4s, dtype=np.float64).reshape(-1, 4)
        sequence = fastjet.ClusterSequence(particles, definition)
        jet = _leading_jet(event, sequence, pdg, pt_min, pt_max, eta_max, fastjet)
        if jet is None:
            empty += 1
        else:
            jet, p4_truth = jet
            rows = [c.user_index() for c in jet.constituents()]
            yield _leading(p4s[rows]), p4_truth
            made += 1
            empty = 0
        if empty >= _MAX_EMPTY_EVENTS:
            raise JetimgError(f"{empty} events of process {process!r} in a row gave no jet "
                              f"with {pt_min:g} <= pT < {pt_max:g} GeV and |eta| < {eta_max:g}")


def _leading_jet(event, sequence, pdg, pt_min, pt_max, eta_max, fastjet):
    """The event's leading jet and its truth four-vector, if it passes the cuts.

    As 1902.09914 does, only the leading (highest-pT) jet of an event counts: it
    must have pt_min <= pT < pt_max and |eta| < eta_max, and for a signal
    process lie within dR 0.8 of a hadronically decaying resonance and of all
    its decay quarks. Else the event gives no jet (never its second jet: two
    jets of one event would be correlated rows).
    """
    jets = fastjet.sorted_by_pt(sequence.inclusive_jets(pt_min))
    if not jets or not (jets[0].pt() < pt_max and abs(jets[0].eta()) < eta_max):
        return None
    jet = jets[0]
    if not pdg:
        return jet, (0.0, 0.0, 0.0, 0.0)
    for resonance, quarks in _resonances(event, pdg, fastjet):
        if _within(jet, resonance, quarks, fastjet):
            return jet, (resonance.e(), resonance.px(), resonance.py(), resonance.pz())
    return None


def _resonances(event, pdg, fastjet):
    """[(resonance, [decay quarks])] as PseudoJets: last copies before decay."""
    last = sorted({event[i].iBotCopyId() for i in range(event.size())
                   if abs(event[i].id()) == pdg})
    found = []
    for i in last:
        quarks = []
        for d in event[i].daughterList():
            if pdg == 6 and abs(event[d].id()) == 24:  # t -> b W, W -> q q'
                w = event[d].iBotCopyId()
                quarks += [event[q] for q in event[w].daughterList()]
            else:
                quarks.append(event[d])
        # Only the hadronic decays count (H -> b bbar, V -> q q', t -> b q q').
        if quarks and all(1 <= abs(q.id()) <= 5 for q in quarks):
            found.append((_pseudojet(event[i], fastjet),
                          [_pseudojet(q, fastjet) for q in quarks]))
    return found


def _pseudojet(particle, fastjet):
    return fastjet.PseudoJet(particle.px(), particle.py(), particle.pz(), particle.e())


def _within(jet, resonance, quarks, fastjet):
    return (jet.delta_R(resonance) < MATCH_DR
            and all(jet.delta_R(q) < MATCH_DR for q in quarks))


def _leading(p4s):
    """The N_SLOTS leading rows of (K, 4) float64 p4s by float32 pT, as float32."""
    p4s = p4s.astype(np.float32)
    pts = np.hypot(p4s[:, 1].astype(np.float64), p4s[:, 2].astype(np.float64))
    return p4s[np.argsort(-pts, kind="stable")[:N_SLOTS]]


def simulate(output, n_jets, processes=("top", "qcd"), pt_min=550.0, pt_max=650.0,
             eta_max=2.0, seed=0, progress=None, pthat_range=None, complib=None, complevel=5,
             overwrite=False):
    """Generate jets (:func:`simulate_jets`) and write them in the reference layout.

    The file is a pandas HDFStore (key "table", "fixed" layout) with columns
    E_0, PX_0, PY_0, PZ_0, ..., PZ_199 (float32), truth_E, truth_PX,
    truth_PY, truth_PZ (the matched resonance, zeros for QCD), ttv (0) and
    is_signal_new (1 signal, 0 QCD), written to a temporary name and renamed
    when complete (:func:`jetimg.io.toptag_writer.write_toptag`).

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

    Raises
    ------
    InputError, JetimgError
        As :func:`simulate_jets`; also when pandas and PyTables are missing.
    OutputExistsError
        `output` exists and `overwrite` is false.
    """
    _check(n_jets, processes, pt_min, pt_max, eta_max, seed, pthat_range)
    if os.path.lexists(output) and not overwrite:
        raise OutputExistsError(f"output {os.fspath(output)} already exists; "
                                "use overwrite=True to replace it")
    from .checks import output_file

    output_file(output, overwrite=True)     # its folder exists and can be written
    _import_sim()
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
    from .io.toptag_writer import write_toptag

    jets, labels, truth = simulate_jets(n_jets, processes, pt_min, pt_max, eta_max, seed,
                                        progress, pthat_range)
    return write_toptag(output, jets, labels, format="fixed", complib=complib,
                        complevel=complevel, truth=truth)
