"""Checks of option values shared by every module, with messages that name the option.

>>> integer("workers", 4)
4
>>> integer("limit", 0)
Traceback (most recent call last):
    ...
jetimg.errors.InputError: limit=0 must be an integer >= 1
"""

import numbers

from .errors import InputError

__all__ = ["integer", "output_file"]


def integer(name, value, *, minimum=1, none_means=None):
    """``value`` as an int, checked to be an integer >= ``minimum``.

    Parameters
    ----------
    name : str
        The option's name as the caller typed it, for the message.
    value : object
        The value given (bools are refused: ``True`` is not a count).
    minimum : int
        The smallest valid value.
    none_means : str, optional
        When given, ``None`` is valid (and returned as None); the message then
        says what None means, e.g. ``"all cores"``.

    Raises
    ------
    InputError
        ``value`` is not an integer >= ``minimum`` (nor None where allowed).
    """
    if value is None and none_means is not None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        also = f" (or None: {none_means})" if none_means is not None else ""
        raise InputError(f"{name}={value!r} must be an integer >= {minimum}{also}")
    return int(value)


def output_file(path, overwrite=False):
    """``path`` as a Path, checked before any work is done for it.

    Raises
    ------
    OutputExistsError
        It exists and ``overwrite`` is false.
    JetimgError
        It is a folder, or its folder does not exist or cannot be written.
    """
    import os
    import pathlib

    from .errors import JetimgError, OutputExistsError

    path = pathlib.Path(path)
    if path.is_dir():
        raise JetimgError(f"output {path} is a folder, not a file")
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise OutputExistsError(f"output {path} already exists; use overwrite=True to "
                                "replace it")
    parent = path.parent
    if not parent.is_dir():
        raise JetimgError(f"cannot write {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise JetimgError(f"cannot write {path}: folder {parent} is not writable")
    return path
