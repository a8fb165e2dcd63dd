"""One build per output: a lock file beside it, ``{output}.jetimg-lock``.

The lock holds JSON: host, pid, the process's start tick (so a reused pid is
not mistaken for the build), start time and command. It is taken atomically
before anything is written (the file is written under a private name, then
hard-linked to the lock's name, which fails if the lock exists) and removed on
every exit of the build. The holder also keeps an ``flock`` on it, which the
kernel drops when the process dies, however it dies.

A lock whose build is gone (same host, pid not alive, or alive but a
different process, and no ``flock`` held) is stale: it is taken over and the
caller is told. A lock from another host (a shared file system under
dask.distributed) cannot be checked from here and is refused with its host and
age; the user removes it if they know that build is gone.

The lock file's name and content, and reading it, live in
:mod:`jetimg.io.store.lockfile`, which the commands that read a store use too.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import pathlib
import socket
import sys
import time

from ..errors import OutputBusyError, StoreWriteError
from ..io.store.lockfile import SUFFIX, lock_path  # noqa: F401  (the lock's name, here too)
from ..io.store.lockfile import alive as _alive
from ..io.store.lockfile import describe_writer as _describe
from ..io.store.lockfile import read_lock as _read
from ..io.store.lockfile import start_tick as _start_tick

__all__ = ["lock_path", "output_lock", "os_cause"]

#: the locks this process holds now (a lock of this pid not in it was left
#: behind by an earlier build of this process that could not remove it)
_HELD = set()


def os_cause(exc, path=None):
    """What an OSError means, in a few lower-case words ("no space left on device")."""
    code = exc.errno
    if code is None:  # h5py puts the C errno in its message only
        import re

        m = re.search(r"errno = (\d+)", str(exc))
        code = int(m.group(1)) if m else None
    if code == errno.ENOENT and path is not None:
        parent = pathlib.Path(path).absolute().parent
        if not parent.is_dir():
            return f"its folder {parent} no longer exists"
        if not os.path.lexists(path):
            return "it no longer exists (removed during the build)"
    if code:
        text = os.strerror(code)
        return text[:1].lower() + text[1:]
    return str(exc) or type(exc).__name__


def _flock(fd):
    """Try to take an exclusive flock: True if taken, False if held elsewhere,
    None where the file system does not support it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    except OSError:
        return None


def _write_error(output, exc):
    return StoreWriteError(output, os_cause(exc, output), errno=exc.errno)


@contextlib.contextmanager
def output_lock(output, notify=None):
    """Hold the lock of ``output`` for the ``with`` block.

    Raises :class:`OutputBusyError` when another build holds it, and
    :class:`StoreWriteError` when the lock cannot be written. ``notify(line)``
    hears of a stale lock taken over.
    """
    path = lock_path(output)
    host = socket.gethostname()
    me = {"host": host, "pid": os.getpid(), "start_tick": _start_tick(os.getpid()),
          "started": time.time(), "command": " ".join(sys.argv)}
    text = json.dumps(me, indent=1) + "\n"
    fd = None
    for _ in range(50):
        fd = _create(path, text, output)
        if fd is not None:
            break
        fd = _take_over_if_stale(path, output, host, text, notify)
        if fd is not None:
            break
    else:
        holder, _ = _read(path)
        raise OutputBusyError(_describe(output, holder or {}, 0))
    _HELD.add(str(path))
    try:
        yield path
    finally:
        _HELD.discard(str(path))
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)


def _create(path, text, output):
    """Make the lock with its content in one step; its descriptor, or None if it exists."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_RDWR, 0o644)
    except OSError as exc:
        raise _write_error(output, exc) from None
    try:
        _flock(fd)
        os.write(fd, text.encode())
        try:
            os.link(tmp, path)
        except FileExistsError:
            os.close(fd)
            return None
        except OSError as exc:  # no hard links here (some network file systems)
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise
            os.close(fd)
            fd = _create_exclusive(path, text)
            return None if fd is None else _hold(path, fd)
        return _hold(path, fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.close(fd)
        raise _write_error(output, exc) from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _hold(path, fd):
    """Trade the writable descriptor of the written lock for a read-only one that
    keeps the flock (no file open for writing: the file system can be remounted)."""
    try:
        held = os.open(path, os.O_RDONLY)
    finally:
        os.close(fd)
    _flock(held)
    return held


def _create_exclusive(path, text):
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
    except FileExistsError:
        return None
    _flock(fd)
    os.write(fd, text.encode())
    return fd


def _take_over_if_stale(path, output, host, text, notify):
    """The lock's descriptor if its build is gone (the lock rewritten as ours); None
    to try creating it again (it vanished); else OutputBusyError."""
    holder, st = _read(path)
    if holder is None:
        return None  # released meanwhile
    started = holder.get("started") if isinstance(holder.get("started"), int | float) else None
    age = time.time() - (started if started is not None else st.st_mtime)
    if not holder:  # empty or unreadable: its build is writing it, or died doing so
        if age < 5:
            time.sleep(0.1)
            return None
        holder = {"host": host, "pid": -1}
    if holder.get("host") != host:
        raise OutputBusyError(
            f"{_describe(output, holder, age)}; it cannot be checked from host {host}: "
            f"if that build is gone, remove {path} and run again")
    pid = holder.get("pid")
    ours_left = pid == os.getpid() and str(path) not in _HELD
    if isinstance(pid, int) and pid > 0 and not ours_left and _alive(pid, holder.get("start_tick")):
        raise OutputBusyError(_describe(output, holder, age))
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _write_error(output, exc) from None
    try:
        taken = _flock(fd)
        if taken is False:
            raise OutputBusyError(_describe(output, holder, age))
        if os.fstat(fd).st_ino != os.stat(path).st_ino:
            os.close(fd)
            return None  # replaced meanwhile: start again
        again, _ = _read(path)
        if again and again != holder and again.get("pid") != -1:
            os.close(fd)
            return None
        os.ftruncate(fd, 0)
        os.pwrite(fd, text.encode(), 0)
        fd = _hold(path, fd)
    except FileNotFoundError:
        os.close(fd)
        return None
    except OutputBusyError:
        os.close(fd)
        raise
    if notify:
        notify(f"taking over the stale lock of {output}: its build (host "
               f"{holder.get('host')}, pid {holder.get('pid')}) is no longer running")
    return fd
