"""Input and output of jets: readers of constituents (one per input layout).

See :mod:`jetimg.io.readers` for the layouts :func:`open_jets` understands.
"""

from jetimg.io.readers import LAYOUTS, JetSource, open_jets

__all__ = ["LAYOUTS", "JetSource", "open_jets"]
