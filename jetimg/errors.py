"""Exceptions raised by jetimg.

Every error a user can cause derives from :class:`JetimgError`, so the command
line prints its message as one line and exits non-zero, without a traceback.
"""


class JetimgError(Exception):
    """Base class of all errors a user can cause (bad input, bad options)."""


class RecipeError(JetimgError, ValueError):
    """An option of the recipe is unknown or has a bad value."""


class InputError(JetimgError, ValueError):
    """Input data or an input file does not have the expected shape or layout."""


class InvalidJetError(JetimgError, ValueError):
    """A jet holds a slot that is neither padding nor a valid constituent.

    Attributes
    ----------
    row : int
        0-based position of the jet in the input.
    reason : str
        What is wrong with it, e.g. ``"slot 3: negative energy E=-1.5"``.
    """

    def __init__(self, row, reason):
        self.row = int(row)
        self.reason = str(reason)
        super().__init__(f"invalid jet at row {self.row}: {self.reason} "
                         "(invalid=\"skip\" gives such jets an all-zero image "
                         "with valid=0)")

    def __reduce__(self):
        return (type(self), (self.row, self.reason))


class OutputExistsError(JetimgError, FileExistsError):
    """The output store exists and overwriting was not asked for."""


class DeviceError(JetimgError, RuntimeError):
    """The requested compute device is not available."""


class StoreWriteError(JetimgError, OSError):
    """An output could not be written (full disk, quota, permission, read-only
    file system, a vanished folder): the operating system's error, named.

    Attributes
    ----------
    path : str
        The output as the user named it.
    cause : str
        What the system said, e.g. ``"no space left on device"``.
    resumable : bool
        True when the output was kept, incomplete, and ``resume`` finishes it;
        False when what was written was removed (an existing output is unchanged).
    rows, n_rows : int or None
        Rows written and rows to write, when ``resumable``.
    """

    def __init__(self, path, cause, resumable=False, rows=None, n_rows=None, errno=None):
        self.path, self.cause, self.resumable = str(path), str(cause), bool(resumable)
        self.rows, self.n_rows = rows, n_rows
        message = f"cannot write {self.path}: {self.cause}"
        if resumable and rows is not None:
            message += (f"; {rows:,} of {n_rows:,} rows are kept, marked incomplete "
                        "(resume=True finishes it once that is fixed)")
        super().__init__(message)
        self.errno = errno  # OSError's own attribute, for callers that test it

    def __str__(self):
        return self.args[0]

    def __reduce__(self):
        return (type(self), (self.path, self.cause, self.resumable, self.rows, self.n_rows,
                             self.errno))


class OutputBusyError(JetimgError, RuntimeError):
    """Another build is writing the output (its lock file is beside it)."""
