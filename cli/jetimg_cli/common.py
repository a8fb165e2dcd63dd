"""What every command shares: one-line errors, SIGTERM as Ctrl-C, the recipe's
options, the resume hint, sizes for people.

Only click and jetimg's light modules (errors, recipe) are imported here, so
``jetimg --version`` and ``--help`` stay fast.
"""

import contextlib
import functools
import shlex
import signal
import sys
import threading

import click

from jetimg.errors import JetimgError
from jetimg.recipe import CENTERS, DEFAULT_PIXEL_SIZE, INTENSITIES, NORMALISES, Recipe


def user_errors(func=None, *, on_interrupt=None):
    """Turn jetimg's user errors and Ctrl-C into one line on stderr and exit 1 / 130.

    ``on_interrupt(exc)``, if given, says in one line what Ctrl-C left behind.
    """
    if func is None:
        return functools.partial(user_errors, on_interrupt=on_interrupt)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except JetimgError as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt as exc:
            message = on_interrupt(exc) if on_interrupt else (
                "interrupted: the output was removed (nothing of an existing output was changed)")
            click.echo(f"\n{message}", err=True)
            sys.exit(130)

    return wrapper


@contextlib.contextmanager
def stop_on_sigterm():
    """Turn SIGTERM (a batch system's stop) into KeyboardInterrupt, like Ctrl-C.

    Yields a list that is non-empty once SIGTERM arrived.
    """
    stopped = []

    def handler(signum, frame):
        stopped.append(signum)
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield stopped
        return
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield stopped
    finally:
        signal.signal(signal.SIGTERM, previous)


def resume_command(ctx):
    """The command line that resumes this build: the options given, plus --resume."""
    from click.core import ParameterSource

    args = ["jetimg", ctx.info_name or "build"]
    for param in ctx.command.params:
        if param.name in ("overwrite", "resume") or \
                ctx.get_parameter_source(param.name) is not ParameterSource.COMMANDLINE:
            continue
        value = ctx.params[param.name]
        if isinstance(param, click.Argument):
            args.append(str(value))
        elif param.is_flag and param.secondary_opts:
            args.append(max(param.opts if value else param.secondary_opts, key=len))
        elif param.is_flag:
            if value:
                args.append(max(param.opts, key=len))
        else:
            text = ",".join(f"{v:g}" for v in value) if isinstance(value, tuple) else str(value)
            args += [max(param.opts, key=len), text]
    return shlex.join(args + ["--resume"])


def human_bytes(n):
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1000


class PixelSize(click.ParamType):
    name = "DX,DY"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            parts = [float(v) for v in str(value).split(",")]
        except ValueError:
            self.fail(f"{value!r} is not one or two numbers 'DX,DY'", param, ctx)
        if len(parts) not in (1, 2):
            self.fail(f"{value!r} is not one or two numbers 'DX,DY'", param, ctx)
        return tuple(parts) * (2 // len(parts))


def recipe_options(func):
    """The click options of every Recipe field (docs/recipe.md names)."""
    options = [
        click.option("--center", type=click.Choice(CENTERS), default="centroid", show_default=True,
                     help="What goes to (0, 0): pT-weighted centroid, jet axis or leading constituent."),
        click.option("--rotate/--no-rotate", default=True, show_default=True,
                     help="Turn the principal axis vertical."),
        click.option("--flip/--no-flip", default=True, show_default=True,
                     help="Flip so the most intensity sits at x<0, y>0."),
        click.option("--npix", type=int, default=40, show_default=True, help="Image side in pixels."),
        click.option("--pixel-size", type=PixelSize(), default=None,
                     help=f"Pixel width in eta and phi [default: {DEFAULT_PIXEL_SIZE[0]:.6g},"
                          f"{DEFAULT_PIXEL_SIZE[1]:.6g}]."),
        click.option("--intensity", type=click.Choice(INTENSITIES), default="pt", show_default=True,
                     help="Pixel weight: pT or E of the constituents."),
        click.option("--threshold", type=float, default=0.0, show_default=True,
                     help="Zero pixels below this raw intensity (GeV)."),
        click.option("--normalise", type=click.Choice(NORMALISES), default="sum", show_default=True,
                     help="Divide each image by its sum or maximum, or keep GeV."),
        click.option("--skip-invalid", is_flag=True,
                     help="Give invalid jets (NaN, E<0, ...) an empty image and valid=0 "
                          "instead of stopping."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def recipe_from(kwargs):
    """Pop the recipe options out of a command's kwargs into a Recipe."""
    fields = dict(center=kwargs.pop("center"), rotate=kwargs.pop("rotate"),
                  flip=kwargs.pop("flip"), npix=kwargs.pop("npix"),
                  intensity=kwargs.pop("intensity"), threshold=kwargs.pop("threshold"),
                  normalise=kwargs.pop("normalise"),
                  invalid="skip" if kwargs.pop("skip_invalid") else "raise")
    pixel_size = kwargs.pop("pixel_size")
    if pixel_size is not None:
        fields["pixel_size"] = pixel_size
    return Recipe(**fields)
