"""Particle kinds of constituents, as docs/recipe.md names them for image channels.

Each constituent slot gets an int8 kind code: 0 for padding (or no particle),
then one code per kind below. Readers fill them from what the input carries
(a PDG id, or JetClass's part_is* flags); inputs without particle identity
have no kinds.

>>> KIND_NAMES[KIND_CODE["photon"]]
'photon'
>>> sorted(GROUPS["charged"])
['charged_hadron', 'electron', 'muon']
"""

import numpy as np

__all__ = ["KIND_NAMES", "KIND_CODE", "GROUPS", "KIND_DTYPE", "kinds_from_flags"]

KIND_DTYPE = np.dtype(np.int8)

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
# JetClass's part_is* flags
# ---------------------------------------------------------------------------

def kinds_from_flags(is_photon, is_electron, is_muon, is_charged_hadron, is_neutral_hadron,
                     charges):
    """The particle kind code of each particle from JetClass's part_is* flags.

    The flag that is non-zero gives the kind; a particle with no flag set is a
    charged_hadron when its charge is non-zero, else a neutral_hadron (SPEC.md,
    "Input layouts"). A particle with several flags set has no kind: its code
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
