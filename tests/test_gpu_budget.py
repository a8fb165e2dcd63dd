"""The GPU check fits the GPU machine, and jetimg runs there without hdf5plugin.

The GPU machine gets the working tree plus the wheels of
``benchmarks/gpu_wheels.sh`` (``.whl/``), together at most ``LIMIT_MIB`` less
``MARGIN_MIB``. The script records its wheels' size as ``WHEELS_MIB`` (and
fails when what it downloads is larger), so the tracked tree is held against
the same budget here without downloading anything.

hdf5plugin is not carried (its wheel alone would take most of the budget):
jetimg must import and build Zarr stores without it, refuse an HDF5 store with
a blosc or zstd codec in one line, and ``benchmarks/gpu_check.sh`` deselects,
by name, the GPU tests that need it.
"""

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import jetimg
from jetimg.errors import InputError
from jetimg.io.store.stores import CODECS

from .helpers import invoke, one_line

ROOT = Path(__file__).resolve().parent.parent
WHEELS_SCRIPT = ROOT / "benchmarks" / "gpu_wheels.sh"
CHECK_SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"
MIB = 2**20
NEEDS_PLUGIN = [c for c in CODECS if c != "none"]


def script_constants(names=("LIMIT_MIB", "MARGIN_MIB", "WHEELS_MIB")):
    """{name: int} of the budget's ``NAME=number`` lines in gpu_wheels.sh."""
    text = WHEELS_SCRIPT.read_text()
    found = {}
    for name in names:
        values = re.findall(rf"^{name}=(\d+)\b", text, flags=re.MULTILINE)
        assert len(values) == 1, f"{WHEELS_SCRIPT.name} should set {name}=N once, not {values}"
        found[name] = int(values[0])
    return found


def tracked_sizes():
    """{path: bytes} of the files git tracks here (what a fresh clone holds)."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True)
    if listed.returncode != 0:
        pytest.skip(f"not a git checkout: {ROOT}")
    paths = [p for p in listed.stdout.decode().split("\0") if p]
    return {p: os.path.getsize(ROOT / p) for p in paths if (ROOT / p).is_file()}


def test_tracked_tree_and_recorded_wheels_fit_the_budget():
    budget = script_constants()
    sizes = tracked_sizes()
    tree = sum(sizes.values())
    allowed = (budget["LIMIT_MIB"] - budget["MARGIN_MIB"]) * MIB
    wheels = budget["WHEELS_MIB"] * MIB
    data = sum(n for p, n in sizes.items() if p.startswith("jetimg/data/"))
    largest = ", ".join(f"{p} {n / MIB:.1f} MiB"
                        for p, n in sorted(sizes.items(), key=lambda i: -i[1])[:5])
    assert tree + wheels <= allowed, (
        f"tracked tree {tree / MIB:.1f} MiB (shipped samples in jetimg/data: "
        f"{data / MIB:.1f} MiB) + wheels WHEELS_MIB={budget['WHEELS_MIB']} is over "
        f"LIMIT_MIB - MARGIN_MIB = {allowed // MIB} MiB of {WHEELS_SCRIPT.name}; "
        f"largest files: {largest}")


def test_the_deselected_gpu_tests_exist():
    """Each test gpu_check.sh deselects without hdf5plugin is still there, so the list
    names real tests (a renamed one would run and fail on the GPU machine)."""
    text = CHECK_SCRIPT.read_text()
    block = re.search(r"^NEEDS_HDF5PLUGIN=\((.*?)^\)", text, flags=re.MULTILINE | re.DOTALL)
    assert block, f"{CHECK_SCRIPT.name} should list NEEDS_HDF5PLUGIN=( ... )"
    ids = re.findall(r'"([^"]+)"', block.group(1))
    assert ids
    for node in ids:
        path, name = node.split("::")
        name, _, param = name.partition("[")
        source = (ROOT / path).read_text()
        assert re.search(rf"^def {re.escape(name)}\(", source, flags=re.MULTILINE), node
        if param:
            assert f'"{param.rstrip("]")}"' in source, node


@pytest.fixture
def no_hdf5plugin(monkeypatch):
    """``import hdf5plugin`` fails, as where it is not installed."""
    monkeypatch.setitem(sys.modules, "hdf5plugin", None)


@pytest.fixture(scope="module")
def jets_npy(tmp_path_factory):
    path = tmp_path_factory.mktemp("noplugin") / "jets.npy"
    np.save(path, jetimg.toys.toy_jets(40, seed=5)[0])
    return path


@pytest.mark.parametrize("codec", NEEDS_PLUGIN)
def test_hdf5_store_with_a_plugin_codec_is_refused_in_one_line(no_hdf5plugin, jets_npy,
                                                               tmp_path, codec):
    out = tmp_path / "out.h5"
    with pytest.raises(InputError, match=rf"^codec='{codec}' in an HDF5 store needs "
                                         r"hdf5plugin, which is not installed"):
        jetimg.build(jets_npy, out, codec=codec, npix=8)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_the_command_refuses_it_in_its_own_words_and_keeps_the_old_store(
        no_hdf5plugin, jets_npy, tmp_path):
    out = tmp_path / "out.h5"
    jetimg.build(jets_npy, out, codec="none", npix=8)   # no plugin needed
    before = out.read_bytes()
    line = one_line(invoke("build", jets_npy, "-o", out, "--npix", "8", "--overwrite",
                           "--quiet"))
    assert line.startswith("Error: --codec blosc-lz4-noshuffle in an HDF5 store needs "
                           "hdf5plugin"), line
    assert "--codec none" in line and "codec=" not in line
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.h5"]


def test_jetimg_imports_and_builds_zarr_without_hdf5plugin(jets_npy, tmp_path):
    """In a fresh interpreter where hdf5plugin cannot be imported: jetimg, its readers
    and the CLI import, and a Zarr store (default codec) is built and read back."""
    code = textwrap.dedent("""
        import sys
        sys.modules["hdf5plugin"] = None
        import numpy as np
        import jetimg, jetimg.io, jetimg.io.readers.hdf5  # noqa: E401
        from jetimg_cli.main import cli  # noqa: F401
        src, out = sys.argv[1:]
        result = jetimg.build(src, out, npix=8)
        with jetimg.open_store(out) as store:
            print(result.n_jets, store["images"].shape, "hdf5plugin" in sys.modules
                  and sys.modules["hdf5plugin"] is not None)
    """)
    done = subprocess.run([sys.executable, "-c", code, str(jets_npy), str(tmp_path / "o.zarr")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == "40 (40, 8, 8) False"
