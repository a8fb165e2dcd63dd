"""Jets from Pythia 8 and FastJet in the top-tagging, JetClass and quark/gluon layouts.

:func:`simulate` writes one of three layouts (``layout=``):

* ``"toptag"`` (default): the top-tagging reference layout (:mod:`.toptag`),
  one pandas HDF5 file of (N, 200, 4) constituents, processes shuffled.
* ``"jetclass"``: JetClass's ROOT files (:mod:`.jetclass`), one per class
  (TTBar_000.root, WToQQ_000.root, ZToQQ_000.root, HToBB_000.root,
  ZJetsToNuNu_000.root) in a folder, anti-kT R = 0.8 jets with
  500 <= pT < 1000 GeV and |eta| < 2, each particle's charge and kind.
* ``"qg"``: EnergyFlow's quark/gluon ``.npz`` (:mod:`.qg`): anti-kT R = 0.4
  jets of Z(-> nu nu) + quark or gluon, 500 <= pT < 550 GeV, |y| < 1.7.

Events (:mod:`.events`): pp, no pile-up, no detector, Pythia's default tune;
at 14 TeV without multi-parton interactions for "toptag", at 13 TeV with
them for "jetclass", at 14 TeV with them for "qg" (as EnergyFlow's files).
Jets are clustered (FastJet, E-scheme) over the visible stable final-state
particles (``isFinal() and isVisible()``: no neutrinos). As in 1902.09914,
only the leading jet of each event is considered (:mod:`.selection`): it is
kept when ``pt_min <= pT < pt_max`` and ``|eta| < eta_max``, and for a
signal process when it lies within Delta R = 0.8 (rapidity-azimuth, as the
clustering) of the resonance's last copy before its decay and of each of its
decay quarks (top: the b and the two quarks from the W). An event gives at
most one jet, so no two rows share an event.

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
* ``qcd``: ``HardQCD:all`` (gg, gq, qq -> dijets), label 0; in the JetClass
  layout Z(-> nu nu) + jet instead (``WeakBosonAndParton:qqbar2gmZg`` and
  ``qg2gmZq``), as JetClass's ZJetsToNuNu files.

The pTHat window is ``[0.8 pt_min, 1.2 pt_max]`` by default (440-780 GeV for
550-650 GeV jets): jets above pTHat need hard initial-state radiation, jets
far below it lose much of the decay or lie outside the window. The cut
is not free: with pTHat from 300 GeV instead, 16% of the QCD jets and 12%
of the top jets in 550-650 GeV come from pTHat below 440 GeV (events whose
hard radiation adds to the jet), so the default window trades that part of
the spectrum for 5 to 6 times the jets per second; ``pthat_range`` widens
it.

Pythia 8 (``pythia8mc``) and FastJet (``fastjet``) come with the ``sim``
extra: ``pip install 'jetimg[sim]'``; the JetClass layout also needs the
``root`` extra (uproot, awkward).
"""

from ..errors import InputError
from .events import (LAYOUTS, PROCESS_SETTINGS, PROCESSES, QG_PROCESSES, pythia_seed,
                     pythia_settings, sim_available)
from .jetclass import JETCLASS_FILES, JETCLASS_WINDOW, simulate_jetclass
from .qg import QG_WINDOW, simulate_qg, simulate_qg_jets
from .toptag import simulate_jets, simulate_toptag

__all__ = ["PROCESSES", "PROCESS_SETTINGS", "LAYOUTS", "QG_PROCESSES", "JETCLASS_FILES",
           "simulate", "simulate_jets", "simulate_toptag", "simulate_jetclass",
           "simulate_qg", "simulate_qg_jets", "pythia_settings", "pythia_seed",
           "sim_available", "DEFAULTS"]

#: Each layout's default (processes, pt_min, pt_max, eta_max); for "qg", eta_max
#: bounds |y| and the processes are fixed (quark, gluon).
DEFAULTS = {
    "toptag": (("top", "qcd"), 550.0, 650.0, 2.0),
    "jetclass": (PROCESSES, *JETCLASS_WINDOW[1:]),
    "qg": (None, *QG_WINDOW[1:]),
}


def simulate(output, n_jets, processes=None, pt_min=None, pt_max=None, eta_max=None, seed=0,
             progress=None, pthat_range=None, complib=None, complevel=5, overwrite=False,
             layout="toptag"):
    """Generate jets with Pythia 8 and FastJet and write them in one of :data:`LAYOUTS`.

    Parameters
    ----------
    output : str or os.PathLike
        "toptag": the HDF5 file; "jetclass": the folder of ROOT files;
        "qg": the ``.npz`` file.
    n_jets : int
        "toptag": jets in all (shared equally by the processes); "jetclass":
        jets per file (per process); "qg": jets in the file (half quark).
    processes : sequence of str or str, optional
        Names from :data:`PROCESSES`; default top, qcd ("toptag") or all
        five ("jetclass"). "qg" takes none (its processes are quark and gluon).
    pt_min, pt_max, eta_max : float, optional
        Jet window (GeV; |eta|, or |y| for "qg"); default the layout's
        (:data:`DEFAULTS`): 550-650 GeV and 2 ("toptag"), 500-1000 GeV and 2
        ("jetclass"), 500-550 GeV and |y| < 1.7 ("qg").
    seed : int
        Seed (>= 0): the same seed and options give the same jets.
    progress : callable, optional
        ``progress(done, total)``, jets made so far and the total.
    pthat_range : (float, float), optional
        Hard-process pT window (GeV); default (0.8 pt_min, 1.2 pt_max).
    complib, complevel
        PyTables compression of the "toptag" file (:func:`simulate_toptag`);
        the other layouts refuse `complib`.
    overwrite : bool
        Replace existing output once the new one is complete; without it,
        existing output is refused before anything is generated.
    layout : str
        "toptag", "jetclass" or "qg".

    Returns
    -------
    str or os.PathLike or list of pathlib.Path
        `output` ("toptag", "qg"), or the files written ("jetclass").

    Raises
    ------
    InputError
        A bad option.
    JetimgError
        Pythia or FastJet (or, for "jetclass", uproot) is missing, Pythia
        fails to start, or no jet falls in the window.
    OutputExistsError
        The output exists and `overwrite` is false.

    Examples
    --------
    >>> simulate("x.h5", 10, layout="csv")
    Traceback (most recent call last):
    ...
    jetimg.errors.InputError: layout='csv': choose from toptag, jetclass, qg
    """
    if layout not in LAYOUTS:
        raise InputError(f"layout={layout!r}: choose from {', '.join(LAYOUTS)}")
    default_processes, *window = DEFAULTS[layout]
    pt_min, pt_max, eta_max = (d if v is None else v
                               for v, d in zip((pt_min, pt_max, eta_max), window))
    if layout == "qg" and processes is not None:
        raise InputError("layout 'qg' takes no processes: its jets are quark (qg -> Z q) "
                         "and gluon (q qbar -> Z g)")
    if layout != "toptag" and complib is not None:
        raise InputError(f"complib={complib!r} applies to layout 'toptag' only")
    processes = default_processes if processes is None else processes
    if layout == "jetclass":
        return simulate_jetclass(output, n_jets, processes, pt_min, pt_max, eta_max, seed,
                                 progress, pthat_range, overwrite)
    if layout == "qg":
        return simulate_qg(output, n_jets, pt_min, pt_max, eta_max, seed, progress,
                           pthat_range, overwrite)
    return simulate_toptag(output, n_jets, processes, pt_min, pt_max, eta_max, seed, progress,
                           pthat_range, complib, complevel, overwrite)
