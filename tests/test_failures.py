"""Builds that fail well: one line, nothing lost, no thread or lock left behind.

* OS errors while writing (full disk, quota, permission, read-only file
  system, a vanished folder): injected into ``jetimg.io.store.stores.write_rows`` on
  the 3rd chunk, and real ones on a small tmpfs and a read-only mount (where
  this test may mount: as root on Linux; skipped with the reason elsewhere).
  A fresh Zarr build is kept incomplete and resumes to a store bit-identical to
  a clean one; HDF5 and ``overwrite`` builds are removed, the old store kept.
* The lock beside the output: two builds started together, a stale lock of a
  killed build, a lock from another host, ``--resume`` racing a build.
* Early exits leave no thread of ours: the refusals of ``jetimg build``, run
  20 times each through the installed command, never hang nor die by a signal.
* The first run's compile is announced, once.
"""

import concurrent.futures
import errno
import json
import os
import pathlib
import pickle
import shutil
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import jetimg
from jetimg.errors import OutputBusyError, StoreWriteError
from jetimg.kernels.cpu import POOL_THREAD_PREFIX
from jetimg.io.store import checkpoints, stores
from jetimg.pipeline import build_progress
from jetimg.pipeline.lock import lock_path
from jetimg.toys import toy_jets

from .helpers import listing, snapshot
from .helpers import store_digest

N_JETS = 6_000
CHUNK = 500
NPIX = 16
KW = dict(chunk_size=CHUNK, npix=NPIX, workers=2)
JETIMG = pathlib.Path(sys.executable).with_name("jetimg")


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """jets.npy (N_JETS toy jets, 30 slots) and its clean builds clean.zarr, clean.h5."""
    folder = tmp_path_factory.mktemp("failures")
    jets, _ = toy_jets(N_JETS, n_slots=30, seed=11)
    np.save(folder / "jets.npy", jets)
    for name in ("clean.zarr", "clean.h5"):
        jetimg.build(folder / "jets.npy", folder / name, **KW)
    return folder


def fail_on_chunk(monkeypatch, n, code=errno.ENOSPC, action=None):
    """Make the ``n``-th call of write_rows raise OSError(code) (after ``action()``)."""
    original = stores.write_rows
    calls = []
    guard = threading.Lock()

    def write_rows(path, start, outputs, lock=None):
        with guard:
            calls.append(start)
            k = len(calls)
        if k == n:
            if action is not None:
                action()
            raise OSError(code, os.strerror(code))
        return original(path, start, outputs, lock)

    monkeypatch.setattr(stores, "write_rows", write_rows)
    return calls


def clean_of(source, out):
    return source / ("clean" + out.suffix)


def assert_complete_and_clean(out, source):
    assert store_digest(out) == store_digest(clean_of(source, out))
    assert not checkpoints.record_dir(out).exists()
    assert not lock_path(out).exists()


# ---------------------------------------------------------------------------
# OS errors while writing
# ---------------------------------------------------------------------------

def test_store_write_error_is_an_oserror_and_pickles():
    exc = StoreWriteError("a.zarr", "no space left on device", True, 10, 20, errno=errno.ENOSPC)
    assert isinstance(exc, OSError) and exc.errno == errno.ENOSPC
    back = pickle.loads(pickle.dumps(exc))
    assert (str(back), back.path, back.resumable, back.rows, back.errno) == \
        (str(exc), "a.zarr", True, 10, errno.ENOSPC)


@pytest.mark.parametrize("code, cause", [(errno.ENOSPC, "no space left on device"),
                                         (errno.EDQUOT, "quota exceeded"),
                                         (errno.EACCES, "permission denied"),
                                         (errno.EROFS, "read-only file system")])
def test_zarr_write_error_keeps_a_resumable_store(source, tmp_path, monkeypatch, code, cause):
    out = tmp_path / "images.zarr"
    fail_on_chunk(monkeypatch, 3, code)
    with pytest.raises(StoreWriteError) as info:
        jetimg.build(source / "jets.npy", out, **KW)
    exc = info.value
    assert exc.path == str(out) and cause in exc.cause.lower() and exc.errno == code
    assert exc.resumable and 0 < exc.rows < N_JETS and exc.n_rows == N_JETS
    assert str(exc).startswith(f"cannot write {out}: ")
    assert build_progress(out) == (exc.rows, N_JETS)
    with stores.open_store(out) as store:
        assert store.attrs["complete"] is False
    assert not lock_path(out).exists()
    monkeypatch.undo()  # space is freed
    result = jetimg.build(source / "jets.npy", out, resume=True, **KW)
    assert result.n_made == N_JETS - exc.rows
    assert_complete_and_clean(out, source)


def test_hdf5_write_error_removes_the_file(source, tmp_path, monkeypatch):
    out = tmp_path / "images.h5"
    fail_on_chunk(monkeypatch, 3)
    with pytest.raises(StoreWriteError, match=f"cannot write {out}: no space left on device$") \
            as info:
        jetimg.build(source / "jets.npy", out, **KW)
    assert not info.value.resumable
    assert listing(tmp_path) == []


@pytest.mark.parametrize("name", ["images.zarr", "images.h5"])
def test_overwrite_write_error_keeps_the_old_store(source, tmp_path, monkeypatch, name):
    out = tmp_path / name
    jetimg.build(source / "jets.npy", out, **{**KW, "npix": 8})
    before = snapshot(out)
    fail_on_chunk(monkeypatch, 3)
    with pytest.raises(StoreWriteError) as info:
        jetimg.build(source / "jets.npy", out, overwrite=True, **KW)
    assert not info.value.resumable and info.value.path == str(out)
    assert snapshot(out) == before
    assert listing(tmp_path) == [name]
    monkeypatch.undo()
    jetimg.build(source / "jets.npy", out, overwrite=True, **KW)
    assert_complete_and_clean(out, source)


def test_write_error_while_resuming_keeps_it_resumable(source, tmp_path, monkeypatch):
    out = tmp_path / "images.zarr"
    fail_on_chunk(monkeypatch, 3)
    with pytest.raises(StoreWriteError) as first:
        jetimg.build(source / "jets.npy", out, **KW)
    fail_on_chunk(monkeypatch, 2)
    with pytest.raises(StoreWriteError) as second:
        jetimg.build(source / "jets.npy", out, resume=True, **KW)
    assert second.value.resumable and second.value.rows > first.value.rows
    monkeypatch.undo()
    jetimg.build(source / "jets.npy", out, resume=True, **KW)
    assert_complete_and_clean(out, source)


@pytest.mark.parametrize("name", ["images.zarr", "images.h5"])
def test_vanished_output_folder(source, tmp_path, monkeypatch, name):
    folder = tmp_path / "run"
    folder.mkdir()
    out = folder / name
    fail_on_chunk(monkeypatch, 3, errno.ENOENT, action=lambda: shutil.rmtree(folder))
    with pytest.raises(StoreWriteError) as info:
        jetimg.build(source / "jets.npy", out, **{**KW, "workers": 1})
    assert not info.value.resumable
    assert "no longer exists" in info.value.cause or "no such file" in info.value.cause
    assert not out.exists() and not lock_path(out).exists()


def test_cli_write_error_is_one_line_with_the_resume_command(source, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from jetimg_cli.main import cli

    out = tmp_path / "images.zarr"
    fail_on_chunk(monkeypatch, 3)
    args = ["build", str(source / "jets.npy"), "-o", str(out), "--chunk-size", str(CHUNK),
            "--npix", str(NPIX), "--workers", "2", "-q"]
    result = CliRunner().invoke(cli, args, prog_name="jetimg")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert lines[0].startswith(f"Error: cannot write {out}: no space left on device; ")
    assert "to finish once space is freed: jetimg build " in lines[0]
    assert lines[0].endswith(" --resume")
    monkeypatch.undo()
    resume = lines[0].split("to finish once space is freed: ")[1].split()
    result = CliRunner().invoke(cli, resume[1:], prog_name="jetimg")
    assert result.exit_code == 0, result.output
    assert_complete_and_clean(out, source)


# ---------------------------------------------------------------------------
# real file systems: a full tmpfs, a read-only mount
# ---------------------------------------------------------------------------

def mount(*args):
    """Run mount(8); skip the test with its reason where this process may not."""
    if sys.platform != "linux" or shutil.which("mount") is None:
        pytest.skip("needs Linux mount(8)")
    proc = subprocess.run(["mount", *map(str, args)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount here (run as root to test a real file system): "
                    f"{proc.stderr.strip()}")


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 3 MB tmpfs at tmp_path/small, unmounted after the test."""
    folder = tmp_path / "small"
    folder.mkdir()
    mount("-t", "tmpfs", "-o", "size=3m", "tmpfs", folder)
    yield folder
    subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def run_jetimg(*args, env=None, timeout=120):
    if not JETIMG.exists():
        pytest.skip(f"the jetimg command is not installed beside {sys.executable}")
    return subprocess.run([str(JETIMG), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)


def one_error_line(proc):
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("Error: ")
    return lines[0][len("Error: "):]


@pytest.mark.slow
def test_full_tmpfs_then_resume(tmp_path, small_tmpfs):
    """20,000 jets into 3 MB: one line with the resume command; with space freed
    (the tmpfs grown), that command finishes a store equal to a clean build."""
    jets, _ = toy_jets(20_000, n_slots=50, seed=3)
    np.save(tmp_path / "jets.npy", jets)
    options = ["--chunk-size", "2000", "--npix", "24", "-q"]
    run_jetimg("build", tmp_path / "jets.npy", "-o", tmp_path / "clean.zarr", *options)
    out = small_tmpfs / "o.zarr"
    line = one_error_line(run_jetimg("build", tmp_path / "jets.npy", "-o", out, *options))
    assert line.startswith(f"cannot write {out}: no space left on device; ")
    rows, n = build_progress(out)
    assert n == 20_000 and f"{rows:,} of 20,000 rows are kept" in line
    with stores.open_store(out) as store:
        assert store.attrs["complete"] is False
    hdf5 = one_error_line(run_jetimg("build", tmp_path / "jets.npy", "-o", small_tmpfs / "o.h5",
                                     *options))
    assert hdf5.startswith(f"cannot write {small_tmpfs / 'o.h5'}: no space left on device")
    assert listing(small_tmpfs) == ["o.zarr", "o.zarr.jetimg-build"]
    mount("-o", "remount,size=64m", small_tmpfs)
    command = line.split("to finish once space is freed: ")[1].split()
    assert command[0] == "jetimg" and command[-1] == "--resume"
    done = run_jetimg(*command[1:])
    assert done.returncode == 0, done.stderr
    assert store_digest(out) == store_digest(tmp_path / "clean.zarr")
    assert listing(small_tmpfs) == ["o.zarr"]


def test_read_only_mount(source, tmp_path, small_tmpfs, monkeypatch):
    """A read-only file system before the build (refused before any work) and
    during it (the Zarr store kept; resumed once writable again)."""
    mount("-o", "remount,ro", small_tmpfs)
    out = small_tmpfs / "o.zarr"
    with pytest.raises(jetimg.JetimgError, match=f"cannot write {out}: read-only file system"):
        jetimg.build(source / "jets.npy", out, **KW)
    mount("-o", "remount,rw,size=64m", small_tmpfs)
    original = stores.write_rows
    calls = []

    def write_rows(path, start, outputs, lock=None):
        calls.append(start)
        if len(calls) == 3:
            mount("-o", "remount,ro", small_tmpfs)
        return original(path, start, outputs, lock)

    monkeypatch.setattr(stores, "write_rows", write_rows)
    with pytest.raises(StoreWriteError, match="read-only file system") as info:
        jetimg.build(source / "jets.npy", out, **{**KW, "workers": 1})
    assert info.value.resumable
    monkeypatch.undo()
    mount("-o", "remount,rw", small_tmpfs)
    jetimg.build(source / "jets.npy", out, resume=True, **KW)
    assert store_digest(out) == store_digest(source / "clean.zarr")


# ---------------------------------------------------------------------------
# one build per output: the lock beside it
# ---------------------------------------------------------------------------

def write_lock(out, **holder):
    lock_path(out).write_text(json.dumps(holder))


def dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_lock_is_taken_over(source, tmp_path):
    out = tmp_path / "images.zarr"
    pid = dead_pid()
    write_lock(out, host=socket.gethostname(), pid=pid, started=time.time() - 60,
               command="jetimg build ...")
    lines = []
    jetimg.build(source / "jets.npy", out, notify=lines.append, **KW)
    assert lines == [f"taking over the stale lock of {out}: its build (host "
                     f"{socket.gethostname()}, pid {pid}) is no longer running"]
    assert_complete_and_clean(out, source)


def test_stale_lock_through_the_command(source, tmp_path):
    out = tmp_path / "images.h5"
    write_lock(out, host=socket.gethostname(), pid=dead_pid(), started=time.time())
    proc = run_jetimg("build", source / "jets.npy", "-o", out, "--chunk-size", CHUNK,
                      "--npix", NPIX, "-q")
    assert proc.returncode == 0, proc.stderr
    # the kernels' compile notice comes too where their cache is stale (the first run)
    lines = [line for line in proc.stderr.strip().splitlines()
             if not line.startswith("compiling the kernels, first run only")]
    assert len(lines) == 1 and lines[0].startswith(f"taking over the stale lock of {out}: "), lines
    assert_complete_and_clean(out, source)


def test_live_lock_refuses_and_writes_nothing(source, tmp_path):
    out = tmp_path / "images.zarr"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        write_lock(out, host=socket.gethostname(), pid=holder.pid, started=time.time())
        with pytest.raises(OutputBusyError, match=rf"^{out} is being written by another build "
                                                  rf"\(host {socket.gethostname()}, pid "
                                                  rf"{holder.pid}, since "):
            jetimg.build(source / "jets.npy", out, **KW)
    finally:
        holder.kill()
        holder.wait()
    assert listing(tmp_path) == [lock_path(out).name]


@pytest.mark.parametrize("resume", [False, True])
def test_foreign_host_lock_is_refused_with_host_and_age(source, tmp_path, resume):
    out = tmp_path / "images.zarr"
    if resume:
        with pytest.raises(KeyboardInterrupt):
            jetimg.build(source / "jets.npy", out, progress=stop_after(CHUNK), **KW)
    before = sorted(os.listdir(tmp_path))
    write_lock(out, host="node17.cluster", pid=4242, started=time.time() - 7300)
    with pytest.raises(OutputBusyError) as info:
        jetimg.build(source / "jets.npy", out, resume=resume, **KW)
    message = str(info.value)
    for word in ("host node17.cluster", "pid 4242", "2 h 1 min ago",
                 f"if that build is gone, remove {lock_path(out)}"):
        assert word in message, message
    assert sorted(os.listdir(tmp_path)) == sorted(before + [lock_path(out).name])


def stop_after(rows):
    def progress(done, total):
        if done >= rows:
            raise KeyboardInterrupt

    return progress


def race(*commands, timeout=180):
    """Start every command at once; their CompletedProcess-like results."""
    if not JETIMG.exists():
        pytest.skip(f"the jetimg command is not installed beside {sys.executable}")
    procs = [subprocess.Popen([str(JETIMG), *map(str, c)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for c in commands]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


@pytest.mark.parametrize("name, overwrite", [("images.zarr", False), ("images.h5", False),
                                             ("images.zarr", True)])
def test_two_builds_at_once(source, tmp_path, name, overwrite):
    out = tmp_path / name
    extra = []
    if overwrite:
        jetimg.build(source / "jets.npy", out, **{**KW, "npix": 8})
        extra = ["--overwrite"]
    command = ["build", source / "jets.npy", "-o", out, "--chunk-size", CHUNK, "--npix", NPIX,
               "-q", *extra]
    results = race(command, command)
    codes = sorted(r.returncode for r in results)
    assert codes == [0, 1], [(r.returncode, r.stderr) for r in results]
    loser = next(r for r in results if r.returncode)
    line = one_error_line(loser)
    assert (line.startswith(f"{out} is being written by another build (host ")
            or "already exists" in line), line
    assert_complete_and_clean(out, source)
    assert listing(tmp_path) == [name]


def test_resume_racing_a_resume(source, tmp_path):
    out = tmp_path / "images.zarr"
    with pytest.raises(KeyboardInterrupt):
        jetimg.build(source / "jets.npy", out, progress=stop_after(CHUNK), **KW)
    command = ["build", source / "jets.npy", "-o", out, "--chunk-size", CHUNK, "--npix", NPIX,
               "--workers", "2", "-q", "--resume"]
    results = race(command, command)
    assert any(r.returncode == 0 for r in results), [r.stderr for r in results]
    for r in results:
        if r.returncode:
            assert one_error_line(r).startswith(f"{out} is being written by another build")
    assert_complete_and_clean(out, source)


# ---------------------------------------------------------------------------
# early exits leave no thread of ours
# ---------------------------------------------------------------------------

def test_refused_resume_leaves_no_thread(source, tmp_path):
    out = tmp_path / "images.zarr"
    with pytest.raises(KeyboardInterrupt):
        jetimg.build(source / "jets.npy", out, progress=stop_after(CHUNK), **KW)
    with pytest.raises(jetimg.JetimgError, match="npix: 16 before, 20 now"):
        jetimg.build(source / "jets.npy", out, resume=True, **{**KW, "npix": 20})
    # (the kernels' thread pool of earlier parallel preprocess calls in this
    # process is idle between calls and kept on purpose)
    assert not [t for t in threading.enumerate() if t.name.startswith("jetimg-")
                and not t.name.startswith(POOL_THREAD_PREFIX)]
    assert not lock_path(out).exists()


@pytest.fixture(scope="module")
def refusals(source, tmp_path_factory):
    """Commands that jetimg build refuses, each a different path out."""
    folder = tmp_path_factory.mktemp("refusals")
    interrupted = folder / "interrupted.zarr"
    with pytest.raises(KeyboardInterrupt):
        jetimg.build(source / "jets.npy", interrupted, progress=stop_after(CHUNK), **KW)
    bad = toy_jets(3000, n_slots=30, seed=4)[0]
    bad[2500, 3, 0] = np.nan
    np.save(folder / "bad.npy", bad)
    jets = source / "jets.npy"
    base = ["--chunk-size", CHUNK, "--npix", NPIX, "-q"]
    return {
        "resume, other npix": ["build", jets, "-o", interrupted, "--resume",
                               "--chunk-size", CHUNK, "--npix", 20, "-q"],
        "existing output": ["build", jets, "-o", source / "clean.zarr", *base],
        "invalid jet": ["build", folder / "bad.npy", "-o", folder / "{i}.zarr", *base],
        "bad codec": ["build", jets, "-o", folder / "x.zarr", "--codec", "lz5", *base],
        "missing input": ["build", folder / "nowhere.h5", "-o", folder / "y.zarr", *base],
    }


@pytest.mark.slow
def test_refusals_never_hang_nor_crash(refusals):
    """Each refusal 10 times through the installed command (two at a time), each
    under 60 s: exit 1 with one line (and at most the compile notice), never a hang or
    a signal."""
    if not JETIMG.exists():
        pytest.skip(f"the jetimg command is not installed beside {sys.executable}")

    def run(kind, i):
        args = [str(a).replace("{i}", str(i)) for a in refusals[kind]]
        try:
            proc = subprocess.run([str(JETIMG), *args], capture_output=True, text=True,
                                  timeout=60)
        except subprocess.TimeoutExpired:
            return kind, "hung (60 s)"
        if proc.returncode < 0:
            return kind, f"killed by signal {-proc.returncode}"
        # a loaded machine can make the kernels' cache load slowly enough for the notice
        lines = [line for line in proc.stderr.strip().splitlines()
                 if not line.startswith("compiling the kernels, first run only")]
        if proc.returncode != 1 or len(lines) != 1 or "Traceback" in proc.stderr:
            return kind, f"exit {proc.returncode}: {proc.stderr}"
        return kind, None

    jobs = [(kind, i) for i in range(10) for kind in refusals]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        problems = [p for p in pool.map(lambda job: run(*job), jobs) if p[1] is not None]
    assert problems == []


# ---------------------------------------------------------------------------
# the first run's compile
# ---------------------------------------------------------------------------

@pytest.mark.slow
def test_compile_notice_on_first_run_only(source, tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}
    lines = []
    for i in range(2):
        proc = run_jetimg("build", source / "jets.npy", "-o", tmp_path / f"{i}.zarr",
                          "--limit", 100, "-q", env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr
        lines.append(proc.stderr.strip().splitlines())
    assert lines == [["compiling the kernels, first run only (about 15 s)..."], []]
