"""``verify`` and ``info`` on damaged and interrupted stores: fault injection.

Each fault is made on a copy of a clean store, as a disk, a copy or a crash
would leave it: a chunk file (a shard of images, a chunk of a per-jet array)
overwritten with noise, half overwritten, truncated, emptied or deleted; a
chunk of an HDF5 dataset overwritten at its offset in the file; a build
interrupted part-way. ``verify`` must name the array and the rows of each
finding in one line, go on checking the rest and exit 1; ``info`` must
describe an interrupted store (rows written, counts over them) and exit 0;
neither may end in a traceback.
"""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import jetimg
from jetimg.io.store import stores
from jetimg.io.store.rows import chunk_ranges
from jetimg.pipeline import build_progress
from jetimg.toys import toy_jets
from jetimg_cli.main import cli

from .helpers import StopAfter

zarr = pytest.importorskip("zarr")
h5py = pytest.importorskip("h5py")

N_JETS = 6000
NPIX = 16
#: A build chunk of 3000 rows: images in shards of 3000 rows holding chunks of
#: 1000 (as a default build, smaller), the per-jet arrays in chunks of 3000.
CHUNK = 3000


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """Toy jets and labels, and their clean Zarr and HDF5 stores."""
    folder = tmp_path_factory.mktemp("verify")
    jets, labels = toy_jets(N_JETS, n_slots=30, seed=7)
    np.save(folder / "jets.npy", jets)
    np.save(folder / "labels.npy", labels)
    for name in ("clean.zarr", "clean.h5"):
        jetimg.build(folder / "jets.npy", folder / name, chunk_size=CHUNK, npix=NPIX,
                     labels_key=str(folder / "labels.npy"))
    return folder


def copy_of(source, tmp_path, name="clean.zarr"):
    out = tmp_path / name.replace("clean", "copy")
    (shutil.copytree if (source / name).is_dir() else shutil.copy)(source / name, out)
    return out


def overwrite(path, offset, n, seed=0):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(np.random.default_rng(seed).bytes(n))


def findings(report, check):
    return [detail for name, ok, detail in report.checks if name == check and not ok]


def verify_cli(*args):
    return CliRunner().invoke(cli, ["verify", *map(str, args)])


def assert_one_line_each(result):
    """A report: one line per check or finding, the verdict last, no traceback."""
    assert "Traceback" not in result.output and result.exception is None or \
        isinstance(result.exception, SystemExit), result.output
    lines = result.output.splitlines()
    assert all(line[:6] in ("ok    ", "FAIL  ") for line in lines[:-1]), result.output
    return lines


SHARD = ("images", "c", "1", "0", "0")   # rows 3000-5999


def damage_shard(path, how):
    shard = path.joinpath(*SHARD)
    size = shard.stat().st_size
    if how == "noise":
        overwrite(shard, 0, size)
    elif how == "half":
        overwrite(shard, 0, size // 2)
    elif how == "truncated":
        os.truncate(shard, size // 2)
    elif how == "empty":
        os.truncate(shard, 0)


@pytest.mark.parametrize("fmt", ["zarr", "h5"])
def test_a_clean_store_decodes(source, fmt):
    report = jetimg.verify(source / f"clean.{fmt}", source / "jets.npy",
                           labels_key=source / "labels.npy")
    assert report.ok, str(report)
    decode = [detail for name, ok, detail in report.checks if name == "decode"]
    assert decode == [f"every chunk decodes ({1 * 2 + 2 * 7 if fmt == 'zarr' else 6 + 2 * 7} "
                      "chunks)"]
    quick = jetimg.verify(source / f"clean.{fmt}", quick=True)
    assert quick.ok and "decode" not in [name for name, _, _ in quick.checks]


@pytest.mark.parametrize("how, rows, words", [
    ("noise", "3000-5999", "shard index fails its checksum"),
    ("truncated", "3000-5999", "shard index fails its checksum"),
    ("empty", "3000-5999", "empty file"),
    ("half", "3000-", "overwritten"),
])
def test_a_damaged_image_shard_is_named(source, tmp_path, how, rows, words):
    out = copy_of(source, tmp_path)
    damage_shard(out, how)
    report = jetimg.verify(out)
    assert not report.ok
    [line] = findings(report, "decode")
    assert line.startswith(f"images rows {rows}") and "cannot be decoded" in line, line
    assert words in line, line
    assert not findings(report, "chunks")
    # presence only: the file is there, so --quick finds nothing
    assert jetimg.verify(out, quick=True).ok


def test_a_damaged_inner_chunk_is_a_decompression_error(source, tmp_path):
    # The case: bytes inside one chunk of a shard overwritten, the
    # shard's index intact: blosc fails on that chunk alone (rows 4000-4999).
    out = copy_of(source, tmp_path)
    shard = out.joinpath(*SHARD)
    data = shard.read_bytes()
    n_inner = 3
    index = np.frombuffer(data[-(16 * n_inner + 4):-4], "<u8").reshape(n_inner, 2)
    offset, length = (int(v) for v in index[1])
    overwrite(shard, offset + 64, length // 2)
    report = jetimg.verify(out)
    assert findings(report, "decode") == [
        "images rows 4000-4999: cannot be decoded (blosc decompression error)"]


def test_a_deleted_shard_is_named_as_missing(source, tmp_path):
    out = copy_of(source, tmp_path)
    out.joinpath(*SHARD).unlink()
    for quick in (False, True):
        report = jetimg.verify(out, quick=quick)
        assert findings(report, "chunks") == [
            "images: 1 of 2 chunks missing (rows 3000-5999): never written, or lost; "
            "they read as zeros"]
        assert not findings(report, "decode")


@pytest.mark.parametrize("how, words", [("noise", "overwritten"), ("truncated", "truncated"),
                                        ("half", "overwritten")])
def test_a_damaged_per_jet_chunk_is_named(source, tmp_path, how, words):
    out = copy_of(source, tmp_path)
    chunk = out / "jet_pt" / "c" / "1"
    size = chunk.stat().st_size
    if how == "truncated":
        os.truncate(chunk, size // 2)
    else:
        overwrite(chunk, 0, size if how == "noise" else size // 2)
    [line] = findings(jetimg.verify(out), "decode")
    assert line.startswith("jet_pt rows 3000-5999: cannot be decoded (") and words in line, line


def test_every_fault_is_found_and_the_rest_checked(source, tmp_path):
    out = copy_of(source, tmp_path)
    damage_shard(out, "noise")
    (out / "labels" / "c" / "0").unlink()
    os.truncate(out / "valid" / "c" / "0", 10)
    report = jetimg.verify(out, source / "jets.npy", labels_key=source / "labels.npy",
                           n_sample=N_JETS)
    assert findings(report, "chunks") == [
        "labels: 1 of 2 chunks missing (rows 0-2999): never written, or lost; "
        "they read as zeros"]
    assert [line.split(":")[0] for line in findings(report, "decode")] == [
        "images rows 3000-5999", "valid rows 0-2999"]
    # The recompute compares what can be read and says what it left out.
    recompute = [(ok, detail) for name, ok, detail in report.checks if name == "recompute"]
    assert recompute == [(True, "6000 rows in 1 blocks recompute (largest relative image L1 "
                                "0.0e+00); not compared (missing or damaged, see above): "
                                "3000 rows of images, 3000 rows of valid, 3000 rows of labels")]


def test_a_damaged_hdf5_chunk_is_named(source, tmp_path):
    out = copy_of(source, tmp_path, "clean.h5")
    with h5py.File(out, "r") as f:
        info = f["images"].id.get_chunk_info_by_coord((2000, 0, 0))
    overwrite(out, info.byte_offset, info.size // 2)
    report = jetimg.verify(out, source / "jets.npy", labels_key=source / "labels.npy",
                           n_sample=N_JETS)
    assert findings(report, "decode") == [
        "images rows 2000-2999: cannot be decoded "
        "(overwritten: it does not start with a valid blosc header)"]
    assert [name for name, ok, _ in report.checks if not ok] == ["decode"]
    result = verify_cli(out)
    assert result.exit_code == 1
    assert "FAIL  decode       images rows 2000-2999: cannot be decoded" in result.output


def test_a_truncated_hdf5_file_is_one_line(source, tmp_path):
    out = copy_of(source, tmp_path, "clean.h5")
    os.truncate(out, out.stat().st_size - 1000)
    for command in (["verify", str(out)], ["info", str(out)]):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 1
        assert result.output.strip().startswith(
            f"Error: {out} is a damaged HDF5 file: it cannot be opened (truncated file"), \
            result.output
        assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("extra", [[], ["--input"]])
def test_cli_verify_on_a_damaged_store(source, tmp_path, extra):
    out = copy_of(source, tmp_path)
    damage_shard(out, "half")
    args = [out] + (["--input", source / "jets.npy", "--labels-key", source / "labels.npy",
                     "--sample", N_JETS] if extra else [])
    result = verify_cli(*args)
    assert result.exit_code == 1
    lines = assert_one_line_each(result)
    assert lines[-1] == f"{out}: FAILED"
    assert [line for line in lines if line.startswith("FAIL")] == [
        line for line in lines if "images rows 3000-" in line]
    # --quick checks presence only: the damage inside the file is not looked for
    quick = verify_cli(out, "--quick")
    assert quick.exit_code == 0 and "decode" not in quick.output


def test_installed_command_on_a_damaged_store(source, tmp_path):
    out = copy_of(source, tmp_path)
    damage_shard(out, "half")
    proc = subprocess.run([sys.executable, "-c", "from jetimg_cli.main import cli; cli()",
                           "verify", str(out), "--input", str(source / "jets.npy")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == "" and "Traceback" not in proc.stdout
    assert "FAIL  decode       images rows 3000-" in proc.stdout


# ---------------------------------------------------------------------------
# an interrupted build
# ---------------------------------------------------------------------------


@pytest.fixture
def interrupted(source, tmp_path):
    """A Zarr store whose build was interrupted after 2 of its 6 chunks (1000 rows each)."""
    out = tmp_path / "cut.zarr"
    with pytest.raises(KeyboardInterrupt):
        jetimg.build(source / "jets.npy", out, chunk_size=1000, npix=NPIX, workers=1,
                     labels_key=str(source / "labels.npy"), progress=StopAfter(2000))
    return out


def written_ranges(out):
    with stores.open_store(out) as st:
        return [(a, b) for a, b, present in chunk_ranges(st, "images") if present]


def test_verify_names_what_is_missing(interrupted):
    written = written_ranges(interrupted)
    missing = 6 - len(written)
    assert 0 < missing < 6
    report = jetimg.verify(interrupted)
    [line] = findings(report, "chunks")
    assert line.startswith(f"every array: {missing} of 6 chunks missing (rows "), line
    assert findings(report, "complete") == [
        "complete is not true: the build did not finish; "
        "jetimg.build(..., resume=True) finishes it"]
    result = verify_cli(interrupted)
    assert result.exit_code == 1
    assert f"FAIL  chunks       every array: {missing} of 6 chunks missing" in result.output
    assert "jetimg build ... --resume finishes it" in result.output
    assert_one_line_each(result)


def test_info_describes_an_interrupted_store(source, interrupted):
    written = written_ranges(interrupted)
    n_written = sum(b - a for a, b in written)
    info = stores.store_info(interrupted)
    assert (info["n_rows"], info["n_written"]) == (N_JETS, n_written)
    assert info["n_written"] == build_progress(interrupted)[0]
    assert info["complete"] is False and info["resumable"] is True
    labels = np.load(source / "labels.npy")
    want = np.concatenate([labels[a:b] for a, b in written])
    values, counts = np.unique(want, return_counts=True)
    assert info["label_counts"] == dict(zip(values.tolist(), counts.tolist()))
    assert info["n_invalid"] == 0 and info["n_unreadable"] == 0

    result = CliRunner().invoke(cli, ["info", str(interrupted)])
    assert result.exit_code == 0, result.output
    lines = dict(line.split(None, 1) for line in result.output.strip().splitlines())
    assert lines["rows"] == (f"{n_written} of {N_JETS} written "
                             f"(the input jets.npy has {N_JETS})")
    assert lines["complete"] == (
        f"NO: an interrupted or failed build; {N_JETS - n_written} rows never written; "
        "to finish it, run its jetimg build command (input jets.npy, the same options) "
        "again with --resume")
    assert lines["invalid"] == f"0 (over the {n_written} rows written)"
    assert lines["labels"].endswith(f"(over the {n_written} rows written)")


def test_info_on_a_damaged_store(source, tmp_path):
    out = copy_of(source, tmp_path)
    (out / "valid" / "c" / "1").unlink()
    overwrite(out / "labels" / "c" / "0", 0, 64)
    info = stores.store_info(out)
    assert info["n_written"] == 3000 and info["n_unreadable"] == 3000
    result = CliRunner().invoke(cli, ["info", str(out)])
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    assert "complete     yes, but 3000 rows have no chunk: jetimg verify" in result.output
    assert "unreadable   3000 rows of labels or valid cannot be decoded" in result.output
