"""The lock file of a store being built: ``{output}.jetimg-lock`` beside it.

A build holds it while it writes (:mod:`jetimg.pipeline.lock` takes and
releases it). It holds JSON: ``host``, ``pid``, ``start_tick`` (the process's
start time in clock ticks since boot, so a reused pid is not mistaken for the
build), ``started`` (seconds since the epoch) and ``command``. This module
reads it, for the build that takes it and for the commands that read a store
(:func:`build_writing`: is a build writing it now, and which?).

>>> import tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp()) / "images.zarr"
>>> lock_path(out).name
'images.zarr.jetimg-lock'
>>> build_writing(out) is None          # no lock: nobody is writing it
True
"""

from __future__ import annotations

import json
import os
import pathlib
import socket
import time

__all__ = ["SUFFIX", "lock_path", "read_lock", "start_tick", "alive", "human_age",
           "holder_words", "describe_writer", "build_writing"]

SUFFIX = ".jetimg-lock"
#: an empty or unreadable lock younger than this (seconds) is being written now
FRESH_S = 5.0


def lock_path(output):
    """The lock file of ``output``: ``{output}.jetimg-lock`` beside it."""
    output = pathlib.Path(output)
    return output.with_name(output.name + SUFFIX)


def read_lock(path):
    """``(holder, stat)`` of the lock file ``path``: its JSON as a dict ({} when empty
    or unreadable) and its ``os.stat``; ``(None, None)`` when there is no lock."""
    try:
        st = os.stat(path)
        with open(path) as f:
            holder = json.loads(f.read() or "{}")
        return (holder if isinstance(holder, dict) else {}), st
    except FileNotFoundError:
        return None, None
    except (ValueError, UnicodeDecodeError):
        return {}, st


def start_tick(pid):
    """The start time of process ``pid`` in clock ticks since boot (Linux), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return int(stat[stat.rindex(b")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def alive(pid, tick):
    """Whether process ``pid`` of this host runs and is the one started at ``tick``."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        pass
    now = start_tick(pid)
    return tick is None or now is None or now == tick


def human_age(s):
    """A duration for people: ``"42 s"``, ``"7 min"``, ``"3 h 5 min"``.

    >>> human_age(42), human_age(420), human_age(11100)
    ('42 s', '7 min', '3 h 5 min')
    """
    s = max(0, int(s))
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min"


def holder_words(holder, age_s):
    """``"host h, pid p, since 2026-01-05 10:00:00, 7 min ago"``: a lock's holder."""
    started = holder.get("started")
    since = ""
    if isinstance(started, int | float):
        since = (f", since {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(started))}, "
                 f"{human_age(age_s)} ago")
    return f"host {holder.get('host', '?')}, pid {holder.get('pid', '?')}{since}"


def describe_writer(output, holder, age_s, who="another build"):
    """``"{output} is being written by {who} (host h, pid p, since ..., 6 s ago)"``."""
    return f"{output} is being written by {who} ({holder_words(holder, age_s)})"


def build_writing(output):
    """The build writing ``output`` now, as its lock file says, or None.

    A lock left by a build that is gone (same host, its process no longer
    running) does not count. A lock from another host (a build on a shared
    file system) cannot be checked from here: it counts, and says so.

    Parameters
    ----------
    output : str or os.PathLike
        The store (as the user names it: it appears in ``text``).

    Returns
    -------
    dict or None
        ``host``, ``pid``, ``started`` (seconds since the epoch, or None),
        ``command``, ``age_s``, ``checked`` (False for another host's build),
        ``who`` ("a build (host node1, pid 4242, since 2026-01-05 10:00:00, 7 min
        ago)") and ``text``: one line, "train_img.zarr is being written by "
        followed by ``who``.
    """
    holder, st = read_lock(lock_path(output))
    if holder is None:
        return None
    started = holder.get("started") if isinstance(holder.get("started"), int | float) else None
    age = time.time() - (started if started is not None else st.st_mtime)
    if not holder:  # empty or unreadable: a build writing it now, or one that died doing so
        if age >= FRESH_S:
            return None
        holder = {"host": "?", "pid": "?"}
    here = socket.gethostname()
    checked = holder.get("host") in (here, "?")
    if holder.get("host") == here:
        pid = holder.get("pid")
        if not (isinstance(pid, int) and pid > 0 and alive(pid, holder.get("start_tick"))):
            return None
    words = holder_words(holder, age)
    if not checked:
        words += f", as its lock says: host {here} cannot check it"
    return {"host": holder.get("host"), "pid": holder.get("pid"), "started": started,
            "command": holder.get("command"), "age_s": age, "checked": checked,
            "who": f"a build ({words})",
            "text": f"{output} is being written by a build ({words})"}
