"""JetClass ROOT files (jetimg.io.readers.root): every variant of the layout, stores, kinds, bad input.

Files are written with uproot (jetimg.io.writers.jetclass, or ``mktree`` for
broken ones): a TTree of jagged part_* branches, all ten label_* branches in
the released files' mixed types (float, bool, int32). Jets have 0 to 60
particles, so blocks are padded to different widths.
"""

from pathlib import Path

import numpy as np
import pytest

uproot = pytest.importorskip("uproot")
ak = pytest.importorskip("awkward")

import jetimg  # noqa: E402
from jetimg.errors import InputError  # noqa: E402
from jetimg.io import open_jets  # noqa: E402
from jetimg.io.writers.jetclass import write_jetclass  # noqa: E402
from jetimg.io.readers.root import CLASSES  # noqa: E402
from jetimg.kinds import KIND_CODE  # noqa: E402
from jetimg.toys import toy_jets  # noqa: E402

from .helpers import (KillABusyWorker, assert_bit_identical, invoke, l1,  # noqa: E402
                      read_store, store_digest)
from .reference import reference_preprocess  # noqa: E402

N, M = 300, 60


def error_line(result):
    """The single stderr line of a failed command (no traceback)."""
    assert result.exit_code == 1, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def data():
    """Jets of 0..M particles (padded to M), labels 0..9, kinds 1..5."""
    rng = np.random.default_rng(16)
    jets, _ = toy_jets(N, n_slots=M, seed=16)
    counts = rng.integers(1, M + 1, N)
    counts[[5, 77]] = 0                      # two jets without particles
    counts[[9, 200]] = M                     # and full ones
    jets[np.arange(M) >= counts[:, None]] = 0
    kinds = rng.integers(1, 6, (N, M)).astype(np.int8)
    kinds[~jets.any(axis=2)] = 0
    counts = jets.any(axis=2).sum(axis=1)    # toy jets may hold fewer particles
    labels = rng.integers(0, 10, N)
    return jets, labels, kinds, counts


@pytest.fixture(scope="module")
def files(data, tmp_path_factory):
    jets, labels, kinds, _ = data
    tmp = tmp_path_factory.mktemp("root")
    out = {}
    for name, kw in {"npart": {}, "per_branch": {"counter": "per-branch"},
                     "baskets": {"basket_rows": 37},
                     "events": {"tree": "events"}}.items():
        out[name] = str(tmp / f"{name}.root")
        write_jetclass(out[name], jets, labels, kinds=kinds, **kw)
    return out


def rewrite(src, dst, change, tree="tree"):
    """Copy the branches of ``src`` to ``dst`` (one counter per jagged
    branch), after ``change(arrays)`` edits the dict of awkward arrays."""
    with uproot.open(src) as f:
        arrays = f["tree"].arrays(library="ak", how=dict)
    arrays = {k: v for k, v in arrays.items() if not k.startswith("npart")}
    change(arrays)
    with uproot.recreate(dst) as f:
        t = f.mktree(tree, {k: v.type.content for k, v in arrays.items()},
                     counter_name=lambda b: "n" + b)
        t.extend(arrays)
    return str(dst)


# ---------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["npart", "per_branch", "baskets", "events"])
def test_read_every_variant(files, data, variant):
    jets, labels, kinds, counts = data
    src = open_jets(files[variant], key="events" if variant == "events" else None)
    assert (src.layout, src.n_rows, src.has_labels, src.has_kinds) == \
        ("jetclass-root", N, True, True)
    assert src.label_names == CLASSES and len(CLASSES) == 10
    for start, stop in [(0, N), (3, 4), (5, 6), (10, 111), (290, 300)]:
        got, got_labels = src.read(start, stop)
        m = max(int(counts[start:stop].max()), 1)
        assert got.shape == (stop - start, m, 4) and got.dtype == np.float32
        np.testing.assert_array_equal(got, jets[start:stop, :m])
        np.testing.assert_array_equal(got_labels, labels[start:stop])
        assert got_labels.dtype == np.int8
        np.testing.assert_array_equal(src.read_kinds(start, stop), kinds[start:stop, :m])
    offsets, p4s, _ = src.read_flat(0, N)
    np.testing.assert_array_equal(np.diff(offsets), counts)
    assert p4s.shape == (counts.sum(), 4)


def test_kinds_from_flags_and_charge(tmp_path, files):
    """No flag set: charged_hadron when part_charge != 0, else neutral_hadron."""
    def change(a):
        for flag in ("part_isPhoton", "part_isElectron", "part_isMuon",
                     "part_isChargedHadron", "part_isNeutralHadron"):
            a[flag] = a[flag] * 0
        a["part_charge"] = ak.values_astype(ak.local_index(a["part_charge"]) % 2,
                                            np.float32)
    src = open_jets(rewrite(files["npart"], tmp_path / "noflags.root", change))
    kinds = src.read_kinds(0, 20)
    offsets, _, _ = src.read_flat(0, 20)
    for i in range(20):
        n = offsets[i + 1] - offsets[i]
        want = np.where(np.arange(n) % 2, KIND_CODE["charged_hadron"],
                        KIND_CODE["neutral_hadron"])
        np.testing.assert_array_equal(kinds[i, :n], want)
        assert not kinds[i, n:].any()


def test_n_slots_caps_particles(files, data):
    jets, _, _, _ = data
    src = open_jets(files["npart"], n_slots=7)
    got, _ = src.read(0, 50)
    np.testing.assert_array_equal(got, jets[:50, :7])
    assert src.read_kinds(0, 50).shape == (50, 7)


def test_pickled_source_reads(files, data):
    import pickle
    src = open_jets(files["npart"])
    src.read(0, 3)
    again = pickle.loads(pickle.dumps(src))
    np.testing.assert_array_equal(again.read(3, 9)[0], src.read(3, 9)[0])


# ---------------------------------------------------------------------------
# images and stores
# ---------------------------------------------------------------------------

def test_images_equal_padded_and_reference(files, data, tmp_path):
    jets, labels, _, _ = data
    out = tmp_path / "a.zarr"
    jetimg.build(files["npart"], out, chunk_size=64, workers=1)
    got, attrs = read_store(out)
    want = jetimg.preprocess(jets)
    for name, a in want.items():
        np.testing.assert_array_equal(got[name], np.asarray(a), err_msg=name)
    np.testing.assert_array_equal(got["labels"], labels.astype(np.int8))
    ref = reference_preprocess(jets.astype(np.float64))
    assert (l1(got["images"], ref["images"]) <= 1e-5).mean() >= 0.99
    np.testing.assert_array_equal(got["n_constituents"], ref["n_constituents"])
    np.testing.assert_allclose(got["jet_pt"], ref["jet_pt"], rtol=2e-6)


@pytest.mark.parametrize("chunk_size", [1_000, 7, 128])
def test_stores_bit_equal_workers_and_chunks(files, tmp_path, chunk_size):
    one = tmp_path / "one.zarr"
    jetimg.build(files["npart"], one, chunk_size=300, workers=1)
    other = tmp_path / f"c{chunk_size}.zarr"
    jetimg.build(files["per_branch"], other, chunk_size=chunk_size, workers=2)
    assert_bit_identical(read_store(other)[0], read_store(one)[0])


def write_parts(data, folder, bounds):
    """The jets of ``data`` split at ``bounds`` into files part_0.root, part_1.root, ..."""
    jets, labels, kinds, _ = data
    folder.mkdir()
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        write_jetclass(folder / f"part_{i}.root", jets[a:b], labels[a:b], kinds=kinds[a:b])
    return folder


@pytest.mark.parametrize("chunk_size", [300, 64])
def test_several_root_files_are_one_input(data, files, tmp_path, chunk_size):
    # JetClass comes as many files: a glob of three, split at rows that do not
    # fall on chunk edges, builds the store of the one file, bit for bit;
    # the kinds across files are the kinds of the one file.
    parts = write_parts(data, tmp_path / "parts", [0, 101, 102, N])
    one = tmp_path / "one.zarr"
    jetimg.build(files["npart"], one, chunk_size=300, workers=1)
    many = tmp_path / "many.zarr"
    result = invoke("build", parts / "*.root", "-o", many, "--chunk-size", chunk_size,
                    "--workers", 2)
    assert result.exit_code == 0, result.output
    assert_bit_identical(read_store(many)[0], read_store(one)[0])
    source = jetimg.io.open_inputs(str(parts / "*.root"))
    single = open_jets(files["npart"])
    for a, b in [(0, N), (95, 160), (101, 102)]:
        got, want = source.read_kinds(a, b), single.read_kinds(a, b)
        assert got.shape == want.shape and (got == want).all()
        np.testing.assert_array_equal(source.read(a, b)[0], single.read(a, b)[0])


def test_cli_builds_every_variant(files, tmp_path):
    digests = set()
    for name, path in files.items():
        out = tmp_path / f"{name}.zarr"
        key = ["--key", "events"] if name == "events" else []
        result = invoke("build", path, "-o", out, "--chunk-size", "100", *key)
        assert result.exit_code == 0, result.output
        arrays, _ = read_store(out)
        digests.add(tuple(sorted((k, v.tobytes()) for k, v in arrays.items())))
    assert len(digests) == 1
    assert store_digest(tmp_path / "npart.zarr")


# ---------------------------------------------------------------------------
# bad input: one line
# ---------------------------------------------------------------------------

def _no_pz(a):
    del a["part_pz"], a["part_isMuon"]


def _short_px(a):
    px = ak.to_list(a["part_px"])
    px[12] = px[12][:-1] if px[12] else [1.0]
    a["part_px"] = ak.values_astype(ak.Array(px), np.float32)


def _labels(row, value):
    def change(a):
        qcd = ak.to_numpy(a["label_QCD"]).copy()
        hbb = ak.to_numpy(a["label_Hbb"]).copy()
        for name in a:
            if name.startswith("label_"):
                a[name] = ak.Array(np.zeros(len(qcd), ak.to_numpy(a[name]).dtype))
        a["label_QCD"], a["label_Hbb"] = ak.Array(qcd * 0 + 1), ak.Array(hbb)
        a["label_Hbb"] = ak.Array(np.zeros(len(hbb), bool))
        q = ak.to_numpy(a["label_QCD"]).copy()
        q[row] = 0
        a["label_QCD"] = ak.Array(q)
        if value == "several":
            h = np.zeros(len(hbb), bool)
            h[row] = True
            a["label_QCD"] = ak.Array(q * 0 + 1)
            a["label_Hbb"] = ak.Array(h)
    return change


def _two_flags(a):
    for name in ("part_isMuon", "part_isPhoton"):
        flags = ak.to_list(a[name])
        flags[40] = [1] * len(flags[40])
        a[name] = ak.values_astype(ak.Array(flags), np.int32)


@pytest.fixture(scope="module")
def bad_files(files, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad")
    text = tmp / "text.root"
    text.write_text("not a ROOT file at all\n")
    fake = tmp / "fake.root"           # a ROOT file cut short
    fake.write_bytes(Path(files["npart"]).read_bytes()[:300])
    made = {"text": (str(text), "not a jet file"),
            "fake": (str(fake), "not a readable ROOT file"),
            "tree": (files["events"], "no tree 'tree' in"),
            "branches": (rewrite(files["npart"], tmp / "b.root", _no_pz),
                         "lacks the JetClass branches part_pz, part_isMuon"),
            "lengths": (rewrite(files["npart"], tmp / "l.root", _short_px),
                        "row 12 of"),
            "no_label": (rewrite(files["npart"], tmp / "n.root", _labels(33, "none")),
                         "row 33 of"),
            "two_labels": (rewrite(files["npart"], tmp / "t.root", _labels(34, "several")),
                           "row 34 of"),
            "flags": (rewrite(files["npart"], tmp / "f.root", _two_flags), "row 40 of")}
    return made


WHAT = {"lengths": "part_px has", "no_label": "no true label_* branch",
        "two_labels": "several true labels (label_QCD, label_Hbb)",
        "flags": "several kind flags set"}


@pytest.mark.parametrize("case", ["text", "fake", "tree", "branches", "lengths",
                                  "no_label", "two_labels", "flags"])
def test_bad_input_one_line(bad_files, case, tmp_path):
    path, want = bad_files[case]
    with pytest.raises(InputError) as exc:
        src = open_jets(path)
        src.read(0, N)
    message = str(exc.value)
    assert want in message and "\n" not in message, message
    assert WHAT.get(case, "") in message, message
    if case == "tree":
        assert "trees found: events" in message
    line = error_line(invoke("build", path, "-o", tmp_path / "o.zarr", "--skip-invalid"))
    assert want in line and WHAT.get(case, "") in line, line


def test_missing_extra_is_one_line(monkeypatch, files):
    import builtins
    real = builtins.__import__

    def no_uproot(name, *args, **kw):
        if name == "uproot":
            raise ImportError("no uproot", name="uproot")
        return real(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_uproot)
    with pytest.raises(InputError, match=r"pip install 'jetimg\[root\]'"):
        open_jets(files["npart"])


@pytest.mark.slow
def test_killed_worker_in_a_distributed_build_over_root_files(data, files, tmp_path,
                                                              local_cluster):
    # JetClass's scale: many files on a dask.distributed cluster, whose workers
    # open the files by path. A worker SIGKILLed mid-build loses only its
    # running chunks, which the scheduler runs again elsewhere.
    from distributed import Client

    parts = write_parts(data, tmp_path / "parts", [0, 90, 200, N])
    one = tmp_path / "one.zarr"
    jetimg.build(files["npart"], one, chunk_size=300, workers=1)
    out = tmp_path / "img.zarr"
    with Client(local_cluster) as client:
        kill = KillABusyWorker(client, rows=60)
        result = jetimg.build(str(parts / "*.root"), out, chunk_size=20, scheduler=client,
                              progress=kill)
    assert kill.killed, "no worker was killed during the build"
    assert result.n_made == N
    assert_bit_identical(read_store(out)[0], read_store(one)[0])


def test_read_labels_alone_equal_the_labels_read_with_the_jets():
    """A ROOT file reads its label branches alone; any other layout its labels with
    the jets: both equal read()'s labels, window by window."""
    from jetimg.data import sample_files, sample_path

    for path in (sample_files("jetclass")[0], sample_path()):
        source = open_jets(path)
        with source:
            for start, stop in ((0, 7), (7, 250), (250, 250)):
                got, want = source.read_labels(start, stop), source.read(start, stop)[1]
                assert got.dtype == want.dtype and np.array_equal(got, want), (path, start)
