"""Builds that survive: interrupted and resumed builds, killed workers, ``verify``.

An interrupted Zarr build keeps its finished chunks and a record of them
beside the store; ``resume`` makes only the rest, and the store then equals a
clean build bit for bit. The interruptions are real: Ctrl-C / SIGTERM /
SIGKILL sent to a ``jetimg build`` subprocess once its record shows finished
chunks, a KeyboardInterrupt raised in the library's progress callback, and a
dask.distributed worker process killed during a build.
"""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

import jetimg
from jetimg.errors import InputError, OutputExistsError
from jetimg.io.store import checkpoints
from jetimg.io.store.stores import open_store
from jetimg.pipeline import build_progress
from jetimg.toys import toy_jets
from jetimg_cli.main import cli

from .helpers import StopAfter

zarr = pytest.importorskip("zarr")

N_JETS = 12_000
CHUNK = 200
NPIX = 16
ARRAYS = ("images", "labels", "jet_pt", "jet_eta", "jet_phi", "jet_mass", "n_constituents",
          "valid")


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A .npy input of N_JETS toy jets (50 slots) and labels, and its clean build."""
    folder = tmp_path_factory.mktemp("resume")
    jets, labels = toy_jets(N_JETS, n_slots=50, seed=5)
    np.save(folder / "jets.npy", jets)
    np.save(folder / "labels.npy", labels)
    clean = folder / "clean.zarr"
    jetimg.build(folder / "jets.npy", clean, chunk_size=CHUNK, npix=NPIX,
                 labels_key=str(folder / "labels.npy"))
    return folder


def arrays_of(path):
    with open_store(path) as store:
        return {name: np.asarray(store[name][:]) for name in ARRAYS}, dict(store.attrs)


def assert_same_store(path, clean):
    got, got_attrs = arrays_of(path)
    want, want_attrs = arrays_of(clean)
    for name in ARRAYS:
        assert got[name].dtype == want[name].dtype
        assert np.array_equal(got[name], want[name]), name
    assert got_attrs == want_attrs | {"input": got_attrs["input"]}
    assert got_attrs["complete"] is True
    assert not checkpoints.record_dir(path).exists()


def build_args(source, out, *extra):
    return ["build", str(source / "jets.npy"), "-o", str(out), "--labels-key",
            str(source / "labels.npy"), "--chunk-size", str(CHUNK), "--npix", str(NPIX),
            "-q", *extra]


def jetimg_command():
    return [sys.executable, "-c", "from jetimg_cli.main import cli; cli()"]


def start_and_stop(source, out, sig, min_chunks=3):
    """Start ``jetimg build`` in a subprocess, send ``sig`` once ``min_chunks``
    chunks are recorded as finished; return (returncode, stderr)."""
    proc = subprocess.Popen(jetimg_command() + build_args(source, out, "--workers", "1"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    record = checkpoints.record_dir(out)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if record.is_dir() and len(os.listdir(record)) > min_chunks:  # build.json + chunks
            break
        time.sleep(0.005)
    assert proc.poll() is None, "the build ended before it could be interrupted"
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
    return proc.returncode, stderr


@pytest.mark.parametrize("sig, code, word", [(signal.SIGINT, 130, "interrupted"),
                                              (signal.SIGTERM, 143, "terminated (SIGTERM)")])
def test_signal_then_resume_is_bit_identical(source, tmp_path, sig, code, word):
    out = tmp_path / "images.zarr"
    returncode, stderr = start_and_stop(source, out, sig)
    assert returncode == code, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"{word}: ") and "(marked incomplete); to finish: jetimg build" in last
    assert last.endswith("--resume") and "--npix 16" in last and "--chunk-size 200" in last
    assert "Traceback" not in stderr
    done, total = build_progress(out)
    assert 0 < done < total == N_JETS and done % CHUNK == 0
    with open_store(out) as store:
        assert store.attrs["complete"] is False
    # The command the last line names finishes the build.
    command = last.split("to finish: ", 1)[1].split()
    assert command[0] == "jetimg"
    result = CliRunner().invoke(cli, command[1:])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"resumed: made {N_JETS - done} of {N_JETS} jets")
    assert_same_store(out, source / "clean.zarr")


def test_sigkill_then_resume_is_bit_identical(source, tmp_path):
    out = tmp_path / "images.zarr"
    returncode, _ = start_and_stop(source, out, signal.SIGKILL)
    assert returncode == -signal.SIGKILL
    done, total = build_progress(out)
    assert 0 < done < total
    result = CliRunner().invoke(cli, build_args(source, out, "--resume"))
    assert result.exit_code == 0, result.output
    assert_same_store(out, source / "clean.zarr")
    # Resuming a complete store does nothing and says so.
    again = CliRunner().invoke(cli, build_args(source, out, "--resume"))
    assert again.exit_code == 0 and again.output.startswith(f"already complete: {N_JETS} jets")


@pytest.mark.parametrize("scheduler", ["threads", "processes"])
def test_library_interrupt_keeps_chunks_and_resumes(source, tmp_path, scheduler):
    out = tmp_path / "images.zarr"
    kwargs = dict(chunk_size=CHUNK, npix=NPIX, labels_key=str(source / "labels.npy"),
                  scheduler=scheduler, workers=2)
    with pytest.raises(KeyboardInterrupt):
        jetimg.build(source / "jets.npy", out, progress=StopAfter(3 * CHUNK), **kwargs)
    done, _ = build_progress(out)
    assert done >= 3 * CHUNK
    calls = []
    result = jetimg.build(source / "jets.npy", out, resume=True,
                          progress=lambda d, t: calls.append((d, t)), **kwargs)
    assert calls[0] == (done, N_JETS) and calls[-1] == (N_JETS, N_JETS)
    assert (result.n_jets, result.n_made) == (N_JETS, N_JETS - done)
    assert_same_store(out, source / "clean.zarr")


@pytest.fixture
def interrupted(source, tmp_path):
    out = tmp_path / "images.zarr"
    with pytest.raises(KeyboardInterrupt):
        jetimg.build(source / "jets.npy", out, chunk_size=CHUNK, npix=NPIX,
                     labels_key=str(source / "labels.npy"), progress=StopAfter(CHUNK))
    return out


def test_resume_refuses_a_different_run(source, interrupted):
    base = dict(chunk_size=CHUNK, npix=NPIX, labels_key=str(source / "labels.npy"),
                resume=True)
    with pytest.raises(InputError, match=r"recipe option npix: 16 before, 20 now"):
        jetimg.build(source / "jets.npy", interrupted, **{**base, "npix": 20})
    with pytest.raises(InputError, match=r"recipe option normalise: 'sum' before, 'max' now"):
        jetimg.build(source / "jets.npy", interrupted, normalise="max", **base)
    with pytest.raises(InputError, match=r"rows \(limit=\): 12000 before, 6000 now"):
        jetimg.build(source / "jets.npy", interrupted, limit=6000, **base)
    with pytest.raises(InputError, match=r"codec: 'blosc-lz4-noshuffle' before, 'zstd' now"):
        jetimg.build(source / "jets.npy", interrupted, codec="zstd", **base)
    # Same name and shape, other content: the fingerprint of the first rows differs.
    changed = interrupted.parent / "jets.npy"
    jets = np.load(source / "jets.npy")
    jets[0, 0] *= 2
    np.save(changed, jets)
    with pytest.raises(InputError, match=r"input content \(first and last rows\)"):
        jetimg.build(changed, interrupted, **base)
    with pytest.raises(InputError, match="differs from the interrupted one in recipe option"):
        jetimg.build(source / "jets.npy", interrupted, **{**base, "npix": 20})
    # A refused resume changes nothing: the interrupted store still resumes.
    before = build_progress(interrupted)
    assert before is not None
    jetimg.build(source / "jets.npy", interrupted, **base)
    assert_same_store(interrupted, source / "clean.zarr")
    # complete now: another recipe is refused naming the build that made it, not an interruption
    with pytest.raises(InputError, match=r"differs from the build that made it in recipe "
                                         r"option npix: 16 before, 20 now"):
        jetimg.build(source / "jets.npy", interrupted, **{**base, "npix": 20})


def test_interrupted_output_is_not_overwritten_silently(source, interrupted):
    kwargs = dict(chunk_size=CHUNK, npix=NPIX, labels_key=str(source / "labels.npy"))
    with pytest.raises(OutputExistsError, match="interrupted build: resume=True"):
        jetimg.build(source / "jets.npy", interrupted, **kwargs)
    with pytest.raises(InputError, match="resume and overwrite exclude each other"):
        jetimg.build(source / "jets.npy", interrupted, resume=True, overwrite=True, **kwargs)
    # --overwrite replaces it, record included.
    jetimg.build(source / "jets.npy", interrupted, overwrite=True, **kwargs)
    assert_same_store(interrupted, source / "clean.zarr")


def test_resume_without_a_record_or_store(source, tmp_path, interrupted):
    kwargs = dict(chunk_size=CHUNK, npix=NPIX, labels_key=str(source / "labels.npy"),
                  resume=True)
    with pytest.raises(InputError, match="nothing to resume"):
        jetimg.build(source / "jets.npy", tmp_path / "absent.zarr", **kwargs)
    checkpoints.clear(interrupted)
    with pytest.raises(InputError, match="no record of finished chunks"):
        jetimg.build(source / "jets.npy", interrupted, **kwargs)


def test_hdf5_interrupt_removes_and_resume_is_refused(source, tmp_path):
    out = tmp_path / "images.h5"
    kwargs = dict(chunk_size=CHUNK, npix=NPIX, labels_key=str(source / "labels.npy"))
    with pytest.raises(KeyboardInterrupt):
        jetimg.build(source / "jets.npy", out, progress=StopAfter(CHUNK), **kwargs)
    assert sorted(os.listdir(tmp_path)) == []
    jetimg.build(source / "jets.npy", out, **kwargs)
    with pytest.raises(InputError, match="only Zarr stores can be resumed"):
        jetimg.build(source / "jets.npy", out, resume=True, **kwargs)


@pytest.mark.slow
def test_killed_distributed_worker_costs_only_its_tasks(source, tmp_path, local_cluster):
    from distributed import Client

    out = tmp_path / "images.zarr"
    killed = []
    with Client(local_cluster) as client:
        def kill_a_busy_worker(done, total):
            if killed or done < 4 * CHUNK:
                return
            busy = [addr for addr, tasks in client.processing().items() if tasks]
            pids = client.run(os.getpid, workers=busy[:1])
            for pid in pids.values():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

        result = jetimg.build(source / "jets.npy", out, chunk_size=CHUNK, npix=NPIX,
                              labels_key=str(source / "labels.npy"), scheduler=client,
                              progress=kill_a_busy_worker)
    assert killed, "no worker was killed during the build"
    assert result.n_made == N_JETS
    assert_same_store(out, source / "clean.zarr")


# ---------------------------------------------------------------------------
# jetimg verify
# ---------------------------------------------------------------------------

def verify_cli(*args):
    return CliRunner().invoke(cli, ["verify", *map(str, args)])


def test_verify_passes_a_clean_store(source):
    result = verify_cli(source / "clean.zarr", "--input", source / "jets.npy", "--labels-key",
                        source / "labels.npy", "--sample", 300)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].endswith(": OK")
    assert "300 rows in 10 blocks recompute" in result.output


def test_verify_catches_an_interrupted_store(interrupted):
    result = verify_cli(interrupted)
    assert result.exit_code == 1
    assert "FAIL  complete" in result.output and "FAIL  chunks" in result.output
    assert result.output.splitlines()[-1].endswith(": FAILED")


def test_verify_catches_a_truncated_array(source, tmp_path):
    out = tmp_path / "copy.zarr"
    jetimg.build(source / "jets.npy", out, chunk_size=CHUNK, npix=NPIX, limit=1000,
                 labels_key=str(source / "labels.npy"))
    zarr.open_array(str(out / "jet_mass"), mode="r+").resize((900,))
    result = verify_cli(out)
    assert result.exit_code == 1
    assert "FAIL  arrays       jet_mass is (900,) float32, not (1000,) float32" in result.output


def test_verify_catches_a_missing_chunk_and_changed_rows(source, tmp_path):
    out = tmp_path / "copy.zarr"
    jetimg.build(source / "jets.npy", out, chunk_size=CHUNK, npix=NPIX, limit=1000,
                 labels_key=str(source / "labels.npy"))
    images = zarr.open_array(str(out / "images"), mode="r+")
    images[450] = 0.0
    assert verify_cli(out).exit_code == 0   # whole, but row 450 no longer recomputes
    result = verify_cli(out, "--input", source / "jets.npy", "--sample", 1000)
    assert result.exit_code == 1 and "images differs at row 450" in result.output
    (out / "images" / "c" / "3" / "0" / "0").unlink()
    result = verify_cli(out)
    assert result.exit_code == 1 and "images: 1 of 5 chunks missing (rows 600-799)" \
        in result.output


def test_verify_hdf5_and_missing_complete(source, tmp_path):
    import h5py

    out = tmp_path / "images.h5"
    jetimg.build(source / "jets.npy", out, chunk_size=CHUNK, npix=NPIX, limit=1000)
    assert verify_cli(out, "--input", source / "jets.npy").exit_code == 0
    with h5py.File(out, "r+") as f:
        f.attrs["complete"] = False
    result = verify_cli(out)
    assert result.exit_code == 1 and "FAIL  complete" in result.output


def test_verify_names_a_missing_store(tmp_path):
    result = verify_cli(tmp_path / "absent.zarr")
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: store not found: {tmp_path / 'absent.zarr'}"
