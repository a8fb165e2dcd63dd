"""Which jet of an event is kept: the leading jet, in a window, matched for a signal.

As 1902.09914 does, only the leading (highest-pT) jet of an event counts, so
no two rows share an event; a signal jet must lie within Delta R = 0.8
(rapidity-azimuth, as the clustering) of the resonance's last copy before
its decay and of each of its decay quarks (top: the b and the two quarks
from the W).
"""

import numpy as np

__all__ = ["RESONANCES", "MATCH_DR", "leading_jet", "by_pt"]

#: PDG id of each process's resonance (0: none, a background process).
RESONANCES = {"top": 6, "w": 24, "z": 23, "higgs": 25, "qcd": 0}

MATCH_DR = 0.8


def leading_jet(event, sequence, pdg, pt_min, pt_max, eta_max, fastjet, rapidity=False):
    """The event's leading jet and its truth four-vector, if it passes the cuts.

    The leading jet must have pt_min <= pT < pt_max and |eta| < eta_max
    (|y| < eta_max with `rapidity`), and for a signal process (`pdg` != 0) lie
    within dR 0.8 of a hadronically decaying resonance and of all its decay
    quarks. Else the event gives no jet (never its second jet: two jets of one
    event would be correlated rows).

    Returns
    -------
    (PseudoJet, (E, px, py, pz)) or None
        The truth four-vector (GeV) is zeros for a background process.
    """
    jets = fastjet.sorted_by_pt(sequence.inclusive_jets(pt_min))
    if not jets:
        return None
    jet = jets[0]
    if not (jet.pt() < pt_max and abs(jet.rap() if rapidity else jet.eta()) < eta_max):
        return None
    if not pdg:
        return jet, (0.0, 0.0, 0.0, 0.0)
    for resonance, quarks in _resonances(event, pdg, fastjet):
        if _within(jet, resonance, quarks):
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


def _within(jet, resonance, quarks):
    return (jet.delta_R(resonance) < MATCH_DR
            and all(jet.delta_R(q) < MATCH_DR for q in quarks))


def by_pt(p4s):
    """Row order of (K, 4) (E, px, py, pz) by decreasing float32 pT (stable).

    Returns
    -------
    p4s32 : ndarray, (K, 4) float32
        The rows as float32, in the order given.
    order : ndarray, (K,) int
        Indices that sort them by decreasing pT of the float32 values.
    """
    p4s = p4s.astype(np.float32)
    pts = np.hypot(p4s[:, 1].astype(np.float64), p4s[:, 2].astype(np.float64))
    return p4s, np.argsort(-pts, kind="stable")
