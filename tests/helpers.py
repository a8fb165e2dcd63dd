"""Helpers and constants shared by the test modules (no test module imports another).

* kernels: ``l1`` (per-image distance), ``OPTION_MATRIX`` (the recipe options
  every kernel is held to), ``assert_same`` (the CUDA twin against the CPU);
* builds and the command line: the input files of every SPEC.md layout
  (``shared_inputs``, written once per session; the ``inputs`` fixture of
  tests/conftest.py), store reading and bit-for-bit comparisons.

tests/reference.py is the float64 reference; this module holds no reference.
"""

import dataclasses
import hashlib
import itertools
import json
import os
import pathlib

import h5py
import numpy as np
import pytest

import jetimg
from jetimg.recipe import Recipe
from jetimg.toys import toy_jets, write_toptag

# ---------------------------------------------------------------------------
# kernels
# ---------------------------------------------------------------------------

#: Recipe options the CPU kernel (against tests/reference.py) and the CUDA twin
#: (against the CPU kernel) are held to, one case each.
OPTION_MATRIX = [
    dict(center=c, rotate=r, flip=f)
    for c, r, f in itertools.product(("centroid", "jet", "leading"), (True, False), (True, False))
] + [
    dict(intensity="e"),
    dict(normalise="max"),
    dict(normalise="none"),
    dict(threshold=2.0),
    dict(threshold=5.0, normalise="none"),
    dict(npix=33, pixel_size=(0.02, 0.025)),
    dict(npix=64, pixel_size=0.01, intensity="e", normalise="max", center="leading"),
    dict(npix=1, pixel_size=(2.0, 2.0)),
]


#: particles against the reference: float32 storage of float64 features
PARTICLE_RTOL, PARTICLE_ATOL = 2e-5, 2e-5


def toy_kinds(jets, seed):
    """Random kind codes 1-5 of the valid slots of ``jets``, and charges
    consistent with them: (kinds, charges), (N, M) int8 each."""
    rng = np.random.default_rng(seed)
    present = (jets != 0).any(axis=2)
    kinds = np.where(present, rng.integers(1, 6, jets.shape[:2]), 0).astype(np.int8)
    sign = rng.choice(np.array([-1, 1], np.int8), jets.shape[:2])
    charged = np.isin(kinds, [2, 3, 4])      # electron, muon, charged_hadron
    return kinds, np.where(charged, sign, 0).astype(np.int8)


def option_id(options):
    """A test id of one OPTION_MATRIX case: ``center=jet,rotate=True,...``."""
    return ",".join(f"{k}={v}" for k, v in options.items())


def l1(a, b):
    """Per-image L1 distance of two image stacks (N, npix, npix)."""
    return np.abs(a.astype(np.float64) - b.astype(np.float64)).sum(axis=(1, 2))


#: The float32 per-jet quantities of ``jetimg.preprocess``.
PER_JET_FLOATS = ("jet_pt", "jet_eta", "jet_phi", "jet_mass")


def assert_same(got, want, recipe=Recipe()):
    """The CUDA twin's outputs ``got`` against the CPU kernel's ``want``: >= 99.9%
    of images within L1 1e-5 (relative to the sum for raw GeV), the per-jet
    quantities equal to float32 rounding, the counts exactly, the same dtypes
    and shapes."""
    dist = l1(got["images"], want["images"])
    if recipe.normalise == "none":
        dist /= np.maximum(want["images"].sum(axis=(1, 2), dtype=np.float64), 1.0)
    bad = np.flatnonzero(dist > 1e-5)
    assert bad.size <= 0.001 * len(dist), (bad, dist[bad])
    for name in PER_JET_FLOATS:
        np.testing.assert_allclose(got[name], want[name], rtol=2.5e-7, atol=1e-6, err_msg=name)
    for name in ("n_constituents", "valid"):
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    for name, a in want.items():
        assert got[name].dtype == a.dtype and got[name].shape == a.shape, name


# ---------------------------------------------------------------------------
# builds: constants of the input files
# ---------------------------------------------------------------------------

N_JETS = 2_500
N_SLOTS = 200
EMPTY_ROW = 3            # an all-padding jet: valid, all-zero image
MID_ROWS, MID_BAD_ROW = 20_000, 15_000

#: Input layouts of SPEC.md, each written by ``shared_inputs``.
LAYOUTS = ("pandas-fixed", "pandas-fixed-zlib", "pandas-table-blosc",
           "hdf5-array", "zarr-array", "npy")

#: name -> (shape without N, dtype) of every array of a store (SPEC.md).
PER_JET = {"jet_pt": np.float32, "jet_eta": np.float32, "jet_phi": np.float32,
           "jet_mass": np.float32, "n_constituents": np.int16, "valid": np.int8}
ATTR_KEYS = {"jetimg_version", "recipe", "input", "input_rows", "n_jets", "complete"}


# ---------------------------------------------------------------------------
# inputs, written once per session (tests/test_build.py, tests/test_cli.py)
# ---------------------------------------------------------------------------

@dataclasses.dataclass
class Input:
    """One input file: where it is and how to name its jets and labels."""

    path: pathlib.Path
    key: str = None
    labels_key: str = None

    @property
    def kwargs(self):
        """Keyword arguments of ``jetimg.build``."""
        return {"key": self.key, "labels_key": self.labels_key}

    @property
    def args(self):
        """The same as command-line arguments."""
        out = [str(self.path)]
        if self.key:
            out += ["--key", self.key]
        if self.labels_key:
            out += ["--labels-key", self.labels_key]
        return out


@dataclasses.dataclass
class Inputs:
    folder: pathlib.Path
    jets: np.ndarray            # (N_JETS, N_SLOTS, 4) float32
    labels: np.ndarray          # (N_JETS,) int8
    files: dict                 # layout -> Input (all hold jets and labels)
    no_labels: dict             # name -> Input without labels (same jets)
    _expected: dict = dataclasses.field(default_factory=dict)

    def expected(self, rows=None, recipe=None):
        """``jetimg.preprocess`` of the first ``rows`` jets, plus labels (cached)."""
        rows = N_JETS if rows is None else rows
        key = (rows, recipe)
        if key not in self._expected:
            self._expected[key] = expected_outputs(self.jets[:rows], self.labels[:rows], recipe)
        return self._expected[key]


_CACHE = {}


def shared_inputs(tmp_path_factory):
    """The session's input files in every layout (written on first use)."""
    if "inputs" in _CACHE:
        return _CACHE["inputs"]
    zarr = pytest.importorskip("zarr")
    folder = tmp_path_factory.mktemp("inputs")
    jets, labels = toy_jets(N_JETS, n_slots=N_SLOTS, seed=11)
    jets[EMPTY_ROW] = 0.0
    files = {}
    files["pandas-fixed"] = Input(write_toptag(folder / "fixed.h5", jets, labels))
    files["pandas-fixed-zlib"] = Input(write_toptag(folder / "fixed_zlib.h5", jets, labels,
                                                    complib="zlib"))
    files["pandas-table-blosc"] = Input(write_toptag(folder / "table_blosc.h5", jets, labels,
                                                     format="table", complib="blosc"))
    # Names that are not found without --key / --labels-key: a second (N, M, 4)
    # array makes the jets ambiguous, and "truth" is not a default labels name.
    with h5py.File(folder / "arrays.h5", "w") as f:
        f.create_dataset("data/constituents", data=jets, compression="gzip")
        f.create_dataset("data/truth", data=labels.astype(np.int64))
        f.create_dataset("other/decoy", data=np.ones((7, 2, 4), np.float32))
    files["hdf5-array"] = Input(folder / "arrays.h5", key="data/constituents",
                                labels_key="data/truth")
    group = zarr.open_group(str(folder / "jets.zarr"), mode="w")
    group.create_array("jets", data=jets, chunks=(500, N_SLOTS, 4))
    group.create_array("labels", data=labels)
    files["zarr-array"] = Input(folder / "jets.zarr")
    np.save(folder / "jets.npy", jets)
    np.save(folder / "labels.npy", labels)
    files["npy"] = Input(folder / "jets.npy", labels_key=str(folder / "labels.npy"))
    no_labels = {"npy": Input(folder / "jets.npy"),
                 "pandas-fixed": Input(write_toptag(folder / "nolabels.h5", jets))}
    _CACHE["inputs"] = Inputs(folder, jets, labels, files, no_labels)
    return _CACHE["inputs"]


def mid_build_input(tmp_path_factory):
    """20,000 jets with a NaN at row 15,000: fails late in a chunked build."""
    if "mid" not in _CACHE:
        folder = tmp_path_factory.mktemp("mid")
        jets, _ = toy_jets(MID_ROWS, n_slots=20, seed=5)
        jets[MID_BAD_ROW, 2, 0] = np.nan
        np.save(folder / "mid.npy", jets)
        _CACHE["mid"] = folder / "mid.npy"
    return _CACHE["mid"]


def invalid_input(tmp_path_factory):
    """60 jets (pandas fixed layout) with a NaN (row 7), an Inf (row 23) and E < 0
    (row 41); returns (path, jets, labels, bad rows)."""
    if "invalid" not in _CACHE:
        folder = tmp_path_factory.mktemp("invalid")
        jets, labels = toy_jets(60, n_slots=30, seed=9)
        jets[7, 4, 1] = np.nan
        jets[23, 0, 3] = np.inf
        jets[41, 2, 0] = -abs(jets[41, 2, 0])
        path = write_toptag(folder / "invalid.h5", jets, labels)
        _CACHE["invalid"] = (path, jets, labels, [7, 23, 41])
    return _CACHE["invalid"]


# ---------------------------------------------------------------------------
# reading and comparing stores
# ---------------------------------------------------------------------------

def expected_outputs(jets, labels, recipe=None):
    """What a store of ``jets`` must hold: ``jetimg.preprocess`` and the labels."""
    out = {name: np.array(values) for name, values in jetimg.preprocess(jets, recipe).items()}
    if labels is not None:
        out["labels"] = np.asarray(labels).astype(np.int8)
    return out


def read_store(path):
    """Every array (as NumPy) and the attributes of a store, via ``jetimg.open_store``."""
    with jetimg.open_store(path) as store:
        arrays = {name: np.asarray(store[name][...]) for name in store.keys()}
        return arrays, dict(store.attrs)


def assert_bit_identical(got, want):
    """Same array names, shapes, dtypes and bytes; names the rows that differ."""
    assert sorted(got) == sorted(want)
    for name, b in want.items():
        a = got[name]
        assert (a.shape, a.dtype) == (b.shape, b.dtype), name
        ua = a.view(f"u{a.dtype.itemsize}").reshape(len(a), -1)
        ub = b.view(f"u{b.dtype.itemsize}").reshape(len(b), -1)
        rows = np.flatnonzero((ua != ub).any(axis=1))
        assert rows.size == 0, f"{name}: {rows.size} rows differ, first {rows[:10].tolist()}"


def check_store_layout(path, n_jets, npix, has_labels):
    """Array names, shapes and dtypes exactly as SPEC.md says, read with zarr / h5py."""
    want = {"images": ((n_jets, npix, npix), np.dtype(np.float32))}
    if has_labels:
        want["labels"] = ((n_jets,), np.dtype(np.int8))
    want.update({name: ((n_jets,), np.dtype(dtype)) for name, dtype in PER_JET.items()})
    path = pathlib.Path(path)
    if path.suffix == ".zarr":
        zarr = pytest.importorskip("zarr")
        group = zarr.open_group(str(path), mode="r")
        found = {name: (tuple(a.shape), np.dtype(a.dtype)) for name, a in group.arrays()}
        assert list(group.group_keys()) == []
        recipe = dict(group.attrs)["recipe"]
    else:
        with h5py.File(path, "r") as f:
            assert all(isinstance(f[name], h5py.Dataset) for name in f)
            found = {name: (f[name].shape, f[name].dtype) for name in f}
            recipe = f.attrs["recipe"]
        recipe = json.loads(recipe)    # HDF5 holds the mapping as JSON text
    assert found == want
    assert isinstance(recipe, dict)


def check_attrs(attrs, *, recipe, input_name, input_rows, n_jets, label_names=...):
    """The store's attributes as SPEC.md's table says (``label_names``: the
    class names expected, None for none; left out: any list of names or none)."""
    assert set(attrs) - {"label_names"} == ATTR_KEYS
    if label_names is not ...:
        assert attrs.get("label_names") == (None if label_names is None else list(label_names))
    elif "label_names" in attrs:
        assert all(isinstance(v, str) for v in attrs["label_names"])
    assert attrs["jetimg_version"] == jetimg.__version__
    stored = attrs["recipe"]
    assert isinstance(stored, dict)
    assert set(stored) == {f.name for f in dataclasses.fields(Recipe)}
    assert stored == recipe.to_attrs()
    assert list(stored["pixel_size"]) == [recipe.pixel_size[0], recipe.pixel_size[1]]
    assert Recipe.from_attrs(stored) == recipe
    assert attrs["input"] == input_name
    assert attrs["input_rows"] == input_rows
    assert attrs["n_jets"] == n_jets
    assert attrs["complete"] is True


def snapshot(path):
    """Relative path -> sha256 of every file of a store (a file or a directory)."""
    path = pathlib.Path(path)
    if path.is_file():
        return {".": hashlib.sha256(path.read_bytes()).hexdigest()}
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            if p.is_file() else "dir" for p in sorted(path.rglob("*"))}


def listing(folder):
    """The sorted names in ``folder``."""
    return sorted(os.listdir(folder))


# ---------------------------------------------------------------------------
# the challenge's pandas image layout
# ---------------------------------------------------------------------------

def check_pandas_images(path, arrays, has_labels=True):
    """A pandas-images file equals a store's images (row-major), labels and jet_mass."""
    pd = pytest.importorskip("pandas")
    frame = pd.read_hdf(path, "table")
    n, npix = arrays["images"].shape[:2]
    columns = [f"img_{i}" for i in range(npix * npix)]
    columns += ["is_signal_new"] if has_labels else []
    assert list(frame.columns) == columns + ["mass"]
    assert len(frame) == n
    assert frame.index.tolist() == list(range(n))
    images = frame[columns[:npix * npix]].to_numpy()
    assert images.dtype == np.float32
    assert_bit_identical({"images": images}, {"images": arrays["images"].reshape(n, -1)})
    np.testing.assert_array_equal(frame["mass"].to_numpy(),
                                  arrays["jet_mass"].astype(np.float64))
    if has_labels:
        np.testing.assert_array_equal(frame["is_signal_new"].to_numpy(), arrays["labels"])


# ------------------------------------------------------------- store digests

#: attributes that name the machine or the release, not the images
DIGEST_SKIPPED_ATTRS = ("jetimg_version", "input")


def store_digest(path):
    """sha256 over every decoded array (name, dtype, shape, bytes) and every
    attribute but DIGEST_SKIPPED_ATTRS, in sorted order."""
    digest = hashlib.sha256()
    with jetimg.open_store(path) as store:
        attrs = {k: v for k, v in dict(store.attrs).items() if k not in DIGEST_SKIPPED_ATTRS}
        digest.update(json.dumps(attrs, sort_keys=True).encode())
        for name in store.keys():
            a = np.ascontiguousarray(store[name][:])
            digest.update(f"{name} {a.dtype.str} {a.shape}".encode())
            digest.update(a.tobytes())
    return digest.hexdigest()


class StopAfter:
    """A progress callback that raises KeyboardInterrupt after ``rows`` rows
    (an interrupted build, as Ctrl-C leaves it)."""

    def __init__(self, rows):
        self.rows = rows

    def __call__(self, done, total):
        if done >= self.rows:
            raise KeyboardInterrupt


class KillABusyWorker:
    """A progress callback that SIGKILLs one busy dask.distributed worker once
    ``rows`` rows are done (a worker lost mid-build); ``killed`` lists its pid."""

    def __init__(self, client, rows):
        self.client, self.rows, self.killed = client, rows, []

    def __call__(self, done, total):
        import signal

        if self.killed or done < self.rows:
            return
        busy = [addr for addr, tasks in self.client.processing().items() if tasks]
        for pid in self.client.run(os.getpid, workers=busy[:1]).values():
            os.kill(pid, signal.SIGKILL)
            self.killed.append(pid)


def invoke(*args):
    """Run ``jetimg ARGS`` in this process (click's CliRunner; stderr kept apart)."""
    from click.testing import CliRunner
    from jetimg_cli.main import cli

    return CliRunner().invoke(cli, [str(a) for a in args], prog_name="jetimg")


def one_line(result, code=1):
    """The single non-empty stderr line of a failed command (no traceback, no usage)."""
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), lines[0]
    return lines[0]


# ---------------------------------------------------------------------------
# tagger metrics, recomputed slowly (jetimg.metrics is held to them)
# ---------------------------------------------------------------------------

def slow_confusion(labels, scores):
    k = scores.shape[1]
    out = np.zeros((k, k), int)
    for label, row in zip(labels, scores):
        best = 0
        for j in range(1, k):
            if row[j] > row[best]:
                best = j
        out[label, best] += 1
    return out


def slow_auc(positive, negative):
    """The chance that a positive outscores a negative, ties a half, pair by pair."""
    wins = 0.0
    for p in positive:
        for n in negative:
            wins += 1.0 if p > n else 0.5 if p == n else 0.0
    return wins / (len(positive) * len(negative))


def slow_rejection(signal, background, efficiency):
    """1/eps_B of the cut that keeps exactly ``efficiency`` of the signal (no tie there)."""
    ordered = sorted(signal, reverse=True)
    k = round(efficiency * len(ordered))
    assert k == efficiency * len(ordered) and ordered[k - 1] > ordered[k]
    kept = sum(1 for b in background if b >= ordered[k - 1])
    return np.inf if kept == 0 else len(background) / kept


def slow_summary(labels, scores, names):
    """accuracy, confusion, per-class one-vs-rest AUC, rejection of QCD per class."""
    scores = np.asarray(scores, np.float64)
    confusion = slow_confusion(labels, scores)
    present = [k for k in range(len(names)) if np.any(labels == k)]
    aucs = {names[k]: slow_auc(scores[labels == k, k], scores[labels != k, k])
            for k in present}
    qcd = names.index("QCD")
    rejections = {}
    for k in present:
        if k == qcd:
            continue
        eff = {"Hqql": 0.99, "Tbl": 0.995}.get(names[k], 0.5)
        disc = scores[:, k] / (scores[:, k] + scores[:, qcd])
        rejections[names[k]] = (eff, slow_rejection(disc[labels == k], disc[labels == qcd],
                                                    eff))
    return {"accuracy": np.trace(confusion) / len(labels), "confusion": confusion,
            "auc": aucs, "rejection": rejections}


def assert_matches(m, slow):
    assert m["accuracy"] == pytest.approx(slow["accuracy"], abs=1e-12)
    np.testing.assert_array_equal(m["confusion_matrix"], slow["confusion"])
    assert m["auc"] == pytest.approx(slow["auc"], abs=1e-12)
    assert m["auc_mean"] == pytest.approx(np.mean(list(slow["auc"].values())), abs=1e-12)
    assert set(m["background_rejection"]) == set(slow["rejection"])
    for name, (eff, rejection) in slow["rejection"].items():
        assert m["signal_efficiency"][name] == eff
        assert m["background_rejection"][name] == pytest.approx(rejection, rel=1e-12)
