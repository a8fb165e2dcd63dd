"""HEP plotting style and figure saving shared by every jetimg plot.

``hep_style()`` is the one place the style is applied: mplhep's
experiment-neutral ROOT style (scikit-hep's plotting style, a dependency),
its sizes scaled for jetimg's figures, which are about half as wide as the
10-inch figures mplhep's sizes are set for. ``save_figure`` writes a Figure
as PNG, PDF or SVG, the format taken from the suffix.

>>> from jetimg.plots.style import hep_style, SAVE_FORMATS
>>> SAVE_FORMATS
('png', 'pdf', 'svg')
"""

import contextlib
from pathlib import Path

from jetimg.errors import JetimgError, OutputExistsError

SAVE_FORMATS = ("png", "pdf", "svg")

#: mplhep's style is drawn for 10 x 10 inch figures; jetimg's panels are
#: 4 to 5.5 inches, so every length in it (font size, tick lengths and pads,
#: line widths) is multiplied by this.
SCALE = 0.5

#: jetimg's own settings on top of mplhep's: figure sizes in pixels as asked
#: (100 dpi, no tight bounding box on saving), images with row 0 at the bottom.
OVERRIDES = {
    "figure.dpi": 100,
    "savefig.dpi": "figure",
    "savefig.bbox": "standard",
    "image.origin": "lower",
    "axes.grid": False,
}

_LENGTHS = ("font.size",)
_LENGTH_SUFFIXES = (".size", ".pad", "linewidth", ".width")


def style_params():
    """The rcParams ``hep_style`` applies: mplhep's ROOT style, scaled, with :data:`OVERRIDES`.

    mplhep's math-font settings are left out: matplotlib reads them when a
    figure is drawn, after ``hep_style`` has given the rcParams back, so
    they would not hold in a saved figure (and their fonts would be looked
    up against the wrong settings).

    >>> params = style_params()
    >>> params["xtick.direction"], params["legend.frameon"], params["font.size"]
    ('in', False, 13.0)
    """
    import mplhep  # registers its fonts with matplotlib

    params = {}
    for key, value in dict(mplhep.style.ROOT).items():
        if key.startswith("mathtext."):
            # read when a figure is drawn, i.e. saved or shown after the style
            # is left: matplotlib's own math fonts look the same either way
            continue
        sized = key in _LENGTHS or key.endswith(_LENGTH_SUFFIXES)
        if sized and isinstance(value, int | float) and not isinstance(value, bool):
            value = value * SCALE
        params[key] = value
    params.update(OVERRIDES)
    return params


@contextlib.contextmanager
def hep_style():
    """Context manager applying the HEP plotting style to figures made inside it.

    mplhep's ROOT style (no experiment label is drawn) with its lengths
    scaled by :data:`SCALE` and :data:`OVERRIDES` on top (see
    :func:`style_params`). The previous rcParams come back on exit.

    >>> import matplotlib
    >>> with hep_style():
    ...     matplotlib.rcParams["xtick.direction"], matplotlib.rcParams["xtick.top"]
    ('in', True)
    """
    import matplotlib

    params = style_params()
    with matplotlib.rc_context():
        matplotlib.rcParams.update(params)
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
