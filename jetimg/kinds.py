"""Particle kinds of constituents, as docs/recipe.md names them for image channels.

Each constituent slot gets an int8 kind code: 0 for padding (or no particle),
then one code per kind below. Readers fill them from what the input carries
(a PDG id, or JetClass's part_is* flags); inputs without particle identity
have no kinds. Inputs with kinds also give each slot an int8 electric charge
in units of e (0 for padding): JetClass's part_charge, or the charge of the
PDG id (:func:`charges_from_pdg`).

>>> KIND_NAMES[KIND_CODE["photon"]]
'photon'
>>> sorted(GROUPS["charged"])
['charged_hadron', 'electron', 'muon']
"""

import numpy as np

__all__ = ["KIND_NAMES", "KIND_CODE", "GROUPS", "KIND_DTYPE", "CHARGE_DTYPE",
           "kinds_from_pdg", "three_charge_from_pdg", "charges_from_pdg",
           "kinds_and_charges_from_pdg", "masses_from_pdg",
           "PDG_MASSES", "kinds_from_flags"]

KIND_DTYPE = np.dtype(np.int8)
#: electric charges of constituents (units of e; 0 for padding), as readers give them
CHARGE_DTYPE = np.dtype(np.int8)

#: code -> kind name; code 0 is padding (no particle).
KIND_NAMES = ("none", "photon", "electron", "muon", "charged_hadron", "neutral_hadron")
KIND_CODE = {name: code for code, name in enumerate(KIND_NAMES)}

#: the groups a channel name may select, by the kinds each holds
GROUPS = {
    "photon": ("photon",), "electron": ("electron",), "muon": ("muon",),
    "charged_hadron": ("charged_hadron",), "neutral_hadron": ("neutral_hadron",),
    "charged": ("charged_hadron", "electron", "muon"),
    "neutral": ("photon", "neutral_hadron"),
}


# ---------------------------------------------------------------------------
# PDG ids (EnergyFlow's quark/gluon files, pid arrays beside plain arrays)
# ---------------------------------------------------------------------------

# Three times the charge of the fundamental ids 1..100 (HepPDT's ch100 table).
_CH100 = np.zeros(101, np.int64)
_CH100[1:101] = [
    -1, 2, -1, 2, -1, 2, -1, 2, 0, 0,
    -3, 0, -3, 0, -3, 0, -3, 0, 0, 0,
    0, 0, 0, 3, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 3, 0, 0, 3, 0, 0, 0,
    0, -1, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 6, 3, 6, 0, 0, 0, 0, 0, 0] + [0] * 40

#: masses (GeV) by |id| (docs/building.md, quark/gluon jets); every other id is massless
PDG_MASSES = {211: 0.13957, 321: 0.493677, 130: 0.497611, 2212: 0.938272,
              2112: 0.939565, 11: 0.000511, 13: 0.105658}


def _digit(ida, place):
    """Digit ``place`` (1 = units) of non-negative integers ``ida``."""
    return (ida // 10 ** (place - 1)) % 10


def three_charge_from_pdg(pids):
    """Three times the electric charge of each PDG id, from its digits.

    As HepPDT's ``threeCharge``: fundamental ids (no quark digits) from a
    table, mesons from their two quark digits, diquarks and baryons from
    the sum over their quarks, nuclei (10LZZZAAAI) from Z; the sign of the
    id flips the charge. Ids the numbering scheme does not know give 0.

    Parameters
    ----------
    pids : array_like of int (float holding integers also accepted)

    Returns
    -------
    numpy.ndarray
        int64, the shape of ``pids``.

    >>> three_charge_from_pdg([211, -211, 2212, 3312, 130, 310, 2112, 22, 0]).tolist()
    [3, -3, 3, -3, 0, 0, 0, 0, 0]
    """
    pids = np.asarray(pids)
    if pids.dtype.kind == "f":
        ok = np.isfinite(pids) & (np.abs(pids) < 2 ** 31)
        pids = np.where(ok, pids, 0)
    pids = pids.astype(np.int64)
    ida = np.abs(pids)
    q1, q2, q3 = _digit(ida, 4), _digit(ida, 3), _digit(ida, 2)
    nj = _digit(ida, 1)
    extra = ida // 10_000_000          # digits n8, n9, n10
    charge = np.zeros(ida.shape, np.int64)
    # nuclei: 10LZZZAAAI (n10 = 1, n9 = 0, A >= Z); other 10-digit ids are unknown
    z, a = (ida // 10_000) % 1000, (ida // 10) % 1000
    nucleus = (ida // 1_000_000_000 == 1) & (_digit(ida, 9) == 0) & (a >= z)
    charge = np.where(nucleus, 3 * z, charge)
    plain = extra == 0
    # fundamental ids: no quark digits q1, q2, or |id| <= 100
    fund_id = np.where((q1 == 0) & (q2 == 0), ida % 10_000, ida)
    fund = plain & (fund_id >= 1) & (fund_id <= 100) & (((q1 == 0) & (q2 == 0)) | (ida <= 100))
    table = _CH100[np.clip(fund_id, 0, 100)]
    table = np.where(np.isin(ida, (1000017, 1000018, 1000034, 1000052, 1000053, 1000054)),
                     0, table)
    table = np.where(np.isin(ida, (5100061, 5100062)), 6, table)
    charge = np.where(fund, table, charge)
    composite = plain & ~fund & (nj > 0) & (ida > 100)
    c1, c2, c3 = (_CH100[np.clip(q, 0, 100)] for q in (q1, q2, q3))
    # mesons: q1 == 0; a quark and an antiquark (the down-type one is the antiquark
    # for s and b: K+ is u sbar)
    meson = composite & (q1 == 0) & (q2 > 0) & (q3 > 0) & ~((q2 == q3) & (pids < 0))
    charge = np.where(meson, np.where((q2 == 3) | (q2 == 5), c3 - c2, c2 - c3), charge)
    diquark = composite & (q1 > 0) & (q2 > 0) & (q3 == 0)
    charge = np.where(diquark, c1 + c2, charge)
    baryon = composite & (q1 > 0) & (q2 > 0) & (q3 > 0)
    charge = np.where(baryon, c1 + c2 + c3, charge)
    return np.where(pids < 0, -charge, charge)


def charges_from_pdg(pids):
    """The electric charge (units of e) of each PDG id, as an integer.

    ``three_charge_from_pdg(pids) / 3``, rounded away from zero: integral
    charges (every hadron, lepton and nucleus) are exact; a fractional
    charge, which only a quark or a diquark id carries (never a final-state
    particle), becomes the next integer away from zero (d -1/3 -> -1,
    u +2/3 -> +1, uu +4/3 -> +2), so a charge is 0 exactly when
    :func:`kinds_from_pdg` counts the id as neutral. 0 and ids the numbering
    scheme does not know give 0. Charges beyond int8 (nuclei ids with
    Z > 127, which no element has) are clipped to -127..127.

    Parameters
    ----------
    pids : array_like of int (float holding integers also accepted)

    Returns
    -------
    numpy.ndarray
        int8 (:data:`CHARGE_DTYPE`), the shape of ``pids``.

    >>> charges_from_pdg([211, 321, 2212, -11, -13, -211, 11, 13, 3112]).tolist()
    [1, 1, 1, 1, 1, -1, -1, -1, -1]
    >>> charges_from_pdg([22, 130, 2112, 0, 99999999]).tolist()
    [0, 0, 0, 0, 0]
    """
    return _charges_from_three(three_charge_from_pdg(pids))


def kinds_from_pdg(pids):
    """The particle kind code of each PDG id, as docs/recipe.md's step 6 says.

    photon 22; electron +-11; muon +-13; charged_hadron any other id of
    non-zero electric charge (:func:`three_charge_from_pdg`); neutral_hadron
    every other id, also 0 and ids the numbering scheme does not know.
    Padding is the reader's business (code 0): this never returns 0.

    Parameters
    ----------
    pids : array_like of int (float holding integers also accepted)

    Returns
    -------
    numpy.ndarray
        int8 codes of :data:`KIND_NAMES`, the shape of ``pids``.

    >>> [KIND_NAMES[k] for k in kinds_from_pdg([22, -11, 13, 211, -2212, 130, 0])]
    ['photon', 'electron', 'muon', 'charged_hadron', 'charged_hadron', 'neutral_hadron', 'neutral_hadron']
    """
    pids = np.asarray(pids)
    return _kinds_from_three(pids, three_charge_from_pdg(pids))


def kinds_and_charges_from_pdg(pids):
    """:func:`kinds_from_pdg` and :func:`charges_from_pdg` of ``pids`` at once.

    One pass over the ids' digits gives both (a reader asked for kinds and
    charges of the same rows reads and decodes its ids once).

    Returns
    -------
    kinds, charges : numpy.ndarray
        int8 each, the shape of ``pids``.

    >>> kinds, charges = kinds_and_charges_from_pdg([22, -211, 2112])
    >>> [KIND_NAMES[k] for k in kinds], charges.tolist()
    (['photon', 'charged_hadron', 'neutral_hadron'], [0, -1, 0])
    """
    pids = np.asarray(pids)
    three = three_charge_from_pdg(pids)
    return _kinds_from_three(pids, three), _charges_from_three(three)


def _kinds_from_three(pids, three):
    charged = three != 0
    if pids.dtype.kind == "f":
        pids = np.where(np.isfinite(pids) & (np.abs(pids) < 2 ** 31), pids, 0)
    ida = np.abs(pids.astype(np.int64))
    kinds = np.where(charged, KIND_CODE["charged_hadron"], KIND_CODE["neutral_hadron"])
    kinds = np.where(ida == 22, KIND_CODE["photon"], kinds)
    kinds = np.where(ida == 11, KIND_CODE["electron"], kinds)
    kinds = np.where(ida == 13, KIND_CODE["muon"], kinds)
    return kinds.astype(KIND_DTYPE)


def _charges_from_three(three):
    charges = np.sign(three) * ((np.abs(three) + 2) // 3)
    return np.clip(charges, -127, 127).astype(CHARGE_DTYPE)


def masses_from_pdg(pids):
    """The mass (GeV) of each PDG id (:data:`PDG_MASSES`, either sign; else 0).

    The masses docs/building.md gives for quark/gluon jets.

    Parameters
    ----------
    pids : array_like of int or float

    Returns
    -------
    numpy.ndarray
        float64, the shape of ``pids``.

    >>> masses_from_pdg([211, -2212, 22, 310]).tolist()
    [0.13957, 0.938272, 0.0, 0.0]
    """
    ida = np.abs(np.asarray(pids, dtype=np.float64))
    masses = np.zeros(ida.shape, np.float64)
    for pid, mass in PDG_MASSES.items():
        masses[ida == pid] = mass
    return masses


# ---------------------------------------------------------------------------
# JetClass's part_is* flags
# ---------------------------------------------------------------------------

def kinds_from_flags(is_photon, is_electron, is_muon, is_charged_hadron, is_neutral_hadron,
                     charges):
    """The particle kind code of each particle from JetClass's part_is* flags.

    The flag that is non-zero gives the kind; a particle with no flag set is a
    charged_hadron when its charge is non-zero, else a neutral_hadron (docs/recipe.md,
    step 6). A particle with several flags set has no kind: its code
    is 0 and ``several`` marks it, for the reader to refuse with its row.

    Parameters
    ----------
    is_photon, is_electron, is_muon, is_charged_hadron, is_neutral_hadron : array_like
        One flag per particle, any numeric or bool type (non-zero is set).
    charges : array_like
        Electric charge per particle (part_charge).

    Returns
    -------
    kinds : numpy.ndarray
        int8 codes of :data:`KIND_NAMES`, the shape of the flags.
    several : numpy.ndarray
        bool, True where more than one flag is set.

    >>> kinds, several = kinds_from_flags([1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 1],
    ...                                   [0, 0, 0, 0], [0, 0, 0, 0], [0, 1, 0, -1])
    >>> [KIND_NAMES[k] for k in kinds], several.tolist()
    (['photon', 'charged_hadron', 'neutral_hadron', 'none'], [False, False, False, True])
    """
    flags = (is_photon, is_electron, is_muon, is_charged_hadron, is_neutral_hadron)
    codes = ("photon", "electron", "muon", "charged_hadron", "neutral_hadron")
    charges = np.asarray(charges)
    kinds = np.where(charges != 0, KIND_CODE["charged_hadron"],
                     KIND_CODE["neutral_hadron"]).astype(KIND_DTYPE)
    n_set = np.zeros(charges.shape, np.int8)
    for flag, name in zip(flags, codes):
        flag = np.asarray(flag) != 0
        n_set += flag
        kinds[flag] = KIND_CODE[name]
    several = n_set > 1
    kinds[several] = 0
    return kinds, several
