"""Per-particle electric charges from every reader with particle kinds (SPEC Step 7).

``source.read_charges(start, stop)`` and, for jagged sources,
``read_flat(..., kinds=True, charges=True)``: held slot by slot against the
charges written into real files of each layout (.npy, HDF5 and Zarr arrays
with PDG ids beside them, EnergyFlow quark/gluon .npz, JetClass ROOT written
with uproot's mktree, several files as one input), and
:func:`jetimg.kinds.charges_from_pdg` against a table of known particles and a
slow per-id reading of the PDG numbering scheme.
"""

import pickle
from fractions import Fraction

import h5py
import numpy as np
import pytest
import zarr

from jetimg.errors import InputError
from jetimg.io import open_jets
from jetimg.io.readers.multi import open_inputs
from jetimg.io.writers.jetclass import write_jetclass
from jetimg.io.writers.qg import toy_qg, write_qg
from jetimg.kinds import KIND_CODE, charges_from_pdg, kinds_from_pdg

from .helpers import invoke, one_line

# ---------------------------------------------------------------------------
# charges_from_pdg
# ---------------------------------------------------------------------------

#: (id, charge) of particles whose charge the PDG Review gives; each also enters
#: as its antiparticle (-id, -charge)
KNOWN = {
    # leptons and bosons
    11: -1, 12: 0, 13: -1, 14: 0, 15: -1, 16: 0, 22: 0, 23: 0, 24: 1, 25: 0,
    # light mesons
    111: 0, 211: 1, 113: 0, 213: 1, 221: 0, 223: 0, 331: 0, 333: 0, 311: 0, 321: 1,
    313: 0, 323: 1, 130: 0, 310: 0, 10213: 1, 20213: 1, 10323: 1, 225: 0, 215: 1,
    100211: 1, 9000211: 1, 9010221: 0,
    # heavy mesons
    411: 1, 421: 0, 413: 1, 423: 0, 431: 1, 433: 1, 443: 0, 511: 0, 521: 1, 513: 0,
    523: 1, 531: 0, 541: 1, 553: 0, 100443: 0,
    # baryons
    2212: 1, 2112: 0, 2224: 2, 2214: 1, 2114: 0, 1114: -1, 3122: 0, 3222: 1, 3212: 0,
    3112: -1, 3322: 0, 3312: -1, 3334: -1, 3224: 1, 3114: -1, 4122: 1, 4222: 2,
    4212: 1, 4112: 0, 4232: 1, 4132: 0, 4332: 0, 5122: 0, 5222: 1, 5112: -1, 5132: -1,
    5232: 0, 5332: -1, 4444: 2, 5554: -1,
    # nuclei (10LZZZAAAI)
    1000010020: 1, 1000010030: 1, 1000020030: 2, 1000020040: 2, 1000060120: 6,
    1000080160: 8, 1000260560: 26, 1000822080: 82, 1000922380: 92, 1010010030: 1,
    # 0 and ids the numbering scheme does not know
    0: 0, 10: 0, 19: 0, 99: 0, 12345678: 0, 99999999: 0, 123456789012: 0, 2000010020: 0,
}

#: the SPEC's own examples (Step 7, `charge`)
SPEC_EXAMPLES = {211: 1, 321: 1, 2212: 1, -11: 1, -13: 1, -211: -1, 11: -1, 13: -1,
                 3112: -1, 22: 0, 130: 0, 2112: 0, 0: 0}

_QUARK = {1: Fraction(-1, 3), 2: Fraction(2, 3), 3: Fraction(-1, 3), 4: Fraction(2, 3),
          5: Fraction(-1, 3), 6: Fraction(2, 3)}
_LEPTON = {11: -1, 12: 0, 13: -1, 14: 0, 15: -1, 16: 0, 17: -1, 18: 0}
_BOSON = {21: 0, 22: 0, 23: 0, 24: 1, 25: 0, 37: 1}


def slow_charge(pid):
    """The charge of one PDG id read digit by digit from the numbering scheme
    (PDG Review, "Monte Carlo particle numbering scheme"), as a Fraction; a
    fractional charge rounded away from zero as charges_from_pdg documents."""
    a, sign = abs(int(pid)), (-1 if pid < 0 else 1)
    digit = [(a // 10 ** k) % 10 for k in range(12)]   # digit[0] = nj, ..., digit[9] = n10
    nj, nq3, nq2, nq1 = digit[0], digit[1], digit[2], digit[3]
    if a // 10 ** 9 == 1 and a < 10 ** 10:            # 10LZZZAAAI
        z, n_a = (a // 10_000) % 1000, (a // 10) % 1000
        charge = Fraction(z) if n_a >= z else Fraction(0)
    elif a < 10 ** 7 and 1 <= a <= 6:
        charge = _QUARK[a]
    elif a in _LEPTON or a in _BOSON:
        charge = Fraction({**_LEPTON, **_BOSON}[a])
    elif a >= 10 ** 7 or a <= 100 or nj == 0:
        charge = Fraction(0)                          # unknown, K0L / K0S style
    elif nq1 == 0 and nq2 and nq3:                     # meson q qbar, nq2 >= nq3
        up_type = nq2 % 2 == 0
        charge = (_QUARK[nq2] - _QUARK[nq3]) if up_type else (_QUARK[nq3] - _QUARK[nq2])
        if nq2 == nq3:
            charge = Fraction(0)
    elif nq1 and nq2 and nq3:                          # baryon
        charge = _QUARK[nq1] + _QUARK[nq2] + _QUARK[nq3]
    elif nq1 and nq2 and nq3 == 0:                     # diquark
        charge = _QUARK[nq1] + _QUARK[nq2]
    else:
        charge = Fraction(0)
    charge *= sign
    whole = abs(charge.numerator) // charge.denominator
    if whole * charge.denominator != abs(charge.numerator):
        whole += 1                                     # away from zero
    return int(whole) * (1 if charge >= 0 else -1)


def scheme_ids():
    """A few hundred ids: mesons and baryons of every light and heavy flavour in
    several spins and excitations, quarks, diquarks, leptons, nuclei, unknowns."""
    ids = set()
    for q2 in range(1, 6):
        for q3 in range(1, q2 + 1):
            for nj in (1, 3, 5):
                for extra in (0, 10000, 20000, 100000):
                    ids.add(extra + 100 * q2 + 10 * q3 + nj)
    for q1 in range(1, 6):
        for q2 in range(1, q1 + 1):
            for q3 in range(1, q2 + 1):
                for nj in (2, 4):
                    ids.add(1000 * q1 + 100 * q2 + 10 * q3 + nj)
            ids.add(1000 * q1 + 100 * q2 + 3)                    # diquarks
    ids |= set(range(1, 7)) | set(_LEPTON) | {21, 22, 23, 24, 25, 37}
    for z in (1, 2, 6, 26, 79, 82, 92):
        ids.add(1_000_000_000 + 10_000 * z + 10 * (2 * z + 1))
    ids |= {0, 10, 99, 100, 110, 12345678, 99999999, 10_000_000_000, 2_000_010_020}
    ids = np.array(sorted(ids), np.int64)
    return np.concatenate([ids, -ids[ids > 0]])


def test_spec_examples_and_known_particles():
    ids = np.array(list(SPEC_EXAMPLES))
    assert charges_from_pdg(ids).tolist() == list(SPEC_EXAMPLES.values())
    ids = np.array(list(KNOWN), np.int64)
    want = np.array(list(KNOWN.values()))
    for sign in (1, -1):
        got = charges_from_pdg(sign * ids)
        assert got.dtype == np.int8
        bad = {int(i): (int(g), int(w)) for i, g, w in zip(sign * ids, got, sign * want)
               if g != w}
        assert not bad, bad


def test_against_slow_per_id_reading():
    ids = scheme_ids()
    assert len(ids) > 300
    slow = np.array([slow_charge(i) for i in ids])
    got = charges_from_pdg(ids)
    bad = {int(i): (int(g), int(w)) for i, g, w in zip(ids, got, slow) if g != w}
    assert not bad, bad
    # every family is present, charges of both signs and of size 2
    assert {-2, -1, 0, 1, 2} <= set(slow.tolist())
    # floats holding integers read as the integers; the shape is kept
    assert (charges_from_pdg(ids.astype(np.float64)) == got).all()
    assert charges_from_pdg(ids[:12].reshape(3, 4)).shape == (3, 4)


def test_charge_and_kind_agree():
    """A charge is 0 exactly when the kind is neutral (photon, neutral hadron)."""
    ids = scheme_ids()
    neutral = np.isin(kinds_from_pdg(ids), (KIND_CODE["photon"], KIND_CODE["neutral_hadron"]))
    assert ((charges_from_pdg(ids) == 0) == neutral).all()


def test_fractional_charges_round_away_from_zero():
    # d, u, s, c, b, t; ud_0 diquark (1/3), uu_1 (4/3), dd_1 (-2/3)
    assert charges_from_pdg([1, 2, 3, 4, 5, 6, -1, -2]).tolist() == [-1, 1, -1, 1, -1, 1, 1, -1]
    assert charges_from_pdg([2101, 2203, 1103]).tolist() == [1, 2, -1]


# ---------------------------------------------------------------------------
# plain arrays with PDG ids, quark/gluon .npz
# ---------------------------------------------------------------------------

IDS = np.array([22, 211, -211, 321, -321, 2212, -2212, 2112, 130, 310, 11, -11, 13, -13,
                3112, 3222, 1000020040, 0, 99999999])


def toy_arrays(n, m, seed):
    """Jets (N, M, 4) with padding at the end of each row (and one empty row), PDG
    ids on every slot (padding too), and the charges each slot must read as."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, m + 1, n)
    counts[0], counts[-1] = m, 0
    jets = np.zeros((n, m, 4), np.float32)
    pid = rng.choice(IDS, size=(n, m)).astype(np.int64)
    for i, c in enumerate(counts):
        p = rng.normal(0, 10, (c, 3))
        jets[i, :c, 1:] = p
        jets[i, :c, 0] = np.linalg.norm(p, axis=1) + 0.5
    want = np.array([[KNOWN[abs(int(p))] * (1 if p >= 0 else -1) for p in row] for row in pid],
                    np.int8)
    want[(jets == 0).all(axis=-1)] = 0
    assert (pid[(jets == 0).all(axis=-1)] != 0).any()   # ids on padding read as 0
    return jets, pid, want


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plain")
    jets, pid, want = toy_arrays(90, 12, seed=4)
    np.save(folder / "jets.npy", jets)
    np.save(folder / "pid.npy", pid)
    with h5py.File(folder / "arrays.h5", "w") as f:
        f.create_dataset("jets", data=jets)
        f.create_dataset("pid", data=pid.astype(np.int32))
    group = zarr.open_group(str(folder / "jets.zarr"), mode="w")
    group.create_array("jets", data=jets, chunks=(32, 12, 4))
    group.create_array("pid", data=pid)
    sources = {"npy": lambda: open_jets(folder / "jets.npy", pid_key=str(folder / "pid.npy")),
               "hdf5": lambda: open_jets(folder / "arrays.h5", key="jets"),
               "zarr": lambda: open_jets(folder / "jets.zarr")}
    return folder, jets, pid, want, sources


@pytest.mark.parametrize("layout", ["npy", "hdf5", "zarr"])
def test_plain_arrays_with_pid(plain, layout):
    _, jets, _, want, sources = plain
    with sources[layout]() as src:
        assert src.has_kinds
        for a, b in ((0, 90), (5, 37), (37, 37), (89, 90)):
            charges = src.read_charges(a, b)
            assert charges.dtype == np.int8 and charges.shape == (b - a, 12)
            assert (charges == want[a:b]).all()
            # the same rows and slots as the kinds; either order of the two calls
            kinds = src.read_kinds(a, b)
            assert ((kinds == 0) == (jets[a:b] == 0).all(axis=-1)).all()
            assert (src.read_charges(a, b) == want[a:b]).all()
        with pytest.raises(InputError, match="outside"):
            src.read_charges(80, 91)
        src.read_kinds(0, 90)
        again = pickle.loads(pickle.dumps(src))     # what a read kept does not travel
        assert "_pid_spare" not in again.__dict__
        assert (again.read_charges(0, 90) == want).all()


def test_pid_reads_of_one_window_share_one_read(plain):
    """read_kinds then read_charges of one window read the ids once: a file
    changed between the two calls is not seen by the second, but is by a
    call for other rows."""
    folder, jets, pid, want, _ = plain
    np.save(folder / "pid2.npy", pid)
    src = open_jets(folder / "jets.npy", pid_key=str(folder / "pid2.npy"))
    kinds = src.read_kinds(0, 30)
    np.save(folder / "pid2.npy", np.full_like(pid, 11))
    assert (src.read_charges(0, 30) == want[:30]).all()
    assert (src.read_kinds(0, 30) != kinds).any()    # read again: electrons now
    valid = ~(jets[30:60] == 0).all(axis=-1)
    assert (src.read_charges(30, 60)[valid] == -1).all()


def test_qg_npz(tmp_path):
    X, y = toy_qg(40, seed=5)
    X[3, 0, 3] = 3112.0                    # a Sigma-: -1
    X[4, 0, 3] = 1000020040.0              # an alpha particle: +2
    for compressed in (True, False):
        path = tmp_path / f"qg_{compressed}.npz"
        write_qg(path, X, y, compressed=compressed)
        want = charges_from_pdg(X[..., 3])
        want[(X == 0).all(axis=-1)] = 0
        assert want[3, 0] == -1 and want[4, 0] == 2 and (want == 1).any()
        with open_jets(path) as src:
            src.read(0, 20)
            assert (src.read_charges(0, 20) == want[:20]).all()  # from the ids just read
            assert (src.read_charges(10, 40) == want[10:40]).all()  # read again
            assert (src.read_kinds(10, 40) == kinds_from_pdg(X[10:40, :, 3])
                    * ~(X[10:40] == 0).all(axis=-1)).all()
            assert src.read_charges(7, 7).shape == (0, X.shape[1])


def test_no_kinds_refused_in_one_line(tmp_path):
    jets, _, _ = toy_arrays(5, 3, seed=1)
    np.save(tmp_path / "jets.npy", jets)
    src = open_jets(tmp_path / "jets.npy")
    assert not src.has_kinds
    with pytest.raises(InputError) as info:
        src.read_charges(0, 5)
    message = str(info.value)
    assert "\n" not in message and "charges" in message and "jets.npy" in message
    with pytest.raises(InputError, match=r"\(kinds\)"):
        src.read_kinds(0, 5)


# ---------------------------------------------------------------------------
# several plain files as one input
# ---------------------------------------------------------------------------

def test_several_files_of_different_m(tmp_path):
    (j1, p1, w1), (j2, p2, w2) = toy_arrays(20, 5, seed=7), toy_arrays(15, 9, seed=8)
    for name, jets, pid in (("a", j1, p1), ("b", j2, p2)):
        np.save(tmp_path / f"{name}.npy", jets)
        np.save(tmp_path / f"{name}_pid.npy", pid)
    for name, jets, pid in (("a", j1, p1), ("b", j2, p2)):
        with h5py.File(tmp_path / f"{name}.h5", "w") as f:
            f.create_dataset("jets", data=jets)
            f.create_dataset("pid", data=pid)
    want = np.zeros((35, 9), np.int8)
    want[:20, :5], want[20:] = w1, w2
    src = open_inputs(str(tmp_path / "*.h5"), key="jets")
    assert src.n_slots == 9 and src.has_kinds
    for a, b in ((0, 35), (15, 25), (20, 20), (21, 35)):
        charges = src.read_charges(a, b)
        assert charges.dtype == np.int8 and charges.shape == (b - a, 9)
        assert (charges == want[a:b]).all()
        kinds, padding = src.read_kinds(a, b), (src.read(a, b)[0] == 0).all(axis=-1)
        assert ((kinds == 0) == padding).all() and (charges[padding] == 0).all()
    # a file without ids among them: refused, naming it
    np.save(tmp_path / "c.npy", j1)
    with h5py.File(tmp_path / "c.h5", "w") as f:
        f.create_dataset("jets", data=j1)
    mixed = open_inputs([tmp_path / "a.h5", tmp_path / "c.h5"], key="jets")
    with pytest.raises(InputError) as info:
        mixed.read_charges(0, 30)
    assert "\n" not in str(info.value) and "c.h5" in str(info.value)
    assert "charges" in str(info.value)


# ---------------------------------------------------------------------------
# JetClass ROOT
# ---------------------------------------------------------------------------

def toy_jetclass(n, seed, max_count=9):
    """Jagged jets (a list of (n_i, 4)), labels, kinds and charges (-1 or +1 for
    charged hadrons, electrons and muons, 0 for photons and neutral hadrons)."""
    rng = np.random.default_rng(seed)
    jets, kinds, charges = [], [], []
    for i in range(n):
        c = int(rng.integers(0, max_count + 1)) if i else max_count
        p = rng.normal(0, 10, (c, 3))
        jets.append(np.column_stack([np.linalg.norm(p, axis=1) + 0.5, p]).astype(np.float32))
        k = rng.choice([KIND_CODE[n] for n in ("photon", "electron", "muon", "charged_hadron",
                                               "neutral_hadron")], c).astype(np.int8)
        q = np.where(np.isin(k, (KIND_CODE["photon"], KIND_CODE["neutral_hadron"])), 0,
                     rng.choice([-1, 1], c)).astype(np.float32)
        kinds.append(k)
        charges.append(q)
    return jets, rng.integers(0, 10, n), kinds, charges


def padded(rows, m, dtype):
    out = np.zeros((len(rows), m), dtype)
    for i, r in enumerate(rows):
        out[i, :len(r)] = r
    return out


@pytest.fixture(scope="module")
def jetclass(tmp_path_factory):
    folder = tmp_path_factory.mktemp("jetclass")
    made = {}
    for name, n, seed, m in (("a", 30, 1, 9), ("b", 25, 2, 14)):
        jets, labels, kinds, charges = toy_jetclass(n, seed, max_count=m)
        path = str(folder / f"{name}.root")
        write_jetclass(path, jets, labels, kinds=kinds, charges=charges, basket_rows=11)
        made[name] = (path, jets, kinds, charges)
    return made


def test_jetclass_read_charges_and_read_flat(jetclass):
    path, jets, kinds, charges = jetclass["a"]
    src = open_jets(path)
    assert src.jagged and src.has_kinds
    flat_q = np.concatenate(charges).astype(np.int8)
    assert (flat_q == 1).any() and (flat_q == -1).any() and (flat_q == 0).any()
    for a, b in ((0, 30), (3, 17), (12, 12), (29, 30)):
        m = max([len(j) for j in jets[a:b]] + [1])
        got = src.read_charges(a, b)
        assert got.dtype == np.int8 and got.shape == (b - a, m)
        assert (got == padded(charges[a:b], m, np.int8)).all()
        assert src.read_kinds(a, b).shape == got.shape == src.read(a, b)[0].shape[:2]
        offsets, p4s, labels, flat_kinds, flat_charges = src.read_flat(a, b, kinds=True,
                                                                      charges=True)
        assert flat_charges.dtype == np.int8 and flat_charges.shape == (len(p4s),)
        want_q = (np.concatenate(charges[a:b]) if b > a else np.zeros(0)).astype(np.int8)
        assert (flat_charges == want_q).all()
        assert (flat_kinds == np.concatenate(kinds[a:b] or [np.zeros(0, np.int8)])).all()
        # charges=False keeps the values of before; charges alone follow the labels
        plain = src.read_flat(a, b)
        assert len(plain) == 3 and (plain[1] == p4s).all()
        assert len(src.read_flat(a, b, kinds=True)) == 4
        *_, only = src.read_flat(a, b, charges=True)
        assert (only == want_q).all()


def test_jetclass_max_slots_caps_charges(jetclass):
    path, jets, _, charges = jetclass["a"]
    src = open_jets(path, n_slots=4)
    got = src.read_charges(0, 30)
    assert got.shape == (30, 4)
    assert (got == padded([q[:4] for q in charges], 4, np.int8)).all()
    *_, flat_charges = src.read_flat(0, 30, kinds=True, charges=True)
    assert (flat_charges == np.concatenate([q[:4] for q in charges]).astype(np.int8)).all()


def test_jetclass_several_files(jetclass):
    (pa, ja, _, qa), (pb, jb, _, qb) = jetclass["a"][:4], jetclass["b"][:4]
    src = open_inputs([pa, pb])
    jets, charges = ja + jb, qa + qb
    for a, b in ((0, 55), (25, 40), (30, 55)):
        m = max(len(j) for j in jets[a:b])
        got = src.read_charges(a, b)
        assert got.shape == (b - a, m) and (got == padded(charges[a:b], m, np.int8)).all()
        *_, flat_kinds, flat_charges = src.read_flat(a, b, kinds=True, charges=True)
        assert (flat_charges == np.concatenate(charges[a:b]).astype(np.int8)).all()
        assert len(flat_kinds) == len(flat_charges)


def _rewrite(path, out, change):
    """``path``'s tree rewritten to ``out`` after ``change(arrays)`` (a dict)."""
    import awkward as ak
    import uproot

    with uproot.open(path) as f:
        a = f["tree"].arrays(filter_name=["part_*", "label_*"], how=dict)
    change(a)
    parts = {k[len("part_"):]: v for k, v in a.items() if k.startswith("part_")}
    rest = {k: v for k, v in a.items() if not k.startswith("part_")}
    with uproot.recreate(out) as f:
        f.mktree("tree", {"part": ak.zip(parts).type.content, **{k: v.type.content
                                                                 for k, v in rest.items()}})
        f["tree"].extend({"part": ak.zip(parts), **rest})
    return str(out)


def test_jetclass_refusals_in_one_line(jetclass, tmp_path):
    import awkward as ak

    path = jetclass["a"][0]

    def half(a):
        q = ak.to_list(a["part_charge"])
        q[6][1] = 0.5
        a["part_charge"] = ak.values_astype(ak.Array(q), np.float32)

    src = open_jets(_rewrite(path, tmp_path / "half.root", half))
    for read in (lambda: src.read_charges(0, 30),
                 lambda: src.read_flat(2, 10, kinds=True, charges=True)):
        with pytest.raises(InputError) as info:
            read()
        message = str(info.value)
        assert "\n" not in message and "half.root" in message and "part_charge" in message
        assert "row 6 " in message and "particle 1 " in message and "0.5" in message
    src.read_kinds(0, 30)                       # kinds do not need integral charges
    assert src.read_flat(0, 30, kinds=True)[3].shape == (sum(len(j) for j in
                                                             jetclass["a"][1]),)

    def drop(a):
        del a["part_charge"]

    src = open_jets(_rewrite(path, tmp_path / "nocharge.root", drop))
    assert src.has_kinds and not src.has_charges and "no part_charge" in src.describe()
    assert src.read(0, 30)[0].shape[0] == 30
    for read in (lambda: src.read_charges(0, 30),
                 lambda: src.read_flat(0, 30, kinds=True, charges=True),
                 lambda: src.read_flat(0, 30, charges=True)):
        with pytest.raises(InputError) as info:
            read()
        message = str(info.value)
        assert "\n" not in message and "nocharge.root" in message and "part_charge" in message
    # kinds without part_charge: the flags give them; a particle with no flag is refused
    kinds = src.read_kinds(0, 30)
    assert (kinds == padded(jetclass["a"][2], kinds.shape[1], np.int8)).all()

    def no_flag(a):
        for name in ("part_charge", "part_isChargedHadron"):
            a.pop(name, None)
        a["part_isChargedHadron"] = ak.values_astype(a["part_isMuon"] * 0, np.int32)

    src = open_jets(_rewrite(path, tmp_path / "noflag.root", no_flag))
    with pytest.raises(InputError) as info:
        src.read_kinds(0, 30)
    assert "\n" not in str(info.value) and "no kind flag set" in str(info.value)
    assert len(src.read_flat(0, 30)) == 3        # neither kinds nor charges: read as before


def test_jetclass_without_kinds_refuses_charges(jetclass, tmp_path):
    path = jetclass["a"][0]

    def strip(a):
        for name in list(a):
            if name.startswith("part_is") or name == "part_charge":
                del a[name]

    src = open_jets(_rewrite(path, tmp_path / "bare.root", strip))
    assert not src.has_kinds
    for read in (lambda: src.read_charges(0, 3),
                 lambda: src.read_flat(0, 3, charges=True)):
        with pytest.raises(InputError) as info:
            read()
        assert "\n" not in str(info.value) and "charges" in str(info.value)
        assert "bare.root" in str(info.value)


def test_jetclass_flags_without_part_charge_through_the_command(jetclass, tmp_path):
    """A file with the part_is* flags and no part_charge builds kind channels;
    one where a particle has no flag set is refused in one line, nothing written."""
    import awkward as ak

    path = jetclass["a"][0]

    def drop(a):
        del a["part_charge"]

    def no_flag(a):
        del a["part_charge"]
        a["part_isChargedHadron"] = ak.values_astype(a["part_isMuon"] * 0, np.int32)

    flags_only = _rewrite(path, tmp_path / "flags.root", drop)
    out = tmp_path / "flags.zarr"
    result = invoke("build", flags_only, "--channels", "charged_pt,neutral_pt", "-o", out)
    assert result.exit_code == 0, result.output
    with_charge = tmp_path / "charge.zarr"
    assert invoke("build", path, "--channels", "charged_pt,neutral_pt",
                  "-o", with_charge).exit_code == 0
    a, b = zarr.open_group(str(out), mode="r"), zarr.open_group(str(with_charge), mode="r")
    assert (a["images"][:] == b["images"][:]).all() and a["images"][:].any()

    bad = _rewrite(path, tmp_path / "noflag.root", no_flag)
    line = one_line(invoke("build", bad, "--channels", "charged_pt,neutral_pt",
                           "-o", tmp_path / "bad.zarr"))
    assert "noflag.root" in line and "no kind flag set" in line and "part_charge" in line
    assert not (tmp_path / "bad.zarr").exists()
