"""Column names from a pickled list of strings, found without unpickling.

PyTables stores the column names of a pandas "table" block K as the
attribute ``values_block_K_kind``, a *pickled* Python list of strings (h5py
gives the raw pickle bytes). Unpickling a user's file could run arbitrary
code, so it is never done: the pickle is disassembled with
:func:`pickletools.genops` (which only parses) and the list is rebuilt by a
tiny interpreter that knows only list construction, string (and integer)
constants and the memo; any other opcode (``GLOBAL``, ``REDUCE``,
``BUILD``, ...) is refused.
"""

import pickletools

import numpy as np

__all__ = ["names_from_pickle"]

_STRING_OPS = frozenset({"UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8",
                         "STRING", "BINSTRING", "SHORT_BINSTRING", "BINBYTES",
                         "SHORT_BINBYTES", "BINBYTES8"})
_INT_OPS = frozenset({"INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4"})
_MARK = object()


def names_from_pickle(blob):
    """Strings of a pickled flat list, found without unpickling.

    The pickle is disassembled by :func:`pickletools.genops`, which executes
    nothing; only list building, string and integer constants and the memo
    are interpreted. Anything else is refused.

    Parameters
    ----------
    blob : bytes or numpy.bytes_
        The pickle, e.g. a PyTables ``values_block_0_kind`` attribute.

    Returns
    -------
    list of str

    Raises
    ------
    ValueError
        The pickle is not a plain list of strings.

    Examples
    --------
    >>> names_from_pickle(b"(lp0\\nVE_0\\np1\\naVPX_0\\np2\\na.")
    ['E_0', 'PX_0']
    """
    if isinstance(blob, np.ndarray):
        blob = blob.tobytes()
    elif isinstance(blob, str):
        blob = blob.encode("latin-1")
    blob = bytes(blob)
    stack, memo = [], {}

    def pop_mark():
        for i in range(len(stack) - 1, -1, -1):
            if stack[i] is _MARK:
                items = stack[i + 1:]
                del stack[i:]
                return items
        raise ValueError("MARK missing")

    def top_list():
        if not stack or not isinstance(stack[-1], list):
            raise ValueError("append outside a list")
        return stack[-1]

    try:
        for op, arg, _ in pickletools.genops(blob):
            name = op.name
            if name in ("PROTO", "FRAME"):
                continue
            if name == "STOP":
                break
            if name == "MARK":
                stack.append(_MARK)
            elif name == "EMPTY_LIST":
                stack.append([])
            elif name == "LIST":
                stack.append(pop_mark())
            elif name in _STRING_OPS:
                stack.append(arg.decode("utf-8", "replace")
                             if isinstance(arg, bytes) else str(arg))
            elif name in _INT_OPS:
                stack.append(str(int(arg)))
            elif name == "APPEND":
                value = stack.pop()
                top_list().append(value)
            elif name == "APPENDS":
                items = pop_mark()
                top_list().extend(items)
            elif name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
                memo[len(memo) if name == "MEMOIZE" else arg] = stack[-1]
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                value = memo[arg]
                if not isinstance(value, str):
                    raise ValueError("a memo reference to a non-string")
                stack.append(value)
            else:
                raise ValueError(f"opcode {name} is not part of a list of strings")
    except (KeyError, IndexError) as exc:
        raise ValueError(f"malformed pickle ({type(exc).__name__})") from exc
    if len(stack) != 1 or not isinstance(stack[0], list):
        raise ValueError("not a single list")
    if not all(isinstance(v, str) for v in stack[0]):
        raise ValueError("the list holds something other than strings")
    return stack[0]
