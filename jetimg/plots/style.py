"""HEP plotting style and figure saving shared by every jetimg plot.

``hep_style()`` applies mplhep's experiment-neutral style when mplhep is
installed and a clean matplotlib rcParams set otherwise; ``save_figure``
writes a Figure as PNG, PDF or SVG, the format taken from the suffix.

>>> from jetimg.plots.style import hep_style, SAVE_FORMATS
>>> SAVE_FORMATS
('png', 'pdf', 'svg')
"""

import contextlib
from pathlib import Path

from jetimg.errors import JetimgError, OutputExistsError

SAVE_FORMATS = ("png", "pdf", "svg")

#: The rcParams used when mplhep is not installed: HEP habits (ticks inside on
#: all four sides, minor ticks, no grid, a sans-serif font, legends unframed).
CLEAN_RC = {
    "font.family": "sans-serif",
    "font.size": 11,
    "axes.labelsize": 12,
    "axes.titlesize": 12,
    "axes.linewidth": 1.0,
    "axes.grid": False,
    "xtick.direction": "in",
    "ytick.direction": "in",
    "xtick.top": True,
    "ytick.right": True,
    "xtick.minor.visible": True,
    "ytick.minor.visible": True,
    "xtick.major.size": 6,
    "ytick.major.size": 6,
    "xtick.minor.size": 3,
    "ytick.minor.size": 3,
    "legend.frameon": False,
    "figure.dpi": 100,
    "savefig.dpi": "figure",
    "savefig.bbox": "standard",
    "image.origin": "lower",
}


def _mplhep_style():
    """mplhep's neutral style (its ROOT style: no experiment label), or None."""
    try:
        import mplhep
    except ImportError:
        return None
    style = getattr(mplhep, "style", None)
    for name in ("ROOT", "ATLAS", "CMS"):
        if style is not None and hasattr(style, name):
            return getattr(style, name)
    return None


@contextlib.contextmanager
def hep_style():
    """Context manager applying a HEP plotting style to figures made inside it.

    mplhep's experiment-neutral style when mplhep is importable (no experiment
    label is drawn), otherwise :data:`CLEAN_RC`. The previous rcParams come back
    on exit.

    >>> import matplotlib
    >>> with hep_style():
    ...     matplotlib.rcParams["xtick.direction"]
    'in'
    """
    import matplotlib

    style = _mplhep_style()
    with matplotlib.rc_context():
        if style is not None:
            import matplotlib.style

            matplotlib.style.use(style)
        matplotlib.rcParams.update({k: v for k, v in CLEAN_RC.items()
                                    if style is None or k.startswith(("savefig", "image"))})
        yield


def save_figure(fig, path, *, overwrite=False, **kwargs):
    """Save ``fig`` to ``path``, as PNG, PDF or SVG according to the suffix.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or pathlib.Path
        Ending in ``.png``, ``.pdf`` or ``.svg`` (any case); the parent
        directory must exist.
    overwrite : bool
        Replace an existing file (refused by default).
    **kwargs
        Passed to ``Figure.savefig`` (e.g. ``dpi``).

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    JetimgError
        The suffix is not one of png, pdf, svg, the directory is missing, or
        the file exists (OutputExistsError) and ``overwrite`` is false.

    >>> save_figure(None, "plot.jpg")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    jetimg.errors.JetimgError: cannot save a figure as 'plot.jpg': the suffix must be one of ...
    """
    path = Path(path)
    fmt = figure_format(path, overwrite=overwrite)
    fig.savefig(path, format=fmt, **kwargs)
    return path


def figure_format(path, *, overwrite=True):
    """The format ``save_figure`` would write ``path`` in; checks it before any plotting.

    With ``overwrite=False`` an existing file is refused too.

    Raises
    ------
    JetimgError
        The suffix is not one of png, pdf, svg, the directory is missing, or
        the file exists (OutputExistsError) and ``overwrite`` is false.

    >>> figure_format("roc.PDF")
    'pdf'
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in SAVE_FORMATS:
        valid = ", ".join("." + f for f in SAVE_FORMATS)
        raise JetimgError(f"cannot save a figure as {str(path)!r}: "
                          f"the suffix must be one of {valid}")
    if not path.parent.exists():
        raise JetimgError(f"cannot save a figure as {str(path)!r}: "
                          f"directory {str(path.parent)!r} does not exist")
    if not overwrite and (path.exists() or path.is_symlink()):
        raise OutputExistsError(f"output {path} already exists; use overwrite=True to "
                                "replace it")
    return fmt
