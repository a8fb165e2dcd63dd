"""Whether an image store was finished: the readers' check of ``complete: false``.

A build marks its store ``complete: true`` only after its last row; an
interrupted build leaves ``complete: false``, rows never written read as
zeros (``valid == 0``, all-zero images). Training, prediction, evaluation and
the plots refuse such a store unless asked (``allow_incomplete=True``); with it,
the unwritten rows count as invalid jets (left out, or the score of an empty
image in a prediction). A store that a build is writing now (its lock file,
:mod:`~jetimg.io.store.lockfile`, held) is refused naming that build.
"""

import pathlib

from ...errors import InputError
from . import checkpoints
from .lockfile import build_writing

__all__ = ["rows_written", "check_complete"]


def rows_written(path):
    """``(rows written, rows)`` of an interrupted Zarr build from its record, else None."""
    record = checkpoints.load(path)
    if record is None:
        return None
    done = checkpoints.done_chunks(path, record["build_id"])
    return sum(stop - start for start, stop in done), int(record["n_jets"])


def check_complete(store, allow_incomplete=False):
    """Refuse a store marked ``complete: false`` unless ``allow_incomplete``.

    Parameters
    ----------
    store : jetimg.io.store.stores.Store
        An open store.
    allow_incomplete : bool
        Accept it (its unwritten rows read as invalid jets).

    Returns
    -------
    bool
        True when the store is complete (or records no ``complete`` attribute).
    """
    if store.attrs.get("complete") is not False:
        return True
    if allow_incomplete:
        return False
    path = str(store.path)
    writer = build_writing(path)
    if writer is not None:
        raise InputError(f"{writer['text']}: wait for it to finish, or pass "
                         "allow_incomplete=True to read the rows written so far")
    state = rows_written(path) if store.format == "zarr" and pathlib.Path(path).is_dir() else None
    written = (f"{state[0]:,} of {state[1]:,} rows written" if state is not None
               else "rows written unknown")
    finish = "finish it with jetimg.build(..., resume=True)" if state else "rebuild it"
    raise InputError(f"{path} is incomplete (an interrupted build: {written}); {finish}, "
                     "or pass allow_incomplete=True")
