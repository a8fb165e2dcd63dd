"""A click progress bar on stderr for library calls that report ``progress(done, total)``."""

import contextlib
import sys

import click


@contextlib.contextmanager
def progress_bar(quiet=False, label="jets"):
    """Yield a ``progress(done, total)`` callable drawing a bar (nothing when quiet)."""
    bar = None

    def progress(done, total):
        nonlocal bar
        if quiet:
            return
        if bar is None:
            bar = click.progressbar(length=total, label=label, file=sys.stderr,
                                    show_pos=True, show_eta=True)
            bar.__enter__()
        bar.update(done - bar.pos)

    try:
        yield progress
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
