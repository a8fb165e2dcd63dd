"""``jetimg plot``: figures of an image store, each one library function + save_figure.

Only click is imported here; matplotlib and dask load when a command runs.
"""

import functools

import click

from jetimg_cli.common import incomplete_note, user_errors


class IntList(click.ParamType):
    """A comma-separated list of whole numbers, e.g. ``1,10,100``."""

    name = "N,N,..."

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        try:
            return [int(v) for v in str(value).split(",") if v.strip()]
        except ValueError:
            self.fail(f"{value!r} is not a comma-separated list of whole numbers", param, ctx)


def _check_output(ctx, param, value):
    """Refuse a bad suffix (a malformed command line) before any plotting; a missing
    folder or an existing file is a runtime error, said by the library."""
    import pathlib

    from jetimg.plots.style import SAVE_FORMATS

    if pathlib.Path(value).suffix.lower().lstrip(".") not in SAVE_FORMATS:
        valid = ", ".join("." + f for f in SAVE_FORMATS)
        raise click.BadParameter(f"cannot save a figure as {value!r}: the suffix must be "
                                 f"one of {valid}", ctx=ctx, param=param)
    return value


def _output(default):
    """-o/--output, --overwrite and --allow-incomplete, shared by every plot command."""
    options = (
        click.option("-o", "--output", default=default, show_default=True,
                     type=click.Path(dir_okay=False, path_type=str), callback=_check_output,
                     help="Figure file: .png, .pdf or .svg (format from the suffix)."),
        click.option("--overwrite", is_flag=True, help="Replace an existing OUTPUT."),
        click.option("--allow-incomplete", is_flag=True,
                     help="Accept a store of an interrupted build (complete: false); rows "
                          "never written read as invalid jets."),
    )

    def decorate(func):
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def _images(func):
    """--channels and --log/--linear, shared by the image commands."""
    func = click.option("--log/--linear", "log", default=True, show_default=True,
                        help="Logarithmic or linear colour scales.")(func)
    return click.option("--channels", metavar="NAME,NAME,...", default=None,
                        help="A store with channels: draw only these channels, in this "
                             "order (default: every channel).")(func)


def _save(make, store, output, overwrite, allow_incomplete):
    """Check OUTPUT, draw ``make(allow_incomplete=...)``'s figure, save it, say where."""
    from jetimg.plots.style import figure_format, save_figure

    figure_format(output, overwrite=overwrite)
    if allow_incomplete:
        incomplete_note(store)
    path = save_figure(make(allow_incomplete=allow_incomplete), output, overwrite=overwrite)
    click.echo(f"wrote {path}")


@click.group()
def plot():
    """Figures of an image store: average images, single jets, kinematics, particles.

    A store with channels draws one row of panels per channel, each channel
    on its own colour scale.

    \b
    Example:
      jetimg plot average train_img.zarr -o average.png
    """


@plot.command()
@click.argument("store", type=click.Path(path_type=str))
@_output("average.png")
@click.option("--n", "n", type=IntList(), default=None,
              help="Average the first n jets of each class; several (1,10,100) draw the "
                   "progression of averages side by side.")
@click.option("--all-jets", is_flag=True, help="One average over all jets, ignoring labels.")
@_images
@user_errors
def average(store, output, overwrite, allow_incomplete, n, all_jets, channels, log):
    """Average image per class (top, QCD; all jets without labels) and their difference.

    One shared colour scale (logarithmic unless --linear); invalid jets are
    left out. The images are streamed over the store's chunks, so any store
    size works. A store with channels gives a grid: one row per channel (its
    own colour scale), one column per class (the store's label_names).

    \b
    Examples:
      jetimg plot average train_img.zarr -o average.png
      jetimg plot average train_img.zarr --n 1,10,100,1000,10000 -o progression.pdf
      jetimg plot average jetclass_img.zarr --channels charged_pt,neutral_pt -o avg.png
    """
    from jetimg.plots.images import plot_average

    if n is not None and len(n) == 0:
        raise click.BadParameter("give at least one n", param_hint="--n")
    if n is not None and len(n) == 1:
        n = n[0]
    _save(functools.partial(plot_average, store, n=n, by_label=not all_jets, channels=channels,
                            log=log), store, output, overwrite, allow_incomplete)


@plot.command()
@click.argument("store", type=click.Path(path_type=str))
@_output("jets.png")
@click.option("--rows", type=IntList(), default="0,1,2,3", show_default=True,
              help="0-based rows of the store to draw.")
@_images
@user_errors
def jets(store, output, overwrite, allow_incomplete, rows, channels, log):
    """Single jet images with their label, jet mass and jet pT.

    A store with channels: one row per channel, one column per jet.

    \b
    Example:
      jetimg plot jets train_img.zarr --rows 0,5,9 -o jets.png
    """
    from jetimg.plots.images import plot_jets

    _save(functools.partial(plot_jets, store, rows=rows, channels=channels, log=log), store,
          output, overwrite, allow_incomplete)


@plot.command()
@click.argument("store", type=click.Path(path_type=str))
@_output("kinematics.png")
@click.option("--bins", type=click.IntRange(min=1), default=50, show_default=True,
              help="About this many bins per histogram (round widths).")
@user_errors
def kinematics(store, output, overwrite, allow_incomplete, bins):
    """Jet mass and jet pT per class, histograms on shared bins (unit area).

    \b
    Example:
      jetimg plot kinematics train_img.zarr -o kinematics.pdf
    """
    from jetimg.plots.images import plot_kinematics

    _save(functools.partial(plot_kinematics, store, bins=bins), store, output, overwrite,
          allow_incomplete)


@plot.command()
@click.argument("store", type=click.Path(path_type=str))
@_output("particles.png")
@click.option("--indices", type=IntList(), default="0,10,30,70", show_default=True,
              help="Particles to draw, 0-based by pT (0: the leading particle).")
@user_errors
def particles(store, output, overwrite, allow_incomplete, indices):
    """The particles of a store built with --particles, per class.

    Multiplicity (constituents per jet and particles stored per jet), the pT
    fraction and the position (x, y) of the particles of --indices, and
    with particle kinds the kinds of particle 0 and the particles of each
    kind per jet. Particles beyond the store's P cannot be drawn: the
    figure's title and one line here name them.

    \b
    Example:
      jetimg build --sample --particles 80 -o sample_p80.zarr
      jetimg plot particles sample_p80.zarr -o particles.png
    """
    from jetimg.io.store import stores
    from jetimg.plots.particles import check_indices, missing_note, plot_particles

    if not indices or min(indices) < 0:
        raise click.ClickException(f"--indices {','.join(map(str, indices))} is not valid: "
                                   "give particle numbers >= 0 (0 is the leading particle)")
    with stores.open_store(store) as s:
        if "particles" not in s:
            raise click.ClickException(
                f"store {store} holds no particles: build it with jetimg build --particles P")
        _, missing = check_indices(s, indices)
        p = int(s["particles"].shape[1])
    _save(functools.partial(plot_particles, store, indices=indices), store, output, overwrite,
          allow_incomplete)
    if missing:
        click.echo(f"note: {missing_note(missing, p)}")
