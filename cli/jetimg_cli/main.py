"""``jetimg``: the command group; each command lives in its own module.

build.py (build), store.py (info, verify), plot.py, train.py (train, predict,
evaluate, robustness), simulate.py; common.py holds what they share. Each command calls one
documented library function. Heavy imports (numba, Dask, Zarr) happen inside
the commands, so ``jetimg --version`` and ``--help`` stay fast.
"""

import atexit
import gc
import os
import sys

import click

from jetimg import __version__
from jetimg_cli.build import build
from jetimg_cli.plot import plot
from jetimg_cli.simulate import simulate
from jetimg_cli.split import split
from jetimg_cli.store import info, verify
from jetimg_cli.train import evaluate, predict, robustness, train

# The interpreter's last garbage collection, at exit, walks every object that
# numba, Dask and Zarr made: 0.15 s after a build (measured), for nothing, as
# the command's files are closed by then. Objects frozen are left out of it;
# finalizers and atexit hooks registered later still run (this one runs last).
atexit.register(gc.freeze)


def internal_error_line(exc):
    """One line for an exception nobody foresaw: its type and message, and what to do."""
    text = " ".join(str(exc).split())
    return (f"internal error: {type(exc).__name__}{': ' + text if text else ''}; "
            "rerun with --debug for the traceback and report it")


class GuardedGroup(click.Group):
    """A group whose commands end in one line, exit 1, on an exception nobody foresaw.

    Foreseen failures (jetimg's errors, click's usage errors, Ctrl-C, exits)
    pass as they are; with ``jetimg --debug`` everything does, traceback included.
    """

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # the reader of our output left (``jetimg info ... | head``): stop quietly,
            # as the POSIX tools do; stdout goes to devnull so the flush at exit is silent
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise SystemExit(1) from None
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort,
                SystemExit, KeyboardInterrupt, GeneratorExit):
            raise
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            raise click.ClickException(internal_error_line(exc)) from None


@click.group(cls=GuardedGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="jetimg")
@click.option("--debug", is_flag=True,
              help="Show the traceback of an unexpected error (to report it).")
def cli(debug):
    """jetimg: jet images from constituent four-vectors, fast.

    \b
    Example:
      jetimg build train.h5 -o train_img.zarr
      jetimg info train_img.zarr
    """


for command in (build, split, info, verify, plot, train, predict, evaluate, robustness,
                simulate):
    cli.add_command(command)


if __name__ == "__main__":  # pragma: no cover
    cli()
