"""Drawing helpers shared by the image figures (one channel and several).

Image panels are drawn with ``origin="lower"`` over the recipe's extent,
zero pixels masked (white); colour scales are logarithmic (a LogNorm from the
smallest positive pixel, at most ``1/LOG_RANGE`` below the largest) or
linear from 0.

>>> norm = colour_norm([np.array([[0.0, 1e-3], [0.5, 2.0]])], log=True)
>>> type(norm).__name__, float(norm.vmin), float(norm.vmax)
('LogNorm', 0.001, 2.0)
>>> norm = colour_norm([np.array([[0.0, 1e-3], [0.5, 2.0]])], log=False)
>>> type(norm).__name__, float(norm.vmin), float(norm.vmax)
('Normalize', 0.0, 2.0)
"""

import math

import numpy as np

from jetimg.recipe import parse_channel

__all__ = ["LOG_RANGE", "CMAP", "DIFF_CMAP", "store_name", "image_extent", "intensity_label",
           "channel_label", "colour_norm", "log_norm", "diff_norm", "draw_image", "draw_diff",
           "axis_labels", "invalid_note", "new_figure", "text_width", "column_width",
           "image_ticks", "settle_layout"]

#: Zero pixels are masked (drawn white); the log scale starts at most this far below its top.
LOG_RANGE = 1e-6
#: Image colour map; masked (zero) pixels are white.
CMAP = "viridis"
DIFF_CMAP = "RdBu_r"

_SYMBOL = {"pt": "$p_T$", "e": "$E$"}


def store_name(store):
    return store.path.name


def image_extent(store):
    """``[x0, x1, y0, y1]`` of the images: npix from their shape, pixel_size from the recipe."""
    npix, (dx, dy) = int(store["images"].shape[1]), store.recipe.pixel_size
    return (-npix * dx / 2, npix * dx / 2, -npix * dy / 2, npix * dy / 2)


def intensity_label(store, prefix):
    """The colour bar label of a store of one image per jet."""
    normalise, intensity = store.recipe.normalise, store.recipe.intensity
    quantity = _SYMBOL["pt" if intensity == "pt" else "e"]
    if normalise == "sum":
        return f"{prefix} (fraction of the jet's {quantity})"
    if normalise == "max":
        return f"{prefix} (fraction of the brightest pixel)"
    return f"{prefix} {quantity} [GeV]"


def channel_label(channel, normalise, average):
    """The colour bar label of one channel: its name, and its unit below
    (docs/recipe.md, step 6).

    ``pt`` and ``e`` channels are fractions of the jet's pT or E ("sum"), of
    the brightest pixel of every particle ("max"), or GeV ("none"); ``count``
    channels are constituents, never normalised. Channels not named by a
    recipe (``"channel 0"``) get their name only. Two lines, so that the
    label is no longer than the colour bar of one row of panels.

    >>> channel_label("charged_pt", "sum", average=True)
    "charged_pt\\nfraction of the jet's $p_T$"
    >>> channel_label("neutral_count", "sum", average=True)
    'neutral_count\\naverage constituents'
    """
    quantity = parse_channel(str(channel))[1]
    if quantity == "count":
        return f"{channel}\n{'average constituents' if average else 'constituents'}"
    if quantity not in _SYMBOL:
        return channel
    symbol = _SYMBOL[quantity]
    if normalise == "sum":
        return f"{channel}\nfraction of the jet's {symbol}"
    if normalise == "max":
        return f"{channel}\nfraction of the brightest {symbol} pixel"
    return f"{channel}\n{symbol} [GeV]"


def log_norm(arrays):
    """One LogNorm over all ``arrays``: vmax their largest pixel, vmin their
    smallest positive one but at most ``1/LOG_RANGE`` below vmax."""
    from matplotlib.colors import LogNorm

    positive = [a[a > 0] for a in arrays]
    positive = [p for p in positive if p.size]
    if not positive:
        return LogNorm(vmin=1e-6, vmax=1.0)
    vmax = max(float(p.max()) for p in positive)
    vmin = max(min(float(p.min()) for p in positive), vmax * LOG_RANGE)
    return LogNorm(vmin=vmin, vmax=vmax if vmax > vmin else vmin * 10)


def colour_norm(arrays, log=True):
    """One colour scale over all ``arrays``: :func:`log_norm`, or linear from 0 to their maximum."""
    if log:
        return log_norm(arrays)
    from matplotlib.colors import Normalize

    top = max((float(np.max(a)) for a in arrays if np.size(a)), default=0.0)
    return Normalize(vmin=0.0, vmax=top if top > 0 else 1.0)


def image_cmap():
    import matplotlib

    cmap = matplotlib.colormaps[CMAP]
    return cmap.with_extremes(bad="white", under=cmap(0.0))


def draw_image(ax, image, extent, norm, title):
    """An image panel on ``norm``; zero pixels are masked (white)."""
    masked = np.ma.masked_less_equal(np.asarray(image, dtype=np.float64), 0.0)
    im = ax.imshow(masked, origin="lower", extent=extent, norm=norm, cmap=image_cmap(),
                   interpolation="nearest", aspect="equal")
    ax.set_title(title)
    image_ticks(ax)
    return im


def diff_norm(diff, log=True):
    """The difference panel's scale, centred at 0, and its colour bar ticks (None: automatic).

    Log: symmetric log, linear within 1e-3 of the largest |difference|, so
    the core and the faint prongs both show. Linear: from -top to +top.
    """
    from matplotlib.colors import Normalize, SymLogNorm

    top = float(np.abs(diff).max()) or 1.0
    if not log:
        return Normalize(vmin=-top, vmax=top), None
    norm = SymLogNorm(linthresh=top * 1e-3, linscale=1.0, vmin=-top, vmax=top, base=10)
    decades = range(math.ceil(math.log10(top * 1e-3)), math.floor(math.log10(top)) + 1)
    ticks = [-(10.0 ** d) for d in reversed(decades)] + [0.0] + [10.0 ** d for d in decades]
    return norm, ticks


def draw_diff(ax, diff, extent, log=True):
    """A difference panel on a diverging map centred at 0; returns (image, colour bar ticks)."""
    norm, ticks = diff_norm(diff, log)
    im = ax.imshow(diff, origin="lower", extent=extent, norm=norm, cmap=DIFF_CMAP,
                   interpolation="nearest", aspect="equal")
    image_ticks(ax)
    return im, ticks


def axis_labels(ax, left=True):
    ax.set_xlabel(r"Rotated $\eta'$")
    if left:
        ax.set_ylabel(r"Rotated $\phi'$ [rad]")


def invalid_note(n_invalid, n_rows, what="jets"):
    if not n_invalid:
        return ""
    return f"; {n_invalid:,} invalid {what} of {n_rows:,} rows left out"


def image_ticks(ax):
    """At most five ticks on each axis of an image panel, at steps of 1, 2 or 5 x 10^k.

    Short labels (``-0.4``, not ``-0.50 -0.25``) that stay apart on the narrow
    panels of a grid.
    """
    from matplotlib.ticker import MaxNLocator

    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(MaxNLocator(nbins=4, steps=[1, 2, 5, 10], min_n_ticks=3))


def text_width(texts, size="large"):
    """Width in inches of the widest line of ``texts`` at font ``size``; mathtext between
    ``$`` signs measured as drawn.

    A figure's texts take their font from the rcParams in force when it is
    drawn (saved or shown), not when it is made: the wider of the current
    font and matplotlib's own (DejaVu Sans, which a figure saved outside
    :func:`~jetimg.plots.style.hep_style` is drawn in) counts.

    >>> from jetimg.plots.style import hep_style
    >>> with hep_style():
    ...     round(text_width(["QCD", "row 2: Wqq\\n$m$ = 162.2 GeV"], size=13.0), 2)
    1.39
    """
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    measure = TextToPath()
    props = [FontProperties(size=size), FontProperties(family="DejaVu Sans", size=size)]
    widths = [measure.get_text_width_height_descent(line, prop, ismath="$" in line)[0]
              for text in texts for line in str(text).split("\n") if line for prop in props]
    return float(max(widths, default=0.0)) / 72.0


#: Space between the titles of neighbouring panels, in inches.
TITLE_GAP = 0.3


def column_width(titles, minimum):
    """Width in inches of one column of panels: ``minimum``, or more where the widest
    line of the column's ``titles`` (at the axes title size) needs it."""
    import matplotlib

    return max(minimum, text_width(titles, matplotlib.rcParams["axes.titlesize"]) + TITLE_GAP)


def settle_layout(fig):
    """Lay ``fig`` out once now, so that its first draw is laid out as every later one.

    matplotlib's constrained layout places the colour bar of fixed-aspect
    (image) panels right only from its second pass: the first draw of such
    a figure, which is the one saved by ``jetimg plot``, would push the axis
    labels out of the figure. Returns ``fig``.
    """
    fig.get_layout_engine().execute(fig)
    return fig


def new_figure(figsize):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, dpi=100, layout="constrained")
