"""Progress on stderr for library calls that report ``progress(done, total)``.

On a terminal, a click progress bar. Elsewhere (a batch job's log, a pipe), a
bar cannot redraw itself; a line is printed each time another tenth of the
rows is done instead: ``jets: 2,000 of 10,000 rows (20%), 41,000 jets/s, 0:00:01 left``.

Training reports ``progress(status)`` per step and per epoch
(:mod:`jetimg.train.progress`); :func:`train_progress` picks its bar or its
lines the same way.
"""

import contextlib
import sys
import time

import click


def _clock(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class _Lines:
    """``progress(done, total)`` as a line per tenth of the rows done (for logs)."""

    def __init__(self, label, steps=10):
        self.label, self.steps = label, steps
        self.started = None
        self.done0 = 0          # rows done at the first call (a resumed build's earlier ones)
        self.shown = 0          # tenths already reported

    def __call__(self, done, total):
        now = time.perf_counter()
        if self.started is None:
            self.started, self.done0 = now, done  # rows already done (a resumed build)
        if total <= 0:
            return
        step = min(self.steps, done * self.steps // total)
        if step <= self.shown:
            return
        self.shown = step
        elapsed = now - self.started
        rate = (done - self.done0) / elapsed if elapsed > 0 else 0.0
        left = f", {_clock((total - done) / rate)} left" if rate > 0 and done < total else ""
        speed = f", {rate:,.0f} {self.label}/s" if rate > 0 else ""
        click.echo(f"{self.label}: {done:,} of {total:,} rows ({100 * done // total}%)"
                   f"{speed}{left}", err=True)


@contextlib.contextmanager
def progress_bar(quiet=False, label="jets"):
    """Yield a ``progress(done, total)`` callable: a bar on a terminal, a line per tenth
    of the rows elsewhere, nothing when quiet."""
    bar = None
    stream = sys.stderr
    lines = None if quiet or _is_terminal(stream) else _Lines(label)

    def progress(done, total):
        nonlocal bar
        if quiet:
            return
        if lines is not None:
            lines(done, total)
            return
        if bar is None:
            bar = click.progressbar(length=total, label=label, file=stream,
                                    show_pos=True, show_eta=True)
            bar.__enter__()
        bar.update(done - bar.pos)

    try:
        yield progress
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)


@contextlib.contextmanager
def train_progress(quiet=False):
    """Yield the ``progress`` of :func:`jetimg.train.train`: a bar on a terminal, lines
    (every tenth of an epoch or minute, and one per epoch) elsewhere, None when quiet."""
    if quiet:
        yield None
        return
    from jetimg.train.progress import ProgressBar, ProgressLines

    if not _is_terminal(sys.stderr):
        yield ProgressLines(lambda line: click.echo(line, err=True))
        return
    with ProgressBar(sys.stderr) as bar:
        yield bar


def _is_terminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
