"""What a user meets when things go wrong: one line, the words they typed, nothing lost.

* An exception nobody foresaw is one line, exit 1 (``jetimg --debug`` shows
  the traceback).
* Library messages name Python arguments (``overwrite=True``, ``key=...``);
  the command line shows the options as typed (``--overwrite``, ``--key ...``).
* A missing path is a runtime error (exit 1, one line) in every command.
* Every output is checked before the work; an existing one is refused unless
  ``--overwrite`` / ``overwrite=True``.
* A store of an interrupted build (``complete: false``) is refused unless
  ``--allow-incomplete`` / ``allow_incomplete=True``.
* Without a terminal, progress is a line per tenth of the rows.

Nothing here trains a network: the model-taking paths are checked before a
model is loaded, and evaluate takes ``--scores``.
"""

import re
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import jetimg
from jetimg.errors import JetimgError, OutputExistsError
from jetimg.io.store.stores import set_attrs
from jetimg.recipe import Recipe

from .helpers import invoke, one_line

INTERNAL = ("Error: internal error: RuntimeError: boom; rerun with --debug for the "
            "traceback and report it")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A small labelled store (Zarr), its jets, scores for it and a stand-in model file
    (a zip, as a .keras file is, that is never loaded)."""
    folder = tmp_path_factory.mktemp("errors")
    jets, labels = jetimg.toys.toy_jets(200, seed=3)
    np.save(folder / "jets.npy", jets)
    np.save(folder / "labels.npy", labels)
    store = folder / "s.zarr"
    jetimg.build(folder / "jets.npy", store, npix=8, labels_key=str(folder / "labels.npy"),
                 chunk_size=50)
    scores = np.random.default_rng(0).random(200).astype(np.float32)
    np.save(folder / "scores.npy", scores)
    with zipfile.ZipFile(folder / "model.keras", "w") as z:  # a zip, as .keras files are
        z.writestr("jetimg.json", "{}")  # never loaded: the outputs are checked first
    return {"folder": folder, "store": store, "jets": folder / "jets.npy",
            "scores": folder / "scores.npy", "model": folder / "model.keras"}


# ---------------------------------------------------------------------------
# the top-level guard
# ---------------------------------------------------------------------------

def _boom(*args, **kwargs):
    raise RuntimeError("boom")


def _commands(f, out):
    """(library function to break, command line) for every subcommand."""
    s, m = f["store"], f["model"]
    return {
        "build": ("jetimg.build", ["build", f["jets"], "-o", out / "o.zarr"]),
        "info": ("jetimg.io.store.stores.store_info", ["info", s]),
        "verify": ("jetimg.verify", ["verify", s]),
        "plot average": ("jetimg.plots.images.plot_average",
                         ["plot", "average", s, "-o", out / "a.png"]),
        "plot jets": ("jetimg.plots.images.plot_jets", ["plot", "jets", s, "-o", out / "j.png"]),
        "plot kinematics": ("jetimg.plots.images.plot_kinematics",
                            ["plot", "kinematics", s, "-o", out / "k.png"]),
        "train": ("jetimg.train.train", ["train", s, "--val", s, "-o", out / "m.keras"]),
        "predict": ("jetimg.train.predict", ["predict", m, s, "-o", out / "p.npy"]),
        "evaluate": ("jetimg.train.evaluate", ["evaluate", "--scores", f["scores"], s,
                                               "--no-plots"]),
        "simulate": ("jetimg.simulate.simulate", ["simulate", "-o", out / "sim.h5", "-n", 10]),
    }


COMMANDS = ["build", "info", "verify", "plot average", "plot jets", "plot kinematics", "train",
            "predict", "evaluate", "simulate"]


@pytest.mark.parametrize("command", COMMANDS)
def test_unexpected_error_is_one_line(files, tmp_path, monkeypatch, command):
    target, args = _commands(files, tmp_path)[command]
    monkeypatch.setattr(target, _boom)
    assert one_line(invoke(*args)) == INTERNAL
    result = invoke("--debug", *args)
    assert result.exit_code == 1
    assert isinstance(result.exception, RuntimeError) and str(result.exception) == "boom"


def test_debug_shows_the_traceback_in_the_installed_command(files):
    """In a process of its own: one line without --debug, Python's traceback with it."""
    code = ("import sys, jetimg.io.store.stores as s\n"
            "def boom(*a, **k): raise RuntimeError('boom')\n"
            "s.store_info = boom\n"
            "from jetimg_cli.main import cli\n"
            "cli(sys.argv[1:], prog_name='jetimg')\n")
    plain = subprocess.run([sys.executable, "-c", code, "info", str(files["store"])],
                           capture_output=True, text=True, timeout=120)
    assert plain.returncode == 1 and plain.stderr.strip() == INTERNAL, plain.stderr
    debug = subprocess.run([sys.executable, "-c", code, "--debug", "info", str(files["store"])],
                           capture_output=True, text=True, timeout=120)
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr
    assert debug.stderr.strip().endswith("RuntimeError: boom"), debug.stderr


def test_foreseen_errors_and_usage_pass_the_guard(files, tmp_path):
    assert invoke("info", files["store"], "--nope").exit_code == 2        # unknown option
    result = invoke("build", files["jets"], "-o", tmp_path / "o.zarr", "--center", "nope")
    assert result.exit_code == 2 and "Usage:" in result.output           # bad choice


# ---------------------------------------------------------------------------
# every output checked before the work (item 2)
# ---------------------------------------------------------------------------

def _no_model(*args, **kwargs):
    raise AssertionError("the model was loaded before the outputs were checked")


def test_predict_checks_its_output_before_scoring(files, tmp_path, monkeypatch):
    monkeypatch.setattr("jetimg.train.scoring.load_model", _no_model)
    monkeypatch.chdir(tmp_path)
    line = one_line(invoke("predict", files["model"], files["store"], "-o", "nodir/s.npy"))
    assert line == "Error: cannot write nodir/s.npy: folder nodir does not exist"
    (tmp_path / "s.npy").write_bytes(b"old")
    line = one_line(invoke("predict", files["model"], files["store"], "-o", "s.npy"))
    assert line == "Error: output s.npy already exists; use --overwrite to replace it"
    # t.npy and t.zip are free: only then is the model loaded
    line = one_line(invoke("predict", files["model"], files["store"], "-o", "t.npy", "--zip"))
    assert "AssertionError: the model was loaded" in line
    (tmp_path / "u.zip").write_bytes(b"old")
    line = one_line(invoke("predict", files["model"], files["store"], "-o", "u.npy", "--zip"))
    assert line == "Error: output u.zip already exists; use --overwrite to replace it"
    assert (tmp_path / "s.npy").read_bytes() == b"old"
    assert (tmp_path / "u.zip").read_bytes() == b"old"
    from jetimg import train as T

    with pytest.raises(JetimgError, match="folder nodir does not exist"):
        T.predict(files["model"], files["store"], output="nodir/s.npy")
    with pytest.raises(OutputExistsError, match="use overwrite=True to replace it"):
        T.predict(files["model"], files["store"], output="s.npy")


def test_train_checks_every_output_before_training(files, tmp_path, monkeypatch):
    def no_keras():
        raise AssertionError("Keras was loaded before the outputs were checked")

    monkeypatch.setattr("jetimg.train.fit._keras", no_keras)
    s = files["store"]
    line = one_line(invoke("train", s, "--val", s, "-o", tmp_path / "nodir" / "m.keras"))
    assert "does not exist" in line
    (tmp_path / "m_log.csv").write_text("old")
    line = one_line(invoke("train", s, "--val", s, "-o", tmp_path / "m.keras"))
    assert line == f"Error: output {tmp_path / 'm_log.csv'} already exists; use --overwrite " \
                   "to replace it"
    line = one_line(invoke("train", s, "--val", s, "-o", tmp_path / "n.keras",
                           "--plot", tmp_path / "nodir" / "h.png"))
    assert "does not exist" in line
    from jetimg import train as T

    with pytest.raises(OutputExistsError, match="overwrite=True"):
        T.train(s, s, tmp_path / "m.keras")
    assert (tmp_path / "m_log.csv").read_text() == "old"


def test_evaluate_checks_its_plots_before_scoring(files, tmp_path):
    line = one_line(invoke("evaluate", "--scores", files["scores"], files["store"],
                           "-o", tmp_path / "nodir"))
    assert "does not exist" in line and "nodir" in line


# ---------------------------------------------------------------------------
# one output policy (item 10)
# ---------------------------------------------------------------------------

def test_evaluate_plots_go_to_the_current_folder_and_are_kept(files, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    before = sorted(p.name for p in files["folder"].iterdir())
    args = ("evaluate", "--scores", files["scores"], files["store"])
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in work.iterdir()) == ["s_roc.png", "s_scores.png"]
    assert sorted(p.name for p in files["folder"].iterdir()) == before   # not beside STORE
    stamp = (work / "s_roc.png").stat().st_mtime_ns
    line = one_line(invoke(*args))
    assert line == "Error: output s_roc.png already exists; use --overwrite to replace it"
    assert (work / "s_roc.png").stat().st_mtime_ns == stamp
    assert invoke(*args, "--overwrite").exit_code == 0
    (tmp_path / "plots").mkdir()
    assert invoke(*args, "-o", tmp_path / "plots").exit_code == 0
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["s_roc.png",
                                                                     "s_scores.png"]
    assert invoke(*args, "-o", tmp_path / "plots", "--no-plots").exit_code == 2
    from jetimg import train as T

    with pytest.raises(OutputExistsError, match="overwrite=True"):
        T.evaluate(files["store"], scores=files["scores"], plots=work / "s")
    result = T.evaluate(files["store"], scores=files["scores"], plots=work / "s",
                        overwrite=True)
    assert result.plots == [str(work / "s_roc.png"), str(work / "s_scores.png")]


def test_plot_refuses_an_existing_output(files, tmp_path):
    out = tmp_path / "k.png"
    out.write_bytes(b"old")
    line = one_line(invoke("plot", "kinematics", files["store"], "-o", out))
    assert line == f"Error: output {out} already exists; use --overwrite to replace it"
    assert out.read_bytes() == b"old"
    assert invoke("plot", "kinematics", files["store"], "-o", out, "--overwrite").exit_code == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    line = one_line(invoke("plot", "jets", files["store"], "-o", tmp_path / "nodir" / "j.png"))
    assert "does not exist" in line
    from matplotlib.figure import Figure

    from jetimg.plots import save_figure

    with pytest.raises(OutputExistsError, match="overwrite=True"):
        save_figure(Figure(), out)
    save_figure(Figure(), out, overwrite=True)


# ---------------------------------------------------------------------------
# the words of the command line (items 8, 9)
# ---------------------------------------------------------------------------

def test_overwrite_words(files, tmp_path):
    out = tmp_path / "o.zarr"
    jetimg.build(files["jets"], out, npix=8)
    line = one_line(invoke("build", files["jets"], "-o", out, "--npix", 8))
    assert line.endswith("already exists; --overwrite replaces it"), line
    with pytest.raises(OutputExistsError) as exc:
        jetimg.build(files["jets"], out, npix=8)
    assert str(exc.value).endswith("already exists; overwrite=True replaces it")
    assert "--" not in str(exc.value)


def test_key_words(tmp_path):
    import h5py

    jets, _ = jetimg.toys.toy_jets(20, n_slots=3, seed=1)
    with h5py.File(tmp_path / "two.h5", "w") as f:
        f["a"], f["b"] = jets, jets
    line = one_line(invoke("build", tmp_path / "two.h5", "-o", tmp_path / "o.zarr"))
    assert "pass --key ... to pick one" in line and "key=" not in line
    with pytest.raises(JetimgError, match=r"pass key=\.\.\. to pick one"):
        jetimg.build(tmp_path / "two.h5", tmp_path / "o.zarr")


def test_pixel_size_and_workers_words(files, tmp_path):
    line = one_line(invoke("build", files["jets"], "-o", tmp_path / "o.zarr",
                           "--pixel-size", "0,0.1"))
    assert line == "Error: --pixel-size DX=0.0 must be a finite number > 0"
    with pytest.raises(JetimgError, match=r"^pixel_size\[0\]=0\.0 must be"):
        Recipe(pixel_size=(0.0, 0.1))
    line = one_line(invoke("build", files["jets"], "-o", tmp_path / "o.zarr", "--workers", 0))
    assert line == "Error: --workers 0 must be an integer >= 1 (leave it out: all cores)"
    with pytest.raises(JetimgError, match=r"^workers=0 must be an integer >= 1 \(or None: "):
        jetimg.build(files["jets"], tmp_path / "o.zarr", workers=0)


def test_invalid_jet_words(tmp_path):
    jets, _ = jetimg.toys.toy_jets(10, n_slots=4, seed=2)
    jets[4, 0, 0] = np.nan
    np.save(tmp_path / "nan.npy", jets)
    line = one_line(invoke("build", tmp_path / "nan.npy", "-o", tmp_path / "o.zarr", "-q"))
    assert "invalid jet at row 4" in line and "(--skip-invalid gives such jets" in line
    assert "invalid=" not in line
    with pytest.raises(JetimgError) as exc:
        jetimg.preprocess(jets)
    assert 'invalid="skip" gives such jets' in str(exc.value)
    assert "--" not in str(exc.value)
    out = jetimg.preprocess(jets, invalid="skip")        # the option the message names
    assert out["valid"].tolist() == [1, 1, 1, 1, 0, 1, 1, 1, 1, 1]


def test_store_path_is_not_called_an_output(files):
    line = one_line(invoke("info", f"{files['store']}/images"))
    assert line.startswith(f"Error: {files['store']}/images is the array 'images' of the "
                           f"image store {files['store']}: jetimg info ")
    assert "output" not in line


MISSING = {
    "build": ["build", "{m}", "-o", "{t}/o.zarr"],
    "info": ["info", "{m}"],
    "verify": ["verify", "{m}"],
    "plot average": ["plot", "average", "{m}", "-o", "{t}/a.png"],
    "plot jets": ["plot", "jets", "{m}", "-o", "{t}/j.png"],
    "plot kinematics": ["plot", "kinematics", "{m}", "-o", "{t}/k.png"],
    "train store": ["train", "{m}", "--val", "{s}", "-o", "{t}/m.keras"],
    "train --val": ["train", "{s}", "--val", "{m}", "-o", "{t}/m.keras"],
    "predict model": ["predict", "{m}", "{s}", "-o", "{t}/p.npy"],
    "predict store": ["predict", "{model}", "{m}", "-o", "{t}/p.npy"],
    "evaluate model": ["evaluate", "{m}", "{s}", "--no-plots"],
    "evaluate --scores": ["evaluate", "--scores", "{m}", "{s}", "--no-plots"],
    "evaluate store": ["evaluate", "--scores", "{scores}", "{m}", "--no-plots"],
}


@pytest.mark.parametrize("case", list(MISSING))
def test_missing_path_is_a_runtime_error(files, tmp_path, case):
    missing = tmp_path / "missing.zarr"
    if case.startswith(("predict model", "evaluate model")):
        missing = tmp_path / "missing.keras"
    elif case == "evaluate --scores":
        missing = tmp_path / "missing.npy"
    names = {"m": missing, "s": files["store"], "t": tmp_path, "model": files["model"],
             "scores": files["scores"]}
    args = [a.format(**names) for a in MISSING[case]]
    line = one_line(invoke(*args))
    assert str(missing) in line and "not found" in line, line


# ---------------------------------------------------------------------------
# incomplete stores
# ---------------------------------------------------------------------------

@pytest.fixture
def incomplete(files, tmp_path):
    """A copy of the store marked incomplete, as an interrupted build leaves it."""
    import shutil

    path = tmp_path / "half.zarr"
    shutil.copytree(files["store"], path)
    set_attrs(path, complete=False)
    return path


def test_incomplete_store_refused(files, incomplete, tmp_path, monkeypatch):
    cases = [["plot", "average", incomplete, "-o", tmp_path / "a.png"],
             ["plot", "jets", incomplete, "-o", tmp_path / "j.png"],
             ["plot", "kinematics", incomplete, "-o", tmp_path / "k.png"],
             ["evaluate", "--scores", files["scores"], incomplete, "--no-plots"]]
    for args in cases:
        line = one_line(invoke(*args))
        assert line == (f"Error: {incomplete} is incomplete (an interrupted build: rows "
                        "written unknown); rebuild it, or pass --allow-incomplete"), line
    assert not list(tmp_path.glob("*.png"))
    # with the build's record, how far it got and how to finish it
    monkeypatch.setattr("jetimg.io.store.completeness.rows_written", lambda path: (150, 200))
    line = one_line(invoke("plot", "kinematics", incomplete, "-o", tmp_path / "k.png"))
    assert line == (f"Error: {incomplete} is incomplete (an interrupted build: 150 of 200 rows "
                    "written); finish it with jetimg build ... --resume, or pass "
                    "--allow-incomplete")
    from jetimg import train as T
    from jetimg.plots import plot_average

    for call in (lambda: plot_average(incomplete),
                 lambda: T.open_images(incomplete),
                 lambda: T.evaluate(incomplete, scores=files["scores"])):
        with pytest.raises(JetimgError) as exc:
            call()
        assert str(exc.value).endswith(
            "finish it with jetimg.build(..., resume=True), or pass allow_incomplete=True")


def test_allow_incomplete(files, incomplete, tmp_path):
    result = invoke("plot", "kinematics", incomplete, "-o", tmp_path / "k.png",
                    "--allow-incomplete")
    assert result.exit_code == 0, result.output
    assert f"note: {incomplete} is incomplete" in result.stderr
    result = invoke("evaluate", "--scores", files["scores"], incomplete, "--no-plots",
                    "--allow-incomplete", "--json")
    assert result.exit_code == 0, result.output
    from jetimg import train as T
    from jetimg.plots import plot_average

    plot_average(incomplete, allow_incomplete=True)
    source = T.open_images(incomplete, allow_incomplete=True)
    assert source.n_rows == 200
    source.close()


def test_allow_incomplete_options_on_every_reader():
    for args in (["train"], ["predict"], ["evaluate"], ["plot", "average"], ["plot", "jets"],
                 ["plot", "kinematics"]):
        assert "--allow-incomplete" in invoke(*args, "--help").output, args


# ---------------------------------------------------------------------------
# progress in a log (item 12)
# ---------------------------------------------------------------------------

LINE = re.compile(r"^jets: [\d,]+ of 4,000 rows \(\d+%\)(, [\d,]+ jets/s)?"
                  r"(, \d+:\d\d:\d\d left)?$")


def test_progress_lines_without_a_terminal(tmp_path):
    result = invoke("build", "--sample", "-o", tmp_path / "s.zarr", "--chunk-size", 50)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert 9 <= len(lines) <= 11, lines
    assert all(LINE.match(line) for line in lines), lines
    done = [int(line.split()[1].replace(",", "")) for line in lines]
    assert done == sorted(done) and done[-1] == 4000
    assert lines[-1].startswith("jets: 4,000 of 4,000 rows (100%)")
