"""What every command shares: one-line errors, SIGTERM as Ctrl-C, the recipe's
options, the resume hint, sizes for people.

Only click and jetimg's light modules (errors, recipe) are imported here, so
``jetimg --version`` and ``--help`` stay fast.
"""

import contextlib
import functools
import re
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
            raise click.ClickException(cli_words(str(exc))) from None
        except KeyboardInterrupt as exc:
            message = on_interrupt(exc) if on_interrupt else (
                "interrupted: the output was removed (nothing of an existing output was changed)")
            click.echo(f"\n{message}", err=True)
            sys.exit(130)

    return wrapper


#: Library phrases that read differently on the command line, whatever the command.
_PHRASES = (
    ("jetimg.build(..., resume=True)", "jetimg build ... --resume"),
    ("(or None: ", "(leave it out: "),
    ("rebuild it with npix=", "rebuild it with jetimg build --npix "),
    ("store with npix=", "store with jetimg build --npix "),
)


def cli_words(message, ctx=None):
    """A library message in the words of the command line being run.

    The library names its arguments as Python takes them (``overwrite=True``,
    ``key=...``, ``workers=0``, ``pixel_size[0]=0.0``, ``invalid="skip"``); a
    command-line user reads the current command's options as typed
    (``--overwrite``, ``--key ...``, ``--workers 0``, ``--pixel-size DX=0.0``,
    ``--skip-invalid``). Each option's Python name maps to its longest
    option name; argument names the command does not take are left as they are.

    >>> @click.command()
    ... @click.option("--overwrite", is_flag=True)
    ... @click.option("--key")
    ... def cmd(overwrite, key): pass
    >>> with click.Context(cmd) as ctx:
    ...     cli_words("output a.zarr exists; overwrite=True replaces it", ctx)
    'output a.zarr exists; --overwrite replaces it'
    """
    ctx = ctx if ctx is not None else click.get_current_context(silent=True)
    for old, new in _PHRASES:
        message = message.replace(old, new)
    if ctx is None:
        return message
    options = {p.name: p for p in ctx.command.params
               if isinstance(p, click.Option) and p.name and p.opts}
    if "skip_invalid" in options:
        message = re.sub(r"""invalid=(["'])skip\1""", "--skip-invalid", message)
    if "pixel_size" in options:
        opt = max(options["pixel_size"].opts, key=len)
        message = message.replace("pixel_size[0]=", f"{opt} DX=")
        message = message.replace("pixel_size[1]=", f"{opt} DY=")
    for name in sorted(options, key=len, reverse=True):
        param = options[name]
        opt = max(param.opts, key=len)
        word = rf"(?<![\w.\-\[]){re.escape(name)}="
        if param.is_flag:
            off = (max(param.secondary_opts, key=len) if param.secondary_opts
                   else f"no {opt}")
            message = re.sub(word + r"True\b", opt, message)
            message = re.sub(word + r"False\b", off, message)
        # name='text' -> --opt text; name=value -> --opt value; "pass key= to" -> "pass --key to"
        message = re.sub(word + r"""(["'])([^"'\s]*)\1""", rf"{opt} \2", message)
        message = re.sub(word + r"(?=[\s),;:]|$)", opt, message)
        message = re.sub(word, f"{opt} ", message)
    return message


def incomplete_note(*paths):
    """Say on stderr, for each image store of an interrupted build among ``paths``, what
    ``--allow-incomplete`` makes of it (rows never written read as invalid jets)."""
    import os

    from jetimg.io.store.completeness import rows_written
    from jetimg.io.store.lockfile import build_writing
    from jetimg.io.store.stores import image_layout, open_store

    for path in paths:
        try:
            if not os.path.exists(path) or image_layout(path) != "store":
                continue
            with open_store(path) as store:
                if store.attrs.get("complete") is not False:
                    continue
                state = rows_written(path) if store.format == "zarr" else None
        except JetimgError:
            continue        # the command itself says what is wrong with it
        written = (f"{state[0]:,} of {state[1]:,} rows written" if state
                   else "the rows written are not known")
        writer = build_writing(path)
        if writer is not None:
            written = f"being written now by {writer['who']}; {written}"
        never = "not written yet" if writer is not None else "never written"
        click.echo(f"note: {path} is incomplete ({written}): rows {never} read as "
                   "invalid jets (all-zero images)", err=True)


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
            args += [str(v) for v in value] if isinstance(value, tuple) else [str(value)]
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
                     help="Pixel width in eta and phi, DX,DY; one number is both (0.03 "
                          f"means 0.03,0.03) [default: {DEFAULT_PIXEL_SIZE[0]:.6g},"
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
        click.option("--channels", default=None, metavar="A,B,...",
                     help="Several images per jet, channel last: each QUANTITY (pt, e, count) "
                          "or KIND_QUANTITY, KIND one of charged, neutral, photon, electron, "
                          "muon, charged_hadron, neutral_hadron (e.g. "
                          "charged_pt,neutral_pt,charged_count) [default: one image of "
                          "--intensity]."),
        click.option("--particles", type=click.IntRange(min=1), default=None, metavar="P",
                     help="Also store each jet's first P constituents by pT after centring, "
                          "rotation and flips: x, y, log_pt, log_e, log_pt_rel, log_e_rel, "
                          "delta_r, px, py, pz, e, and with particle kinds charge and five "
                          "kind flags [default: images only]."),
        click.option("--vary", default=None, metavar="NAME=VALUE,...",
                     help="A systematically varied sample: scale=S (every constituent's "
                          "four-vector times S), neutral_scale=S (photons and neutral hadrons "
                          "only; needs particle kinds), smear=SIGMA (each constituent times "
                          "1 + SIGMA g, g normal clipped to +-3; SIGMA <= 0.3), drop=P (each "
                          "constituent but the leading one lost with probability P), seed=N "
                          "(0 <= N < 2**32); e.g. scale=1.05,smear=0.1,seed=3. The draws "
                          "follow the input row and slot [default: the nominal jets]."),
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
                  invalid="skip" if kwargs.pop("skip_invalid") else "raise",
                  channels=kwargs.pop("channels") or None,
                  particles=kwargs.pop("particles"), vary=kwargs.pop("vary") or None)
    pixel_size = kwargs.pop("pixel_size")
    if pixel_size is not None:
        fields["pixel_size"] = pixel_size
    return Recipe(**fields)
