"""The ``jetimg`` command line: ``build`` and ``info``, through click's
CliRunner and through the installed ``jetimg`` script.

Stores written by the command must equal ``jetimg.preprocess`` on the same
rows bit for bit (the ``inputs`` fixture of tests/conftest.py and the
helpers of tests/helpers.py, as tests/test_build.py uses them). Every bad
input or option must exit non-zero with one ``Error: ...`` line naming the
problem, no traceback, and no store that claims ``complete: true``.
"""

import os
import pathlib
import shutil
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

import jetimg
from jetimg.io.store.stores import set_attrs
from jetimg.recipe import Recipe
from jetimg_cli.main import cli

from .helpers import (LAYOUTS, MID_BAD_ROW, N_JETS, assert_bit_identical, check_attrs, check_pandas_images, check_store_layout, expected_outputs, invalid_input, invoke, listing, mid_build_input, read_store, snapshot)

pd = pytest.importorskip("pandas")


def jetimg_script():
    """The installed console script of this environment."""
    script = pathlib.Path(sys.executable).parent / "jetimg"
    return str(script) if script.exists() else shutil.which("jetimg")


@pytest.fixture(scope="session")
def bad_files(tmp_path_factory):
    """Files that are not jet files jetimg can read."""
    import h5py

    folder = tmp_path_factory.mktemp("bad")
    (folder / "notes.h5").write_text("E_0,PX_0,PY_0,PZ_0\n1.0,0.5,0.5,0.1\n")
    (folder / "random.h5").write_bytes(b"\x07" + np.random.default_rng(0).bytes(4095))
    with h5py.File(folder / "nokey.h5", "w") as f:
        f["foo"] = np.zeros((3, 2))
        f["bar"] = np.zeros(3)
    jets, labels = jetimg.toys.toy_jets(20, n_slots=3, seed=1)
    frame = pd.DataFrame(jets.reshape(20, 12), columns=[f"{c}_{i}" for i in range(3)
                                                        for c in ("E", "PX", "PY", "PZ")])
    frame["is_signal_new"] = labels.astype(np.int64)
    frame.drop(columns=["PY_1"]).to_hdf(folder / "missing_column.h5", key="table")
    return folder


def succeeded(result):
    assert result.exception is None and result.exit_code == 0, \
        f"{result.exit_code} {result.exception!r}\n{result.output}"
    assert "Traceback" not in result.output
    return result


def error_line(stderr, stdout=""):
    """The one 'Error: ...' line of a failed command, checked for clutter."""
    assert "Traceback" not in stderr + stdout
    assert " jets in " not in stdout          # no summary line of a build
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1, stderr
    # Besides it, only click's usage lines (bad options) or progress lines (stderr
    # is not a terminal here: a line per tenth of the rows done).
    others = [line for line in lines if line not in errors and not line.startswith(
        ("Usage: ", "Try 'jetimg", "jets: "))]
    assert others in ([], ["jets"]), stderr
    return errors[0]


def failed(result, *words):
    """A non-zero exit through click (not an escaped exception), one line naming ``words``."""
    assert result.exit_code not in (0, None), result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    line = error_line(result.stderr, result.stdout)
    for word in words:
        assert word in line, line
    return line


def assert_no_complete_store(folder, keep=()):
    """Nothing in ``folder`` but the files named in ``keep`` (no half-written or
    temporary store, no lock file)."""
    assert listing(folder) == sorted(keep)


# ---------------------------------------------------------------------------
# --version, --help
# ---------------------------------------------------------------------------

HEAVY_MODULES = ("numba", "llvmlite", "dask", "zarr", "numcodecs", "h5py", "hdf5plugin", "pandas",
                 "distributed", "keras", "jax", "matplotlib")


def test_version_script_imports_nothing_heavy():
    """The console script's ``--version`` in its own process, with Python's import
    log (``-X importtime``): the version line, and none of the heavy packages
    imported (which is what keeps it fast; benchmarks/bench_startup.py times it)."""
    proc = subprocess.run([jetimg_script(), "--version"], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"jetimg, version {jetimg.__version__}"
    imported = [line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:") and "|" in line]
    assert "jetimg_cli.main" in imported and "click" in imported, proc.stderr[-2000:]
    heavy = sorted({name.split(".")[0] for name in imported} & set(HEAVY_MODULES))
    assert heavy == [], f"jetimg --version imported {heavy}"


def test_version_and_help_import_nothing_heavy():
    code = ("import sys\nfrom click.testing import CliRunner\nfrom jetimg_cli.main import cli\n"
            "for args in (['--version'], ['--help'], ['build', '--help'], ['info', '--help'],\n"
            "             ['verify', '--help'], ['train', '--help'], ['predict', '--help'],\n"
            "             ['evaluate', '--help'], ['plot', 'average', '--help']):\n"
            "    assert CliRunner().invoke(cli, args).exit_code == 0, args\n"
            "print(sorted(m for m in ('numba', 'dask', 'zarr', 'h5py', 'pandas', 'distributed',"
            " 'keras', 'jax', 'matplotlib') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize("command", [[], ["build"], ["info"]])
def test_help_has_examples(command):
    result = succeeded(invoke(*command, "--help"))
    assert "Example" in result.stdout
    assert result.stdout.startswith(f"Usage: {' '.join(['jetimg'] + command)} ")


def test_every_command_has_examples():
    for name in cli.commands:
        assert "Example" in succeeded(invoke(name, "--help")).stdout, name


# ---------------------------------------------------------------------------
# build: every layout, both formats, the same as preprocess
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["zarr", "h5"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_build_layouts(inputs, tmp_path, layout, fmt):
    src = inputs.files[layout]
    out = tmp_path / f"images.{fmt}"
    result = succeeded(invoke("build", *src.args, "-o", out, "--chunk-size", 1000))
    summary = result.stdout.strip()
    assert summary.startswith(f"{N_JETS} jets in ") and str(out) in summary
    assert "invalid" not in summary
    arrays, attrs = read_store(out)
    assert_bit_identical(arrays, inputs.expected())
    check_store_layout(out, N_JETS, 40, has_labels=True)
    check_attrs(attrs, recipe=Recipe(), input_name=src.path.name, input_rows=N_JETS,
                n_jets=N_JETS)
    assert_no_complete_store(tmp_path, keep=[out.name])


def test_installed_command_layouts(inputs, tmp_path):
    """The console script, one process per layout (about 1 s each, mostly start-up)."""
    for layout in LAYOUTS:
        src = inputs.files[layout]
        out = tmp_path / f"{layout}.{'h5' if layout in ('npy', 'pandas-fixed') else 'zarr'}"
        proc = subprocess.Popen(
            [jetimg_script(), "build", *src.args, "-o", str(out), "--workers", "1"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{layout}: {stderr}"
        assert stdout.startswith(f"{N_JETS} jets in "), stdout
        assert "Traceback" not in stderr and "Warning" not in stderr, stderr
        arrays, attrs = read_store(out)
        assert_bit_identical(arrays, inputs.expected())
        check_attrs(attrs, recipe=Recipe(), input_name=inputs.files[layout].path.name,
                    input_rows=N_JETS, n_jets=N_JETS)
    assert len(listing(tmp_path)) == len(LAYOUTS)
    # jetimg info on the last store, then on the same store marked incomplete
    proc = subprocess.run([jetimg_script(), "info", str(out)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and "complete     yes" in proc.stdout, proc.stderr
    set_attrs(out, complete=False)
    proc = subprocess.run([jetimg_script(), "info", str(out)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and "complete     NO" in proc.stdout, proc.stderr
    assert "Traceback" not in proc.stderr


def test_limit(inputs, tmp_path):
    out = tmp_path / "first.h5"
    result = succeeded(invoke("build", inputs.files["pandas-table-blosc"].path, "-o", out,
                              "--limit", 400, "-q"))
    assert result.stdout.startswith("400 jets in ")
    arrays, attrs = read_store(out)
    assert_bit_identical(arrays, inputs.expected(400))
    check_store_layout(out, 400, 40, has_labels=True)
    check_attrs(attrs, recipe=Recipe(), input_name="table_blosc.h5", input_rows=N_JETS,
                n_jets=400)


@pytest.mark.parametrize("fmt", ["zarr", "h5"])
@pytest.mark.parametrize("name", ["npy", "pandas-fixed"])
def test_no_labels(inputs, tmp_path, name, fmt):
    out = tmp_path / f"images.{fmt}"
    succeeded(invoke("build", inputs.no_labels[name].path, "-o", out, "--limit", 150))
    arrays, _ = read_store(out)
    assert "labels" not in arrays
    check_store_layout(out, 150, 40, has_labels=False)
    assert_bit_identical(arrays, expected_outputs(inputs.jets[:150], None))
    info = succeeded(invoke("info", out)).stdout
    assert "labels       none" in info


RECIPES = [
    (["--npix", "24"], Recipe(npix=24)),
    (["--pixel-size", "0.02,0.03"], Recipe(pixel_size=(0.02, 0.03))),
    (["--pixel-size", "0.05"], Recipe(pixel_size=(0.05, 0.05))),
    (["--no-rotate"], Recipe(rotate=False)),
    (["--no-flip"], Recipe(flip=False)),
    (["--center", "leading"], Recipe(center="leading")),
    (["--center", "jet"], Recipe(center="jet")),
    (["--normalise", "max"], Recipe(normalise="max")),
    (["--normalise", "none"], Recipe(normalise="none")),
    (["--threshold", "2.5"], Recipe(threshold=2.5)),
    (["--intensity", "e"], Recipe(intensity="e")),
    (["--npix", "16", "--pixel-size", "0.04,0.05", "--no-rotate", "--center", "leading",
      "--normalise", "none", "--threshold", "1", "--intensity", "e"],
     Recipe(npix=16, pixel_size=(0.04, 0.05), rotate=False, center="leading",
            normalise="none", threshold=1.0, intensity="e")),
]


@pytest.mark.parametrize("options, recipe", RECIPES, ids=[" ".join(o) for o, _ in RECIPES])
def test_recipe_options(inputs, tmp_path, options, recipe):
    out = tmp_path / "images.zarr"
    succeeded(invoke("build", inputs.files["pandas-fixed"].path, "-o", out, "--limit", 300,
                     "--chunk-size", 100, *options))
    arrays, attrs = read_store(out)
    assert_bit_identical(arrays, inputs.expected(300, recipe))
    check_store_layout(out, 300, recipe.npix, has_labels=True)
    check_attrs(attrs, recipe=recipe, input_name="fixed.h5", input_rows=N_JETS, n_jets=300)


@pytest.mark.parametrize("chunk_size", [1, 7, 1000])
@pytest.mark.parametrize("workers", [1, 2])
def test_chunk_size_and_workers(inputs, tmp_path, chunk_size, workers):
    out = tmp_path / "images.h5"
    rows = {1: 80, 7: 500, 1000: N_JETS}[chunk_size]
    succeeded(invoke("build", *inputs.files["zarr-array"].args, "-o", out, "--limit", rows,
                     "--chunk-size", chunk_size, "--workers", workers))
    assert_bit_identical(read_store(out)[0], inputs.expected(rows))


@pytest.mark.parametrize("fmt", ["zarr", "h5"])
def test_schedulers_identical(inputs, tmp_path, fmt):
    src = inputs.files["pandas-fixed-zlib"]
    for scheduler in ("threads", "processes"):
        succeeded(invoke("build", *src.args, "-o", tmp_path / f"{scheduler}.{fmt}",
                         "--scheduler", scheduler, "--workers", 2, "--chunk-size", 900))
    threads, processes = (read_store(tmp_path / f"{s}.{fmt}") for s in ("threads", "processes"))
    assert_bit_identical(processes[0], threads[0])
    assert processes[1] == threads[1]
    assert_bit_identical(threads[0], inputs.expected())


def test_zarr_and_hdf5_agree(inputs, tmp_path):
    src = inputs.files["npy"]
    for fmt in ("zarr", "h5"):
        succeeded(invoke("build", *src.args, "-o", tmp_path / f"a.{fmt}", "--npix", 20))
    (za, zattrs), (ha, hattrs) = read_store(tmp_path / "a.zarr"), read_store(tmp_path / "a.h5")
    assert_bit_identical(za, ha)
    assert zattrs == hattrs


def test_pandas_images(inputs, tmp_path):
    src = inputs.files["pandas-table-blosc"]
    succeeded(invoke("build", *src.args, "-o", tmp_path / "store.h5", "--npix", 32))
    out = tmp_path / "train_img.h5"
    result = succeeded(invoke("build", *src.args, "-o", out, "--npix", 32,
                              "--layout", "pandas-images"))
    assert result.stdout.startswith(f"{N_JETS} jets in ")
    store, _ = read_store(tmp_path / "store.h5")
    check_pandas_images(out, store)
    assert_bit_identical(store, inputs.expected(recipe=Recipe(npix=32)))
    assert_no_complete_store(tmp_path, keep=["store.h5", "train_img.h5"])


def test_pandas_images_needs_hdf5_output(inputs, tmp_path):
    failed(invoke("build", inputs.files["npy"].path, "-o", tmp_path / "img.zarr",
                  "--layout", "pandas-images"), "pandas-images", ".h5")
    assert_no_complete_store(tmp_path)


# ---------------------------------------------------------------------------
# dask.distributed
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["zarr", "h5"])
def test_scheduler_address(inputs, tmp_path, local_cluster, fmt):
    # Regression test (fixed), fmt="h5" only: an HDF5 output on a dask.distributed
    # scheduler fails with a TypeError (pipeline.py passes client= to
    # distributed.Lock, which has no such argument); see
    # test_build.py::test_distributed_local_cluster_hdf5.
    out = tmp_path / f"dist.{fmt}"
    succeeded(invoke("build", *inputs.files["pandas-fixed"].args, "-o", out, "--chunk-size",
                     500, "--limit", 2000, "--scheduler", local_cluster.scheduler_address,
                     "-q"))
    arrays, attrs = read_store(out)
    assert_bit_identical(arrays, inputs.expected(2000))
    check_attrs(attrs, recipe=Recipe(), input_name="fixed.h5", input_rows=N_JETS, n_jets=2000)
    assert_no_complete_store(tmp_path, keep=[out.name])


# ---------------------------------------------------------------------------
# info
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["zarr", "h5"])
def test_info(inputs, tmp_path, fmt):
    out = tmp_path / f"images.{fmt}"
    succeeded(invoke("build", inputs.files["pandas-fixed"].path, "-o", out, "--limit", 700,
                     "--npix", 28, "--normalise", "max"))
    text = succeeded(invoke("info", out)).stdout
    values, counts = np.unique(inputs.labels[:700], return_counts=True)
    lines = dict(line.split(None, 1) for line in text.strip().splitlines())
    assert lines["rows"] == f"700 of {N_JETS} in fixed.h5"
    assert lines["complete"] == "yes"
    names = ("QCD", "top")   # the top-tagging layout's label_names
    assert lines["labels"] == ", ".join(f"{v} {names[v]}: {c}" for v, c in zip(values, counts))
    assert lines["images"] == "(700, 28, 28) float32"
    assert lines["invalid"] == "0"
    assert "npix=28" in lines["recipe"] and "normalise=max" in lines["recipe"]
    assert "pixel_size=[" in lines["recipe"]
    assert lines["jetimg"] == jetimg.__version__
    assert lines["store"].startswith(f"{out} ({'zarr' if fmt == 'zarr' else 'hdf5'}, ")


@pytest.mark.parametrize("fmt", ["zarr", "h5"])
def test_info_incomplete_store_describes_it(inputs, tmp_path, fmt):
    # info describes (exit 0); verify judges.
    out = tmp_path / f"images.{fmt}"
    succeeded(invoke("build", inputs.files["npy"].path, "-o", out, "--limit", 50))
    set_attrs(out, complete=False)
    result = invoke("info", out)
    assert result.exit_code == 0, result.output
    assert "complete     NO" in result.stdout and "rows         50 of" in result.stdout
    assert "Traceback" not in result.output


def test_info_of_no_store(tmp_path):
    failed(invoke("info", tmp_path / "absent.zarr"), "not found", "absent.zarr")
    (tmp_path / "notes.h5").write_text("not a store\n")
    failed(invoke("info", tmp_path / "notes.h5"), "notes.h5", "not an HDF5 file")


# ---------------------------------------------------------------------------
# bad inputs and options: exit != 0, one line, nothing left behind
# ---------------------------------------------------------------------------

def bad_input_cases(inputs, bad):
    """case -> (INPUT and options, words the error line must hold)."""
    fixed, arrays = inputs.files["pandas-fixed"].path, inputs.files["hdf5-array"].path
    cases = [
        ("missing input", [bad / "absent.h5"], ["input file not found", "absent.h5"]),
        ("text file", [bad / "notes.h5"], ["notes.h5", "not a jet file", "text file"]),
        ("random bytes", [bad / "random.h5"], ["random.h5", "not a jet file",
                                               "unrecognised binary data"]),
        ("no key", [bad / "nokey.h5"], ["no pandas frame under key 'table'",
                                        "no (N, M, 4) array", "bar, foo"]),
        ("--key absent", [fixed, "--key", "jets"], ["key 'jets' not found", "table"]),
        ("--key absent array", [arrays, "--key", "data/jets"],
         ["key 'data/jets' not found", "top-level keys: data, other"]),
        ("ambiguous arrays", [arrays], ["several (N, M, 4) arrays", "/data/constituents",
                                        "/other/decoy", "key"]),
        ("--labels-key absent", [arrays, "--key", "data/constituents", "--labels-key", "y"],
         ["labels dataset 'y' not found", "data, other"]),
        ("missing column", [bad / "missing_column.h5"],
         ["missing columns PY_1", "found 12 columns", "E_0, PX_0"]),
        ("labels column absent", [fixed, "--labels-key", "is_top"],
         ["labels column 'is_top' not found", "found 806 columns", "E_0"]),
        ("limit beyond", [fixed, "--limit", N_JETS + 1],
         [f"--limit {N_JETS + 1}", f"beyond the input's {N_JETS} rows"]),
        ("limit 0", [fixed, "--limit", 0], ["--limit 0", "integer >= 1"]),
        ("limit negative", [fixed, "--limit", -2], ["--limit -2", "integer >= 1"]),
        ("npix 0", [fixed, "--npix", 0], ["--npix 0", "1 to 4096"]),
        ("center middle", [fixed, "--center", "middle"],
         ["'--center'", "'middle'", "'centroid', 'jet', 'leading'"]),
        ("normalise", [fixed, "--normalise", "area"], ["'--normalise'", "'area'", "'sum'"]),
        ("intensity", [fixed, "--intensity", "m"], ["'--intensity'", "'m'", "'pt'"]),
        ("pixel size 0", [fixed, "--pixel-size", "0,0.03"], ["--pixel-size DX=0.0", "> 0"]),
        ("pixel size words", [fixed, "--pixel-size", "wide"], ["'--pixel-size'", "'wide'"]),
        ("pixel size three", [fixed, "--pixel-size", "1,2,3"], ["'1,2,3'", "DX,DY"]),
        ("threshold", [fixed, "--threshold", -1], ["--threshold -1.0", ">= 0"]),
        ("npix text", [fixed, "--npix", "big"], ["'--npix'", "'big'"]),
        ("codec", [fixed, "--codec", "gzip9"], ["--codec gzip9", "blosc-lz4"]),
        ("layout", [fixed, "--layout", "table"], ["'--layout'", "'table'"]),
        ("no input", [], ["missing INPUT"]),
    ]
    return {case: (args, words) for case, args, words in cases}


def bad_case_names():
    """The case names of ``bad_input_cases``, read from its table with stand-in paths
    (the files are written later, by the fixtures)."""
    stand_in = SimpleNamespace(path=pathlib.Path("stand-in.h5"))
    return list(bad_input_cases(SimpleNamespace(files={layout: stand_in for layout in LAYOUTS}),
                                pathlib.Path("bad")))


BAD_CASES = bad_case_names()


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_inputs_and_options(inputs, bad_files, tmp_path, case):
    """Exit != 0, one error line naming the problem, nothing written."""
    args, words = bad_input_cases(inputs, bad_files)[case]
    failed(invoke("build", *args, "-o", tmp_path / "out.zarr", "-q"), *words)
    assert_no_complete_store(tmp_path)


def test_bad_output_suffix(inputs, tmp_path):
    failed(invoke("build", inputs.files["npy"].path, "-o", tmp_path / "out.txt"),
           "out.txt", "unknown suffix '.txt'", ".zarr", ".h5")
    assert_no_complete_store(tmp_path)


def test_output_folder_missing(inputs, tmp_path):
    failed(invoke("build", inputs.files["npy"].path, "-o", tmp_path / "nowhere" / "a.zarr"),
           "cannot write", "nowhere", "does not exist")
    assert_no_complete_store(tmp_path)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root writes into read-only folders")
def test_output_folder_read_only(inputs, tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        failed(invoke("build", inputs.files["npy"].path, "-o", folder / "a.h5"),
               "cannot write", "not writable")
        assert listing(folder) == []
    finally:
        folder.chmod(0o755)


@pytest.mark.parametrize("kind, row, reason", [("nan", 7, "not finite"),
                                               ("inf", 23, "not finite"),
                                               ("negative", 41, "negative energy")])
def test_invalid_jet_names_row(tmp_path_factory, tmp_path, kind, row, reason):
    path, jets, labels, bad = invalid_input(tmp_path_factory)
    # Only this jet is invalid in a copy of the file (the others repaired).
    fixed = jets.copy()
    clean, _ = jetimg.toys.toy_jets(60, n_slots=30, seed=9)
    for other in bad:
        if other != row:
            fixed[other] = clean[other]
    np.save(tmp_path / "one_bad.npy", fixed)
    failed(invoke("build", tmp_path / "one_bad.npy", "-o", tmp_path / "out.zarr", "-q"),
           f"invalid jet at row {row}:", reason, "--skip-invalid")
    assert_no_complete_store(tmp_path, keep=["one_bad.npy"])


@pytest.mark.parametrize("fmt", ["zarr", "h5"])
def test_skip_invalid(tmp_path_factory, tmp_path, fmt):
    path, jets, labels, bad = invalid_input(tmp_path_factory)
    out = tmp_path / f"out.{fmt}"
    result = succeeded(invoke("build", path, "-o", out, "--skip-invalid", "--chunk-size", 10))
    assert result.stdout.rstrip().endswith(f", {len(bad)} invalid jets skipped")
    arrays, attrs = read_store(out)
    assert np.flatnonzero(arrays["valid"] == 0).tolist() == bad
    assert not arrays["images"][bad].any() and not arrays["jet_pt"][bad].any()
    assert_bit_identical(arrays, expected_outputs(jets, labels, Recipe(invalid="skip")))
    assert attrs["complete"] is True and attrs["recipe"]["invalid"] == "skip"
    assert f"invalid      {len(bad)}" in succeeded(invoke("info", out)).stdout


def make_old(inputs, folder, fmt):
    old = folder / f"old.{fmt}"
    succeeded(invoke("build", inputs.files["npy"].path, "-o", old, "--limit", 100,
                     "--npix", 12))
    return old, snapshot(old)


@pytest.mark.parametrize("fmt", ["zarr", "h5"])
def test_existing_output_refused(inputs, tmp_path, fmt):
    old, before = make_old(inputs, tmp_path, fmt)
    mtime = old.stat().st_mtime_ns
    failed(invoke("build", inputs.files["pandas-fixed"].path, "-o", old, "-q"),
           str(old), "already exists", "--overwrite")
    assert snapshot(old) == before and old.stat().st_mtime_ns == mtime
    assert listing(tmp_path) == [old.name]
    # --overwrite replaces it with the new store
    succeeded(invoke("build", inputs.files["pandas-fixed"].path, "-o", old, "--limit", 200,
                     "--overwrite"))
    arrays, attrs = read_store(old)
    assert_bit_identical(arrays, inputs.expected(200))
    assert attrs["input"] == "fixed.h5" and attrs["complete"] is True
    assert listing(tmp_path) == [old.name]


@pytest.mark.parametrize("fmt", ["zarr", "h5"])
def test_overwrite_failing_midway_keeps_old(inputs, tmp_path_factory, tmp_path, fmt):
    old, before = make_old(inputs, tmp_path, fmt)
    result = invoke("build", mid_build_input(tmp_path_factory), "-o", old, "--overwrite",
                    "--chunk-size", 1000)
    failed(result, f"invalid jet at row {MID_BAD_ROW}:", "not finite")
    assert snapshot(old) == before
    assert listing(tmp_path) == [old.name]           # no temporary store or lock file
    assert read_store(old)[1]["complete"] is True


@pytest.mark.parametrize("fmt", ["zarr", "h5"])
def test_fresh_output_failing_midway_leaves_nothing(tmp_path_factory, tmp_path, fmt):
    result = invoke("build", mid_build_input(tmp_path_factory), "-o", tmp_path / f"new.{fmt}",
                    "--chunk-size", 1000, "--workers", 2, "-q")
    failed(result, f"invalid jet at row {MID_BAD_ROW}:")
    assert_no_complete_store(tmp_path)


def test_installed_command_errors(inputs, bad_files, tmp_path_factory, tmp_path):
    """Real stderr of the console script: one line, no traceback, nothing written."""
    old, before = make_old(inputs, tmp_path, "zarr")
    cases = {
        "missing": ([bad_files / "absent.h5"], ["input file not found"]),
        "text": ([bad_files / "notes.h5"], ["text file"]),
        "columns": ([bad_files / "missing_column.h5"], ["missing columns PY_1", "found"]),
        "npix": ([inputs.files["npy"].path, "--npix", "0"], ["--npix 0"]),
        "center": ([inputs.files["npy"].path, "--center", "middle"], ["'middle'"]),
        "limit": ([inputs.files["npy"].path, "--limit", "0"], ["--limit 0"]),
        "mid": ([mid_build_input(tmp_path_factory), "--chunk-size", "1000"],
                [f"invalid jet at row {MID_BAD_ROW}:"]),
    }
    procs = {}
    for name, (args, words) in cases.items():
        folder = tmp_path / name
        folder.mkdir()
        procs[name] = subprocess.Popen(
            [jetimg_script(), "build", *map(str, args), "-o", str(folder / "out.h5")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs["exists"] = subprocess.Popen(
        [jetimg_script(), "build", str(inputs.files["npy"].path), "-o", str(old)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cases["exists"] = ([], ["already exists", "--overwrite"])
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode in (1, 2), f"{name}: {proc.returncode} {stderr}"
        line = error_line(stderr, stdout)
        for word in cases[name][1]:
            assert word in line, f"{name}: {line}"
        if name != "exists":
            assert listing(tmp_path / name) == [], name
    assert snapshot(old) == before


# ---------------------------------------------------------------------------
# library bugs (see the comments): these fail until they are fixed
# ---------------------------------------------------------------------------

def test_chunk_size_zero_refused(inputs, tmp_path):
    # Regression test (fixed): cli/jetimg_cli/main.py build() does
    # ``kwargs["chunk_size"] = kwargs["chunk_size"] or DEFAULT_CHUNK_SIZE``, so
    # --chunk-size 0 silently builds with 50,000 instead of being refused as
    # jetimg.build(chunk_size=0) is.
    failed(invoke("build", inputs.files["npy"].path, "-o", tmp_path / "a.zarr",
                  "--chunk-size", 0, "--limit", 10), "--chunk-size 0")
    assert_no_complete_store(tmp_path)


@pytest.mark.parametrize("workers", [0, -1])
def test_workers_must_be_positive(inputs, tmp_path, workers):
    # Regression test (fixed): --workers -1 ends in a traceback (ThreadPoolExecutor's
    # ValueError escapes jetimg.build) and --workers 0 silently means "all
    # cores" (``workers or os.cpu_count()`` in pipeline.py _run_chunks).
    failed(invoke("build", inputs.files["npy"].path, "-o", tmp_path / "a.zarr",
                  "--workers", workers, "--limit", 10), f"--workers {workers}")
    assert_no_complete_store(tmp_path)


def test_scheduler_typo(inputs, tmp_path):
    # Regression test (fixed): --scheduler thread (a typo of threads) is taken for a
    # dask.distributed address and distributed's ValueError ("missing port
    # number in address 'thread'") escapes as a traceback.
    failed(invoke("build", inputs.files["npy"].path, "-o", tmp_path / "a.zarr",
                  "--scheduler", "thread", "--limit", 10), "thread")
    assert_no_complete_store(tmp_path)


def test_build_sample_shipped_with_the_package(tmp_path):
    """The README's first command: the shipped sample builds with nothing to download."""
    from click.testing import CliRunner

    from jetimg.data import SAMPLE_SIZE
    from jetimg_cli.main import cli

    out = tmp_path / "sample_img.zarr"
    result = CliRunner().invoke(cli, ["build", "--sample", "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    store = jetimg.open_store(out)
    assert len(store) == SAMPLE_SIZE and store.attrs["complete"] is True
    labels, mass = store["labels"][:], store["jet_mass"][:]
    assert abs(int(labels.sum()) - SAMPLE_SIZE // 2) == 0
    assert 150 < np.median(mass[labels == 1]) < 200 < np.median(mass[labels == 1]) + 100
    assert np.median(mass[labels == 0]) < np.median(mass[labels == 1]) - 50
    both = CliRunner().invoke(cli, ["build", "x.h5", "--sample", "-o", str(tmp_path / "b.zarr")])
    assert both.exit_code != 0 and "not both" in both.output
