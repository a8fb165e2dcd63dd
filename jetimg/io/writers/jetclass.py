"""Write jets in the JetClass layout (a ROOT TTree, as arXiv:2202.03772's files).

:func:`write_jetclass` writes tree "tree" through uproot's ``mktree`` (a
TTree: uproot 5.7's ``file[name] = {...}`` would write an RNTuple): jagged
part_energy, part_px, part_py, part_pz, part_charge (float32) and
part_isChargedHadron, part_isNeutralHadron, part_isPhoton, part_isElectron,
part_isMuon (int32) from one zipped awkward record ``part``, all ten label_*
branches in the released files' mixed types (label_QCD float32, label_Hbb
... label_Hqql bool, label_Zqq ... label_Tbl int32), and jet_pt, jet_eta,
jet_phi, jet_energy, jet_nparticles (float32) as the released files have.

uproot writes jagged branches with a counter branch only (``npart`` here, or
one per branch with ``counter="per-branch"``); the released files hold
``std::vector`` branches without one. Readers take the counts from the jagged
arrays, never from a counter, so both read the same.
"""

import numpy as np

from jetimg.errors import InputError
from jetimg.kinds import KIND_CODE

__all__ = ["write_jetclass", "LABEL_TYPES"]

_CLASSES = ("QCD", "Hbb", "Hcc", "Hgg", "H4q", "Hqql", "Zqq", "Wqq", "Tbqq", "Tbl")
#: the released files' type of each label branch
LABEL_TYPES = {c: (np.float32 if c == "QCD" else np.bool_ if i <= 5 else np.int32)
               for i, c in enumerate(_CLASSES)}
_FLAG_OF_KIND = {"photon": "isPhoton", "electron": "isElectron", "muon": "isMuon",
                 "charged_hadron": "isChargedHadron", "neutral_hadron": "isNeutralHadron"}


def write_jetclass(path, jets, labels, kinds=None, charges=None, tree="tree",
                   counter="npart", basket_rows=None):
    """Write jets to a ROOT file in the JetClass layout.

    Parameters
    ----------
    path : str or os.PathLike
        The ROOT file to write (replaced if it exists).
    jets : numpy.ndarray or sequence of numpy.ndarray
        (N, M, 4) zero-padded (E, px, py, pz) in GeV (all-zero slots are
        padding and are not written), or N arrays (n_i, 4) of the particles.
    labels : array_like of int
        (N,) class indices 0..9 in JetClass's order (QCD, Hbb, ..., Tbl).
    kinds : numpy.ndarray or sequence, optional
        Kind codes (:data:`jetimg.kinds.KIND_NAMES`), the layout of ``jets``
        ((N, M) or N arrays (n_i,)). Default: every particle a charged hadron.
    charges : numpy.ndarray or sequence, optional
        Charges, the layout of ``jets``. Default: +1 for charged hadrons, -1
        for electrons and muons, 0 otherwise.
    tree : str
        Name of the TTree.
    counter : str or None
        ``"npart"``: one counter branch shared by the part_* branches (as
        uproot writes a record ``part``); ``"per-branch"``: one counter per
        branch (npart_px, ...).
    basket_rows : int, optional
        Rows per basket (several ``extend`` calls); default all in one.

    Returns
    -------
    str
        ``path``.
    """
    from jetimg.io.readers.root import import_root

    uproot, ak = import_root()
    parts = _rows(jets, "jets")
    n = len(parts)
    labels = np.asarray(labels)
    if labels.shape != (n,) or n and (labels.min() < 0 or labels.max() > 9):
        raise InputError(f"labels must be {n} class indices in 0..9, got shape {labels.shape}")
    keep = [np.flatnonzero(p.any(axis=1)) if isinstance(jets, np.ndarray) else None
            for p in parts]
    kinds = (None if kinds is None else
             [k if w is None else k[w] for k, w in zip(_rows(kinds, "kinds"), keep)])
    charges = (None if charges is None else
               [c if w is None else c[w] for c, w in zip(_rows(charges, "charges"), keep)])
    parts = [p if w is None else p[w] for p, w in zip(parts, keep)]
    counts = np.array([len(p) for p in parts], np.int64)
    flat = (np.concatenate(parts).astype(np.float32) if n else np.zeros((0, 4), np.float32))
    flat_kinds = (np.full(len(flat), KIND_CODE["charged_hadron"], np.int8) if kinds is None
                  else np.concatenate(kinds).astype(np.int8))
    if len(flat_kinds) != len(flat):
        raise InputError("kinds must have one code per particle of jets")
    if charges is None:
        flat_charges = np.where(flat_kinds == KIND_CODE["charged_hadron"], 1.0,
                                np.where(np.isin(flat_kinds, (KIND_CODE["electron"],
                                                              KIND_CODE["muon"])), -1.0, 0.0))
    else:
        flat_charges = np.concatenate(charges)
    fields = {"energy": flat[:, 0], "px": flat[:, 1], "py": flat[:, 2], "pz": flat[:, 3],
              "charge": flat_charges.astype(np.float32)}
    for kind, flag in _FLAG_OF_KIND.items():
        fields[flag] = (flat_kinds == KIND_CODE[kind]).astype(np.int32)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])

    def jagged(values, lo, hi):
        a, b = offsets[lo], offsets[hi]
        return ak.unflatten(values[a:b], counts[lo:hi])

    # jet-level branches the released files also carry
    pts = np.array([np.hypot(p[:, 1].sum(), p[:, 2].sum()) for p in parts], np.float32)
    es = np.array([p[:, 0].sum() for p in parts], np.float32)
    pzs = np.array([p[:, 3].sum() for p in parts], np.float32)
    pxs = np.array([p[:, 1].sum() for p in parts], np.float32)
    pys = np.array([p[:, 2].sum() for p in parts], np.float32)
    with np.errstate(all="ignore"):
        etas = np.nan_to_num(np.arcsinh(pzs / np.where(pts > 0, pts, 1))).astype(np.float32)
    jet = {"jet_pt": pts, "jet_eta": etas, "jet_phi": np.arctan2(pys, pxs).astype(np.float32),
           "jet_energy": es, "jet_nparticles": counts.astype(np.float32)}
    label_values = {f"label_{c}": (labels == i).astype(LABEL_TYPES[c])
                    for i, c in enumerate(_CLASSES)}

    def block(lo, hi):
        if counter == "per-branch":
            data = {f"part_{k}": jagged(v, lo, hi) for k, v in fields.items()}
        else:
            data = {"part": ak.zip({k: jagged(v, lo, hi) for k, v in fields.items()})}
        data.update({k: v[lo:hi] for k, v in {**label_values, **jet}.items()})
        return data

    if counter == "per-branch":
        names = dict(counter_name=lambda branch: "n" + branch)
    elif counter == "npart":
        names = {}
    else:
        raise InputError(f"counter={counter!r}: expected 'npart' or 'per-branch' (uproot "
                         "writes jagged branches with a counter)")
    step = basket_rows or max(n, 1)
    with uproot.recreate(path) as f:
        first = block(0, min(step, n))
        t = f.mktree(tree, {k: (v.type.content if isinstance(v, ak.Array) else v.dtype)
                            for k, v in first.items()}, **names)
        t.extend(first)
        for lo in range(step, n, step):
            t.extend(block(lo, min(lo + step, n)))
    return path


def _rows(values, what):
    """A list of per-jet arrays from an (N, M, ...) array or a sequence."""
    if isinstance(values, np.ndarray):
        return list(values)
    return [np.asarray(v) for v in values]
