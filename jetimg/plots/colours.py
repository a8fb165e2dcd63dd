"""One colour per class, the same in every figure (kinematics, scores, ROC curves).

Colours follow the class *name* (a store's ``label_names``), not its label
value, so a top jet is red whether it is label 1 of a top-tagging store or
label 8 (Tbqq) of a JetClass store, and QCD is blue in both. The palette is
Petroff's ten-colour sequence (arXiv:2107.02270; matplotlib's "petroff10"
style), chosen to stay apart for colour-blind readers; JetClass's ten
classes take all ten.

Names not in :data:`CLASS_COLOURS` take the palette's colours that the known
names of the same class list leave free, in label order; give every figure of
a store the same full list (its ``label_names``) so that they agree.

>>> colours = class_colours(["QCD", "top"])
>>> colours["QCD"], colours["top"]
('#3f90da', '#bd1f01')
>>> len(set(class_colours(JETCLASS_NAMES).values()))
10
>>> class_colours(["QCD", "signal"])["signal"]  # the first colour QCD leaves free
'#ffa90e'
"""

__all__ = ["PALETTE", "CLASS_COLOURS", "JETCLASS_NAMES", "ALL_JETS_COLOUR", "class_colours",
           "class_colour"]

#: Petroff's ten colours (matplotlib's "petroff10").
PALETTE = ("#3f90da", "#ffa90e", "#bd1f01", "#94a4a2", "#832db6",
           "#a96b59", "#e76300", "#b9ac70", "#717581", "#92dadd")

#: JetClass's classes in label order (as jetimg.io.readers.root.CLASSES).
JETCLASS_NAMES = ("QCD", "Hbb", "Hcc", "Hgg", "H4q", "Hqql", "Zqq", "Wqq", "Tbqq", "Tbl")

#: Class name -> colour: JetClass's ten classes one palette colour each (QCD
#: blue, Tbqq red, Hbb to H4q yellow to brown); top-tagging's top shares
#: Tbqq's red, gluon and quark are orange and purple.
CLASS_COLOURS = {
    "QCD": PALETTE[0], "Hbb": PALETTE[1], "Hcc": PALETTE[6], "Hgg": PALETTE[7],
    "H4q": PALETTE[5], "Hqql": PALETTE[9], "Zqq": PALETTE[4], "Wqq": PALETTE[3],
    "Tbqq": PALETTE[2], "Tbl": PALETTE[8],
    "top": PALETTE[2], "gluon": PALETTE[6], "quark": PALETTE[4],
}

#: The colour of "all jets" (a store without labels, or ``by_label=False``).
ALL_JETS_COLOUR = "#222222"


def class_colours(names):
    """Class name -> colour for every name of ``names`` (a store's label_names, in order).

    Known names (:data:`CLASS_COLOURS`) keep their colour; the others take,
    in order, the :data:`PALETTE` colours the known names of ``names`` leave
    free, then the palette again.

    Parameters
    ----------
    names : sequence of str
        All class names of the store, in label order (not only those drawn),
        so that every figure of the store gives a class the same colour.

    Returns
    -------
    dict of str -> str
        Colours as ``#rrggbb`` strings.
    """
    names = [str(n) for n in names]
    out = {n: CLASS_COLOURS[n] for n in names if n in CLASS_COLOURS}
    if "all jets" in names:
        out["all jets"] = ALL_JETS_COLOUR
    free = [c for c in PALETTE if c not in out.values()] or list(PALETTE)
    unknown = [n for n in dict.fromkeys(names) if n not in out]
    for i, name in enumerate(unknown):
        out[name] = free[i] if i < len(free) else PALETTE[(i - len(free)) % len(PALETTE)]
    return out


def class_colour(name, names=None):
    """The colour of class ``name`` among ``names`` (default: ``name`` alone).

    >>> class_colour("Tbqq") == class_colour("top")
    True
    """
    names = [name] if names is None else list(names)
    if str(name) not in map(str, names):
        names.append(name)
    return class_colours(names)[str(name)]
