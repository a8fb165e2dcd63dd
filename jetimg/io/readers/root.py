"""JetClass ROOT files (arXiv:2202.03772), read through uproot and awkward.

``"jetclass-root"``
    A TTree ("tree", or ``key``) with jagged branches part_energy, part_px,
    part_py, part_pz (one entry per particle, no padding), the particle-kind
    branches part_charge, part_isChargedHadron, part_isNeutralHadron,
    part_isPhoton, part_isElectron, part_isMuon, and one-hot label_*
    branches. Branches are found by name; others (a counter such as npart,
    jet_sdmass, jet_tau1, aux_genpart_*) are ignored, and the particle counts
    come from the jagged arrays themselves, so the released files
    (``std::vector`` branches, no counter) and files written by uproot (a
    counter branch) read the same.

Rows are read by entry ranges, never the whole file. Every particle of a jet
is used: the source is *jagged* (``jagged = True``): :meth:`RootSource.read`
pads each window to its own largest multiplicity (:mod:`jetimg.io.readers.jagged`),
and :meth:`RootSource.read_flat` gives the particles unpadded.

Labels are class indices in JetClass's order (:data:`CLASSES`); the label
branch that is non-zero (float, bool or integer) is the class. Kinds follow
the part_is* flags (:func:`jetimg.kinds.kinds_from_flags`); charges are
part_charge as given (integral values, as int8). A file with the five flags
but no part_charge has kinds (a particle with no flag set is then refused,
its kind unknown) and no charges: ``read_charges`` refuses it. ``read_kinds``
and ``read_charges`` of the same rows read the file once: the one asked for
first keeps what the other needs.
"""

import operator
import threading

import numpy as np

from jetimg.errors import InputError
from jetimg.io.readers.jagged import jagged_width, pad_jagged, pad_jagged_values
from jetimg.io.readers.sources import JetSource, short_list
from jetimg.kinds import CHARGE_DTYPE, KIND_DTYPE, kinds_from_flags

__all__ = ["LAYOUTS", "CLASSES", "DEFAULT_TREE", "RootSource", "open_root", "import_root",
           "is_root"]

LAYOUTS = ("jetclass-root",)
DEFAULT_TREE = "tree"
#: JetClass's classes, in label order (label_QCD -> 0, ..., label_Tbl -> 9)
CLASSES = ("QCD", "Hbb", "Hcc", "Hgg", "H4q", "Hqql", "Zqq", "Wqq", "Tbqq", "Tbl")
#: the four-vector branches, in (E, px, py, pz) order
MOMENTA = ("part_energy", "part_px", "part_py", "part_pz")
#: the kind flags, in the argument order of kinds_from_flags, then the charge
FLAGS = ("part_isPhoton", "part_isElectron", "part_isMuon", "part_isChargedHadron",
         "part_isNeutralHadron")
CHARGE = "part_charge"
EXTRA = "pip install 'jetimg[root]'"


def import_root():
    """``(uproot, awkward)``, or an InputError naming the extra to install."""
    try:
        import awkward
        import uproot
    except ImportError as exc:
        raise InputError(f"reading ROOT files needs uproot and awkward ({exc.name} is "
                         f"missing): {EXTRA}") from None
    return uproot, awkward


class _Handles:
    """One uproot file per thread: reads of one file from several threads
    never share uproot's caches."""

    def __init__(self, path, key):
        self.path, self.key = path, key
        self._local = threading.local()
        self._files = []
        self._lock = threading.Lock()

    def tree(self):
        tree = getattr(self._local, "tree", None)
        if tree is None:
            uproot, _ = import_root()
            f = uproot.open(self.path, object_cache=None, array_cache=None)
            with self._lock:
                self._files.append(f)
            self._local.tree = tree = f[self.key]
        return tree

    def close(self):
        with self._lock:
            files, self._files = self._files, []
        for f in files:
            f.close()


class RootSource(JetSource):
    """JetClass jets of one ROOT file; rows padded per window (``jagged``).

    ``n_slots`` is 0: the slots of :meth:`read` are the largest multiplicity
    of the rows read, or ``max_slots`` when set and smaller.
    """

    layout = "jetclass-root"
    jagged = True
    label_names = CLASSES

    def __init__(self, path, key, n_rows, label_branches, has_kinds, max_slots=None,
                 has_charges=None):
        super().__init__(path, key, "label_*" if label_branches else None, n_rows, 0)
        self.label_branches = tuple(label_branches)
        self.has_kinds = bool(has_kinds)
        #: whether the file has part_charge (``read_charges`` needs it)
        self.has_charges = self.has_kinds if has_charges is None else bool(has_charges)
        self.max_slots = max_slots
        self._spare = None  # (start, stop, kinds and charges read) for the next call
        # the class index of each label branch read
        self._classes = np.array([CLASSES.index(b[len("label_"):]) for b in label_branches],
                                 np.int8)

    def describe(self):
        labels = (f"labels {short_list(self.label_branches, 3)}" if self.has_labels
                  else "no labels")
        slots = f"at most {self.max_slots}" if self.max_slots else "all"
        kinds = ((", particle kinds" if self.has_charges else
                  f", particle kinds (no {CHARGE}: no charges)") if self.has_kinds else "")
        return (f"{self.path}: {self.layout} '{self.key}', {self.n_rows} jets, {slots} "
                f"particles per jet (E, px, py, pz){kinds}, {labels}")

    def read(self, start, stop, out=None):
        """Read the jets (and labels) of rows ``start:stop``, padded.

        As :meth:`JetSource.read`, but M is the largest multiplicity of these
        rows (capped at ``max_slots``); ``out``, if given, must be a float32
        (stop - start, M, 4) array for that M.
        """
        offsets, p4s, labels = self.read_flat(start, stop)
        n = stop - start
        m = jagged_width(offsets)
        if out is not None and (not isinstance(out, np.ndarray) or out.dtype != np.float32
                                or out.shape != (n, m, 4) or not out.flags.c_contiguous
                                or not out.flags.writeable):
            raise InputError(f"out must be a writeable C-contiguous float32 array of shape "
                             f"{(n, m, 4)}")
        return pad_jagged(offsets, p4s, out), labels

    def read_labels(self, start, stop):
        """The labels of rows ``start:stop`` from the label_* branches alone."""
        if not self.has_labels:
            return None
        return self._labels(self._arrays(self.label_branches, start, stop), start)

    def read_flat(self, start, stop, kinds=False, charges=False):
        """The particles of rows ``start:stop``, unpadded.

        With ``kinds=True`` (a file with particle kinds) the int8 kind of
        every particle, (P,) beside ``p4s``, follows the labels; with
        ``charges=True`` its int8 charge (part_charge) follows them
        (``(offsets, p4s, labels, kinds, charges)`` with both). One read of
        the file gives them all.

        Returns
        -------
        offsets : numpy.ndarray
            int64 (n + 1,), from 0: row ``start + i`` holds
            ``p4s[offsets[i]:offsets[i + 1]]``.
        p4s : numpy.ndarray
            float32 (P, 4), (E, px, py, pz) in GeV.
        labels : numpy.ndarray or None
            int8 class indices (n,) (:data:`CLASSES`); None without labels.

        Raises
        ------
        InputError
            The window is outside the file, a row's branches disagree in
            length, a jet has no or several true labels, or a particle
            several kind flags; kinds or charges asked of a file without
            them; a part_charge that is not an integer.
        """
        if kinds and not self.has_kinds:
            super().read_kinds(start, stop)
        if charges:
            self._check_charges()
        start, stop = self._window(start, stop)
        names = (MOMENTA + (FLAGS if self.has_kinds else ())
                 + ((CHARGE,) if (kinds or charges) and self.has_charges else ())
                 + self.label_branches)
        arrays = self._arrays(names, start, stop)
        offsets, p4s = self._momenta(arrays, start)
        values = []
        if self.has_kinds:
            codes, raw, refusal = self._kinds_charges(arrays, offsets, start,
                                                      need_charge=kinds or charges)
            if refusal is not None:
                raise InputError(refusal)
            if kinds:
                values.append(codes)
            if charges:
                values.append(self._charges_int8(raw, offsets, start))
        labels = self._labels(arrays, start) if self.has_labels else None
        capped, p4s = self._capped(offsets, p4s)
        return (capped, p4s, labels, *(self._capped(offsets, v)[1] for v in values))

    def read_kinds(self, start, stop):
        """The particle kind of every slot of rows ``start:stop`` (0 for padding).

        Returns
        -------
        numpy.ndarray
            int8 (stop - start, M), M as :meth:`read` gives for these rows.
        """
        if not self.has_kinds:
            return super().read_kinds(start, stop)
        offsets, codes, _, refusal = self._kinds_charges_of(start, stop, "kinds")
        if refusal is not None:
            raise InputError(refusal)
        offsets, codes = self._capped(offsets, codes)
        return pad_jagged_values(offsets, codes)

    def read_charges(self, start, stop):
        """The electric charge of every slot of rows ``start:stop`` (0 for padding).

        part_charge as given, checked to hold integers.

        Returns
        -------
        numpy.ndarray
            int8 (stop - start, M), M as :meth:`read` gives for these rows.
        """
        self._check_charges()
        offsets, _, raw, _ = self._kinds_charges_of(start, stop, "charges")
        charges = self._charges_int8(raw, offsets, start)
        offsets, charges = self._capped(offsets, charges)
        return pad_jagged_values(offsets, charges)

    def __getstate__(self):
        state = super().__getstate__()
        state["_spare"] = None
        return state

    # -- parts --------------------------------------------------------------

    def _window(self, start, stop):
        start, stop = operator.index(start), operator.index(stop)
        if not 0 <= start <= stop <= self.n_rows:
            raise InputError(f"rows {start}:{stop} are outside [0, {self.n_rows}] "
                             f"of {self.path}")
        return start, stop

    def _open(self):
        return _Handles(self.path, self.key)

    def _close(self, handle):
        handle.close()

    def _arrays(self, names, start, stop):
        tree = self._opened().tree()
        try:
            return tree.arrays(list(names), entry_start=start, entry_stop=stop,
                               library="ak", how=dict)
        except Exception as exc:   # uproot raises many kinds for a damaged file
            raise InputError(f"cannot read rows {start}:{stop} of {self.path}: "
                             f"{type(exc).__name__}: {exc}".splitlines()[0]) from None

    def _flat(self, arrays, name, offsets, start):
        """Branch ``name`` as a flat numpy array, checked against ``offsets``."""
        ak = import_root()[1]
        a = arrays[name]
        counts = ak.to_numpy(ak.num(a, axis=1))
        bad = np.flatnonzero(counts != np.diff(offsets))
        if len(bad):
            i = int(bad[0])
            raise InputError(f"row {start + i} of {self.path}: {name} has {counts[i]} "
                             f"particles but part_energy has {offsets[i + 1] - offsets[i]}")
        return ak.to_numpy(ak.flatten(a, axis=1))

    def _momenta(self, arrays, start):
        ak = import_root()[1]
        counts = ak.to_numpy(ak.num(arrays["part_energy"], axis=1)).astype(np.int64)
        offsets = np.zeros(len(counts) + 1, np.int64)
        np.cumsum(counts, out=offsets[1:])
        p4s = np.empty((offsets[-1], 4), np.float32)
        for j, name in enumerate(MOMENTA):
            p4s[:, j] = self._flat(arrays, name, offsets, start)
        return offsets, p4s

    def _capped(self, offsets, values):
        """At most ``max_slots`` particles per row (the first ones)."""
        if not self.max_slots or jagged_width(offsets) <= self.max_slots:
            return offsets, values
        counts = np.diff(offsets)
        keep = np.arange(len(values)) - np.repeat(offsets[:-1], counts) < self.max_slots
        capped = np.zeros_like(offsets)
        np.cumsum(np.minimum(counts, self.max_slots), out=capped[1:])
        return capped, values[keep]

    def _check_charges(self):
        if not self.has_kinds:
            JetSource.read_charges(self, 0, 0)
        if not self.has_charges:
            raise InputError(f"{self.path} has no branch {CHARGE}: its particles' charges "
                             "are unknown (it has the part_is* kind flags only)")

    def _kinds_charges_of(self, start, stop, what):
        """``(offsets, kind codes, raw part_charge or None, refusal or None)`` of rows
        ``start:stop``, uncapped: kept from the last call for these rows that asked
        for the other of ``what`` ("kinds", "charges"), else read."""
        start, stop = self._window(start, stop)
        spare = self._spare
        if spare is not None and spare[:3] == (start, stop, what):
            self._spare = None
            return spare[3]
        arrays = self._arrays(("part_energy",) + FLAGS + ((CHARGE,) if self.has_charges
                                                          else ()), start, stop)
        ak = import_root()[1]
        counts = ak.to_numpy(ak.num(arrays["part_energy"], axis=1)).astype(np.int64)
        offsets = np.zeros(len(counts) + 1, np.int64)
        np.cumsum(counts, out=offsets[1:])
        got = (offsets, *self._kinds_charges(arrays, offsets, start, need_charge=True))
        other = "charges" if what == "kinds" else "kinds"
        if self.has_charges:
            self._spare = (start, stop, other, got)
        return got

    def _kinds_charges(self, arrays, offsets, start, need_charge):
        """``(kind codes, raw part_charge or None, refusal or None)`` of the particles
        of ``arrays``: the refusal is the line a read of their kinds raises (a
        particle with several flags; with ``need_charge``, one with none in a file
        without part_charge). Without ``need_charge`` (neither kinds nor charges
        asked for) part_charge is not read and the codes are only checked."""
        flags = [self._flat(arrays, b, offsets, start) for b in FLAGS]
        raw = (self._flat(arrays, CHARGE, offsets, start)
               if need_charge and self.has_charges else None)
        codes, several = kinds_from_flags(*flags, np.zeros(len(flags[0]), np.int8)
                                          if raw is None else raw)
        refusal = None
        if several.any():
            refusal = self._at(several, offsets, start,
                               f"has several kind flags set (of {', '.join(FLAGS)})")
        elif need_charge and raw is None:
            unset = ~np.any([f != 0 for f in flags], axis=0)
            if unset.any():
                refusal = self._at(unset, offsets, start,
                                   f"has no kind flag set, and without a {CHARGE} branch "
                                   "its kind (charged or neutral hadron) is unknown")
        return codes.astype(KIND_DTYPE, copy=False), raw, refusal

    def _charges_int8(self, raw, offsets, start):
        """part_charge values as int8, refusing one that is not an integer in -128..127."""
        raw = np.asarray(raw)
        if raw.dtype.kind in "iub" and raw.dtype.itemsize == 1:
            return raw.astype(CHARGE_DTYPE)
        ok = (raw >= -128) & (raw <= 127)
        if raw.dtype.kind == "f":
            ok &= np.isfinite(raw) & (np.trunc(np.where(ok, raw, 0)) == raw)
        if not ok.all():
            bad = raw[~ok][0]
            raise InputError(self._at(~ok, offsets, start,
                                      f"has {CHARGE} {bad}, not an integral charge "
                                      "(units of e)"))
        return raw.astype(CHARGE_DTYPE)

    def _at(self, mask, offsets, start, what):
        """The line naming the first particle of ``mask`` (flat), its row and the file."""
        p = int(np.flatnonzero(mask)[0])
        i = int(np.searchsorted(offsets, p, side="right")) - 1
        return f"row {start + i} of {self.path}: particle {p - offsets[i]} {what}"

    def _labels(self, arrays, start):
        ak = import_root()[1]
        true = np.stack([ak.to_numpy(arrays[b]) != 0 for b in self.label_branches], axis=1)
        n_true = true.sum(axis=1)
        bad = np.flatnonzero(n_true != 1)
        if len(bad):
            i = int(bad[0])
            which = [b for b, t in zip(self.label_branches, true[i]) if t]
            what = (f"several true labels ({', '.join(which)})" if which
                    else "no true label_* branch")
            raise InputError(f"row {start + i} of {self.path}: {what}; each jet needs "
                             "exactly one")
        return self._classes[true.argmax(axis=1)]


def open_root(path, key=None, labels_key=None, n_slots=None):
    """Check a JetClass ROOT file; return its source.

    Parameters
    ----------
    path : str
        Absolute path of the file.
    key : str, optional
        The TTree (default ``"tree"``).
    labels_key : None
        Labels come from the label_* branches; any other value is refused.
    n_slots : int, optional
        Read at most this many particles per jet (the first ones); default all.

    Returns
    -------
    RootSource

    Raises
    ------
    InputError
        uproot/awkward are missing, the file is not ROOT, has no such tree,
        or lacks branches.
    """
    uproot, _ = import_root()
    key = DEFAULT_TREE if key is None else str(key)
    if labels_key is not None:
        raise InputError(f"labels_key={labels_key!r}: a JetClass ROOT file's labels are "
                         "its label_* branches (leave labels_key unset)")
    try:
        f = uproot.open(path, object_cache=None, array_cache=None)
    except Exception as exc:
        raise InputError(f"{path} is not a readable ROOT file: "
                         f"{type(exc).__name__}: {exc}".splitlines()[0]) from None
    with f:
        try:
            classes = f.classnames(cycle=False)
        except Exception as exc:
            raise InputError(f"{path} is not a readable ROOT file: "
                             f"{type(exc).__name__}: {exc}".splitlines()[0]) from None
        trees = [name for name, cls in classes.items() if cls == "TTree"]
        if key not in classes or classes[key] != "TTree":
            what = (f"'{key}' is a {classes[key]}, not a TTree" if key in classes
                    else f"no tree '{key}'")
            hint = "; pass key= to pick one" if trees else ""
            rntuples = [name for name, cls in classes.items() if cls == "ROOT::RNTuple"]
            if rntuples and not trees:
                held = [f"'{n}'" for n in rntuples if n != key]
                held = f"; it holds the RNTuple {short_list(held)}" if held else ""
                hint = (f"{held}: jetimg reads TTrees only (write the jets as a TTree, "
                        "e.g. with uproot's mktree)")
            raise InputError(f"{what} in {path} (trees found: {short_list(trees)}){hint}")
        tree = f[key]
        branches = set(tree.keys())
        missing = [b for b in MOMENTA if b not in branches]
        kinds = [b for b in FLAGS + (CHARGE,) if b in branches]
        if kinds:   # the flags give the kinds; part_charge (the charges) may lack
            missing += [b for b in FLAGS if b not in branches]
        if missing:
            raise InputError(f"tree '{key}' of {path} lacks the JetClass branches "
                             f"{', '.join(missing)}")
        for b in MOMENTA + tuple(kinds):
            _check_jagged(tree[b], uproot, path)
        label_branches = [f"label_{c}" for c in CLASSES if f"label_{c}" in branches]
        for b in label_branches:
            _check_scalar(tree[b], uproot, path)
        return RootSource(path, key, tree.num_entries, label_branches, bool(kinds), n_slots,
                          has_charges=CHARGE in branches)


def _check_jagged(branch, uproot, path):
    interp = branch.interpretation
    content = getattr(interp, "content", None)
    if not isinstance(interp, uproot.AsJagged) or not isinstance(content, uproot.AsDtype) \
            or np.dtype(content.to_dtype).kind not in "fiub":
        raise InputError(f"branch {branch.name} of {path} is {branch.typename}, expected a "
                         "jagged list of numbers per jet (std::vector<float> or float[n])")


def _check_scalar(branch, uproot, path):
    interp = branch.interpretation
    if not isinstance(interp, uproot.AsDtype) or np.dtype(interp.to_dtype).kind not in "fiub" \
            or np.dtype(interp.to_dtype).shape:
        raise InputError(f"branch {branch.name} of {path} is {branch.typename}, expected one "
                         "number (float, int or bool) per jet")


def is_root(head):
    """Whether the first bytes of a file are ROOT's magic."""
    return head.startswith(b"root")

