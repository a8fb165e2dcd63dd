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
