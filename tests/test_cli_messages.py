"""The messages a user reads, through the command: one line, in the words typed.

* a store given as MODEL says what MODEL must be;
* a ROOT file without the tree names --key once, and names an RNTuple it holds;
* a store that a build is writing now names that build (from its lock), in
  info, verify and plot, instead of calling it interrupted;
* ``jetimg info`` describes inputs of constituents too (layout, rows, slots,
  labels, kinds);
* ``--channels`` with an empty entry names it; ``--pixel-size`` with one
  number is documented and does what the help says;
* ``build --help`` names every input layout;
* the build's summary line gives one rate, the start-up apart.

Refusals leave everything as it was: the files are compared before and after.
"""

import json
import os
import re
import socket
import subprocess
import sys
import threading

import numpy as np
import pytest

import jetimg
from jetimg.io.readers import describe_input
from jetimg.io.store.lockfile import build_writing, lock_path
from jetimg.io.writers.jetclass import write_jetclass

from .helpers import invoke, listing, one_line, snapshot

HOST = socket.gethostname()


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Toy jets with labels (.npy) and a small labelled store built from them."""
    folder = tmp_path_factory.mktemp("messages")
    jets, labels = jetimg.toys.toy_jets(120, seed=5)
    np.save(folder / "jets.npy", jets)
    np.save(folder / "labels.npy", labels)
    store = folder / "s.zarr"
    jetimg.build(folder / "jets.npy", store, npix=8, chunk_size=40,
                 labels_key=str(folder / "labels.npy"))
    return {"folder": folder, "jets": folder / "jets.npy", "labels": folder / "labels.npy",
            "store": store}


# ---------------------------------------------------------------------------
# MODEL
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_store_given_as_model_says_what_model_must_be(made, tmp_path, command):
    store = made["store"]
    before = snapshot(store)
    args = ([command, store, store, "-o", tmp_path / "p.npy"] if command == "predict"
            else [command, store, store, "--no-plots"])
    line = one_line(invoke(*args))
    assert line == (f"Error: MODEL {store} is an image store, not a model: MODEL must be a "
                    ".keras model file written by jetimg train")
    assert snapshot(store) == before and listing(tmp_path) == []


def test_folder_and_other_file_as_model(made, tmp_path):
    line = one_line(invoke("predict", tmp_path, made["store"], "-o", tmp_path / "p.npy"))
    assert line == (f"Error: MODEL {tmp_path} is a folder, not a model: MODEL must be a "
                    ".keras model file written by jetimg train")
    line = one_line(invoke("evaluate", made["jets"], made["store"], "--no-plots"))
    assert line.startswith(f"Error: MODEL {made['jets']} is not a Keras 3 model file")
    # the library says "model", the argument's name there
    with pytest.raises(jetimg.errors.InputError, match=r"^model .* is an image store"):
        jetimg.train.predict(made["store"], made["store"])


# ---------------------------------------------------------------------------
# ROOT files without the tree
# ---------------------------------------------------------------------------

def test_root_tree_of_another_name_names_key_once(tmp_path):
    path = tmp_path / "jets.root"
    write_jetclass(path, *_jetclass_rows(5), tree="events")
    line = one_line(invoke("build", path, "-o", tmp_path / "o.zarr"))
    assert line == (f"Error: no tree 'tree' in {path} (trees found: events); pass --key to "
                    "pick one")
    assert listing(tmp_path) == ["jets.root"]
    # and --key as the message says builds it
    out = invoke("build", path, "-o", tmp_path / "o.zarr", "--key", "events", "-q")
    assert out.exit_code == 0, out.output
    assert len(jetimg.open_store(tmp_path / "o.zarr")) == 5


def test_root_file_of_an_rntuple_names_it(tmp_path):
    uproot = pytest.importorskip("uproot")
    awkward = pytest.importorskip("awkward")
    path = tmp_path / "jets.root"
    with uproot.recreate(path) as f:
        f["particles"] = {"part_energy": awkward.Array([[10.0, 5.0], [7.0]])}
    assert uproot.open(path).classnames(cycle=False) == {"particles": "ROOT::RNTuple"}
    line = one_line(invoke("build", path, "-o", tmp_path / "o.zarr"))
    assert line == (f"Error: no tree 'tree' in {path} (trees found: none); it holds the "
                    "RNTuple 'particles': jetimg reads TTrees only (write the jets as a "
                    "TTree, e.g. with uproot's mktree)")
    line = one_line(invoke("build", path, "-o", tmp_path / "o.zarr", "--key", "particles"))
    assert line.startswith(f"Error: 'particles' is a ROOT::RNTuple, not a TTree in {path} ")
    assert "jetimg reads TTrees only" in line
    assert listing(tmp_path) == ["jets.root"]


def _jetclass_rows(n):
    """n toy jets (N, M, 4) and JetClass class indices (0 QCD, 1 Hbb, ...), to write."""
    pytest.importorskip("uproot")
    jets, labels = jetimg.toys.toy_jets(n, seed=7)
    return jets, labels.astype(np.int64)


# ---------------------------------------------------------------------------
# a store being written
# ---------------------------------------------------------------------------

class _Held:
    """A build's progress callback that holds it once ``rows`` rows are written (the
    store made, marked incomplete, its lock taken) until released."""

    def __init__(self, rows):
        self.rows = rows
        self.reached, self.release = threading.Event(), threading.Event()

    def __call__(self, done, total):
        if done >= self.rows:
            self.reached.set()
            self.release.wait(120)


def test_store_being_written_names_its_build(made, tmp_path):
    out = tmp_path / "busy.zarr"
    held, failures = _Held(40), []

    def run():
        try:
            jetimg.build(made["jets"], out, npix=8, chunk_size=40, workers=1, progress=held)
        except BaseException as exc:  # noqa: BLE001 (reported below)
            failures.append(exc)
            held.reached.set()

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert held.reached.wait(120) and not failures, failures
        assert json.loads(lock_path(out).read_text())["pid"] == os.getpid()
        who = rf"a build \(host {re.escape(HOST)}, pid {os.getpid()}, since [-\d: ]+, \d+ s ago\)"

        info = invoke("info", out)
        assert info.exit_code == 0, info.output
        complete = [ln for ln in info.stdout.splitlines() if ln.startswith("complete")]
        assert re.fullmatch(rf"complete     NO: being written now by {who}; \d+ rows not "
                            r"written yet", complete[0]), complete
        assert "--resume" not in info.stdout and "interrupted" not in info.stdout

        line = one_line(invoke("plot", "average", out, "-o", tmp_path / "a.png"))
        assert re.fullmatch(rf"Error: {re.escape(str(out))} is being written by {who}: wait "
                            r"for it to finish, or pass --allow-incomplete to read the rows "
                            r"written so far", line), line

        # with --allow-incomplete, the note names it
        noted = invoke("plot", "average", out, "-o", tmp_path / "b.png", "--allow-incomplete")
        assert noted.exit_code == 0, noted.output
        assert re.match(rf"note: {re.escape(str(out))} is incomplete \(being written now by "
                        rf"{who}; [\d,]+ of 120 rows written\): rows not written yet read as "
                        r"invalid jets", noted.stderr), noted.stderr
        (tmp_path / "b.png").unlink()

        verify = invoke("verify", out, "--quick")
        assert verify.exit_code == 1
        assert re.search(rf"complete is not true: being written now by {who}$",
                         verify.stdout, re.M), verify.stdout
        assert not (tmp_path / "a.png").exists()
    finally:
        held.release.set()
        thread.join(120)
    assert not failures, failures
    assert jetimg.open_store(out).attrs["complete"] is True and build_writing(out) is None
    info = invoke("info", out)
    assert "complete     yes" in info.stdout


def test_lock_left_by_a_killed_build_is_not_a_writer(tmp_path):
    """A lock written by the real lock code of a process that died holding it: no writer."""
    out = tmp_path / "images.zarr"
    code = ("import os, sys\nfrom jetimg.pipeline.lock import output_lock\n"
            "with output_lock(sys.argv[1]):\n    os._exit(0)\n")
    subprocess.run([sys.executable, "-c", code, str(out)], check=True)
    holder = json.loads(lock_path(out).read_text())
    assert holder["host"] == HOST and isinstance(holder["pid"], int)
    assert build_writing(out) is None


# ---------------------------------------------------------------------------
# info on inputs
# ---------------------------------------------------------------------------

def test_info_describes_the_top_tagging_sample():
    from jetimg.data import sample_files

    path = sample_files("toptag")[0]
    result = invoke("info", path)
    assert result.exit_code == 0, result.output
    lines = dict(ln.split(None, 1) for ln in result.stdout.splitlines())
    d = describe_input(path)
    assert lines["layout"] == d["layout"] and d["layout"].startswith("pandas-")
    assert lines["rows"] == f"{d['n_rows']} jets"
    assert lines["slots"].startswith(f"{d['n_slots']} per jet")
    assert lines["labels"] == "is_signal_new: 0 QCD, 1 top"
    assert lines["kinds"].startswith("no: ")
    with jetimg.open_jets(path) as source:   # the numbers are the reader's own
        assert (d["n_rows"], d["n_slots"]) == (source.n_rows, source.n_slots)


def test_info_describes_a_jetclass_glob(tmp_path):
    pytest.importorskip("uproot")
    jets, labels = _jetclass_rows(4)
    for name in ("b.root", "a.root"):
        write_jetclass(tmp_path / name, jets, labels)
    result = invoke("info", tmp_path / "*.root")
    assert result.exit_code == 0, result.output
    lines = dict(ln.split(None, 1) for ln in result.stdout.splitlines())
    assert lines["input"].startswith("2 files (a.root, b.root; JetClass ROOT TTree, 'tree'")
    assert lines["layout"] == "jetclass-root" and lines["rows"] == "8 jets"
    assert lines["slots"].startswith("jagged")
    assert lines["labels"].startswith("label_*: 0 QCD, 1 Hbb")
    assert lines["kinds"].startswith("yes")
    d = describe_input(str(tmp_path / "*.root"))
    assert d["files"] == [str(tmp_path / "a.root"), str(tmp_path / "b.root")]
    assert d["n_rows"] == 8 and d["has_kinds"] and d["n_slots"] is None


def test_info_of_plain_arrays_with_pids(made, tmp_path):
    jets = np.load(made["jets"])
    np.save(tmp_path / "pid.npy", np.where(jets[..., 0] > 0, 211, 0).astype(np.int32))
    result = invoke("info", made["jets"], "--pid-key", tmp_path / "pid.npy",
                    "--labels-key", made["labels"])
    assert result.exit_code == 0, result.output
    lines = dict(ln.split(None, 1) for ln in result.stdout.splitlines())
    assert lines["rows"] == f"{len(jets)} jets"
    assert lines["slots"].startswith(f"{jets.shape[1]} per jet")
    assert lines["kinds"].startswith("yes") and lines["labels"].endswith("(no class names)")
    without = dict(ln.split(None, 1) for ln in invoke("info", made["jets"]).stdout.splitlines())
    assert without["kinds"].endswith("a PDG-id array beside the jets gives them (--pid-key)")
    assert without["labels"] == "none"


def test_info_of_an_unreadable_input_is_one_line(tmp_path):
    (tmp_path / "notes.txt").write_text("not jets\n")
    line = one_line(invoke("info", tmp_path / "notes.txt"))
    assert "is not a jet file jetimg can read" in line and "notes.txt" in line
    assert one_line(invoke("info", tmp_path / "absent.h5")) == (
        f"Error: not found: {tmp_path / 'absent.h5'}")


# ---------------------------------------------------------------------------
# recipe options
# ---------------------------------------------------------------------------

def test_empty_channel_entry_is_named(made, tmp_path):
    line = one_line(invoke("build", made["jets"], "-o", tmp_path / "o.zarr",
                           "--channels", "pt,,count"))
    assert line == ("Error: --channels pt,,count has an empty entry (number 2): separate the "
                    "names by single commas, e.g. charged_pt,neutral_pt")
    assert listing(tmp_path) == []
    with pytest.raises(jetimg.errors.RecipeError, match=r"^channels=\['pt', ''\] has an empty "):
        jetimg.Recipe(channels=["pt", ""])


def test_pixel_size_of_one_number_is_documented_and_square(made, tmp_path):
    help_text = " ".join(invoke("build", "--help").stdout.split())
    assert "--pixel-size DX,DY Pixel width in eta and phi, DX,DY; one number is both" in help_text
    result = invoke("build", made["jets"], "-o", tmp_path / "o.zarr", "--npix", 8,
                    "--pixel-size", "0.03", "-q")
    assert result.exit_code == 0, result.output
    assert jetimg.open_store(tmp_path / "o.zarr").recipe.pixel_size == (0.03, 0.03)


def test_build_help_names_every_layout():
    text = re.sub(r"-\s+", "-", " ".join(invoke("build", "--help").stdout.split()))  # unwrapped
    for words in ("top-tagging pandas HDFStore", "plain (N, M, 4) array in HDF5, Zarr or .npy",
                  "JetClass ROOT files", "EnergyFlow quark/gluon .npz files"):
        assert words in text, words


# ---------------------------------------------------------------------------
# the build's rate
# ---------------------------------------------------------------------------

SUMMARY = re.compile(r"^(\d+) jets in [\d.]+ s: [\d,]+ jets/s, after [\d.]+ s of start-up"
                     r"(, compiling the kernels \(first run only\))? -> (\S+) \(")


def test_build_summary_gives_one_rate_and_the_start_up_apart(made, tmp_path):
    result = invoke("build", made["jets"], "-o", tmp_path / "o.zarr", "--npix", 8,
                    "--chunk-size", 40)
    assert result.exit_code == 0, result.output
    summary = result.stdout.strip().splitlines()[-1]
    m = SUMMARY.match(summary)
    assert m and m.group(1) == "120" and m.group(3) == str(tmp_path / "o.zarr"), summary
    assert summary.count("jets/s") == 1
    # the progress lines measure from the same moment: the start-up is not in them
    assert all(re.fullmatch(r"(compiling the kernels.*|jets: [\d,]+ of 120 rows \(\d+%\)"
                            r"(, [\d,]+ jets/s)?(, [\d:]+ left)?)", ln)
               for ln in result.stderr.strip().splitlines()), result.stderr
    again = invoke("build", made["jets"], "-o", tmp_path / "o.zarr", "--npix", 8,
                   "--chunk-size", 40, "--resume")
    assert again.stdout.strip().startswith("already complete: 120 jets -> ")
    assert "jets/s" not in again.stdout


def test_build_summary_says_when_the_kernels_were_compiled():
    from jetimg.pipeline.build import COMPILE_NOTICE
    from jetimg_cli.build import _Clock

    clock = _Clock()
    clock.notify(COMPILE_NOTICE)          # as jetimg.build reports a compile
    clock.progress(lambda done, total: None)(0, 10)
    assert re.fullmatch(r": [\d,]+ jets/s, after [\d.]+ s of start-up, compiling the kernels "
                        r"\(first run only\)", clock.rate(10))
    assert _Clock().rate(10) == ""        # no progress call: nothing was made


def test_output_into_a_closed_pipe_ends_quietly(made):
    """``jetimg info STORE | head -1``: the reader leaves first; no "internal error" line."""
    proc = subprocess.Popen([sys.executable, "-m", "jetimg_cli.main", "info", str(made["store"])],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()
    err = proc.stderr.read()
    proc.wait(timeout=60)
    proc.stderr.close()
    assert err == "" and proc.returncode == 1
