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

__all__ = ["KIND_NAMES", "KIND_CODE", "GROUPS", "KIND_DTYPE"]

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
