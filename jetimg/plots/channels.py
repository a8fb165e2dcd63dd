"""Figures of a store with channels: images (N, npix, npix, C), channel last.

Called by :func:`jetimg.plots.plot_average` and :func:`jetimg.plots.plot_jets`
when the store's images have channels (docs/recipe.md, step 6); the store's channel
names come from its recipe. Channels hold different quantities (a fraction
of the jet's pT, a count of constituents), so each channel has its own
colour scale and colour bar, shared by every class (or jet) drawn in it:

* averages: one row per channel, one column per class (and, for two
  classes, a column of their difference, first minus second);
* the progression over the first n jets: one row per channel and class, one
  column per n;
* single jets: one row per channel, one column per jet.

Panels are drawn as in :mod:`jetimg.plots.images`: ``origin="lower"`` over the
recipe's extent, zero pixels white, logarithmic scales unless ``log=False``.
"""

from jetimg.plots.draw import (colour_norm, column_width, draw_diff, draw_image, invalid_note,
                               new_figure, settle_layout)
from jetimg.plots.style import hep_style

__all__ = ["average_figure", "progression_figure", "jets_figure"]

_ETA = r"Rotated $\eta'$"
_PHI = r"Rotated $\phi'$ [rad]"


def _grid_labels(axes):
    """Eta below the bottom row, phi left of the first column."""
    nrows, ncols = axes.shape
    for (row, col), ax in zip(((r, c) for r in range(nrows) for c in range(ncols)),
                              axes.ravel()):
        ax.set_xlabel(_ETA if row == nrows - 1 else "")
        ax.set_ylabel(_PHI if col == 0 else "")


def average_figure(avg, extent, name, cbar_labels, difference=True, log=True):
    """Average images per channel (rows) and class (columns), one colour bar per channel.

    Parameters
    ----------
    avg : Averages
        From :func:`~jetimg.plots.averages.average_images` of a store with
        channels: ``avg.images`` (K, npix, npix, C), ``avg.channels`` C names.
    extent : sequence of 4 float
        ``[x0, x1, y0, y1]`` of the images (rotated eta', phi').
    name : str
        The store's name, for the figure title.
    cbar_labels : sequence of str
        One colour bar label per channel.
    difference : bool
        With two classes, a last column of their difference (first minus
        second) per channel, on a diverging scale centred at 0.
    log : bool
        Logarithmic colour scales; False: linear.

    Returns
    -------
    matplotlib.figure.Figure
    """
    n_channels, k = len(avg.channels), len(avg.names)
    with_diff = difference and k == 2
    ncols = k + with_diff
    titles = [[f"{avg.names[col]} ({avg.counts[col]:,} jets)\n{channel}" for col in range(k)]
              + ([f"{avg.names[0]} $-$ {avg.names[1]}\n{channel}"] if with_diff else [])
              for channel in avg.channels]
    with hep_style():
        width = column_width([t for row in titles for t in row], 3.2)
        fig = new_figure((width * ncols + 1.6 + 1.4 * with_diff, 3.4 * n_channels + 0.7))
        axes = fig.subplots(n_channels, ncols, squeeze=False, sharex=True, sharey=True)
        for row, channel in enumerate(avg.channels):
            images = avg.images[..., row]
            norm = colour_norm(list(images), log)
            for col in range(k):
                im = draw_image(axes[row, col], images[col], extent, norm, titles[row][col])
            fig.colorbar(im, ax=list(axes[row, :k]), label=cbar_labels[row], shrink=0.9)
            if with_diff:
                ax = axes[row, -1]
                dim, ticks = draw_diff(ax, images[0] - images[1], extent, log)
                ax.set_title(titles[row][-1])
                fig.colorbar(dim, ax=ax, label="Difference of averages", shrink=0.9,
                             ticks=ticks)
        _grid_labels(axes)
        first = "" if avg.n is None else f", first {avg.n:,} jets per class"
        fig.suptitle(f"Average jet images: {name}{first}"
                     f"{invalid_note(avg.n_invalid, avg.n_rows)}")
    return settle_layout(fig)


def progression_figure(averages, extent, name, cbar_labels, log=True):
    """Averages over the first n jets: one row per channel and class, one column per n.

    ``averages``: one :class:`~jetimg.plots.averages.Averages` per n (of one
    store with channels). Rows go channel by channel (every class of the
    first channel, then of the second, ...); each channel's rows share one
    colour scale and one colour bar.

    Returns
    -------
    matplotlib.figure.Figure
    """
    channels, names = averages[0].channels, averages[0].names
    n_channels, k, m = len(channels), len(names), len(averages)
    titles = {(c, i, col): f"{names[i]}, {avg.n:,} jet{'s' if avg.n > 1 else ''}\n{channel}"
              for c, channel in enumerate(channels) for i in range(k)
              for col, avg in enumerate(averages)}
    with hep_style():
        width = column_width(titles.values(), 2.9)
        fig = new_figure((width * m + 2.0, 3.1 * n_channels * k + 0.6))
        axes = fig.subplots(n_channels * k, m, squeeze=False, sharex=True, sharey=True)
        for c, channel in enumerate(channels):
            norm = colour_norm([image[..., c] for avg in averages for image in avg.images], log)
            for col, avg in enumerate(averages):
                for i in range(k):
                    im = draw_image(axes[c * k + i, col], avg.images[i, ..., c], extent, norm,
                                    titles[c, i, col])
            fig.colorbar(im, ax=axes[c * k:(c + 1) * k].ravel().tolist(),
                         label=cbar_labels[c], shrink=0.9)
        _grid_labels(axes)
        last = averages[-1]
        fig.suptitle(f"Averages over the first n jets: {name}"
                     f"{invalid_note(last.n_invalid, last.n_rows)}")
    return settle_layout(fig)


def jets_figure(images, channels, titles, valid, extent, name, cbar_labels, log=True):
    """Single jets, one row per channel and one column per jet; one colour bar per channel.

    Parameters
    ----------
    images : sequence of ndarray, each (npix, npix, C)
        The jets' images, the chosen channels only, in ``channels``' order.
    channels : sequence of str
        The C channel names.
    titles : sequence of (str, str)
        Per jet: what it is (``"row 3: top"``) and its mass and pT (one line
        each), drawn above the first channel's panel; every panel names the
        jet and its channel.
    valid : sequence of bool
        False: an invalid jet (all-zero image), said on its panels.
    extent, name, cbar_labels, log
        As in :func:`average_figure`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    n_jets, n_channels = len(images), len(channels)
    panel_titles = [[f"{what}\n{kinematics}\n{channel}" if c == 0 else f"{what}\n{channel}"
                     for what, kinematics in titles] for c, channel in enumerate(channels)]
    with hep_style():
        width = column_width([t for row in panel_titles for t in row], 3.2)
        fig = new_figure((width * n_jets + 1.6, 3.5 * n_channels + 1.0))
        axes = fig.subplots(n_channels, n_jets, squeeze=False, sharex=True, sharey=True)
        for c, channel in enumerate(channels):
            norm = colour_norm([image[..., c] for image in images], log)
            for i, image in enumerate(images):
                ax = axes[c, i]
                im = draw_image(ax, image[..., c], extent, norm, panel_titles[c][i])
                if not valid[i]:
                    ax.text(0.5, 0.5, "invalid jet\n(all-zero image)", transform=ax.transAxes,
                            ha="center", va="center")
            fig.colorbar(im, ax=list(axes[c]), label=cbar_labels[c], shrink=0.9)
        _grid_labels(axes)
        fig.suptitle(f"Single jets: {name} (zero pixels white)")
    return settle_layout(fig)
